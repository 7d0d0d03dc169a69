//! The tracker on MOT15's public Faster R-CNN detections, scored by motmetrics against the
//! SORT baseline's numbers (issue 3). MOTChallenge data is not redistributable, so it is not an
//! asset: this test is `#[ignore]`d and reads `$LOOKOUT_MOT15_DIR` (default
//! `../shared/data/mot15`, holding `<seq>/{det.txt,gt.txt,seqinfo.ini}`); it fails, naming that
//! variable, when the folder is missing. Run:
//!
//! ```text
//! cargo test --test track_mot15 -- --ignored --nocapture
//! ```
//!
//! `LOOKOUT_TRACKER_CONFIG_JSON` may hold a partial `TrackerConfig` as JSON to try settings;
//! `LOOKOUT_MOT15_OUT` keeps the result files.
//!
//! Measured with the default config (motmetrics 1.4.0, IoU 0.5, gt conf 0 ignored):
//!
//! | sequence    | tracker               | MOTA | IDF1 | IDsw |
//! |-------------|-----------------------|------|------|------|
//! | PETS09-S2L1 | lookout               | 66.5 | 55.8 |   48 |
//! | PETS09-S2L1 | SORT (bar)            | 61.9 | 35.1 |  103 |
//! | PETS09-S2L1 | supervision ByteTrack | 58.6 | 42.9 |   83 |
//! | TUD-Campus  | lookout               | 65.2 | 76.5 |    2 |
//! | TUD-Campus  | SORT (bar)            | 62.7 | 60.6 |    6 |
//! | TUD-Campus  | supervision ByteTrack | 59.6 | 66.6 |    7 |
//!
//! The issue's goal, at most half SORT's id switches, is asserted: PETS09-S2L1 has 48 for a
//! limit of 51, a thin margin (settings next to the defaults give 44 to 56, see
//! BENCHMARKS.md). The remaining switches are mostly people walking side by side or crossing
//! whose detections merge into one box (7 frames/s, no appearance model).

mod track_common;

use std::path::PathBuf;

use lookout::mot::{run_mot, MotRunOptions, ScoreNormalization};
use lookout::track::TrackerConfig;

/// SORT on the same detections and evaluator: (sequence, MOTA, IDF1, id switches).
const SORT_BAR: [(&str, f64, f64, i64); 2] = [
    ("PETS09-S2L1", 0.619, 0.351, 103),
    ("TUD-Campus", 0.627, 0.606, 6),
];

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

fn config() -> TrackerConfig {
    match std::env::var("LOOKOUT_TRACKER_CONFIG_JSON") {
        Ok(json) => serde_json::from_str(&json).expect("LOOKOUT_TRACKER_CONFIG_JSON parses"),
        Err(_) => TrackerConfig::default(),
    }
}

#[test]
#[ignore = "needs MOT15 data (LOOKOUT_MOT15_DIR) and the motmetrics venv"]
fn beats_sort_on_mot15() {
    let dir = mot15_dir();
    let out_dir = tempfile::tempdir().unwrap();
    let keep = std::env::var_os("LOOKOUT_MOT15_OUT").map(PathBuf::from);
    let mut failures = Vec::new();
    println!("| sequence | MOTA | IDF1 | IDsw | FP | FN |");
    for (seq, mota_bar, idf1_bar, sw_bar) in SORT_BAR {
        let output = keep
            .clone()
            .unwrap_or_else(|| out_dir.path().to_path_buf())
            .join(format!("{seq}.txt"));
        let summary = run_mot(&MotRunOptions {
            input: dir.join(seq),
            output: output.clone(),
            fps: None,
            tracker: config(),
            score_normalization: ScoreNormalization::Auto,
        })
        .unwrap();
        let s = track_common::score(&dir.join(seq).join("gt.txt"), &output);
        println!(
            "| {seq} | {:.1} | {:.1} | {} | {} | {} |   ({} tracks, scores [{}, {}], {:?})",
            s.mota * 100.0,
            s.idf1 * 100.0,
            s.switches,
            s.false_positives,
            s.misses,
            summary.tracks,
            summary.score_min,
            summary.score_max,
            summary.score_normalization
        );
        // The issue's goal: higher MOTA and IDF1 than SORT and at most half its switches.
        if !(s.mota > mota_bar && s.idf1 > idf1_bar && s.switches * 2 <= sw_bar) {
            failures.push(format!(
                "{seq}: {s:?} vs SORT {mota_bar}/{idf1_bar}/{sw_bar}"
            ));
        }
        println!(
            "    at most half SORT's id switches ({}): {}",
            sw_bar / 2,
            if s.switches * 2 <= sw_bar {
                "met"
            } else {
                "NOT met"
            }
        );
    }
    assert!(
        failures.is_empty(),
        "short of the goal (MOTA, IDF1 above SORT; at most half its switches): {failures:#?}"
    );
}
