//! Tracker speed: one `Tracker::update` at 10, 100 and 1000 objects, and whole MOT15
//! sequences (frames/s) next to supervision's ByteTrack measured in the same run.
//!
//! ```text
//! cargo bench --bench tracker                      # everything
//! cargo bench --bench tracker -- tracker_update    # criterion groups only (filter)
//! ```
//!
//! The comparison with the Python peer needs `$LOOKOUT_MOT15_DIR` (default
//! `../shared/data/mot15`) and the venv-oracle interpreter (`$LOOKOUT_ORACLE_PYTHON`); it prints
//! why when either is missing. Both sides time tracking only (files parsed beforehand).

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use criterion::{criterion_group, BenchmarkId, Criterion, Throughput};
use lookout::mot::{group_frames, parse_detections, parse_seqinfo, track_frames, FrameDetections};
use lookout::track::{Tracker, TrackerConfig};
use lookout::{BBox, Detection, Time};

/// Frames in one period of the synthetic motion: detections repeat every PERIOD frames while
/// the stamps keep increasing, so the benchmark can run as long as criterion wants.
const PERIOD: usize = 300;
const RATE_HZ: f64 = 30.0;

/// `n` pedestrian-sized boxes on a grid over a 1920 x 1080 image (smaller boxes when many),
/// each walking on its own ellipse with a period of PERIOD frames.
fn scene(n: usize) -> Vec<Vec<Detection>> {
    let cols = (n as f64 * 16.0 / 9.0).sqrt().ceil() as usize;
    let rows = n.div_ceil(cols);
    let (cell_w, cell_h) = (1920.0 / cols as f64, 1080.0 / rows as f64);
    let (w, h) = (cell_w * 0.4, cell_h * 0.6);
    (0..PERIOD)
        .map(|f| {
            let phase = 2.0 * std::f64::consts::PI * f as f64 / PERIOD as f64;
            (0..n)
                .map(|i| {
                    let (c, r) = ((i % cols) as f64, (i / cols) as f64);
                    let k = i as f64 * 0.37;
                    let cx = (c + 0.5) * cell_w + 0.2 * cell_w * (phase + k).cos();
                    let cy = (r + 0.5) * cell_h + 0.1 * cell_h * (phase + k).sin();
                    Detection {
                        bbox: BBox::from_center(cx as f32, cy as f32, w as f32, h as f32),
                        class_index: 0,
                        label: "person".into(),
                        score: 0.6 + 0.4 * ((i * 7919 + f * 104_729) % 100) as f32 / 100.0,
                    }
                })
                .collect()
        })
        .collect()
}

fn stamp(frame: u64) -> Time {
    Time::from_ns((frame as f64 * 1e9 / RATE_HZ).round() as i64)
}

fn tracker_update(c: &mut Criterion) {
    let mut group = c.benchmark_group("tracker_update");
    for n in [10usize, 100, 1000] {
        let frames = scene(n);
        let mut tracker = Tracker::new(TrackerConfig::default()).expect("default config is valid");
        // Warm up into the steady state: every object has a confirmed track.
        let mut frame = 0u64;
        for _ in 0..10 {
            tracker
                .update(stamp(frame), &frames[frame as usize % PERIOD])
                .expect("update");
            frame += 1;
        }
        group.throughput(Throughput::Elements(n as u64));
        group.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, _| {
            b.iter(|| {
                let out = tracker
                    .update(stamp(frame), black_box(&frames[frame as usize % PERIOD]))
                    .expect("update");
                frame += 1;
                black_box(out)
            })
        });
    }
    group.finish();
}

struct Sequence {
    name: &'static str,
    dir: PathBuf,
    /// Detections grouped per frame beforehand, as the Python peer does before its timer.
    frames: FrameDetections,
    fps: f64,
}

fn mot15_dir() -> PathBuf {
    std::env::var_os("LOOKOUT_MOT15_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/mot15"))
}

