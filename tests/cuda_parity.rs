//! The GPU path against the CPU path, on a CUDA device (`cargo test --features cuda --test
//! cuda_parity -- --include-ignored`, which scripts/gpu-check.sh runs).
//!
//! The tests that need a GPU are `#[ignore]`d, so that on a machine without one `cargo test`
//! reports them as ignored (not run), never as passed; run with `--include-ignored` on a
//! machine without a GPU, they fail with the driver's reason. The one test that runs
//! everywhere checks that asking for a GPU that is not there is a clear error.
#![cfg(feature = "cuda")]

mod detect_common;

use candle_core::{DType, Device, Tensor};
use lookout::config::DeviceSpec;
use lookout::cuda::{DecodeLimits, GpuKernels};
use lookout::darknet::Darknet;
use lookout::detect::{
    decode_heads, heads_to_host, nms_limited, Detector, DetectorConfig, DetectorModel, Heads,
    ModelKind, Precision,
};
use lookout::image_codec::RawImageRef;
use lookout::preprocess::Letterbox;

use detect_common::{
    assert_same_detections, camera_images, darknet_photo_images, gpu, gpu_and_cpu_letterbox, Img,
};

/// The darknet network a detector runs (the GPU kernels decode darknet heads).
fn darknet(det: &Detector) -> &Darknet {
    match det.model() {
        DetectorModel::Darknet(model) => model.network(),
        DetectorModel::Yolox(_) => panic!("these tests run darknet models"),
    }
}

#[test]
fn asking_for_a_missing_gpu_is_a_clear_error() {
    match lookout::engine::select_device(DeviceSpec::Cuda(0)) {
        // A machine with a GPU: the device works (the ignored tests below are the real check).
        Ok(device) => assert!(device.is_cuda()),
        Err(e) => {
            let message = e.to_string();
            assert!(message.contains("cuda:0"), "{message}");
            assert!(message.contains("cannot open the GPU"), "{message}");
            // one line with the driver's reason, no backtrace
            assert!(!message.contains("\n  0:"), "{message}");
        }
    }
    // Not CUDA at all: named as such when the parameter is parsed.
    let e = "cuda:x".parse::<DeviceSpec>().unwrap_err();
    assert!(e.to_string().contains("cuda:x"), "{e}");
}

#[test]
fn the_fatbin_is_embedded() {
    let fatbin = lookout::cuda::device::fatbin();
    assert!(fatbin.len() > 1024, "fatbin of {} bytes", fatbin.len());
    assert_eq!(&fatbin[..4], &0xBA55_ED50u32.to_le_bytes(), "fatbin magic");
    assert!(!lookout::cuda::device::ARCHITECTURES.is_empty());
}

/// Camera-sized buffers of every encoding, padded rows included.
fn images() -> Vec<Img> {
    camera_images(
        99,
        &[
            ("bgr8", 1920, 1080, 3, 0),
            ("rgb8", 641, 479, 3, 5),
            ("rgba8", 320, 240, 4, 0),
            ("bgra8", 99, 301, 4, 12),
            ("mono8", 1280, 720, 1, 0),
            ("uyvy", 640, 480, 2, 0),
            ("yuyv", 322, 200, 2, 6),
            ("bayer_rggb8", 1024, 768, 1, 0),
            ("bayer_grbg8", 333, 211, 1, 3),
        ],
    )
}

#[test]
#[ignore = "needs an NVIDIA GPU: scripts/gpu-check.sh runs it"]
fn preprocess_kernel_matches_decode_raw_and_letterbox() {
    let kernels = GpuKernels::load(&gpu()).unwrap();
    let imgs = images();
    let raws: Vec<RawImageRef<'_>> = imgs.iter().map(Img::raw).collect();
    let planes = gpu_and_cpu_letterbox(&kernels, &raws, Letterbox::new(416));
    for (i, (got, want)) in planes.iter().enumerate() {
        let max_diff = got
            .iter()
            .zip(want)
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        // Same operations in the same order without FMA contraction: equal to float rounding.
        assert!(
            max_diff <= 1e-6,
            "camera {i} ({}): max |diff| {max_diff}",
            raws[i].encoding
        );
    }
}

fn detector(device: &Device, precision: Precision) -> Detector {
    let config = DetectorConfig {
        model: ModelKind::Yolov4Tiny,
        precision,
        ..DetectorConfig::default()
    };
    Detector::load(&config, device).unwrap()
}

