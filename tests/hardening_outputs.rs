//! What lookout promises about files, through the real binary (issue 13, items 1, 2 and 10):
//! an output that is an input (by any spelling) is refused and the input left byte-identical;
//! SIGTERM and SIGHUP part-way leave outputs the independent Python `mcap` reader reads whole,
//! holding every frame processed; `--render x.mp4` interrupted still leaves the video and no
//! temporary folder; a closed or full stdout neither panics nor loses `--summary-json`; an
//! unwritable output folder or a full disk gives a clear error and no temporary file.
//!
//! Needs the asset cache and the oracle venv (`scripts/setup.sh`), like tests/replay.rs.

mod mcap_common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use mcap_common::{asset, check_mcap, lookout, messages, ok, run, sha256_hex, vtest_recording};
use serde_json::Value;

const FRAMES: u64 = 3;

fn sha(path: &Path) -> String {
    sha256_hex(&std::fs::read(path).unwrap())
}

/// Every entry of `dir` (names), sorted.
fn listing(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

fn temporaries(dir: &Path) -> Vec<String> {
    listing(dir)
        .into_iter()
        .filter(|n| n.contains(".tmp-"))
        .collect()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A recording of the first `FRAMES` frames, copied into `dir` (so a broken refusal could only
/// destroy the copy).
fn input_in(dir: &Path) -> PathBuf {
    let input = dir.join("in.mcap");
    std::fs::copy(vtest_recording(FRAMES), &input).unwrap();
    input
}

#[test]
fn an_output_that_is_the_input_by_any_spelling_is_refused_and_the_input_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let input = input_in(d);
    let before = sha(&input);
    std::fs::create_dir(d.join("sub")).unwrap();
    std::os::unix::fs::symlink(&input, d.join("link.mcap")).unwrap();
    std::fs::hard_link(&input, d.join("hard.mcap")).unwrap();
    let spellings = [
        input.clone(),
        d.join("link.mcap"),
        d.join("sub/../in.mcap"),
        d.join("./in.mcap"),
        d.join("hard.mcap"),
    ];
    let elsewhere = d.join("out.mcap");
    let mut cases: Vec<Vec<PathBuf>> = Vec::new();
    for s in &spellings {
        cases.push(vec!["--out".into(), s.clone()]);
        for flag in ["--summary-json", "--mot-out", "--mot-det-out"] {
            cases.push(vec![
                "--out".into(),
                elsewhere.clone(),
                flag.into(),
                s.clone(),
            ]);
        }
    }
    for args in &cases {
        let o = run(lookout()
            .arg("replay")
            .arg(&input)
            .arg("--no-progress")
            .args(args));
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        let err = stderr(&o);
        assert!(
            err.contains("refusing") && err.contains("in.mcap"),
            "{args:?}: {err}"
        );
        assert_eq!(sha(&input), before, "{args:?} changed the input");
        assert!(!elsewhere.exists(), "{args:?}: an output was written");
        assert!(temporaries(d).is_empty(), "{:?}", listing(d));
    }
    // Two outputs that are one file.
    let o = run(lookout()
        .arg("replay")
        .arg(&input)
        .arg("--out")
        .arg(&elsewhere)
        .arg("--summary-json")
        .arg(d.join("sub/../out.mcap")));
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("same file"), "{}", stderr(&o));
}

#[test]
fn record_over_its_own_video_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let video = dir.path().join("v.avi");
    std::fs::copy(asset("data/vtest.avi"), &video).unwrap();
    let before = sha(&video);
    let o = run(lookout()
        .arg("record")
        .arg(&video)
        .args(["--fps", "7", "--max-frames", "2", "--out"])
        .arg(&video));
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("refusing"), "{}", stderr(&o));
    assert_eq!(sha(&video), before);
    assert_eq!(listing(dir.path()), ["v.avi"]);
}

#[test]
fn a_run_that_fails_before_writing_leaves_the_earlier_output_untouched() {
    // The MCAP writer is created before `record` finds the folder empty: dropping it must not
    // rename an empty file over what was at --out.
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir(d.join("empty")).unwrap();
    let out = d.join("out.mcap");
    std::fs::copy(vtest_recording(FRAMES), &out).unwrap();
    let before = sha(&out);
    let o = run(lookout()
        .arg("record")
        .arg(d.join("empty"))
        .arg("--out")
        .arg(&out));
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert_eq!(
        sha(&out),
        before,
        "an empty recording replaced the earlier output"
    );
    assert!(temporaries(d).is_empty(), "{:?}", listing(d));
}

/// A recording long enough that a signal lands part-way (a replay frame takes a fraction of a
/// second even on a fast machine; 150 take far longer than the wait below).
fn long_recording(dir: &Path) -> PathBuf {
    let input = dir.join("long.mcap");
    ok(lookout()
        .arg("record")
        .arg(asset("data/vtest.avi"))
        .args(["--fps", "7", "--max-frames", "150", "--out"])
        .arg(&input));
    input
}

