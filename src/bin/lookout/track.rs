//! `lookout track`: the tracker alone, on MOTChallenge detections (writing MOTChallenge
//! results, [`lookout::mot::run_mot`]) or on the detections MCAPs of `lookout replay
//! --detect-only` (writing the results MCAP a single `lookout replay` would, byte for byte:
//! [`lookout::replay::detections::track_detections`]).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use crate::config_args::ConfigArgs;

#[derive(Args)]
#[command(group(clap::ArgGroup::new("input").required(true).args(["det", "detections"])))]
pub struct TrackArgs {
    /// MOTChallenge detections (`frame,-1,x,y,w,h,score,...`) or a sequence folder (det/det.txt, seqinfo.ini).
    #[arg(long)]
    det: Option<PathBuf>,
    /// Detections MCAPs of `lookout replay --detect-only` (the time slices of one recording, in
    /// any order; together they must cover it exactly once). `--out` is then the results MCAP.
    #[arg(long, num_args = 1..)]
    detections: Vec<PathBuf>,
    /// Frame rate, in (0, 1000]; read from seqinfo.ini when `--det` is a sequence folder.
    #[arg(long, value_parser = crate::cli_values::fps, conflicts_with = "detections")]
    fps: Option<f64>,
    /// MOTChallenge result file to write (with --det), or the results MCAP (with --detections).
    #[arg(long, short = 'o')]
    out: PathBuf,
    /// Whose detector profile (score thresholds, reported box's detection weight) applies:
    /// `external` (the parameter file's `external_detections`
    /// block: detections from another detector, such as MOTChallenge's public ones) or `own`
    /// (the `tracking` block's: detections from lookout's detector, e.g. `replay --mot-det-out`).
    /// `--detections` are lookout's own: they always use the `tracking` block's.
    #[arg(long, value_enum, default_value_t = Scores::External, conflicts_with = "detections")]
    scores: Scores,
    #[command(flatten)]
    config: ConfigArgs,
}

/// Which detector's profile (score thresholds, box weight) `lookout track` uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Scores {
    External,
    Own,
}

pub fn run(args: TrackArgs) -> anyhow::Result<ExitCode> {
    let Some(det) = args.det else {
        return track_mcap(args.detections, args.out, args.config);
    };
    // A sequence folder's inputs are inside it.
    let (det_txt, seqinfo) = (det.join("det/det.txt"), det.join("seqinfo.ini"));
    crate::refuse_inputs(
        &[Some(&args.out)],
        &[Some(det.as_path()), Some(&det_txt), Some(&seqinfo)]
            .into_iter()
            .chain(args.config.files())
            .collect::<Vec<_>>(),
    )?;
    let config = args.config.load(Vec::new())?;
    let options = lookout::mot::MotRunOptions {
        input: det,
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

/// `--detections`: the tracking pass over detection-only slices.
fn track_mcap(inputs: Vec<PathBuf>, out: PathBuf, config: ConfigArgs) -> anyhow::Result<ExitCode> {
    let mut all_inputs: Vec<Option<&std::path::Path>> =
        inputs.iter().map(|p| Some(p.as_path())).collect();
    all_inputs.extend(config.files());
    crate::refuse_inputs(&[Some(&out)], &all_inputs)?;
    let config = config.load(Vec::new())?;
    crate::create_parent_dir(&out)?;
    crate::probe_writable(&[Some(&out)])?;
    let s = lookout::replay::detections::track_detections(&inputs, &out, &config)?;
    outln!(
        "tracked {} slices: {} frames, {} detections, {} tracks -> {}",
        s.slices,
        s.frames,
        s.detections,
        s.tracks,
        out.display()
    );
    Ok(ExitCode::SUCCESS)
}
