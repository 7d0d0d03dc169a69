//! The engine: one [`Engine`] (detector + one tracker per camera stream) shared by
//! `lookout replay` ([`crate::replay`]) and the ROS node ([`crate::ros`]), so the same frames in
//! give the same results out in both.
//!
//! Input: a decoded [`Frame`] (RGB8 pixels, header stamp, stream name). Output: a
//! [`FrameOutput`] (detections and tracks in the frame's image pixels, with the time each stage
//! took). No threads, channels, files or ROS types in here: the callers own those.

use std::collections::BTreeMap;
use std::time::Instant;

use crate::config::{Config, DeviceSpec};
use crate::detect::Detector;
use crate::motion::{CameraMotion, CameraMotionConfig};
use crate::stats::{Stage, StageTimings};
use crate::track::{TrackOutput, Tracker};
use crate::types::{Detection, Frame};
use crate::Result;

/// An engine that cannot be set up.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("device `{device}`: {message}")]
    Device { device: String, message: String },
}

/// What the engine made of one frame.
#[derive(Debug, Clone)]
pub struct FrameOutput {
    /// Detections in the frame's image pixels, after NMS and class mapping.
    pub detections: Vec<Detection>,
    /// The tracker's output for this frame (see [`crate::track`] for which tracks are reported).
    pub tracks: Vec<TrackOutput>,
    /// Time spent per stage on this frame (preprocess, forward, postprocess, gmc, track).
    pub timings: StageTimings,
}

/// Detector plus one tracker per camera stream; the same object serves replay and the ROS node,
/// so the same frames in give the same results out.
pub struct Engine {
    detector: Detector,
    tracking: crate::track::TrackerConfig,
    trackers: BTreeMap<String, Tracker>,
    camera_motion: CameraMotionConfig,
    /// Per camera stream, when `camera_motion.enabled`: the previous frame's features.
    motion: BTreeMap<String, CameraMotion>,
}

impl Engine {
    /// Loads the model on the configured device.
    pub fn new(config: &Config) -> Result<Self> {
        let device = select_device(config.device)?;
        let detector = Detector::load(&config.detector, &device)?;
        Ok(Self {
            detector,
            tracking: config.tracking.clone(),
            trackers: BTreeMap::new(),
            camera_motion: config.camera_motion.clone(),
            motion: BTreeMap::new(),
        })
    }

    /// Detects and tracks one frame. Each `frame.stream` has its own tracker (and id space) and,
    /// with `camera_motion.enabled`, its own camera-motion estimator, whose motion from the
    /// stream's previous frame to this one is applied to the tracks before association.
    pub fn process(&mut self, frame: &Frame) -> Result<FrameOutput> {
        let mut timings = StageTimings::default();
        let (detections, det_times) = self.detector.detect_timed(&frame.image)?;
        timings.set(Stage::Preprocess, det_times.letterbox);
        timings.set(Stage::Forward, det_times.forward);
        timings.set(Stage::Postprocess, det_times.decode_nms);
        let t = Instant::now();
        let cur_from_prev = if self.camera_motion.enabled {
            let boxes: Vec<_> = detections.iter().map(|d| d.bbox).collect();
            let motion = self
                .motion
                .entry(frame.stream.clone())
                .or_insert_with(|| CameraMotion::new(self.camera_motion.clone()));
            let estimate = motion.estimate(&frame.image, &boxes).cur_from_prev;
            timings.set(Stage::Gmc, t.elapsed());
            estimate
        } else {
            None
        };
        let t = Instant::now();
        let tracker = match self.trackers.entry(frame.stream.clone()) {
            std::collections::btree_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::btree_map::Entry::Vacant(e) => {
                e.insert(Tracker::new(self.tracking.clone())?)
            }
        };
        let tracks = match &cur_from_prev {
            Some(m) => tracker.update_with_camera_motion(frame.header.stamp, &detections, m)?,
            None => tracker.update(frame.header.stamp, &detections)?,
        };
        timings.set(Stage::Track, t.elapsed());
        Ok(FrameOutput {
            detections,
            tracks,
            timings,
        })
    }

    /// Detection only (no tracker state touched).
    pub fn detector(&self) -> &Detector {
        &self.detector
    }
}

/// Opens the candle device of a parsed `device` parameter.
pub fn select_device(device: DeviceSpec) -> Result<candle_core::Device> {
    let ordinal = match device {
        DeviceSpec::Cpu => return Ok(candle_core::Device::Cpu),
        DeviceSpec::Cuda(ordinal) => ordinal,
    };
    let err = |message: String| EngineError::Device {
        device: device.to_string(),
        message,
    };
    if !cfg!(feature = "cuda") {
        return Err(
            err("this build has no CUDA support: rebuild with `--features cuda`".into()).into(),
        );
    }
    candle_core::Device::new_cuda(ordinal).map_err(|e| {
        // The driver's reason is the message; candle's backtrace (RUST_BACKTRACE) is noise here.
        let e = match e {
            candle_core::Error::WithBacktrace { inner, .. } => *inner,
            e => e,
        };
        err(format!(
            "cannot open the GPU: {e} (is an NVIDIA driver installed and a GPU visible? \
             `device: cpu` runs without one)"
        ))
        .into()
    })
}
