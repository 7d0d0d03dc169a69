//! Helpers shared by the detector tests: the asset cache and the test images (darknet's
//! sample photos, vtest.avi frames through ffmpeg, synthetic camera buffers), the oracle venvs,
//! the YOLOX ONNX file, and the per-class greedy comparison of lookout's detections with a
//! peer implementation's (OpenCV DNN, onnxruntime).

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use lookout::{Detection, RgbImage};
use serde_json::Value;

/// vtest.avi frames the parity tests compare (of 795).
pub const VIDEO_FRAMES: [u32; 4] = [0, 150, 400, 700];

pub fn cache_dir() -> PathBuf {
    lookout::assets::cache_dir().expect("no asset cache: set LOOKOUT_CACHE or HOME")
}

/// A fetched asset (scripts/fetch-assets.sh), or a failure naming it.
pub fn asset(rel: &str) -> PathBuf {
    let path = cache_dir().join(rel);
    assert!(
        path.is_file(),
        "{} is missing: run scripts/fetch-assets.sh (LOOKOUT_CACHE={})",
        path.display(),
        cache_dir().display()
    );
    path
}

/// The interpreter of one of scripts/setup.sh's venvs (`venv` under the cache, or the path in
/// the environment variable `env`), or a failure naming both.
pub fn venv_python(env: &str, venv: &str) -> PathBuf {
    let path = std::env::var_os(env)
        .map(PathBuf::from)
        .unwrap_or_else(|| cache_dir().join(venv).join("bin/python"));
    assert!(
        path.exists(),
        "{venv} python {} is missing: run scripts/setup.sh (or set {env})",
        path.display()
    );
    path
}

fn ffmpeg() -> PathBuf {
    if let Some(p) = std::env::var_os("LOOKOUT_FFMPEG") {
        return PathBuf::from(p);
    }
    let cached = cache_dir().join("bin/ffmpeg");
    if cached.exists() {
        return cached;
    }
    PathBuf::from("ffmpeg")
}

pub fn load_jpeg(path: &Path) -> RgbImage {
    let img = image::open(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .to_rgb8();
    RgbImage {
        width: img.width(),
        height: img.height(),
        data: img.into_raw(),
    }
}

/// darknet's sample photos (dog, person, horses) by name.
pub fn darknet_photos() -> Vec<(String, RgbImage)> {
    ["dog", "person", "horses"]
        .iter()
        .map(|n| {
            (
                n.to_string(),
                load_jpeg(&asset(&format!("data/darknet/{n}.jpg"))),
            )
        })
        .collect()
}

/// The darknet sample photos' images alone.
pub fn darknet_photo_images() -> Vec<RgbImage> {
    darknet_photos().into_iter().map(|(_, img)| img).collect()
}

/// Decodes the given frames of vtest.avi (768x576) with the ffmpeg binary.
pub fn video_frames(frames: &[u32]) -> Vec<(String, RgbImage)> {
    let video = asset("data/vtest.avi");
    let select: Vec<String> = frames.iter().map(|n| format!("eq(n\\,{n})")).collect();
    let out = Command::new(ffmpeg())
        .args(["-v", "error", "-i"])
        .arg(&video)
        .args(["-vf", &format!("select='{}'", select.join("+"))])
        .args(["-fps_mode", "passthrough", "-f", "rawvideo"])
        .args(["-pix_fmt", "rgb24", "-"])
        .output()
        .unwrap_or_else(|e| {
            panic!("running ffmpeg ({e}): run scripts/setup.sh or set LOOKOUT_FFMPEG")
        });
    assert!(
        out.status.success(),
        "ffmpeg failed on {}: {}",
        video.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let frame_len = 768 * 576 * 3;
    assert_eq!(
        out.stdout.len(),
        frame_len * frames.len(),
        "ffmpeg output size"
    );
    frames
        .iter()
        .zip(out.stdout.chunks_exact(frame_len))
        .map(|(n, data)| {
            (
                format!("vtest_{n:03}"),
                RgbImage {
                    width: 768,
                    height: 576,
                    data: data.to_vec(),
                },
            )
        })
        .collect()
}

/// The parity tests' images: darknet's photos and [`VIDEO_FRAMES`] of vtest.avi.
pub fn test_images() -> Vec<(String, RgbImage)> {
    let mut images = darknet_photos();
    images.extend(video_frames(&VIDEO_FRAMES));
    images
}

pub fn write_f32(path: &Path, values: &[f32]) {
    let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    std::fs::write(path, bytes).unwrap();
}

pub fn read_f32(path: &Path) -> Vec<f32> {
    std::fs::read(path)
        .unwrap()
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}

/// The YOLOX ONNX file: `LOOKOUT_YOLOX_ONNX`, default `../shared/models/yolox_nano.onnx`
/// beside the checkout (test data from outside the registries, never committed).
pub fn yolox_onnx_path() -> PathBuf {
    std::env::var_os("LOOKOUT_YOLOX_ONNX")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/models/yolox_nano.onnx")
        })
}

