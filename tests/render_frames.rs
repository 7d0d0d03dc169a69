//! `lookout replay --render`: annotated frames (a JPEG folder, and an mp4 through ffmpeg) read
//! back by an independent decoder (OpenCV, scripts/python/check_frames.py): the right number of
//! frames at the input size, and each confirmed track's box edge drawn in its id's colour where
//! the `tracks` topic of the same replay puts the box, the same colour in every frame.
//!
//! Needs the asset cache, the oracle venv and ffmpeg (`scripts/setup.sh`).

mod mcap_common;

use std::path::Path;
use std::process::Command;

use mcap_common::{check_mcap, lookout, ok, oracle_python, vtest_recording};
use serde_json::Value;

const FRAMES: u64 = 6;

/// (frame, id, x on the left edge, y in the middle) of every confirmed track.
fn track_edges(out_mcap: &Path) -> Vec<(usize, u64, i64, i64)> {
    let desc = check_mcap(out_mcap, &[]);
    let tracks: Vec<&Value> = desc["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["topic"] == "/camera/tracks")
        .collect();
    assert_eq!(tracks.len() as u64, FRAMES);
    let mut edges = Vec::new();
    for (i, m) in tracks.iter().enumerate() {
        for d in m["detections"].as_array().unwrap() {
            let b = &d["bbox"];
            let (x, y) = (b["x"].as_f64().unwrap(), b["y"].as_f64().unwrap());
            let w = b["size_x"].as_f64().unwrap();
            let id: u64 = d["id"].as_str().unwrap().parse().unwrap();
            let left = (x - w / 2.0).max(0.0).round() as i64;
            edges.push((i, id, left, y.round() as i64));
        }
    }
    edges
}

fn decode(kind: &str, path: &Path, at: &[(usize, u64, i64, i64)]) -> Value {
    let mut cmd = Command::new(oracle_python());
    cmd.arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/python/check_frames.py"))
        .arg(kind)
        .arg(path);
    for (i, _, x, y) in at {
        cmd.arg("--at").arg(format!("{i},{x},{y}"));
    }
    let out = cmd.output().expect("run check_frames.py");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn distance(a: &Value, b: [u8; 3]) -> i64 {
    a.as_array()
        .unwrap()
        .iter()
        .zip(b)
        .map(|(x, y)| (x.as_i64().unwrap() - i64::from(y)).abs())
        .sum()
}

/// Most track edges show their id's colour (a later box or label may cover a few), and the
/// test fails if none is drawn.
fn check_colours(decoded: &Value, edges: &[(usize, u64, i64, i64)], tolerance: i64) {
    assert!(!edges.is_empty(), "no confirmed track to check");
    let mut hits = 0;
    for (i, id, x, y) in edges {
        let px = &decoded["pixels"][format!("{i},{x},{y}")];
        let d = distance(px, lookout::viz::track_color(*id));
        eprintln!(
            "frame {i} track {id} at ({x},{y}): {px} vs {:?} (L1 {d})",
            lookout::viz::track_color(*id)
        );
        if d <= tolerance {
            hits += 1;
        }
    }
    assert!(
        hits * 10 >= edges.len() * 8,
        "only {hits} of {} track edges in their colour",
        edges.len()
    );
}

#[test]
fn rendered_jpeg_frames_show_tracks_in_their_colours() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.mcap");
    let frames_dir = dir.path().join("frames");
    let stdout = ok(lookout()
        .arg("replay")
        .arg(vtest_recording(FRAMES))
        .arg("--out")
        .arg(&out)
        .arg("--render")
        .arg(&frames_dir)
        .arg("--no-progress"));
    assert!(stdout.contains("annotated frames"), "{stdout}");
    let edges = track_edges(&out);
    let decoded = decode("--images", &frames_dir, &edges);
    assert_eq!(decoded["frames"].as_u64().unwrap(), FRAMES);
    assert_eq!(
        (decoded["width"].as_u64(), decoded["height"].as_u64()),
        (Some(768), Some(576))
    );
    check_colours(&decoded, &edges, 40);
}

#[test]
fn rendered_mp4_decodes_with_the_frames_and_colours() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.mcap");
    let video = dir.path().join("annotated.mp4");
    ok(lookout()
        .arg("replay")
        .arg(vtest_recording(FRAMES))
        .arg("--out")
        .arg(&out)
        .arg("--render")
        .arg(&video)
        .arg("--no-progress"));
    let edges = track_edges(&out);
    let decoded = decode("--video", &video, &edges);
    assert_eq!(decoded["frames"].as_u64().unwrap(), FRAMES);
    assert_eq!(
        (decoded["width"].as_u64(), decoded["height"].as_u64()),
        (Some(768), Some(576))
    );
    // H.264 4:2:0 smears chroma over 2 px lines more than JPEG does.
    check_colours(&decoded, &edges, 120);
}
