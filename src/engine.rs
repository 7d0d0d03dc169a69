//! The engine: one [`Engine`] (detector + one tracker per camera stream) shared by
//! `lookout replay` ([`crate::replay`]) and the ROS node ([`crate::ros`]), so the same frames in
//! give the same results out in both.
//!
//! Input: a decoded [`Frame`] (RGB8 pixels, header stamp, stream name). Output: a
//! [`FrameOutput`] (detections and tracks in the frame's image pixels, with the time each stage
//! took). No threads, channels, files or ROS types in here: the callers own those.
//!
//! Time policy, per stream (the tracker needs strictly increasing stamps; cameras, drivers,
//! `ros2 bag play --loop` and simulators do not always give them):
//! * a stamp later than the stream's previous one: detect, then update the tracker;
//! * a stamp *equal* to the previous one (a driver repeating a stamp, or stamping every frame
//!   0): the frame's detections are reported, the tracker is not updated (no time has passed
//!   for its filters), and the tracks of the previous update are reported again: they are the
//!   tracker's estimate at that very stamp, and a planner reading the tracks topic should not
//!   see every object vanish for one frame. Counted as [`StreamTimeStats::duplicate_stamps`];
//! * a stamp *earlier* than the previous one (a looped recording, a sim-time reset, a driver
//!   restarting its clock): the stream's tracker is restarted ([`Tracker::restart`]: tracks
//!   dropped, ids continue so an id never names two objects) and updated with the frame.
//!   Counted as [`StreamTimeStats::tracker_resets`] and returned as [`TimeEvent::TrackerReset`]
//!   for the caller to log.
//!
//! No frame is dropped and no error is returned for a stamp, in replay and the node alike.

use std::collections::BTreeMap;
use std::time::Instant;

use crate::config::{Config, DeviceSpec};
use crate::detect::Detector;
use crate::ground::{GroundObject, GroundProjector, GroundTracker, GroundTrackerParams};
use crate::motion::{Affine2, CameraMotion, CameraMotionConfig};
use crate::stats::{Stage, StageTimings, StreamTimeStats};
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
    /// The tracks on the road plane of `base_link`, one per track in the same order, when the
    /// stream has a calibration ([`crate::ground`]); empty without one.
    pub objects: Vec<GroundObject>,
    /// Time spent per stage on this frame (preprocess, forward, postprocess, track).
    pub timings: StageTimings,
    /// What the time policy did with this frame's stamp (`None`: a normal tracker update).
    pub time_event: Option<TimeEvent>,
}

/// A frame whose stamp did not come after its stream's previous one (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeEvent {
    /// Equal stamps: detections reported, tracks of the previous update reported again.
    DuplicateStamp { stamp_ns: i64 },
    /// The stamp went back from `previous_ns` to `stamp_ns`: the tracker was restarted.
    TrackerReset { previous_ns: i64, stamp_ns: i64 },
}

impl std::fmt::Display for TimeEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::DuplicateStamp { stamp_ns } => write!(
                f,
                "stamp {stamp_ns} ns repeats the previous frame's: detections only, tracks of \
                 the previous update reported again"
            ),
            Self::TrackerReset {
                previous_ns,
                stamp_ns,
            } => write!(
                f,
                "stamp went back from {previous_ns} ns to {stamp_ns} ns: tracker restarted \
                 (tracks dropped, ids continue)"
            ),
        }
    }
}

/// One camera stream's tracker and what the time policy needs.
struct Stream {
    tracker: Tracker,
    /// The tracks of the last tracker update, reported again for a duplicate stamp.
    last_tracks: Vec<TrackOutput>,
    time: StreamTimeStats,
    /// With a calibration: the tracks' ground-plane filters, keyed by track id.
    ground: Option<GroundTracker>,
    /// The ground objects of the last update (as `last_tracks`).
    last_objects: Vec<GroundObject>,
}

