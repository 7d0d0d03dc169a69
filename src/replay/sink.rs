//! Where a replay's results go: one small trait, [`ResultSink`], that the writer thread calls
//! for every processed frame in order and finishes once at the end (also after an error or a
//! stop, so every output is left complete and valid), and its implementations:
//!
//! - [`McapSink`]: the results MCAP (`Detection2DArray` detections and tracks, JSON track state,
//!   `foxglove.ImageAnnotations`, with `ground.enabled` the ground objects as
//!   `Detection3DArray`, Autoware `TrackedObjects` and `foxglove.SceneUpdate`, optionally the
//!   input images), topics named by
//!   [`OutputTopics`]; log times are the input's, so the file is byte-identical run to run.
//! - [`MotSink`]: MOTChallenge text files of one class (tracks and detections), frame `index + 1`.
//! - [`RenderSink`]: annotated frames ([`crate::viz::render`]) as JPEG files or an mp4.
//! - [`SummaryJsonSink`]: the [`ReplaySummary`] as JSON (`--summary-json`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::{MotOutputs, ReplayError};
use crate::config::ReplayConfig;
use crate::engine::FrameOutput;
use crate::ground;
use crate::mcap_io::{CameraTopic, McapError, Ros2McapWriter};
use crate::mot::{MotDetection, MotResult};
use crate::msgs;
use crate::stats::Stage;
use crate::summary::ReplaySummary;
use crate::topics::{self, OutputTopics};
use crate::types::Frame;
use crate::viz;
use crate::Result;

/// One processed frame as the sinks see it.
#[derive(Debug, Clone, Copy)]
pub struct FrameResult<'a> {
    pub frame: &'a Frame,
    /// The engine's output; its timings hold every stage up to the sinks before this one.
    pub output: &'a FrameOutput,
    /// Log time of the input message, used as the output's log time (deterministic output).
    pub log_time_ns: u64,
    /// The input message's CDR bytes, when the images are copied to the output.
    pub image_cdr: Option<&'a [u8]>,
    /// Position of the input message in the recording's read order (over all selected topics).
    pub position: u64,
    /// The camera's motion from the stream's previous frame, as the engine measured it.
    pub camera_motion: Option<&'a crate::motion::Affine2>,
}

/// An output of the replay.
pub trait ResultSink {
    /// The stage this sink's time counts toward in the frame's timings ([`Stage::Write`] for the
    /// results file), or `None` for an extra output whose time is not reported.
    fn stage(&self) -> Option<Stage> {
        None
    }

    /// Takes one frame's results (frames come in processing order).
    fn write(&mut self, result: &FrameResult<'_>) -> Result<()>;

    /// Completes the output; `summary` is the replay's, complete but for the sinks' own time.
    fn finish(self: Box<Self>, summary: &ReplaySummary) -> Result<()>;
}

/// The results MCAP.
pub struct McapSink {
    writer: Ros2McapWriter,
    /// Output topics per input camera topic.
    topics: BTreeMap<String, OutputTopics>,
    write_tracks: bool,
    write_annotations: bool,
    /// With `ground.enabled`: the frame the ground objects are in (`ground.base_frame`).
    ground_frame: Option<String>,
    /// Per input topic: the camera's optical centre `(x, y)` in the base frame, for the
    /// objects' box centres (set by [`McapSink::set_camera_xy`]).
    camera_xy_m: BTreeMap<String, [f64; 2]>,
}

impl McapSink {
    /// Creates `path` with the output topics of every camera stream (and the camera topics
    /// themselves when `config.write_images`).
    /// With `ground_frame` (`ground.enabled`), the ground objects' topics too.
    pub fn create(
        path: &Path,
        streams: &[CameraTopic],
        config: &ReplayConfig,
        ground_frame: Option<&str>,
    ) -> Result<Self> {
        // Before the file is created: a collision leaves no output behind.
        let inputs: Vec<&str> = streams.iter().map(|s| s.topic.as_str()).collect();
        let outputs = OutputTopics::for_cameras(&inputs).map_err(ReplayError::from)?;
        let mut writer = Ros2McapWriter::create(path)?;
        let mut topics = BTreeMap::new();
        for (stream, out) in streams.iter().zip(outputs) {
            writer.add_topic::<msgs::Detection2DArray>(&out.detections)?;
            if config.write_tracks {
                writer.add_topic::<msgs::Detection2DArray>(&out.tracks)?;
                writer.add_json_topic(
                    &out.track_state,
                    topics::TRACK_STATE_SCHEMA_NAME,
                    topics::TRACK_STATE_JSON_SCHEMA,
                )?;
            }
            if config.write_annotations {
                writer.add_json_topic(
                    &out.annotations,
                    viz::foxglove::IMAGE_ANNOTATIONS_SCHEMA_NAME,
                    viz::foxglove::IMAGE_ANNOTATIONS_JSON_SCHEMA,
                )?;
            }
            if ground_frame.is_some() {
                writer.add_topic::<msgs::Detection3DArray>(&out.objects)?;
                writer.add_topic::<msgs::TrackedObjects>(&out.objects_autoware)?;
                writer.add_json_topic(
                    &out.objects_scene,
                    ground::outputs::SCENE_UPDATE_SCHEMA_NAME,
                    ground::outputs::SCENE_UPDATE_JSON_SCHEMA,
                )?;
            }
            if config.write_images {
                let schema = stream.kind.schema_name();
                writer.add_topic_with_schema(
                    &stream.topic,
                    schema,
                    &msgs::definitions::full_definition(schema),
                )?;
            }
            topics.insert(stream.topic.clone(), out);
        }
        Ok(Self {
            writer,
            topics,
            write_tracks: config.write_tracks,
            write_annotations: config.write_annotations,
            ground_frame: ground_frame.map(str::to_owned),
            camera_xy_m: BTreeMap::new(),
        })
    }

