//! `lookout eval` against the independent evaluator (py-motmetrics 1.4.0,
//! scripts/python/mot_eval.py) on the TUD-Campus and TUD-Stadtmitte ground truth shipped in the
//! `motmetrics` wheel: detections synthesised from the ground truth (seeded noise, dropouts,
//! false positives) are tracked by `lookout track`, the results are written as a replay-style
//! MCAP (`/camera/tracks` and `/camera/detections` Detection2DArray topics, one message per
//! frame), and `lookout eval` must agree with motmetrics on MOTA and IDF1 within 0.1 points
//! and on ID switches exactly. Also: the bad-input paths (ground truth beyond the replay, an
//! empty replay, a corrupt gt line) give clear messages and a report saying what is missing.
//!
//! Needs the motmetrics venv (`scripts/setup.sh`).

mod mcap_common;
mod track_common;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Output;

use lookout::mcap_io::Ros2McapWriter;
use lookout::msgs::Detection2DArray;
use lookout::types::{BBox, Detection, Header, Time};
use mcap_common::{lookout, run};
use serde_json::Value;
use track_common::Rng;

type Row = (u32, f64, f64, f64, f64, f64); // frame, x, y, w, h, score-or-id

fn parse_rows(text: &str, col1: bool) -> Vec<(u32, f64, [f64; 4], f64)> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let c: Vec<f64> = l.split(',').map(|v| v.trim().parse().unwrap()).collect();
            let extra = if col1 { c[1] } else { c[6] };
            (c[0] as u32, extra, [c[2], c[3], c[4], c[5]], c[6])
        })
        .collect()
}

/// `<dir>/seq/{det/det.txt, seqinfo.ini}` with detections made from the ground truth.
fn synthesize(gt: &Path, dir: &Path, seed: u64) -> PathBuf {
    let mut rng = Rng::new(seed);
    let text = std::fs::read_to_string(gt).unwrap();
    let mut rows: Vec<Row> = Vec::new();
    let mut last = 0;
    for (frame, _, [x, y, w, h], conf) in parse_rows(&text, true) {
        last = last.max(frame);
        if conf == 0.0 || rng.uniform() < 0.15 {
            continue;
        }
        let s = (w * h).sqrt();
        let (cx, cy) = (
            x + w / 2.0 + rng.normal() * 0.04 * s,
            y + h / 2.0 + rng.normal() * 0.04 * s,
        );
        let (w, h) = (
            w * (1.0 + rng.normal() * 0.05),
            h * (1.0 + rng.normal() * 0.05),
        );
        let score = if rng.uniform() < 0.25 {
            0.2 + 0.4 * rng.uniform()
        } else {
            0.6 + 0.4 * rng.uniform()
        };
        rows.push((frame, cx - w / 2.0, cy - h / 2.0, w, h, score));
    }
    for frame in 1..=last {
        if rng.uniform() < 0.5 {
            let (x, y) = (rng.uniform() * 500.0, rng.uniform() * 300.0);
            let (w, h) = (30.0 + rng.uniform() * 60.0, 80.0 + rng.uniform() * 120.0);
            rows.push((frame, x, y, w, h, 0.1 + 0.65 * rng.uniform()));
        }
    }
    rows.sort_by_key(|r| r.0);
    let mut det = String::new();
    for (f, x, y, w, h, s) in rows {
        writeln!(det, "{f},-1,{x:.2},{y:.2},{w:.2},{h:.2},{s:.3},-1,-1,-1").unwrap();
    }
    let seq = dir.join("seq");
    std::fs::create_dir_all(seq.join("det")).unwrap();
    std::fs::write(seq.join("det/det.txt"), det).unwrap();
    std::fs::write(
        seq.join("seqinfo.ini"),
        format!("[Sequence]\nname=seq\nframeRate=25\nseqLength={last}\n"),
    )
    .unwrap();
    seq
}

fn det(tlwh: [f64; 4], score: f64) -> Detection {
    Detection {
        bbox: BBox::from_tlwh(
            tlwh[0] as f32,
            tlwh[1] as f32,
            tlwh[2] as f32,
            tlwh[3] as f32,
        ),
        class_index: 0,
        label: "pedestrian".into(),
        score: score as f32,
    }
}

