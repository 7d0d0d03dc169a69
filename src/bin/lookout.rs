//! The `lookout` command line: glue between arguments, configuration and the library.
//!
//! Subcommands: `record` (video/images -> ROS 2 MCAP), `replay` (MCAP -> detections and tracks
//! in MCAP), `track` (MOTChallenge detections -> MOTChallenge results), `topics` (list camera
//! topics of a recording), `eval` (score a replay against MOTChallenge ground truth),
//! `assets` (check the asset cache). Exit codes: 0 success, 1 error,
//! 130 interrupted (Ctrl-C; outputs are still valid and hold everything processed).

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use lookout::config::Config;

#[derive(Parser)]
#[command(
    name = "lookout",
    version,
    about = "Camera perception for autonomous driving: detect and track in ROS 2 recordings"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Build a ROS 2 MCAP recording from a video file or a folder of images.
    Record(RecordArgs),
    /// Run detection and tracking over the camera topics of an MCAP recording.
    Replay(ReplayArgs),
    /// Track MOTChallenge detections (det.txt) and write MOTChallenge results.
    Track(TrackArgs),
    /// List the camera topics of an MCAP recording.
    Topics {
        /// The recording.
        input: PathBuf,
    },
    /// Score a replay output against a MOTChallenge ground truth: MOTA/IDF1/ID switches of
    /// the tracks, precision/recall/AP50 of the detections, and an HTML report.
    Eval(EvalArgs),
    /// Verify the model weights and test data in the asset cache against their sha256 pins.
    Assets,
    /// Detector forward time against OpenCV DNN (same model, input, image, threads, one run),
    /// and end-to-end replay throughput on a recording.
    Bench(BenchArgs),
    /// Camera bytes to boxes on the host, per stage (upload, preprocess, forward, decode+NMS,
    /// download) and end to end, at several batch sizes, on `--device` (the GPU benchmark).
    BenchStages(BenchStagesArgs),
}

#[derive(Args)]
struct BenchStagesArgs {
    /// Device: cpu or cuda:N (CUDA needs a `--features cuda` build).
    #[arg(long, default_value = "cpu")]
    device: String,
    /// Model: yolov4-tiny or yolov3-tiny.
    #[arg(long, default_value = "yolov4-tiny")]
    model: String,
    /// Network precision: f32, or f16 (CUDA only).
    #[arg(long, default_value = "f32")]
    precision: String,
    /// Network input size in pixels.
    #[arg(long, default_value_t = 416)]
    input_size: u32,
    /// Batch sizes (comma-separated), each a batch of copies of the camera frame.
    #[arg(long, value_delimiter = ',', default_value = "1,8")]
    batch: Vec<usize>,
    /// Camera frame size, WIDTHxHEIGHT; the frame is data/darknet/person.jpg resized, as bgr8.
    #[arg(long, default_value = "1920x1080")]
    frame: String,
    /// Untimed warm-up runs per batch size.
    #[arg(long, default_value_t = 20)]
    warmup: usize,
    /// Timed runs per batch size (each of staged and end-to-end).
    #[arg(long, default_value_t = 200)]
    runs: usize,
    /// Write the results as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
}

#[derive(Args)]
struct BenchArgs {
    /// Models to measure: yolov4-tiny, yolov3-tiny (repeatable; default both).
    #[arg(long = "model")]
    models: Vec<String>,
    /// Network input size in pixels.
    #[arg(long, default_value_t = 416)]
    input_size: u32,
    /// Timed forward passes per model (after the warm-up).
    #[arg(long, default_value_t = 20)]
    runs: usize,
    /// Untimed forward passes first.
    #[arg(long, default_value_t = 3)]
    warmup: usize,
    /// Threads for both lookout (candle) and OpenCV.
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// Image to letterbox and run (default: the cache's data/darknet/person.jpg).
    #[arg(long)]
    image: Option<PathBuf>,
    /// Also replay this recording (to a temporary output) and report frames/s per stage.
    #[arg(long)]
    recording: Option<PathBuf>,
    /// Frames of the recording to replay.
    #[arg(long)]
    frames: Option<u64>,
    /// Write the results as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
}

/// Configuration shared by the subcommands that run the engine.
#[derive(Args)]
struct ConfigArgs {
    /// ROS 2 parameter file (`/**: ros__parameters:`); defaults to configs/lookout.param.yaml.
    #[arg(long, short = 'c')]
    config: Option<PathBuf>,
    /// Override one parameter, e.g. `--set detector.confidence_min=0.4` (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    overrides: Vec<String>,
}