/// Waits until `name`'s temporary file exists in `dir` (the model is loaded and frames are
/// being written), lets a few frames through, then sends `signal`.
fn signal_part_way(child: &Child, dir: &Path, name: &str, signal: i32) {
    let prefix = format!(".{name}.tmp-");
    let start = Instant::now();
    while !listing(dir).iter().any(|n| n.starts_with(&prefix)) {
        assert!(start.elapsed() < Duration::from_secs(120), "never started");
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(2500));
    // SAFETY: kill(2) on our own child's pid; no memory is involved.
    let sent = unsafe { libc::kill(child.id() as i32, signal) };
    assert_eq!(sent, 0);
}

fn signal_leaves_every_processed_frame(signal: i32) {
    let dir = tempfile::tempdir().unwrap();
    let input = long_recording(dir.path());
    let before = sha(&input);
    let out_dir = dir.path().join("o");
    std::fs::create_dir(&out_dir).unwrap();
    let out = out_dir.join("out.mcap");
    let json = out_dir.join("summary.json");
    let child = lookout()
        .arg("replay")
        .arg(&input)
        .arg("--out")
        .arg(&out)
        .arg("--summary-json")
        .arg(&json)
        .arg("--no-progress")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    signal_part_way(&child, &out_dir, "out.mcap", signal);
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(130), "{}", stderr(&o));
    assert!(!stderr(&o).contains("panicked"), "{}", stderr(&o));
    let summary: Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert_eq!(summary["interrupted"], true);
    let frames = summary["frames"].as_u64().unwrap();
    assert!(frames > 0 && frames < 150, "{frames} frames processed");
    let desc = check_mcap(&out, &[]);
    assert_eq!(desc["has_summary"], true);
    assert_eq!(
        desc["linear_message_count"].as_u64().unwrap(),
        desc["statistics"]["message_count"].as_u64().unwrap()
    );
    assert_eq!(
        messages(&desc, "/camera/detections").len() as u64,
        frames,
        "every frame processed is in the output"
    );
    assert_eq!(listing(&out_dir), ["out.mcap", "summary.json"]);
    assert_eq!(sha(&input), before);
}

#[test]
fn sigterm_part_way_leaves_a_valid_output_with_every_frame_processed() {
    signal_leaves_every_processed_frame(libc::SIGTERM);
}

#[test]
fn sighup_part_way_leaves_a_valid_output_with_every_frame_processed() {
    signal_leaves_every_processed_frame(libc::SIGHUP);
}

#[test]
fn sigterm_while_rendering_an_mp4_leaves_the_video_and_no_temporary_folder() {
    let dir = tempfile::tempdir().unwrap();
    let input = long_recording(dir.path());
    let out_dir = dir.path().join("o");
    let tmp = dir.path().join("tmp");
    std::fs::create_dir_all(&out_dir).unwrap();
    std::fs::create_dir_all(&tmp).unwrap();
    let video = out_dir.join("out.mp4");
    let child = lookout()
        .arg("replay")
        .arg(&input)
        .arg("--out")
        .arg(out_dir.join("out.mcap"))
        .arg("--render")
        .arg(&video)
        .arg("--no-progress")
        // The JPEG frames go to a temporary folder under $TMPDIR: here, to be checked.
        .env("TMPDIR", &tmp)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    signal_part_way(&child, &out_dir, "out.mcap", libc::SIGTERM);
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(130), "{}", stderr(&o));
    let bytes = std::fs::read(&video).expect("the video");
    assert_eq!(&bytes[4..8], b"ftyp", "an mp4");
    assert_eq!(listing(&out_dir), ["out.mcap", "out.mp4"]);
    assert!(
        listing(&tmp).is_empty(),
        "left in TMPDIR: {:?}",
        listing(&tmp)
    );
}

fn summary_json_run(dir: &Path, stdout: Stdio) -> Output {
    let out = dir.join("out.mcap");
    lookout()
        .arg("replay")
        .arg(vtest_recording(FRAMES))
        .arg("--out")
        .arg(&out)
        .arg("--summary-json")
        .arg(dir.join("summary.json"))
        .arg("--no-progress")
        .stdout(stdout)
        .stderr(Stdio::piped())
        .output()
        .unwrap()
}

