//! The whole chain on real frames of PETS09-S2L1: `lookout replay` (with `--mot-out`,
//! `--summary-json` and `--render DIR`), then `lookout eval` of the replay against its own
//! MOTChallenge output as ground truth. That must score perfectly (MOTA 1, IDF1 1, no switch,
//! no FP/FN), which pins the frame mapping (message n = MOT frame n + 1) to the one
//! `--mot-out` uses; and the report must hold every plot (precision-recall, a latency
//! histogram per stage, boxes per frame) and the strip of rendered frames.
//!
//! Needs the asset cache and the oracle venv (`scripts/setup.sh`).

mod mcap_common;

use mcap_common::{lookout, ok, replay_for_report};

const FRAMES: u64 = 6;

#[test]
fn replay_scored_against_its_own_mot_output_is_perfect_and_the_report_is_complete() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // gt.txt: the tracks as ground truth (confidence 1).
    let out = replay_for_report(d, FRAMES);
    let stdout = ok(lookout()
        .arg("eval")
        .arg("--replay")
        .arg(&out)
        .arg("--gt")
        .arg(d.join("gt.txt"))
        .arg("--summary-json")
        .arg(d.join("summary.json"))
        .arg("--frames")
        .arg(d.join("frames"))
        .arg("--json")
        .arg(d.join("eval.json"))
        .arg("--report")
        .arg(d.join("report")));
    assert!(stdout.contains("report: "), "{stdout}");
    let ev: serde_json::Value =
        serde_json::from_slice(&std::fs::read(d.join("eval.json")).unwrap()).unwrap();
    let t = &ev["tracking"];
    assert_eq!(t["mota"], 1.0, "{t}");
    assert_eq!(t["idf1"], 1.0, "{t}");
    assert_eq!(t["num_switches"], 0);
    assert_eq!(t["num_false_positives"], 0);
    assert_eq!(t["num_misses"], 0);
    assert_eq!(ev["replay_frames"], FRAMES);

    let html = std::fs::read_to_string(d.join("report/report.html")).unwrap();
    assert!(html.contains("Precision-recall") && html.contains("AP50"));
    // PR curve + one histogram per timed stage + boxes per frame.
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(d.join("summary.json")).unwrap()).unwrap();
    let stages = summary["stage_samples_ms"].as_object().unwrap().len();
    assert!(stages >= 5, "{stages} stages timed");
    assert_eq!(html.matches("<svg").count(), 2 + stages, "plots missing");
    assert_eq!(html.matches("<img").count(), FRAMES as usize);
    assert!(
        html.contains("data:image/jpeg;base64,/9j/"),
        "frames are inline JPEG"
    );
    assert!(
        !html.contains("Not shown"),
        "something is missing from the report"
    );
    // Self-contained: nothing is fetched.
    assert!(!html.contains("src=\"http") && !html.contains("<script"));
}
