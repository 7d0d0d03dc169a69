//! Replay: runs the [`Engine`] over an MCAP recording as threads connected by bounded
//! crossbeam channels, and hands every result to the output [`sink`]s:
//!
//! ```text
//! read (MCAP) ──bounded──> decode ──bounded──> engine (detect + track) ──bounded──> write (sinks)
//! ```
//!
//! Sinks, in this order: the results MCAP, the annotated frames (`--render`), the
//! MOTChallenge text files (`--mot-out`, `--mot-det-out`) and the summary JSON
//! (`--summary-json`); the writer thread also counts the [`ReplaySummary`].
//!
//! Replay is lossless (every selected message is processed, none dropped) and deterministic:
//! one decode thread and one engine thread keep message order, output log times are the input
//! log times, and nothing in the output depends on wall-clock time, so the same input gives a
//! byte-identical output file. Shutdown is by dropping senders; a stop flag (Ctrl-C) makes the
//! reader stop early, everything already read is processed and every sink is finished
//! (the MCAP's summary and index written), so an interrupted replay leaves valid outputs.
//! A second interrupt ([`crate::output::abort_requested`]) drops the frames still in flight
//! and the mp4 encoding; the MCAP and the small files are still finished. Every output is
//! written under a temporary name and renamed into place when finished ([`crate::output`]).

pub mod calibration;
pub mod detections;
pub mod sink;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::bounded;

use crate::config::Config;
use crate::engine::{Engine, FrameOutput};
use crate::mcap_io::{self, CameraMessage, McapCameraSource};
use crate::motion::Affine2;
use crate::stats::{Stage, StageStats, StageTimings};
use crate::summary::ReplaySummary;
use crate::types::Frame;
use crate::Result;
use sink::{FrameResult, McapSink, MotSink, RenderSink, ResultSink, SummaryJsonSink};