    /// Where a stream's camera is, for the box centres of its ground objects.
    pub fn set_camera_xy(&mut self, stream: &str, camera_xy_m: [f64; 2]) {
        self.camera_xy_m.insert(stream.to_owned(), camera_xy_m);
    }

    fn json_error(&self, topic: &str, e: serde_json::Error) -> McapError {
        McapError::Json {
            path: self.writer.path().to_owned(),
            topic: topic.to_owned(),
            message: e.to_string(),
        }
    }
}

impl ResultSink for McapSink {
    fn stage(&self) -> Option<Stage> {
        Some(Stage::Write)
    }

    fn write(&mut self, result: &FrameResult<'_>) -> Result<()> {
        let frame = result.frame;
        let output = result.output;
        let Some(out) = self.topics.get(&frame.stream) else {
            return Ok(());
        };
        // The MCAP sequence field is 32 bits; it wraps on recordings of over 4 billion frames.
        let sequence = frame.index as u32;
        let log_time_ns = result.log_time_ns;
        if let Some(cdr) = result.image_cdr {
            self.writer
                .write(&frame.stream, log_time_ns, log_time_ns, sequence, cdr)?;
        }
        let dets = msgs::Detection2DArray::from_detections(&frame.header, &output.detections);
        self.writer
            .write_message(&out.detections, log_time_ns, sequence, &dets)?;
        if self.write_tracks {
            let tracks = msgs::Detection2DArray::from_tracks(&frame.header, &output.tracks);
            self.writer
                .write_message(&out.tracks, log_time_ns, sequence, &tracks)?;
            let state = topics::track_state_json(&frame.header, &output.tracks)
                .map_err(|e| self.json_error(&out.track_state, e))?;
            self.writer
                .write(&out.track_state, log_time_ns, log_time_ns, sequence, &state)?;
        }
        if self.write_annotations {
            // Without the tracker's topics the annotations show detections only, like the file.
            let tracks: &[crate::track::TrackOutput] = if self.write_tracks {
                &output.tracks
            } else {
                &[]
            };
            let json =
                viz::foxglove::image_annotations_json(&frame.header, &output.detections, tracks)
                    .map_err(|e| self.json_error(&out.annotations, e))?;
            self.writer
                .write(&out.annotations, log_time_ns, log_time_ns, sequence, &json)?;
        }
        if let Some(base_frame) = &self.ground_frame {
            let header = ground::outputs::base_header(&frame.header, base_frame);
            let xy = self
                .camera_xy_m
                .get(&frame.stream)
                .copied()
                .unwrap_or_default();
            let objects = &output.objects;
            let d3 = ground::outputs::detection3d_array(&header, objects, xy);
            self.writer
                .write_message(&out.objects, log_time_ns, sequence, &d3)?;
            let tracked = ground::outputs::tracked_objects(&header, &frame.stream, objects, xy);
            self.writer
                .write_message(&out.objects_autoware, log_time_ns, sequence, &tracked)?;
            let scene = ground::outputs::scene_update_json(&header, objects, xy)
                .map_err(|e| self.json_error(&out.objects_scene, e))?;
            self.writer.write(
                &out.objects_scene,
                log_time_ns,
                log_time_ns,
                sequence,
                &scene,
            )?;
        }
        Ok(())
    }

