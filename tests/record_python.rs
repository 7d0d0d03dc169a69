//! `record` read back by an independent reader (PyPI `mcap` + `mcap-ros2-support`, OpenCV for
//! pixels): every field of recordings made from PETS09-S2L1 frames and from an image folder.

mod mcap_common;

use lookout::image_codec::RawEncoding;
use lookout::msgs::{CompressedImage, Image, RosMessage};
use lookout::record::{
    record, record_with_progress, RecordError, RecordFormat, RecordOptions, StampSource,
};
use mcap_common::{asset, check_mcap, sha256_hex};
use serde_json::Value;
use std::path::Path;

const START_NS: i64 = 1_700_000_000_123_456_789;

fn expected_stamp_ns(i: u64, fps: f64) -> i64 {
    START_NS + (i as f64 * 1e9 / fps).round() as i64
}

/// The file-level fields every recording must have; returns the messages.
fn check_file_level(
    json: &Value,
    topic: &str,
    schema: &str,
    definition: &str,
    n: u64,
) -> Vec<Value> {
    assert_eq!(json["profile"], "ros2");
    assert!(json["library"].as_str().unwrap().starts_with("lookout/"));
    assert_eq!(json["has_summary"], true);
    let compressions = json["chunk_compressions"].as_array().unwrap();
    assert!(!compressions.is_empty());
    assert!(compressions.iter().all(|c| c == "zstd"), "{compressions:?}");
    assert_eq!(
        json["chunk_indexes_with_message_index"].as_u64().unwrap(),
        compressions.len() as u64
    );
    let schemas = json["schemas"].as_object().unwrap();
    assert_eq!(schemas.len(), 1);
    let (schema_id, s) = schemas.iter().next().unwrap();
    assert_eq!(s["name"], schema);
    assert_eq!(s["encoding"], "ros2msg");
    assert_eq!(s["data"], definition);
    let channels = json["channels"].as_object().unwrap();
    assert_eq!(channels.len(), 1);
    let c = channels.values().next().unwrap();
    assert_eq!(c["topic"], topic);
    assert_eq!(c["message_encoding"], "cdr");
    assert_eq!(c["schema_id"].to_string(), *schema_id);
    assert_eq!(json["statistics"]["message_count"].as_u64().unwrap(), n);
    assert_eq!(json["linear_message_count"].as_u64().unwrap(), n);
    let messages = json["messages"].as_array().unwrap().clone();
    assert_eq!(messages.len() as u64, n);
    let mut sequences: Vec<u64> = messages
        .iter()
        .map(|m| m["sequence"].as_u64().unwrap())
        .collect();
    sequences.sort_unstable();
    assert_eq!(sequences, (0..n).collect::<Vec<_>>());
    for m in &messages {
        assert_eq!(m["topic"], topic);
        assert_eq!(m["schema"], schema);
        assert_eq!(m["log_time"], m["publish_time"]);
        let stamp_ns = m["header"]["sec"].as_i64().unwrap() * 1_000_000_000
            + m["header"]["nanosec"].as_i64().unwrap();
        assert_eq!(
            m["log_time"].as_i64().unwrap(),
            stamp_ns,
            "log_time = header stamp"
        );
    }
    messages
}

#[test]
fn video_to_jpeg_reads_back() {
    let video = asset("data/vtest.avi");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("pets.mcap");
    let mut options = RecordOptions::new(&video, &out, 7.0);
    options.stamps = StampSource::FrameRate {
        fps: 7.0,
        start_ns: START_NS,
    };
    options.max_frames = Some(5);
    let summary = record(&options).unwrap();
    assert_eq!(summary.frames, 5);
    assert_eq!((summary.width, summary.height), (768, 576));
    assert_eq!(summary.topic, "/camera/image_raw/compressed");

    let json = check_mcap(&out, &["--video", video.to_str().unwrap()]);
    let messages = check_file_level(
        &json,
        "/camera/image_raw/compressed",
        "sensor_msgs/msg/CompressedImage",
        &CompressedImage::definition(),
        5,
    );
    for (i, m) in messages.iter().enumerate() {
        assert_eq!(
            m["log_time"].as_i64().unwrap(),
            expected_stamp_ns(i as u64, 7.0)
        );
        assert_eq!(m["header"]["frame_id"], "camera_optical_frame");
        assert_eq!(m["format"], "jpeg");
        assert_eq!(m["decoded"]["width"], 768);
        assert_eq!(m["decoded"]["height"], 576);
        let diff = m["reference_mean_abs_diff"]
            .as_f64()
            .expect("same size as the video frame");
        assert!(diff < 3.0, "frame {i}: mean |JPEG - OpenCV frame| = {diff}");
    }
}