impl Stream {
    fn new(config: crate::track::TrackerConfig) -> Result<Self, crate::track::TrackError> {
        Ok(Self {
            tracker: Tracker::new(config)?,
            last_tracks: Vec::new(),
            time: StreamTimeStats::default(),
            ground: None,
            last_objects: Vec::new(),
        })
    }

    /// The time policy (module docs) for one frame: updates `last_tracks` unless the stamp
    /// repeats the previous one. `cur_from_prev` is the camera's motion since the previous
    /// frame, applied to the tracks before association (nothing to apply after a restart).
    fn update(
        &mut self,
        stamp: crate::types::Time,
        detections: &[Detection],
        cur_from_prev: Option<&Affine2>,
    ) -> Result<Option<TimeEvent>> {
        let stamp_ns = stamp.as_ns();
        let event = match self.tracker.last_stamp_ns() {
            Some(previous_ns) if stamp_ns == previous_ns => {
                self.time.duplicate_stamps += 1;
                return Ok(Some(TimeEvent::DuplicateStamp { stamp_ns }));
            }
            Some(previous_ns) if stamp_ns < previous_ns => {
                self.time.tracker_resets += 1;
                self.tracker.restart();
                if let Some(ground) = &mut self.ground {
                    ground.restart();
                }
                Some(TimeEvent::TrackerReset {
                    previous_ns,
                    stamp_ns,
                })
            }
            _ => None,
        };
        self.last_tracks = match cur_from_prev.filter(|_| event.is_none()) {
            Some(m) => self
                .tracker
                .update_with_camera_motion(stamp, detections, m)?,
            None => self.tracker.update(stamp, detections)?,
        };
        if let Some(ground) = &mut self.ground {
            self.last_objects = ground.update(stamp_ns, &self.last_tracks)?;
        }
        Ok(event)
    }
}

/// One camera stream's motion estimator, with the stamp of the frame it last measured from.
struct MotionStream {
    motion: CameraMotion,
    /// The stamp of the estimator's reference frame: the stream's last frame whose stamp did
    /// not repeat its predecessor's, which is also the tracker's last update.
    reference_stamp_ns: Option<i64>,
}

/// A frame's detections and the camera's motion since the stream's previous frame: the part
/// of [`Engine::process`] that needs the image. [`Trackers::update`] is the rest, so the two
/// can run in separate processes (`lookout replay --detect-only`, then `lookout track
/// --detections`) with the same results as one run.
#[derive(Debug, Clone)]
pub struct Detected {
    /// Detections in the frame's image pixels, after NMS and class mapping.
    pub detections: Vec<Detection>,
    /// Previous frame's pixels to this frame's (`camera_motion.enabled`, a usable estimate,
    /// and a stamp that does not repeat the previous frame's).
    pub cur_from_prev: Option<Affine2>,
    /// Preprocess, forward, postprocess and GMC times.
    pub timings: StageTimings,
}

/// What [`Trackers::update`] made of one frame.
#[derive(Debug, Clone)]
pub struct TrackedFrame {
    /// The tracks to report (see [`crate::track`]).
    pub tracks: Vec<TrackOutput>,
    /// The tracks on the road plane, when the stream has a calibration.
    pub objects: Vec<GroundObject>,
    /// What the time policy did with the frame's stamp.
    pub time_event: Option<TimeEvent>,
}

/// One tracker per camera stream, each with the time policy of the module docs: the image-free
/// half of the engine.
pub struct Trackers {
    tracking: crate::track::TrackerConfig,
    streams: BTreeMap<String, Stream>,
    /// The calibration of `ground:` in the configuration, for every stream without its own.
    ground_default: Option<GroundProjector>,
    /// Calibrations set per stream ([`Trackers::set_calibration`]).
    ground_streams: BTreeMap<String, GroundProjector>,
    ground_params: GroundTrackerParams,
}

impl Trackers {
    /// The trackers (and, with `ground:` calibrated, ground filters) of `config`.
    pub fn new(config: &Config) -> Result<Self> {
        Ok(Self {
            tracking: config.tracking.clone(),
            streams: BTreeMap::new(),
            ground_default: config.ground.projector()?,
            ground_streams: BTreeMap::new(),
            ground_params: config.ground.params(config.tracking.max_age_s),
        })
    }

