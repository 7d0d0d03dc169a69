//! Fuzz target bodies, one per decoder of outside data: an MCAP recording, the CDR messages in
//! it, the image codecs, the MOTChallenge text files, the YAML config, the JSON records of a
//! detections MCAP and a YOLOX ONNX file.
//!
//! Each takes arbitrary bytes and returns whether the decoder accepted them; a panic, abort or
//! hang is the bug a fuzzer reports. The AFL++ binaries in `fuzz_targets/` call them (built by
//! `scripts/fuzz.sh` with cargo-afl), and `tests/fuzz_corpus.rs` in the main crate includes
//! this file to replay the seed corpus and every saved crash through them on each `cargo test`,
//! so the targets cannot rot.
//!
//! Inputs that mix a selector with a payload use the first byte as the selector, so that the
//! fuzzer can move between message types and file kinds by mutating one byte.

use lookout::config::Config;
use lookout::image_codec::{
    decode_compressed, decode_image, decode_raw, RawImageRef, DEFAULT_MAX_PIXELS,
};
use lookout::mcap_io::{decode_frame, McapCameraSource};
use lookout::msgs::{from_cdr, to_cdr, CompressedImage, Detection2DArray, Image};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

/// Camera messages decoded per MCAP input at most: enough to reach every code path of the
/// reader (chunk changes, several topics) while keeping an execution short.
const MCAP_MESSAGES_MAX: usize = 64;

/// `lookout replay`'s reading side: `data` as an MCAP file, every camera topic selected, each
/// message decoded to a frame. True when the file opened and every message read decoded.
pub fn mcap(data: &[u8]) -> bool {
    // The reader works on files (it seeks to the summary at the end), so the input goes through
    // a temporary file, unique per call: the corpus test calls targets from several threads.
    static CALLS: AtomicU64 = AtomicU64::new(0);
    let call = CALLS.fetch_add(1, Ordering::Relaxed);
    let path =
        std::env::temp_dir().join(format!("lookout-fuzz-{}-{call}.mcap", std::process::id()));
    if std::fs::write(&path, data).is_err() {
        return false;
    }
    let accepted = read_mcap(&path);
    let _ = std::fs::remove_file(&path);
    accepted
}

fn read_mcap(path: &Path) -> bool {
    let Ok(source) = McapCameraSource::open(path, &[]) else {
        return false;
    };
    let mut accepted = true;
    for message in source.take(MCAP_MESSAGES_MAX) {
        match message {
            Ok(message) => accepted &= decode_frame(&message).is_ok(),
            Err(_) => return false,
        }
    }
    accepted
}

/// The CDR messages lookout decodes: `data[0] % 3` picks `Image`, `CompressedImage` or
/// `Detection2DArray` (what `lookout eval` reads back), the rest is the CDR buffer with its
/// encapsulation header. Images go on through the image codecs, as in replay. A decoded
/// message must encode and decode again to the same bytes (a decoder that accepts what the
/// encoder cannot reproduce panics here).
pub fn cdr(data: &[u8]) -> bool {
    let Some((&selector, bytes)) = data.split_first() else {
        return false;
    };
    match selector % 3 {
        0 => from_cdr::<Image>(bytes).is_ok_and(|m| {
            check_reencoding(&m);
            decode_image(&m, DEFAULT_MAX_PIXELS).is_ok()
        }),
        1 => from_cdr::<CompressedImage>(bytes).is_ok_and(|m| {
            check_reencoding(&m);
            decode_compressed(&m.format, &m.data).is_ok()
        }),
        _ => from_cdr::<Detection2DArray>(bytes).is_ok_and(|m| {
            check_reencoding(&m);
            true
        }),
    }
}

/// Encode, decode, encode: both encodings must be equal (bytes, not values, so that a NaN in a
/// float64 field compares equal to itself).
fn check_reencoding<T>(msg: &T)
where
    T: serde::Serialize + serde::de::DeserializeOwned,
{
    let Ok(first) = to_cdr(msg) else {
        return;
    };
    let again: T = match from_cdr(&first) {
        Ok(again) => again,
        Err(e) => panic!("a message lookout encoded does not decode: {e}"),
    };
    match to_cdr(&again) {
        Ok(second) => assert!(first == second, "CDR re-encoding changed the bytes"),
        Err(e) => panic!("a decoded message does not encode again: {e}"),
    }
}

/// Raw encodings tried by the image target: every one lookout reads and one it does not.
const RAW_ENCODINGS: [&str; 15] = [
    "rgb8",
    "bgr8",
    "rgba8",
    "bgra8",
    "mono8",
    "mono16",
    "yuv422",
    "uyvy",
    "yuv422_yuy2",
    "yuyv",
    "bayer_rggb8",
    "bayer_bggr8",
    "bayer_gbrg8",
    "bayer_grbg8",
    "bogus",
];

/// Bytes of the raw-image header of the image target (after the selector byte).
const RAW_HEADER_BYTES: usize = 8;

/// The image codecs: an even `data[0]` sends the rest to `decode_compressed` (JPEG or PNG by
/// its magic); an odd one reads a raw image: encoding index (1 byte), width, height and step
/// (u16 little-endian each), `is_bigendian` (1 byte), then the pixel bytes. True when decoded.
pub fn image(data: &[u8]) -> bool {
    let Some((&selector, rest)) = data.split_first() else {
        return false;
    };
    if selector % 2 == 0 {
        return decode_compressed("fuzz", rest).is_ok();
    }
    if rest.len() < RAW_HEADER_BYTES {
        return false;
    }
    let (head, pixels) = rest.split_at(RAW_HEADER_BYTES);
    let u16_at = |i: usize| u32::from(u16::from_le_bytes([head[i], head[i + 1]]));
    let raw = RawImageRef {
        encoding: RAW_ENCODINGS[usize::from(head[0]) % RAW_ENCODINGS.len()],
        width: u16_at(1),
        height: u16_at(3),
        step: u16_at(5),
        is_bigendian: head[7] & 1 == 1,
        data: pixels,
    };
    match decode_raw(raw) {
        Ok(img) => {
            let expected = u64::from(img.width) * u64::from(img.height) * 3;
            assert_eq!(img.data.len() as u64, expected, "decoded RGB size");
            true
        }
        Err(_) => false,
    }
}

