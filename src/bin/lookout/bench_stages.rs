//! `lookout bench-stages`: camera bytes to final boxes on the host through
//! [`Detector::detect_batch`], per stage and end to end, at several batch sizes, on any device
//! (`cpu` or `cuda:N`). It is the GPU benchmark of `scripts/gpu-check.sh`, and on a CPU it
//! gives the same stage split for comparison (so it is in every build; only the
//! kernel-architecture note of its JSON needs the `cuda` feature).
//!
//! Two kinds of timed runs, after untimed warm-up runs:
//! * staged: the device is synchronised after each stage (upload, preprocess, forward,
//!   decode+NMS, download), so each stage's time is its own;
//! * end to end: no synchronisation but the final download, which is what a caller sees;
//!   frames/s = batch / end-to-end p50.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use clap::Args;
use lookout::config::DeviceSpec;
use lookout::detect::{BatchTimings, Detector, ModelKind, Precision};
use lookout::image_codec::RawImageRef;
use lookout::stats::{LatencySummary, LatencyWindow};
use lookout::RgbImage;
use serde::Serialize;

use crate::config_args::{value_name, ConfigArgs};

#[derive(Args)]
pub struct BenchStagesArgs {
    /// Device: cpu or cuda:N (CUDA needs a `--features cuda` build).
    #[arg(long, default_value = "cpu")]
    device: DeviceSpec,
    /// Model.
    #[arg(long, value_enum, default_value_t = ModelKind::Yolov4Tiny)]
    model: ModelKind,
    /// The YOLOX ONNX file (`--model yolox` only: `detector.onnx_path`).
    #[arg(long)]
    onnx: Option<PathBuf>,
    /// Network precision (f16: CUDA only).
    #[arg(long, value_enum, default_value_t = Precision::F32)]
    precision: Precision,
    /// Network input size in pixels.
    #[arg(long, default_value_t = 416, value_parser = crate::cli_values::input_size_px)]
    input_size: u32,
    /// Batch sizes (comma-separated, each in [1, 64]), each a batch of copies of the camera frame.
    #[arg(long, value_delimiter = ',', default_value = "1,8", value_parser = crate::cli_values::batch)]
    batch: Vec<usize>,
    /// Camera frame size, WIDTHxHEIGHT, each side at most 8192; the frame is
    /// data/darknet/person.jpg resized, as bgr8.
    #[arg(long, default_value = "1920x1080", value_parser = crate::cli_values::frame_size)]
    frame: (u32, u32),
    /// Untimed warm-up runs per batch size.
    #[arg(long, default_value_t = 20, value_parser = crate::cli_values::warmup)]
    warmup: usize,
    /// Timed runs per batch size (each of staged and end-to-end), at least 1.
    #[arg(long, default_value_t = 200, value_parser = crate::cli_values::runs)]
    runs: usize,
    /// Write the results as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
}