    fn finish(self: Box<Self>, _summary: &ReplaySummary) -> Result<()> {
        self.writer.finish()?;
        Ok(())
    }
}

/// MOTChallenge text files of one class, written at the end (they are small: one line per box).
pub struct MotSink {
    outputs: MotOutputs,
    tracks: Vec<MotResult>,
    detections: Vec<MotDetection>,
}

impl MotSink {
    /// MOTChallenge frames are numbered per sequence, so the input must hold one camera stream.
    pub fn new(outputs: MotOutputs, streams: usize) -> Result<Self> {
        if streams != 1 {
            return Err(ReplayError::MotNeedsOneStream { streams }.into());
        }
        Ok(Self {
            outputs,
            tracks: Vec::new(),
            detections: Vec::new(),
        })
    }
}

impl ResultSink for MotSink {
    fn write(&mut self, result: &FrameResult<'_>) -> Result<()> {
        let label = self.outputs.label.as_str();
        let mot_frame = u32::try_from(result.frame.index + 1).unwrap_or(u32::MAX);
        self.tracks.extend(
            result
                .output
                .tracks
                .iter()
                .filter(|t| &*t.label == label)
                .map(|t| MotResult {
                    frame: mot_frame,
                    id: t.id,
                    bbox: t.bbox,
                    score: t.score,
                }),
        );
        self.detections.extend(
            result
                .output
                .detections
                .iter()
                .filter(|d| d.label == label)
                .map(|d| MotDetection {
                    frame: mot_frame,
                    bbox: d.bbox,
                    score: d.score,
                }),
        );
        Ok(())
    }

    fn finish(self: Box<Self>, _summary: &ReplaySummary) -> Result<()> {
        if let Some(path) = &self.outputs.tracks {
            write_file(path, crate::mot::format_results(&self.tracks).as_bytes())?;
        }
        if let Some(path) = &self.outputs.detections {
            write_file(
                path,
                crate::mot::format_detections(&self.detections).as_bytes(),
            )?;
        }
        Ok(())
    }
}

/// Annotated frames: a folder of JPEG files, or a `.mp4` video (encoded with ffmpeg).
pub struct RenderSink {
    renderer: viz::render::Renderer,
    frames: viz::render::FrameSink,
}

impl RenderSink {
    /// A video holds one sequence, so an `.mp4` target needs exactly one camera stream.
    pub fn create(target: &Path, streams: usize) -> Result<Self> {
        if crate::viz::render::is_video(target) && streams != 1 {
            return Err(ReplayError::VideoNeedsOneStream { streams }.into());
        }
        let frames = viz::render::FrameSink::create(target).map_err(ReplayError::from)?;
        Ok(Self {
            renderer: viz::render::Renderer::default(),
            frames,
        })
    }
}

impl ResultSink for RenderSink {
    fn write(&mut self, result: &FrameResult<'_>) -> Result<()> {
        let output = result.output;
        let overlay = viz::render::Overlay::of_stages(&Stage::ALL, &output.timings);
        self.renderer
            .draw(result.frame, &output.detections, &output.tracks, &overlay)
            .and_then(|img| self.frames.write(result.frame, &img))
            .map_err(ReplayError::from)?;
        Ok(())
    }

    fn finish(self: Box<Self>, _summary: &ReplaySummary) -> Result<()> {
        self.frames.finish().map_err(ReplayError::from)?;
        Ok(())
    }
}

/// The replay's summary as pretty JSON, written when the replay ends.
pub struct SummaryJsonSink {
    path: PathBuf,
}

impl SummaryJsonSink {
    pub fn new(path: PathBuf) -> Self {
        Self { path }
    }
}

impl ResultSink for SummaryJsonSink {
    fn write(&mut self, _result: &FrameResult<'_>) -> Result<()> {
        Ok(())
    }

    fn finish(self: Box<Self>, summary: &ReplaySummary) -> Result<()> {
        let json = serde_json::to_string_pretty(summary).map_err(|e| ReplayError::Json {
            path: self.path.clone(),
            message: e.to_string(),
        })?;
        write_file(&self.path, json.as_bytes())
    }
}

/// Small outputs are written whole or not at all ([`crate::output::write_atomic`]).
fn write_file(path: &Path, bytes: &[u8]) -> Result<()> {
    crate::output::write_atomic(path, bytes).map_err(|source| ReplayError::WriteFile {
        path: path.to_owned(),
        source,
    })?;
    Ok(())
}
