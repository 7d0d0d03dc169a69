//! lookout's CUDA kernels (src/cuda/kernels.cu) run on the CPU by an emulation harness
//! (tests/cuda_emu/harness.cpp, built here with the system C++ compiler), compared with the
//! CPU code they mirror. This runs on every machine, GPU or not: it checks the kernels'
//! indexing, colour conversion, letterbox arithmetic, decoding, sort order, top-k and NMS
//! against `decode_raw` + `Letterbox::apply_into`, `decode_head` and `nms_limited`, bit for bit
//! (same operations, no FMA contraction, the same libm `expf`), and YOLOX's variants (the
//! YOLOX letterbox on camera bytes of every encoding and on real frames, `decode_yolox_head`
//! on a hand-made head and, when the ONNX file is there, on yolox_nano's heads of a frame). What only a GPU shows (races, launch limits, the device's `expf`) is
//! tests/cuda_parity.rs's and tests/yolox_cuda_parity.rs's job on a GPU.
//!
//! The real-frame check needs the assets (scripts/fetch-assets.sh) and ffmpeg (scripts/setup.sh),
//! as tests/detector_parity.rs does.

mod detect_common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use lookout::cuda::layout::{output_stride, plan_batch, read_output_block, CAND_LEN};
use lookout::detect::{
    decode_head, decode_yolox_head, nms_limited, Candidate, ClassPolicy, HeadGeometry,
};
use lookout::image_codec::{decode_raw, RawImageRef};
use lookout::preprocess::{Letterbox, LetterboxStyle};
use lookout::RgbImage;

use detect_common::{asset, read_f32, video_frames, yolox_onnx};

/// SplitMix64: seeded test data without a dependency.
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next_u64() as u8).collect()
    }
    /// Uniform in `[lo, hi)`.
    fn uniform(&mut self, lo: f32, hi: f32) -> f32 {
        lo + (hi - lo) * ((self.next_u64() >> 40) as f32 / (1u64 << 24) as f32)
    }
}

fn work_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("lookout-cuda-emu-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    })
}

/// Builds the harness once per test process.
fn harness() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let bin = work_dir().join("harness");
        let cxx = std::env::var("CXX").unwrap_or_else(|_| "c++".into());
        // The kernels take their layout constants from the Rust side, as build.rs gives them
        // to nvcc.
        let defines = lookout::cuda::kernel_defines().map(|(name, value)| format!("-D{name}=({value})"));
        let out = Command::new(&cxx)
            .args(["-std=c++17", "-O2", "-ffp-contract=off"])
            .args(defines)
            .arg("-o")
            .arg(&bin)
            .arg(root.join("tests/cuda_emu/harness.cpp"))
            .output()
            .unwrap_or_else(|e| {
                panic!("cannot run the C++ compiler `{cxx}` ({e}): run scripts/setup.sh (installs g++)")
            });
        assert!(
            out.status.success(),
            "building the kernel emulation harness failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        bin
    })
}

fn write<T: Copy>(name: &str, values: &[T]) -> PathBuf {
    let path = work_dir().join(name);
    // SAFETY: plain-old-data slices (u8, i32, i64, f32) viewed as bytes.
    let bytes = unsafe {
        std::slice::from_raw_parts(values.as_ptr().cast::<u8>(), std::mem::size_of_val(values))
    };
    std::fs::write(&path, bytes).unwrap();
    path
}

/// Frame `n` of vtest.avi (768x576, PETS09-S2L1).
fn vtest_frame(n: u32) -> RgbImage {
    video_frames(&[n]).remove(0).1
}

fn read_i32(path: &Path) -> Vec<i32> {
    std::fs::read(path)
        .unwrap()
        .chunks_exact(4)
        .map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

fn run(args: &[&dyn AsRef<std::ffi::OsStr>]) {
    let mut cmd = Command::new(harness());
    for a in args {
        cmd.arg(a);
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "harness {:?} failed: {}",
        cmd,
        String::from_utf8_lossy(&out.stderr)
    );
}

struct Camera {
    encoding: &'static str,
    width: u32,
    height: u32,
    step: u32,
    big_endian: bool,
    data: Vec<u8>,
}

fn camera(rng: &mut Rng, encoding: &'static str, width: u32, height: u32, pad: u32) -> Camera {
    let bpp = match encoding {
        "rgb8" | "bgr8" => 3,
        "rgba8" | "bgra8" => 4,
        "mono16" | "uyvy" | "yuv422" | "yuyv" | "yuv422_yuy2" => 2,
        _ => 1,
    };
    let step = width * bpp + pad;
    Camera {
        encoding,
        width,
        height,
        step,
        big_endian: encoding == "mono16" && width % 2 == 1,
        data: rng.bytes((step * height) as usize),
    }
}

fn raw_refs(cams: &[Camera]) -> Vec<RawImageRef<'_>> {
    cams.iter()
        .map(|c| RawImageRef {
            encoding: c.encoding,
            width: c.width,
            height: c.height,
            step: c.step,
            is_bigendian: c.big_endian,
            data: &c.data,
        })
        .collect()
}

