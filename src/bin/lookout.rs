//! The `lookout` command line: glue between arguments, configuration and the library.
//!
//! Subcommands: `record` (video/images -> ROS 2 MCAP), `replay` (MCAP -> detections and tracks
//! in MCAP), `track` (MOTChallenge detections -> MOTChallenge results), `topics` (list camera
//! topics of a recording), `assets` (check the asset cache). Exit codes: 0 success, 1 error,
//! 130 interrupted (Ctrl-C; outputs are still valid and hold everything processed).

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

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
    /// Verify the model weights and test data in the asset cache against their sha256 pins.
    Assets,
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
    #[command(flatten)]
    config: ConfigArgs,
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
    let options = lookout::pipeline::ReplayOptions {
        input: args.input,
        output: args.out,
        config,
        max_frames: args.max_frames,
        progress: !args.no_progress,
    };
    let stop = stop_flag()?;
    let (summary, result) = lookout::pipeline::replay(&options, stop);
    print!("{summary}");
    if let Some(path) = &args.summary_json {
        let json = serde_json::to_string_pretty(&summary)?;
        std::fs::write(path, json).with_context(|| format!("cannot write {}", path.display()))?;
    }
    result?;
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
