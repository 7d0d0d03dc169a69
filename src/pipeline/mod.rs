//! The replay engine: one [`Engine`] (detector + one tracker per camera stream) shared by
//! `lookout replay` and the ROS node, and [`replay`], which runs it over an MCAP recording as
//! threads connected by bounded crossbeam channels:
//!
//! ```text
//! read (MCAP) ──bounded──> decode ──bounded──> engine (detect + track) ──bounded──> write (MCAP)
//! ```
//!
//! Replay is lossless (every selected message is processed, none dropped) and deterministic:
//! one decode thread and one engine thread keep message order, output log times are the input
//! log times, and nothing in the output depends on wall-clock time, so the same input gives a
//! byte-identical output file. Shutdown is by dropping senders; a stop flag (Ctrl-C) makes the
//! reader stop early, everything already read is processed and the output file is finished
//! (summary and index written), so an interrupted replay leaves a valid MCAP.

pub mod output;
pub mod stats;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::bounded;

use crate::config::{Config, DeviceSpec};
use crate::detect::Detector;
use crate::mcap_io::{self, CameraMessage, McapCameraSource, Ros2McapWriter};
use crate::mot::{MotDetection, MotResult};
use crate::msgs;
use crate::track::{TrackOutput, Tracker};
use crate::types::{Detection, Frame};
use crate::Result;
pub use stats::{LatencySummary, Stage, StageStats, StageTimings};

