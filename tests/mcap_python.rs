//! Ros2McapWriter read back by an independent reader (PyPI `mcap` + `mcap-ros2-support`, which
//! decodes CDR from the stored ros2msg definition text, not from lookout's structs): a
//! detection + image file checked field by field, and a writer dropped part-way.

mod mcap_common;

use lookout::image_codec::encode_jpeg;
use lookout::mcap_io::Ros2McapWriter;
use lookout::msgs::{
    BoundingBox2D, CompressedImage, Detection2D, Detection2DArray, ObjectHypothesis,
    ObjectHypothesisWithPose, PoseWithCovariance, RosMessage,
};
use lookout::{BBox, Header, RgbImage, Time};
use mcap_common::{check_mcap, sha256_hex};
use serde_json::Value;

const T0_NS: i64 = 1_700_000_000_000_000_000;

fn header(i: usize) -> Header {
    Header {
        stamp: Time::from_ns(T0_NS + i as i64 * 142_857_143),
        frame_id: "camera_optical_frame".into(),
    }
}

/// Frame `i`'s detections: `i + 1` boxes with distinct classes, scores and coordinates.
fn detections(i: usize) -> Detection2DArray {
    let classes = ["pedestrian", "car", "traffic light"];
    let dets = (0..=i)
        .map(|k| {
            let bbox = BBox::from_tlwh(10.5 + k as f32, 20.25 * (i + 1) as f32, 30.0, 60.5);
            let mut covariance = [0.0; 36];
            covariance[k] = 0.25 * (k + 1) as f64;
            Detection2D {
                header: header(i),
                results: vec![ObjectHypothesisWithPose {
                    hypothesis: ObjectHypothesis {
                        class_id: classes[k % 3].into(),
                        score: 0.5 + 0.125 * k as f64,
                    },
                    pose: PoseWithCovariance {
                        covariance,
                        ..Default::default()
                    },
                }],
                bbox: BoundingBox2D::from_bbox(&bbox),
                id: if k == 0 {
                    String::new()
                } else {
                    format!("track-{k}")
                },
            }
        })
        .collect();
    Detection2DArray {
        header: header(i),
        detections: dets,
    }
}

fn image(i: usize) -> CompressedImage {
    let img = RgbImage {
        width: 32,
        height: 16,
        data: (0..32 * 16 * 3).map(|v| (v * (i + 1)) as u8).collect(),
    };
    CompressedImage {
        header: header(i),
        format: "jpeg".into(),
        data: encode_jpeg(&img, 80).unwrap(),
    }
}

fn approx(v: &Value, expected: f64) {
    let got = v.as_f64().unwrap_or_else(|| panic!("{v} is not a number"));
    assert!((got - expected).abs() < 1e-9, "{got} != {expected}");
}

