//! Foxglove image annotations from `lookout replay`, read back by an independent reader (PyPI
//! `mcap` + `mcap-ros2-support` + `jsonschema`, scripts/python/check_mcap.py): every message
//! validates against the stored JSON Schema, carries the image's stamp, and its LINE_LOOP
//! corners are the `vision_msgs` boxes of the same frame, in pixels; track colours are stable
//! per id across frames.
//!
//! Needs the asset cache and the oracle venv (`scripts/setup.sh`).

mod mcap_common;

use std::collections::BTreeMap;

use mcap_common::{check_mcap, lookout, messages, ok, vtest_recording};
use serde_json::Value;

const FRAMES: u64 = 5;

/// The 4 corners (clockwise from top-left) of a vision_msgs centre/size box.
fn corners(d: &Value) -> Vec<(f64, f64)> {
    let b = &d["bbox"];
    let (x, y) = (b["x"].as_f64().unwrap(), b["y"].as_f64().unwrap());
    let (w, h) = (b["size_x"].as_f64().unwrap(), b["size_y"].as_f64().unwrap());
    let (x0, y0, x1, y1) = (x - w / 2.0, y - h / 2.0, x + w / 2.0, y + h / 2.0);
    vec![(x0, y0), (x1, y0), (x1, y1), (x0, y1)]
}

fn points(p: &Value) -> Vec<(f64, f64)> {
    p["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| (q["x"].as_f64().unwrap(), q["y"].as_f64().unwrap()))
        .collect()
}

#[test]
fn annotations_validate_and_match_the_vision_msgs_boxes() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.mcap");
    ok(lookout()
        .arg("replay")
        .arg(vtest_recording(FRAMES))
        .arg("--out")
        .arg(&out)
        .args(["--no-progress", "--with-images"]));
    let desc = check_mcap(&out, &["--validate-json"]);
    assert_eq!(
        desc["json_schema_errors"].as_array().unwrap().len(),
        0,
        "{}",
        desc["json_schema_errors"]
    );
    // Track state and annotations: two JSON schemas checked.
    assert_eq!(desc["json_schemas_checked"], 2);
    let channel = desc["channels"]
        .as_object()
        .unwrap()
        .values()
        .find(|c| c["topic"] == "/camera/annotations")
        .expect("an annotations channel");
    assert_eq!(channel["message_encoding"], "json");
    let schema = &desc["schemas"][channel["schema_id"].to_string()];
    assert_eq!(schema["name"], "foxglove.ImageAnnotations");
    assert_eq!(schema["encoding"], "jsonschema");

    let images = messages(&desc, "/camera/image_raw/compressed");
    let dets = messages(&desc, "/camera/detections");
    let tracks = messages(&desc, "/camera/tracks");
    let anns = messages(&desc, "/camera/annotations");
    assert_eq!(anns.len() as u64, FRAMES);
    let mut colour_of_id: BTreeMap<String, Value> = BTreeMap::new();
    let mut boxes_seen = 0;
    for i in 0..FRAMES as usize {
        let (img, det, trk, ann) = (images[i], dets[i], tracks[i], anns[i]);
        assert_eq!(ann["log_time"], img["log_time"]);
        let a = &ann["json"];
        let det_list = det["detections"].as_array().unwrap();
        let trk_list = trk["detections"].as_array().unwrap();
        let pts = a["points"].as_array().unwrap();
        let labels = a["labels"].as_array().unwrap();
        assert_eq!(pts.len(), det_list.len() + trk_list.len(), "frame {i}");
        assert_eq!(labels.len(), pts.len(), "frame {i}");
        let boxes = det_list.iter().chain(trk_list);
        for (j, (p, d)) in pts.iter().zip(boxes).enumerate() {
            // Same instant as the image header, in Foxglove's {sec, nsec}.
            assert_eq!(p["timestamp"]["sec"], img["header"]["sec"]);
            assert_eq!(p["timestamp"]["nsec"], img["header"]["nanosec"]);
            assert_eq!(p["type"], 2, "LINE_LOOP");
            let expected = corners(d);
            let got = points(p);
            assert_eq!(got.len(), 4);
            for (g, e) in got.iter().zip(&expected) {
                // f32 boxes through two f64 routes: agree to well under a pixel.
                assert!(
                    (g.0 - e.0).abs() < 1e-3 && (g.1 - e.1).abs() < 1e-3,
                    "frame {i} box {j}: {got:?} vs {expected:?}"
                );
                assert!((0.0..=768.0 + 1e-3).contains(&g.0));
                assert!((0.0..=576.0 + 1e-3).contains(&g.1));
            }
            let text = labels[j]["text"].as_str().unwrap();
            let class = d["results"][0]["class_id"].as_str().unwrap();
            let score = d["results"][0]["score"].as_f64().unwrap();
            assert!(text.contains(class), "{text}");
            assert!(text.contains(&format!("{score:.2}")), "{text}");
            if j >= det_list.len() {
                let id = d["id"].as_str().unwrap();
                assert!(text.starts_with(&format!("#{id} ")), "{text}");
                let colour = p["outline_color"].clone();
                let prev = colour_of_id.entry(id.to_owned()).or_insert(colour.clone());
                assert_eq!(*prev, colour, "track {id} changed colour");
            }
            boxes_seen += 1;
        }
    }
    assert!(boxes_seen > 0);
    // Distinct ids have distinct colours.
    let distinct: std::collections::BTreeSet<String> =
        colour_of_id.values().map(|c| c.to_string()).collect();
    assert_eq!(distinct.len(), colour_of_id.len());
}

#[test]
fn annotations_can_be_switched_off() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.mcap");
    ok(lookout()
        .arg("replay")
        .arg(vtest_recording(FRAMES))
        .arg("--out")
        .arg(&out)
        .args(["--no-progress", "--max-frames", "1"])
        .args(["--set", "replay.write_annotations=false"]));
    let desc = check_mcap(&out, &[]);
    assert!(desc["channels"]
        .as_object()
        .unwrap()
        .values()
        .all(|c| c["topic"] != "/camera/annotations"));
}
