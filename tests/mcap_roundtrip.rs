//! mcap_io writer -> reader: several cameras in one file, log-time order across topics and
//! chunks, topic selection, determinism, and every bad-input error (truncated or corrupt file,
//! missing schema, unknown message encoding, bad step / data length / encoding, corrupt JPEG,
//! garbage CDR), each naming the file, topic and message index.

use lookout::image_codec::encode_jpeg;
use lookout::mcap_io::{
    camera_topics, decode_frame, CameraKind, CameraMessage, McapCameraSource, McapError,
    Ros2McapWriter,
};
use lookout::msgs::{self, CompressedImage, Detection2DArray, Image, RosMessage};
use lookout::{Header, RgbImage, Time};
use std::collections::BTreeMap;
use std::path::Path;

fn header(stamp_ns: i64, frame_id: &str) -> Header {
    Header {
        stamp: Time::from_ns(stamp_ns),
        frame_id: frame_id.into(),
    }
}

fn raw_image(stamp_ns: i64, value: u8) -> Image {
    Image {
        header: header(stamp_ns, "cam_a"),
        height: 2,
        width: 2,
        encoding: "rgb8".into(),
        is_bigendian: 0,
        step: 6,
        data: vec![value; 12],
    }
}

fn jpeg_image(stamp_ns: i64) -> CompressedImage {
    let img = RgbImage {
        width: 8,
        height: 8,
        data: vec![200; 8 * 8 * 3],
    };
    CompressedImage {
        header: header(stamp_ns, "cam_b"),
        format: "jpeg".into(),
        data: encode_jpeg(&img, 90).unwrap(),
    }
}

/// Two cameras and a detection topic; cam_b's log times interleave with cam_a's.
fn write_two_cameras(path: &Path) {
    let mut w = Ros2McapWriter::create(path).unwrap();
    w.add_topic::<Image>("/cam_a").unwrap();
    w.add_topic::<CompressedImage>("/cam_b").unwrap();
    w.add_topic::<Detection2DArray>("/detections").unwrap();
    // File order: a0 (t=100), b0 (t=50), a1 (t=300), det, b1 (t=200).
    w.write_message("/cam_a", 100, 0, &raw_image(100, 10))
        .unwrap();
    w.write_message("/cam_b", 50, 0, &jpeg_image(50)).unwrap();
    w.write_message("/cam_a", 300, 1, &raw_image(300, 30))
        .unwrap();
    w.write_message("/detections", 100, 0, &Detection2DArray::default())
        .unwrap();
    w.write_message("/cam_b", 200, 1, &jpeg_image(200)).unwrap();
    w.finish().unwrap();
}

fn collect(source: McapCameraSource) -> Vec<CameraMessage> {
    source.map(|m| m.unwrap()).collect()
}

#[test]
fn two_cameras_in_log_time_order_with_stream_indices() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("two.mcap");
    write_two_cameras(&path);

    let topics = camera_topics(&path).unwrap();
    let names: Vec<(&str, CameraKind, u64)> = topics
        .iter()
        .map(|t| (t.topic.as_str(), t.kind, t.message_count))
        .collect();
    assert_eq!(
        names,
        [
            ("/cam_a", CameraKind::Raw, 2),
            ("/cam_b", CameraKind::Compressed, 2)
        ]
    );

    let source = McapCameraSource::open(&path, &[]).unwrap();
    assert_eq!(source.message_count(), 4);
    let messages = collect(source);
    let order: Vec<(&str, u64, u64)> = messages
        .iter()
        .map(|m| (&*m.topic, m.index, m.log_time_ns))
        .collect();
    assert_eq!(
        order,
        [
            ("/cam_b", 0, 50),
            ("/cam_a", 0, 100),
            ("/cam_b", 1, 200),
            ("/cam_a", 1, 300)
        ]
    );

    let frames: Vec<_> = messages.iter().map(|m| decode_frame(m).unwrap()).collect();
    assert_eq!(frames[1].stream, "/cam_a");
    assert_eq!(frames[1].index, 0);
    assert_eq!(frames[1].header, header(100, "cam_a"));
    assert_eq!(frames[1].image.data, vec![10; 12]);
    assert_eq!(frames[3].image.data, vec![30; 12]);
    assert_eq!(frames[0].header, header(50, "cam_b"));
    assert_eq!((frames[0].image.width, frames[0].image.height), (8, 8));
    assert!(frames[0].image.data.iter().all(|&v| v.abs_diff(200) <= 2));
}