/// A replay-style MCAP: message n on each topic is MOT frame n + 1.
fn write_replay_mcap(path: &Path, frames: u32, tracks_txt: &str, det_txt: &str) {
    let mut tracks: BTreeMap<u32, Vec<(u64, [f64; 4], f64)>> = BTreeMap::new();
    for (f, id, b, s) in parse_rows(tracks_txt, true) {
        tracks.entry(f).or_default().push((id as u64, b, s));
    }
    let mut dets: BTreeMap<u32, Vec<([f64; 4], f64)>> = BTreeMap::new();
    for (f, _, b, s) in parse_rows(det_txt, false) {
        dets.entry(f).or_default().push((b, s));
    }
    let mut w = Ros2McapWriter::create(path).unwrap();
    w.add_topic::<Detection2DArray>("/camera/tracks").unwrap();
    w.add_topic::<Detection2DArray>("/camera/detections")
        .unwrap();
    for frame in 1..=frames {
        let stamp_ns = i64::from(frame) * 40_000_000;
        let header = Header {
            stamp: Time::from_ns(stamp_ns),
            frame_id: "cam".into(),
        };
        let d: Vec<Detection> = dets
            .get(&frame)
            .map(|v| v.iter().map(|(b, s)| det(*b, *s)).collect())
            .unwrap_or_default();
        let mut t = Detection2DArray {
            header: header.clone(),
            detections: Vec::new(),
        };
        for (id, b, s) in tracks.get(&frame).into_iter().flatten() {
            // f64 all the way: the ground truth's precision is kept in the boxes.
            let mut one = Detection2DArray::from_detections(&header, &[det(*b, *s)]).detections;
            let mut d2 = one.remove(0);
            d2.bbox.center.position.x = b[0] + b[2] / 2.0;
            d2.bbox.center.position.y = b[1] + b[3] / 2.0;
            d2.bbox.size_x = b[2];
            d2.bbox.size_y = b[3];
            d2.id = id.to_string();
            t.detections.push(d2);
        }
        let log = stamp_ns as u64;
        w.write_message(
            "/camera/detections",
            log,
            frame - 1,
            &Detection2DArray::from_detections(&header, &d),
        )
        .unwrap();
        w.write_message("/camera/tracks", log, frame - 1, &t)
            .unwrap();
    }
    w.finish().unwrap();
}

fn eval_json(replay: &Path, gt: &Path, dir: &Path) -> (Output, Option<Value>) {
    let json = dir.join("eval.json");
    let _ = std::fs::remove_file(&json);
    let out = run(lookout()
        .arg("eval")
        .arg("--replay")
        .arg(replay)
        .arg("--gt")
        .arg(gt)
        .arg("--json")
        .arg(&json)
        .arg("--report")
        .arg(dir.join("report")));
    let v = std::fs::read(&json)
        .ok()
        .map(|b| serde_json::from_slice(&b).unwrap());
    (out, v)
}