/// A pipeline that stopped for a reason of its own (not a stage's error).
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error("device `{device}`: {message}")]
    Device { device: String, message: String },
    #[error("MOTChallenge output needs exactly one camera stream, the input has {streams}: select one with --topic")]
    MotNeedsOneStream { streams: usize },
    #[error("cannot write {path}: {source}")]
    WriteFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("a pipeline stage thread panicked: {stage}")]
    StagePanicked { stage: &'static str },
    #[error("rendering an mp4 needs exactly one camera stream, the input has {streams}: select one with --topic, or render to a folder")]
    VideoNeedsOneStream { streams: usize },
    #[error("render: {0}")]
    Render(#[from] crate::viz::render::RenderError),
    /// A frame the engine failed on (detector, GPU stage or tracker), named by topic and index.
    #[error("{topic} message {index}: {source}")]
    Frame {
        topic: String,
        index: u64,
        source: Box<crate::Error>,
    },
}

/// What the engine made of one frame.
#[derive(Debug, Clone)]
pub struct FrameOutput {
    /// Detections in the frame's image pixels, after NMS and class mapping.
    pub detections: Vec<Detection>,
    /// The tracker's output for this frame (see [`crate::track`] for which tracks are reported).
    pub tracks: Vec<TrackOutput>,
    /// Time spent per stage on this frame (preprocess, forward, postprocess, track).
    pub timings: StageTimings,
}

/// Detector plus one tracker per camera stream; the same object serves replay and the ROS node,
/// so the same frames in give the same results out.
pub struct Engine {
    detector: Detector,
    tracking: crate::track::TrackerConfig,
    trackers: BTreeMap<String, Tracker>,
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
        })
    }

    /// Detects and tracks one frame. Each `frame.stream` has its own tracker (and id space).
    pub fn process(&mut self, frame: &Frame) -> Result<FrameOutput> {
        let mut timings = StageTimings::default();
        let (detections, det_times) = self.detector.detect_timed(&frame.image)?;
        timings.set(Stage::Preprocess, det_times.letterbox);
        timings.set(Stage::Forward, det_times.forward);
        timings.set(Stage::Postprocess, det_times.decode_nms);
        let t = Instant::now();
        let tracker = match self.trackers.entry(frame.stream.clone()) {
            std::collections::btree_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::btree_map::Entry::Vacant(e) => {
                e.insert(Tracker::new(self.tracking.clone())?)
            }
        };
        let tracks = tracker.update(frame.header.stamp, &detections)?;
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
    let err = |message: String| PipelineError::Device {
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

/// Output topic names for one camera stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputTopics {
    pub detections: String,
    pub tracks: String,
    pub track_state: String,
    /// `foxglove.ImageAnnotations` of the detections and tracks.
    pub annotations: String,
}

impl OutputTopics {
    /// `/ns/cam/image_raw/compressed` -> `/ns/cam/detections`, `/ns/cam/tracks`,
    /// `/ns/cam/tracks/state`, `/ns/cam/annotations`: the image suffix is replaced, as image_transport users expect.
    pub fn for_camera(input_topic: &str) -> Self {
        let mut base = input_topic.trim_end_matches('/');
        base = base.strip_suffix("/compressed").unwrap_or(base);
        for suffix in [
            "/image_raw",
            "/image_rect_color",
            "/image_rect",
            "/image_color",
            "/image",
        ] {
            if let Some(b) = base.strip_suffix(suffix) {
                base = b;
                break;
            }
        }
        let base = if base.is_empty() { "/lookout" } else { base };
        Self {
            detections: format!("{base}/detections"),
            tracks: format!("{base}/tracks"),
            track_state: format!("{base}/tracks/state"),
            annotations: format!("{base}/annotations"),
        }
    }
}

/// What to replay and where.
#[derive(Debug, Clone)]
pub struct ReplayOptions {
    pub input: PathBuf,
    pub output: PathBuf,
    pub config: Config,
    /// Stop after this many frames (over all streams).
    pub max_frames: Option<u64>,
    /// Show a progress bar (only drawn when stderr is a terminal).
    pub progress: bool,
    /// MOTChallenge text outputs of the (single) camera stream, for scoring against a
    /// MOTChallenge ground truth; frame numbers are `index + 1`.
    pub mot: Option<MotOutputs>,
    /// Annotated frames: a folder of JPEG files, or a `.mp4` video (encoded with ffmpeg).
    pub render: Option<PathBuf>,
}

/// Where to write MOTChallenge files from a replay, and which class to keep.
#[derive(Debug, Clone)]
pub struct MotOutputs {
    /// Tracks as `frame,id,x,y,w,h,score,-1,-1,-1`.
    pub tracks: Option<PathBuf>,
    /// Detections as `frame,-1,x,y,w,h,score,-1,-1,-1` (the public-detection format that
    /// `lookout track --det` reads, so the tracker can be re-run without the detector).
    pub detections: Option<PathBuf>,
    /// Output class to keep (MOTChallenge scores one class), e.g. `pedestrian`.
    pub label: String,
}

/// Counts and timings of a replay, printed at the end and returned to callers.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct ReplaySummary {
    pub input: PathBuf,
    pub output: PathBuf,
    pub frames: u64,
    pub frames_per_stream: BTreeMap<String, u64>,
    pub skipped_frames: u64,
    pub detections: u64,
    pub detections_per_class: BTreeMap<String, u64>,
    pub track_ids_per_stream: BTreeMap<String, u64>,
    pub wall_s: f64,
    pub frames_per_s: f64,
    /// Per-stage latency, in pipeline order.
    pub stages: Vec<(&'static str, LatencySummary)>,
    /// True when a stop request (Ctrl-C) ended the replay before the end of the input.
    pub interrupted: bool,
    /// Per-frame time of each stage in ms (the first [`STAGE_SAMPLES_MAX`] frames), for the
    /// latency histograms of `lookout eval --report`.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub stage_samples_ms: BTreeMap<&'static str, Vec<f64>>,
}

/// Per-frame stage times kept in [`ReplaySummary::stage_samples_ms`] (bounded memory).
pub const STAGE_SAMPLES_MAX: usize = 1 << 16;

impl std::fmt::Display for ReplaySummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "replay {} -> {}",
            self.input.display(),
            self.output.display()
        )?;
        if self.interrupted {
            writeln!(
                f,
                "  INTERRUPTED: the output holds every frame processed before the stop"
            )?;
        }
        writeln!(
            f,
            "  frames: {} ({:.1} frames/s over {:.1} s wall){}",
            self.frames,
            self.frames_per_s,
            self.wall_s,
            if self.skipped_frames > 0 {
                format!(", {} skipped (undecodable)", self.skipped_frames)
            } else {
                String::new()
            }
        )?;
        for (stream, n) in &self.frames_per_stream {
            let ids = self.track_ids_per_stream.get(stream).copied().unwrap_or(0);
            writeln!(f, "    {stream}: {n} frames, {ids} track ids")?;
        }
        writeln!(f, "  detections: {}", self.detections)?;
        for (class, n) in &self.detections_per_class {
            writeln!(f, "    {class:<14} {n}")?;
        }
        writeln!(f, "  per-stage time per frame (ms):   p50     p99    mean")?;
        for (stage, s) in &self.stages {
            writeln!(
                f,
                "    {stage:<12} {:>18.2} {:>7.2} {:>7.2}",
                s.p50_ms, s.p99_ms, s.mean_ms
            )?;
        }
        Ok(())
    }
}

