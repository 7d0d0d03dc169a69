//! Issue 13, items 5 to 8 and the command-line part of 10, through the real `lookout` binary:
//! configuration values that used to abort or exhaust memory are refused naming the key and
//! where it came from; `lookout track` holds frames sparsely and bounds boxes per frame; a
//! repeated or backward header stamp no longer ends a replay; two topics of one camera get
//! their own outputs; numeric flags are range-checked; an error prints each cause once and
//! warnings carry no colour codes when stderr is not a terminal.
//!
//! Every check also asserts that the process exited with a status (no signal: no abort), and
//! that no panic was printed. The replay tests need the asset cache and the oracle venv
//! (`scripts/setup.sh`).

mod mcap_common;

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

use mcap_common::{check_mcap, lookout, messages, run, vtest_recording};

const FRAMES: u64 = 8;

/// Stderr as text.
fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The exit code; fails when the process was killed by a signal (an abort).
fn code(o: &Output) -> i32 {
    o.status
        .code()
        .unwrap_or_else(|| panic!("killed by a signal: {:?}\n{}", o.status, stderr(o)))
}

/// The single `error:` line of a failed run (and nothing after it but an empty line).
fn error_message(o: &Output) -> String {
    assert_eq!(code(o), 1, "{}", stderr(o));
    let text = stderr(o);
    let line = text
        .lines()
        .find(|l| l.starts_with("error: "))
        .unwrap_or_else(|| panic!("no error line: {text}"));
    line.to_owned()
}

// ---- item 5: configuration upper bounds -------------------------------------------------

#[test]
fn config_values_that_aborted_are_refused_naming_key_and_origin() {
    let dir = tempfile::tempdir().unwrap();
    let input = vtest_recording(FRAMES);
    let out = dir.path().join("out.mcap");
    for (set, key) in [
        // 1e12 aborted on the channel's allocation; u64::MAX panicked.
        (
            "replay.channel_capacity=1000000000000",
            "replay.channel_capacity",
        ),
        (
            "replay.channel_capacity=18446744073709551615",
            "replay.channel_capacity",
        ),
        // 96000 aborted, 4294967264 panicked, 4096 took 6.5 GB.
        ("detector.input_size_px=96000", "detector.input_size_px"),
        (
            "detector.input_size_px=4294967264",
            "detector.input_size_px",
        ),
        ("detector.input_size_px=4096", "detector.input_size_px"),
        (
            "tracking.oc_momentum_delta_s=1e19",
            "tracking.oc_momentum_delta_s",
        ),
    ] {
        let t = Instant::now();
        let o = run(lookout()
            .arg("replay")
            .arg(input)
            .arg("--out")
            .arg(&out)
            .args(["--no-progress", "--set", set]));
        let e = error_message(&o);
        // Named by the --set argument that set it, not the built-in file it overrides.
        assert!(e.contains(&format!("--set {set}")), "{e}");
        assert!(e.contains(key) && !e.contains("built-in"), "{e}");
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "{set}: {:?}",
            t.elapsed()
        );
    }
    // From a file: the file and the key are named.
    let yaml =
        lookout::config::DEFAULT_PARAMS_YAML.replace("input_size_px: 416", "input_size_px: 96000");
    let config = dir.path().join("big.param.yaml");
    std::fs::write(&config, yaml).unwrap();
    let o = run(lookout()
        .arg("replay")
        .arg(input)
        .arg("--out")
        .arg(&out)
        .arg("--no-progress")
        .arg("--config")
        .arg(&config));
    let e = error_message(&o);
    assert!(
        e.contains("big.param.yaml") && e.contains("detector.input_size_px"),
        "{e}"
    );
    assert!(!out.exists(), "no output for a refused configuration");
}

// ---- item 6: lookout track ---------------------------------------------------------------

fn track(det: &Path, out: &Path, extra: &[&str]) -> Output {
    run(lookout()
        .arg("track")
        .arg("--det")
        .arg(det)
        .arg("--out")
        .arg(out)
        .args(extra))
}

#[test]
fn track_refuses_huge_frame_numbers_and_lengths_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let det = dir.path().join("det.txt");
    let out = dir.path().join("res.txt");
    // Frame 4294967295 allocated 103 GB and aborted.
    std::fs::write(&det, "1,-1,0,0,10,10,0.9\n4294967295,-1,0,0,10,10,0.9\n").unwrap();
    let e = error_message(&track(&det, &out, &["--fps", "25"]));
    assert!(e.contains("det.txt:2") && e.contains("frame"), "{e}");
    // So did seqLength 4294967295.
    let seq = dir.path().join("seq");
    std::fs::create_dir_all(seq.join("det")).unwrap();
    std::fs::write(seq.join("det/det.txt"), "1,-1,0,0,10,10,0.9\n").unwrap();
    std::fs::write(
        seq.join("seqinfo.ini"),
        "[Sequence]\nframeRate=25\nseqLength=4294967295\n",
    )
    .unwrap();
    let e = error_message(&track(&seq, &out, &[]));
    assert!(e.contains("seqinfo.ini") && e.contains("seqLength"), "{e}");
}