#[test]
fn topics_are_selected_by_name_with_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("two.mcap");
    write_two_cameras(&path);

    let only_b = collect(McapCameraSource::open(&path, &["/cam_b".to_string()]).unwrap());
    assert_eq!(only_b.len(), 2);
    assert!(only_b.iter().all(|m| &*m.topic == "/cam_b"));

    let err = McapCameraSource::open(&path, &["/cam_c".to_string()]).unwrap_err();
    assert!(matches!(err, McapError::TopicNotFound { .. }), "{err}");
    let text = err.to_string();
    assert!(
        text.contains("/cam_c") && text.contains("/cam_a, /cam_b") && text.contains("two.mcap"),
        "{text}"
    );

    let err = McapCameraSource::open(&path, &["/detections".to_string()]).unwrap_err();
    assert!(matches!(err, McapError::NotACameraTopic { .. }), "{err}");
    assert!(err.to_string().contains("vision_msgs/msg/Detection2DArray"));
}

#[test]
fn same_calls_give_byte_identical_files() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.mcap");
    let b = dir.path().join("b.mcap");
    write_two_cameras(&a);
    write_two_cameras(&b);
    assert_eq!(std::fs::read(a).unwrap(), std::fs::read(b).unwrap());
}

#[test]
fn log_time_order_across_overlapping_chunks() {
    // 300 kB raw frames: a chunk closes after ~1 MB, so the file holds several chunks, and
    // writing all of /cam_a before all of /cam_b makes their time ranges overlap.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.mcap");
    let frame = |stamp_ns: i64, value: u8| Image {
        header: header(stamp_ns, "cam"),
        height: 200,
        width: 500,
        encoding: "rgb8".into(),
        is_bigendian: 0,
        step: 1500,
        data: vec![value; 300_000],
    };
    let mut w = Ros2McapWriter::create(&path).unwrap();
    w.add_topic::<Image>("/cam_a").unwrap();
    w.add_topic::<Image>("/cam_b").unwrap();
    for i in 0..8u8 {
        let t = i64::from(i) * 20;
        w.write_message("/cam_a", t as u64, u32::from(i), &frame(t, i))
            .unwrap();
    }
    for i in 0..8u8 {
        let t = i64::from(i) * 20 + 10;
        w.write_message("/cam_b", t as u64, u32::from(i), &frame(t, 100 + i))
            .unwrap();
    }
    let summary = w.finish().unwrap();
    assert!(summary.chunk_count >= 3, "{summary:?}");
    assert_eq!(summary.message_counts["/cam_a"], 8);

    let messages = collect(McapCameraSource::open(&path, &[]).unwrap());
    let times: Vec<u64> = messages.iter().map(|m| m.log_time_ns).collect();
    assert_eq!(times, (0..16).map(|i| i * 10).collect::<Vec<u64>>());
    for m in &messages {
        let f = decode_frame(m).unwrap();
        let expected = if &*m.topic == "/cam_a" {
            m.index as u8
        } else {
            100 + m.index as u8
        };
        assert_eq!(f.image.data[0], expected, "{} #{}", m.topic, m.index);
    }
}