/// One camera of every encoding (odd sizes, padded rows, 1-pixel edges).
fn every_encoding(rng: &mut Rng) -> Vec<Camera> {
    vec![
        camera(rng, "rgb8", 37, 23, 0),
        camera(rng, "bgr8", 40, 61, 5),
        camera(rng, "rgba8", 33, 33, 3),
        camera(rng, "bgra8", 64, 20, 0),
        camera(rng, "mono8", 1, 9, 2),
        camera(rng, "mono16", 15, 4, 1),
        camera(rng, "mono16", 16, 4, 0),
        camera(rng, "uyvy", 38, 17, 4),
        camera(rng, "yuyv", 12, 30, 0),
        camera(rng, "bayer_rggb8", 21, 13, 3),
        camera(rng, "bayer_bggr8", 2, 2, 0),
        camera(rng, "bayer_gbrg8", 30, 1, 0),
        camera(rng, "bayer_grbg8", 45, 29, 7),
        camera(rng, "rgb8", 7, 1, 0),
    ]
}

/// Runs the preprocessing kernel of `letterbox`'s style on `raws` and checks each camera
/// against `decode_raw` + `Letterbox::apply_into` bit for bit.
fn check_preprocess(raws: &[RawImageRef<'_>], letterbox: Letterbox) {
    let size = letterbox.size_px;
    let (params, total) = plan_batch(raws, letterbox).unwrap();
    let mut bytes = vec![0u8; total];
    for (raw, p) in raws.iter().zip(&params) {
        let at = p.row[0] as usize;
        bytes[at..at + raw.data.len()].copy_from_slice(raw.data);
    }
    let rows: Vec<i64> = params.iter().flat_map(|p| p.row).collect();
    let kernel = match letterbox.style {
        LetterboxStyle::Darknet => "preprocess",
        LetterboxStyle::Yolox => "preprocess_yolox",
    };
    // Tests run in parallel: each call its own files.
    static CALL: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let tag = CALL.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let b = write(&format!("pre{tag}_bytes.bin"), &bytes);
    let p = write(&format!("pre{tag}_params.bin"), &rows);
    let out = work_dir().join(format!("pre{tag}_out.bin"));
    let n = raws.len().to_string();
    let s = size.to_string();
    run(&[&kernel, &b, &p, &n, &s, &out]);
    let got = read_f32(&out);
    let plane = 3 * (size * size) as usize;
    assert_eq!(got.len(), raws.len() * plane);
    for (i, (raw, p)) in raws.iter().zip(&params).enumerate() {
        let rgb = decode_raw(*raw).unwrap();
        let mut want = Vec::new();
        let transform = letterbox.apply_into(&rgb, &mut want).unwrap();
        assert_eq!(transform, p.image_from_model, "camera {i} transform");
        let mine = &got[i * plane..(i + 1) * plane];
        let diff = mine
            .iter()
            .zip(&want)
            .position(|(a, b)| a.to_bits() != b.to_bits());
        assert_eq!(
            diff,
            None,
            "{kernel}: camera {i} ({} {}x{}) at size {size}: first difference at {:?}: kernel \
             {:?}, cpu {:?}",
            raw.encoding,
            raw.width,
            raw.height,
            diff,
            diff.map(|d| mine[d]),
            diff.map(|d| want[d])
        );
    }
}

#[test]
fn preprocess_kernel_equals_decode_raw_then_letterbox_bit_for_bit() {
    let mut rng = Rng(7);
    let cams = every_encoding(&mut rng);
    let raws = raw_refs(&cams);
    for size in [32u32, 64] {
        check_preprocess(&raws, Letterbox::new(size));
    }
}

#[test]
fn yolox_preprocess_kernel_equals_the_yolox_letterbox_bit_for_bit() {
    let mut rng = Rng(17);
    let cams = every_encoding(&mut rng);
    let raws = raw_refs(&cams);
    // 32 and 64 upscale every camera; 16 downscales most of them.
    for size in [16u32, 32, 64] {
        check_preprocess(&raws, Letterbox::yolox(size));
    }
}

#[test]
fn yolox_preprocess_kernel_equals_the_cpu_on_real_frames() {
    let frame = vtest_frame(150);
    let jpeg = std::fs::read(asset("data/darknet/dog.jpg")).unwrap();
    let dog = lookout::image_codec::decode_compressed("", &jpeg).unwrap();
    // The frame as a camera sends it (bgr8), and the photo as rgb8.
    let bgr: Vec<u8> = frame
        .data
        .chunks_exact(3)
        .flat_map(|p| [p[2], p[1], p[0]])
        .collect();
    let raws = [
        RawImageRef {
            encoding: "bgr8",
            width: frame.width,
            height: frame.height,
            step: frame.width * 3,
            is_bigendian: false,
            data: &bgr,
        },
        RawImageRef::from_rgb(&dog),
    ];
    // nano's 416 (downscaled) and s's 640 (a 576-row frame upscaled).
    for size in [416u32, 640] {
        check_preprocess(&raws, Letterbox::yolox(size));
    }
}

/// A head with clustered, overlapping boxes so that NMS has work, for `images` images.
fn head(rng: &mut Rng, g: &HeadGeometry, images: usize) -> Vec<f32> {
    let entries = 5 + g.classes;
    let plane = g.grid_w * g.grid_h;
    let per_image = g.anchors.len() * entries * plane;
    let mut data = vec![0f32; images * per_image];
    for image in 0..images {
        for a in 0..g.anchors.len() {
            for loc in 0..plane {
                let at = |e: usize| image * per_image + (a * entries + e) * plane + loc;
                data[at(0)] = rng.uniform(-2.0, 2.0);
                data[at(1)] = rng.uniform(-2.0, 2.0);
                data[at(2)] = rng.uniform(-0.5, 1.5);
                data[at(3)] = rng.uniform(-0.5, 1.5);
                // most cells confident: many candidates, many overlaps
                data[at(4)] = rng.uniform(-3.0, 6.0);
                for c in 0..g.classes {
                    data[at(5 + c)] = rng.uniform(-4.0, 4.0);
                }
            }
        }
    }
    data
}

#[test]
fn decode_and_nms_kernels_equal_decode_head_and_nms_limited() {
    let mut rng = Rng(11);
    let images = 3;
    let heads = [
        HeadGeometry {
            grid_w: 7,
            grid_h: 5,
            anchors: vec![(30.0, 40.0), (60.0, 45.0), (90.0, 120.0)],
            classes: 6,
            scale_x_y: 1.05,
            input_w_px: 224,
            input_h_px: 160,
        },
        HeadGeometry {
            grid_w: 14,
            grid_h: 10,
            anchors: vec![(10.0, 14.0), (23.0, 27.0), (37.0, 58.0)],
            classes: 6,
            scale_x_y: 1.05,
            input_w_px: 224,
            input_h_px: 160,
        },
    ];
    let data: Vec<Vec<f32>> = heads.iter().map(|g| head(&mut rng, g, images)).collect();
    let allowed = [1u8, 0, 1, 1, 0, 1];
    let confidence_min = 0.3f32;
    let capacity = 4096usize;

    // CPU reference per image: all heads, class filter, then NMS with the limits.
    let cpu = |policy: ClassPolicy,
               image: usize,
               top_k: usize,
               max_out: usize,
               iou_max: f32|
     -> Vec<Candidate> {
        let mut c = Vec::new();
        for (g, d) in heads.iter().zip(&data) {
            let per = d.len() / images;
            decode_head(
                &d[image * per..(image + 1) * per],
                g,
                confidence_min,
                policy,
                &mut c,
            )
            .unwrap();
        }
        c.retain(|c| allowed[c.class_index] == 1);
        nms_limited(c, iou_max, top_k, max_out)
    };

    // The kernels: decode every head into one candidate buffer, then sort + NMS.
    let kernel_decode = |policy: ClassPolicy| -> (Vec<f32>, Vec<i32>) {
        let mut cand = vec![0f32; images * capacity * CAND_LEN];
        let mut count = vec![0i32; images];
        for (h, (g, d)) in heads.iter().zip(&data).enumerate() {
            let anchors: Vec<f32> = g.anchors.iter().flat_map(|&(w, h)| [w, h]).collect();
            let c = write("dec_cand.bin", &cand);
            let n = write("dec_count.bin", &count);
            run(&[
                &"decode",
                &write(&format!("dec_head{h}.bin"), d),
                &write("dec_anchors.bin", &anchors),
                &g.anchors.len().to_string(),
                &g.classes.to_string(),
                &g.grid_w.to_string(),
                &g.grid_h.to_string(),
                &(g.input_w_px as f32 / g.grid_w as f32).to_string(),
                &(g.input_h_px as f32 / g.grid_h as f32).to_string(),
                &g.scale_x_y.to_string(),
                &confidence_min.to_string(),
                &i32::from(policy == ClassPolicy::MultiLabel).to_string(),
                &write("dec_allowed.bin", &allowed),
                &images.to_string(),
                &capacity.to_string(),
                &c,
                &n,
            ]);
            cand = read_f32(&c);
            count = read_i32(&n);
        }
        (cand, count)
    };

    // Argmax (the default): one candidate per box, the best class before the class filter.
    let (argmax_cand, argmax_count) = kernel_decode(ClassPolicy::Argmax);
    let (cand, count) = kernel_decode(ClassPolicy::MultiLabel);
    for (image, (&n, &n_argmax)) in count.iter().zip(&argmax_count).enumerate() {
        let all = cpu(ClassPolicy::MultiLabel, image, usize::MAX, usize::MAX, 1.0);
        assert_eq!(n as usize, all.len(), "image {image}: candidates decoded");
        assert!(all.len() > 40, "test data should give many candidates");
        let best = cpu(ClassPolicy::Argmax, image, usize::MAX, usize::MAX, 1.0);
        assert_eq!(
            n_argmax as usize,
            best.len(),
            "image {image}: argmax candidates"
        );
        assert!(
            best.len() > 10 && best.len() < all.len(),
            "argmax should keep fewer candidates than multi-label ({} of {})",
            best.len(),
            all.len()
        );
    }
    let out = work_dir().join("nms_argmax.bin");
    run(&[
        &"sort_nms",
        &write("nms_cand.bin", &argmax_cand),
        &write("nms_count.bin", &argmax_count),
        &images.to_string(),
        &capacity.to_string(),
        &4096.to_string(),
        &0.45f32.to_string(),
        &4096.to_string(),
        &out,
    ]);
    let got = read_f32(&out);
    let stride = output_stride(4096);
    for image in 0..images {
        let kernel = read_output_block(&got[image * stride..(image + 1) * stride]).unwrap();
        let want = cpu(ClassPolicy::Argmax, image, 4096, 4096, 0.45);
        assert!(!want.is_empty());
        assert_eq!(kernel, want, "argmax, image {image}");
    }

    for (top_k, max_out, iou_max) in [(4096, 4096, 0.45f32), (25, 300, 0.45), (4096, 5, 0.3)] {
        let out = work_dir().join("nms_out.bin");
        run(&[
            &"sort_nms",
            &write("nms_cand.bin", &cand),
            &write("nms_count.bin", &count),
            &images.to_string(),
            &capacity.to_string(),
            &top_k.to_string(),
            &iou_max.to_string(),
            &max_out.to_string(),
            &out,
        ]);
        let got = read_f32(&out);
        let stride = output_stride(max_out);
        assert_eq!(got.len(), images * stride);
        for image in 0..images {
            let kernel = read_output_block(&got[image * stride..(image + 1) * stride]).unwrap();
            let want = cpu(ClassPolicy::MultiLabel, image, top_k, max_out, iou_max);
            assert!(!want.is_empty());
            assert_eq!(
                kernel, want,
                "image {image}, top_k {top_k}, max_out {max_out}, iou_max {iou_max}"
            );
        }
    }

    // More candidates than the buffer holds: flagged, not silently truncated.
    let small = 16usize;
    let mut few = vec![0f32; images * small * CAND_LEN];
    for i in 0..images {
        few[i * small * CAND_LEN..(i + 1) * small * CAND_LEN].copy_from_slice(
            &cand[i * capacity * CAND_LEN..i * capacity * CAND_LEN + small * CAND_LEN],
        );
    }
    let out = work_dir().join("nms_overflow.bin");
    run(&[
        &"sort_nms",
        &write("nms_few.bin", &few),
        &write("nms_count.bin", &count),
        &images.to_string(),
        &small.to_string(),
        &"100",
        &"0.45",
        &"10",
        &out,
    ]);
    let got = read_f32(&out);
    for image in 0..images {
        assert!(read_output_block(&got[image * output_stride(10)..]).is_none());
    }
}

/// A YOLOX head of `images` images (`(5 + classes) x gh x gw` each) as the network gives it:
/// raw box values, objectness and class probabilities in `[0, 1]`, most cells confident, with
/// nearby cells predicting overlapping boxes (so NMS has work) and some exact class ties.
fn yolox_head(
    rng: &mut Rng,
    classes: usize,
    grid_w: usize,
    grid_h: usize,
    images: usize,
) -> Vec<f32> {
    let plane = grid_w * grid_h;
    let per_image = (5 + classes) * plane;
    let mut data = vec![0f32; images * per_image];
    for image in 0..images {
        for loc in 0..plane {
            let at = |e: usize| image * per_image + e * plane + loc;
            data[at(0)] = rng.uniform(-0.5, 1.5);
            data[at(1)] = rng.uniform(-0.5, 1.5);
            data[at(2)] = rng.uniform(0.0, 2.0);
            data[at(3)] = rng.uniform(0.0, 2.0);
            data[at(4)] = rng.uniform(0.0, 1.0);
            for c in 0..classes {
                data[at(5 + c)] = rng.uniform(0.0, 1.0);
            }
            if loc % 7 == 0 {
                // a tie: argmax takes the first
                data[at(5 + classes - 1)] = data[at(5)];
            }
        }
    }
    data
}

#[test]
fn yolox_decode_and_nms_kernels_equal_decode_yolox_head_and_nms_limited() {
    let mut rng = Rng(23);
    let images = 2;
    let classes = 5;
    // A 128 x 96 input: strides 8, 16, 32.
    let grids = [(16usize, 12usize, 8usize), (8, 6, 16), (4, 3, 32)];
    let data: Vec<Vec<f32>> = grids
        .iter()
        .map(|&(gw, gh, _)| yolox_head(&mut rng, classes, gw, gh, images))
        .collect();
    let allowed = [1u8, 1, 0, 1, 1];
    let confidence_min = 0.25f32;
    let capacity = 4096usize;

    let cpu = |policy: ClassPolicy, image: usize, top_k: usize, max_out: usize, iou_max: f32| {
        let mut c: Vec<Candidate> = Vec::new();
        for (&(gw, gh, stride), d) in grids.iter().zip(&data) {
            let per = d.len() / images;
            decode_yolox_head(
                &d[image * per..(image + 1) * per],
                gw,
                gh,
                stride,
                classes,
                confidence_min,
                policy,
                &mut c,
            )
            .unwrap();
        }
        c.retain(|c| allowed[c.class_index] == 1);
        nms_limited(c, iou_max, top_k, max_out)
    };
    let kernel_decode = |policy: ClassPolicy| -> (Vec<f32>, Vec<i32>) {
        let mut cand = vec![0f32; images * capacity * CAND_LEN];
        let mut count = vec![0i32; images];
        for (h, (&(gw, gh, stride), d)) in grids.iter().zip(&data).enumerate() {
            let c = write("ydec_cand.bin", &cand);
            let n = write("ydec_count.bin", &count);
            run(&[
                &"yolox_decode",
                &write(&format!("ydec_head{h}.bin"), d),
                &classes.to_string(),
                &gw.to_string(),
                &gh.to_string(),
                &(stride as f32).to_string(),
                &confidence_min.to_string(),
                &i32::from(policy == ClassPolicy::MultiLabel).to_string(),
                &write("ydec_allowed.bin", &allowed),
                &images.to_string(),
                &capacity.to_string(),
                &c,
                &n,
            ]);
            cand = read_f32(&c);
            count = read_i32(&n);
        }
        (cand, count)
    };

    for policy in [ClassPolicy::Argmax, ClassPolicy::MultiLabel] {
        let (cand, count) = kernel_decode(policy);
        for (image, &n) in count.iter().enumerate() {
            let all = cpu(policy, image, usize::MAX, usize::MAX, 1.0);
            assert_eq!(
                n as usize,
                all.len(),
                "{policy:?}, image {image}: candidates"
            );
            assert!(all.len() > 40, "test data should give many candidates");
        }
        for (top_k, max_out, iou_max) in [(4096, 4096, 0.45f32), (30, 300, 0.45), (4096, 7, 0.3)] {
            let out = work_dir().join("ynms_out.bin");
            run(&[
                &"sort_nms",
                &write("ynms_cand.bin", &cand),
                &write("ynms_count.bin", &count),
                &images.to_string(),
                &capacity.to_string(),
                &top_k.to_string(),
                &iou_max.to_string(),
                &max_out.to_string(),
                &out,
            ]);
            let got = read_f32(&out);
            let stride = output_stride(max_out);
            for image in 0..images {
                let kernel = read_output_block(&got[image * stride..(image + 1) * stride]).unwrap();
                let want = cpu(policy, image, top_k, max_out, iou_max);
                assert!(want.len() > 1, "NMS should keep several boxes");
                assert_eq!(
                    kernel, want,
                    "{policy:?}, image {image}, top_k {top_k}, max_out {max_out}, iou_max {iou_max}"
                );
            }
        }
    }
    // Argmax keeps fewer candidates than multi-label, and never a filtered class.
    let (_, argmax_count) = kernel_decode(ClassPolicy::Argmax);
    let (_, multi_count) = kernel_decode(ClassPolicy::MultiLabel);
    assert!(argmax_count.iter().zip(&multi_count).all(|(a, m)| a < m));
}

/// The real network's heads on a vtest frame (when the ONNX file is there): the decode and
/// NMS kernels against `decode_yolox_heads` and `nms_limited` at the detector's defaults.
#[test]
fn yolox_decode_kernel_equals_the_cpu_on_real_heads() {
    let Some(onnx) = yolox_onnx() else {
        return;
    };
    let net = lookout::yolox::Yolox::load(&onnx, &candle_core::Device::Cpu).unwrap();
    let frame = vtest_frame(400);
    let (blob, _) = Letterbox::yolox(416).apply(&frame).unwrap();
    let input =
        candle_core::Tensor::from_vec(blob, (1, 3, 416, 416), &candle_core::Device::Cpu).unwrap();
    let heads = net.forward(&input).unwrap();
    let config = lookout::detect::DetectorConfig::default();
    let classes = net.classes();
    let allowed = vec![1u8; classes];
    let capacity = 8192usize;
    for policy in [ClassPolicy::Argmax, ClassPolicy::MultiLabel] {
        let mut cand = vec![0f32; capacity * CAND_LEN];
        let mut count = vec![0i32; 1];
        for (h, head) in heads.iter().enumerate() {
            let (_, _, gh, gw) = head.output.dims4().unwrap();
            let data: Vec<f32> = head.output.flatten_all().unwrap().to_vec1().unwrap();
            let c = write("rdec_cand.bin", &cand);
            let n = write("rdec_count.bin", &count);
            run(&[
                &"yolox_decode",
                &write(&format!("rdec_head{h}.bin"), &data),
                &classes.to_string(),
                &gw.to_string(),
                &gh.to_string(),
                &(head.stride_px as f32).to_string(),
                &config.confidence_min.to_string(),
                &i32::from(policy == ClassPolicy::MultiLabel).to_string(),
                &write("rdec_allowed.bin", &allowed),
                &"1",
                &capacity.to_string(),
                &c,
                &n,
            ]);
            cand = read_f32(&c);
            count = read_i32(&n);
        }
        let all =
            lookout::detect::decode_yolox_heads(&heads, 0, config.confidence_min, policy).unwrap();
        assert_eq!(count[0] as usize, all.len(), "{policy:?}: candidates");
        let out = work_dir().join("rnms_out.bin");
        run(&[
            &"sort_nms",
            &write("rnms_cand.bin", &cand),
            &write("rnms_count.bin", &count),
            &"1",
            &capacity.to_string(),
            &config.top_k.to_string(),
            &config.nms_iou_max.to_string(),
            &config.max_detections.to_string(),
            &out,
        ]);
        let got = read_f32(&out);
        let kernel = read_output_block(&got).unwrap();
        let want = nms_limited(all, config.nms_iou_max, config.top_k, config.max_detections);
        // PETS09 frame 400 has a crowd: several people survive NMS.
        assert!(want.len() >= 3, "{policy:?}: {} detections", want.len());
        assert_eq!(kernel, want, "{policy:?}");
    }
}
