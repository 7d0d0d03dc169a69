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
//! `LOOKOUT_TRACKER_CONFIG_JSON` may hold a partial `TrackerConfig` as JSON to try settings.

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
        if !(s.mota > mota_bar && s.idf1 > idf1_bar && s.switches * 2 <= sw_bar) {
            failures.push(format!(
                "{seq}: {s:?} vs SORT {mota_bar}/{idf1_bar}/{sw_bar}"
            ));
        }
    }
    assert!(failures.is_empty(), "below the SORT bar: {failures:#?}");
}
