//! `lookout eval`: a replay output scored against a MOTChallenge ground truth
//! ([`lookout::eval`]), printed, optionally as JSON and as a self-contained HTML report.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use lookout::eval::{self, report};

#[derive(Args)]
pub struct EvalArgs {
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
    #[arg(long, default_value_t = 0.5, value_parser = crate::cli_values::iou)]
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
    #[arg(long, default_value_t = 6, value_parser = crate::cli_values::sample_frames)]
    sample_frames: usize,
}

/// An evaluation that could not run: the report (when asked for) still says why, and shows
/// what needs no ground truth when the replay could be read; then the error is returned.
fn failed(
    args: &EvalArgs,
    error: eval::EvalError,
    replay: Option<&eval::ReplayData>,
    options: &eval::EvalOptions,
    summary: Option<&serde_json::Value>,
    samples: Vec<report::SampleFrame>,
) -> anyhow::Result<ExitCode> {
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
        errln!("report (evaluation failed): {}", path.display());
    }
    Err(error.into())
}

pub fn run(args: EvalArgs) -> anyhow::Result<ExitCode> {
    let report = args.report.as_ref().map(|d| d.join("report.html"));
    crate::refuse_inputs(
        &[args.json.as_deref(), report.as_deref()],
        &[
            Some(&args.replay),
            args.gt.as_deref(),
            args.summary_json.as_deref(),
        ],
    )?;
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
            return failed(&args, e, Some(&replay), &options, summary.as_ref(), samples)
        }
        (Err(e), _) => return failed(&args, e, None, &options, summary.as_ref(), samples),
    };
    let evaluation = eval::evaluate(gt.as_deref(), &replay, &options);
    out!("{evaluation}");
    if let Some(path) = &args.json {
        lookout::output::write_atomic(path, serde_json::to_string_pretty(&evaluation)?.as_bytes())
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
        outln!("report: {}", path.display());
    }
    if evaluation.ground_truth && evaluation.tracking.is_none() && evaluation.detection.is_none() {
        anyhow::bail!("nothing could be scored: {}", evaluation.notes.join("; "));
    }
    Ok(ExitCode::SUCCESS)
}