#[test]
fn track_holds_frames_sparsely() {
    // Three frames of a walking person, then one detection ten million frames later: fast, and
    // the results are those of the first frames. (Confident detections, >= the external
    // profile's confirm_score_min: the second confirms the track.)
    let dir = tempfile::tempdir().unwrap();
    let det = dir.path().join("det.txt");
    let out = dir.path().join("res.txt");
    let mut text = String::new();
    for f in 1..=3 {
        text.push_str(&format!("{f},-1,{},100,40,80,0.97\n", 100 + 5 * f));
    }
    text.push_str("10000000,-1,0,0,10,10,0.9\n");
    std::fs::write(&det, text).unwrap();
    let t = Instant::now();
    let o = track(&det, &out, &["--fps", "25"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(t.elapsed() < Duration::from_secs(30), "{:?}", t.elapsed());
    let results = std::fs::read_to_string(&out).unwrap();
    let frames: Vec<&str> = results
        .lines()
        .map(|l| l.split(',').next().unwrap())
        .collect();
    assert_eq!(frames, ["2", "3"], "{results}");
}

#[test]
fn track_refuses_a_frame_with_too_many_boxes_naming_it() {
    // Thousands of overlapping boxes in a frame took minutes and GBs; the bound is 1000.
    let dir = tempfile::tempdir().unwrap();
    let det = dir.path().join("det.txt");
    let mut text = String::from("1,-1,0,0,10,10,0.9\n");
    for i in 0..1001 {
        text.push_str(&format!(
            "5,-1,{},{},8,8,0.9\n",
            (i % 100) * 10,
            (i / 100) * 10
        ));
    }
    std::fs::write(&det, text).unwrap();
    let t = Instant::now();
    let e = error_message(&track(&det, &dir.path().join("res.txt"), &["--fps", "25"]));
    assert!(
        e.contains("det.txt") && e.contains("frame 5") && e.contains("1001"),
        "{e}"
    );
    assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());
}

// ---- item 7: time policy -----------------------------------------------------------------

/// The vtest recording with header stamps rewritten: frame 3 repeats frame 2's stamp, frame 5
/// goes back to before frame 0 (a looped bag), later frames go on from there.
fn recording_with_stamps(dir: &Path) -> PathBuf {
    use lookout::mcap_io::{McapCameraSource, Ros2McapWriter};
    use lookout::msgs::{from_cdr, CompressedImage};
    use lookout::Time;
    let path = dir.join("stamps.mcap");
    let mut writer = Ros2McapWriter::create(&path).unwrap();
    let topic = "/camera/image_raw/compressed";
    writer.add_topic::<CompressedImage>(topic).unwrap();
    let step_ns = 142_857_143i64; // 7 frames/s
    for msg in McapCameraSource::open(vtest_recording(FRAMES), &[]).unwrap() {
        let msg = msg.unwrap();
        let mut img: CompressedImage = from_cdr(&msg.data).unwrap();
        let i = msg.index as i64;
        let stamp_ns = match i {
            0..=2 => 1_000_000_000 + i * step_ns,
            3 => 1_000_000_000 + 2 * step_ns,
            4 => 1_000_000_000 + 3 * step_ns,
            _ => 500_000_000 + (i - 5) * step_ns,
        };
        img.header.stamp = Time::from_ns(stamp_ns);
        writer
            .write_message(topic, msg.log_time_ns, msg.index as u32, &img)
            .unwrap();
    }
    writer.finish().unwrap();
    path
}

#[test]
fn repeated_and_backward_stamps_complete_the_replay_and_are_counted() {
    let dir = tempfile::tempdir().unwrap();
    let input = recording_with_stamps(dir.path());
    let out = dir.path().join("out.mcap");
    let summary = dir.path().join("summary.json");
    let o = run(lookout()
        .arg("replay")
        .arg(&input)
        .arg("--out")
        .arg(&out)
        .arg("--no-progress")
        .arg("--summary-json")
        .arg(&summary)
        .args(["--set", "replay.skip_bad_frames=true"])
        .env("RUST_LOG", "warn"));
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let log = stderr(&o);
    // The backward jump is logged once, at warn, without colour codes (stderr is a pipe).
    assert_eq!(log.matches("tracker restarted").count(), 1, "{log}");
    assert!(
        !log.contains('\u{1b}'),
        "ANSI codes in a piped stderr: {log:?}"
    );

    let s: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&summary).unwrap()).unwrap();
    assert_eq!(s["frames"], FRAMES);
    let time = &s["time_per_stream"]["/camera/image_raw/compressed"];
    assert_eq!(time["tracker_resets"], 1, "{s}");
    assert_eq!(time["duplicate_stamps"], 1, "{s}");

    // Every frame has its detections and tracks, read back by the independent reader.
    let desc = check_mcap(&out, &[]);
    let dets = messages(&desc, "/camera/detections");
    let tracks = messages(&desc, "/camera/tracks");
    assert_eq!(
        (dets.len(), tracks.len()),
        (FRAMES as usize, FRAMES as usize)
    );
    let ids = |m: &serde_json::Value| -> Vec<String> {
        m["detections"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["id"].as_str().unwrap().to_owned())
            .collect()
    };
    // The repeated stamp reports the previous update's tracks again.
    assert!(!ids(tracks[2]).is_empty());
    assert_eq!(ids(tracks[3]), ids(tracks[2]));
    assert_eq!(tracks[3]["header"]["stamp"], tracks[2]["header"]["stamp"]);
    // After the restart no id of before is reported again (ids continue).
    let before: Vec<String> = tracks[..5].iter().flat_map(|m| ids(m)).collect();
    for m in &tracks[5..] {
        for id in ids(m) {
            assert!(!before.contains(&id), "id {id} reused after the restart");
        }
    }
    assert!(tracks[5..].iter().any(|m| !ids(m).is_empty()));
}

