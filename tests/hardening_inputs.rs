//! Hostile inputs through the real `lookout` binary (issue 13, items 3, 4, 9, 10): MCAP files
//! whose length fields lie (chunk index sizes, an unchunked record length of 2^40), a bad magic,
//! a damaged zstd chunk, decompression bombs (a PNG declaring 50000x50000, a 12000x12000 raw
//! frame in a few KB of zstd, a JPEG whose header claims 16384x16384), a zero-sized Image, and
//! `/dev/zero` as `--config` / `--gt` / det.txt. Each must end in a clear error (a normal exit
//! code, never a signal), with the peak RSS of the child bounded and, when frames came before
//! the bad part, an output (read by the independent Python `mcap` reader) holding them.
//!
//! Needs the asset cache and the oracle venv (`scripts/setup.sh`).

mod mcap_common;

use std::collections::BTreeMap;
use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use lookout::msgs::{from_cdr, to_cdr, CompressedImage, Image, RosMessage};
use mcap_common::{check_mcap, messages, vtest_recording};

/// The binary under test; `LOOKOUT_UNDER_TEST` names another (to show a test fails on an older
/// build, e.g. `LOOKOUT_UNDER_TEST=/path/to/old/lookout cargo test --test hardening_inputs`).
fn lookout() -> Command {
    match std::env::var_os("LOOKOUT_UNDER_TEST") {
        Some(path) => Command::new(path),
        None => mcap_common::lookout(),
    }
}

const FRAMES: u64 = 6;
const TOPIC: &str = "/camera/image_raw/compressed";
/// Peak RSS any of these inputs may cost, in KiB: the model and one decoded frame, not the
/// gigabytes the file claims.
const RSS_MAX_KIB: u64 = 1 << 20;

/// How a child ended: its exit code (None when a signal killed it), output and peak RSS.
struct Ended {
    code: Option<i32>,
    signal: Option<i32>,
    stdout: String,
    stderr: String,
    max_rss_kib: u64,
}

/// Runs `cmd` under GNU time, which reports the peak RSS of its own child. (`wait4`'s rusage
/// on a child of the test process would not do: Linux carries the spawning process's
/// high-water mark over `exec`, and tests here build frames of hundreds of MB.)
fn run_measured(cmd: &mut Command) -> Ended {
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("time");
    let mut timed = Command::new("/usr/bin/time");
    timed
        .arg("-o")
        .arg(&report)
        .args(["-f", "%M"])
        .arg(cmd.get_program())
        .args(cmd.get_args());
    let out = timed.stdin(Stdio::null()).output().unwrap();
    let report = std::fs::read_to_string(report).unwrap();
    let signal = report
        .lines()
        .find_map(|l| l.strip_prefix("Command terminated by signal "))
        .map(|n| n.trim().parse().unwrap());
    let max_rss_kib: u64 = report.lines().last().unwrap().trim().parse().unwrap();
    eprintln!(
        "lookout {:?}: exit {:?}, signal {signal:?}, peak RSS {} MiB",
        cmd.get_args().next(),
        out.status.code(),
        max_rss_kib / 1024
    );
    Ended {
        code: if signal.is_some() {
            None
        } else {
            out.status.code()
        },
        signal,
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        max_rss_kib,
    }
}

impl Ended {
    /// A clear failure: exit code 1 or 2 (not 101, a panic, nor a signal such as SIGABRT),
    /// a message containing every `needle`, and the RSS bound kept.
    fn assert_clear_error(&self, needles: &[&str]) {
        self.assert_clear_error_within(needles, RSS_MAX_KIB);
    }

    fn assert_clear_error_within(&self, needles: &[&str], rss_max_kib: u64) {
        assert!(
            self.signal.is_none(),
            "killed by signal {:?} (RSS {} KiB): {}",
            self.signal,
            self.max_rss_kib,
            self.stderr
        );
        assert!(
            matches!(self.code, Some(1) | Some(2)),
            "exit {:?}: {}",
            self.code,
            self.stderr
        );
        assert!(!self.stderr.contains("panicked"), "{}", self.stderr);
        for needle in needles {
            assert!(
                self.stderr.contains(needle),
                "no `{needle}` in: {}",
                self.stderr
            );
        }
        self.assert_rss_within(rss_max_kib);
    }