fn cross_check(name: &str, seed: u64) {
    let gt = track_common::motmetrics_dir()
        .join("data")
        .join(name)
        .join("gt.txt");
    assert!(
        gt.is_file(),
        "{} missing: run scripts/setup.sh",
        gt.display()
    );
    let tmp = tempfile::tempdir().unwrap();
    let seq = synthesize(&gt, tmp.path(), seed);
    let result = tmp.path().join("result.txt");
    // The synthetic detections' scores are not the public Faster R-CNN's: the tracking block's
    // thresholds (`--scores own`) keep the tracker working, so the comparison is not of two
    // near-empty results.
    let out = run(lookout()
        .arg("track")
        .arg("--det")
        .arg(&seq)
        .arg("--scores")
        .arg("own")
        .arg("--out")
        .arg(&result));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let gt_text = std::fs::read_to_string(&gt).unwrap();
    let frames = parse_rows(&gt_text, true)
        .iter()
        .map(|r| r.0)
        .max()
        .unwrap();
    let mcap = tmp.path().join("replay.mcap");
    write_replay_mcap(
        &mcap,
        frames,
        &std::fs::read_to_string(&result).unwrap(),
        &std::fs::read_to_string(seq.join("det/det.txt")).unwrap(),
    );
    let (out, ev) = eval_json(&mcap, &gt, tmp.path());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ev = ev.unwrap();
    let ours = &ev["tracking"];
    let reference = track_common::score(&gt, &result);
    eprintln!("{name}: lookout eval {ours}\n  motmetrics {reference:?}");
    let mota = ours["mota"].as_f64().unwrap();
    let idf1 = ours["idf1"].as_f64().unwrap();
    assert!(
        (mota - reference.mota).abs() <= 1e-3,
        "MOTA {mota} vs {}",
        reference.mota
    );
    assert!(
        (idf1 - reference.idf1).abs() <= 1e-3,
        "IDF1 {idf1} vs {}",
        reference.idf1
    );
    assert_eq!(ours["num_switches"].as_i64().unwrap(), reference.switches);
    assert_eq!(
        ours["num_false_positives"].as_i64().unwrap(),
        reference.false_positives
    );
    assert_eq!(ours["num_misses"].as_i64().unwrap(), reference.misses);
    // A tracker that works: the comparison is not between two zeros.
    assert!(mota > 0.3 && idf1 > 0.3, "{ours}");
    // Detection scores exist and are sane: 15 % of boxes dropped bounds recall.
    let d = &ev["detection"];
    let ap = d["ap"].as_f64().unwrap();
    let recall = d["recall"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .as_f64()
        .unwrap();
    assert!(recall > 0.6 && recall < 0.95, "recall {recall}");
    assert!(ap > 0.5 && ap <= recall + 1e-9, "AP {ap} recall {recall}");
    let html = std::fs::read_to_string(tmp.path().join("report/report.html")).unwrap();
    assert!(html.contains("precision-recall") && html.matches("<svg").count() >= 2);
}

/// A tracked sequence made from `name`'s ground truth: (gt.txt, results, replay MCAP).
fn tracked_sequence(name: &str, seed: u64, dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let gt = track_common::motmetrics_dir()
        .join("data")
        .join(name)
        .join("gt.txt");
    assert!(
        gt.is_file(),
        "{} missing: run scripts/setup.sh",
        gt.display()
    );
    std::fs::create_dir_all(dir).unwrap();
    let seq = synthesize(&gt, dir, seed);
    let result = dir.join("result.txt");
    // The synthetic detections' scores are not the public Faster R-CNN's: the tracking block's
    // thresholds (`--scores own`) keep the tracker working, so the comparison is not of two
    // near-empty results.
    let out = run(lookout()
        .arg("track")
        .arg("--det")
        .arg(&seq)
        .arg("--scores")
        .arg("own")
        .arg("--out")
        .arg(&result));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let frames = parse_rows(&std::fs::read_to_string(&gt).unwrap(), true)
        .iter()
        .map(|r| r.0)
        .max()
        .unwrap();
    let mcap = dir.join("replay.mcap");
    write_replay_mcap(
        &mcap,
        frames,
        &std::fs::read_to_string(&result).unwrap(),
        &std::fs::read_to_string(seq.join("det/det.txt")).unwrap(),
    );
    (gt, result, mcap)
}

/// `lookout eval` over several replays (flags and a list file) against motmetrics' OVERALL row
/// of the same sequences: the counts summed, MOTA and IDF1 from the sums.
#[test]
fn several_replays_agree_with_motmetrics_overall() {
    let tmp = tempfile::tempdir().unwrap();
    let seqs = [("TUD-Campus", 21), ("TUD-Stadtmitte", 22)];
    let made: Vec<_> = seqs
        .iter()
        .map(|(name, seed)| tracked_sequence(name, *seed, &tmp.path().join(name)))
        .collect();
    let mut py = std::process::Command::new(track_common::mot_python());
    py.arg(track_common::repo().join("scripts/python/mot_eval.py"))
        .arg("--overall");
    for ((name, _), (gt, result, _)) in seqs.iter().zip(&made) {
        py.arg("--pair").arg(name).arg(gt).arg(result);
    }
    let out = py.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let reference: Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    let overall = &reference["OVERALL"];

    let json = tmp.path().join("merged.json");
    let mut cmd = lookout();
    cmd.arg("eval");
    for (gt, _, mcap) in &made {
        cmd.arg("--replay").arg(mcap).arg("--gt").arg(gt);
    }
    let o = run(cmd.arg("--json").arg(&json));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout).contains("2 replays merged"));
    let ev: Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let ours = &ev["tracking"];
    eprintln!("lookout eval (merged) {ours}\n  motmetrics OVERALL {overall}");
    for key in [
        "num_switches",
        "num_false_positives",
        "num_misses",
        "num_objects",
    ] {
        assert_eq!(ours[key], overall[key], "{key}");
    }
    for key in ["mota", "idf1", "motp"] {
        let (a, b) = (ours[key].as_f64().unwrap(), overall[key].as_f64().unwrap());
        assert!((a - b).abs() <= 1e-3, "{key}: {a} vs {b}");
    }
    // The OVERALL row is not one sequence's: both count.
    for (name, _) in &seqs {
        assert_ne!(reference[name]["num_objects"], overall["num_objects"]);
    }

    // The same pairs from a list file: the same numbers.
    let list = tmp.path().join("pairs.txt");
    let mut text = String::from("# replay gt\n");
    for (gt, _, mcap) in &made {
        writeln!(text, "{}\t{}", mcap.display(), gt.display()).unwrap();
    }
    std::fs::write(&list, text).unwrap();
    let json2 = tmp.path().join("merged2.json");
    let o = run(lookout()
        .args(["eval", "--list"])
        .arg(&list)
        .arg("--json")
        .arg(&json2));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let ev2: Value = serde_json::from_slice(&std::fs::read(&json2).unwrap()).unwrap();
    assert_eq!(ev2["tracking"], ev["tracking"]);
    assert_eq!(ev2["detection"], ev["detection"]);

    // Unpaired flags are refused.
    let o = run(lookout()
        .arg("eval")
        .arg("--replay")
        .arg(&made[0].2)
        .arg("--replay")
        .arg(&made[1].2)
        .arg("--gt")
        .arg(&made[0].0));
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("one ground truth per replay"));
}