/// [`yolox_onnx_path`] when the file is there, else `None` and a visible SKIPPED line.
pub fn yolox_onnx() -> Option<PathBuf> {
    let path = yolox_onnx_path();
    if path.is_file() {
        Some(path)
    } else {
        eprintln!(
            "SKIPPED: no YOLOX ONNX file at {} (set LOOKOUT_YOLOX_ONNX)",
            path.display()
        );
        None
    }
}

/// A camera buffer of one encoding, padded rows included.
pub struct Img {
    pub encoding: &'static str,
    pub width: u32,
    pub height: u32,
    pub step: u32,
    pub data: Vec<u8>,
}

/// Camera buffers of random bytes (a fixed generator seeded by `seed`), one per
/// `(encoding, width, height, bytes per pixel, row padding)`.
pub fn camera_images(seed: u64, specs: &[(&'static str, u32, u32, u32, u32)]) -> Vec<Img> {
    let mut state = seed;
    let mut byte = move || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (state >> 56) as u8
    };
    specs
        .iter()
        .map(|&(encoding, width, height, bpp, pad)| {
            let step = width * bpp + pad;
            Img {
                encoding,
                width,
                height,
                step,
                data: (0..step * height).map(|_| byte()).collect(),
            }
        })
        .collect()
}

/// A peer implementation's detection (model or image pixels, as the test asks for).
#[derive(Debug, Clone)]
pub struct RefDet {
    pub class_index: usize,
    pub score: f32,
    pub bbox: lookout::BBox,
}

/// One detection of the oracles' JSON (`class_index`, `score`, `x_min` .. `y_max`).
pub fn parse_ref(v: &Value) -> RefDet {
    let f = |k: &str| v[k].as_f64().unwrap() as f32;
    RefDet {
        class_index: v["class_index"].as_u64().unwrap() as usize,
        score: f("score"),
        bbox: lookout::BBox {
            x_min: f("x_min"),
            y_min: f("y_min"),
            x_max: f("x_max"),
            y_max: f("y_max"),
        },
    }
}

/// Greedy matching by class and IoU of `ours` with the `peer`'s `reference`: (max corner
/// delta, max score delta), or every problem (per-class counts, a box without a match, a
/// corner beyond `corner_tol_px` or a score beyond `score_tol`).
pub fn compare(
    name: &str,
    peer: &str,
    ours: &[Detection],
    reference: &[RefDet],
    corner_tol_px: f32,
    score_tol: f32,
) -> Result<(f32, f32), String> {
    let mut problems = Vec::new();
    let count = |it: &mut dyn Iterator<Item = usize>| {
        let mut m = BTreeMap::new();
        for c in it {
            *m.entry(c).or_insert(0usize) += 1;
        }
        m
    };
    let ours_count = count(&mut ours.iter().map(|d| d.class_index));
    let ref_count = count(&mut reference.iter().map(|d| d.class_index));
    if ours_count != ref_count {
        problems.push(format!(
            "{name}: per-class counts differ: lookout {ours_count:?}, {peer} {ref_count:?}"
        ));
    }
    let mut used = vec![false; reference.len()];
    let (mut max_corner, mut max_score) = (0f32, 0f32);
    for d in ours {
        let best = reference
            .iter()
            .enumerate()
            .filter(|(i, r)| !used[*i] && r.class_index == d.class_index)
            .map(|(i, r)| (i, d.bbox.iou(&r.bbox)))
            .max_by(|a, b| a.1.total_cmp(&b.1));
        match best {
            Some((i, iou)) if iou > 0.5 => {
                used[i] = true;
                let r = &reference[i];
                let corner = [
                    (d.bbox.x_min - r.bbox.x_min).abs(),
                    (d.bbox.y_min - r.bbox.y_min).abs(),
                    (d.bbox.x_max - r.bbox.x_max).abs(),
                    (d.bbox.y_max - r.bbox.y_max).abs(),
                ]
                .into_iter()
                .fold(0f32, f32::max);
                let score = (d.score - r.score).abs();
                max_corner = max_corner.max(corner);
                max_score = max_score.max(score);
                if corner > corner_tol_px || score > score_tol {
                    problems.push(format!(
                        "{name}: {} {:?} score {} vs {peer} {r:?}: corner delta {corner}, score delta {score}",
                        d.label, d.bbox, d.score
                    ));
                }
            }
            _ => problems.push(format!("{name}: lookout {d:?} has no {peer} match")),
        }
    }
    for (r, u) in reference.iter().zip(&used) {
        if !u {
            problems.push(format!("{name}: {peer} {r:?} has no lookout match"));
        }
    }
    if problems.is_empty() {
        Ok((max_corner, max_score))
    } else {
        Err(problems.join("\n"))
    }
}

impl Img {
    /// The buffer as the detector's raw camera input.
    pub fn raw(&self) -> lookout::image_codec::RawImageRef<'_> {
        lookout::image_codec::RawImageRef {
            encoding: self.encoding,
            width: self.width,
            height: self.height,
            step: self.step,
            is_bigendian: false,
            data: &self.data,
        }
    }
}