pub fn run(args: BenchStagesArgs) -> anyhow::Result<ExitCode> {
    let (width, height) = args.frame;
    // Through the parameter file's overrides, so the same validation applies as for `replay`.
    let mut overrides = vec![
        format!("device={}", args.device),
        format!("detector.model={}", value_name(&args.model)),
        format!("detector.precision={}", value_name(&args.precision)),
        format!("detector.input_size_px={}", args.input_size),
    ];
    if let Some(onnx) = &args.onnx {
        overrides.push(format!("detector.onnx_path={}", onnx.display()));
    }
    let config = ConfigArgs::defaults_with(overrides).load(Vec::new())?;
    let device = lookout::engine::select_device(config.device)?;
    let started = Instant::now();
    let detector = Detector::load(&config.detector, &device)?;
    let image_path = lookout::assets::verified_path("data/darknet/person.jpg")?;
    let bytes = std::fs::read(&image_path)
        .with_context(|| format!("cannot read {}", image_path.display()))?;
    let image = lookout::image_codec::decode_compressed("", &bytes)
        .with_context(|| format!("cannot decode {}", image_path.display()))?;
    let frame = RawFrame::bgr8_from(&image, width, height)?;
    let options = StageBenchOptions {
        batches: args.batch.clone(),
        warmup: args.warmup,
        runs: args.runs,
        frame,
    };
    println!(
        "{} on {} ({:?}), input {} px, {}x{} bgr8 frames, {} warm-up + {} timed runs per batch; \
         model loaded in {:.0} ms",
        args.model.name(),
        config.device,
        config.detector.precision,
        args.input_size,
        width,
        height,
        args.warmup,
        args.runs,
        started.elapsed().as_secs_f64() * 1e3
    );
    println!("{TABLE_HEADER}");
    let results = run_batches(&detector, &options)?;
    for r in &results {
        println!("{r}");
    }
    if let Some(path) = args.json {
        let json = serde_json::json!({
            "device": config.device,
            "model": args.model.name(),
            "precision": config.detector.precision,
            "input_size_px": args.input_size,
            "frame": {"width": width, "height": height, "encoding": "bgr8"},
            "cuda_architectures": cuda_architectures(),
            "results": results,
        });
        std::fs::write(&path, serde_json::to_string_pretty(&json)?)
            .with_context(|| format!("cannot write {}", path.display()))?;
        println!("results: {}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// The compute capabilities this build's kernels were compiled for (empty without CUDA).
fn cuda_architectures() -> &'static str {
    #[cfg(feature = "cuda")]
    {
        lookout::cuda::device::ARCHITECTURES
    }
    #[cfg(not(feature = "cuda"))]
    {
        ""
    }
}

/// What to run.
#[derive(Debug, Clone)]
struct StageBenchOptions {
    /// Batch sizes, each measured in turn.
    batches: Vec<usize>,
    warmup: usize,
    runs: usize,
    /// The camera frame every batch item gets (already at the camera resolution).
    frame: RawFrame,
}

/// An owned camera frame in one of `decode_raw`'s encodings.
#[derive(Debug, Clone)]
struct RawFrame {
    encoding: String,
    width: u32,
    height: u32,
    step: u32,
    data: Vec<u8>,
}

impl RawFrame {
    /// `image` resized (bilinear) to `width x height` and stored as `bgr8`, as most cameras
    /// deliver.
    fn bgr8_from(image: &RgbImage, width: u32, height: u32) -> anyhow::Result<Self> {
        let buffer = image::RgbImage::from_raw(image.width, image.height, image.data.clone())
            .ok_or_else(|| {
                anyhow::anyhow!(
                    "image {}x{} with {} bytes: data length is not 3 * width * height",
                    image.width,
                    image.height,
                    image.data.len()
                )
            })?;
        let resized = image::imageops::resize(
            &buffer,
            width,
            height,
            image::imageops::FilterType::Triangle,
        );
        let mut data = resized.into_raw();
        for px in data.chunks_exact_mut(3) {
            px.swap(0, 2);
        }
        Ok(Self {
            encoding: "bgr8".into(),
            width,
            height,
            step: width * 3,
            data,
        })
    }

    fn as_ref(&self) -> RawImageRef<'_> {
        RawImageRef {
            encoding: &self.encoding,
            width: self.width,
            height: self.height,
            step: self.step,
            is_bigendian: false,
            data: &self.data,
        }
    }
}

/// One batch size's numbers (milliseconds per batch).
#[derive(Debug, Clone, Serialize)]
struct StageBenchResult {
    batch: usize,
    upload: LatencySummary,
    preprocess: LatencySummary,
    forward: LatencySummary,
    decode_nms: LatencySummary,
    download: LatencySummary,
    /// Camera bytes in to boxes on the host, without per-stage synchronisation.
    end_to_end: LatencySummary,
    /// `batch * 1000 / end_to_end.p50_ms`.
    frames_per_s: f64,
    /// Detections in the first image (a sanity check that the work is real).
    detections_first_image: usize,
}

/// Runs the benchmark for every batch size of `options`.
fn run_batches(
    detector: &Detector,
    options: &StageBenchOptions,
) -> anyhow::Result<Vec<StageBenchResult>> {
    let mut results = Vec::new();
    for &batch in &options.batches {
        let frames: Vec<RawImageRef<'_>> =
            (0..batch.max(1)).map(|_| options.frame.as_ref()).collect();
        for _ in 0..options.warmup {
            detector.detect_batch(&frames, true)?;
            detector.detect_batch(&frames, false)?;
        }
        let window = || LatencyWindow::new(options.runs.max(1));
        let (mut up, mut pre, mut fwd, mut dec, mut down, mut e2e) =
            (window(), window(), window(), window(), window(), window());
        let mut detections_first_image = 0;
        for _ in 0..options.runs.max(1) {
            let (detections, t): (_, BatchTimings) = detector.detect_batch(&frames, true)?;
            detections_first_image = detections.first().map_or(0, Vec::len);
            up.push(t.upload);
            pre.push(t.preprocess);
            fwd.push(t.forward);
            dec.push(t.decode_nms);
            down.push(t.download);
        }
        for _ in 0..options.runs.max(1) {
            let started = Instant::now();
            detector.detect_batch(&frames, false)?;
            e2e.push(started.elapsed());
        }
        let end_to_end = e2e.summary();
        let frames_per_s = if end_to_end.p50_ms > 0.0 {
            frames.len() as f64 * 1000.0 / end_to_end.p50_ms
        } else {
            0.0
        };
        results.push(StageBenchResult {
            batch: frames.len(),
            upload: up.summary(),
            preprocess: pre.summary(),
            forward: fwd.summary(),
            decode_nms: dec.summary(),
            download: down.summary(),
            end_to_end,
            frames_per_s,
            detections_first_image,
        });
    }
    Ok(results)
}

/// The header of [`StageBenchResult`]'s table rows.
const TABLE_HEADER: &str =
    "batch  upload  preproc  forward  dec+nms  download   (p50 ms, synchronised)  \
     end-to-end p50 / p99 ms   frames/s  dets";

impl std::fmt::Display for StageBenchResult {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:>5} {:>7.3} {:>8.3} {:>8.3} {:>8.3} {:>9.3}   {:>23}  {:>9.3} / {:>7.3}   {:>8.1}  {:>4}",
            self.batch,
            self.upload.p50_ms,
            self.preprocess.p50_ms,
            self.forward.p50_ms,
            self.decode_nms.p50_ms,
            self.download.p50_ms,
            "",
            self.end_to_end.p50_ms,
            self.end_to_end.p99_ms,
            self.frames_per_s,
            self.detections_first_image
        )
    }
}
