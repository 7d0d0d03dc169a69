//! Helpers shared by the tracker's integration tests: the motmetrics interpreter and scoring.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// The repository root.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn cache_dir() -> PathBuf {
    lookout::assets::cache_dir().expect("no asset cache: set LOOKOUT_CACHE or HOME")
}

/// The venv-mot interpreter (motmetrics 1.4.0); panics with the fix when it is missing.
pub fn mot_python() -> PathBuf {
    let p = std::env::var_os("LOOKOUT_MOT_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| cache_dir().join("venv-mot/bin/python"));
    assert!(
        p.is_file(),
        "motmetrics interpreter {} not found: run scripts/setup.sh (or set LOOKOUT_MOT_PYTHON)",
        p.display()
    );
    p
}

/// The motmetrics package folder of the venv (holds data/TUD-*/gt.txt).
pub fn motmetrics_dir() -> PathBuf {
    let out = Command::new(mot_python())
        .args([
            "-c",
            "import motmetrics, os; print(os.path.dirname(motmetrics.__file__))",
        ])
        .output()
        .expect("run the motmetrics interpreter");
    assert!(
        out.status.success(),
        "motmetrics is not importable: run scripts/setup.sh\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    PathBuf::from(String::from_utf8(out.stdout).unwrap().trim())
}

/// MOTA, IDF1 and id switches of one sequence, from scripts/python/mot_eval.py.
#[derive(Debug, Clone, Copy)]
pub struct Scores {
    pub mota: f64,
    pub idf1: f64,
    pub switches: i64,
    pub false_positives: i64,
    pub misses: i64,
    /// Ground-truth boxes scored (MOTA's denominator).
    pub objects: i64,
}

pub fn score(gt: &Path, result: &Path) -> Scores {
    let out = Command::new(mot_python())
        .arg(repo().join("scripts/python/mot_eval.py"))
        .arg("--pair")
        .arg("seq")
        .arg(gt)
        .arg(result)
        .output()
        .expect("run mot_eval.py");
    assert!(
        out.status.success(),
        "mot_eval.py failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let last = stdout.lines().last().expect("mot_eval.py printed JSON");
    let v: serde_json::Value = serde_json::from_str(last).unwrap();
    let s = &v["seq"];
    Scores {
        mota: s["mota"].as_f64().unwrap(),
        idf1: s["idf1"].as_f64().unwrap(),
        switches: s["num_switches"].as_i64().unwrap(),
        false_positives: s["num_false_positives"].as_i64().unwrap(),
        misses: s["num_misses"].as_i64().unwrap(),
        objects: s["num_objects"].as_i64().unwrap(),
    }
}

/// SplitMix64: a seeded generator for test data (no dependency, same numbers everywhere).
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    /// Standard normal (Box–Muller).
    pub fn normal(&mut self) -> f64 {
        let u1 = self.uniform().max(1e-300);
        let u2 = self.uniform();
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    }
}