    /// Sets the camera calibration and pose of one stream (e.g. from a recording's CameraInfo
    /// and `/tf_static`), replacing the configured one for it; takes effect from the stream's
    /// next frame (its ground filters start over).
    pub fn set_calibration(&mut self, stream: &str, projector: GroundProjector) {
        if let Some(s) = self.streams.get_mut(stream) {
            s.ground = Some(GroundTracker::new(projector.clone(), self.ground_params));
        }
        self.ground_streams.insert(stream.to_owned(), projector);
    }

    /// The calibration a stream uses (its own, else the configured one).
    pub fn calibration(&self, stream: &str) -> Option<&GroundProjector> {
        self.ground_streams
            .get(stream)
            .or(self.ground_default.as_ref())
    }

    /// Updates `stream`'s tracker with one frame's detections (the time policy decides
    /// whether and how); returns the tracks to report and what the policy did.
    pub fn update(
        &mut self,
        stream: &str,
        stamp: crate::types::Time,
        detections: &[Detection],
        cur_from_prev: Option<&Affine2>,
    ) -> Result<TrackedFrame> {
        let s = match self.streams.entry(stream.to_owned()) {
            std::collections::btree_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::btree_map::Entry::Vacant(e) => {
                let mut s = Stream::new(self.tracking.clone())?;
                let projector = self
                    .ground_streams
                    .get(e.key())
                    .or(self.ground_default.as_ref());
                s.ground = projector.map(|p| GroundTracker::new(p.clone(), self.ground_params));
                e.insert(s)
            }
        };
        let time_event = s.update(stamp, detections, cur_from_prev)?;
        Ok(TrackedFrame {
            tracks: s.last_tracks.clone(),
            objects: s.last_objects.clone(),
            time_event,
        })
    }

    /// The time policy's counters of one stream (`None` before its first frame).
    pub fn time_stats(&self, stream: &str) -> Option<StreamTimeStats> {
        self.streams.get(stream).map(|s| s.time)
    }
}

/// Detector plus one tracker per camera stream; the same object serves replay and the ROS node,
/// so the same frames in give the same results out.
pub struct Engine {
    detector: Detector,
    camera_motion: CameraMotionConfig,
    motion: BTreeMap<String, MotionStream>,
    trackers: Trackers,
}

impl Engine {
    /// Loads the model on the configured device.
    pub fn new(config: &Config) -> Result<Self> {
        let device = select_device(config.device)?;
        let detector = Detector::load(&config.detector, &device)?;
        Ok(Self {
            detector,
            camera_motion: config.camera_motion.clone(),
            motion: BTreeMap::new(),
            trackers: Trackers::new(config)?,
        })
    }

    /// Sets one stream's camera calibration and pose ([`Trackers::set_calibration`]).
    pub fn set_calibration(&mut self, stream: &str, projector: GroundProjector) {
        self.trackers.set_calibration(stream, projector);
    }

    /// The calibration a stream uses (its own, else the configured one).
    pub fn calibration(&self, stream: &str) -> Option<&GroundProjector> {
        self.trackers.calibration(stream)
    }

