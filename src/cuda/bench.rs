//! `lookout bench-stages`: camera bytes to final boxes on the host through
//! [`Detector::detect_batch`], per stage and end to end, at several batch sizes, on any device
//! (`cpu` or `cuda:N`). It is the GPU benchmark of `scripts/gpu-check.sh`, and on a CPU it
//! gives the same stage split for comparison.
//!
//! Two kinds of timed runs, after untimed warm-up runs:
//! * staged: the device is synchronised after each stage (upload, preprocess, forward,
//!   decode+NMS, download), so each stage's time is its own;
//! * end to end: no synchronisation but the final download, which is what a caller sees;
//!   frames/s = batch / end-to-end p50.

use std::time::Instant;

use serde::Serialize;

use crate::detect::{BatchTimings, Detector};
use crate::image_codec::RawImageRef;
use crate::pipeline::stats::{LatencySummary, LatencyWindow};
use crate::RgbImage;

/// What to run.
#[derive(Debug, Clone)]
pub struct StageBenchOptions {
    /// Batch sizes, each measured in turn.
    pub batches: Vec<usize>,
    pub warmup: usize,
    pub runs: usize,
    /// The camera frame every batch item gets (already at the camera resolution).
    pub frame: RawFrame,
}

/// An owned camera frame in one of `decode_raw`'s encodings.
#[derive(Debug, Clone)]
pub struct RawFrame {
    pub encoding: String,
    pub width: u32,
    pub height: u32,
    pub step: u32,
    pub data: Vec<u8>,
}

impl RawFrame {
    /// `image` resized (bilinear) to `width x height` and stored as `bgr8`, as most cameras
    /// deliver.
    pub fn bgr8_from(image: &RgbImage, width: u32, height: u32) -> crate::Result<Self> {
        let buffer = image::RgbImage::from_raw(image.width, image.height, image.data.clone())
            .ok_or_else(|| {
                crate::detect::DetectError::from(crate::preprocess::PreprocessError::Image {
                    width: image.width,
                    height: image.height,
                    data_len: image.data.len(),
                    message: "data length is not 3 * width * height".into(),
                })
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
pub struct StageBenchResult {
    pub batch: usize,
    pub upload: LatencySummary,
    pub preprocess: LatencySummary,
    pub forward: LatencySummary,
    pub decode_nms: LatencySummary,
    pub download: LatencySummary,
    /// Camera bytes in to boxes on the host, without per-stage synchronisation.
    pub end_to_end: LatencySummary,
    /// `batch * 1000 / end_to_end.p50_ms`.
    pub frames_per_s: f64,
    /// Detections in the first image (a sanity check that the work is real).
    pub detections_first_image: usize,
}

/// Runs the benchmark for every batch size of `options`.
pub fn run(
    detector: &Detector,
    options: &StageBenchOptions,
) -> crate::Result<Vec<StageBenchResult>> {
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
pub const TABLE_HEADER: &str =
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
