//! `lookout bench`: detector forward time against OpenCV DNN (darknet models) or onnxruntime
//! (YOLOX, `--yolox-onnx`, from `scripts/python/onnx_oracle.py` in the onnx venv) on the same
//! model, input size and letterboxed image, measured in the same run, the camera-motion estimate's time per frame,
//! and end-to-end replay throughput on a recording.
//!
//! Both sides are timed the same way: network input set until the output tensors are on the
//! host, after untimed warm-up runs, with the same thread count. OpenCV runs in the oracle venv
//! (`scripts/python/opencv_oracle.py`, built into the binary, OpenCV 4.12 from PyPI) as a peer,
//! not a dependency: when the venv is absent the lookout side is still measured and the ratio
//! is reported as missing.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use candle_core::{Device, Tensor};
use clap::Args;
use lookout::detect::{Detector, DetectorConfig, DetectorModel, ModelKind};
use lookout::motion::{CameraMotion, CameraMotionConfig};
use lookout::stats::{LatencySummary, LatencyWindow};
use lookout::RgbImage;
use serde::Serialize;

use crate::config_args::ConfigArgs;

/// The OpenCV oracle, written next to its job file at run time: an installed binary has no
/// source tree to find it in.
const OPENCV_ORACLE_PY: &str = include_str!("../../../scripts/python/opencv_oracle.py");
/// The onnxruntime oracle (YOLOX's peer), written out the same way.
const ONNX_ORACLE_PY: &str = include_str!("../../../scripts/python/onnx_oracle.py");

#[derive(Args)]
pub struct BenchArgs {
    /// Models to measure (repeatable; default both darknet models, plus yolox when
    /// `--yolox-onnx` is given).
    #[arg(long = "model", value_enum)]
    models: Vec<ModelKind>,
    /// YOLOX ONNX export to measure against onnxruntime (the venv-onnx of scripts/setup.sh).
    #[arg(long)]
    yolox_onnx: Option<PathBuf>,
    /// Network input size in pixels.
    #[arg(long, default_value_t = 416, value_parser = crate::cli_values::input_size_px)]
    input_size: u32,
    /// Timed forward passes per model (after the warm-up), at least 1.
    #[arg(long, default_value_t = 20, value_parser = crate::cli_values::runs)]
    runs: usize,
    /// Untimed forward passes first.
    #[arg(long, default_value_t = 3, value_parser = crate::cli_values::warmup)]
    warmup: usize,
    /// Threads for both lookout (candle) and OpenCV.
    #[arg(long, default_value_t = 2, value_parser = crate::cli_values::threads)]
    threads: usize,
    /// Image to letterbox and run (default: the cache's data/darknet/person.jpg).
    #[arg(long)]
    image: Option<PathBuf>,
    /// Also replay this recording (to a temporary output) and report frames/s per stage.
    #[arg(long)]
    recording: Option<PathBuf>,
    /// Frames of the recording to replay (at least 1).
    #[arg(long, value_parser = crate::cli_values::frames)]
    frames: Option<u64>,
    /// Write the results as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Also print YOLOX's per-layer forward profile (median of `--runs` profiled passes on
    /// lookout's CPU kernels), grouped by kind of layer, with the slowest layers.
    #[arg(long)]
    layer_profile: bool,
}