/// A message on its way from reader to decoder, with its read time.
struct ReadItem {
    msg: CameraMessage,
    read: Duration,
}

/// A decoded frame on its way through engine and writer, with what the writer needs.
struct InFlight {
    frame: Frame,
    log_time_ns: u64,
    /// The input message's CDR bytes, kept only when the images are copied to the output.
    image_cdr: Option<Vec<u8>>,
    timings: StageTimings,
}

/// A frame, or a frame that could not be decoded and was skipped (`replay.skip_bad_frames`).
enum Item<T> {
    Frame(T),
    Skipped,
}

/// Runs the engine over the selected camera topics of `options.input` and writes results to
/// `options.output`. Returns the summary of what was processed together with the first error,
/// if any: the output file is finished (valid and indexed) in every case where it was created.
pub fn replay(options: &ReplayOptions, stop: Arc<AtomicBool>) -> (ReplaySummary, Result<()>) {
    let mut summary = ReplaySummary {
        input: options.input.clone(),
        output: options.output.clone(),
        ..Default::default()
    };
    let started = Instant::now();
    let result = run_replay(options, &stop, &mut summary);
    summary.wall_s = started.elapsed().as_secs_f64();
    summary.frames_per_s = if summary.wall_s > 0.0 {
        summary.frames as f64 / summary.wall_s
    } else {
        0.0
    };
    (summary, result)
}