#[test]
fn tud_campus_agrees_with_motmetrics() {
    cross_check("TUD-Campus", 11);
}

#[test]
fn tud_stadtmitte_agrees_with_motmetrics() {
    cross_check("TUD-Stadtmitte", 12);
}

#[test]
fn bad_inputs_give_clear_messages_and_say_so_in_the_report() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    // A replay of 3 frames; ground truth up to frame 5.
    let gt = dir.join("gt.txt");
    std::fs::write(
        &gt,
        "1,1,10,10,20,40,1,-1,-1,-1\n2,1,11,10,20,40,1,-1,-1,-1\n4,1,13,10,20,40,1,-1,-1,-1\n5,1,14,10,20,40,1,-1,-1,-1\n",
    )
    .unwrap();
    let mcap = dir.join("short.mcap");
    write_replay_mcap(
        &mcap,
        3,
        "1,7,10,10,20,40,0.9,-1,-1,-1\n2,7,11,10,20,40,0.9,-1,-1,-1\n",
        "1,-1,10,10,20,40,0.9,-1,-1,-1\n",
    );
    let (out, ev) = eval_json(&mcap, &gt, dir);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ev = ev.unwrap();
    assert_eq!(ev["gt_rows_unseen"], 2);
    assert_eq!(ev["tracking"]["num_objects"], 2);
    assert_eq!(ev["tracking"]["mota"], 1.0);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("replay has 3 frames"), "{stdout}");
    let html = std::fs::read_to_string(dir.join("report/report.html")).unwrap();
    assert!(html.contains("left out of every score"));

    // Corrupt gt line: the file and line are named, the report says the evaluation failed.
    let bad = dir.join("bad.txt");
    std::fs::write(&bad, "1,1,10,10,20,40,1\n2,1,oops,10,20,40,1\n").unwrap();
    let (out, _) = eval_json(&mcap, &bad, dir);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("bad.txt:2: x `oops`"), "{stderr}");
    let html = std::fs::read_to_string(dir.join("report/report.html")).unwrap();
    assert!(
        html.contains("could not run") && html.contains("bad.txt:2"),
        "{html}"
    );
    // The replay was readable: what needs no ground truth is still reported.
    assert!(
        html.contains("id=\"counts\"") && html.contains("id=\"per-frame\""),
        "{html}"
    );

    // No ground truth at all: nothing is scored, the counts are, and both say how to score.
    let json = dir.join("no-gt.json");
    let out = run(lookout()
        .args(["eval", "--replay"])
        .arg(&mcap)
        .arg("--json")
        .arg(&json)
        .arg("--report")
        .arg(dir.join("report-no-gt")));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("ground truth: none given") && stdout.contains("--gt"),
        "{stdout}"
    );
    let ev: Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert_eq!(ev["ground_truth"], false);
    assert!(
        ev["tracking"].is_null() && ev["detection"].is_null(),
        "{ev}"
    );
    assert_eq!(ev["detections_by_class"]["pedestrian"], 1);
    assert_eq!(ev["tracks_by_class"]["pedestrian"], 1);
    assert_eq!(ev["tracks_per_frame"], serde_json::json!([1, 1, 0]));
    let html = std::fs::read_to_string(dir.join("report-no-gt/report.html")).unwrap();
    assert!(html.contains("id=\"no-gt\""), "{html}");
    assert!(!html.contains("could not run"), "{html}");

    // Empty replay: the tracks topic has no messages.
    let empty = dir.join("empty.mcap");
    {
        let mut w = Ros2McapWriter::create(&empty).unwrap();
        w.add_topic::<Detection2DArray>("/camera/tracks").unwrap();
        w.finish().unwrap();
    }
    let out = run(lookout()
        .args(["eval", "--topic", "/camera/tracks", "--replay"])
        .arg(&empty)
        .arg("--gt")
        .arg(&gt));
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("has no messages: the replay is empty"),
        "{stderr}"
    );
    let out = run(lookout()
        .args(["eval", "--replay"])
        .arg(&empty)
        .arg("--gt")
        .arg(&gt));
    assert!(!out.status.success());
    // Without --topic the only tracks topic is found, and it is empty.
    assert!(String::from_utf8_lossy(&out.stderr).contains("the replay is empty"));
}