#[test]
fn video_to_raw_bgr8_reads_back() {
    let video = asset("data/vtest.avi");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("raw.mcap");
    let mut options = RecordOptions::new(&video, &out, 10.0);
    options.format = RecordFormat::Raw(RawEncoding::Bgr8);
    options.topic = Some("/front/image".into());
    options.frame_id = "front_camera".into();
    options.stamps = StampSource::FrameRate {
        fps: 10.0,
        start_ns: START_NS,
    };
    options.max_frames = Some(3);
    let mut progress = Vec::new();
    let summary = record_with_progress(&options, &mut |n| progress.push(n)).unwrap();
    assert_eq!(summary.frames, 3);
    assert_eq!(progress, [1, 2, 3]);

    let json = check_mcap(&out, &["--video", video.to_str().unwrap()]);
    let messages = check_file_level(
        &json,
        "/front/image",
        "sensor_msgs/msg/Image",
        &Image::definition(),
        3,
    );
    for (i, m) in messages.iter().enumerate() {
        assert_eq!(
            m["log_time"].as_i64().unwrap(),
            expected_stamp_ns(i as u64, 10.0)
        );
        assert_eq!(m["header"]["frame_id"], "front_camera");
        assert_eq!(m["encoding"], "bgr8");
        assert_eq!(
            (m["width"].as_u64(), m["height"].as_u64()),
            (Some(768), Some(576))
        );
        assert_eq!(m["step"], 768 * 3);
        assert_eq!(m["is_bigendian"], 0);
        assert_eq!(m["data_len"], 768 * 576 * 3);
        let diff = m["reference_mean_abs_diff"].as_f64().unwrap();
        // Same decoder (libavcodec); only the YUV->RGB conversion may round differently.
        assert!(diff < 1.0, "frame {i}: mean |raw - OpenCV frame| = {diff}");
    }
}

/// A folder with two JPEGs and a PNG, created out of name order.
fn image_folder(dir: &Path) -> Vec<std::path::PathBuf> {
    let folder = dir.join("images");
    std::fs::create_dir(&folder).unwrap();
    let c = folder.join("c_gradient.png");
    let mut png = image::RgbImage::new(64, 48);
    for (x, y, p) in png.enumerate_pixels_mut() {
        *p = image::Rgb([(x * 4) as u8, (y * 5) as u8, 128]);
    }
    png.save(&c).unwrap();
    let b = folder.join("b_person.jpg");
    std::fs::copy(asset("data/darknet/person.jpg"), &b).unwrap();
    let a = folder.join("a_dog.jpg");
    std::fs::copy(asset("data/darknet/dog.jpg"), &a).unwrap();
    std::fs::write(folder.join("notes.txt"), "not an image").unwrap();
    // Modification times in creation order, one second apart (file systems may give files
    // written in the same few milliseconds the same time, and equal times are refused).
    let t0 = std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000);
    for (k, path) in [&c, &b, &a].into_iter().enumerate() {
        std::fs::File::options()
            .write(true)
            .open(path)
            .unwrap()
            .set_modified(t0 + std::time::Duration::from_secs(k as u64))
            .unwrap();
    }
    vec![a, b, c]
}

fn mtime_ns(path: &Path) -> i64 {
    let t = std::fs::metadata(path).unwrap().modified().unwrap();
    t.duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as i64
}

#[test]
fn folder_to_jpeg_passes_jpeg_through_with_file_times() {
    let dir = tempfile::tempdir().unwrap();
    let files = image_folder(dir.path());
    let out = dir.path().join("folder.mcap");
    let mut options = RecordOptions::new(dir.path().join("images"), &out, 1.0);
    options.stamps = StampSource::FileTimes;
    let summary = record(&options).unwrap();
    assert_eq!(summary.frames, 3);

    let images = dir.path().join("images");
    let json = check_mcap(&out, &["--images", images.to_str().unwrap()]);
    let messages = check_file_level(
        &json,
        "/camera/image_raw/compressed",
        "sensor_msgs/msg/CompressedImage",
        &CompressedImage::definition(),
        3,
    );
    // log-time order equals name order only if the mtimes are increasing, which creation order
    // (c, b, a) does not give; so match by stamp instead.
    for file in &files {
        let stamp = mtime_ns(file);
        let m = messages
            .iter()
            .find(|m| m["log_time"].as_i64().unwrap() == stamp)
            .unwrap_or_else(|| panic!("no message stamped with the mtime of {}", file.display()));
        assert_eq!(m["format"], "jpeg");
        let bytes = std::fs::read(file).unwrap();
        if file.extension().unwrap() == "jpg" {
            assert_eq!(
                m["data_sha256"],
                sha256_hex(&bytes),
                "{} passed through",
                file.display()
            );
        } else {
            assert_eq!(m["decoded"]["width"], 64);
            assert_eq!(m["decoded"]["height"], 48);
        }
    }
    // Frames go in time order (so that stamps increase): sequence numbers follow the stamps,
    // here c (PNG, re-encoded), b, a, the reverse of the names.
    let mut ms = messages.clone();
    ms.sort_by_key(|m| m["sequence"].as_u64().unwrap());
    let stamps: Vec<i64> = ms.iter().map(|m| m["log_time"].as_i64().unwrap()).collect();
    assert!(stamps.windows(2).all(|w| w[0] < w[1]), "{stamps:?}");
    assert_eq!(stamps[0], mtime_ns(&files[2]));
    for (m, file) in ms[1..].iter().zip([&files[1], &files[0]]) {
        assert_eq!(
            m["data_sha256"].as_str().unwrap(),
            sha256_hex(&std::fs::read(file).unwrap())
        );
    }
}