fn run_replay(
    options: &ReplayOptions,
    stop: &AtomicBool,
    summary: &mut ReplaySummary,
) -> Result<()> {
    let config = &options.config;
    let source = McapCameraSource::open(&options.input, &config.replay.topics)?;
    let streams: Vec<mcap_io::CameraTopic> = source.topics().to_vec();
    // Load the model before creating the output: a bad model leaves no half-made file.
    let mut engine = Engine::new(config)?;
    let mut writer = Ros2McapWriter::create(&options.output)?;
    let mut topics = BTreeMap::new();
    for stream in &streams {
        let out = OutputTopics::for_camera(&stream.topic);
        writer.add_topic::<msgs::Detection2DArray>(&out.detections)?;
        if config.replay.write_tracks {
            writer.add_topic::<msgs::Detection2DArray>(&out.tracks)?;
            writer.add_json_topic(
                &out.track_state,
                output::TRACK_STATE_SCHEMA_NAME,
                output::TRACK_STATE_JSON_SCHEMA,
            )?;
        }
        if config.replay.write_annotations {
            writer.add_json_topic(
                &out.annotations,
                crate::viz::foxglove::IMAGE_ANNOTATIONS_SCHEMA_NAME,
                crate::viz::foxglove::IMAGE_ANNOTATIONS_JSON_SCHEMA,
            )?;
        }
        if config.replay.write_images {
            let schema = stream.kind.schema_name();
            writer.add_topic_with_schema(
                &stream.topic,
                schema,
                &msgs::definitions::full_definition(schema),
            )?;
        }
        topics.insert(stream.topic.clone(), out);
    }

    let total = source.message_count();
    let total = options.max_frames.map_or(total, |m| m.min(total));
    let progress = progress_bar(options.progress, (total > 0).then_some(total));
    let cap = config.replay.channel_capacity;
    let (read_tx, read_rx) = bounded::<ReadItem>(cap);
    let (dec_tx, dec_rx) = bounded::<Item<InFlight>>(cap);
    let (eng_tx, eng_rx) = bounded::<Item<(InFlight, FrameOutput)>>(cap);
    let skip_bad = config.replay.skip_bad_frames;
    let keep_images = config.replay.write_images;
    let max_frames = options.max_frames;

    if options.mot.is_some() && streams.len() != 1 {
        return Err(PipelineError::MotNeedsOneStream {
            streams: streams.len(),
        }
        .into());
    }
    let mut mot_tracks: Vec<MotResult> = Vec::new();
    let mut mot_dets: Vec<MotDetection> = Vec::new();
    let mot_label = options.mot.as_ref().map(|m| m.label.as_str());

    let mut render = match &options.render {
        Some(target) => {
            let is_video = target
                .extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("mp4"));
            if is_video && streams.len() != 1 {
                return Err(PipelineError::VideoNeedsOneStream {
                    streams: streams.len(),
                }
                .into());
            }
            let sink =
                crate::viz::render::FrameSink::create(target).map_err(PipelineError::from)?;
            Some((crate::viz::render::Renderer::default(), sink))
        }
        None => None,
    };
    let mut stage_stats = StageStats::new(1 << 16);
    let mut write_result: Result<()> = Ok(());
    let (reader, decoder, engine_result) = std::thread::scope(|scope| {
        let reader = scope.spawn(move || -> Result<bool> {
            let mut t = Instant::now();
            for (n, msg) in source.enumerate() {
                if stop.load(Ordering::Relaxed) {
                    return Ok(true);
                }
                if max_frames.is_some_and(|m| n as u64 >= m) {
                    break;
                }
                let item = ReadItem {
                    msg: msg?,
                    read: t.elapsed(),
                };
                if read_tx.send(item).is_err() {
                    break; // a later stage stopped; its own thread reports why
                }
                t = Instant::now();
            }
            Ok(false)
        });
        let decoder = scope.spawn(move || -> Result<()> {
            for item in read_rx {
                let t = Instant::now();
                let out = match mcap_io::decode_frame(&item.msg) {
                    Ok(frame) => {
                        let mut timings = StageTimings::default();
                        timings.set(Stage::Read, item.read);
                        timings.set(Stage::Decode, t.elapsed());
                        Item::Frame(InFlight {
                            frame,
                            log_time_ns: item.msg.log_time_ns,
                            image_cdr: keep_images.then_some(item.msg.data),
                            timings,
                        })
                    }
                    Err(e) if skip_bad => {
                        tracing::warn!("skipping frame: {e}");
                        Item::Skipped
                    }
                    Err(e) => return Err(e.into()),
                };
                if dec_tx.send(out).is_err() {
                    break;
                }
            }
            Ok(())
        });
        let engine_thread = scope.spawn(move || -> Result<()> {
            for item in dec_rx {
                let out = match item {
                    Item::Frame(f) => {
                        let output =
                            engine.process(&f.frame).map_err(|e| PipelineError::Frame {
                                topic: f.frame.stream.clone(),
                                index: f.frame.index,
                                source: Box::new(e),
                            })?;
                        Item::Frame((f, output))
                    }
                    Item::Skipped => Item::Skipped,
                };
                if eng_tx.send(out).is_err() {
                    break;
                }
            }
            Ok(())
        });

        // The writer runs on this thread; it owns the output file and the summary.
        for item in eng_rx.iter() {
            let Item::Frame((f, mut output)) = item else {
                summary.skipped_frames += 1;
                progress.inc(1);
                continue;
            };
            let t = Instant::now();
            if let Err(e) = write_frame(&mut writer, &topics, config, &f, &output) {
                write_result = Err(e);
                break; // dropping eng_rx (below) stops the stages before this one
            }
            for stage in [Stage::Read, Stage::Decode] {
                output.timings.set(stage, f.timings.get(stage));
            }
            output.timings.set(Stage::Write, t.elapsed());
            if let Some((renderer, sink)) = render.as_mut() {
                let overlay = crate::viz::render::Overlay {
                    stage_ms: Stage::ALL
                        .iter()
                        .map(|s| (s.name(), output.timings.get(*s).as_secs_f64() * 1e3))
                        .collect(),
                };
                let drawn = renderer
                    .draw(&f.frame, &output.detections, &output.tracks, &overlay)
                    .and_then(|img| sink.write(&f.frame, &img));
                if let Err(e) = drawn {
                    write_result = Err(PipelineError::from(e).into());
                    break;
                }
            }
            stage_stats.record(&output.timings);
            for stage in Stage::ALL {
                let samples = summary.stage_samples_ms.entry(stage.name()).or_default();
                if samples.len() < STAGE_SAMPLES_MAX {
                    samples.push(output.timings.get(stage).as_secs_f64() * 1e3);
                }
            }
            count_frame(summary, &f.frame, &output);
            if let Some(label) = mot_label {
                collect_mot(&f.frame, &output, label, &mut mot_tracks, &mut mot_dets);
            }
            progress.inc(1);
        }
        drop(eng_rx);
        (reader.join(), decoder.join(), engine_thread.join())
    });
    progress.finish_and_clear();
    for stage in Stage::ALL {
        let s = stage_stats.summary(stage);
        if s.count > 0 {
            summary.stages.push((stage.name(), s));
        } else {
            summary.stage_samples_ms.remove(stage.name());
        }
    }
    // Finish the files before reporting errors: an error part-way still leaves valid outputs.
    let finish_result = writer.finish();
    let render_result = match render {
        Some((_, sink)) => sink.finish().map(|_| ()).map_err(PipelineError::from),
        None => Ok(()),
    };
    let mot_result = match &options.mot {
        Some(mot) => write_mot(mot, &mot_tracks, &mot_dets),
        None => Ok(()),
    };
    summary.interrupted = join_stage(reader, "read")?;
    join_stage(decoder, "decode")?;
    join_stage(engine_result, "engine")?;
    write_result?;
    finish_result?;
    render_result?;
    mot_result
}

