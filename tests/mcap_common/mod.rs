//! Shared helpers for the MCAP and record integration tests: the cache's assets and the Python
//! oracle (`scripts/python/check_mcap.py`, PyPI `mcap` + `mcap-ros2-support` + OpenCV).

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// `$LOOKOUT_CACHE` or `~/.cache/lookout` ([`lookout::assets::cache_dir`]).
pub fn cache_dir() -> PathBuf {
    lookout::assets::cache_dir().expect("no asset cache: set LOOKOUT_CACHE or HOME")
}

/// A data asset from the cache; fails naming the fetch script when absent.
pub fn asset(relative: &str) -> PathBuf {
    let path = cache_dir().join(relative);
    assert!(
        path.is_file(),
        "asset {} is missing: run scripts/fetch-assets.sh",
        path.display()
    );
    path
}

/// The oracle venv's Python; fails naming the setup script when absent.
pub fn oracle_python() -> PathBuf {
    let python = std::env::var_os("LOOKOUT_ORACLE_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| cache_dir().join("venv-oracle/bin/python"));
    assert!(
        python.is_file(),
        "oracle Python {} is missing: run scripts/setup.sh (or set LOOKOUT_ORACLE_PYTHON)",
        python.display()
    );
    python
}

/// Runs `check_mcap.py` on `file` and returns its JSON description.
pub fn check_mcap(file: &Path, extra: &[&str]) -> serde_json::Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/python/check_mcap.py");
    let out = Command::new(oracle_python())
        .arg(&script)
        .arg(file)
        .args(extra)
        .output()
        .expect("run check_mcap.py");
    assert!(
        out.status.success(),
        "check_mcap.py failed on {}: {}",
        file.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("check_mcap.py prints JSON")
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The `lookout` binary under test.
pub fn lookout() -> Command {
    Command::new(env!("CARGO_BIN_EXE_lookout"))
}

/// Runs a command, failing the test if it panicked (whatever its exit status).
pub fn run(cmd: &mut Command) -> std::process::Output {
    let out = cmd.output().expect("run lookout");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "lookout panicked: {stderr}");
    out
}

/// Runs a command that must succeed; returns its stdout.
pub fn ok(cmd: &mut Command) -> String {
    let out = run(cmd);
    assert!(
        out.status.success(),
        "lookout failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A JPEG recording of the first `frames` frames of vtest.avi at 7 frames/s from
/// 1700000000 s, made by `lookout record` once per test binary (the first call's `frames` wins).
pub fn vtest_recording(frames: u64) -> &'static Path {
    static REC: std::sync::OnceLock<(tempfile::TempDir, PathBuf)> = std::sync::OnceLock::new();
    let (_, path) = REC.get_or_init(|| {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("pets.mcap");
        ok(lookout()
            .arg("record")
            .arg(asset("data/vtest.avi"))
            .args([
                "--fps",
                "7",
                "--start-ns",
                "1700000000000000000",
                "--max-frames",
            ])
            .arg(frames.to_string())
            .arg("--out")
            .arg(&path));
        (dir, path)
    });
    path
}

/// The messages of one topic in a `check_mcap` description, in log-time order.
pub fn messages<'a>(desc: &'a serde_json::Value, topic: &str) -> Vec<&'a serde_json::Value> {
    desc["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .filter(|m| m["topic"] == topic)
        .collect()
}

/// Replays the first `frames` frames of the vtest recording into `dir` with every output an
/// eval report uses: `out.mcap`, `tracks.txt` (MOTChallenge), `summary.json`, the rendered
/// `frames/`, and `gt.txt`: the tracks as a ground truth (confidence 1), which eval must score
/// as perfect. Returns the MCAP's path.
#[allow(dead_code)]
pub fn replay_for_report(dir: &Path, frames: u64) -> PathBuf {
    let out = dir.join("out.mcap");
    ok(lookout()
        .arg("replay")
        .arg(vtest_recording(frames))
        .arg("--out")
        .arg(&out)
        .arg("--no-progress")
        .arg("--mot-out")
        .arg(dir.join("tracks.txt"))
        .arg("--summary-json")
        .arg(dir.join("summary.json"))
        .arg("--render")
        .arg(dir.join("frames")));
    let tracks = std::fs::read_to_string(dir.join("tracks.txt")).unwrap();
    assert!(!tracks.is_empty(), "no pedestrian track in {frames} frames");
    let gt: String = tracks
        .lines()
        .map(|l| {
            let c: Vec<&str> = l.split(',').collect();
            format!(
                "{},{},{},{},{},{},1,-1,-1,-1\n",
                c[0], c[1], c[2], c[3], c[4], c[5]
            )
        })
        .collect();
    std::fs::write(dir.join("gt.txt"), gt).unwrap();
    out
}
