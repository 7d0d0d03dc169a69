//! `lookout replay`: detection and tracking over the camera topics of an MCAP recording
//! ([`lookout::replay::replay`], which also writes `--summary-json`); prints the summary.
//! `--detect-only [--start T] [--end T]`: detection over a time slice, for `lookout track
//! --detections` ([`lookout::replay::detections`]).
//! Outputs that are inputs are refused first; after an error or an interrupt, stderr says
//! which outputs were kept (complete, valid, holding the frames processed) and which were not
//! written.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use lookout::detect::ModelKind;

use crate::config_args::{value_name, ConfigArgs};

#[derive(Args)]
pub struct ReplayArgs {
    /// Input ROS 2 MCAP recording.
    input: PathBuf,
    /// Output MCAP (Detection2DArray per camera, tracks, optionally the images).
    #[arg(long, short = 'o')]
    out: PathBuf,
    /// Camera topic to process (repeatable); default: every image topic in the file.
    #[arg(long = "topic")]
    topics: Vec<String>,
    /// Model (default: the config's `detector.model`).
    #[arg(long, value_enum)]
    model: Option<ModelKind>,
    /// Network input size in pixels (a multiple of 32).
    #[arg(long, value_parser = crate::cli_values::input_size_px)]
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
    /// Detect only, no tracking: `--out` becomes a detections MCAP for `lookout track
    /// --detections`, which tracks the slices of a recording in one pass with results
    /// byte-identical to a single replay.
    #[arg(long, conflicts_with_all = ["mot_out", "mot_det_out", "render", "with_images"])]
    detect_only: bool,
    /// With --detect-only: the first log time of the slice, in seconds (inclusive).
    #[arg(long, requires = "detect_only", value_parser = crate::cli_values::log_time_ns)]
    start: Option<u64>,
    /// With --detect-only: the log time the slice ends before, in seconds (exclusive).
    #[arg(long, requires = "detect_only", value_parser = crate::cli_values::log_time_ns)]
    end: Option<u64>,
    /// The class written to the MOTChallenge files.
    #[arg(long, default_value = "pedestrian")]
    mot_class: String,
    #[command(flatten)]
    config: ConfigArgs,
}

pub fn run(args: ReplayArgs) -> anyhow::Result<ExitCode> {
    let mut extra = Vec::new();
    if let Some(m) = &args.model {
        extra.push(format!("detector.model={}", value_name(m)));
    }
    if let Some(s) = args.input_size {
        extra.push(format!("detector.input_size_px={s}"));
    }
    if args.with_images {
        extra.push("replay.write_images=true".into());
    }
    let video = args
        .render
        .as_deref()
        .filter(|r| lookout::viz::render::is_video(r));
    crate::refuse_inputs(
        &[
            Some(&args.out),
            args.summary_json.as_deref(),
            args.mot_out.as_deref(),
            args.mot_det_out.as_deref(),
            video,
        ],
        &std::iter::once(Some(args.input.as_path()))
            .chain(args.config.files())
            .collect::<Vec<_>>(),
    )?;
    let mut config = args.config.load(extra)?;
    if !args.topics.is_empty() {
        config.replay.topics = args.topics.clone();
    }
    crate::create_parent_dir(&args.out)?;
    crate::probe_writable(&[
        Some(&args.out),
        args.summary_json.as_deref(),
        args.mot_out.as_deref(),
        args.mot_det_out.as_deref(),
        video,
    ])?;
    let options = lookout::replay::ReplayOptions {
        input: args.input.clone(),
        output: args.out.clone(),
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
        detect_only: args.detect_only.then_some(lookout::replay::DetectOnly {
            start_ns: args.start,
            end_ns: args.end,
        }),
    };
    let stop = crate::signals::graceful_stop();
    let (summary, result) = lookout::replay::replay(&options, stop);
    out!("{summary}");
    if result.is_err() || summary.interrupted {
        report_outputs(&args, summary.frames);
    }
    match result {
        // Interrupted twice, the video is dropped: said above, still an interrupt.
        Err(e) if summary.interrupted => crate::errln!("error: {e}"),
        Err(e) => return Err(e.into()),
        Ok(()) => {
            if let Some(target) = &args.render {
                outln!("annotated frames: {}", target.display());
            }
        }
    }
    Ok(if summary.interrupted {
        ExitCode::from(130)
    } else {
        ExitCode::SUCCESS
    })
}

/// After an error or an interrupt: which outputs are complete and which were not written.
fn report_outputs(args: &ReplayArgs, frames: u64) {
    let mut kept = Vec::new();
    let mut dropped = Vec::new();
    let files = [
        Some(&args.out),
        args.summary_json.as_ref(),
        args.mot_out.as_ref(),
        args.mot_det_out.as_ref(),
    ];
    for path in files.into_iter().flatten() {
        if lookout::output::was_committed(path) {
            kept.push(path.display().to_string());
        } else {
            dropped.push(path.display().to_string());
        }
    }
    if let Some(render) = &args.render {
        let is_folder = !lookout::viz::render::is_video(render);
        if lookout::output::was_committed(render) || (is_folder && render.is_dir()) {
            kept.push(render.display().to_string());
        } else {
            dropped.push(render.display().to_string());
        }
    }
    if !kept.is_empty() {
        crate::errln!(
            "kept (complete and valid, {frames} frames processed): {}",
            kept.join(", ")
        );
    }
    if !dropped.is_empty() {
        crate::errln!(
            "not written (any earlier file there is untouched): {}",
            dropped.join(", ")
        );
    }
}