fn collect_mot(
    frame: &Frame,
    output: &FrameOutput,
    label: &str,
    tracks: &mut Vec<MotResult>,
    dets: &mut Vec<MotDetection>,
) {
    let mot_frame = u32::try_from(frame.index + 1).unwrap_or(u32::MAX);
    tracks.extend(
        output
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
    dets.extend(
        output
            .detections
            .iter()
            .filter(|d| d.label == label)
            .map(|d| MotDetection {
                frame: mot_frame,
                bbox: d.bbox,
                score: d.score,
            }),
    );
}

fn write_mot(mot: &MotOutputs, tracks: &[MotResult], dets: &[MotDetection]) -> Result<()> {
    let write = |path: &PathBuf, text: String| {
        std::fs::write(path, text).map_err(|source| PipelineError::WriteFile {
            path: path.clone(),
            source,
        })
    };
    if let Some(path) = &mot.tracks {
        write(path, crate::mot::format_results(tracks))?;
    }
    if let Some(path) = &mot.detections {
        write(path, crate::mot::format_detections(dets))?;
    }
    Ok(())
}

fn join_stage<T>(r: std::thread::Result<Result<T>>, stage: &'static str) -> Result<T> {
    r.map_err(|_| PipelineError::StagePanicked { stage })?
}

fn write_frame(
    writer: &mut Ros2McapWriter,
    topics: &BTreeMap<String, OutputTopics>,
    config: &Config,
    f: &InFlight,
    output: &FrameOutput,
) -> Result<()> {
    let frame = &f.frame;
    let Some(out) = topics.get(&frame.stream) else {
        return Ok(());
    };
    // The MCAP sequence field is 32 bits; it wraps on recordings of over 4 billion frames.
    let sequence = frame.index as u32;
    let log_time_ns = f.log_time_ns;
    if let Some(cdr) = &f.image_cdr {
        writer.write(&frame.stream, log_time_ns, log_time_ns, sequence, cdr)?;
    }
    let dets = msgs::Detection2DArray::from_detections(&frame.header, &output.detections);
    writer.write_message(&out.detections, log_time_ns, sequence, &dets)?;
    if config.replay.write_tracks {
        let tracks = msgs::Detection2DArray::from_tracks(&frame.header, &output.tracks);
        writer.write_message(&out.tracks, log_time_ns, sequence, &tracks)?;
        let state = output::track_state_json(&frame.header, &output.tracks).map_err(|e| {
            crate::mcap_io::McapError::Json {
                path: writer.path().to_owned(),
                topic: out.track_state.clone(),
                message: e.to_string(),
            }
        })?;
        writer.write(&out.track_state, log_time_ns, log_time_ns, sequence, &state)?;
    }
    if config.replay.write_annotations {
        // Without the tracker's topics the annotations show detections only, like the file.
        let tracks: &[crate::track::TrackOutput] = if config.replay.write_tracks {
            &output.tracks
        } else {
            &[]
        };
        let json =
            crate::viz::foxglove::image_annotations_json(&frame.header, &output.detections, tracks)
                .map_err(|e| crate::mcap_io::McapError::Json {
                    path: writer.path().to_owned(),
                    topic: out.annotations.clone(),
                    message: e.to_string(),
                })?;
        writer.write(&out.annotations, log_time_ns, log_time_ns, sequence, &json)?;
    }
    Ok(())
}

fn count_frame(summary: &mut ReplaySummary, frame: &Frame, output: &FrameOutput) {
    summary.frames += 1;
    *summary
        .frames_per_stream
        .entry(frame.stream.clone())
        .or_default() += 1;
    summary.detections += output.detections.len() as u64;
    for d in &output.detections {
        *summary
            .detections_per_class
            .entry(d.label.clone())
            .or_default() += 1;
    }
    if let Some(max_id) = output.tracks.iter().map(|t| t.id).max() {
        let e = summary
            .track_ids_per_stream
            .entry(frame.stream.clone())
            .or_default();
        *e = (*e).max(max_id);
    }
}

fn progress_bar(enabled: bool, total: Option<u64>) -> indicatif::ProgressBar {
    if !enabled {
        return indicatif::ProgressBar::hidden();
    }
    let bar = match total {
        Some(n) => indicatif::ProgressBar::new(n),
        None => indicatif::ProgressBar::new_spinner(),
    };
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "{spinner} {pos}/{len} frames [{elapsed_precise}] {per_sec} eta {eta}",
    ) {
        bar.set_style(style);
    }
    bar
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_topics_replace_image_suffixes() {
        let t = OutputTopics::for_camera("/cam/front/image_raw/compressed");
        assert_eq!(t.detections, "/cam/front/detections");
        assert_eq!(t.tracks, "/cam/front/tracks");
        assert_eq!(t.track_state, "/cam/front/tracks/state");
        assert_eq!(t.annotations, "/cam/front/annotations");
        assert_eq!(
            OutputTopics::for_camera("/left/image").detections,
            "/left/detections"
        );
        assert_eq!(
            OutputTopics::for_camera("/camera").detections,
            "/camera/detections"
        );
        assert_eq!(
            OutputTopics::for_camera("/image_raw").detections,
            "/lookout/detections"
        );
    }
}
