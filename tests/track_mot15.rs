//! The tracker on MOT15's public Faster R-CNN detections, scored by motmetrics against the
//! SORT baseline's numbers (issues 3 and 12). MOTChallenge data is not redistributable, so it
//! is not an asset: this test is `#[ignore]`d and reads `$LOOKOUT_MOT15_DIR` (default
//! `../shared/data/mot15`, holding `<seq>/{det.txt,gt.txt,seqinfo.ini}`); it fails, naming that
//! variable, when the folder is missing, and scores every sequence of [`SORT_BAR`] present
//! there (at least one). Run:
//!
//! ```text
//! cargo test --release --test track_mot15 -- --ignored --nocapture
//! ```
//!
//! `LOOKOUT_TRACKER_CONFIG_JSON` may hold a partial `TrackerConfig` as JSON to try settings;
//! `LOOKOUT_MOT15_OUT` keeps the result files.
//!
//! The tracker runs as `lookout track` does: the shipped parameter file's `tracking` block
//! with its `external_detections` detector profile (the public detections' score thresholds and box weight).
//!
//! Issue 12's goal per sequence is MOTA at or above SORT's; the default config meets it on
//! all seven (numbers in BENCHMARKS.md, "Seven MOT15 sequences"), and the test holds it on
//! each sequence present. Pooled, MOTA must be at least SORT's + 3 points over all seven (at or
//! above SORT's over fewer) and id switches at most 0.6 x SORT's (issue 12). On PETS09-S2L1 and
//! TUD-Campus it also holds issue 3's identity bar ([`IDENTITY_BAR`]: IDF1 above SORT's, at
//! most half its id switches).

mod track_common;

use std::path::{Path, PathBuf};

use lookout::config::{Config, DEFAULT_PARAMS_YAML};
use lookout::mot::{run_mot, MotRunOptions, ScoreNormalization};
use lookout::track::TrackerConfig;

/// SORT on the same detections and evaluator (../shared/data/mot15/README.md): (sequence,
/// MOTA, IDF1, id switches).
const SORT_BAR: [(&str, f64, f64, i64); 7] = [
    ("PETS09-S2L1", 0.619, 0.351, 103),
    ("TUD-Campus", 0.627, 0.606, 6),
    ("Venice-2", 0.186, 0.324, 57),
    ("KITTI-17", 0.602, 0.711, 9),
    ("ETH-Bahnhof", 0.446, 0.609, 71),
    ("ETH-Sunnyday", 0.591, 0.724, 22),
    ("ADL-Rundle-8", 0.286, 0.326, 102),
];

/// Issue 3's bar, kept where it was first met: IDF1 above SORT's and at most half its id
/// switches (BENCHMARKS.md, "Tracker accuracy").
const IDENTITY_BAR: [&str; 2] = ["PETS09-S2L1", "TUD-Campus"];

fn mot15_dir() -> PathBuf {
    let dir = std::env::var_os("LOOKOUT_MOT15_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| track_common::repo().join("../shared/data/mot15"));
    assert!(
        dir.is_dir(),
        "MOT15 folder {} not found: set LOOKOUT_MOT15_DIR to a folder of MOT15 sequences",
        dir.display()
    );
    dir
}

/// `lookout track`'s default: the shipped file's tracker with its external score thresholds.
fn config() -> TrackerConfig {
    match std::env::var("LOOKOUT_TRACKER_CONFIG_JSON") {
        Ok(json) => serde_json::from_str(&json).expect("LOOKOUT_TRACKER_CONFIG_JSON parses"),
        Err(_) => {
            let c = Config::from_yaml_str(DEFAULT_PARAMS_YAML, Path::new("built-in"), &[])
                .expect("the shipped parameter file is valid");
            c.external_detections.applied_to(&c.tracking)
        }
    }
}

#[test]
#[ignore = "needs MOT15 data (LOOKOUT_MOT15_DIR) and the motmetrics venv"]
fn beats_sort_on_mot15() {
    let dir = mot15_dir();
    let out_dir = tempfile::tempdir().unwrap();
    let keep = std::env::var_os("LOOKOUT_MOT15_OUT").map(PathBuf::from);
    let mut failures = Vec::new();
    let (mut errors, mut objects, mut sort_errors, mut switches, mut sort_switches) =
        (0i64, 0i64, 0.0f64, 0i64, 0i64);
    let mut scored = 0;
    println!("| sequence | MOTA | IDF1 | IDsw | FP | FN | SORT MOTA | goal |");
    for (seq, mota_bar, idf1_bar, sw_bar) in SORT_BAR {
        if !dir.join(seq).join("gt.txt").is_file() {
            println!("| {seq} | (not present) |");
            continue;
        }
        scored += 1;
        let output = keep
            .clone()
            .unwrap_or_else(|| out_dir.path().to_path_buf())
            .join(format!("{seq}.txt"));
        run_mot(&MotRunOptions {
            input: dir.join(seq),
            output: output.clone(),
            fps: None,
            tracker: config(),
            score_normalization: ScoreNormalization::Auto,
        })
        .unwrap();
        let s = track_common::score(&dir.join(seq).join("gt.txt"), &output);
        errors += s.false_positives + s.misses + s.switches;
        objects += s.objects;
        sort_errors += (1.0 - mota_bar) * s.objects as f64;
        switches += s.switches;
        sort_switches += sw_bar;
        if IDENTITY_BAR.contains(&seq) && (s.idf1 <= idf1_bar || 2 * s.switches > sw_bar) {
            failures.push(format!(
                "{seq}: IDF1 {:.3} (SORT {idf1_bar}), {} id switches (at most {})",
                s.idf1,
                s.switches,
                sw_bar / 2
            ));
        }
        // Issue 12's per-sequence goal: MOTA at or above SORT's.
        let verdict = if s.mota >= mota_bar {
            "met"
        } else {
            failures.push(format!("{seq}: {s:?} vs SORT MOTA {mota_bar}"));
            "NOT met"
        };
        println!(
            "| {seq} | {:.1} | {:.1} | {} | {} | {} | {:.1} | {verdict} |",
            s.mota * 100.0,
            s.idf1 * 100.0,
            s.switches,
            s.false_positives,
            s.misses,
            mota_bar * 100.0,
        );
    }
    assert!(scored > 0, "no MOT15 sequence found in {}", dir.display());
    println!(
        "pooled over {scored}: MOTA {:.1} (SORT {:.1}), id switches {switches} (SORT {sort_switches})",
        100.0 * (1.0 - errors as f64 / objects as f64),
        100.0 * (1.0 - sort_errors / objects as f64),
    );
    // Issue 12's pooled goals: MOTA at least 3 points above SORT's over the seven sequences
    // (over fewer, at or above SORT's: the margin is a property of the whole set, TUD-Campus
    // alone is +1.9), id switches at most 0.6 x SORT's.
    let margin_points = if scored == SORT_BAR.len() { 3.0 } else { 0.0 };
    let goal_errors = sort_errors - 0.01 * margin_points * objects as f64;
    if errors as f64 > goal_errors {
        failures.push(format!(
            "pooled MOTA short of SORT's + {margin_points} ({errors} errors, at most {goal_errors:.0})"
        ));
    }
    if 10 * switches > 6 * sort_switches {
        failures.push(format!(
            "pooled id switches {switches} above 0.6 x SORT's {sort_switches}"
        ));
    }
    assert!(
        failures.is_empty(),
        "short of SORT's MOTA or of issue 3's identity bar: \
         {failures:#?}"
    );
}
