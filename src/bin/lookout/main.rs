//! The `lookout` command line: glue between arguments, configuration and the library.
//!
//! Subcommands: `record` (video/images -> ROS 2 MCAP), `replay` (MCAP -> detections and tracks
//! in MCAP), `track` (MOTChallenge detections -> MOTChallenge results), `topics` (list camera
//! topics of a recording), `eval` (score a replay against MOTChallenge ground truth),
//! `assets` (check the asset cache), `bench` and `bench-stages` (benchmarks). Exit codes:
//! 0 success, 1 error, 130 interrupted (Ctrl-C; outputs are still valid and hold everything
//! processed).
//!
//! One module per subcommand (its arguments and its `run`); `config_args` is the
//! `--config`/`--set` pair the engine-running subcommands share.

mod bench;
mod bench_stages;
mod cli_values;
mod config_args;
mod eval;
mod record;
mod replay;
mod track;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand};

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
    Record(record::RecordArgs),
    /// Run detection and tracking over the camera topics of an MCAP recording.
    Replay(replay::ReplayArgs),
    /// Track MOTChallenge detections (det.txt) and write MOTChallenge results.
    Track(track::TrackArgs),
    /// List the camera topics of an MCAP recording.
    Topics {
        /// The recording.
        input: PathBuf,
    },
    /// Score a replay output against a MOTChallenge ground truth: MOTA/IDF1/ID switches of
    /// the tracks, precision/recall/AP50 of the detections, and an HTML report.
    Eval(eval::EvalArgs),
    /// Verify the model weights and test data in the asset cache against their sha256 pins.
    Assets,
    /// Detector forward time against OpenCV DNN (same model, input, image, threads, one run),
    /// and end-to-end replay throughput on a recording.
    Bench(bench::BenchArgs),
    /// Camera bytes to boxes on the host, per stage (upload, preprocess, forward, decode+NMS,
    /// download) and end to end, at several batch sizes, on `--device` (the GPU benchmark).
    BenchStages(bench_stages::BenchStagesArgs),
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        // Colour codes only for a terminal: in a log file or a launch system's capture they
        // are noise around every warning.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    match run(Cli::parse()) {
        Ok(code) => code,
        Err(e) => {
            // Each cause once (the library's messages already hold their causes' text).
            eprintln!("error: {}", lookout::error::chain_message(e.as_ref()));
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Replay(args) => replay::run(args),
        Command::Record(args) => record::run(args),
        Command::Track(args) => track::run(args),
        Command::Topics { input } => topics(&input),
        Command::Bench(args) => bench::run(args),
        Command::BenchStages(args) => bench_stages::run(args),
        Command::Eval(args) => eval::run(args),
        Command::Assets => assets(),
    }
}

/// `lookout topics`: one line per camera topic.
fn topics(input: &std::path::Path) -> anyhow::Result<ExitCode> {
    for t in lookout::mcap_io::camera_topics(input)? {
        println!(
            "{}\t{}\t{} messages",
            t.topic,
            t.kind.schema_name(),
            t.message_count
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `lookout assets`: every pinned file of the cache, verified.
fn assets() -> anyhow::Result<ExitCode> {
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

/// Creates the folder an output file goes in, so `--out a/b/c.mcap` works on a fresh tree.
fn create_parent_dir(path: &std::path::Path) -> anyhow::Result<()> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    Ok(())
}
