//! Two-stage replay: detection over time slices (`lookout replay --detect-only --start/--end`,
//! run in any order, as a fleet would run them in parallel), then one tracking pass over the
//! slices' detections MCAPs (`lookout track --detections`), must write the very bytes a single
//! `lookout replay` writes. The recording is made to be hard on that: two cameras (JPEG and a
//! panning raw crop, so the camera-motion estimator measures real motion), a repeated stamp
//! right before a slice boundary (the estimator's reference must skip it), and slice boundaries
//! that fall between the frames of one camera and the next.
//!
//! Needs the asset cache (`scripts/setup.sh`).

mod mcap_common;

use std::path::{Path, PathBuf};

use mcap_common::{check_mcap, lookout, ok, run, vtest_recording};

const FRAMES: u64 = 10;

/// A recording of two cameras over the vtest frames: `/front/image_raw/compressed` as recorded,
/// and `/pan/image_raw` a raw crop moving 6 px right per frame, whose frame 5 repeats frame 4's
/// stamp. Returns it with the log times of the frames.
fn two_camera_recording(dir: &Path) -> (PathBuf, Vec<u64>) {
    use lookout::image_codec::{encode_raw, RawEncoding};
    use lookout::mcap_io::{decode_frame, McapCameraSource, Ros2McapWriter};
    use lookout::msgs::{CompressedImage, Image};
    use lookout::types::RgbImage;

    let path = dir.join("two.mcap");
    let mut w = Ros2McapWriter::create(&path).unwrap();
    w.add_topic::<CompressedImage>("/front/image_raw/compressed")
        .unwrap();
    w.add_topic::<Image>("/pan/image_raw").unwrap();
    let mut log_times = Vec::new();
    let mut previous_header = None;
    for msg in McapCameraSource::open(vtest_recording(FRAMES), &[]).unwrap() {
        let msg = msg.unwrap();
        let frame = decode_frame(&msg).unwrap();
        let k = msg.index;
        log_times.push(msg.log_time_ns);
        w.write(
            "/front/image_raw/compressed",
            msg.log_time_ns,
            msg.log_time_ns,
            k as u32,
            &msg.data,
        )
        .unwrap();
        let (width, x0) = (frame.image.width - 80, 6 * k as u32);
        let mut crop = RgbImage::new(width, frame.image.height);
        for y in 0..frame.image.height as usize {
            let src = (y * frame.image.width as usize + x0 as usize) * 3;
            let dst = y * width as usize * 3;
            crop.data[dst..dst + width as usize * 3]
                .copy_from_slice(&frame.image.data[src..src + width as usize * 3]);
        }
        let (step, data) = encode_raw(&crop, RawEncoding::Rgb8).unwrap();
        let mut header = frame.header.clone();
        header.frame_id = "pan".into();
        if k == 5 {
            header = previous_header.clone().unwrap();
        }
        previous_header = Some(header.clone());
        let img = Image {
            header,
            height: crop.height,
            width: crop.width,
            encoding: "rgb8".into(),
            is_bigendian: 0,
            step,
            data,
        };
        // The raw camera's message comes 1 ms after the JPEG's: a boundary can split a pair.
        w.write_message(
            "/pan/image_raw",
            msg.log_time_ns + 1_000_000,
            k as u32,
            &img,
        )
        .unwrap();
    }
    w.finish().unwrap();
    (path, log_times)
}

/// `ns` as the seconds `--start`/`--end` take, exact.
fn seconds(ns: u64) -> String {
    format!("{}.{:09}", ns / 1_000_000_000, ns % 1_000_000_000)
}

fn detect_slice(input: &Path, out: &Path, start: Option<u64>, end: Option<u64>) {
    let mut cmd = lookout();
    cmd.arg("replay")
        .arg(input)
        .arg("--out")
        .arg(out)
        .args(["--no-progress", "--detect-only"]);
    if let Some(t) = start {
        cmd.args(["--start", &seconds(t)]);
    }
    if let Some(t) = end {
        cmd.args(["--end", &seconds(t)]);
    }
    ok(&mut cmd);
}