/// PETS09-S2L1, full pipeline: all 795 vtest frames replayed (our detector and tracker), then
/// `lookout eval` on the MCAP against motmetrics on the `--mot-out` file of the same replay,
/// scored against MOT15's ground truth. The ground truth is research-licensed data a fresh
/// machine lacks, so the test is ignored by default and `make test` runs it whenever
/// `$LOOKOUT_MOT15_DIR` (default `../shared/data/mot15`) holds `PETS09-S2L1/gt.txt`.
#[test]
#[ignore = "needs the MOT15 PETS09-S2L1 ground truth (LOOKOUT_MOT15_DIR); make test runs it when present"]
fn pets09_replay_agrees_with_motmetrics() {
    let gt = std::env::var_os("LOOKOUT_MOT15_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| track_common::repo().join("../shared/data/mot15"))
        .join("PETS09-S2L1/gt.txt");
    assert!(
        gt.is_file(),
        "{} not found: set LOOKOUT_MOT15_DIR",
        gt.display()
    );
    let work = tempfile::tempdir().unwrap();
    let (replay, mot) = (work.path().join("out.mcap"), work.path().join("tracks.txt"));
    mcap_common::ok(
        lookout()
            .arg("replay")
            .arg(mcap_common::vtest_recording(795))
            .arg("--out")
            .arg(&replay)
            .arg("--no-progress")
            .arg("--mot-out")
            .arg(&mot),
    );
    let tmp = tempfile::tempdir().unwrap();
    let (out, ev) = eval_json(&replay, &gt, tmp.path());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ours = &ev.unwrap()["tracking"];
    let reference = track_common::score(&gt, &mot);
    eprintln!("PETS09: lookout eval {ours}\n  motmetrics {reference:?}");
    assert!((ours["mota"].as_f64().unwrap() - reference.mota).abs() <= 1e-3);
    assert!((ours["idf1"].as_f64().unwrap() - reference.idf1).abs() <= 1e-3);
    assert_eq!(ours["num_switches"].as_i64().unwrap(), reference.switches);
}
