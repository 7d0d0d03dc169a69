//! Detector benchmarks: darknet forward pass of both shipped models at 416 px on the CPU, their
//! load time, the letterbox of a 768x576 frame, YOLO decoding of real head outputs, and class-aware NMS.
//!
//! Run: `cargo bench --bench detector` (needs the assets: scripts/fetch-assets.sh).
//! `RAYON_NUM_THREADS` sets the thread count (candle's, gemm's and lookout's CPU kernels').
//!
//! Per-layer profile instead of the criterion runs:
//! `LOOKOUT_LAYER_PROFILE=kernels|candle cargo bench --bench detector` prints each layer's
//! median time over 20 forwards of both models (`candle` = candle's own CPU ops).

use std::hint::black_box;

use candle_core::{Device, Tensor};
use criterion::{criterion_group, Criterion};
use lookout::darknet::Darknet;
use lookout::detect::{decode_heads, nms, Candidate, ClassPolicy, ModelKind};
use lookout::preprocess::Letterbox;
use lookout::{BBox, RgbImage};

const SIZE_PX: u32 = 416;

fn dog() -> RgbImage {
    let path = cache_dir().join("data/darknet/dog.jpg");
    let img = image::open(&path)
        .unwrap_or_else(|e| panic!("{}: {e}; run scripts/fetch-assets.sh", path.display()))
        .to_rgb8();
    RgbImage {
        width: img.width(),
        height: img.height(),
        data: img.into_raw(),
    }
}

fn load(kind: ModelKind) -> Darknet {
    let dir = cache_dir().join("models").join(kind.name());
    Darknet::load(
        &dir.join(format!("{}.cfg", kind.name())),
        &dir.join(format!("{}.weights", kind.name())),
        &Device::Cpu,
    )
    .unwrap_or_else(|e| panic!("{e}; run scripts/fetch-assets.sh"))
}

fn input(img: &RgbImage) -> Tensor {
    let (blob, _) = Letterbox::new(SIZE_PX).apply(img).unwrap();
    let s = SIZE_PX as usize;
    Tensor::from_vec(blob, (1, 3, s, s), &Device::Cpu).unwrap()
}

fn forward(c: &mut Criterion) {
    let img = dog();
    let x = input(&img);
    let mut group = c.benchmark_group("forward_416");
    group.sample_size(10);
    for kind in [ModelKind::Yolov4Tiny, ModelKind::Yolov3Tiny] {
        let net = load(kind);
        group.bench_function(kind.name(), |b| {
            b.iter(|| black_box(net.forward(black_box(&x)).unwrap()))
        });
    }
    group.finish();
}

/// Model load (cfg, weights, batch-norm folding, Winograd kernel transform): the start-up
/// before the first frame.
fn load_model(c: &mut Criterion) {
    let mut group = c.benchmark_group("load");
    group.sample_size(10);
    for kind in [ModelKind::Yolov4Tiny, ModelKind::Yolov3Tiny] {
        group.bench_function(kind.name(), |b| b.iter(|| black_box(load(kind))));
    }
    group.finish();
}

fn letterbox(c: &mut Criterion) {
    let img = dog();
    let lb = Letterbox::new(SIZE_PX);
    let mut buf = Vec::new();
    c.bench_function("letterbox_768x576_to_416", |b| {
        b.iter(|| black_box(lb.apply_into(black_box(&img), &mut buf).unwrap()))
    });
}

fn decode(c: &mut Criterion) {
    let img = dog();
    let net = load(ModelKind::Yolov4Tiny);
    let heads = net.forward(&input(&img)).unwrap();
    c.bench_function("decode_yolov4-tiny_416", |b| {
        b.iter(|| black_box(decode_heads(black_box(&heads), 0, 0.25, ClassPolicy::Argmax).unwrap()))
    });
}

/// Deterministic candidates: clusters of overlapping boxes over 80 classes.
fn synthetic_candidates(n: usize) -> Vec<Candidate> {
    let mut state = 0x2545_f491u32;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        state as f32 / u32::MAX as f32
    };
    (0..n)
        .map(|i| {
            let cluster = (i / 10) as f32;
            let x = (cluster * 37.0) % 380.0 + next() * 8.0;
            let y = (cluster * 53.0) % 380.0 + next() * 8.0;
            Candidate {
                bbox_model: BBox::from_tlwh(x, y, 30.0 + next() * 10.0, 60.0 + next() * 10.0),
                class_index: (i / 10) % 80,
                score: 0.25 + 0.75 * next(),
            }
        })
        .collect()
}

fn nms_bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("nms");
    for n in [100usize, 1000] {
        let cands = synthetic_candidates(n);
        group.bench_function(format!("{n}_candidates"), |b| {
            b.iter(|| black_box(nms(black_box(cands.clone()), 0.45)))
        });
    }
    group.finish();
}

/// Median per-layer times of both models; `kernels` false = candle's own CPU ops.
fn layer_profile(kernels: bool) {
    let x = input(&dog());
    for kind in [ModelKind::Yolov4Tiny, ModelKind::Yolov3Tiny] {
        let net = load(kind).with_cpu_kernels(kernels);
        let runs = 20;
        let mut per_layer: Vec<Vec<f64>> = Vec::new();
        let mut totals = Vec::new();
        for i in 0..runs + 3 {
            let t = std::time::Instant::now();
            let (_, times) = net.forward_profiled(&x).unwrap();
            let total = t.elapsed().as_secs_f64() * 1e3;
            if i < 3 {
                continue;
            }
            per_layer.resize(times.len(), Vec::new());
            for (v, t) in per_layer.iter_mut().zip(&times) {
                v.push(t.as_secs_f64() * 1e3);
            }
            totals.push(total);
        }
        let median = |v: &mut Vec<f64>| {
            v.sort_by(f64::total_cmp);
            v[v.len() / 2]
        };
        let total = median(&mut totals);
        println!(
            "\n{} (kernels: {kernels}), forward median {total:.1} ms, min {:.1} ms",
            kind.name(),
            totals[0]
        );
        // The minimum too: on a shared machine it is the least disturbed run of each layer.
        println!("| layer | op | median ms | min ms | share |");
        println!("|---|---|---|---|---|");
        for (i, (v, d)) in per_layer
            .iter_mut()
            .zip(net.layer_descriptions())
            .enumerate()
        {
            let m = median(v);
            println!(
                "| {i} | {d} | {m:.2} | {:.2} | {:.0}% |",
                v[0],
                100.0 * m / total
            );
        }
    }
}

criterion_group!(benches, forward, load_model, letterbox, decode, nms_bench);

fn main() {
    match std::env::var("LOOKOUT_LAYER_PROFILE").as_deref() {
        Ok("candle") => layer_profile(false),
        Ok(_) => layer_profile(true),
        Err(_) => {
            benches();
            Criterion::default().configure_from_args().final_summary();
        }
    }
}

fn cache_dir() -> std::path::PathBuf {
    lookout::assets::cache_dir().expect("no asset cache: set LOOKOUT_CACHE or HOME")
}