#[test]
fn sliced_detection_then_one_tracking_pass_equals_a_single_replay_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    let (input, t) = two_camera_recording(dir.path());
    let single = dir.path().join("single.mcap");
    ok(lookout()
        .arg("replay")
        .arg(&input)
        .arg("--out")
        .arg(&single)
        .arg("--no-progress"));

    // Boundaries: between the two cameras of frame 3 (the JPEG before, the raw crop after), and
    // at frame 6, right after the raw camera's repeated stamp (frames 4 and 5).
    let cuts = [t[3] + 500_000, t[6]];
    let slices = [
        (dir.path().join("c.mcap"), Some(cuts[1]), None),
        (dir.path().join("a.mcap"), None, Some(cuts[0])),
        (dir.path().join("b.mcap"), Some(cuts[0]), Some(cuts[1])),
    ];
    for (out, start, end) in &slices {
        detect_slice(&input, out, *start, *end);
    }
    let two_stage = dir.path().join("two-stage.mcap");
    let stdout = ok(lookout()
        .arg("track")
        .arg("--detections")
        .args(slices.iter().map(|s| &s.0))
        .arg("--out")
        .arg(&two_stage));
    assert!(
        stdout.contains(&format!("3 slices: {} frames", 2 * FRAMES)),
        "{stdout}"
    );
    let (a, b) = (
        std::fs::read(&single).unwrap(),
        std::fs::read(&two_stage).unwrap(),
    );
    if a != b {
        // Say where: the first message that differs.
        let (da, db) = (check_mcap(&single, &[]), check_mcap(&two_stage, &[]));
        let (ma, mb) = (
            da["messages"].as_array().unwrap(),
            db["messages"].as_array().unwrap(),
        );
        fn first_diff(
            x: &serde_json::Value,
            y: &serde_json::Value,
            path: String,
        ) -> Option<String> {
            match (x, y) {
                (serde_json::Value::Object(a), serde_json::Value::Object(b)) => {
                    a.iter().find_map(|(k, v)| {
                        first_diff(
                            v,
                            b.get(k).unwrap_or(&serde_json::Value::Null),
                            format!("{path}.{k}"),
                        )
                    })
                }
                (serde_json::Value::Array(a), serde_json::Value::Array(b))
                    if a.len() == b.len() =>
                {
                    a.iter()
                        .zip(b)
                        .enumerate()
                        .find_map(|(i, (v, w))| first_diff(v, w, format!("{path}[{i}]")))
                }
                _ => (x != y).then(|| format!("{path}: {x} vs {y}")),
            }
        }
        for (x, y) in ma.iter().zip(mb) {
            if let Some(d) = first_diff(x, y, String::new()) {
                panic!("first differing message: {} {d}", x["topic"]);
            }
        }
        assert_eq!(ma.len(), mb.len(), "message counts");
        panic!("two-stage output differs from the single replay's (records, not messages)");
    }

    // The same without camera-motion compensation: the slices must say how they were made.
    let o = run(lookout()
        .arg("track")
        .arg("--detections")
        .args(slices.iter().map(|s| &s.0))
        .args(["--set", "camera_motion.enabled=false", "--out"])
        .arg(dir.path().join("x.mcap")));
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("camera_motion.enabled"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );

    // A missing slice is an error, and nothing is written.
    let gap = dir.path().join("gap.mcap");
    let o = run(lookout()
        .arg("track")
        .arg("--detections")
        .arg(&slices[0].0)
        .arg(&slices[1].0)
        .arg("--out")
        .arg(&gap));
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("cover the recording exactly once"), "{err}");
    assert!(!gap.exists());
}

#[test]
fn detect_only_refuses_what_needs_the_tracker() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("o.mcap");
    for extra in [
        &["--detect-only", "--mot-out", "x.txt"][..],
        &["--start", "1700000000"][..],
        &["--detect-only", "--start", "1.5e9"][..],
        &[
            "--detect-only",
            "--start",
            "1700000002",
            "--end",
            "1700000001",
        ][..],
    ] {
        let o = run(lookout()
            .arg("replay")
            .arg(vtest_recording(FRAMES))
            .arg("--out")
            .arg(&out)
            .arg("--no-progress")
            .args(extra));
        assert!(!o.status.success(), "{extra:?} accepted");
        assert!(!out.exists());
    }
}
