//! `lookout bench`: detector forward time against OpenCV DNN on the same model, input size and
//! letterboxed image, measured in the same run, and end-to-end replay throughput on a recording.
//!
//! Both sides are timed the same way: network input set until the output tensors are on the
//! host, after untimed warm-up runs, with the same thread count. OpenCV runs in the oracle venv
//! (`scripts/python/opencv_oracle.py`, OpenCV 4.12 from PyPI) as a peer, not a dependency: when
//! the venv is absent the lookout side is still measured and the ratio is reported as missing.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use candle_core::{Device, Tensor};
use serde::Serialize;

use crate::detect::{DetectError, Detector, DetectorConfig, ModelKind};
use crate::pipeline::stats::{LatencySummary, LatencyWindow};
use crate::RgbImage;

/// One model's forward times, ours and the peer's.
#[derive(Debug, Clone, Serialize)]
pub struct ForwardComparison {
    pub model: &'static str,
    pub input_size_px: u32,
    pub threads: usize,
    pub lookout: LatencySummary,
    /// `None` when the OpenCV oracle could not be run (the reason is in `opencv_error`).
    pub opencv: Option<LatencySummary>,
    pub opencv_error: Option<String>,
    /// lookout p50 / OpenCV p50 (below 1: lookout is faster).
    pub ratio_p50: Option<f64>,
}

/// Options of the forward comparison.
#[derive(Debug, Clone)]
pub struct ForwardBenchOptions {
    pub models: Vec<ModelKind>,
    pub input_size_px: u32,
    pub image: RgbImage,
    pub warmup: usize,
    pub runs: usize,
    pub threads: usize,
    /// The oracle venv's Python; `None` skips OpenCV.
    pub oracle_python: Option<PathBuf>,
    /// `scripts/python/opencv_oracle.py`.
    pub oracle_script: PathBuf,
}

/// Times lookout's and OpenCV's forward pass for each model on the same letterboxed image.
pub fn compare_forward(options: &ForwardBenchOptions) -> crate::Result<Vec<ForwardComparison>> {
    let mut out = Vec::new();
    for &model in &options.models {
        let config = DetectorConfig {
            model,
            input_size_px: options.input_size_px,
            ..DetectorConfig::default()
        };
        let detector = Detector::load(&config, &Device::Cpu)?;
        let (blob, _) = detector
            .letterbox()
            .apply(&options.image)
            .map_err(DetectError::from)?;
        let s = options.input_size_px as usize;
        let mut window = LatencyWindow::new(options.runs.max(1));
        for i in 0..options.warmup + options.runs {
            let t = Instant::now();
            let input =
                Tensor::from_slice(&blob, (1, 3, s, s), &Device::Cpu).map_err(|source| {
                    DetectError::Candle {
                        context: "building the benchmark input".into(),
                        source,
                    }
                })?;
            let heads = detector.model().forward(&input)?;
            // The heads are host tensors on the CPU device: the forward is complete here.
            std::hint::black_box(&heads);
            if i >= options.warmup {
                window.push(t.elapsed());
            }
        }
        let lookout = window.summary();
        let paths = config.model_paths()?;
        let (opencv, opencv_error) = match &options.oracle_python {
            None => (
                None,
                Some("no oracle venv (run scripts/setup.sh)".to_owned()),
            ),
            Some(python) => match opencv_forward(
                python,
                &options.oracle_script,
                &paths.cfg,
                &paths.weights,
                options.input_size_px,
                &blob,
                options,
            ) {
                Ok(times) => {
                    let mut w = LatencyWindow::new(times.len().max(1));
                    times.iter().for_each(|&ms| w.push_ms(ms));
                    (Some(w.summary()), None)
                }
                Err(e) => (None, Some(e)),
            },
        };
        out.push(ForwardComparison {
            model: model.name(),
            input_size_px: options.input_size_px,
            threads: options.threads,
            ratio_p50: opencv.map(|o| lookout.p50_ms / o.p50_ms),
            lookout,
            opencv,
            opencv_error,
        });
    }
    Ok(out)
}

/// Runs the oracle's `bench` job; returns its forward times in ms, or why it could not.
fn opencv_forward(
    python: &Path,
    script: &Path,
    cfg: &Path,
    weights: &Path,
    size: u32,
    blob: &[f32],
    options: &ForwardBenchOptions,
) -> Result<Vec<f64>, String> {
    let dir = tempfile::tempdir().map_err(|e| format!("temp dir: {e}"))?;
    let blob_path = dir.path().join("blob.f32");
    let bytes: Vec<u8> = blob.iter().flat_map(|v| v.to_le_bytes()).collect();
    std::fs::write(&blob_path, bytes).map_err(|e| format!("{}: {e}", blob_path.display()))?;
    let job = serde_json::json!({
        "bench": [{
            "name": "bench", "cfg": cfg, "weights": weights, "size": size, "blob": blob_path,
            "threads": options.threads, "warmup": options.warmup, "runs": options.runs,
        }]
    });
    let job_path = dir.path().join("job.json");
    let out_path = dir.path().join("out.json");
    std::fs::write(&job_path, job.to_string()).map_err(|e| format!("{e}"))?;
    let out = Command::new(python)
        .arg(script)
        .arg(&job_path)
        .arg(&out_path)
        .output()
        .map_err(|e| format!("cannot run {}: {e}", python.display()))?;
    if !out.status.success() {
        return Err(format!(
            "OpenCV oracle failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    let text = std::fs::read_to_string(&out_path).map_err(|e| format!("{e}"))?;
    let v: serde_json::Value = serde_json::from_str(&text).map_err(|e| format!("{e}"))?;
    v["bench"][0]["times_ms"]
        .as_array()
        .map(|a| a.iter().filter_map(|x| x.as_f64()).collect())
        .ok_or_else(|| "OpenCV oracle output has no times".to_owned())
}

impl std::fmt::Display for ForwardComparison {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let opencv = match &self.opencv {
            Some(o) => format!("{:>8.1} {:>8.1}", o.p50_ms, o.p99_ms),
            None => format!("{:>17}", "n/a"),
        };
        let ratio = self
            .ratio_p50
            .map_or_else(|| "n/a".to_owned(), |r| format!("{r:.2}"));
        write!(
            f,
            "{:<12} {:>5} {:>7} {:>8.1} {:>8.1} {} {:>8}",
            self.model,
            self.input_size_px,
            self.threads,
            self.lookout.p50_ms,
            self.lookout.p99_ms,
            opencv,
            ratio
        )?;
        if let Some(e) = &self.opencv_error {
            write!(f, "   ({e})")?;
        }
        Ok(())
    }
}

/// The table header matching [`ForwardComparison`]'s `Display`.
pub const FORWARD_TABLE_HEADER: &str =
    "model        input threads lookout ms (p50, p99)  OpenCV ms (p50, p99)  lookout/OpenCV";
