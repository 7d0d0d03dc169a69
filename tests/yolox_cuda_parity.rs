//! YOLOX on a CUDA device against YOLOX on the CPU (`cargo test --features cuda --test
//! yolox_cuda_parity -- --include-ignored`, which scripts/gpu-check.sh runs when the ONNX file
//! is there).
//!
//! The GPU path: lookout's `lookout_preprocess_yolox` (YOLOX's letterbox on the camera bytes),
//! the network on candle's CUDA backend, `lookout_yolox_decode` and `lookout_sort_nms`. The CPU
//! path: `decode_raw`, `Letterbox::yolox`, lookout's CPU kernels, `decode_yolox_head`,
//! `nms_limited`. Expectation: the letterbox equal bit for bit (integer arithmetic on both
//! sides), and the same detections with corners within 1 px and scores within 0.01.
//!
//! Every test needs a GPU and is `#[ignore]`d, so that elsewhere it is reported as not run,
//! never as passed. The network tests need the ONNX file (`LOOKOUT_YOLOX_ONNX`, default
//! `../shared/models/yolox_nano.onnx` beside the checkout, as tests/yolox_parity.rs) and fail
//! naming it when it is absent; the assets come from scripts/fetch-assets.sh.
#![cfg(feature = "cuda")]

mod detect_common;

use std::path::PathBuf;

use candle_core::Device;
use lookout::cuda::{DecodeLimits, GpuKernels};
use lookout::detect::{
    decode_yolox_heads, nms_limited, Detector, DetectorConfig, DetectorModel, Heads, ModelKind,
    Precision,
};
use lookout::image_codec::RawImageRef;
use lookout::preprocess::Letterbox;
use lookout::yolox::Yolox;

use detect_common::{
    assert_same_detections, camera_images, darknet_photo_images, gpu, gpu_and_cpu_letterbox,
    yolox_onnx_path, Img,
};

const CORNER_TOL_PX: f32 = 1.0;
const SCORE_TOL: f32 = 0.01;

fn onnx_path() -> PathBuf {
    let path = yolox_onnx_path();
    assert!(
        path.is_file(),
        "no YOLOX ONNX file at {} (set LOOKOUT_YOLOX_ONNX)",
        path.display()
    );
    path
}

fn detector(device: &Device) -> Detector {
    let config = DetectorConfig {
        model: ModelKind::Yolox,
        onnx_path: onnx_path().to_string_lossy().into_owned(),
        input_size_px: 416,
        ..DetectorConfig::default()
    };
    Detector::load(&config, device).unwrap_or_else(|e| panic!("{e}"))
}

/// Camera-sized buffers of several encodings, padded rows included.
fn cameras() -> Vec<Img> {
    camera_images(
        7,
        &[
            ("bgr8", 1920, 1080, 3, 0),
            ("rgb8", 641, 479, 3, 5),
            ("bgra8", 99, 301, 4, 12),
            ("mono8", 320, 240, 1, 0),
            ("yuyv", 322, 200, 2, 6),
            ("bayer_rggb8", 1024, 768, 1, 0),
        ],
    )
}

#[test]
#[ignore = "needs an NVIDIA GPU: scripts/gpu-check.sh runs it"]
fn yolox_preprocess_kernel_equals_the_cpu_letterbox() {
    let kernels = GpuKernels::load(&gpu()).unwrap();
    let imgs = cameras();
    let raws: Vec<RawImageRef<'_>> = imgs.iter().map(Img::raw).collect();
    for size in [416u32, 640] {
        let planes = gpu_and_cpu_letterbox(&kernels, &raws, Letterbox::yolox(size));
        for (i, (got, want)) in planes.iter().enumerate() {
            let differ = got
                .iter()
                .zip(want)
                .filter(|(a, b)| a.to_bits() != b.to_bits())
                .count();
            // Integer arithmetic on both sides: equal, not close.
            assert_eq!(differ, 0, "camera {i} ({}) at {size}", raws[i].encoding);
        }
    }
}

#[test]
#[ignore = "needs an NVIDIA GPU and the YOLOX ONNX file: scripts/gpu-check.sh runs it"]
fn yolox_decode_and_nms_kernels_match_the_cpu_on_the_same_heads() {
    let device = gpu();
    let det = detector(&device);
    let DetectorModel::Yolox(net) = det.model() else {
        panic!("a yolox detector holds a yolox network");
    };
    let kernels = GpuKernels::load(&device).unwrap();
    let imgs = darknet_photo_images();
    let raws: Vec<RawImageRef<'_>> = imgs.iter().map(RawImageRef::from_rgb).collect();
    let (input, _) = kernels.preprocess(&raws, det.letterbox(), None).unwrap();
    let heads = net.forward(&input).unwrap();
    let allowed: Vec<bool> = (0..det.class_map().names().len())
        .map(|c| det.class_map().label(c).is_some())
        .collect();
    let config = det.config();
    let host = lookout::detect::Heads::Yolox(heads.clone())
        .to_host()
        .unwrap();
    let lookout::detect::Heads::Yolox(host) = host else {
        panic!("yolox heads stay yolox heads");
    };
    for (multi_label, top_k, max_out) in [
        (false, config.top_k, config.max_detections),
        (true, config.top_k, config.max_detections),
        (false, 5, 3),
    ] {
        let limits = DecodeLimits {
            confidence_min: config.confidence_min,
            multi_label,
            nms_iou_max: config.nms_iou_max,
            top_k,
            max_detections: max_out,
        };
        let policy = if multi_label {
            lookout::detect::ClassPolicy::MultiLabel
        } else {
            lookout::detect::ClassPolicy::Argmax
        };
        let gpu_kept = kernels
            .decode_nms(
                &Heads::Yolox(heads.clone()),
                raws.len(),
                &allowed,
                limits,
                None,
            )
            .unwrap();
        for (i, kept) in gpu_kept.into_iter().enumerate() {
            let kept = kept.expect("no overflow at the default threshold");
            let mut cpu = decode_yolox_heads(&host, i, config.confidence_min, policy).unwrap();
            cpu.retain(|c| allowed[c.class_index]);
            let cpu = nms_limited(cpu, config.nms_iou_max, top_k, max_out);
            assert!(!cpu.is_empty(), "image {i} has candidates");
            assert_eq!(kept.len(), cpu.len(), "image {i}, {limits:?}");
            for (g, c) in kept.iter().zip(&cpu) {
                assert_eq!(g.class_index, c.class_index, "image {i}");
                assert!(
                    (g.score - c.score).abs() < 1e-5,
                    "image {i}: {g:?} vs {c:?}"
                );
                for (a, b) in [
                    (g.bbox_model.x_min, c.bbox_model.x_min),
                    (g.bbox_model.y_min, c.bbox_model.y_min),
                    (g.bbox_model.x_max, c.bbox_model.x_max),
                    (g.bbox_model.y_max, c.bbox_model.y_max),
                ] {
                    assert!((a - b).abs() < 0.01, "image {i}: {g:?} vs {c:?}");
                }
            }
        }
    }
}