    fn assert_rss_bounded(&self) {
        self.assert_rss_within(RSS_MAX_KIB);
    }

    fn assert_rss_within(&self, rss_max_kib: u64) {
        eprintln!("peak RSS {} MiB", self.max_rss_kib / 1024);
        assert!(
            self.max_rss_kib < rss_max_kib,
            "peak RSS {} MiB: {}",
            self.max_rss_kib / 1024,
            self.stderr
        );
    }
}

fn replay(input: &Path, out: &Path, extra: &[&str]) -> Ended {
    run_measured(
        lookout()
            .arg("replay")
            .arg(input)
            .arg("--out")
            .arg(out)
            .arg("--no-progress")
            .args(extra),
    )
}

/// The CompressedImage messages of the vtest recording: (log time, CDR bytes).
fn vtest_messages() -> Vec<(u64, Vec<u8>)> {
    lookout::mcap_io::McapCameraSource::open(vtest_recording(FRAMES), &[])
        .unwrap()
        .map(|m| {
            let m = m.unwrap();
            (m.log_time_ns, m.data)
        })
        .collect()
}

/// Writes `msgs` (CDR bytes of `M`) on `topic`, one message per zstd chunk when `chunked`
/// (so that a damaged chunk comes after whole frames), else as unchunked records.
fn write_mcap<M: RosMessage>(path: &Path, topic: &str, msgs: &[(u64, Vec<u8>)], chunked: bool) {
    let mut w = mcap::WriteOptions::new()
        .profile("ros2")
        .compression(Some(mcap::Compression::Zstd))
        .chunk_size(Some(1024))
        .use_chunks(chunked)
        .create(BufWriter::new(File::create(path).unwrap()))
        .unwrap();
    let schema = w
        .add_schema(M::SCHEMA_NAME, "ros2msg", M::definition().as_bytes())
        .unwrap();
    let channel = w
        .add_channel(schema, topic, "cdr", &BTreeMap::new())
        .unwrap();
    for (i, (t, data)) in msgs.iter().enumerate() {
        let header = mcap::records::MessageHeader {
            channel_id: channel,
            sequence: i as u32,
            log_time: *t,
            publish_time: *t,
        };
        w.write_to_known_channel(&header, data).unwrap();
    }
    w.finish().unwrap();
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().unwrap())
}

fn u32_at(b: &[u8], at: usize) -> usize {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap()) as usize
}

/// The summary section's records: (opcode, offset of the body, body length).
fn summary_records(b: &[u8]) -> Vec<(u8, usize, usize)> {
    // Footer: opcode, length, summary_start, summary_offset_start, summary_crc; then magic.
    let footer = b.len() - 8 - (1 + 8 + 20);
    let mut at = u64_at(b, footer + 9) as usize;
    let mut out = Vec::new();
    while at < footer {
        let len = u64_at(b, at + 1) as usize;
        out.push((b[at], at + 9, len));
        at += 9 + len;
    }
    out
}

/// Offsets (in the file) of the compressed_size field of every chunk index, in file order.
fn chunk_index_size_fields(b: &[u8]) -> Vec<usize> {
    summary_records(b)
        .into_iter()
        .filter(|(op, _, _)| *op == mcap::records::op::CHUNK_INDEX)
        .map(|(_, body, _)| {
            // start/end time, chunk_start_offset, chunk_length, message index offsets map.
            let map_len = u32_at(b, body + 32);
            let at = body + 36 + map_len + 8; // + message_index_length
            at + 4 + u32_at(b, at) // + compression string
        })
        .collect()
}

/// Sets the footer's summary CRC to 0 ("not computed"), so that a patched summary is judged
/// by its content rather than rejected by a checksum.
fn clear_summary_crc(b: &mut [u8]) {
    let at = b.len() - 8 - 4;
    b[at..at + 4].copy_from_slice(&[0; 4]);
}