/// The MOTChallenge text parsers: `data[0] % 3` picks a `det.txt` (`lookout track`'s input,
/// then its score normalisation and grouping into frames), a `gt.txt` (`lookout eval`'s ground
/// truth) or a `seqinfo.ini`; the rest is the file's text (invalid UTF-8 replaced, as a reader
/// that went on would see it). True when parsed.
pub fn mot(data: &[u8]) -> bool {
    let Some((&selector, rest)) = data.split_first() else {
        return false;
    };
    let text = String::from_utf8_lossy(rest);
    let path = Path::new("fuzz.txt");
    match selector % 3 {
        0 => match lookout::mot::parse_detections(&text, path) {
            Ok(mut dets) => {
                let _ = lookout::mot::normalize_scores(
                    &mut dets,
                    lookout::mot::ScoreNormalization::Auto,
                    path,
                );
                let last = dets.iter().map(|d| d.frame).max().unwrap_or(0);
                // Frames are held sparsely: any frame number the parser accepts groups cheaply.
                let frames = lookout::mot::group_frames(&dets, last);
                // Each frame holds exactly the file's lines of that frame, counted independently.
                for (&frame, group) in &frames.by_frame {
                    assert!(
                        (1..=last).contains(&frame),
                        "frame {frame} outside 1..={last}"
                    );
                    let lines = dets.iter().filter(|d| d.frame == frame).count();
                    assert_eq!(group.len(), lines, "frame {frame}");
                }
                true
            }
            Err(_) => false,
        },
        1 => lookout::eval::parse_gt(&text, path).is_ok(),
        _ => lookout::mot::parse_seqinfo(&text, path).is_ok(),
    }
}

/// `lookout replay --config` / `--overlay`: a ROS 2 parameter file parsed and validated, whole
/// or laid over the defaults. True when valid either way.
pub fn config(data: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(data) else {
        return false;
    };
    let path = Path::new("fuzz.param.yaml");
    // As a whole parameter file (`--config`), and as a partial one (`--overlay`) laid over the
    // shipped defaults: both decoders see every input.
    let whole = Config::from_yaml_str(text, path, &[]).is_ok();
    let overlay = Config::from_layers(
        lookout::config::DEFAULT_PARAMS_YAML,
        Path::new("lookout.param.yaml"),
        &[(text.to_owned(), path.to_path_buf())],
        &[],
    )
    .is_ok();
    whole || overlay
}

/// `lookout track --detections`: one JSON record of a detections MCAP (a frame record or a
/// slice record), parsed under its size limit. True when either parses.
pub fn detections(data: &[u8]) -> bool {
    use lookout::replay::detections::{parse_record, FrameRecord, SliceInfo};
    let frame = parse_record::<FrameRecord>(data)
        .map(|r| r.cur_from_prev())
        .is_ok();
    frame || parse_record::<SliceInfo>(data).is_ok()
}

/// A YOLOX ONNX file: the protobuf decoder ([`lookout::yolox::onnx::parse`]), then, when it
/// decodes, the mapping of its convolutions onto the YOLOX structure on the CPU (which must
/// refuse a graph it cannot use with an error, never a panic). True when the protobuf decoded
/// into a graph with convolutions (the decoder accepted it).
pub fn onnx(data: &[u8]) -> bool {
    let Ok(graph) = lookout::yolox::onnx::parse(data) else {
        return false;
    };
    if let Ok(device) = lookout::engine::select_device(lookout::config::DeviceSpec::Cpu) {
        let _ = lookout::yolox::Yolox::from_graph(graph, Path::new("fuzz.onnx"), &device);
    }
    true
}

/// The camera calibration decoders of `lookout::ground::calibration`: `data[0] % 3` picks a
/// `camera_calibration_parsers` YAML file (then the camera model of its K/D and of its P), a CDR `sensor_msgs/CameraInfo` (then its camera model) or a CDR
/// `tf2_msgs/TFMessage` (then every child frame's pose in the first parent).
pub fn calibration(data: &[u8]) -> bool {
    use lookout::ground::calibration as cal;
    use lookout::ground::{CameraModel, ImageKind};
    let Some((&selector, bytes)) = data.split_first() else {
        return false;
    };
    let model = |info: &lookout::ground::CameraInfoFields| {
        let raw = CameraModel::from_camera_info(info, ImageKind::Raw);
        let rect = CameraModel::from_camera_info(info, ImageKind::Rectified);
        raw.is_ok() || rect.is_ok()
    };
    match selector % 3 {
        0 => std::str::from_utf8(bytes)
            .ok()
            .and_then(|text| cal::camera_info_from_yaml(text).ok())
            .is_some_and(|info| model(&info)),
        1 => cal::camera_info_from_cdr(bytes).is_ok_and(|m| model(&cal::camera_info_fields(&m))),
        _ => cal::tf_message_from_cdr(bytes).is_ok_and(|m| {
            let mut tfs = cal::StaticTransforms::default();
            if tfs.add(&m).is_err() {
                return false;
            }
            if let Some(first) = m.transforms.first() {
                for t in &m.transforms {
                    let _ = tfs.pose_in(&first.header.frame_id, &t.child_frame_id);
                }
            }
            true
        }),
    }
}
