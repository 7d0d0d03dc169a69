//! Detections MCAP: the first stage of a two-stage replay, and the tracking pass that reads it.
//!
//! A very long recording is detected in time slices in parallel (`lookout replay --detect-only
//! --start T0 --end T1`, each slice a [`DetectOnlySink`] file), then tracked once over all of
//! them in order (`lookout track --detections SLICE...`, [`track_detections`]). Tracking is
//! stateful, so it is never split; detection is stateless but for the camera-motion estimator
//! (it keeps the previous frame), which a slice warms up on the last frame before its start
//! (see [`crate::replay`]). The tracking pass writes the results MCAP with the same sink as
//! `lookout replay` ([`super::sink::McapSink`]), fed the same values in the same order, so its
//! output is byte-identical to a single replay's.
//!
//! A detections MCAP holds, per camera, the `Detection2DArray` detections topic of a replay
//! (for viewers), and two JSON topics for the tracking pass, exact to the bit (floats as their
//! IEEE-754 bit patterns: serde_json's default float parser is not correctly rounded, and one
//! ulp off in a box moves a track's velocity by one ulp):
//! - [`SLICE_TOPIC`]: one [`SliceInfo`] (which recording, which cameras, which time slice);
//! - [`FRAMES_TOPIC`]: one [`FrameRecord`] per frame (detections, the camera's motion since the
//!   previous frame, the header and log time, and the message's position in the recording).
//!
//! The tracking pass checks that the slices are of one recording and camera set, made with the
//! same camera-motion setting as its own configuration, and cover all of time exactly once
//! (sorted by start, each slice's end the next one's start, the first open at the start and
//! the last open at the end); frames' positions must increase across the slices.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::sink::{FrameResult, McapSink, ResultSink};
use super::ReplayError;
use crate::config::Config;
use crate::engine::{FrameOutput, TrackedFrame, Trackers};
use crate::mcap_io::{CameraKind, CameraTopic, McapTopicSource, Ros2McapWriter};
use crate::motion::Affine2;
use crate::msgs;
use crate::stats::{Stage, StageTimings};
use crate::summary::ReplaySummary;
use crate::topics::OutputTopics;
use crate::types::{Detection, Frame, Header, RgbImage};
use crate::Result;

/// The topic of the one [`SliceInfo`] message.
pub const SLICE_TOPIC: &str = "/lookout/detect_only/slice";
/// The topic of the [`FrameRecord`]s.
pub const FRAMES_TOPIC: &str = "/lookout/detect_only/frames";
/// Schema name of [`SLICE_TOPIC`].
pub const SLICE_SCHEMA_NAME: &str = "lookout.DetectOnlySlice";
/// Schema name of [`FRAMES_TOPIC`].
pub const FRAMES_SCHEMA_NAME: &str = "lookout.DetectOnlyFrame";
/// The format written, checked when read.
pub const FORMAT_VERSION: u32 = 1;
/// The largest JSON record read (a frame with about a million detections): checked before
/// parsing, so a crafted file cannot make the parser allocate without bound.
pub const MAX_RECORD_BYTES: usize = 256 << 20;

const SLICE_JSON_SCHEMA: &str = r#"{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "title": "lookout.DetectOnlySlice",
  "description": "lookout replay --detect-only: which recording, cameras and time slice this file holds",
  "type": "object"
}"#;
const FRAMES_JSON_SCHEMA: &str = r#"{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "title": "lookout.DetectOnlyFrame",
  "description": "lookout replay --detect-only: one frame's detections and camera motion, exact, for lookout track --detections",
  "type": "object"
}"#;