/// CUDA device 0, or a panic with the driver's reason (the GPU tests are `#[ignore]`d where
/// there is none).
#[cfg(feature = "cuda")]
pub fn gpu() -> candle_core::Device {
    lookout::engine::select_device(lookout::config::DeviceSpec::Cuda(0))
        .unwrap_or_else(|e| panic!("no usable CUDA device for a GPU test: {e}"))
}

/// The same detections on two paths (GPU against CPU): as many, and each of `a` has one of `b`
/// with the same class, every corner within `corner_tol_px` and the score within `score_tol`
/// (`f32::INFINITY`: scores not compared).
pub fn assert_same_detections(
    a: &[Detection],
    b: &[Detection],
    corner_tol_px: f32,
    score_tol: f32,
    what: &str,
) {
    assert_eq!(a.len(), b.len(), "{what}: {a:?} vs {b:?}");
    for d in a {
        let found = b.iter().any(|e| {
            e.class_index == d.class_index
                && (e.score - d.score).abs() <= score_tol
                && (e.bbox.x_min - d.bbox.x_min).abs() <= corner_tol_px
                && (e.bbox.y_min - d.bbox.y_min).abs() <= corner_tol_px
                && (e.bbox.x_max - d.bbox.x_max).abs() <= corner_tol_px
                && (e.bbox.y_max - d.bbox.y_max).abs() <= corner_tol_px
        });
        assert!(
            found,
            "{what}: no match within {corner_tol_px} px for {d:?} in {b:?}"
        );
    }
}

/// The GPU preprocess kernel's letterboxed planes for `raws` next to the CPU's (`decode_raw`
/// then `Letterbox::apply_into`), one `(gpu, cpu)` pair per camera, after checking that the
/// batch has the letterbox's shape and that the kernel, the batch plan and the CPU agree on
/// every image's transform. The caller decides how close the planes must be.
#[cfg(feature = "cuda")]
pub fn gpu_and_cpu_letterbox(
    kernels: &lookout::cuda::GpuKernels,
    raws: &[lookout::image_codec::RawImageRef<'_>],
    letterbox: lookout::preprocess::Letterbox,
) -> Vec<(Vec<f32>, Vec<f32>)> {
    let (input, transforms) = kernels.preprocess(raws, letterbox, None).unwrap();
    let s = letterbox.size_px as usize;
    assert_eq!(input.dims(), &[raws.len(), 3, s, s]);
    let got: Vec<f32> = input
        .to_device(&candle_core::Device::Cpu)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1()
        .unwrap();
    let (params, _) = lookout::cuda::layout::plan_batch(raws, letterbox).unwrap();
    let plane = 3 * s * s;
    raws.iter()
        .enumerate()
        .map(|(i, raw)| {
            let mut want = Vec::new();
            let rgb = lookout::image_codec::decode_raw(*raw).unwrap();
            let t = letterbox.apply_into(&rgb, &mut want).unwrap();
            assert_eq!(t, transforms[i], "camera {i}");
            assert_eq!(t, params[i].image_from_model, "camera {i}");
            (got[i * plane..(i + 1) * plane].to_vec(), want)
        })
        .collect()
}