#[test]
fn detections_and_images_read_back_field_by_field() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out.mcap");
    let mut w = Ros2McapWriter::create(&path).unwrap();
    w.add_topic::<CompressedImage>("/camera/image_raw/compressed")
        .unwrap();
    w.add_topic::<Detection2DArray>("/lookout/detections")
        .unwrap();
    for i in 0..3 {
        let t = header(i).stamp.as_ns() as u64;
        w.write_message("/camera/image_raw/compressed", t, i as u32, &image(i))
            .unwrap();
        w.write_message("/lookout/detections", t, i as u32, &detections(i))
            .unwrap();
    }
    let summary = w.finish().unwrap();
    assert_eq!(summary.message_counts["/lookout/detections"], 3);

    let json = check_mcap(&path, &[]);
    assert_eq!(json["profile"], "ros2");
    assert!(json["library"].as_str().unwrap().starts_with("lookout/"));
    assert_eq!(json["has_summary"], true);
    let compressions = json["chunk_compressions"].as_array().unwrap();
    assert!(!compressions.is_empty() && compressions.iter().all(|c| c == "zstd"));
    assert_eq!(json["statistics"]["message_count"], 6);
    assert_eq!(json["linear_message_count"], 6);
    approx(&json["statistics"]["message_start_time"], T0_NS as f64);

    let schemas: Vec<(String, String, String)> = json["schemas"]
        .as_object()
        .unwrap()
        .values()
        .map(|s| {
            (
                s["name"].as_str().unwrap().to_string(),
                s["encoding"].as_str().unwrap().to_string(),
                s["data"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert!(schemas.contains(&(
        "vision_msgs/msg/Detection2DArray".into(),
        "ros2msg".into(),
        Detection2DArray::definition()
    )));
    assert!(schemas.contains(&(
        "sensor_msgs/msg/CompressedImage".into(),
        "ros2msg".into(),
        CompressedImage::definition()
    )));
    for channel in json["channels"].as_object().unwrap().values() {
        assert_eq!(channel["message_encoding"], "cdr");
    }

    let messages = json["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 6);
    let dets: Vec<&Value> = messages
        .iter()
        .filter(|m| m["topic"] == "/lookout/detections")
        .collect();
    let imgs: Vec<&Value> = messages
        .iter()
        .filter(|m| m["topic"] == "/camera/image_raw/compressed")
        .collect();
    assert_eq!((dets.len(), imgs.len()), (3, 3));
    for i in 0..3 {
        let h = header(i);
        let expected = detections(i);
        let m = dets[i];
        assert_eq!(m["schema"], "vision_msgs/msg/Detection2DArray");
        assert_eq!(m["log_time"].as_i64().unwrap(), h.stamp.as_ns());
        assert_eq!(m["sequence"], i);
        assert_eq!(m["header"]["sec"], h.stamp.sec);
        assert_eq!(m["header"]["nanosec"], h.stamp.nanosec);
        assert_eq!(m["header"]["frame_id"], "camera_optical_frame");
        let got = m["detections"].as_array().unwrap();
        assert_eq!(got.len(), expected.detections.len());
        for (g, e) in got.iter().zip(&expected.detections) {
            assert_eq!(g["header"]["sec"], e.header.stamp.sec);
            assert_eq!(g["header"]["frame_id"], e.header.frame_id.as_str());
            assert_eq!(g["id"], e.id.as_str());
            approx(&g["bbox"]["x"], e.bbox.center.position.x);
            approx(&g["bbox"]["y"], e.bbox.center.position.y);
            approx(&g["bbox"]["theta"], 0.0);
            approx(&g["bbox"]["size_x"], e.bbox.size_x);
            approx(&g["bbox"]["size_y"], e.bbox.size_y);
            let results = g["results"].as_array().unwrap();
            assert_eq!(results.len(), 1);
            let r = &results[0];
            let er = &e.results[0];
            assert_eq!(r["class_id"], er.hypothesis.class_id.as_str());
            approx(&r["score"], er.hypothesis.score);
            assert_eq!(r["orientation"], serde_json::json!([0.0, 0.0, 0.0, 1.0]));
            let cov: Vec<f64> = r["covariance"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap())
                .collect();
            assert_eq!(cov, er.pose.covariance.to_vec());
        }
        let m = imgs[i];
        let expected = image(i);
        assert_eq!(m["format"], "jpeg");
        assert_eq!(m["header"]["nanosec"], h.stamp.nanosec);
        assert_eq!(m["data_sha256"], sha256_hex(&expected.data));
        assert_eq!(m["decoded"]["width"], 32);
        assert_eq!(m["decoded"]["height"], 16);
    }
}

#[test]
fn dropped_writer_leaves_a_file_the_python_reader_reads_whole() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("interrupted.mcap");
    {
        let mut w = Ros2McapWriter::create(&path).unwrap();
        w.add_topic::<Detection2DArray>("/lookout/detections")
            .unwrap();
        for i in 0..4 {
            let t = header(i).stamp.as_ns() as u64;
            w.write_message("/lookout/detections", t, i as u32, &detections(i))
                .unwrap();
        }
        // No finish(): the writer goes out of scope as on an error path.
    }
    let json = check_mcap(&path, &[]);
    assert_eq!(json["has_summary"], true);
    assert_eq!(json["statistics"]["message_count"], 4);
    assert_eq!(json["linear_message_count"], 4);
    let messages = json["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 4);
    for (i, m) in messages.iter().enumerate() {
        assert_eq!(m["detections"].as_array().unwrap().len(), i + 1);
    }
}