/// What a detections MCAP holds: written once per file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SliceInfo {
    pub format: u32,
    /// The `lookout` version that wrote it.
    pub lookout_version: String,
    /// The recording's file name and size in bytes (slices of one recording agree on both).
    pub input_name: String,
    pub input_bytes: u64,
    /// The camera topics replayed, in processing order, with their schema names.
    pub cameras: Vec<(String, String)>,
    /// First log time of the slice (inclusive); `None`: from the start.
    pub start_ns: Option<u64>,
    /// Log time the slice ends before (exclusive); `None`: to the end.
    pub end_ns: Option<u64>,
    /// Whether the camera's motion was estimated (`camera_motion.enabled`).
    pub camera_motion: bool,
}

/// One frame of a detections MCAP.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FrameRecord {
    /// Position of the message in the recording's read order (over all selected topics).
    pub position: u64,
    /// The camera topic.
    pub stream: String,
    /// Position in its topic, from 0.
    pub index: u64,
    pub log_time_ns: u64,
    pub header: Header,
    pub detections: Vec<DetectionBits>,
    /// [`Affine2::m`] of the camera's motion from the previous frame as `f64::to_bits`, when
    /// there is one.
    pub cur_from_prev: Option<[[u64; 3]; 2]>,
}

/// A [`Detection`] with its floats as bit patterns (exact through JSON).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DetectionBits {
    /// `x_min, y_min, x_max, y_max` as `f32::to_bits`.
    pub bbox: [u32; 4],
    /// `f32::to_bits` of the score.
    pub score: u32,
    pub class_index: usize,
    pub label: String,
}

impl From<&Detection> for DetectionBits {
    fn from(d: &Detection) -> Self {
        let b = &d.bbox;
        Self {
            bbox: [b.x_min, b.y_min, b.x_max, b.y_max].map(f32::to_bits),
            score: d.score.to_bits(),
            class_index: d.class_index,
            label: d.label.clone(),
        }
    }
}

impl From<&DetectionBits> for Detection {
    fn from(d: &DetectionBits) -> Self {
        let [x_min, y_min, x_max, y_max] = d.bbox.map(f32::from_bits);
        Self {
            bbox: crate::types::BBox {
                x_min,
                y_min,
                x_max,
                y_max,
            },
            class_index: d.class_index,
            label: d.label.clone(),
            score: f32::from_bits(d.score),
        }
    }
}

impl FrameRecord {
    /// The camera's motion from the previous frame.
    pub fn cur_from_prev(&self) -> Option<Affine2> {
        self.cur_from_prev.map(|m| Affine2 {
            m: m.map(|row| row.map(f64::from_bits)),
        })
    }
}

/// A detections MCAP that cannot be read or a set of slices that do not make one recording.
#[derive(Debug, thiserror::Error)]
pub enum DetectionsError {
    #[error("{path}: not a detections MCAP of `lookout replay --detect-only` (no {SLICE_TOPIC} message)")]
    NotDetectOnly { path: PathBuf },
    #[error("{path}: topic `{topic}` message {index}: {message}")]
    Record {
        path: PathBuf,
        topic: &'static str,
        index: u64,
        message: String,
    },
    #[error("{path}: {field} differs from {first}'s ({found} vs {expected}): slices of one recording, camera set and lookout version only")]
    Mismatch {
        path: PathBuf,
        first: PathBuf,
        field: &'static str,
        found: String,
        expected: String,
    },
    #[error("{path}: made with camera_motion.enabled = {slice}, but this run has {config}: the tracks would differ from a single replay's")]
    CameraMotion {
        path: PathBuf,
        slice: bool,
        config: bool,
    },
    #[error("the slices do not cover the recording exactly once: {detail}")]
    Coverage { detail: String },
    #[error("{path}: frame at position {position} does not come after position {previous} of the slice before")]
    Order {
        path: PathBuf,
        position: u64,
        previous: u64,
    },
    #[error("{path}: camera `{topic}` has schema `{schema}`, not a camera schema")]
    Camera {
        path: PathBuf,
        topic: String,
        schema: String,
    },
    #[error("the detections MCAPs hold no camera image of their own: replay.write_images needs `lookout replay`")]
    NoImages,
    #[error("no detections MCAP given")]
    NoInputs,
}