#[test]
fn record_of_a_folder_by_file_times_goes_in_time_order_and_refuses_repeats() {
    let dir = tempfile::tempdir().unwrap();
    let images = dir.path().join("images");
    std::fs::create_dir_all(&images).unwrap();
    let jpg = mcap_common::asset("data/darknet/dog.jpg");
    let t0 = std::time::SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let set_time = |name: &str, t: std::time::SystemTime| {
        let p = images.join(name);
        std::fs::copy(&jpg, &p).unwrap();
        std::fs::File::options()
            .write(true)
            .open(&p)
            .unwrap()
            .set_modified(t)
            .unwrap();
    };
    // Names and times disagree: recorded in time order, so the stamps increase.
    set_time("a.jpg", t0 + Duration::from_secs(2));
    set_time("b.jpg", t0 + Duration::from_secs(1));
    let out = dir.path().join("ok.mcap");
    let o = run(lookout().arg("record").arg(&images).arg("--out").arg(&out));
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let desc = check_mcap(&out, &[]);
    let stamps: Vec<i64> = messages(&desc, "/camera/image_raw/compressed")
        .iter()
        .map(|m| m["log_time"].as_i64().unwrap())
        .collect();
    assert_eq!(
        stamps,
        [1_700_000_001_000_000_000, 1_700_000_002_000_000_000]
    );
    // Two images with the same time would repeat a stamp: refused, naming both and --fps.
    set_time("c.jpg", t0 + Duration::from_secs(1));
    let o = run(lookout()
        .arg("record")
        .arg(&images)
        .arg("--out")
        .arg(dir.path().join("repeat.mcap")));
    let e = error_message(&o);
    assert!(
        e.contains("b.jpg") && e.contains("c.jpg") && e.contains("--fps"),
        "{e}"
    );
}

// ---- item 8: two topics of one camera ----------------------------------------------------

#[test]
fn two_topics_of_one_camera_get_their_own_outputs() {
    use lookout::image_codec::{encode_raw, RawEncoding};
    use lookout::mcap_io::{decode_frame, McapCameraSource, Ros2McapWriter};
    use lookout::msgs::{CompressedImage, Image};
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("both.mcap");
    let mut w = Ros2McapWriter::create(&input).unwrap();
    w.add_topic::<Image>("/camera/image_raw").unwrap();
    w.add_topic::<CompressedImage>("/camera/image_raw/compressed")
        .unwrap();
    for msg in McapCameraSource::open(vtest_recording(FRAMES), &[]).unwrap() {
        let msg = msg.unwrap();
        let frame = decode_frame(&msg).unwrap();
        let (step, data) = encode_raw(&frame.image, RawEncoding::Rgb8).unwrap();
        let img = Image {
            header: frame.header.clone(),
            height: frame.image.height,
            width: frame.image.width,
            encoding: "rgb8".into(),
            is_bigendian: 0,
            step,
            data,
        };
        let seq = msg.index as u32;
        w.write_message("/camera/image_raw", msg.log_time_ns, seq, &img)
            .unwrap();
        w.write(
            "/camera/image_raw/compressed",
            msg.log_time_ns,
            msg.log_time_ns,
            seq,
            &msg.data,
        )
        .unwrap();
    }
    w.finish().unwrap();

    let out = dir.path().join("out.mcap");
    let o = run(lookout()
        .arg("replay")
        .arg(&input)
        .arg("--out")
        .arg(&out)
        .arg("--no-progress"));
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let desc = check_mcap(&out, &[]);
    assert!(messages(&desc, "/camera/detections").is_empty());
    assert!(messages(&desc, "/camera/tracks").is_empty());
    for base in ["/camera/image_raw", "/camera/image_raw/compressed"] {
        for suffix in ["detections", "tracks", "tracks/state", "annotations"] {
            let n = messages(&desc, &format!("{base}/{suffix}")).len();
            assert_eq!(n, FRAMES as usize, "{base}/{suffix}");
        }
    }
}