#[test]
#[ignore = "needs an NVIDIA GPU: scripts/gpu-check.sh runs it"]
fn decode_and_nms_kernels_match_the_cpu_on_the_same_heads() {
    let device = gpu();
    let det = detector(&device, Precision::F32);
    let kernels = GpuKernels::load(&device).unwrap();
    let imgs = darknet_photo_images();
    let raws: Vec<RawImageRef<'_>> = imgs.iter().map(RawImageRef::from_rgb).collect();
    let (input, _) = kernels.preprocess(&raws, det.letterbox(), None).unwrap();
    let heads = darknet(&det).forward(&input).unwrap();
    let allowed: Vec<bool> = (0..det.class_map().names().len())
        .map(|c| det.class_map().label(c).is_some())
        .collect();
    let config = det.config();
    for (top_k, max_out) in [(config.top_k, config.max_detections), (5, 3)] {
        let limits = DecodeLimits {
            confidence_min: config.confidence_min,
            multi_label: config.multi_label,
            nms_iou_max: config.nms_iou_max,
            top_k,
            max_detections: max_out,
        };
        let gpu_kept = kernels
            .decode_nms(
                &Heads::Yolo(heads.clone()),
                raws.len(),
                &allowed,
                limits,
                None,
            )
            .unwrap();
        let host = heads_to_host(&heads).unwrap();
        for (i, kept) in gpu_kept.into_iter().enumerate() {
            let kept = kept.expect("no overflow at the default threshold");
            let mut cpu =
                decode_heads(&host, i, config.confidence_min, config.class_policy()).unwrap();
            cpu.retain(|c| allowed[c.class_index]);
            let cpu = nms_limited(cpu, config.nms_iou_max, top_k, max_out);
            assert_eq!(kept.len(), cpu.len(), "image {i}, top_k {top_k}");
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
#[ignore = "needs an NVIDIA GPU: scripts/gpu-check.sh runs it"]
fn gpu_detector_matches_the_cpu_detector_within_half_a_pixel() {
    let cpu = detector(&Device::Cpu, Precision::F32);
    let gpu_det = detector(&gpu(), Precision::F32);
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
            0.5,
            f32::INFINITY,
            &format!("image {i}, batch"),
        );
        assert_same_detections(
            &staged[i],
            &want,
            0.5,
            f32::INFINITY,
            &format!("image {i}, staged"),
        );
        // the single-image entry point takes the same path
        let single = gpu_det.detect(img).unwrap();
        assert_same_detections(
            &single,
            &want,
            0.5,
            f32::INFINITY,
            &format!("image {i}, single"),
        );
    }
}

#[test]
#[ignore = "needs an NVIDIA GPU: scripts/gpu-check.sh runs it"]
fn f16_detector_finds_the_same_objects() {
    let cpu = detector(&Device::Cpu, Precision::F32);
    let half = detector(&gpu(), Precision::F16);
    assert_eq!(darknet(&half).dtype(), DType::F16);
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

#[test]
#[ignore = "needs an NVIDIA GPU: scripts/gpu-check.sh runs it"]
fn bad_camera_bytes_are_an_error_naming_the_camera() {
    let det = detector(&gpu(), Precision::F32);
    let data = vec![0u8; 100];
    let good = RawImageRef {
        encoding: "mono8",
        width: 10,
        height: 10,
        step: 10,
        is_bigendian: false,
        data: &data,
    };
    let bad = RawImageRef { height: 11, ..good };
    let e = det.detect_batch(&[good, bad], false).unwrap_err();
    assert!(e.to_string().contains("camera image 1"), "{e}");
    // the detector still works afterwards
    assert!(det.detect_batch(&[good], false).is_ok());
}

#[test]
#[ignore = "needs an NVIDIA GPU: scripts/gpu-check.sh runs it"]
fn the_forward_on_the_gpu_matches_the_cpu_kernels() {
    let cpu = detector(&Device::Cpu, Precision::F32);
    let device = gpu();
    let gpu_det = detector(&device, Precision::F32);
    let img = &darknet_photo_images()[0];
    let (blob, _) = cpu.letterbox().apply(img).unwrap();
    let input = Tensor::from_vec(blob, (1, 3, 416, 416), &Device::Cpu).unwrap();
    let want = darknet(&cpu).forward(&input).unwrap();
    let got = darknet(&gpu_det)
        .forward(&input.to_device(&device).unwrap())
        .unwrap();
    for (w, g) in want.iter().zip(&got) {
        let diff = (w.output.clone() - g.output.to_device(&Device::Cpu).unwrap())
            .unwrap()
            .abs()
            .unwrap()
            .max_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        assert!(diff < 1e-2, "head max |diff| {diff}");
    }
}