#[test]
fn folder_to_raw_rgb8_matches_opencv_pixels() {
    let dir = tempfile::tempdir().unwrap();
    image_folder(dir.path());
    let out = dir.path().join("raw.mcap");
    let mut options = RecordOptions::new(dir.path().join("images"), &out, 2.0);
    options.format = RecordFormat::Raw(RawEncoding::Rgb8);
    options.stamps = StampSource::FrameRate {
        fps: 2.0,
        start_ns: START_NS,
    };
    record(&options).unwrap();
    let images = dir.path().join("images");
    let json = check_mcap(&out, &["--images", images.to_str().unwrap()]);
    let messages = check_file_level(
        &json,
        "/camera/image_raw",
        "sensor_msgs/msg/Image",
        &Image::definition(),
        3,
    );
    for (i, m) in messages.iter().enumerate() {
        assert_eq!(
            m["log_time"].as_i64().unwrap(),
            expected_stamp_ns(i as u64, 2.0)
        );
        assert_eq!(m["encoding"], "rgb8");
        assert_eq!(m["step"], m["width"].as_u64().unwrap() * 3);
        let diff = m["reference_mean_abs_diff"].as_f64().unwrap();
        // JPEG decoders (zune-jpeg vs libjpeg-turbo) may round chroma upsampling differently.
        let limit = if i == 2 { 0.0 } else { 1.0 };
        assert!(diff <= limit, "image {i}: mean |lookout - OpenCV| = {diff}");
    }
}

#[test]
fn bad_inputs_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("x.mcap");

    let missing = RecordOptions::new(dir.path().join("nope.avi"), &out, 7.0);
    let err = record(&missing).unwrap_err();
    assert!(matches!(err, RecordError::InputMissing { .. }), "{err}");
    assert!(err.to_string().contains("nope.avi"));

    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let err = record(&RecordOptions::new(&empty, &out, 7.0)).unwrap_err();
    assert!(matches!(err, RecordError::NoImages { .. }), "{err}");

    let err = record(&RecordOptions::new(&empty, &out, 0.0)).unwrap_err();
    assert!(err.to_string().contains("fps"), "{err}");

    let mut file_times_video = RecordOptions::new(asset("data/vtest.avi"), &out, 7.0);
    file_times_video.stamps = StampSource::FileTimes;
    let err = record(&file_times_video).unwrap_err();
    assert!(
        matches!(
            err,
            RecordError::InvalidOption {
                option: "stamps",
                ..
            }
        ),
        "{err}"
    );

    let corrupt = dir.path().join("corrupt");
    std::fs::create_dir(&corrupt).unwrap();
    std::fs::write(corrupt.join("a.jpg"), [0xff, 0xd8, 0xff, 0xe0, 0, 1, 2]).unwrap();
    let err = record(&RecordOptions::new(&corrupt, &out, 7.0)).unwrap_err();
    assert!(err.to_string().contains("a.jpg"), "{err}");
    // A JPEG cut in half is caught too, though its headers are intact.
    let dog = std::fs::read(asset("data/darknet/dog.jpg")).unwrap();
    std::fs::write(corrupt.join("a.jpg"), &dog[..dog.len() / 2]).unwrap();
    let err = record(&RecordOptions::new(&corrupt, &out, 7.0)).unwrap_err();
    assert!(
        matches!(err, RecordError::Image { .. }) && err.to_string().contains("a.jpg"),
        "{err}"
    );

    let mut no_ffmpeg = RecordOptions::new(asset("data/vtest.avi"), &out, 7.0);
    no_ffmpeg.ffmpeg = Some(dir.path().join("no-such-ffmpeg"));
    let err = record(&no_ffmpeg).unwrap_err();
    assert!(matches!(err, RecordError::FfmpegSpawn { .. }), "{err}");
}