// ---- item 10 (command line): numeric flags ----------------------------------------------

#[test]
fn numeric_flags_are_range_checked() {
    let dir = tempfile::tempdir().unwrap();
    let x = dir.path().join("x");
    let x = x.to_str().unwrap();
    for (args, flag) in [
        (vec!["eval", "--replay", x, "--iou-min", "NaN"], "--iou-min"),
        (vec!["eval", "--replay", x, "--iou-min", "2"], "--iou-min"),
        (vec!["eval", "--replay", x, "--iou-min", "0"], "--iou-min"),
        (
            vec!["track", "--det", x, "--out", x, "--fps", "1e300"],
            "--fps",
        ),
        (vec!["track", "--det", x, "--out", x, "--fps", "0"], "--fps"),
        (vec!["record", x, "--out", x, "--fps", "inf"], "--fps"),
        (vec!["bench", "--runs", "0"], "--runs"),
        (vec!["bench", "--input-size", "96000"], "--input-size"),
        (vec!["bench-stages", "--frame", "100000x100000"], "--frame"),
        (vec!["bench-stages", "--batch", "1,1000000"], "--batch"),
        (vec!["bench-stages", "--runs", "0"], "--runs"),
        (
            vec!["replay", x, "--out", x, "--input-size", "4096"],
            "--input-size",
        ),
    ] {
        let t = Instant::now();
        let o = run(lookout().args(&args));
        assert_eq!(code(&o), 2, "{args:?}: {}", stderr(&o));
        let e = stderr(&o);
        assert!(
            e.contains(flag) && e.contains("invalid value"),
            "{args:?}: {e}"
        );
        assert!(t.elapsed() < Duration::from_secs(10), "{args:?}");
    }
}

// ---- item 10 (command line): error printing ----------------------------------------------

#[test]
fn errors_print_each_cause_once() {
    let dir = tempfile::tempdir().unwrap();
    // A missing file: the OS error appeared two or three times.
    let missing = dir.path().join("missing.mcap");
    let o = run(lookout().arg("topics").arg(&missing));
    let e = error_message(&o);
    assert_eq!(e.matches("missing.mcap").count(), 1, "{e}");
    assert_eq!(e.matches("No such file").count(), 1, "{e}");
    // Not an MCAP file.
    let bad = dir.path().join("bad.mcap");
    std::fs::write(&bad, "garbage").unwrap();
    let e = error_message(&run(lookout().arg("topics").arg(&bad)));
    assert_eq!(e.matches("bad.mcap").count(), 1, "{e}");
    assert_eq!(e.matches("magic").count(), 1, "{e}");
    // A YAML syntax error names the file once.
    let yaml = dir.path().join("broken.yaml");
    std::fs::write(&yaml, "/**:\n  ros__parameters:\n    device: [\n").unwrap();
    let o = run(lookout()
        .arg("replay")
        .arg(&bad)
        .arg("--out")
        .arg(dir.path().join("o.mcap"))
        .arg("--config")
        .arg(&yaml));
    let e = error_message(&o);
    assert_eq!(e.matches("broken.yaml").count(), 1, "{e}");
    // A --set error names the --set argument, once, and not the default file.
    let o = run(lookout()
        .arg("replay")
        .arg(&bad)
        .arg("--out")
        .arg(dir.path().join("o.mcap"))
        .args(["--set", "detector.confidence_min=7"]));
    let e = error_message(&o);
    assert_eq!(e.matches("detector.confidence_min=7").count(), 1, "{e}");
    assert!(e.contains("--set") && !e.contains("built-in"), "{e}");
}

#[test]
fn engine_stage_errors_name_the_input_file() {
    // The replay's engine-stage error carries the input path with the topic and message.
    let e = lookout::replay::ReplayError::Frame {
        path: PathBuf::from("/data/drive.mcap"),
        topic: "/camera/image_raw".into(),
        index: 7,
        source: Box::new(lookout::Error::Engine(
            lookout::engine::EngineError::Device {
                device: "cuda:0".into(),
                message: "gone".into(),
            },
        )),
    };
    let text = lookout::error::chain_message(&e);
    assert!(
        text.starts_with("/data/drive.mcap: topic `/camera/image_raw` message 7: "),
        "{text}"
    );
    assert_eq!(text.matches("gone").count(), 1, "{text}");
}