impl ConfigArgs {
    fn load(&self, extra: Vec<String>) -> anyhow::Result<Config> {
        let mut overrides = self.overrides.clone();
        overrides.extend(extra);
        match &self.config {
            Some(path) => Ok(Config::load(path, &overrides)?),
            None => {
                let path = lookout::config::default_params_path();
                if path.is_file() {
                    Ok(Config::load(&path, &overrides)?)
                } else {
                    // An installed binary away from its source tree: the built-in defaults.
                    Ok(Config::from_yaml_str(
                        lookout::config::DEFAULT_PARAMS_YAML,
                        std::path::Path::new("<built-in configs/lookout.param.yaml>"),
                        &overrides,
                    )?)
                }
            }
        }
    }
}

#[derive(Args)]
struct ReplayArgs {
    /// Input ROS 2 MCAP recording.
    input: PathBuf,
    /// Output MCAP (Detection2DArray per camera, tracks, optionally the images).
    #[arg(long, short = 'o')]
    out: PathBuf,
    /// Camera topic to process (repeatable); default: every image topic in the file.
    #[arg(long = "topic")]
    topics: Vec<String>,
    /// Model: yolov4-tiny or yolov3-tiny.
    #[arg(long)]
    model: Option<String>,
    /// Network input size in pixels (a multiple of 32).
    #[arg(long)]
    input_size: Option<u32>,
    /// Copy the input images into the output, so a viewer shows boxes over images.
    #[arg(long)]
    with_images: bool,
    /// Stop after this many frames.
    #[arg(long)]
    max_frames: Option<u64>,
    /// Do not draw a progress bar.
    #[arg(long)]
    no_progress: bool,
    /// Also write the summary as JSON to this file.
    #[arg(long)]
    summary_json: Option<PathBuf>,
    /// Write the tracks of one class (`--mot-class`) as a MOTChallenge results file.
    #[arg(long)]
    mot_out: Option<PathBuf>,
    /// Write the detections of one class as a MOTChallenge detection file (`lookout track --det` reads it).
    #[arg(long)]
    mot_det_out: Option<PathBuf>,
    /// Draw boxes, labels, track ids and trails on every frame: a folder of JPEG files, or a
    /// `.mp4` video (encoded with ffmpeg).
    #[arg(long)]
    render: Option<PathBuf>,
    /// The class written to the MOTChallenge files.
    #[arg(long, default_value = "pedestrian")]
    mot_class: String,
    #[command(flatten)]
    config: ConfigArgs,
}

#[derive(Args)]
struct EvalArgs {
    /// Output MCAP of `lookout replay`.
    #[arg(long)]
    replay: PathBuf,
    /// MOTChallenge ground truth (`frame,id,x,y,w,h,conf,...`); MOT frame n = message n-1 on the topic.
    /// Without it nothing is scored: the counts, latency and per-frame plots are still reported.
    #[arg(long)]
    gt: Option<PathBuf>,
    /// Tracks topic (Detection2DArray); default: the only `.../tracks` topic. Detections are
    /// read from the sibling `.../detections`.
    #[arg(long)]
    topic: Option<String>,
    /// The output class the ground truth labels.
    #[arg(long, default_value = "pedestrian")]
    class: String,
    /// Smallest IoU of a match.
    #[arg(long, default_value_t = 0.5)]
    iou_min: f64,
    /// Write DIR/report.html (self-contained: plots inline).
    #[arg(long)]
    report: Option<PathBuf>,
    /// `lookout replay --summary-json` output, for the latency plots of the report.
    #[arg(long)]
    summary_json: Option<PathBuf>,
    /// Also write the evaluation as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Folder of annotated frames (`lookout replay --render DIR`): a strip of them goes in the report.
    #[arg(long)]
    frames: Option<PathBuf>,
    /// Frames in the report's strip.
    #[arg(long, default_value_t = 6)]
    sample_frames: usize,
}

#[derive(Args)]
struct RecordArgs {
    /// A video file (decoded with ffmpeg) or a folder of .jpg/.png images (sorted by name).
    input: PathBuf,
    /// Output MCAP.
    #[arg(long, short = 'o')]
    out: PathBuf,
    /// Frame rate for header stamps (frame i at start + i/fps); for image folders, omit to use file times.
    #[arg(long)]
    fps: Option<f64>,
    /// Stamp of the first frame, nanoseconds since the epoch.
    #[arg(long, default_value_t = 0)]
    start_ns: u64,
    /// Write raw `sensor_msgs/msg/Image` in this encoding (rgb8 or bgr8) instead of JPEG `CompressedImage`.
    #[arg(long)]
    raw: Option<String>,
    /// JPEG quality 1-100 when re-encoding.
    #[arg(long, default_value_t = 90)]
    quality: u8,
    /// Topic name (default `/camera/image_raw/compressed`, or `/camera/image_raw` with --raw).
    #[arg(long)]
    topic: Option<String>,
    /// `frame_id` in the headers.
    #[arg(long, default_value = "camera_optical_frame")]
    frame_id: String,
    /// Stop after this many frames.
    #[arg(long)]
    max_frames: Option<u64>,
}