#[test]
fn writer_dropped_part_way_leaves_an_indexed_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dropped.mcap");
    let p = path.clone();
    // A panic part-way through a writing thread: unwinding drops the writer.
    let result = std::thread::spawn(move || {
        let mut w = Ros2McapWriter::create(&p).unwrap();
        w.add_topic::<Image>("/cam_a").unwrap();
        for i in 0..3 {
            w.write_message(
                "/cam_a",
                i * 10,
                i as u32,
                &raw_image(i as i64 * 10, i as u8),
            )
            .unwrap();
        }
        panic!("simulated failure after 3 frames");
    })
    .join();
    assert!(result.is_err());
    let messages = collect(McapCameraSource::open(&path, &[]).unwrap());
    assert_eq!(messages.len(), 3);
}

/// Writes one message with the raw mcap API, so that schemas and encodings can be wrong.
fn write_raw(path: &Path, schema: Option<(&str, &str)>, message_encoding: &str, data: &[u8]) {
    let file = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let mut w = mcap::WriteOptions::new()
        .profile("ros2")
        .create(file)
        .unwrap();
    let schema_id = match schema {
        Some((name, encoding)) => w.add_schema(name, encoding, b"").unwrap(),
        None => 0,
    };
    let channel = w
        .add_channel(schema_id, "/cam", message_encoding, &BTreeMap::new())
        .unwrap();
    w.write_to_known_channel(
        &mcap::records::MessageHeader {
            channel_id: channel,
            sequence: 0,
            log_time: 1,
            publish_time: 1,
        },
        data,
    )
    .unwrap();
    w.finish().unwrap();
}

#[test]
fn missing_schema_and_unknown_message_encoding() {
    let dir = tempfile::tempdir().unwrap();
    let cdr = msgs::to_cdr(&raw_image(1, 0)).unwrap();

    let no_schema = dir.path().join("no_schema.mcap");
    write_raw(&no_schema, None, "cdr", &cdr);
    let err = McapCameraSource::open(&no_schema, &["/cam".to_string()]).unwrap_err();
    assert!(matches!(err, McapError::MissingSchema { .. }), "{err}");
    assert!(err.to_string().contains("/cam") && err.to_string().contains("no_schema.mcap"));
    let err = McapCameraSource::open(&no_schema, &[]).unwrap_err();
    assert!(matches!(err, McapError::NoCameraTopics { .. }), "{err}");

    let json = dir.path().join("json.mcap");
    write_raw(&json, Some((Image::SCHEMA_NAME, "ros2msg")), "json", &cdr);
    let err = McapCameraSource::open(&json, &["/cam".to_string()]).unwrap_err();
    assert!(
        matches!(err, McapError::MessageEncoding { ref encoding, .. } if encoding == "json"),
        "{err}"
    );
}

#[test]
fn truncated_and_corrupt_files_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("good.mcap");
    write_two_cameras(&path);
    let bytes = std::fs::read(&path).unwrap();

    for keep in [bytes.len() - 10, bytes.len() / 2, 20, 3] {
        let cut = dir.path().join(format!("cut_{keep}.mcap"));
        std::fs::write(&cut, &bytes[..keep]).unwrap();
        let err = McapCameraSource::open(&cut, &[]).unwrap_err();
        assert!(
            matches!(err, McapError::Corrupt { .. } | McapError::NoSummary { .. }),
            "{keep} bytes: {err}"
        );
        assert!(err.to_string().contains(&format!("cut_{keep}.mcap")));
        eprintln!("{keep} bytes kept: {err}");
    }

    // Flip bytes in the middle of the (compressed) chunk data: reading must fail cleanly.
    let mut corrupt = bytes.clone();
    let summary = mcap::Summary::read(&bytes).unwrap().unwrap();
    let chunk = &summary.chunk_indexes[0];
    let start = chunk.compressed_data_offset().unwrap() as usize;
    let len = chunk.compressed_size as usize;
    for b in &mut corrupt[start + len / 4..start + len / 2] {
        *b ^= 0x5a;
    }
    let bad = dir.path().join("flipped.mcap");
    std::fs::write(&bad, &corrupt).unwrap();
    let results: Vec<_> = McapCameraSource::open(&bad, &[]).unwrap().collect();
    let err = results
        .iter()
        .find_map(|r| r.as_ref().err())
        .expect("a corrupt chunk is reported");
    assert!(matches!(err, McapError::Corrupt { .. }), "{err}");
    assert!(
        results.last().unwrap().is_err(),
        "the error ends the stream"
    );

    let not_mcap = dir.path().join("video.avi");
    std::fs::write(
        &not_mcap,
        b"RIFF....AVI LIST and some more bytes than the magic",
    )
    .unwrap();
    let err = McapCameraSource::open(&not_mcap, &[]).unwrap_err();
    assert!(err.to_string().contains("not an MCAP file"), "{err}");

    let err = McapCameraSource::open(dir.path().join("absent.mcap"), &[]).unwrap_err();
    assert!(matches!(err, McapError::Open { .. }), "{err}");
}