/// A replay that stopped for a reason of its own (not a stage's error).
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error("MOTChallenge output needs exactly one camera stream, the input has {streams}: select one with --topic")]
    MotNeedsOneStream { streams: usize },
    #[error("cannot write {path}: {source}")]
    WriteFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot encode {path} as JSON: {message}")]
    Json { path: PathBuf, message: String },
    #[error("a pipeline stage thread panicked: {stage}")]
    StagePanicked { stage: &'static str },
    #[error("rendering an mp4 needs exactly one camera stream, the input has {streams}: select one with --topic, or render to a folder")]
    VideoNeedsOneStream { streams: usize },
    #[error(transparent)]
    OutputTopics(#[from] crate::topics::OutputTopicCollision),
    #[error(transparent)]
    Detections(#[from] detections::DetectionsError),
    #[error("--detect-only writes detections only: {what} needs the tracker (`lookout replay` without --detect-only)")]
    DetectOnlyConflict { what: &'static str },
    #[error("--start ({start_ns} ns) must come before --end ({end_ns} ns)")]
    EmptySlice { start_ns: u64, end_ns: u64 },
    #[error("render: {0}")]
    Render(#[from] crate::viz::render::RenderError),
    /// A frame the engine failed on (detector, GPU stage or tracker), named by input file,
    /// topic and index.
    #[error("{path}: topic `{topic}` message {index}: {source}")]
    Frame {
        path: PathBuf,
        topic: String,
        index: u64,
        source: Box<crate::Error>,
    },
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
    /// Write the [`ReplaySummary`] as JSON to this file when the replay ends.
    pub summary_json: Option<PathBuf>,
    /// Detection only, over a time slice: `output` becomes a detections MCAP
    /// ([`detections`]) for `lookout track --detections`.
    pub detect_only: Option<DetectOnly>,
}

/// The time slice of a detection-only replay, by log time: `[start_ns, end_ns)`, `None` open.
/// With camera-motion compensation, each stream's estimator is first warmed up on the stream's
/// last frame before `start_ns` whose stamp does not repeat its predecessor's (the frame a
/// single replay measures the slice's first motion from); that frame is not written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DetectOnly {
    pub start_ns: Option<u64>,
    pub end_ns: Option<u64>,
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

/// A message on its way from reader to decoder, with its read time.
struct ReadItem {
    msg: CameraMessage,
    read: Duration,
    /// Position in the recording's read order.
    position: u64,
    /// Only warms up the camera-motion estimator of a slice (not written).
    warm_up: bool,
}

/// A decoded frame on its way through engine and writer, with what the sinks need.
struct InFlight {
    frame: Frame,
    log_time_ns: u64,
    /// The input message's CDR bytes, kept only when the images are copied to the output.
    image_cdr: Option<Vec<u8>>,
    timings: StageTimings,
    position: u64,
    warm_up: bool,
}

/// A frame, or a frame that could not be decoded and was skipped (`replay.skip_bad_frames`).
enum Item<T> {
    Frame(T),
    Skipped,
}

/// Runs the engine over the selected camera topics of `options.input` and writes results to
/// `options.output` (and the other outputs the options ask for). Returns the summary of what
/// was processed together with the first error, if any: every output is finished (the MCAP
/// valid and indexed) in every case where it was created.
pub fn replay(options: &ReplayOptions, stop: Arc<AtomicBool>) -> (ReplaySummary, Result<()>) {
    let mut summary = ReplaySummary {
        input: options.input.clone(),
        output: options.output.clone(),
        ..Default::default()
    };
    let result = run_replay(options, &stop, &mut summary, Instant::now());
    (summary, result)
}

/// The sinks `options` ask for, in the order they see each frame. The model is loaded before
/// this is called: a bad model leaves no half-made file.
fn create_sinks(
    options: &ReplayOptions,
    streams: &[mcap_io::CameraTopic],
    engine: &Engine,
) -> Result<Vec<Box<dyn ResultSink>>> {
    if let Some(slice) = &options.detect_only {
        let info = detections::SliceInfo {
            format: detections::FORMAT_VERSION,
            lookout_version: env!("CARGO_PKG_VERSION").to_owned(),
            input_name: options
                .input
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            input_bytes: std::fs::metadata(&options.input)
                .map(|m| m.len())
                .map_err(|source| mcap_io::McapError::Open {
                    path: options.input.clone(),
                    source,
                })?,
            cameras: streams
                .iter()
                .map(|s| (s.topic.clone(), s.kind.schema_name().to_owned()))
                .collect(),
            start_ns: slice.start_ns,
            end_ns: slice.end_ns,
            camera_motion: options.config.camera_motion.enabled,
        };
        let mut sinks: Vec<Box<dyn ResultSink>> = vec![Box::new(
            detections::DetectOnlySink::create(&options.output, streams, &info)?,
        )];
        if let Some(path) = &options.summary_json {
            sinks.push(Box::new(SummaryJsonSink::new(path.clone())));
        }
        return Ok(sinks);
    }
    let ground = &options.config.ground;
    let mut results = McapSink::create(
        &options.output,
        streams,
        &options.config.replay,
        ground.enabled.then_some(ground.base_frame.as_str()),
    )?;
    for stream in streams {
        if let Some(p) = engine.calibration(&stream.topic) {
            let c = p.pose.translation_m;
            results.set_camera_xy(&stream.topic, [c.x, c.y]);
        } else if ground.enabled {
            tracing::warn!(
                "ground.enabled, but {} has no calibration (no ground.camera_info_path, no \
                 camera_info in the recording): its objects topics stay empty",
                stream.topic
            );
        }
    }
    let mut sinks: Vec<Box<dyn ResultSink>> = vec![Box::new(results)];
    let mot = match &options.mot {
        Some(mot) => Some(MotSink::new(mot.clone(), streams.len())?),
        None => None,
    };
    // After the results file, so that the overlay shows the time it took to write.
    if let Some(target) = &options.render {
        sinks.push(Box::new(RenderSink::create(target, streams.len())?));
    }
    if let Some(mot) = mot {
        sinks.push(Box::new(mot));
    }
    if let Some(path) = &options.summary_json {
        sinks.push(Box::new(SummaryJsonSink::new(path.clone())));
    }
    Ok(sinks)
}

fn run_replay(
    options: &ReplayOptions,
    stop: &AtomicBool,
    summary: &mut ReplaySummary,
    started: Instant,
) -> Result<()> {
    let config = &options.config;
    if let Some(slice) = &options.detect_only {
        let conflicts = [
            (options.mot.is_some(), "a MOTChallenge output"),
            (options.render.is_some(), "--render"),
            (config.replay.write_images, "--with-images"),
        ];
        if let Some((_, what)) = conflicts.into_iter().find(|(on, _)| *on) {
            return Err(ReplayError::DetectOnlyConflict { what }.into());
        }
        if let (Some(start_ns), Some(end_ns)) = (slice.start_ns, slice.end_ns) {
            if start_ns >= end_ns {
                return Err(ReplayError::EmptySlice { start_ns, end_ns }.into());
            }
        }
    }
    let source = McapCameraSource::open(&options.input, &config.replay.topics)?
        .with_max_pixels(config.input.max_pixels);
    let streams: Vec<mcap_io::CameraTopic> = source.topics().to_vec();
    let mut engine = Engine::new(config)?;
    if config.ground.enabled && config.ground.use_recording_calibration {
        for (stream, projector) in
            calibration::recording_calibrations(&options.input, &streams, config)?
        {
            engine.set_calibration(&stream, projector);
        }
    }
    let mut sinks = create_sinks(options, &streams, &engine)?;

    let total = source.message_count();
    let total = options.max_frames.map_or(total, |m| m.min(total));
    let progress = progress_bar(options.progress, (total > 0).then_some(total));
    let cap = config.replay.channel_capacity;
    let (read_tx, read_rx) = bounded::<ReadItem>(cap);
    let (dec_tx, dec_rx) = bounded::<Item<InFlight>>(cap);
    let (eng_tx, eng_rx) = bounded::<Item<(InFlight, FrameOutput, Option<Affine2>)>>(cap);
    let skip_bad = config.replay.skip_bad_frames;
    let keep_images = config.replay.write_images;
    let max_pixels = config.input.max_pixels;
    let max_frames = options.max_frames;
    let detect_only = options.detect_only.is_some();
    let slice = options.detect_only.unwrap_or_default();
    let warm_up_motion = config.camera_motion.enabled && slice.start_ns.is_some();

    let mut stage_stats = StageStats::new(1 << 16);
    let mut write_result: Result<()> = Ok(());
    let (reader, decoder, engine_result) = std::thread::scope(|scope| {
        let reader = scope.spawn(move || -> Result<bool> {
            let mut t = Instant::now();
            let mut warm_up = WarmUp::default();
            let mut in_slice = false;
            for (n, msg) in source.enumerate() {
                if stop.load(Ordering::Relaxed) {
                    return Ok(true);
                }
                if max_frames.is_some_and(|m| n as u64 >= m) {
                    break;
                }
                let msg = msg?;
                let position = n as u64;
                if slice.start_ns.is_some_and(|s| msg.log_time_ns < s) {
                    if warm_up_motion {
                        warm_up.see(msg, position, skip_bad, max_pixels)?;
                    }
                    continue;
                }
                // Not `break`: a file without a chunk index comes in file order.
                if slice.end_ns.is_some_and(|e| msg.log_time_ns >= e) {
                    continue;
                }
                if !in_slice {
                    in_slice = true;
                    for (position, msg) in std::mem::take(&mut warm_up).into_messages() {
                        let item = ReadItem {
                            msg,
                            read: Duration::ZERO,
                            position,
                            warm_up: true,
                        };
                        if read_tx.send(item).is_err() {
                            return Ok(false);
                        }
                    }
                }
                let item = ReadItem {
                    msg,
                    read: t.elapsed(),
                    position,
                    warm_up: false,
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
                let out = match mcap_io::decode_frame_limited(&item.msg, max_pixels) {
                    Ok(frame) => {
                        let mut timings = StageTimings::default();
                        timings.set(Stage::Read, item.read);
                        timings.set(Stage::Decode, t.elapsed());
                        Item::Frame(InFlight {
                            frame,
                            log_time_ns: item.msg.log_time_ns,
                            image_cdr: keep_images.then_some(item.msg.data),
                            timings,
                            position: item.position,
                            warm_up: item.warm_up,
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
        let input = &options.input;
        let engine_thread = scope.spawn(move || -> Result<()> {
            for item in dec_rx {
                let out = match item {
                    Item::Frame(f) => {
                        let frame_error = |e| ReplayError::Frame {
                            path: input.clone(),
                            topic: f.frame.stream.clone(),
                            index: f.frame.index,
                            source: Box::new(e),
                        };
                        let (output, motion) = if detect_only {
                            let d = engine.detect(&f.frame).map_err(frame_error)?;
                            let output = FrameOutput {
                                detections: d.detections,
                                tracks: Vec::new(),
                                objects: Vec::new(),
                                timings: d.timings,
                                time_event: None,
                            };
                            (output, d.cur_from_prev)
                        } else {
                            (engine.process(&f.frame).map_err(frame_error)?, None)
                        };
                        match output.time_event {
                            Some(event @ crate::engine::TimeEvent::TrackerReset { .. }) => {
                                tracing::warn!(
                                    "{} message {}: {event}",
                                    f.frame.stream,
                                    f.frame.index
                                );
                            }
                            // Possibly every frame of a stream (a driver stamping 0): counted
                            // in the summary, logged only at debug level.
                            Some(event) => {
                                tracing::debug!(
                                    "{} message {}: {event}",
                                    f.frame.stream,
                                    f.frame.index
                                );
                            }
                            None => {}
                        }
                        Item::Frame((f, output, motion))
                    }
                    Item::Skipped => Item::Skipped,
                };
                if eng_tx.send(out).is_err() {
                    break;
                }
            }
            Ok(())
        });

        // The writer runs on this thread; it owns the sinks and the summary.
        'frames: for item in eng_rx.iter() {
            if crate::output::abort_requested() {
                // Interrupted again: the frames still in flight are dropped, the outputs
                // finished with what was written.
                break;
            }
            let Item::Frame((f, mut output, motion)) = item else {
                summary.skipped_frames += 1;
                progress.inc(1);
                continue;
            };
            if f.warm_up {
                continue;
            }
            for stage in [Stage::Read, Stage::Decode] {
                output.timings.set(stage, f.timings.get(stage));
            }
            for sink in sinks.iter_mut() {
                let t = Instant::now();
                let written = sink.write(&FrameResult {
                    frame: &f.frame,
                    output: &output,
                    log_time_ns: f.log_time_ns,
                    image_cdr: f.image_cdr.as_deref(),
                    position: f.position,
                    camera_motion: motion.as_ref(),
                });
                if let Err(e) = written {
                    write_result = Err(e);
                    break 'frames; // dropping eng_rx (below) stops the stages before this one
                }
                if let Some(stage) = sink.stage() {
                    output
                        .timings
                        .set(stage, output.timings.get(stage) + t.elapsed());
                }
            }
            stage_stats.record(&output.timings);
            summary.add_frame(&f.frame, &output);
            progress.inc(1);
        }
        drop(eng_rx);
        (reader.join(), decoder.join(), engine_thread.join())
    });
    progress.finish_and_clear();
    summary.set_stages(&stage_stats);
    summary.interrupted = matches!(reader, Ok(Ok(true)));
    summary.set_wall_s(started.elapsed().as_secs_f64());
    // Finish every output before reporting errors: an error part-way still leaves valid outputs.
    let finished: Vec<Result<()>> = sinks.into_iter().map(|s| s.finish(summary)).collect();
    join_stage(reader, "read")?;
    join_stage(decoder, "decode")?;
    join_stage(engine_result, "engine")?;
    write_result?;
    finished.into_iter().collect()
}

/// The frames a slice's camera-motion estimators start from: per stream, the last frame before
/// the slice whose stamp does not repeat the previous frame's (the engine measures from it).
/// Without `replay.skip_bad_frames` only headers are decoded (a frame that cannot be decoded
/// fails the replay, here as in a single run); with it, every earlier frame is decoded to know
/// which ones a single run skips.
#[derive(Default)]
struct WarmUp {
    /// Per stream: the stamp of the previous (good) frame, and the candidate with its position.
    streams: std::collections::BTreeMap<Arc<str>, (i64, u64, CameraMessage)>,
}

/// The header of any camera message (it comes first in `Image` and `CompressedImage`).
#[derive(serde::Deserialize)]
struct HeaderOnly {
    header: crate::types::Header,
}

impl WarmUp {
    fn see(
        &mut self,
        msg: CameraMessage,
        position: u64,
        skip_bad: bool,
        max_pixels: u64,
    ) -> Result<()> {
        let stamp_ns = if skip_bad {
            match mcap_io::decode_frame_limited(&msg, max_pixels) {
                Ok(frame) => frame.header.stamp.as_ns(),
                Err(_) => return Ok(()), // skipped by a single run too
            }
        } else {
            let h: HeaderOnly =
                crate::msgs::from_cdr(&msg.data).map_err(|source| mcap_io::McapError::Cdr {
                    path: msg.path.to_path_buf(),
                    topic: msg.topic.to_string(),
                    index: msg.index,
                    source: Box::new(source),
                })?;
            h.header.stamp.as_ns()
        };
        match self.streams.get_mut(&msg.topic) {
            Some((previous_ns, _, _)) if *previous_ns == stamp_ns => {}
            _ => {
                self.streams
                    .insert(msg.topic.clone(), (stamp_ns, position, msg));
            }
        }
        Ok(())
    }

    /// The warm-up frames in read order.
    fn into_messages(self) -> Vec<(u64, CameraMessage)> {
        let mut out: Vec<(u64, CameraMessage)> = self
            .streams
            .into_values()
            .map(|(_, position, msg)| (position, msg))
            .collect();
        out.sort_by_key(|(position, _)| *position);
        out
    }
}

fn join_stage<T>(r: std::thread::Result<Result<T>>, stage: &'static str) -> Result<T> {
    r.map_err(|_| ReplayError::StagePanicked { stage })?
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
