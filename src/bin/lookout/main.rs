//! The `lookout` command line: glue between arguments, configuration and the library.
//!
//! Subcommands: `record` (video/images -> ROS 2 MCAP), `replay` (MCAP -> detections and tracks
//! in MCAP), `track` (MOTChallenge detections -> MOTChallenge results), `topics` (list camera
//! topics of a recording), `eval` (score a replay against MOTChallenge ground truth),
//! `assets` (check the asset cache), `bench` and `bench-stages` (benchmarks). Exit codes:
//! 0 success, 1 error, 2 an output refused (it is an input, or two outputs are one file;
//! nothing was written), 130 interrupted (SIGINT, SIGTERM or SIGHUP: see [`signals`]).
//!
//! One module per subcommand (its arguments and its `run`); `config_args` is the
//! `--config`/`--set` pair the engine-running subcommands share; `console` prints without
//! panicking, `signals` handles SIGINT/SIGTERM/SIGHUP. Every output file goes through
//! [`lookout::output`].

/// `print!` that never panics ([`console::out`]).
macro_rules! out {
    ($($arg:tt)*) => { $crate::console::out(format_args!($($arg)*)) };
}
/// `println!` that never panics ([`console::out`]).
macro_rules! outln {
    ($($arg:tt)*) => { $crate::console::out(format_args!("{}\n", format_args!($($arg)*))) };
}
/// `eprintln!` that never panics ([`console::err`]).
macro_rules! errln {
    ($($arg:tt)*) => { $crate::console::err(format_args!("{}\n", format_args!($($arg)*))) };
}
pub(crate) use errln;

mod bench;
mod bench_stages;
mod cli_values;
mod config_args;
mod console;
mod eval;
mod record;
mod replay;
mod signals;
mod track;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

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
    /// Track MOTChallenge detections (det.txt), or the detections MCAPs of `replay --detect-only`.
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
    console::ensure_std_fds();
    // A file-size limit (`ulimit -f`) makes writes fail like a full disk instead of killing
    // the process, so the error path (finish what can be, remove what cannot) runs.
    // SAFETY: setting a signal's disposition to SIG_IGN touches no memory of this process.
    unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
    }
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
    let cli = Cli::parse();
    // Installed before any output is created, for every subcommand: a signal never leaves a
    // temporary file behind.
    let code = match signals::install().and_then(|()| run(cli)) {
        Ok(code) => code,
        Err(e) if e.downcast_ref::<lookout::output::OutputError>().is_some() => {
            errln!("error: {}", lookout::error::chain_message(e.as_ref()));
            ExitCode::from(2)
        }
        Err(e) => {
            // Each cause once (the library's messages already hold their causes' text).
            errln!("error: {}", lookout::error::chain_message(e.as_ref()));
            ExitCode::FAILURE
        }
    };
    match console::stdout_error() {
        Some(e) if code == ExitCode::SUCCESS => {
            errln!("error: cannot write to stdout: {e} (the output files are complete)");
            ExitCode::FAILURE
        }
        _ => code,
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
        outln!(
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
        outln!("ok  {}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// Refuses outputs that are inputs or each other ([`lookout::output::refuse_inputs`]);
/// `None`s (options not given) are skipped.
fn refuse_inputs(outputs: &[Option<&Path>], inputs: &[Option<&Path>]) -> anyhow::Result<()> {
    let outputs: Vec<&Path> = outputs.iter().flatten().copied().collect();
    let inputs: Vec<&Path> = inputs.iter().flatten().copied().collect();
    lookout::output::refuse_inputs(&outputs, &inputs)?;
    Ok(())
}

/// Checks every output can be created (its folder exists and is writable) before any work.
fn probe_writable(outputs: &[Option<&Path>]) -> anyhow::Result<()> {
    for path in outputs.iter().flatten() {
        lookout::output::probe_writable(path)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}

/// Creates the folder an output file goes in, so `--out a/b/c.mcap` works on a fresh tree.
fn create_parent_dir(path: &std::path::Path) -> anyhow::Result<()> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    Ok(())
}
