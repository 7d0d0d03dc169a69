//! Detector parity against an independent implementation: OpenCV DNN's darknet importer
//! (scripts/python/opencv_oracle.py) on the same cfg/weights and the same letterboxed blob, for
//! YOLOv4-tiny and YOLOv3-tiny, on darknet's sample photos and frames of PETS09-S2L1
//! (vtest.avi). Expectation: the same detections per class, box corners within 1.5 px, scores
//! within 0.02. Also checks lookout's letterbox against a numpy reimplementation of darknet's.
//!
//! Needs the assets (scripts/fetch-assets.sh) and the oracle venv (scripts/setup.sh); fails
//! with a message naming them when absent.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

mod detect_common;

use candle_core::Device;
use lookout::detect::{Detector, DetectorConfig, ModelKind};
use lookout::{Detection, RgbImage};
use serde_json::{json, Value};

use detect_common::{
    asset, compare, load_jpeg, parse_ref, read_f32, test_images, venv_python, write_f32, RefDet,
};

const CORNER_TOL_PX: f32 = 1.5;
const SCORE_TOL: f32 = 0.02;

fn run_oracle(dir: &Path, job: &Value) -> Value {
    let job_path = dir.join("job.json");
    let out_path = dir.join("out.json");
    std::fs::write(&job_path, serde_json::to_vec(job).unwrap()).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/python/opencv_oracle.py");
    let out = Command::new(venv_python("LOOKOUT_ORACLE_PYTHON", "venv-oracle"))
        .arg(&script)
        .arg(&job_path)
        .arg(&out_path)
        .output()
        .expect("running the oracle python: run scripts/setup.sh");
    assert!(
        out.status.success(),
        "opencv_oracle.py failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&std::fs::read(out_path).unwrap()).unwrap()
}

#[test]
fn letterbox_matches_numpy_darknet() {
    let dir = tempfile::tempdir().unwrap();
    let images: Vec<(String, RgbImage)> = test_images().into_iter().take(4).collect();
    let mut items = Vec::new();
    let mut ours = Vec::new();
    for (name, img) in &images {
        for size in [416u32, 320] {
            let rgb = dir.path().join(format!("{name}.rgb"));
            std::fs::write(&rgb, &img.data).unwrap();
            let out = dir.path().join(format!("{name}_{size}.lb"));
            items.push(json!({"name": name, "rgb": rgb, "width": img.width,
                              "height": img.height, "size": size, "out": out}));
            let (blob, _) = lookout::preprocess::Letterbox::new(size)
                .apply(img)
                .unwrap();
            ours.push((format!("{name}@{size}"), blob, out));
        }
    }
    run_oracle(dir.path(), &json!({ "letterbox": items }));
    for (name, blob, out) in ours {
        let reference = read_f32(&out);
        assert_eq!(blob.len(), reference.len(), "{name}");
        let max_diff = blob
            .iter()
            .zip(&reference)
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        eprintln!("letterbox {name}: max |lookout - numpy| = {max_diff:e}");
        assert!(max_diff < 1e-5, "{name}: letterbox differs by {max_diff}");
    }
}

#[test]
fn detections_match_opencv_dnn() {
    let dir = tempfile::tempdir().unwrap();
    let images = test_images();
    let mut jobs = Vec::new();
    let mut ours: BTreeMap<(String, String), Vec<Detection>> = BTreeMap::new();
    // The default class policy (argmax) on both models, and darknet's multi-label on one.
    for (kind, multi_label) in [
        (ModelKind::Yolov4Tiny, false),
        (ModelKind::Yolov3Tiny, false),
        (ModelKind::Yolov4Tiny, true),
    ] {
        let config = DetectorConfig {
            model: kind,
            class_map: vec![],
            keep_unmapped_classes: true,
            multi_label,
            ..DetectorConfig::default()
        };
        let tag = format!("{}{}", kind.name(), if multi_label { "-multi" } else { "" });
        let detector = Detector::load(&config, &Device::Cpu)
            .unwrap_or_else(|e| panic!("{e} (run scripts/fetch-assets.sh if assets are missing)"));
        let paths = detector.model_paths().expect("loaded from files").clone();
        let mut items = Vec::new();
        for (name, img) in &images {
            let (blob, _) = detector.letterbox().apply(img).unwrap();
            let blob_path = dir.path().join(format!("{tag}_{name}.f32"));
            write_f32(&blob_path, &blob);
            items.push(json!({"name": format!("{tag}/{name}"), "blob": blob_path,
                              "image_w": img.width, "image_h": img.height}));
            let (dets, timings) = detector.detect_timed(img).unwrap();
            eprintln!(
                "{tag}/{name}: {} detections, forward {:?}",
                dets.len(),
                timings.forward
            );
            ours.insert((tag.clone(), name.clone()), dets);
        }
        jobs.push(json!({"cfg": paths.cfg, "weights": paths.weights,
                         "size": config.input_size_px,
                         "confidence_min": config.confidence_min,
                         "nms_iou_max": config.nms_iou_max,
                         "multi_label": config.multi_label, "items": items}));
    }
    let result = run_oracle(dir.path(), &json!({ "detect": jobs }));
    eprintln!("oracle: OpenCV {}", result["opencv_version"]);
    let mut failures = Vec::new();
    let mut per_model: BTreeMap<String, (f32, f32, usize)> = BTreeMap::new();
    for item in result["detect"].as_array().unwrap() {
        let full = item["name"].as_str().unwrap();
        let (model, name) = full.split_once('/').unwrap();
        let reference: Vec<RefDet> = item["detections"]
            .as_array()
            .unwrap()
            .iter()
            .map(parse_ref)
            .collect();
        let dets = &ours[&(model.to_string(), name.to_string())];
        assert!(
            !reference.is_empty(),
            "{full}: opencv found nothing; the comparison would be vacuous"
        );
        match compare(full, "opencv", dets, &reference, CORNER_TOL_PX, SCORE_TOL) {
            Ok((corner, score)) => {
                let e = per_model.entry(model.to_string()).or_default();
                e.0 = e.0.max(corner);
                e.1 = e.1.max(score);
                e.2 += dets.len();
            }
            Err(msg) => failures.push(msg),
        }
    }
    for (model, (corner, score, n)) in &per_model {
        eprintln!(
            "parity {model}: {n} detections matched, max corner delta {corner:.4} px, \
             max score delta {score:.5}"
        );
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn mismatched_cfg_and_weights_is_a_clear_error() {
    // yolov4-tiny's cfg with yolov3-tiny's weights: the floats run out or are left over.
    let config = DetectorConfig {
        cfg_path: asset("models/yolov4-tiny/yolov4-tiny.cfg")
            .to_string_lossy()
            .into(),
        weights_path: asset("models/yolov3-tiny/yolov3-tiny.weights")
            .to_string_lossy()
            .into(),
        ..DetectorConfig::default()
    };
    let err = Detector::load(&config, &Device::Cpu)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("yolov4-tiny.cfg") && err.contains("yolov3-tiny.weights"),
        "{err}"
    );
}

#[test]
fn other_input_sizes_run() {
    let config = DetectorConfig {
        input_size_px: 320,
        ..DetectorConfig::default()
    };
    let detector = Detector::load(&config, &Device::Cpu).unwrap();
    let img = load_jpeg(&asset("data/darknet/person.jpg"));
    let dets = detector.detect(&img).unwrap();
    // person.jpg: a person, a dog and a horse; the default map keeps only driving classes.
    assert!(dets.iter().any(|d| d.label == "pedestrian"), "{dets:?}");
    for d in &dets {
        assert!(d.bbox.x_min >= 0.0 && d.bbox.x_max <= img.width as f32);
        assert!(d.bbox.y_min >= 0.0 && d.bbox.y_max <= img.height as f32);
        assert_ne!(d.label, "dog");
    }
    let bad = DetectorConfig {
        input_size_px: 300,
        ..DetectorConfig::default()
    };
    assert!(Detector::load(&bad, &Device::Cpu).is_err());
}
