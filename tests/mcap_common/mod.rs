//! Shared helpers for the MCAP and record integration tests: the cache's assets and the Python
//! oracle (`scripts/python/check_mcap.py`, PyPI `mcap` + `mcap-ros2-support` + OpenCV).

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// `$LOOKOUT_CACHE` or `~/.cache/lookout`.
pub fn cache_dir() -> PathBuf {
    std::env::var_os("LOOKOUT_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").expect("HOME is set")).join(".cache/lookout")
        })
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
