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

/// One camera stream's tracker, its camera-motion estimator and what the time policy needs.
struct Stream {
    tracker: Tracker,
    /// With `camera_motion.enabled`: the previous frame's features.
    motion: Option<CameraMotion>,
    /// The tracks of the last tracker update, reported again for a duplicate stamp.
    last_tracks: Vec<TrackOutput>,
    /// With a calibration: the tracks' ground-plane filters, keyed by track id.
    ground: Option<GroundTracker>,
    /// The ground objects of the last update (as `last_tracks`).
    last_objects: Vec<GroundObject>,
    time: StreamTimeStats,
}

impl Stream {
    fn new(
        config: crate::track::TrackerConfig,
        camera_motion: &CameraMotionConfig,
    ) -> Result<Self, crate::track::TrackError> {
        Ok(Self {
            tracker: Tracker::new(config)?,
            motion: camera_motion
                .enabled
                .then(|| CameraMotion::new(camera_motion.clone())),
            last_tracks: Vec::new(),
            ground: None,
            last_objects: Vec::new(),
            time: StreamTimeStats::default(),
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

/// Detector plus one tracker per camera stream; the same object serves replay and the ROS node,
/// so the same frames in give the same results out.
pub struct Engine {
    detector: Detector,
    tracking: crate::track::TrackerConfig,
    camera_motion: CameraMotionConfig,
    /// The calibration of `ground:` in the configuration, for every stream without its own.
    ground_default: Option<GroundProjector>,
    /// Calibrations set per stream ([`Engine::set_calibration`]).
    ground_streams: BTreeMap<String, GroundProjector>,
    ground_params: GroundTrackerParams,
    streams: BTreeMap<String, Stream>,
}

impl Engine {
    /// Loads the model on the configured device.
    pub fn new(config: &Config) -> Result<Self> {
        let device = select_device(config.device)?;
        let detector = Detector::load(&config.detector, &device)?;
        Ok(Self {
            detector,
            tracking: config.tracking.clone(),
            camera_motion: config.camera_motion.clone(),
            ground_default: config.ground.projector()?,
            ground_streams: BTreeMap::new(),
            ground_params: config.ground.params(config.tracking.max_age_s),
            streams: BTreeMap::new(),
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

    /// Detects and tracks one frame. Each `frame.stream` has its own tracker (and id space) and,
    /// with `camera_motion.enabled`, its own camera-motion estimator, whose motion from the
    /// stream's previous frame to this one is applied to the tracks before association; stamps
    /// that do not increase follow the time policy of the module docs.
    pub fn process(&mut self, frame: &Frame) -> Result<FrameOutput> {
        let mut timings = StageTimings::default();
        let (detections, det_times) = self.detector.detect_timed(&frame.image)?;
        timings.set(Stage::Preprocess, det_times.letterbox);
        timings.set(Stage::Forward, det_times.forward);
        timings.set(Stage::Postprocess, det_times.decode_nms);
        let stream = match self.streams.entry(frame.stream.clone()) {
            std::collections::btree_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::btree_map::Entry::Vacant(e) => {
                let mut stream = Stream::new(self.tracking.clone(), &self.camera_motion)?;
                let projector = self
                    .ground_streams
                    .get(e.key())
                    .or(self.ground_default.as_ref());
                stream.ground =
                    projector.map(|p| GroundTracker::new(p.clone(), self.ground_params));
                e.insert(stream)
            }
        };
        // A repeated stamp updates no tracker (time policy): the estimator keeps its reference
        // frame too, so the next motion is measured from the frame the tracks are in.
        let repeated = stream.tracker.last_stamp_ns() == Some(frame.header.stamp.as_ns());
        let cur_from_prev = match stream.motion.as_mut().filter(|_| !repeated) {
            Some(motion) => {
                let t = Instant::now();
                let boxes: Vec<_> = detections.iter().map(|d| d.bbox).collect();
                let estimate = motion.estimate(&frame.image, &boxes).cur_from_prev;
                timings.set(Stage::Gmc, t.elapsed());
                estimate
            }
            None => None,
        };
        let t = Instant::now();
        let time_event = stream.update(frame.header.stamp, &detections, cur_from_prev.as_ref())?;
        let tracks = stream.last_tracks.clone();
        let objects = stream.last_objects.clone();
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
        self.streams.get(stream).map(|s| s.time)
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
        let mut s = Stream::new(
            crate::track::TrackerConfig::default(),
            &CameraMotionConfig::default(),
        )
        .unwrap();
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