/// A chunked copy of the vtest recording, one frame per chunk.
fn chunked_recording(dir: &Path) -> (PathBuf, Vec<u8>) {
    let path = dir.join("chunked.mcap");
    write_mcap::<CompressedImage>(&path, TOPIC, &vtest_messages(), true);
    let bytes = std::fs::read(&path).unwrap();
    assert_eq!(chunk_index_size_fields(&bytes).len() as u64, FRAMES);
    (path, bytes)
}

fn detections(out: &Path) -> usize {
    messages(&check_mcap(out, &[]), "/camera/detections").len()
}

#[test]
fn chunk_index_sizes_of_2_pow_40_are_clear_errors_with_small_rss() {
    let dir = tempfile::tempdir().unwrap();
    let (_, bytes) = chunked_recording(dir.path());
    for (field, shift) in [("compressed_size", 0), ("uncompressed_size", 8)] {
        let mut b = bytes.clone();
        let at = chunk_index_size_fields(&b)[3] + shift;
        b[at..at + 8].copy_from_slice(&(1u64 << 40).to_le_bytes());
        clear_summary_crc(&mut b);
        let input = dir.path().join(format!("{field}.mcap"));
        std::fs::write(&input, &b).unwrap();
        let e = replay(&input, &dir.path().join("out.mcap"), &[]);
        e.assert_clear_error(&["chunk index 3", field, "1099511627776"]);
    }
}

#[test]
fn an_unchunked_record_length_of_2_pow_40_keeps_the_frames_before_it() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("unchunked.mcap");
    write_mcap::<CompressedImage>(&input, TOPIC, &vtest_messages(), false);
    let mut b = std::fs::read(&input).unwrap();
    // The fourth message record of the data section.
    let mut at = 8;
    let mut seen = 0;
    loop {
        if b[at] == mcap::records::op::MESSAGE {
            seen += 1;
            if seen == 4 {
                break;
            }
        }
        at += 9 + u64_at(&b, at + 1) as usize;
    }
    b[at + 1..at + 9].copy_from_slice(&(1u64 << 40).to_le_bytes());
    std::fs::write(&input, &b).unwrap();
    let out = dir.path().join("out.mcap");
    let e = replay(&input, &out, &[]);
    e.assert_clear_error(&[input.to_str().unwrap()]);
    assert_eq!(
        detections(&out),
        3,
        "the three frames before the bad record"
    );
}

#[test]
fn a_damaged_zstd_chunk_fails_its_crc_and_keeps_the_frames_before_it() {
    let dir = tempfile::tempdir().unwrap();
    let (_, mut b) = chunked_recording(dir.path());
    // Sixteen bytes in the middle of chunk 3's compressed data (JPEG bytes, stored by zstd as
    // literals: the chunk still decompresses, to different bytes).
    let field = chunk_index_size_fields(&b)[3];
    let compressed_size = u64_at(&b, field) as usize;
    let chunk_start = {
        let (_, body, _) = summary_records(&b)
            .into_iter()
            .filter(|(op, _, _)| *op == mcap::records::op::CHUNK_INDEX)
            .nth(3)
            .unwrap();
        u64_at(&b, body + 16) as usize
    };
    // opcode, length, times, uncompressed size, crc, "zstd", records length.
    let data = chunk_start + 1 + 8 + 16 + 8 + 4 + 4 + 4 + 8;
    for byte in &mut b[data + compressed_size / 2..data + compressed_size / 2 + 16] {
        *byte ^= 0x5a;
    }
    let input = dir.path().join("damaged.mcap");
    std::fs::write(&input, &b).unwrap();
    let out = dir.path().join("out.mcap");
    let e = replay(&input, &out, &[]);
    e.assert_clear_error(&["CRC mismatch"]);
    assert_eq!(
        detections(&out),
        3,
        "the three frames before the damaged chunk"
    );
}

#[test]
fn a_file_without_the_leading_magic_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (_, mut b) = chunked_recording(dir.path());
    b[1] = b'X';
    let input = dir.path().join("magic.mcap");
    std::fs::write(&input, &b).unwrap();
    replay(&input, &dir.path().join("out.mcap"), &[]).assert_clear_error(&["MCAP magic"]);
}