fn load_sequences() -> Result<Vec<Sequence>, String> {
    let root = mot15_dir();
    ["PETS09-S2L1", "TUD-Campus"]
        .into_iter()
        .map(|name| {
            let dir = root.join(name);
            let det = dir.join("det.txt");
            let ini = dir.join("seqinfo.ini");
            let text =
                std::fs::read_to_string(&det).map_err(|e| format!("{}: {e}", det.display()))?;
            let dets = parse_detections(&text, &det).map_err(|e| e.to_string())?;
            let ini_text =
                std::fs::read_to_string(&ini).map_err(|e| format!("{}: {e}", ini.display()))?;
            let info = parse_seqinfo(&ini_text, &ini).map_err(|e| e.to_string())?;
            Ok(Sequence {
                name,
                dir,
                frames: group_frames(&dets, info.seq_length.unwrap_or(0)),
                fps: info.frame_rate,
            })
        })
        .collect()
}

fn mot15_sequences(c: &mut Criterion) {
    let seqs = match load_sequences() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("mot15 benchmark skipped: {e} (set LOOKOUT_MOT15_DIR)");
            return;
        }
    };
    let config = TrackerConfig::default();
    let mut group = c.benchmark_group("mot15_sequence");
    for s in &seqs {
        group.throughput(Throughput::Elements(s.frames.frame_count() as u64));
        group.bench_function(s.name, |b| {
            b.iter(|| track_frames(black_box(&s.frames), s.fps, &config, &s.dir).expect("track"))
        });
    }
    group.finish();
}

fn oracle_python() -> PathBuf {
    std::env::var_os("LOOKOUT_ORACLE_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            lookout::assets::cache_dir()
                .expect("no asset cache: set LOOKOUT_CACHE or HOME")
                .join("venv-oracle/bin/python")
        })
}

/// Frames/s of ours and of supervision's ByteTrack on the same files, and the ratio.
fn compare_with_supervision() {
    let seqs = match load_sequences() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("supervision comparison skipped: {e} (set LOOKOUT_MOT15_DIR)");
            return;
        }
    };
    let python = oracle_python();
    if !python.is_file() {
        eprintln!(
            "supervision comparison skipped: {} not found (run scripts/setup.sh or set LOOKOUT_ORACLE_PYTHON)",
            python.display()
        );
        return;
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/python/bytetrack_peer.py");
    let config = TrackerConfig::default();
    println!("\n| sequence | frames | lookout frames/s | supervision ByteTrack frames/s | ratio |");
    println!("|---|---|---|---|---|");
    for s in &seqs {
        // Ours: repeat for at least one second.
        let mut runs = 0u32;
        let t0 = Instant::now();
        while t0.elapsed() < Duration::from_secs(1) || runs < 3 {
            black_box(track_frames(&s.frames, s.fps, &config, &s.dir).expect("track"));
            runs += 1;
        }
        let ours = s.frames.frame_count() as f64 * f64::from(runs) / t0.elapsed().as_secs_f64();
        let out = std::env::temp_dir().join(format!("lookout-bench-sv-{}.txt", s.name));
        let res = Command::new(&python)
            .arg(&script)
            .arg("--seq")
            .arg(&s.dir)
            .arg("--out")
            .arg(&out)
            .arg("--repeat")
            .arg("3")
            .output();
        let peer = match res {
            Ok(o) if o.status.success() => {
                let stdout = String::from_utf8_lossy(&o.stdout);
                stdout
                    .lines()
                    .last()
                    .and_then(|l| serde_json::from_str::<serde_json::Value>(l).ok())
                    .and_then(|v| v["frames_per_s"].as_f64())
            }
            Ok(o) => {
                eprintln!(
                    "bytetrack_peer.py failed: {}",
                    String::from_utf8_lossy(&o.stderr)
                );
                None
            }
            Err(e) => {
                eprintln!("cannot run {}: {e}", python.display());
                None
            }
        };
        match peer {
            Some(p) => println!(
                "| {} | {} | {ours:.0} | {p:.0} | {:.0}x |",
                s.name,
                s.frames.frame_count(),
                ours / p
            ),
            None => println!(
                "| {} | {} | {ours:.0} | n/a | n/a |",
                s.name,
                s.frames.frame_count()
            ),
        }
    }
}

criterion_group!(benches, tracker_update, mot15_sequences);

fn main() {
    benches();
    compare_with_supervision();
    criterion::Criterion::default()
        .configure_from_args()
        .final_summary();
}