#[test]
#[ignore = "needs an NVIDIA GPU and the YOLOX ONNX file: scripts/gpu-check.sh runs it"]
fn yolox_gpu_detector_matches_the_cpu_detector() {
    let cpu = detector(&Device::Cpu);
    let gpu_det = detector(&gpu());
    let imgs = darknet_photo_images();
    let raws: Vec<RawImageRef<'_>> = imgs.iter().map(RawImageRef::from_rgb).collect();
    let (batch, _) = gpu_det.detect_batch(&raws, false).unwrap();
    let (staged, timings) = gpu_det.detect_batch(&raws, true).unwrap();
    assert!(timings.forward > std::time::Duration::ZERO);
    for (i, img) in imgs.iter().enumerate() {
        let want = cpu.detect(img).unwrap();
        assert!(!want.is_empty(), "image {i} has detections on the CPU");
        assert_same_detections(
            &batch[i],
            &want,
            CORNER_TOL_PX,
            SCORE_TOL,
            &format!("image {i}, batch"),
        );
        assert_same_detections(
            &staged[i],
            &want,
            CORNER_TOL_PX,
            SCORE_TOL,
            &format!("image {i}, staged"),
        );
        let single = gpu_det.detect(img).unwrap();
        assert_same_detections(
            &single,
            &want,
            CORNER_TOL_PX,
            SCORE_TOL,
            &format!("image {i}, single"),
        );
    }
}

#[test]
#[ignore = "needs an NVIDIA GPU and the YOLOX ONNX file: scripts/gpu-check.sh runs it"]
fn yolox_forward_on_the_gpu_matches_the_cpu_kernels() {
    let device = gpu();
    let path = onnx_path();
    let cpu = Yolox::load(&path, &Device::Cpu).unwrap();
    let on_gpu = Yolox::load(&path, &device).unwrap();
    let img = &darknet_photo_images()[0];
    let (blob, _) = Letterbox::yolox(416).apply(img).unwrap();
    let input = candle_core::Tensor::from_vec(blob, (1, 3, 416, 416), &Device::Cpu).unwrap();
    let want = cpu.forward(&input).unwrap();
    let got = on_gpu.forward(&input.to_device(&device).unwrap()).unwrap();
    for (w, g) in want.iter().zip(&got) {
        assert_eq!(w.stride_px, g.stride_px);
        let diff = (w.output.clone() - g.output.to_device(&Device::Cpu).unwrap())
            .unwrap()
            .abs()
            .unwrap()
            .max_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        assert!(diff < 1e-2, "stride {} max |diff| {diff}", w.stride_px);
    }
}

#[test]
#[ignore = "needs an NVIDIA GPU and the YOLOX ONNX file: scripts/gpu-check.sh runs it"]
fn yolox_f16_detector_finds_the_same_objects() {
    let cpu = detector(&Device::Cpu);
    let config = DetectorConfig {
        precision: Precision::F16,
        ..cpu.config().clone()
    };
    let half = Detector::load(&config, &gpu()).unwrap_or_else(|e| panic!("{e}"));
    let DetectorModel::Yolox(net) = half.model() else {
        panic!("a yolox detector holds a yolox network");
    };
    assert_eq!(net.dtype(), candle_core::DType::F16);
    // On the CPU f16 is refused, as for darknet.
    let e = Detector::load(&config, &Device::Cpu).unwrap_err();
    assert!(e.to_string().contains("CUDA"), "{e}");
    for (i, img) in darknet_photo_images().iter().enumerate() {
        let want = cpu.detect(img).unwrap();
        let got = half.detect(img).unwrap();
        // f16 moves scores near the threshold: compare the confident ones, by IoU.
        for d in want.iter().filter(|d| d.score > 0.5) {
            let best = got
                .iter()
                .filter(|g| g.class_index == d.class_index)
                .map(|g| g.bbox.iou(&d.bbox))
                .fold(0f32, f32::max);
            assert!(best > 0.9, "image {i}: f16 lost {d:?} (best IoU {best})");
        }
    }
}