/// A one-message file on `/cam` holding `cdr` with the given schema, read back undecoded.
fn message_with(dir: &Path, name: &str, schema: &str, cdr: &[u8]) -> CameraMessage {
    let path = dir.join(name);
    let mut w = Ros2McapWriter::create(&path).unwrap();
    w.add_topic_with_schema("/cam", schema, "").unwrap();
    w.write("/cam", 5, 5, 0, cdr).unwrap();
    w.finish().unwrap();
    let mut messages = collect(McapCameraSource::open(&path, &[]).unwrap());
    assert_eq!(messages.len(), 1);
    messages.remove(0)
}

#[test]
fn bad_messages_name_topic_index_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let cases: Vec<(&str, Image, &str)> = vec![
        (
            "step.mcap",
            Image {
                step: 5,
                ..raw_image(1, 0)
            },
            "step",
        ),
        (
            "length.mcap",
            Image {
                data: vec![0; 11],
                ..raw_image(1, 0)
            },
            "data",
        ),
        (
            "encoding.mcap",
            Image {
                encoding: "nv12".into(),
                ..raw_image(1, 0)
            },
            "nv12",
        ),
    ];
    for (name, image, needle) in cases {
        let msg = message_with(
            dir.path(),
            name,
            Image::SCHEMA_NAME,
            &msgs::to_cdr(&image).unwrap(),
        );
        let err = decode_frame(&msg).unwrap_err();
        assert!(matches!(err, McapError::Image { index: 0, .. }), "{err}");
        let text = err.to_string();
        assert!(
            text.contains(name)
                && text.contains("/cam")
                && text.contains("message 0")
                && text.contains(needle),
            "{text}"
        );
    }

    let mut jpeg = jpeg_image(1);
    jpeg.data.truncate(jpeg.data.len() / 2);
    let msg = message_with(
        dir.path(),
        "jpeg.mcap",
        CompressedImage::SCHEMA_NAME,
        &msgs::to_cdr(&jpeg).unwrap(),
    );
    let err = decode_frame(&msg).unwrap_err();
    assert!(matches!(err, McapError::Image { .. }), "{err}");
    assert!(err.to_string().contains("JPEG"), "{err}");

    let msg = message_with(
        dir.path(),
        "cdr.mcap",
        Image::SCHEMA_NAME,
        &[0, 1, 0, 0, 9, 9],
    );
    let err = decode_frame(&msg).unwrap_err();
    assert!(matches!(err, McapError::Cdr { index: 0, .. }), "{err}");
    assert!(err.to_string().contains("cdr.mcap"));
}

#[test]
fn writer_rejects_unknown_and_conflicting_topics() {
    let dir = tempfile::tempdir().unwrap();
    let mut w = Ros2McapWriter::create(dir.path().join("w.mcap")).unwrap();
    w.add_topic::<Image>("/a").unwrap();
    w.add_topic::<Image>("/a").unwrap();
    let err = w.add_topic::<CompressedImage>("/a").unwrap_err();
    assert!(
        matches!(err, McapError::TopicSchemaConflict { .. }),
        "{err}"
    );
    let err = w.write("/b", 0, 0, 0, &[0, 1, 0, 0]).unwrap_err();
    assert!(matches!(err, McapError::UnknownTopic { .. }), "{err}");
    let err = Ros2McapWriter::create(dir.path().join("no/such/dir.mcap")).unwrap_err();
    assert!(matches!(err, McapError::Create { .. }), "{err}");
}