/// The vtest frames with frame 3 replaced by `bad` (a CompressedImage payload).
fn recording_with_frame_3(dir: &Path, bad: Vec<u8>) -> PathBuf {
    let mut msgs = vtest_messages();
    let mut img: CompressedImage = from_cdr(&msgs[3].1).unwrap();
    img.data = bad;
    msgs[3].1 = to_cdr(&img).unwrap();
    let path = dir.join("bomb.mcap");
    write_mcap::<CompressedImage>(&path, TOPIC, &msgs, true);
    path
}

/// Replays a recording whose frame 3 is a bomb: an error naming the topic and the frame, the
/// three frames before it kept; with `skip_bad_frames` the other five processed. Both with the
/// RSS bound.
fn assert_bomb_refused(input: &Path, needles: &[&str]) {
    let out = input.with_extension("out.mcap");
    let e = replay(input, &out, &[]);
    let mut all = vec![TOPIC, "message 3"];
    all.extend_from_slice(needles);
    e.assert_clear_error(&all);
    assert_eq!(detections(&out), 3);
    let e = replay(input, &out, &["--set", "replay.skip_bad_frames=true"]);
    assert_eq!(e.code, Some(0), "{}", e.stderr);
    e.assert_rss_bounded();
    assert!(e.stdout.contains("1 skipped"), "{}", e.stdout);
    assert_eq!(detections(&out) as u64, FRAMES - 1);
}

/// A PNG whose header declares `width` x `height` RGB with a tiny (wrong) zlib stream: decoding
/// it would need the pixels allocated first.
fn png_bomb(width: u32, height: u32) -> Vec<u8> {
    fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        let start = out.len();
        out.extend_from_slice(kind);
        out.extend_from_slice(data);
        let crc = crc32fast::hash(&out[start..]);
        out.extend_from_slice(&crc.to_be_bytes());
    }
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&width.to_be_bytes());
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]); // 8-bit RGB, deflate, no filter, no interlace
    chunk(&mut png, b"IHDR", &ihdr);
    // zlib of a few zero bytes (stored block).
    chunk(
        &mut png,
        b"IDAT",
        &[
            0x78, 0x01, 0x01, 0x04, 0x00, 0xfb, 0xff, 0, 0, 0, 0, 0, 0x04, 0, 1,
        ],
    );
    chunk(&mut png, b"IEND", &[]);
    png
}

#[test]
fn png_bomb_is_refused_from_its_header() {
    let dir = tempfile::tempdir().unwrap();
    let input = recording_with_frame_3(dir.path(), png_bomb(50_000, 50_000));
    assert_bomb_refused(&input, &["50000x50000", "input.max_pixels"]);
}

#[test]
fn jpeg_claiming_16384_squared_is_refused_from_its_header() {
    let dir = tempfile::tempdir().unwrap();
    let msgs = vtest_messages();
    let img: CompressedImage = from_cdr(&msgs[3].1).unwrap();
    let mut jpeg = img.data;
    let sof = jpeg.windows(2).position(|w| w == [0xff, 0xc0]).unwrap() + 5;
    jpeg[sof..sof + 4].copy_from_slice(&[0x40, 0x00, 0x40, 0x00]);
    let input = recording_with_frame_3(dir.path(), jpeg);
    assert_bomb_refused(&input, &["16384x16384", "input.max_pixels"]);
}

#[test]
fn jpeg_cut_short_and_closed_with_eoi_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let msgs = vtest_messages();
    let img: CompressedImage = from_cdr(&msgs[3].1).unwrap();
    let jpeg = img.data;
    let sos = jpeg.windows(2).position(|w| w == [0xff, 0xda]).unwrap();
    let mut cut = jpeg[..jpeg.len() - (jpeg.len() - sos) / 4].to_vec();
    cut.extend_from_slice(&[0xff, 0xd9]);
    let input = recording_with_frame_3(dir.path(), cut);
    assert_bomb_refused(&input, &["MCUs"]);
}

