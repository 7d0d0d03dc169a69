//! `lookout replay` end to end on real frames of PETS09-S2L1 (vtest.avi), through the CLI
//! binary: every output field read back by an independent reader (PyPI `mcap` +
//! `mcap-ros2-support`, scripts/python/check_mcap.py), detections equal to the detector run
//! directly on the same frames, byte-identical output on a second run, and the failure paths:
//! a corrupt frame part-way, Ctrl-C part-way, a truncated input, a corrupt model file.
//!
//! Needs the asset cache and the oracle venv (`scripts/setup.sh`).

mod mcap_common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use mcap_common::{asset, check_mcap, lookout, messages, ok, run, vtest_recording};
use serde_json::Value;

const FRAMES: u64 = 6;

fn replay(input: &Path, out: &Path, extra: &[&str]) -> Output {
    run(lookout()
        .arg("replay")
        .arg(input)
        .arg("--out")
        .arg(out)
        .arg("--no-progress")
        .args(extra))
}

#[test]
fn replay_output_is_real_ros2_mcap_with_every_field_right() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.mcap");
    let o = replay(vtest_recording(FRAMES), &out, &["--with-images"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let summary = String::from_utf8_lossy(&o.stdout);
    assert!(summary.contains(&format!("frames: {FRAMES}")), "{summary}");
    assert!(summary.contains("pedestrian"), "{summary}");
    assert!(summary.contains("forward"), "{summary}");

    let desc = check_mcap(&out, &[]);
    assert_eq!(desc["profile"], "ros2");
    assert_eq!(desc["has_summary"], true);
    assert!(desc["chunk_compressions"]
        .as_array()
        .unwrap()
        .iter()
        .all(|c| c == "zstd"));
    assert_eq!(
        desc["linear_message_count"].as_u64().unwrap(),
        desc["statistics"]["message_count"].as_u64().unwrap()
    );
    let mut topics: Vec<(String, String, String, String)> = desc["channels"]
        .as_object()
        .unwrap()
        .values()
        .map(|c| {
            let schema = &desc["schemas"][c["schema_id"].to_string()];
            (
                c["topic"].as_str().unwrap().to_owned(),
                schema["name"].as_str().unwrap().to_owned(),
                schema["encoding"].as_str().unwrap().to_owned(),
                c["message_encoding"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    topics.sort();
    let t = |a: &str, b: &str, c: &str, d: &str| (a.into(), b.into(), c.into(), d.into());
    assert_eq!(
        topics,
        vec![
            t(
                "/camera/annotations",
                "foxglove.ImageAnnotations",
                "jsonschema",
                "json"
            ),
            t(
                "/camera/detections",
                "vision_msgs/msg/Detection2DArray",
                "ros2msg",
                "cdr"
            ),
            t(
                "/camera/image_raw/compressed",
                "sensor_msgs/msg/CompressedImage",
                "ros2msg",
                "cdr"
            ),
            t(
                "/camera/tracks",
                "vision_msgs/msg/Detection2DArray",
                "ros2msg",
                "cdr"
            ),
            t(
                "/camera/tracks/state",
                "lookout.TrackArray",
                "jsonschema",
                "json"
            ),
        ]
    );

    let images = messages(&desc, "/camera/image_raw/compressed");
    let dets = messages(&desc, "/camera/detections");
    let tracks = messages(&desc, "/camera/tracks");
    let states = messages(&desc, "/camera/tracks/state");
    assert_eq!(images.len() as u64, FRAMES);
    assert_eq!(dets.len() as u64, FRAMES);
    assert_eq!(tracks.len() as u64, FRAMES);
    assert_eq!(states.len() as u64, FRAMES);

    // The input images are copied byte for byte.
    let input = check_mcap(vtest_recording(FRAMES), &[]);
    let input_images = messages(&input, "/camera/image_raw/compressed");
    for (a, b) in images.iter().zip(&input_images) {
        assert_eq!(a["data_sha256"], b["data_sha256"]);
        assert_eq!(a["log_time"], b["log_time"]);
    }

    let mut confirmed_ids = std::collections::BTreeSet::new();
    for (i, ((img, det), (trk, state))) in input_images
        .iter()
        .zip(&dets)
        .zip(tracks.iter().zip(&states))
        .enumerate()
    {
        // Header and log time travel from the image to every output.
        for m in [det, trk] {
            assert_eq!(m["header"], img["header"], "frame {i}");
            assert_eq!(m["log_time"], img["log_time"], "frame {i}");
        }
        assert_eq!(state["log_time"], img["log_time"]);
        let expected_ns = 1_700_000_000_000_000_000u64 + (i as f64 * 1e9 / 7.0).round() as u64;
        assert_eq!(img["log_time"].as_u64().unwrap(), expected_ns);
        for d in det["detections"].as_array().unwrap() {
            assert_eq!(d["header"], img["header"]);
            assert_eq!(d["id"], "");
            let r = &d["results"][0];
            let class = r["class_id"].as_str().unwrap();
            assert!(
                [
                    "pedestrian",
                    "bicycle",
                    "car",
                    "motorcycle",
                    "bus",
                    "truck",
                    "traffic_light",
                    "stop_sign"
                ]
                .contains(&class),
                "{class}"
            );
            let score = r["score"].as_f64().unwrap();
            assert!((0.25..=1.0).contains(&score), "{score}");
            let b = &d["bbox"];
            let (x, y) = (b["x"].as_f64().unwrap(), b["y"].as_f64().unwrap());
            let (w, h) = (b["size_x"].as_f64().unwrap(), b["size_y"].as_f64().unwrap());
            assert!(w > 0.0 && h > 0.0);
            assert!(x - w / 2.0 >= -1e-3 && x + w / 2.0 <= 768.0 + 1e-3, "{b}");
            assert!(y - h / 2.0 >= -1e-3 && y + h / 2.0 <= 576.0 + 1e-3, "{b}");
        }
        // Tracks: the JSON state and the Detection2DArray agree on ids, classes and boxes.
        let json_tracks = state["json"]["tracks"].as_array().unwrap();
        let trk_dets = trk["detections"].as_array().unwrap();
        assert_eq!(json_tracks.len(), trk_dets.len());
        assert_eq!(
            state["json"]["stamp_ns"].as_u64().unwrap(),
            img["log_time"].as_u64().unwrap()
        );
        for (j, d) in json_tracks.iter().zip(trk_dets) {
            assert_eq!(d["id"], j["id"].to_string());
            assert_eq!(d["results"][0]["class_id"], j["label"]);
            assert_eq!(j["state"], "confirmed");
            let b = &j["bbox"];
            let cx = (b["x_min"].as_f64().unwrap() + b["x_max"].as_f64().unwrap()) / 2.0;
            assert!((d["bbox"]["x"].as_f64().unwrap() - cx).abs() < 1e-3);
            let cov = j["bbox_covariance"][0][0].as_f64().unwrap();
            assert!(cov > 0.0);
            assert_eq!(d["results"][0]["covariance"][0].as_f64().unwrap(), cov);
            confirmed_ids.insert(j["id"].as_u64().unwrap());
        }
    }
    // Pedestrians walk through all six frames: tracks are confirmed, with stable ids.
    assert!(!confirmed_ids.is_empty());
    assert!(
        confirmed_ids.len()
            < 3 * dets[FRAMES as usize - 1]["detections"]
                .as_array()
                .unwrap()
                .len(),
        "ids are not stable: {confirmed_ids:?}"
    );
}

#[test]
fn replay_matches_the_detector_on_the_same_frames_and_is_deterministic() {
    use lookout::detect::{Detector, DetectorConfig};
    use lookout::mcap_io::{decode_frame, McapCameraSource};

    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.mcap");
    let b = dir.path().join("b.mcap");
    assert!(replay(vtest_recording(FRAMES), &a, &[]).status.success());
    assert!(replay(vtest_recording(FRAMES), &b, &[]).status.success());
    assert_eq!(
        std::fs::read(&a).unwrap(),
        std::fs::read(&b).unwrap(),
        "two replays of the same input differ"
    );

    let detector = Detector::load(&DetectorConfig::default(), &candle_core::Device::Cpu).unwrap();
    let desc = check_mcap(&a, &[]);
    let dets = messages(&desc, "/camera/detections");
    let source = McapCameraSource::open(vtest_recording(FRAMES), &[]).unwrap();
    let mut n = 0;
    for (msg, out) in source.zip(&dets) {
        let frame = decode_frame(&msg.unwrap()).unwrap();
        let direct = detector.detect(&frame.image).unwrap();
        let written = out["detections"].as_array().unwrap();
        assert_eq!(direct.len(), written.len(), "frame {n}");
        for (d, w) in direct.iter().zip(written) {
            let (cx, cy) = d.bbox.center();
            assert_eq!(w["results"][0]["class_id"], d.label.as_str());
            // Written as f64 from f32, so exact up to the JSON round trip's last bit.
            let close = |v: &Value, x: f32| (v.as_f64().unwrap() - f64::from(x)).abs() < 1e-9;
            assert!(close(&w["bbox"]["x"], cx), "frame {n}: {w}");
            assert!(close(&w["bbox"]["y"], cy), "frame {n}: {w}");
            assert!(close(&w["results"][0]["score"], d.score), "frame {n}: {w}");
        }
        n += 1;
    }
    assert_eq!(n, FRAMES as usize);
}

/// A copy of the recording whose message `bad_index` carries bytes that are not a JPEG.
fn recording_with_corrupt_frame(dir: &Path, bad_index: u64) -> PathBuf {
    use lookout::mcap_io::{McapCameraSource, Ros2McapWriter};
    use lookout::msgs::{from_cdr, CompressedImage};
    let path = dir.join("corrupt.mcap");
    let mut writer = Ros2McapWriter::create(&path).unwrap();
    writer
        .add_topic::<CompressedImage>("/camera/image_raw/compressed")
        .unwrap();
    for msg in McapCameraSource::open(vtest_recording(FRAMES), &[]).unwrap() {
        let msg = msg.unwrap();
        let mut img: CompressedImage = from_cdr(&msg.data).unwrap();
        if msg.index == bad_index {
            img.data.truncate(100);
            img.data.extend_from_slice(&[0x42; 64]);
        }
        writer
            .write_message(&msg.topic, msg.log_time_ns, msg.index as u32, &img)
            .unwrap();
    }
    writer.finish().unwrap();
    path
}

#[test]
fn a_corrupt_frame_part_way_fails_clearly_and_keeps_what_was_processed() {
    let dir = tempfile::tempdir().unwrap();
    let input = recording_with_corrupt_frame(dir.path(), 3);
    let out = dir.path().join("out.mcap");
    let o = replay(&input, &out, &[]);
    assert!(!o.status.success());
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(stderr.contains("/camera/image_raw/compressed"), "{stderr}");
    assert!(stderr.contains('3'), "names the message index: {stderr}");
    let desc = check_mcap(&out, &[]);
    assert_eq!(
        desc["has_summary"], true,
        "output left without summary/index"
    );
    assert_eq!(messages(&desc, "/camera/detections").len(), 3);

    // With skip_bad_frames the replay goes on and counts the frame.
    let o = replay(&input, &out, &["--set", "replay.skip_bad_frames=true"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout).contains("1 skipped"));
    let desc = check_mcap(&out, &[]);
    assert_eq!(
        messages(&desc, "/camera/detections").len() as u64,
        FRAMES - 1
    );
}

#[test]
fn ctrl_c_part_way_leaves_a_valid_indexed_output() {
    let dir = tempfile::tempdir().unwrap();
    // A longer recording so that the interrupt lands part-way.
    let input = dir.path().join("long.mcap");
    ok(lookout()
        .arg("record")
        .arg(asset("data/vtest.avi"))
        .args(["--fps", "7", "--max-frames", "200", "--out"])
        .arg(&input));
    let out = dir.path().join("out.mcap");
    let child = lookout()
        .arg("replay")
        .arg(&input)
        .arg("--out")
        .arg(&out)
        .arg("--no-progress")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the output is being written (under its temporary name `.out.mcap.tmp-*`,
    // created once the model is loaded), then interrupt.
    let writing = || {
        std::fs::read_dir(dir.path()).unwrap().any(|e| {
            e.unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with(".out.mcap.tmp-")
        })
    };
    let start = std::time::Instant::now();
    while !writing() && start.elapsed().as_secs() < 60 {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let o = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert_eq!(
        o.status.code(),
        Some(130),
        "{stdout}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(stdout.contains("INTERRUPTED"), "{stdout}");
    let desc = check_mcap(&out, &[]);
    assert_eq!(desc["has_summary"], true);
    let n = messages(&desc, "/camera/detections").len();
    assert!(n > 0 && n < 200, "{n} frames written");
    assert_eq!(
        desc["linear_message_count"].as_u64().unwrap(),
        desc["statistics"]["message_count"].as_u64().unwrap()
    );
}

#[test]
fn bad_inputs_give_one_clear_error_and_no_panic() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.mcap");

    // Truncated recording.
    let bytes = std::fs::read(vtest_recording(FRAMES)).unwrap();
    let truncated = dir.path().join("truncated.mcap");
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    let o = replay(&truncated, &out, &[]);
    assert_eq!(o.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(stderr.contains("truncated.mcap"), "{stderr}");

    // Not an MCAP at all.
    let junk = dir.path().join("junk.mcap");
    std::fs::write(&junk, b"hello").unwrap();
    let o = replay(&junk, &out, &[]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("junk.mcap"));

    // A topic that is not in the file.
    let o = replay(vtest_recording(FRAMES), &out, &["--topic", "/nope"]);
    assert_eq!(o.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        stderr.contains("/nope") && stderr.contains("/camera/image_raw/compressed"),
        "{stderr}"
    );

    // An unknown config key.
    let o = replay(
        vtest_recording(FRAMES),
        &out,
        &["--set", "detector.confidence=0.3"],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("confidence"));

    // Weights that do not match their sha256 pin.
    let cache = dir.path().join("cache");
    let model_dir = cache.join("models/yolov4-tiny");
    std::fs::create_dir_all(&model_dir).unwrap();
    for f in ["yolov4-tiny.cfg", "coco.names"] {
        std::fs::copy(asset(&format!("models/yolov4-tiny/{f}")), model_dir.join(f)).unwrap();
    }
    let mut weights = std::fs::read(asset("models/yolov4-tiny/yolov4-tiny.weights")).unwrap();
    weights.truncate(weights.len() - 4096);
    std::fs::write(model_dir.join("yolov4-tiny.weights"), weights).unwrap();
    let o = replay(vtest_recording(FRAMES), &out, &[]);
    assert!(o.status.success());
    let o = run(lookout()
        .env("LOOKOUT_CACHE", &cache)
        .arg("replay")
        .arg(vtest_recording(FRAMES))
        .arg("--out")
        .arg(&out)
        .arg("--no-progress"));
    assert_eq!(o.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        stderr.contains("yolov4-tiny.weights") && stderr.contains("sha256"),
        "{stderr}"
    );
}

#[test]
fn mot_outputs_agree_with_the_mot_interface() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.mcap");
    let tracks = dir.path().join("tracks.txt");
    let dets = dir.path().join("det.txt");
    let o = replay(
        vtest_recording(FRAMES),
        &out,
        &[
            "--mot-out",
            tracks.to_str().unwrap(),
            "--mot-det-out",
            dets.to_str().unwrap(),
        ],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let det_text = std::fs::read_to_string(&dets).unwrap();
    assert!(det_text.lines().count() >= FRAMES as usize, "{det_text}");
    assert!(det_text.lines().all(|l| l.split(',').nth(1) == Some("-1")));
    // The tracker run by `lookout track` on the replay's own detections, at the recording's
    // frame rate, gives exactly the replay's tracks: one tracker, two front ends.
    let retrack = dir.path().join("retrack.txt");
    // `--scores own`: these are lookout's detections, cut by the tracking block's thresholds.
    ok(lookout()
        .args(["track", "--fps", "7", "--scores", "own", "--det"])
        .arg(&dets)
        .arg("--out")
        .arg(&retrack));
    // Same frames, ids and scores; boxes equal up to det.txt's 3 decimals.
    let rows = |p: &Path| -> Vec<Vec<f64>> {
        std::fs::read_to_string(p)
            .unwrap()
            .lines()
            .map(|l| l.split(',').map(|v| v.parse().unwrap()).collect())
            .collect()
    };
    let (a, b) = (rows(&tracks), rows(&retrack));
    assert!(!a.is_empty());
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(&b) {
        assert_eq!((x[0], x[1]), (y[0], y[1]), "frame/id: {x:?} vs {y:?}");
        for i in 2..7 {
            assert!((x[i] - y[i]).abs() < 0.01, "{x:?} vs {y:?}");
        }
    }
}

#[test]
fn several_cameras_are_separate_streams_and_encodings_agree() {
    use lookout::image_codec::{encode_raw, RawEncoding};
    use lookout::mcap_io::{decode_frame, McapCameraSource, Ros2McapWriter};
    use lookout::msgs::{CompressedImage, Image};

    // Three cameras see the same frames: JPEG as recorded, raw rgb8 (with row padding) and raw
    // bgr8 of the decoded JPEG. Both raw cameras must give identical detections; each camera
    // gets its own output topics and its own track ids from 1.
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("three.mcap");
    let mut w = Ros2McapWriter::create(&input).unwrap();
    w.add_topic::<CompressedImage>("/front/image_raw/compressed")
        .unwrap();
    w.add_topic::<Image>("/left/image_raw").unwrap();
    w.add_topic::<Image>("/right/image").unwrap();
    for msg in McapCameraSource::open(vtest_recording(FRAMES), &[]).unwrap() {
        let msg = msg.unwrap();
        let frame = decode_frame(&msg).unwrap();
        let seq = msg.index as u32;
        w.write(
            "/front/image_raw/compressed",
            msg.log_time_ns,
            msg.log_time_ns,
            seq,
            &msg.data,
        )
        .unwrap();
        for (topic, enc, pad) in [
            ("/left/image_raw", RawEncoding::Rgb8, 8usize),
            ("/right/image", RawEncoding::Bgr8, 0),
        ] {
            let (step, data) = encode_raw(&frame.image, enc).unwrap();
            let (step, data) = if pad == 0 {
                (step, data)
            } else {
                let mut padded = Vec::new();
                for row in data.chunks(step as usize) {
                    padded.extend_from_slice(row);
                    padded.extend(std::iter::repeat_n(0xAB, pad));
                }
                (step + pad as u32, padded)
            };
            let mut header = frame.header.clone();
            header.frame_id = topic.trim_start_matches('/').replace('/', "_");
            let img = Image {
                header,
                height: frame.image.height,
                width: frame.image.width,
                encoding: enc.as_str().into(),
                is_bigendian: 0,
                step,
                data,
            };
            w.write_message(topic, msg.log_time_ns, seq, &img).unwrap();
        }
    }
    w.finish().unwrap();

    let out = dir.path().join("out.mcap");
    let o = replay(&input, &out, &[]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let desc = check_mcap(&out, &[]);
    let left = messages(&desc, "/left/detections");
    let right = messages(&desc, "/right/detections");
    let front = messages(&desc, "/front/detections");
    assert_eq!(
        (left.len(), right.len(), front.len()),
        (FRAMES as usize, FRAMES as usize, FRAMES as usize)
    );
    for (l, r) in left.iter().zip(&right) {
        assert_eq!(l["header"]["frame_id"], "left_image_raw");
        assert_eq!(r["header"]["frame_id"], "right_image");
        assert_eq!(
            l["detections"].as_array().unwrap().len(),
            r["detections"].as_array().unwrap().len()
        );
        for (a, b) in l["detections"]
            .as_array()
            .unwrap()
            .iter()
            .zip(r["detections"].as_array().unwrap())
        {
            assert_eq!(a["bbox"], b["bbox"]);
            assert_eq!(a["results"][0]["score"], b["results"][0]["score"]);
        }
    }
    for topic in [
        "/left/tracks/state",
        "/right/tracks/state",
        "/front/tracks/state",
    ] {
        let ids: Vec<u64> = messages(&desc, topic)
            .iter()
            .flat_map(|m| {
                m["json"]["tracks"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|t| t["id"].as_u64().unwrap())
            })
            .collect();
        assert_eq!(ids.iter().min(), Some(&1), "{topic}: ids {ids:?}");
    }
}