/// Parses one JSON record of a detections MCAP, refusing one over [`MAX_RECORD_BYTES`] first.
/// Pure; the error is the parser's message.
pub fn parse_record<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
    if bytes.len() > MAX_RECORD_BYTES {
        return Err(format!(
            "record of {} bytes, over the limit of {MAX_RECORD_BYTES}",
            bytes.len()
        ));
    }
    serde_json::from_slice(bytes).map_err(|e| e.to_string())
}

/// The results MCAP of `lookout replay --detect-only`: per camera the detections topic of a
/// replay, and the two JSON topics of the module docs.
pub struct DetectOnlySink {
    writer: Ros2McapWriter,
    detections_topics: BTreeMap<String, String>,
}

impl DetectOnlySink {
    /// Creates `path` and writes its [`SliceInfo`].
    pub fn create(path: &Path, streams: &[CameraTopic], info: &SliceInfo) -> Result<Self> {
        let inputs: Vec<&str> = streams.iter().map(|s| s.topic.as_str()).collect();
        let outputs = OutputTopics::for_cameras(&inputs).map_err(ReplayError::from)?;
        let mut writer = Ros2McapWriter::create(path)?;
        let mut detections_topics = BTreeMap::new();
        for (stream, out) in streams.iter().zip(outputs) {
            writer.add_topic::<msgs::Detection2DArray>(&out.detections)?;
            detections_topics.insert(stream.topic.clone(), out.detections);
        }
        writer.add_json_topic(SLICE_TOPIC, SLICE_SCHEMA_NAME, SLICE_JSON_SCHEMA)?;
        writer.add_json_topic(FRAMES_TOPIC, FRAMES_SCHEMA_NAME, FRAMES_JSON_SCHEMA)?;
        let json = serde_json::to_vec(info).map_err(|e| ReplayError::Json {
            path: path.to_owned(),
            message: e.to_string(),
        })?;
        let at_ns = info.start_ns.unwrap_or(0);
        writer.write(SLICE_TOPIC, at_ns, at_ns, 0, &json)?;
        Ok(Self {
            writer,
            detections_topics,
        })
    }
}

impl ResultSink for DetectOnlySink {
    fn stage(&self) -> Option<Stage> {
        Some(Stage::Write)
    }

    fn write(&mut self, result: &FrameResult<'_>) -> Result<()> {
        let frame = result.frame;
        let Some(topic) = self.detections_topics.get(&frame.stream) else {
            return Ok(());
        };
        let sequence = frame.index as u32;
        let log_time_ns = result.log_time_ns;
        let dets =
            msgs::Detection2DArray::from_detections(&frame.header, &result.output.detections);
        self.writer
            .write_message(topic, log_time_ns, sequence, &dets)?;
        let record = FrameRecord {
            position: result.position,
            stream: frame.stream.clone(),
            index: frame.index,
            log_time_ns,
            header: frame.header.clone(),
            detections: result
                .output
                .detections
                .iter()
                .map(DetectionBits::from)
                .collect(),
            cur_from_prev: result
                .camera_motion
                .map(|a| a.m.map(|row| row.map(f64::to_bits))),
        };
        let json = serde_json::to_vec(&record).map_err(|e| ReplayError::Json {
            path: self.writer.path().to_owned(),
            message: e.to_string(),
        })?;
        self.writer
            .write(FRAMES_TOPIC, log_time_ns, log_time_ns, sequence, &json)?;
        Ok(())
    }

    fn finish(self: Box<Self>, _summary: &ReplaySummary) -> Result<()> {
        self.writer.finish()?;
        Ok(())
    }
}

/// What [`track_detections`] did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TrackDetectionsSummary {
    pub slices: usize,
    pub frames: u64,
    pub detections: u64,
    /// Distinct track ids reported, over all cameras.
    pub tracks: u64,
}