#[test]
fn unchunked_files_are_read_front_to_back() {
    // rosbag2's `fastwrite` preset writes no chunks, so there is no chunk index to sort by.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fastwrite.mcap");
    {
        let file = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
        let mut w = mcap::WriteOptions::new()
            .profile("ros2")
            .use_chunks(false)
            .create(file)
            .unwrap();
        let schema = w
            .add_schema(
                Image::SCHEMA_NAME,
                "ros2msg",
                Image::definition().as_bytes(),
            )
            .unwrap();
        let other = w
            .add_schema(Detection2DArray::SCHEMA_NAME, "ros2msg", b"")
            .unwrap();
        let cam = w
            .add_channel(schema, "/cam", "cdr", &BTreeMap::new())
            .unwrap();
        let det = w
            .add_channel(other, "/det", "cdr", &BTreeMap::new())
            .unwrap();
        for i in 0..3u8 {
            let t = u64::from(i) * 10;
            for (channel, data) in [
                (cam, msgs::to_cdr(&raw_image(t as i64, i)).unwrap()),
                (det, msgs::to_cdr(&Detection2DArray::default()).unwrap()),
            ] {
                w.write_to_known_channel(
                    &mcap::records::MessageHeader {
                        channel_id: channel,
                        sequence: u32::from(i),
                        log_time: t,
                        publish_time: t,
                    },
                    &data,
                )
                .unwrap();
            }
        }
        w.finish().unwrap();
    }
    let summary = mcap::Summary::read(&std::fs::read(&path).unwrap())
        .unwrap()
        .unwrap();
    assert!(
        summary.chunk_indexes.is_empty(),
        "the file really has no chunks"
    );
    let messages = collect(McapCameraSource::open(&path, &[]).unwrap());
    assert_eq!(messages.len(), 3);
    for (i, m) in messages.iter().enumerate() {
        assert_eq!(
            (&*m.topic, m.index, m.log_time_ns),
            ("/cam", i as u64, i as u64 * 10)
        );
        assert_eq!(decode_frame(m).unwrap().image.data, vec![i as u8; 12]);
    }
}

#[test]
fn pipeline_types_cross_threads() {
    // The replay pipeline reads, decodes and writes on different threads.
    fn send<T: Send>() {}
    fn sync<T: Sync>() {}
    send::<McapCameraSource>();
    send::<CameraMessage>();
    sync::<CameraMessage>();
    send::<Ros2McapWriter>();
    send::<McapError>();
    sync::<McapError>();
}

#[test]
fn camera_messages_copy_into_another_file_unchanged() {
    // What replay does to include the input images next to the detections.
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.mcap");
    let output = dir.path().join("out.mcap");
    write_two_cameras(&input);
    let originals = collect(McapCameraSource::open(&input, &[]).unwrap());
    let mut w = Ros2McapWriter::create(&output).unwrap();
    for (seq, m) in originals.iter().enumerate() {
        w.add_topic_with_schema(&m.topic, m.kind.schema_name(), &m.kind.definition())
            .unwrap();
        w.write(
            &m.topic,
            m.log_time_ns,
            m.publish_time_ns,
            seq as u32,
            &m.data,
        )
        .unwrap();
    }
    w.finish().unwrap();
    let copies = collect(McapCameraSource::open(&output, &[]).unwrap());
    assert_eq!(copies.len(), originals.len());
    for (a, b) in originals.iter().zip(&copies) {
        assert_eq!(
            (&a.topic, a.kind, a.index, a.log_time_ns),
            (&b.topic, b.kind, b.index, b.log_time_ns)
        );
        assert_eq!(a.data, b.data);
    }
}