#[derive(Args)]
struct TrackArgs {
    /// MOTChallenge detections (`frame,-1,x,y,w,h,score,...`) or a sequence folder (det/det.txt, seqinfo.ini).
    #[arg(long)]
    det: PathBuf,
    /// Frame rate; read from seqinfo.ini when `--det` is a sequence folder.
    #[arg(long)]
    fps: Option<f64>,
    /// MOTChallenge result file to write.
    #[arg(long, short = 'o')]
    out: PathBuf,
    #[command(flatten)]
    config: ConfigArgs,
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    match run(Cli::parse()) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// A flag set by Ctrl-C; stages poll it and wind down, leaving valid outputs.
fn stop_flag() -> anyhow::Result<Arc<AtomicBool>> {
    let stop = Arc::new(AtomicBool::new(false));
    let s = stop.clone();
    ctrlc::set_handler(move || {
        if s.swap(true, Ordering::Relaxed) {
            // Second Ctrl-C: the user really wants out.
            std::process::exit(130);
        }
        eprintln!(
            "\nstopping: finishing the output with what was processed (Ctrl-C again to abort)"
        );
    })
    .context("cannot install the Ctrl-C handler")?;
    Ok(stop)
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Replay(args) => replay(args),
        Command::Record(args) => record(args),
        Command::Track(args) => track(args),
        Command::Topics { input } => {
            for t in lookout::mcap_io::camera_topics(&input)? {
                println!(
                    "{}\t{}\t{} messages",
                    t.topic,
                    t.kind.schema_name(),
                    t.message_count
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Bench(args) => bench(args),
        Command::BenchStages(args) => bench_stages(args),
        Command::Eval(args) => eval(args),
        Command::Assets => {
            for line in lookout::assets::MANIFEST.lines() {
                let Some((_, name)) = line.split_once("  ") else {
                    continue;
                };
                let path = lookout::assets::cache_dir()?.join(name);
                lookout::assets::verify_file(name, &path)?;
                println!("ok  {}", path.display());
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn replay(args: ReplayArgs) -> anyhow::Result<ExitCode> {
    let mut extra = Vec::new();
    if let Some(m) = &args.model {
        extra.push(format!("detector.model={m}"));
    }
    if let Some(s) = args.input_size {
        extra.push(format!("detector.input_size_px={s}"));
    }
    if args.with_images {
        extra.push("replay.write_images=true".into());
    }
    let mut config = args.config.load(extra)?;
    if !args.topics.is_empty() {
        config.replay.topics = args.topics.clone();
    }
    if let Some(parent) = args.out.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    let options = lookout::replay::ReplayOptions {
        input: args.input,
        output: args.out,
        config,
        max_frames: args.max_frames,
        progress: !args.no_progress,
        mot: (args.mot_out.is_some() || args.mot_det_out.is_some()).then(|| {
            lookout::replay::MotOutputs {
                tracks: args.mot_out.clone(),
                detections: args.mot_det_out.clone(),
                label: args.mot_class.clone(),
            }
        }),
        render: args.render.clone(),
        summary_json: args.summary_json.clone(),
    };
    let stop = stop_flag()?;
    let (summary, result) = lookout::replay::replay(&options, stop);
    print!("{summary}");
    result?;
    if let Some(target) = &args.render {
        println!("annotated frames: {}", target.display());
    }
    Ok(if summary.interrupted {
        ExitCode::from(130)
    } else {
        ExitCode::SUCCESS
    })
}

fn record(args: RecordArgs) -> anyhow::Result<ExitCode> {
    use lookout::image_codec::RawEncoding;
    use lookout::record::{RecordFormat, RecordOptions, StampSource};
    let format = match args.raw.as_deref() {
        None => RecordFormat::Jpeg {
            quality: args.quality,
        },
        Some("rgb8") => RecordFormat::Raw(RawEncoding::Rgb8),
        Some("bgr8") => RecordFormat::Raw(RawEncoding::Bgr8),
        Some(other) => anyhow::bail!("--raw {other}: expected rgb8 or bgr8"),
    };
    let start_ns = i64::try_from(args.start_ns).context("--start-ns is too large")?;
    let stamps = match args.fps {
        Some(fps) => StampSource::FrameRate { fps, start_ns },
        None if args.input.is_dir() => StampSource::FileTimes,
        None => anyhow::bail!("--fps is required for a video (it sets the header stamps)"),
    };
    if let Some(parent) = args.out.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    let options = RecordOptions {
        input: args.input,
        output: args.out,
        format,
        topic: args.topic,
        frame_id: args.frame_id,
        stamps,
        max_frames: args.max_frames,
        ffmpeg: None,
    };
    let summary = lookout::record::record(&options)?;
    println!(
        "recorded {} frames ({}x{}) on {} -> {}",
        summary.frames,
        summary.width,
        summary.height,
        summary.topic,
        summary.output.display()
    );
    Ok(ExitCode::SUCCESS)
}

fn track(args: TrackArgs) -> anyhow::Result<ExitCode> {
    let config = args.config.load(Vec::new())?;
    let options = lookout::mot::MotRunOptions {
        input: args.det,
        output: args.out,
        fps: args.fps,
        tracker: config.tracking,
        score_normalization: Default::default(),
    };
    let s = lookout::mot::run_mot(&options)?;
    println!(
        "tracked {} frames at {} frames/s: {} detections -> {} result rows, {} tracks -> {}",
        s.frames,
        s.fps,
        s.detections,
        s.result_rows,
        s.tracks,
        s.output.display()
    );
    Ok(ExitCode::SUCCESS)
}

fn bench_stages(args: BenchStagesArgs) -> anyhow::Result<ExitCode> {
    let (width, height) = args
        .frame
        .split_once('x')
        .and_then(|(w, h)| Some((w.parse::<u32>().ok()?, h.parse::<u32>().ok()?)))
        .filter(|&(w, h)| w > 0 && h > 0)
        .ok_or_else(|| anyhow::anyhow!("--frame {}: expected WIDTHxHEIGHT", args.frame))?;
    let config = ConfigArgs {
        config: None,
        overrides: vec![
            format!("device={}", args.device),
            format!("detector.model={}", args.model),
            format!("detector.precision={}", args.precision),
            format!("detector.input_size_px={}", args.input_size),
        ],
    }
    .load(Vec::new())?;
    let device = lookout::engine::select_device(&config.device)?;
    let started = Instant::now();
    let detector = lookout::detect::Detector::load(&config.detector, &device)?;
    let image_path = lookout::assets::verified_path("data/darknet/person.jpg")?;
    let bytes = std::fs::read(&image_path)
        .with_context(|| format!("cannot read {}", image_path.display()))?;
    let image = lookout::image_codec::decode_compressed("", &bytes)
        .with_context(|| format!("cannot decode {}", image_path.display()))?;
    let frame = lookout::cuda::bench::RawFrame::bgr8_from(&image, width, height)?;
    let options = lookout::cuda::bench::StageBenchOptions {
        batches: args.batch.clone(),
        warmup: args.warmup,
        runs: args.runs,
        frame,
    };
    println!(
        "{} on {} ({:?}), input {} px, {}x{} bgr8 frames, {} warm-up + {} timed runs per batch; \
         model loaded in {:.0} ms",
        args.model,
        config.device,
        config.detector.precision,
        args.input_size,
        width,
        height,
        args.warmup,
        args.runs,
        started.elapsed().as_secs_f64() * 1e3
    );
    println!("{}", lookout::cuda::bench::TABLE_HEADER);
    let results = lookout::cuda::bench::run(&detector, &options)?;
    for r in &results {
        println!("{r}");
    }
    if let Some(path) = args.json {
        let json = serde_json::json!({
            "device": config.device,
            "model": args.model,
            "precision": config.detector.precision,
            "input_size_px": args.input_size,
            "frame": {"width": width, "height": height, "encoding": "bgr8"},
            "cuda_architectures": cuda_architectures(),
            "results": results,
        });
        std::fs::write(&path, serde_json::to_string_pretty(&json)?)
            .with_context(|| format!("cannot write {}", path.display()))?;
        println!("results: {}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// The compute capabilities this build's kernels were compiled for (empty without CUDA).
fn cuda_architectures() -> &'static str {
    #[cfg(feature = "cuda")]
    {
        lookout::cuda::device::ARCHITECTURES
    }
    #[cfg(not(feature = "cuda"))]
    {
        ""
    }
}

fn bench(args: BenchArgs) -> anyhow::Result<ExitCode> {
    use lookout::detect::ModelKind;
    // candle's CPU kernels size their thread pool from this variable, read at first use.
    std::env::set_var("RAYON_NUM_THREADS", args.threads.to_string());
    let models = if args.models.is_empty() {
        vec![ModelKind::Yolov4Tiny, ModelKind::Yolov3Tiny]
    } else {
        args.models
            .iter()
            .map(|m| match m.as_str() {
                "yolov4-tiny" => Ok(ModelKind::Yolov4Tiny),
                "yolov3-tiny" => Ok(ModelKind::Yolov3Tiny),
                other => Err(anyhow::anyhow!(
                    "--model {other}: expected yolov4-tiny or yolov3-tiny"
                )),
            })
            .collect::<anyhow::Result<_>>()?
    };
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
    let options = lookout::bench::ForwardBenchOptions {
        models,
        input_size_px: args.input_size,
        image,
        warmup: args.warmup,
        runs: args.runs,
        threads: args.threads,
        oracle_python: python.is_file().then_some(python),
        oracle_script: PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/scripts/python/opencv_oracle.py"
        )),
    };
    println!(
        "forward pass, {} ({}x{}), batch 1, {} warm-up + {} timed runs",
        image_path.display(),
        options.image.width,
        options.image.height,
        args.warmup,
        args.runs
    );
    println!("{}", lookout::bench::FORWARD_TABLE_HEADER);
    let results = lookout::bench::compare_forward(&options)?;
    for r in &results {
        println!("{r}");
    }
    let mut json = serde_json::json!({ "forward": results });
    if let Some(recording) = args.recording {
        let dir = tempfile::tempdir()?;
        let config = ConfigArgs {
            config: None,
            overrides: vec![format!("detector.input_size_px={}", args.input_size)],
        }
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

/// An evaluation that could not run: the report (when asked for) still says why, and shows
/// what needs no ground truth when the replay could be read; then the error is returned.
fn eval_failed(
    args: &EvalArgs,
    error: lookout::eval::EvalError,
    replay: Option<&lookout::eval::ReplayData>,
    options: &lookout::eval::EvalOptions,
    summary: Option<&serde_json::Value>,
    samples: Vec<lookout::eval::report::SampleFrame>,
) -> anyhow::Result<ExitCode> {
    use lookout::eval::{self, report};
    if let Some(dir) = &args.report {
        let partial = replay.map(|r| eval::evaluate(None, r, options));
        let path = report::write_report(
            dir,
            &report::ReportInputs {
                evaluation: partial.as_ref(),
                error: Some(error.to_string()),
                replay_summary: summary,
                samples,
            },
        )?;
        eprintln!("report (evaluation failed): {}", path.display());
    }
    Err(error.into())
}

fn eval(args: EvalArgs) -> anyhow::Result<ExitCode> {
    use lookout::eval::{self, report};
    let summary: Option<serde_json::Value> = match &args.summary_json {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            Some(
                serde_json::from_str(&text)
                    .with_context(|| format!("{}: not a replay summary (JSON)", path.display()))?,
            )
        }
        None => None,
    };
    let samples = match &args.frames {
        Some(dir) => report::sample_frames(dir, args.sample_frames)?,
        None => Vec::new(),
    };
    let options = eval::EvalOptions {
        class: args.class.clone(),
        iou_min: args.iou_min,
    };
    let replay = eval::read_replay(&args.replay, args.topic.as_deref());
    let gt = args.gt.as_deref().map(eval::read_gt).transpose();
    let (replay, gt) = match (replay, gt) {
        (Ok(replay), Ok(gt)) => (replay, gt),
        (Ok(replay), Err(e)) => {
            return eval_failed(&args, e, Some(&replay), &options, summary.as_ref(), samples)
        }
        (Err(e), _) => return eval_failed(&args, e, None, &options, summary.as_ref(), samples),
    };
    let evaluation = eval::evaluate(gt.as_deref(), &replay, &options);
    print!("{evaluation}");
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_string_pretty(&evaluation)?)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    if let Some(dir) = &args.report {
        let path = report::write_report(
            dir,
            &report::ReportInputs {
                evaluation: Some(&evaluation),
                replay_summary: summary.as_ref(),
                samples,
                ..Default::default()
            },
        )?;
        println!("report: {}", path.display());
    }
    if evaluation.ground_truth && evaluation.tracking.is_none() && evaluation.detection.is_none() {
        anyhow::bail!("nothing could be scored: {}", evaluation.notes.join("; "));
    }
    Ok(ExitCode::SUCCESS)
}
