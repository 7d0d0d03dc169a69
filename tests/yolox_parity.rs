//! YOLOX parity against an independent implementation: onnxruntime on the same ONNX file
//! (scripts/python/onnx_oracle.py, with YOLOX's own preprocessing via OpenCV and its
//! post-processing in numpy), on darknet's sample photos and frames of PETS09-S2L1
//! (vtest.avi). Expectation: lookout's letterbox equal to OpenCV's, the same
//! raw outputs on the same blob, and the same detections per class with corners within 1 px
//! and scores within 0.01.
//!
//! Needs the ONNX file (`LOOKOUT_YOLOX_ONNX`, default `../shared/models/yolox_nano.onnx` beside
//! the checkout: test data from outside the registries, never committed) and skips with a
//! message when it is absent; needs the assets (scripts/fetch-assets.sh) and the onnx venv
//! (scripts/setup.sh), and fails naming them when those are absent.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

mod detect_common;

use candle_core::{Device, Tensor};
use lookout::detect::{Detector, DetectorConfig, ModelKind};
use lookout::yolox::Yolox;
use serde_json::{json, Value};

use detect_common::{compare, parse_ref, read_f32, test_images, venv_python, yolox_onnx, RefDet};

const CORNER_TOL_PX: f32 = 1.0;
const SCORE_TOL: f32 = 0.01;
#[test]
fn yolox_matches_onnxruntime() {
    let Some(onnx) = yolox_onnx() else { return };
    let dir = tempfile::tempdir().unwrap();
    let images = test_images();
    let config = DetectorConfig {
        model: ModelKind::Yolox,
        onnx_path: onnx.to_string_lossy().into_owned(),
        class_map: vec![],
        keep_unmapped_classes: true,
        ..DetectorConfig::default()
    };
    let detector = Detector::load(&config, &Device::Cpu).unwrap_or_else(|e| panic!("{e}"));
    let mut items = Vec::new();
    let mut ours = BTreeMap::new();
    for (name, img) in &images {
        let rgb = dir.path().join(format!("{name}.rgb"));
        std::fs::write(&rgb, &img.data).unwrap();
        items.push(
            json!({"name": name, "rgb": rgb, "width": img.width, "height": img.height,
                          "confidence_min": config.confidence_min,
                          "nms_iou_max": config.nms_iou_max,
                          "blob_out": dir.path().join(format!("{name}.f32")),
                          "raw_out": dir.path().join(format!("{name}.out.f32"))}),
        );
        let (dets, t) = detector.detect_timed(img).unwrap();
        eprintln!("{name}: {} detections, forward {:?}", dets.len(), t.forward);
        ours.insert(name.clone(), dets);
    }
    let job = json!({"onnx": onnx, "size": config.input_size_px, "threads": 2,
                     "detect": items});
    let job_path = dir.path().join("job.json");
    let out_path = dir.path().join("out.json");
    std::fs::write(&job_path, serde_json::to_vec(&job).unwrap()).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/python/onnx_oracle.py");
    let out = Command::new(venv_python("LOOKOUT_ONNX_PYTHON", "venv-onnx"))
        .arg(&script)
        .arg(&job_path)
        .arg(&out_path)
        .output()
        .expect("running the onnx python: run scripts/setup.sh");
    assert!(
        out.status.success(),
        "onnx_oracle.py failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let result: Value = serde_json::from_slice(&std::fs::read(out_path).unwrap()).unwrap();
    eprintln!("oracle: onnxruntime {}", result["onnxruntime_version"]);

    let net = Yolox::load(&onnx, &Device::Cpu).unwrap();
    let s = config.input_size_px as usize;
    let mut failures = Vec::new();
    let (mut max_corner, mut max_score, mut matched) = (0f32, 0f32, 0usize);
    let (mut max_level, mut max_raw) = (0f32, 0f32);
    for ((name, img), item) in images.iter().zip(result["detect"].as_array().unwrap()) {
        assert_eq!(item["name"].as_str(), Some(name.as_str()));
        // The letterbox: OpenCV's fixed-point resize, bit for bit.
        let reference_blob = read_f32(&dir.path().join(format!("{name}.f32")));
        let (blob, _) = detector.letterbox().apply(img).unwrap();
        let level = blob
            .iter()
            .zip(&reference_blob)
            .fold(0f32, |m, (a, b)| m.max((a - b).abs()));
        max_level = max_level.max(level);
        assert!(level == 0.0, "{name}: letterbox differs by {level} levels");
        // The network on onnxruntime's own blob: raw outputs agree.
        let raw_ref = read_f32(&dir.path().join(format!("{name}.out.f32")));
        let input = Tensor::from_vec(reference_blob, (1, 3, s, s), &Device::Cpu).unwrap();
        let heads = net.forward(&input).unwrap();
        let mut raw = Vec::new();
        for h in &heads {
            // [85, H, W] -> [H * W, 85], the ONNX output order
            let t = h.output.get(0).unwrap().flatten_from(1).unwrap();
            let t = t.t().unwrap().contiguous().unwrap();
            raw.extend(t.flatten_all().unwrap().to_vec1::<f32>().unwrap());
        }
        assert_eq!(raw.len(), raw_ref.len(), "{name}: raw output size");
        let diff = raw
            .iter()
            .zip(&raw_ref)
            .fold(0f32, |m, (a, b)| m.max((a - b).abs()));
        max_raw = max_raw.max(diff);
        assert!(diff < 2e-3, "{name}: raw outputs differ by {diff}");

        let reference: Vec<RefDet> = item["detections"]
            .as_array()
            .unwrap()
            .iter()
            .map(parse_ref)
            .collect();
        assert!(
            !reference.is_empty(),
            "{name}: onnxruntime found nothing; the comparison would be vacuous"
        );
        match compare(
            name,
            "onnxruntime",
            &ours[name],
            &reference,
            CORNER_TOL_PX,
            SCORE_TOL,
        ) {
            Ok((corner, score)) => {
                max_corner = max_corner.max(corner);
                max_score = max_score.max(score);
                matched += reference.len();
            }
            Err(msg) => failures.push(msg),
        }
    }
    eprintln!(
        "parity yolox: {matched} detections matched, max corner delta {max_corner:.4} px, max \
         score delta {max_score:.5}; letterbox max {max_level} levels; raw outputs max {max_raw:.2e}"
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // dog.jpg: the README's check (dog 0.83, truck as car 0.81, bicycle 0.81).
    let dog: Vec<&str> = ours["dog"].iter().map(|d| d.label.as_str()).collect();
    for label in ["dog", "bicycle"] {
        assert!(dog.contains(&label), "dog.jpg: {dog:?}");
    }
}

#[test]
fn yolox_file_loads_as_nano() {
    let Some(onnx) = yolox_onnx() else { return };
    let net = Yolox::load(&onnx, &Device::Cpu).unwrap();
    assert!(net.is_depthwise());
    assert_eq!(net.classes(), 80);
    assert_eq!(net.widths(), [32, 64, 128, 256]);
    assert_eq!(net.depths(), [1, 3, 3, 1]);
}

#[test]
fn a_truncated_onnx_file_is_a_clear_error() {
    let Some(onnx) = yolox_onnx() else { return };
    let bytes = std::fs::read(&onnx).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cut = dir.path().join("cut.onnx");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let e = Yolox::load(&cut, &Device::Cpu).unwrap_err().to_string();
    assert!(e.contains("cut.onnx"), "{e}");
}