pub fn run(args: BenchArgs) -> anyhow::Result<ExitCode> {
    // lookout's CPU kernels and gemm run on rayon's global pool: size it before first use.
    rayon::ThreadPoolBuilder::new()
        .num_threads(args.threads)
        .build_global()
        .context("cannot size the thread pool (--threads)")?;
    let models = if args.models.is_empty() {
        let mut m = vec![ModelKind::Yolov4Tiny, ModelKind::Yolov3Tiny];
        if args.yolox_onnx.is_some() {
            m.push(ModelKind::Yolox);
        }
        m
    } else {
        args.models.clone()
    };
    if models.contains(&ModelKind::Yolox) && args.yolox_onnx.is_none() {
        anyhow::bail!("--model yolox needs --yolox-onnx PATH");
    }
    let cache = lookout::assets::cache_dir()?;
    let image_path = match args.image {
        Some(p) => p,
        None => lookout::assets::verified_path("data/darknet/person.jpg")?,
    };
    let bytes = std::fs::read(&image_path)
        .with_context(|| format!("cannot read {}", image_path.display()))?;
    let image = lookout::image_codec::decode_compressed("", &bytes)
        .with_context(|| format!("cannot decode {}", image_path.display()))?;
    let python = std::env::var_os("LOOKOUT_ORACLE_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| cache.join("venv-oracle/bin/python"));
    let onnx_python = std::env::var_os("LOOKOUT_ONNX_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| cache.join("venv-onnx/bin/python"));
    let options = ForwardBenchOptions {
        models,
        yolox_onnx: args.yolox_onnx.clone(),
        onnx_python: onnx_python.is_file().then_some(onnx_python),
        input_size_px: args.input_size,
        image,
        warmup: args.warmup,
        runs: args.runs,
        threads: args.threads,
        oracle_python: python.is_file().then_some(python),
    };
    println!(
        "forward pass, {} ({}x{}), batch 1, {} warm-up + {} timed runs",
        image_path.display(),
        options.image.width,
        options.image.height,
        args.warmup,
        args.runs
    );
    println!("{FORWARD_TABLE_HEADER}");
    let results = compare_forward(&options)?;
    for r in &results {
        println!("{r}");
    }
    if args.layer_profile && options.models.contains(&ModelKind::Yolox) {
        yolox_layer_profile(&options)?;
    }
    let mut json = serde_json::json!({ "forward": results });
    let gmc = time_camera_motion(&options.image, args.warmup, args.runs.max(1) * 5);
    println!(
        "camera motion (gmc stage, one core): {}x{}, {} timed estimates: p50 {:.2} ms, p99 {:.2} ms",
        options.image.width, options.image.height, gmc.count, gmc.p50_ms, gmc.p99_ms
    );
    json["gmc"] = serde_json::to_value(gmc)?;
    if let Some(recording) = args.recording {
        let dir = tempfile::tempdir()?;
        let config =
            ConfigArgs::defaults_with(vec![format!("detector.input_size_px={}", args.input_size)])
                .load(Vec::new())?;
        let options = lookout::replay::ReplayOptions {
            input: recording,
            output: dir.path().join("bench.mcap"),
            config,
            max_frames: args.frames,
            progress: false,
            mot: None,
            render: None,
            summary_json: None,
            detect_only: None,
        };
        let (summary, result) = lookout::replay::replay(&options, Arc::new(AtomicBool::new(false)));
        result?;
        print!("{summary}");
        let forward_p50_ms = summary
            .stages
            .iter()
            .find(|(name, _)| *name == "forward")
            .map(|(_, s)| s.p50_ms)
            .unwrap_or(0.0);
        if forward_p50_ms > 0.0 {
            let bound = 1000.0 / forward_p50_ms;
            println!(
                "end to end: {:.2} frames/s; forward alone allows {:.2} frames/s (ratio {:.2})",
                summary.frames_per_s,
                bound,
                summary.frames_per_s / bound
            );
        }
        json["replay"] = serde_json::to_value(&summary)?;
    }
    if let Some(path) = args.json {
        std::fs::write(&path, serde_json::to_string_pretty(&json)?)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Prints YOLOX's per-layer profile: the median time of every layer over `runs` profiled
/// forwards, summed by kind (depthwise, 1x1, regular 3x3, the rest), and the slowest layers.
fn yolox_layer_profile(options: &ForwardBenchOptions) -> anyhow::Result<()> {
    let config = DetectorConfig {
        model: ModelKind::Yolox,
        input_size_px: options.input_size_px,
        onnx_path: options
            .yolox_onnx
            .as_ref()
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_default(),
        ..DetectorConfig::default()
    };
    let detector = Detector::load(&config, &Device::Cpu)?;
    let DetectorModel::Yolox(net) = detector.model() else {
        anyhow::bail!("--model yolox did not load a YOLOX network");
    };
    let (blob, _) = detector.letterbox().apply(&options.image)?;
    let s = options.input_size_px as usize;
    let input = Tensor::from_slice(&blob, (1, 3, s, s), &Device::Cpu)?;
    let mut names = Vec::new();
    let mut per_layer: Vec<Vec<f64>> = Vec::new();
    for i in 0..options.warmup + options.runs.max(1) {
        let (_, times) = net.forward_profiled(&input)?;
        if i < options.warmup {
            continue;
        }
        names = times.iter().map(|t| t.layer.clone()).collect();
        per_layer.resize(times.len(), Vec::new());
        for (v, t) in per_layer.iter_mut().zip(&times) {
            v.push(t.time.as_secs_f64() * 1e3);
        }
    }
    let medians: Vec<f64> = per_layer
        .iter_mut()
        .map(|v| {
            v.sort_by(f64::total_cmp);
            v[v.len() / 2]
        })
        .collect();
    let total: f64 = medians.iter().sum();
    let kind = |name: &str| {
        if name.contains(" dw3x3/1 ") {
            "depthwise 3x3 stride 1"
        } else if name.contains(" dw3x3/2 ") {
            "depthwise 3x3 stride 2"
        } else if name.contains(" 1x1/1 ") {
            "1x1 (pointwise)"
        } else if name.contains(" 3x3/") {
            "regular 3x3"
        } else {
            "focus, pools, upsample"
        }
    };
    let mut by_kind: Vec<(&str, f64, usize)> = Vec::new();
    for (name, &ms) in names.iter().zip(&medians) {
        let k = kind(name);
        match by_kind.iter_mut().find(|(n, _, _)| *n == k) {
            Some(e) => {
                e.1 += ms;
                e.2 += 1;
            }
            None => by_kind.push((k, ms, 1)),
        }
    }
    by_kind.sort_by(|a, b| b.1.total_cmp(&a.1));
    println!(
        "yolox layer profile: {} layers, sum of per-layer medians {total:.1} ms",
        names.len()
    );
    for (k, ms, count) in &by_kind {
        println!(
            "  {k:<24} {count:>3} layers {ms:>7.2} ms {:>5.1}%",
            100.0 * ms / total
        );
    }
    let mut order: Vec<usize> = (0..names.len()).collect();
    order.sort_by(|&a, &b| medians[b].total_cmp(&medians[a]));
    println!("  slowest layers:");
    for &i in order.iter().take(15) {
        println!("  {:>7.2} ms  {}", medians[i], names[i]);
    }
    Ok(())
}

/// Times the camera-motion estimate (the engine's `gmc` stage) on `image` and a copy of it
/// moved by (3, 2) px, alternately, as a camera would deliver them.
fn time_camera_motion(image: &RgbImage, warmup: usize, runs: usize) -> LatencySummary {
    let (w, h) = (image.width as usize, image.height as usize);
    let mut moved = RgbImage::new(image.width, image.height);
    for y in 2..h {
        let (src, dst) = ((y - 2) * w * 3, y * w * 3 + 9);
        let n = (w - 3) * 3;
        moved.data[dst..dst + n].copy_from_slice(&image.data[src..src + n]);
    }
    let mut gmc = CameraMotion::new(CameraMotionConfig::default());
    let mut window = LatencyWindow::new(runs);
    for i in 0..warmup + runs {
        let frame = if i % 2 == 0 { image } else { &moved };
        let t = Instant::now();
        std::hint::black_box(gmc.estimate(frame, &[]));
        if i >= warmup {
            window.push(t.elapsed());
        }
    }
    window.summary()
}

/// One model's forward times, ours and the peer's (OpenCV DNN for darknet models,
/// onnxruntime for YOLOX).
#[derive(Debug, Clone, Serialize)]
struct ForwardComparison {
    model: &'static str,
    input_size_px: u32,
    threads: usize,
    lookout: LatencySummary,
    /// Which implementation `peer` timed.
    peer_name: &'static str,
    /// `None` when the peer could not be run (the reason is in `peer_error`).
    peer: Option<LatencySummary>,
    peer_error: Option<String>,
    /// lookout p50 / peer p50 (below 1: lookout is faster).
    ratio_p50: Option<f64>,
}

/// Options of the forward comparison.
#[derive(Debug, Clone)]
struct ForwardBenchOptions {
    models: Vec<ModelKind>,
    /// The YOLOX file for `ModelKind::Yolox`.
    yolox_onnx: Option<PathBuf>,
    /// The onnx venv's Python; `None` skips onnxruntime.
    onnx_python: Option<PathBuf>,
    input_size_px: u32,
    image: RgbImage,
    warmup: usize,
    runs: usize,
    threads: usize,
    /// The oracle venv's Python; `None` skips OpenCV.
    oracle_python: Option<PathBuf>,
}

/// Times lookout's and OpenCV's forward pass for each model on the same letterboxed image.
fn compare_forward(options: &ForwardBenchOptions) -> anyhow::Result<Vec<ForwardComparison>> {
    let mut out = Vec::new();
    for &model in &options.models {
        let config = DetectorConfig {
            model,
            input_size_px: options.input_size_px,
            onnx_path: match (&options.yolox_onnx, model) {
                (Some(p), ModelKind::Yolox) => p.to_string_lossy().into_owned(),
                _ => String::new(),
            },
            ..DetectorConfig::default()
        };
        let detector = Detector::load(&config, &Device::Cpu)?;
        let (blob, _) = detector.letterbox().apply(&options.image)?;
        let s = options.input_size_px as usize;
        let mut window = LatencyWindow::new(options.runs.max(1));
        for i in 0..options.warmup + options.runs {
            let t = Instant::now();
            let input = Tensor::from_slice(&blob, (1, 3, s, s), &Device::Cpu)
                .context("building the benchmark input")?;
            let heads = detector.model().forward(&input)?;
            // The heads are host tensors on the CPU device: the forward is complete here.
            std::hint::black_box(&heads);
            if i >= options.warmup {
                window.push(t.elapsed());
            }
        }
        let lookout = window.summary();
        let (peer_name, peer_times) = if model == ModelKind::Yolox {
            let times = match &options.onnx_python {
                None => Err("no onnx venv (run scripts/setup.sh)".to_owned()),
                Some(python) => onnxruntime_forward(
                    python,
                    Path::new(&config.onnx_path),
                    options.input_size_px,
                    &blob,
                    options,
                ),
            };
            ("onnxruntime", times)
        } else {
            let paths = config.model_paths()?;
            let times = match &options.oracle_python {
                None => Err("no oracle venv (run scripts/setup.sh)".to_owned()),
                Some(python) => opencv_forward(
                    python,
                    &paths.cfg,
                    &paths.weights,
                    options.input_size_px,
                    &blob,
                    options,
                ),
            };
            ("OpenCV", times)
        };
        let (peer, peer_error) = match peer_times {
            Ok(times) => {
                let mut w = LatencyWindow::new(times.len().max(1));
                times.iter().for_each(|&ms| w.push_ms(ms));
                (Some(w.summary()), None)
            }
            Err(e) => (None, Some(e)),
        };
        out.push(ForwardComparison {
            model: model.name(),
            input_size_px: options.input_size_px,
            threads: options.threads,
            ratio_p50: peer.map(|o| lookout.p50_ms / o.p50_ms),
            lookout,
            peer_name,
            peer,
            peer_error,
        });
    }
    Ok(out)
}

/// Runs the onnxruntime oracle's `bench` job on `onnx` with `blob` (YOLOX's letterbox, as
/// lookout made it); returns its forward times in ms, or why it could not.
fn onnxruntime_forward(
    python: &Path,
    onnx: &Path,
    size: u32,
    blob: &[f32],
    options: &ForwardBenchOptions,
) -> Result<Vec<f64>, String> {
    let out = run_oracle(python, "onnxruntime", ONNX_ORACLE_PY, blob, |blob_path| {
        serde_json::json!({
            "onnx": onnx, "size": size, "threads": options.threads,
            "bench": {"blob": blob_path, "warmup": options.warmup, "runs": options.runs},
        })
    })?;
    times_ms(&out["bench"], "onnxruntime")
}

/// Runs the OpenCV oracle's `bench` job; returns its forward times in ms, or why it could not.
fn opencv_forward(
    python: &Path,
    cfg: &Path,
    weights: &Path,
    size: u32,
    blob: &[f32],
    options: &ForwardBenchOptions,
) -> Result<Vec<f64>, String> {
    let out = run_oracle(python, "OpenCV", OPENCV_ORACLE_PY, blob, |blob_path| {
        serde_json::json!({
            "bench": [{
                "name": "bench", "cfg": cfg, "weights": weights, "size": size, "blob": blob_path,
                "threads": options.threads, "warmup": options.warmup, "runs": options.runs,
            }]
        })
    })?;
    times_ms(&out["bench"][0], "OpenCV")
}

/// Writes `script` and `blob` (little-endian f32) into a temp dir, runs `python script job out`
/// with the job `job(blob_path)` makes, and returns the JSON the oracle wrote.
fn run_oracle(
    python: &Path,
    name: &str,
    script_text: &str,
    blob: &[f32],
    job: impl FnOnce(&Path) -> serde_json::Value,
) -> Result<serde_json::Value, String> {
    let dir = tempfile::tempdir().map_err(|e| format!("temp dir: {e}"))?;
    let script = dir.path().join("oracle.py");
    std::fs::write(&script, script_text).map_err(|e| format!("{}: {e}", script.display()))?;
    let blob_path = dir.path().join("blob.f32");
    let bytes: Vec<u8> = blob.iter().flat_map(|v| v.to_le_bytes()).collect();
    std::fs::write(&blob_path, bytes).map_err(|e| format!("{}: {e}", blob_path.display()))?;
    let job_path = dir.path().join("job.json");
    let out_path = dir.path().join("out.json");
    std::fs::write(&job_path, job(&blob_path).to_string())
        .map_err(|e| format!("{}: {e}", job_path.display()))?;
    let out = Command::new(python)
        .arg(&script)
        .arg(&job_path)
        .arg(&out_path)
        .output()
        .map_err(|e| format!("cannot run {}: {e}", python.display()))?;
    if !out.status.success() {
        return Err(format!(
            "{name} oracle failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    let text =
        std::fs::read_to_string(&out_path).map_err(|e| format!("{}: {e}", out_path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{name} oracle output: {e}"))
}

/// The `times_ms` array of one oracle bench result.
fn times_ms(result: &serde_json::Value, name: &str) -> Result<Vec<f64>, String> {
    result["times_ms"]
        .as_array()
        .map(|a| a.iter().filter_map(|x| x.as_f64()).collect())
        .ok_or_else(|| format!("{name} oracle output has no times"))
}

impl std::fmt::Display for ForwardComparison {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let peer = match &self.peer {
            Some(o) => format!("{:>8.1} {:>8.1}", o.p50_ms, o.p99_ms),
            None => format!("{:>17}", "n/a"),
        };
        let ratio = self
            .ratio_p50
            .map_or_else(|| "n/a".to_owned(), |r| format!("{r:.2}"));
        write!(
            f,
            "{:<12} {:>5} {:>7} {:>8.1} {:>8.1} {:<12} {} {:>8}",
            self.model,
            self.input_size_px,
            self.threads,
            self.lookout.p50_ms,
            self.lookout.p99_ms,
            self.peer_name,
            peer,
            ratio
        )?;
        if let Some(e) = &self.peer_error {
            write!(f, "   ({e})")?;
        }
        Ok(())
    }
}

/// The table header matching [`ForwardComparison`]'s `Display`.
const FORWARD_TABLE_HEADER: &str =
    "model        input threads lookout ms (p50, p99) peer         peer ms (p50, p99) lookout/peer";
