//! `lookout eval`: a replay output scored against a MOTChallenge ground truth
//! ([`lookout::eval`]), printed, optionally as JSON and as a self-contained HTML report.
//! Several `--replay`/`--gt` pairs (or a `--list` of them) are scored as one evaluation of
//! everything ([`lookout::eval::merge`]): a fleet's replays give one set of numbers.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use lookout::eval::{self, report};

#[derive(Args)]
pub struct EvalArgs {
    /// Output MCAP of `lookout replay` (repeatable: the replays are scored as one evaluation).
    #[arg(long, required_unless_present = "list")]
    replay: Vec<PathBuf>,
    /// MOTChallenge ground truth (`frame,id,x,y,w,h,conf,...`); MOT frame n = message n-1 on the topic.
    /// Without it nothing is scored: the counts, latency and per-frame plots are still reported.
    /// Repeatable: the n-th `--gt` goes with the n-th `--replay`.
    #[arg(long)]
    gt: Vec<PathBuf>,
    /// A file of `REPLAY GT` lines (tab or space separated; `#` comments), added to the pairs.
    #[arg(long)]
    list: Option<PathBuf>,
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
                ground_tracks: Vec::new(),
            },
        )?;
        errln!("report (evaluation failed): {}", path.display());
    }
    Err(error.into())
}

/// The `(replay, gt)` pairs of the arguments and of `--list`.
fn pairs(args: &EvalArgs) -> anyhow::Result<Vec<(PathBuf, Option<PathBuf>)>> {
    if !args.gt.is_empty() && args.gt.len() != args.replay.len() {
        anyhow::bail!(
            "{} --replay but {} --gt: give one ground truth per replay, or none",
            args.replay.len(),
            args.gt.len()
        );
    }
    let mut pairs: Vec<(PathBuf, Option<PathBuf>)> = args
        .replay
        .iter()
        .enumerate()
        .map(|(i, r)| (r.clone(), args.gt.get(i).cloned()))
        .collect();
    if let Some(list) = &args.list {
        let text = lookout::capped_read::read_to_string_capped(
            list,
            lookout::capped_read::MAX_MOT_TEXT_BYTES,
        )
        .with_context(|| format!("cannot read {}", list.display()))?;
        let base = list.parent().unwrap_or(std::path::Path::new(""));
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let fields: Vec<&str> = line.split_whitespace().collect();
            let [replay, gt] = fields[..] else {
                anyhow::bail!(
                    "{}:{}: expected `REPLAY GT`, found {} fields",
                    list.display(),
                    n + 1,
                    fields.len()
                );
            };
            pairs.push((base.join(replay), Some(base.join(gt))));
        }
    }
    if pairs.is_empty() {
        anyhow::bail!("no replay to evaluate");
    }
    Ok(pairs)
}

pub fn run(args: EvalArgs) -> anyhow::Result<ExitCode> {
    let pairs = pairs(&args)?;
    if pairs.len() > 1 {
        return run_many(&args, &pairs);
    }
    let (replay_path, gt_path) = &pairs[0];
    let report = args.report.as_ref().map(|d| d.join("report.html"));
    crate::refuse_inputs(
        &[args.json.as_deref(), report.as_deref()],
        &[
            Some(replay_path),
            gt_path.as_deref(),
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
    let replay = eval::read_replay(replay_path, args.topic.as_deref());
    let gt = gt_path.as_deref().map(eval::read_gt).transpose();
    let (replay, gt) = match (replay, gt) {
        (Ok(replay), Ok(gt)) => (replay, gt),
        (Ok(replay), Err(e)) => {
            return failed(&args, e, Some(&replay), &options, summary.as_ref(), samples)
        }
        (Err(e), _) => return failed(&args, e, None, &options, summary.as_ref(), samples),
    };
    let evaluation = eval::evaluate(gt.as_deref(), &replay, &options);
    // Ground objects, for the report's bird's-eye plot (none without a calibration).
    let ground_tracks = match &args.report {
        Some(_) => report::ground_tracks(replay_path)?,
        None => Vec::new(),
    };
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
                ground_tracks,
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

/// Several replays, scored as one evaluation ([`eval::merge`]). The report shows the merged
/// evaluation (no latency or frames: those are per
/// replay).
fn run_many(args: &EvalArgs, pairs: &[(PathBuf, Option<PathBuf>)]) -> anyhow::Result<ExitCode> {
    if args.summary_json.is_some() || args.frames.is_some() {
        anyhow::bail!("--summary-json and --frames belong to one replay: not with several");
    }
    if pairs.iter().any(|(_, gt)| gt.is_some()) && pairs.iter().any(|(_, gt)| gt.is_none()) {
        anyhow::bail!("give a ground truth for every replay or for none");
    }
    let report = args.report.as_ref().map(|d| d.join("report.html"));
    let mut inputs: Vec<Option<&std::path::Path>> = Vec::new();
    for (replay, gt) in pairs {
        inputs.push(Some(replay));
        inputs.push(gt.as_deref());
    }
    crate::refuse_inputs(&[args.json.as_deref(), report.as_deref()], &inputs)?;
    let options = eval::EvalOptions {
        class: args.class.clone(),
        iou_min: args.iou_min,
    };
    let mut evaluations = Vec::with_capacity(pairs.len());
    for (replay, gt) in pairs {
        let data = eval::read_replay(replay, args.topic.as_deref())?;
        let gt = gt.as_deref().map(eval::read_gt).transpose()?;
        evaluations.push(eval::evaluate(gt.as_deref(), &data, &options));
    }
    let Some(evaluation) = eval::merge(evaluations) else {
        anyhow::bail!("no replay to evaluate");
    };
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