fn assert_outputs_whole(dir: &Path) {
    let summary: Value =
        serde_json::from_slice(&std::fs::read(dir.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["frames"], FRAMES);
    let desc = check_mcap(&dir.join("out.mcap"), &[]);
    assert_eq!(messages(&desc, "/camera/detections").len() as u64, FRAMES);
}

#[test]
fn a_closed_pipe_on_stdout_neither_panics_nor_loses_the_outputs() {
    let dir = tempfile::tempdir().unwrap();
    // A pipe whose reading end is closed, as after `| head -1` has exited.
    let mut fds = [0i32; 2];
    // SAFETY: pipe(2) fills two descriptors that this test then owns.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
    // SAFETY: closes the read end, which nothing else uses.
    unsafe { libc::close(fds[0]) };
    // SAFETY: fds[1] is an open descriptor we own, moved into the Stdio.
    let write_end: Stdio = unsafe { std::os::fd::FromRawFd::from_raw_fd(fds[1]) };
    let o = summary_json_run(dir.path(), write_end);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(!stderr(&o).contains("panicked"), "{}", stderr(&o));
    assert_outputs_whole(dir.path());
    assert!(temporaries(dir.path()).is_empty());
}

#[test]
fn a_full_stdout_is_an_error_after_every_output_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .unwrap();
    let o = summary_json_run(dir.path(), Stdio::from(full));
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(!stderr(&o).contains("panicked"), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("cannot write to stdout"),
        "{}",
        stderr(&o)
    );
    assert_outputs_whole(dir.path());
}

#[test]
fn a_closed_stdout_descriptor_never_sends_the_summary_into_an_output() {
    let dir = tempfile::tempdir().unwrap();
    let o = Command::new("sh")
        .arg("-c")
        .arg(r#"exec "$0" "$@" >&-"#)
        .arg(env!("CARGO_BIN_EXE_lookout"))
        .arg("replay")
        .arg(vtest_recording(FRAMES))
        .arg("--out")
        .arg(dir.path().join("out.mcap"))
        .arg("--summary-json")
        .arg(dir.path().join("summary.json"))
        .arg("--no-progress")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_outputs_whole(dir.path());
}

#[test]
fn an_unwritable_output_folder_is_an_error_before_any_work_and_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    // /proc/self takes no new files, even for root (a mode-0555 folder would not stop root).
    let o = run(lookout()
        .arg("replay")
        .arg(vtest_recording(FRAMES))
        .arg("--out")
        .arg(dir.path().join("out.mcap"))
        .arg("--summary-json")
        .arg("/proc/self/summary.json")
        .arg("--no-progress"));
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("cannot write /proc/self/summary.json"),
        "{}",
        stderr(&o)
    );
    assert!(listing(dir.path()).is_empty(), "{:?}", listing(dir.path()));
}

#[test]
fn a_full_disk_part_way_says_what_was_kept_and_leaves_no_temporary_file() {
    let dir = tempfile::tempdir().unwrap();
    let input = input_in(dir.path());
    let before = sha(&input);
    let out_dir = dir.path().join("o");
    std::fs::create_dir(&out_dir).unwrap();
    // A file-size limit of 16 KiB (in 512- or 1024-byte blocks, whichever the shell uses: both
    // below one frame's image) fails the output's writes like a full disk.
    let o = run(Command::new("sh")
        .arg("-c")
        .arg(r#"ulimit -f 16 && exec "$0" "$@""#)
        .arg(env!("CARGO_BIN_EXE_lookout"))
        .arg("replay")
        .arg(&input)
        .arg("--out")
        .arg(out_dir.join("out.mcap"))
        .arg("--with-images")
        .arg("--summary-json")
        .arg(out_dir.join("summary.json"))
        .arg("--no-progress"));
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("not written") && err.contains("out.mcap"),
        "{err}"
    );
    assert!(
        err.contains("kept") && err.contains("summary.json"),
        "{err}"
    );
    assert_eq!(listing(&out_dir), ["summary.json"]);
    assert_eq!(sha(&input), before);
}

#[test]
fn track_and_eval_refuse_to_write_over_their_inputs() {
    let dir = tempfile::tempdir().unwrap();
    let det = dir.path().join("det.txt");
    std::fs::write(
        &det,
        "1,-1,10,10,20,40,0.9,-1,-1,-1\n2,-1,11,10,20,40,0.9,-1,-1,-1\n",
    )
    .unwrap();
    let before = sha(&det);
    let o = run(lookout()
        .arg("track")
        .arg("--det")
        .arg(&det)
        .args(["--fps", "10", "--out"])
        .arg(dir.path().join("./det.txt")));
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert_eq!(sha(&det), before);

    let input = input_in(dir.path());
    let before = sha(&input);
    let o = run(lookout()
        .arg("eval")
        .arg("--replay")
        .arg(&input)
        .arg("--json")
        .arg(&input));
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    // `--report DIR` writes DIR/report.html: refused when that is the ground truth.
    let gt = dir.path().join("report.html");
    std::fs::write(&gt, "1,1,10,10,20,40,1,-1,-1,-1\n").unwrap();
    let gt_before = sha(&gt);
    let o = run(lookout()
        .arg("eval")
        .arg("--replay")
        .arg(&input)
        .arg("--gt")
        .arg(&gt)
        .arg("--report")
        .arg(dir.path()));
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert_eq!(sha(&input), before);
    assert_eq!(sha(&gt), gt_before);
    assert!(temporaries(dir.path()).is_empty());
}
