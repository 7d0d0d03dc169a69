//! The ROS packaging files checked without ROS: `package.xml`, `launch/lookout.launch.xml`
//! (parsed as XML) and `launch/lookout.launch.py` (read statically: no Python, no ROS). Each
//! must name the package `lookout`, the executable `lookout_node` (a `[[bin]]` of this crate),
//! a parameter file that exists in `configs/` and parses as lookout's configuration, and the
//! same camera remap.

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(rel: &str) -> String {
    let path = root().join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// `$(find-pkg-share lookout)/configs/x.yaml` -> `configs/x.yaml` in the source tree (colcon
/// installs `configs/` and `launch/` into the package's share directory).
fn share_path(launch_value: &str) -> PathBuf {
    let rel = launch_value
        .strip_prefix("$(find-pkg-share lookout)/")
        .unwrap_or_else(|| panic!("`{launch_value}` is not under $(find-pkg-share lookout)"));
    root().join(rel)
}

fn assert_params_file_is_valid(path: &Path) {
    assert!(
        path.is_file(),
        "parameter file {} does not exist",
        path.display()
    );
    lookout::config::Config::load(path, &[])
        .unwrap_or_else(|e| panic!("parameter file {} is invalid: {e}", path.display()));
}

fn cargo_bins() -> Vec<String> {
    let manifest = read("Cargo.toml");
    manifest
        .split("[[bin]]")
        .skip(1)
        .filter_map(|section| {
            section.lines().find_map(|l| {
                let l = l.trim();
                let v = l.strip_prefix("name")?.trim_start().strip_prefix('=')?;
                Some(v.trim().trim_matches('"').to_owned())
            })
        })
        .collect()
}

#[test]
fn package_xml_names_lookout_and_ament_cargo() {
    let text = read("package.xml");
    let doc = roxmltree::Document::parse(&text).expect("package.xml is XML");
    let pkg = doc.root_element();
    assert_eq!(pkg.tag_name().name(), "package");
    assert_eq!(pkg.attribute("format"), Some("3"));
    let child_text = |name: &str| -> Vec<String> {
        pkg.descendants()
            .filter(|n| n.has_tag_name(name))
            .filter_map(|n| n.text().map(str::trim).map(str::to_owned))
            .collect()
    };
    assert_eq!(child_text("name"), vec!["lookout"]);
    assert_eq!(child_text("build_type"), vec!["ament_cargo"]);
    let version_in_cargo = read("Cargo.toml")
        .lines()
        .find_map(|l| {
            l.strip_prefix("version = ")
                .map(|v| v.trim_matches('"').to_owned())
        })
        .expect("Cargo.toml version");
    assert_eq!(child_text("version"), vec![version_in_cargo]);
    let depends = child_text("depend");
    for needed in [
        "sensor_msgs",
        "vision_msgs",
        "diagnostic_msgs",
        "std_msgs",
        "tf2_msgs",
        "autoware_perception_msgs",
        "unique_identifier_msgs",
        "visualization_msgs",
    ] {
        assert!(
            depends.iter().any(|d| d == needed),
            "package.xml lacks <depend>{needed}"
        );
    }
}

#[test]
fn xml_launch_file_names_package_executable_params_and_remap() {
    let text = read("launch/lookout.launch.xml");
    let doc = roxmltree::Document::parse(&text).expect("lookout.launch.xml is XML");
    let launch = doc.root_element();
    assert_eq!(launch.tag_name().name(), "launch");
    let arg_default = |name: &str| {
        launch
            .children()
            .find(|n| n.has_tag_name("arg") && n.attribute("name") == Some(name))
            .and_then(|n| n.attribute("default"))
            .unwrap_or_else(|| panic!("no <arg name=\"{name}\" default=...>"))
            .to_owned()
    };
    let nodes: Vec<_> = launch
        .children()
        .filter(|n| n.has_tag_name("node"))
        .collect();
    assert_eq!(nodes.len(), 1, "one node");
    let node = nodes[0];
    assert_eq!(node.attribute("pkg"), Some("lookout"));
    assert_eq!(node.attribute("exec"), Some("lookout_node"));
    assert!(cargo_bins().iter().any(|b| b == "lookout_node"));
    assert_eq!(node.attribute("namespace"), Some("$(var namespace)"));

    let from = node
        .children()
        .find(|n| n.has_tag_name("param") && n.attribute("from").is_some())
        .and_then(|n| n.attribute("from"))
        .expect("<param from=...>");
    assert_eq!(from, "$(var params_file)");
    assert_params_file_is_valid(&share_path(&arg_default("params_file")));

    let remaps: Vec<(&str, &str)> = node
        .children()
        .filter(|n| n.has_tag_name("remap"))
        .map(|n| {
            (
                n.attribute("from").unwrap_or(""),
                n.attribute("to").unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(remaps, vec![("/camera/image_raw", "$(var camera_topic)")]);
    assert!(!arg_default("camera_topic").is_empty());
}

#[test]
fn python_launch_file_matches_the_xml_one() {
    let py = read("launch/lookout.launch.py");
    for needed in [
        r#"package="lookout""#,
        r#"executable="lookout_node""#,
        r#"name="lookout""#,
        r#"namespace=LaunchConfiguration("namespace")"#,
        r#"LaunchConfiguration("params_file")"#,
        r#"("/camera/image_raw", LaunchConfiguration("camera_topic"))"#,
        r#"FindPackageShare("lookout"), "configs", "lookout.param.yaml""#,
        r#"DeclareLaunchArgument("use_sim_time""#,
    ] {
        assert!(
            py.contains(needed),
            "launch/lookout.launch.py lacks `{needed}`"
        );
    }
    // The parameter file it defaults to is the one the XML file names.
    assert_params_file_is_valid(&root().join("configs/lookout.param.yaml"));
    // Launch files load parameters and remap topics; no logic (conditions, opaque functions).
    for forbidden in [
        "OpaqueFunction",
        "IfCondition",
        "UnlessCondition",
        "import os",
    ] {
        assert!(
            !py.contains(forbidden),
            "launch file has logic: `{forbidden}`"
        );
    }
}

#[test]
fn both_launch_files_set_the_fast_dds_profile_for_large_images() {
    // Issue 17: without a shared-memory segment larger than a frame, best-effort raw images do
    // not arrive. The launch files point Fast DDS 2.x and 3.x at configs/fastdds.xml.
    let xml = read("launch/lookout.launch.xml");
    let doc = roxmltree::Document::parse(&xml).expect("lookout.launch.xml is XML");
    let launch = doc.root_element();
    let profile_default = launch
        .children()
        .find(|n| n.has_tag_name("arg") && n.attribute("name") == Some("fastdds_profile"))
        .and_then(|n| n.attribute("default"))
        .expect("<arg name=\"fastdds_profile\" default=...>");
    for var in [
        "FASTRTPS_DEFAULT_PROFILES_FILE",
        "FASTDDS_DEFAULT_PROFILES_FILE",
    ] {
        let set = launch
            .children()
            .find(|n| n.has_tag_name("set_env") && n.attribute("name") == Some(var))
            .unwrap_or_else(|| panic!("lookout.launch.xml does not set {var}"));
        assert_eq!(set.attribute("value"), Some("$(var fastdds_profile)"));
        let py = read("launch/lookout.launch.py");
        let needed =
            format!(r#"SetEnvironmentVariable("{var}", LaunchConfiguration("fastdds_profile"))"#);
        assert!(py.contains(&needed), "lookout.launch.py lacks `{needed}`");
    }
    assert!(read("launch/lookout.launch.py")
        .contains(r#"FindPackageShare("lookout"), "configs", "fastdds.xml""#));

    let profile_path = share_path(profile_default);
    let profile = std::fs::read_to_string(&profile_path)
        .unwrap_or_else(|e| panic!("{}: {e}", profile_path.display()));
    let doc = roxmltree::Document::parse(&profile).expect("configs/fastdds.xml is XML");
    let text_of = |tag: &str| -> Vec<String> {
        doc.descendants()
            .filter(|n| n.has_tag_name(tag))
            .filter_map(|n| n.text().map(|t| t.trim().to_owned()))
            .collect()
    };
    let participant = doc
        .descendants()
        .find(|n| n.has_tag_name("participant"))
        .expect("a participant profile");
    assert_eq!(participant.attribute("is_default_profile"), Some("true"));
    let segment_bytes: u64 = text_of("segment_size")
        .first()
        .expect("an SHM segment_size")
        .parse()
        .expect("segment_size is bytes");
    let frame_1080p_bgr8_bytes = 1920 * 1080 * 3;
    assert!(
        segment_bytes >= 4 * frame_1080p_bgr8_bytes,
        "SHM segment of {segment_bytes} B holds fewer than four 1080p bgr8 frames"
    );
    // Every transport the participant uses is declared, and the builtin ones are replaced.
    let declared = text_of("transport_id");
    assert_eq!(text_of("useBuiltinTransports"), vec!["false"]);
    assert!(declared.iter().filter(|t| *t == "lookout_shm").count() == 2);
    assert!(
        text_of("type").iter().any(|t| t == "UDPv4"),
        "no UDPv4 for other hosts"
    );
}

/// Field lines of a `.msg` text (comments and blank lines removed, whitespace normalised), with
/// package-relative types qualified, so that two spellings of one definition compare equal.
fn msg_fields(text: &str, package: &str) -> Vec<String> {
    text.lines()
        .map(|l| l.split('#').next().unwrap_or("").trim())
        .filter(|l| !l.is_empty())
        .map(|l| {
            let mut parts = l.split_whitespace();
            let ty = parts.next().unwrap_or("");
            let rest: Vec<&str> = parts.collect();
            let base = ty.split('[').next().unwrap_or(ty);
            let primitive =
                base.chars().next().is_some_and(|c| c.is_ascii_lowercase()) && !base.contains('/');
            let ty = if primitive || ty.contains('/') {
                ty.to_owned()
            } else {
                format!("{package}/{ty}")
            };
            format!("{ty} {}", rest.join(" "))
        })
        .collect()
}

#[test]
fn interface_packages_match_the_mcap_message_definitions() {
    // ros/<package> is what the node publishes or subscribes to through rcl; lookout::msgs is
    // what replay reads and writes in MCAP. Both must be the upstream definitions (vision_msgs
    // 4.x, Autoware's autoware_perception_msgs, tf2_msgs), field for field.
    let mut packages: Vec<String> = std::fs::read_dir(root().join("ros"))
        .expect("ros/")
        .filter_map(|e| e.ok())
        .filter(|e| e.path().join("package.xml").is_file())
        .filter_map(|e| e.file_name().to_str().map(str::to_owned))
        .collect();
    packages.sort();
    assert_eq!(
        packages,
        ["autoware_perception_msgs", "tf2_msgs", "vision_msgs"],
        "interface packages under ros/"
    );
    for (package, count) in [
        ("vision_msgs", 10),
        ("autoware_perception_msgs", 5),
        ("tf2_msgs", 1),
    ] {
        let dir = root().join("ros").join(package).join("msg");
        let mut names: Vec<String> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                e.file_name()
                    .to_str()?
                    .strip_suffix(".msg")
                    .map(str::to_owned)
            })
            .collect();
        names.sort();
        assert_eq!(names.len(), count, "{package}: {names:?}");
        let cmake = read(&format!("ros/{package}/CMakeLists.txt"));
        let manifest = read(&format!("ros/{package}/package.xml"));
        assert!(
            manifest.contains(&format!("<name>{package}</name>")),
            "ros/{package}/package.xml names another package"
        );
        for name in &names {
            assert!(
                cmake.contains(&format!("\"msg/{name}.msg\"")),
                "ros/{package}/CMakeLists.txt lacks {name}"
            );
            let ours = read(&format!("ros/{package}/msg/{name}.msg"));
            let mirror = lookout::msgs::definitions::msg_text(&format!("{package}/msg/{name}"))
                .unwrap_or_else(|| panic!("lookout::msgs has no {package}/{name}"));
            assert_eq!(
                msg_fields(&ours, package),
                msg_fields(mirror, package),
                "{package}/{name}"
            );
        }
    }
}