    /// Detects one frame and, with `camera_motion.enabled`, measures the camera's motion from
    /// the stream's previous frame (the stream's estimator keeps that frame). A stamp repeating
    /// the previous frame's moves no estimator: the tracker is not updated for it either
    /// (time policy), so the next motion is measured from the frame the tracks are in.
    pub fn detect(&mut self, frame: &Frame) -> Result<Detected> {
        let mut timings = StageTimings::default();
        let (detections, det_times) = self.detector.detect_timed(&frame.image)?;
        timings.set(Stage::Preprocess, det_times.letterbox);
        timings.set(Stage::Forward, det_times.forward);
        timings.set(Stage::Postprocess, det_times.decode_nms);
        let mut cur_from_prev = None;
        if self.camera_motion.enabled {
            let config = &self.camera_motion;
            let m = self
                .motion
                .entry(frame.stream.clone())
                .or_insert_with(|| MotionStream {
                    motion: CameraMotion::new(config.clone()),
                    reference_stamp_ns: None,
                });
            let stamp_ns = frame.header.stamp.as_ns();
            if m.reference_stamp_ns != Some(stamp_ns) {
                let t = Instant::now();
                let boxes: Vec<_> = detections.iter().map(|d| d.bbox).collect();
                cur_from_prev = m.motion.estimate(&frame.image, &boxes).cur_from_prev;
                m.reference_stamp_ns = Some(stamp_ns);
                timings.set(Stage::Gmc, t.elapsed());
            }
        }
        Ok(Detected {
            detections,
            cur_from_prev,
            timings,
        })
    }

    /// Detects and tracks one frame ([`Self::detect`], then [`Trackers::update`]). Each
    /// `frame.stream` has its own tracker (and id space) and, with `camera_motion.enabled`, its
    /// own camera-motion estimator, whose motion from the stream's previous frame to this one is
    /// applied to the tracks before association; stamps that do not increase follow the time
    /// policy of the module docs.
    pub fn process(&mut self, frame: &Frame) -> Result<FrameOutput> {
        let Detected {
            detections,
            cur_from_prev,
            mut timings,
        } = self.detect(frame)?;
        let t = Instant::now();
        let TrackedFrame {
            tracks,
            objects,
            time_event,
        } = self.trackers.update(
            &frame.stream,
            frame.header.stamp,
            &detections,
            cur_from_prev.as_ref(),
        )?;
        timings.set(Stage::Track, t.elapsed());
        Ok(FrameOutput {
            detections,
            tracks,
            objects,
            timings,
            time_event,
        })
    }

    /// The time policy's counters of one stream (`None` before its first frame).
    pub fn time_stats(&self, stream: &str) -> Option<StreamTimeStats> {
        self.trackers.time_stats(stream)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{BBox, Time};

    fn person(x: f32) -> Detection {
        Detection {
            bbox: BBox::from_tlwh(x, 100.0, 40.0, 80.0),
            class_index: 0,
            label: "pedestrian".into(),
            score: 0.9,
        }
    }

    #[test]
    fn duplicate_stamps_repeat_tracks_and_backward_stamps_restart() {
        let mut s = Stream::new(crate::track::TrackerConfig::default()).unwrap();
        let at = |ms: i64| Time::from_ns(ms * 1_000_000);
        for k in 0..3 {
            assert_eq!(
                s.update(at(1000 + 100 * k), &[person(k as f32)], None)
                    .unwrap(),
                None
            );
        }
        let confirmed = s.last_tracks.clone();
        assert_eq!(confirmed.len(), 1);
        // The same stamp again: no update, the previous tracks stand.
        assert_eq!(
            s.update(at(1200), &[person(50.0)], None).unwrap(),
            Some(TimeEvent::DuplicateStamp {
                stamp_ns: at(1200).as_ns()
            })
        );
        assert_eq!(s.last_tracks, confirmed);
        // Time goes on normally after a duplicate.
        assert_eq!(s.update(at(1300), &[person(3.0)], None).unwrap(), None);
        assert_eq!(s.last_tracks[0].id, confirmed[0].id);
        // Back in time: restarted, the object is new (tentative, not reported), ids go on.
        assert_eq!(
            s.update(at(0), &[person(0.0)], None).unwrap(),
            Some(TimeEvent::TrackerReset {
                previous_ns: at(1300).as_ns(),
                stamp_ns: 0
            })
        );
        assert!(s.last_tracks.is_empty());
        s.update(at(100), &[person(1.0)], None).unwrap();
        assert_eq!(s.last_tracks[0].id, confirmed[0].id + 1);
        assert_eq!(
            s.time,
            StreamTimeStats {
                tracker_resets: 1,
                duplicate_stamps: 1
            }
        );
    }
}