/// A raw recording: frames 0..=2 and 4..=5 are 64x48 grey `rgb8`, frame 3 is `bad`.
fn raw_recording(dir: &Path, bad: Image) -> PathBuf {
    let mut msgs = Vec::new();
    for i in 0..FRAMES {
        let mut img = Image {
            header: Default::default(),
            height: 48,
            width: 64,
            encoding: "rgb8".into(),
            is_bigendian: 0,
            step: 64 * 3,
            data: vec![128; 64 * 48 * 3],
        };
        if i == 3 {
            img = bad.clone();
        }
        img.header.stamp.sec = 1_700_000_000 + i as i32;
        img.header.frame_id = "camera".into();
        msgs.push((
            1_700_000_000_000_000_000 + i * 1_000_000_000,
            to_cdr(&img).unwrap(),
        ));
    }
    let path = dir.join("raw.mcap");
    write_mcap::<Image>(&path, "/camera/image_raw", &msgs, true);
    path
}

fn raw_replay_checks(input: &Path, needles: &[&str]) {
    let out = input.with_extension("out.mcap");
    let e = replay(input, &out, &[]);
    let mut all = vec!["/camera/image_raw", "message 3"];
    all.extend_from_slice(needles);
    e.assert_clear_error(&all);
    assert_eq!(detections(&out), 3);
    let e = replay(input, &out, &["--set", "replay.skip_bad_frames=true"]);
    assert_eq!(e.code, Some(0), "{}", e.stderr);
    e.assert_rss_bounded();
    assert!(e.stdout.contains("1 skipped"), "{}", e.stdout);
    assert_eq!(detections(&out) as u64, FRAMES - 1);
}

#[test]
fn raw_12000_squared_frame_in_a_small_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (w, h) = (12_000u32, 12_000u32);
    let bomb = Image {
        header: Default::default(),
        height: h,
        width: w,
        encoding: "rgb8".into(),
        is_bigendian: 0,
        step: w * 3,
        data: vec![0; (w * h * 3) as usize],
    };
    let input = raw_recording(dir.path(), bomb);
    let size = std::fs::metadata(&input).unwrap().len();
    assert!(size < 100_000, "{size} bytes");
    raw_replay_checks(&input, &["12000x12000", "input.max_pixels"]);
}

#[test]
fn zero_sized_image_is_a_bad_frame() {
    let dir = tempfile::tempdir().unwrap();
    let empty = Image {
        header: Default::default(),
        height: 0,
        width: 64,
        encoding: "rgb8".into(),
        is_bigendian: 0,
        step: 64 * 3,
        data: Vec::new(),
    };
    let input = raw_recording(dir.path(), empty);
    raw_replay_checks(&input, &["64x0", "no pixels"]);
}

#[test]
fn endless_config_gt_and_det_files_fail_fast() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.mcap");
    let e = run_measured(
        lookout()
            .arg("replay")
            .arg(vtest_recording(FRAMES))
            .arg("--out")
            .arg(&out)
            .args(["--config", "/dev/zero"]),
    );
    e.assert_clear_error(&["/dev/zero", "limit of 1048576 bytes"]);
    // The MOTChallenge files may be up to 1 GiB, so reading /dev/zero costs that much, once.
    let mot_rss_max_kib = 3 << 20;
    let e = replay(vtest_recording(FRAMES), &out, &[]);
    assert_eq!(e.code, Some(0), "{}", e.stderr);
    let e = run_measured(
        lookout()
            .arg("eval")
            .arg("--replay")
            .arg(&out)
            .args(["--gt", "/dev/zero"]),
    );
    e.assert_clear_error_within(&["/dev/zero", "limit of 1073741824 bytes"], mot_rss_max_kib);
    let e = run_measured(
        lookout()
            .args(["track", "--det", "/dev/zero", "--fps", "7", "--out"])
            .arg(dir.path().join("t.txt")),
    );
    e.assert_clear_error_within(&["/dev/zero", "limit of 1073741824 bytes"], mot_rss_max_kib);
}