/// The [`SliceInfo`] of a detections MCAP.
pub fn read_slice_info(path: &Path) -> Result<SliceInfo> {
    let mut source = McapTopicSource::open(path, SLICE_SCHEMA_NAME, &[SLICE_TOPIC.to_owned()])?;
    // The first message is the file's slice record.
    if let Some(msg) = source.next() {
        let msg = msg?;
        let info: SliceInfo = parse_record(&msg.data)
            .map_err(|message| DetectionsError::Record {
                path: path.to_owned(),
                topic: SLICE_TOPIC,
                index: msg.index,
                message,
            })
            .map_err(ReplayError::from)?;
        if info.format != FORMAT_VERSION {
            return Err(ReplayError::from(DetectionsError::Record {
                path: path.to_owned(),
                topic: SLICE_TOPIC,
                index: msg.index,
                message: format!(
                    "format {} (this lookout reads format {FORMAT_VERSION})",
                    info.format
                ),
            })
            .into());
        }
        return Ok(info);
    }
    Err(ReplayError::from(DetectionsError::NotDetectOnly {
        path: path.to_owned(),
    })
    .into())
}

/// Checks that `slices` (path, info) are of one recording and cover it exactly once, and
/// returns them sorted by start. Pure.
pub fn order_slices(
    mut slices: Vec<(PathBuf, SliceInfo)>,
    camera_motion: bool,
) -> Result<Vec<(PathBuf, SliceInfo)>, DetectionsError> {
    let Some((first_path, first)) = slices.first().cloned() else {
        return Err(DetectionsError::NoInputs);
    };
    for (path, info) in &slices {
        let checks: [(&'static str, String, String); 4] = [
            (
                "input_name",
                info.input_name.clone(),
                first.input_name.clone(),
            ),
            (
                "input_bytes",
                info.input_bytes.to_string(),
                first.input_bytes.to_string(),
            ),
            (
                "cameras",
                format!("{:?}", info.cameras),
                format!("{:?}", first.cameras),
            ),
            (
                "lookout_version",
                info.lookout_version.clone(),
                first.lookout_version.clone(),
            ),
        ];
        for (field, found, expected) in checks {
            if found != expected {
                return Err(DetectionsError::Mismatch {
                    path: path.clone(),
                    first: first_path.clone(),
                    field,
                    found,
                    expected,
                });
            }
        }
        if info.camera_motion != camera_motion {
            return Err(DetectionsError::CameraMotion {
                path: path.clone(),
                slice: info.camera_motion,
                config: camera_motion,
            });
        }
    }
    // `None` (from the start) sorts first.
    slices.sort_by_key(|(_, info)| info.start_ns);
    let show = |t: Option<u64>| t.map_or_else(|| "open".to_owned(), |t| format!("{t} ns"));
    if let Some((path, info)) = slices.first().filter(|(_, i)| i.start_ns.is_some()) {
        return Err(DetectionsError::Coverage {
            detail: format!(
                "the first slice ({}) starts at {}: nothing covers the time before it",
                path.display(),
                show(info.start_ns)
            ),
        });
    }
    for pair in slices.windows(2) {
        let ((a_path, a), (b_path, b)) = (&pair[0], &pair[1]);
        if a.end_ns.is_none() || a.end_ns != b.start_ns {
            return Err(DetectionsError::Coverage {
                detail: format!(
                    "{} ends at {}, {} starts at {}",
                    a_path.display(),
                    show(a.end_ns),
                    b_path.display(),
                    show(b.start_ns)
                ),
            });
        }
    }
    if let Some((path, info)) = slices.last().filter(|(_, i)| i.end_ns.is_some()) {
        return Err(DetectionsError::Coverage {
            detail: format!(
                "the last slice ({}) ends at {}: nothing covers the time after it",
                path.display(),
                show(info.end_ns)
            ),
        });
    }
    Ok(slices)
}

/// The tracking pass: tracks the frames of the detections MCAPs `inputs` (the slices of one
/// recording, in any order) and writes the results MCAP `output` exactly as `lookout replay`
/// of the recording with `config` would.
pub fn track_detections(
    inputs: &[PathBuf],
    output: &Path,
    config: &Config,
) -> Result<TrackDetectionsSummary> {
    if config.replay.write_images {
        return Err(ReplayError::from(DetectionsError::NoImages).into());
    }
    let mut slices = Vec::new();
    for path in inputs {
        slices.push((path.clone(), read_slice_info(path)?));
    }
    let slices = order_slices(slices, config.camera_motion.enabled).map_err(ReplayError::from)?;
    let cameras = &slices[0].1.cameras;
    let mut streams = Vec::new();
    for (topic, schema) in cameras {
        let kind = CameraKind::from_schema_name(schema).ok_or_else(|| {
            ReplayError::from(DetectionsError::Camera {
                path: slices[0].0.clone(),
                topic: topic.clone(),
                schema: schema.clone(),
            })
        })?;
        streams.push(CameraTopic {
            topic: topic.clone(),
            kind,
            message_count: 0,
        });
    }
    let mut sink: Box<dyn ResultSink> = Box::new(McapSink::create(
        output,
        &streams,
        &config.replay,
        config
            .ground
            .enabled
            .then_some(config.ground.base_frame.as_str()),
    )?);
    // Ground objects come from the configured calibration only: the recording's own
    // CameraInfo / `/tf_static` are not in the detections MCAP (yet).
    let mut trackers = Trackers::new(config)?;
    let mut summary = TrackDetectionsSummary {
        slices: slices.len(),
        ..Default::default()
    };
    let mut ids = std::collections::BTreeSet::new();
    let mut previous: Option<u64> = None;
    let result = (|| -> Result<()> {
        for (path, _) in &slices {
            let source =
                McapTopicSource::open(path, FRAMES_SCHEMA_NAME, &[FRAMES_TOPIC.to_owned()])?;
            for msg in source {
                let msg = msg?;
                let record: FrameRecord = parse_record(&msg.data)
                    .map_err(|message| DetectionsError::Record {
                        path: path.clone(),
                        topic: FRAMES_TOPIC,
                        index: msg.index,
                        message,
                    })
                    .map_err(ReplayError::from)?;
                if let Some(p) = previous.filter(|&p| record.position <= p) {
                    return Err(ReplayError::from(DetectionsError::Order {
                        path: path.clone(),
                        position: record.position,
                        previous: p,
                    })
                    .into());
                }
                previous = Some(record.position);
                let cur_from_prev = record.cur_from_prev();
                let detections: Vec<Detection> =
                    record.detections.iter().map(Detection::from).collect();
                let TrackedFrame {
                    tracks,
                    objects,
                    time_event,
                } = trackers.update(
                    &record.stream,
                    record.header.stamp,
                    &detections,
                    cur_from_prev.as_ref(),
                )?;
                summary.frames += 1;
                summary.detections += detections.len() as u64;
                ids.extend(tracks.iter().map(|t| (record.stream.clone(), t.id)));
                let frame = Frame {
                    stream: record.stream,
                    index: record.index,
                    header: record.header,
                    image: RgbImage::default(),
                };
                let output = FrameOutput {
                    detections,
                    tracks,
                    objects,
                    timings: StageTimings::default(),
                    time_event,
                };
                sink.write(&FrameResult {
                    frame: &frame,
                    output: &output,
                    log_time_ns: record.log_time_ns,
                    image_cdr: None,
                    position: record.position,
                    camera_motion: cur_from_prev.as_ref(),
                })?;
            }
        }
        Ok(())
    })();
    summary.tracks = ids.len() as u64;
    match result {
        // Dropped unfinished, the writer removes its temporary: no partial output.
        Err(e) => Err(e),
        Ok(()) => {
            sink.finish(&ReplaySummary::default())?;
            Ok(summary)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(start_ns: Option<u64>, end_ns: Option<u64>) -> SliceInfo {
        SliceInfo {
            format: FORMAT_VERSION,
            lookout_version: "0".into(),
            input_name: "a.mcap".into(),
            input_bytes: 10,
            cameras: vec![("/cam".into(), "sensor_msgs/msg/Image".into())],
            start_ns,
            end_ns,
            camera_motion: true,
        }
    }

    #[test]
    fn slices_are_ordered_and_must_cover_all_time_once() {
        let s = |name: &str, a, b| (PathBuf::from(name), info(a, b));
        let ordered = order_slices(
            vec![
                s("c", Some(20), None),
                s("a", None, Some(10)),
                s("b", Some(10), Some(20)),
            ],
            true,
        )
        .unwrap();
        let names: Vec<_> = ordered
            .iter()
            .map(|(p, _)| p.display().to_string())
            .collect();
        assert_eq!(names, ["a", "b", "c"]);
        assert!(order_slices(vec![s("whole", None, None)], true).is_ok());
        // A gap, an overlap, a missing first or last slice, two open slices.
        for bad in [
            vec![s("a", None, Some(10)), s("c", Some(20), None)],
            vec![s("a", None, Some(15)), s("b", Some(10), None)],
            vec![s("b", Some(10), None)],
            vec![s("a", None, Some(10))],
            vec![s("a", None, None), s("b", None, None)],
        ] {
            assert!(
                matches!(
                    order_slices(bad, true),
                    Err(DetectionsError::Coverage { .. })
                ),
                "accepted"
            );
        }
        let mut other = s("b", Some(10), None);
        other.1.input_bytes = 11;
        assert!(matches!(
            order_slices(vec![s("a", None, Some(10)), other], true),
            Err(DetectionsError::Mismatch {
                field: "input_bytes",
                ..
            })
        ));
        assert!(matches!(
            order_slices(vec![s("a", None, None)], false),
            Err(DetectionsError::CameraMotion { .. })
        ));
        assert!(matches!(
            order_slices(vec![], true),
            Err(DetectionsError::NoInputs)
        ));
    }

    #[test]
    fn records_round_trip_exactly_and_bad_ones_are_errors() {
        let record = FrameRecord {
            position: 7,
            stream: "/cam".into(),
            index: 3,
            log_time_ns: 1_700_000_000_123_456_789,
            header: Header {
                stamp: crate::types::Time {
                    sec: 17,
                    nanosec: 5,
                },
                frame_id: "cam".into(),
            },
            detections: vec![DetectionBits::from(&Detection {
                bbox: crate::types::BBox {
                    x_min: 0.1,
                    y_min: 1.0 / 3.0,
                    x_max: 123.456_79,
                    y_max: f32::MAX,
                },
                class_index: 0,
                label: "pedestrian".into(),
                score: 0.300_000_04,
            })],
            cur_from_prev: Some(
                [[1.0 / 3.0, 1e-17, 2.5], [0.1, 0.2, -13.069_689_233_711_134]]
                    .map(|row: [f64; 3]| row.map(f64::to_bits)),
            ),
        };
        let json = serde_json::to_vec(&record).unwrap();
        let back = parse_record::<FrameRecord>(&json).unwrap();
        assert_eq!(back, record);
        assert_eq!(
            back.cur_from_prev().unwrap().m[1][2].to_bits(),
            (-13.069_689_233_711_134f64).to_bits()
        );
        assert_eq!(Detection::from(&back.detections[0]).bbox.y_min, 1.0 / 3.0);
        assert!(parse_record::<FrameRecord>(b"{").is_err());
        assert!(parse_record::<FrameRecord>(b"{\"position\": 1, \"extra\": 2}").is_err());
    }
}
