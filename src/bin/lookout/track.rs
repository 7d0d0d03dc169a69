//! `lookout track`: the tracker alone on MOTChallenge detections, writing MOTChallenge results
//! ([`lookout::mot::run_mot`]).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use crate::config_args::ConfigArgs;

#[derive(Args)]
pub struct TrackArgs {
    /// MOTChallenge detections (`frame,-1,x,y,w,h,score,...`) or a sequence folder (det/det.txt, seqinfo.ini).
    #[arg(long)]
    det: PathBuf,
    /// Frame rate, in (0, 1000]; read from seqinfo.ini when `--det` is a sequence folder.
    #[arg(long, value_parser = crate::cli_values::fps)]
    fps: Option<f64>,
    /// MOTChallenge result file to write.
    #[arg(long, short = 'o')]
    out: PathBuf,
    /// Whose score thresholds apply: `external` (the parameter file's `external_detections`
    /// block: detections from another detector, such as MOTChallenge's public ones) or `own`
    /// (the `tracking` block's: detections from lookout's detector, e.g. `replay --mot-det-out`).
    #[arg(long, value_enum, default_value_t = Scores::External)]
    scores: Scores,
    #[command(flatten)]
    config: ConfigArgs,
}

/// Which detector's score thresholds `lookout track` uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Scores {
    External,
    Own,
}

pub fn run(args: TrackArgs) -> anyhow::Result<ExitCode> {
    // A sequence folder's inputs are inside it.
    let (det_txt, seqinfo) = (args.det.join("det/det.txt"), args.det.join("seqinfo.ini"));
    crate::refuse_inputs(
        &[Some(&args.out)],
        &[
            Some(&args.det),
            Some(&det_txt),
            Some(&seqinfo),
            args.config.config.as_deref(),
        ],
    )?;
    let config = args.config.load(Vec::new())?;
    let options = lookout::mot::MotRunOptions {
        input: args.det,
        output: args.out,
        fps: args.fps,
        tracker: match args.scores {
            Scores::External => config.external_detections.applied_to(&config.tracking),
            Scores::Own => config.tracking,
        },
        score_normalization: Default::default(),
    };
    let s = lookout::mot::run_mot(&options)?;
    outln!(
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
