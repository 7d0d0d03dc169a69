//! MOTChallenge text files: public detections in, tracker results out, so the tracker can be
//! scored on public benchmarks without the detector.
//!
//! * Detections (`det.txt`): `frame,-1,x,y,w,h,score[,...]`, 7 to 10 comma-separated columns,
//!   1-based frames, top-left corner and size in image pixels.
//! * Sequence info (`seqinfo.ini`): `frameRate`, `seqLength` (and image size) under `[Sequence]`.
//! * Results: `frame,id,x,y,w,h,score,-1,-1,-1`, one line per reported track per frame.
//!
//! Time: frame `n` gets the stamp `(n - 1) / fps` seconds, so the tracker sees the same seconds
//! it would see from a camera at that rate; frames without detections are still fed to the
//! tracker while it has tracks (time passes for lost tracks). Frames are held sparsely
//! ([`FrameDetections`]): a run of frames without detections and without live tracks costs
//! nothing, so a frame number or `seqLength` near [`FRAME_MAX`] is cheap.
//!
//! Bounds (each refused with the file, line or frame named): frame numbers and `seqLength` at
//! most [`FRAME_MAX`]; at most [`DETECTIONS_PER_FRAME_MAX`] detections in one frame (the
//! association's cost grows at least with the square of the boxes per frame: 4000 overlapping boxes in a frame
//! took 21 s and 1.5 GB); a frame rate in `(0, FPS_MAX]` whose last frame's stamp fits a ROS stamp.
//!
//! Scores: the tracker takes scores in [0, 1]. Public detection files do not always have them
//! (MOT15's ACF detections range far outside; the Faster R-CNN files distributed with SORT lie
//! in [0.5, 1]). [`ScoreNormalization`] says what to do, per file, before tracking.
//!
//! [`parse_detections`], [`parse_seqinfo`], [`track_rows`] ([`group_frames`] then
//! [`track_frames`]) and [`format_results`] are pure;
//! [`run_mot`] does the file I/O around them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::track::{TrackError, Tracker, TrackerConfig};
use crate::types::{BBox, Detection, Time};

/// A MOTChallenge file that cannot be read, parsed or tracked.
#[derive(Debug, thiserror::Error)]
pub enum MotError {
    #[error("{path}:{line}: {message}")]
    Parse {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: no frame rate: pass fps or put a seqinfo.ini with frameRate next to it")]
    MissingFrameRate { path: PathBuf },
    #[error("{path}: frame rate {fps:?} must be finite and in (0, {FPS_MAX}]")]
    InvalidFrameRate { path: PathBuf, fps: f64 },
    #[error("{path}: frame {frame} at {fps} frames/s is {seconds:.0} s after frame 1, beyond ROS stamps (2^31 s): lower the frame numbers or raise the frame rate")]
    StampRange {
        path: PathBuf,
        frame: u32,
        fps: f64,
        seconds: f64,
    },
    #[error("{path}: frame {frame} has {count} detections, more than {DETECTIONS_PER_FRAME_MAX} (association cost grows with the square of the boxes per frame); filter the file by score first")]
    TooManyDetections {
        path: PathBuf,
        frame: u32,
        count: usize,
    },
    #[error("{path}: no det.txt or det/det.txt in this sequence folder")]
    NoDetections { path: PathBuf },
    #[error("{path}: scores span [{min}, {max}], outside [0, 1]; choose a score normalisation (min-max)")]
    ScoreRange { path: PathBuf, min: f32, max: f32 },
    #[error("{path}: frame {frame}: {source}")]
    Track {
        path: PathBuf,
        frame: u32,
        #[source]
        source: TrackError,
    },
}

/// Largest frame number (and `seqLength`): ten million frames, 3.9 days at 30 frames/s;
/// MOTChallenge sequences have a few thousand.
pub const FRAME_MAX: u32 = 10_000_000;

/// Most detections in one frame. When the boxes of a frame all overlap, the association is one
/// dense assignment problem, cubic in time and quadratic in memory: measured (release build,
/// boxes stacked on one spot, 3 frames) 1000 boxes 0.5 s and 106 MB, 2000 boxes 3.2 s and
/// 393 MB, 4000 boxes 21 s and 1.5 GB (the 20000 took 102 s and 1.3 GB). MOTChallenge's
/// public detections have at most a few hundred per frame and the detector reports at most
/// `detector.max_detections` (300 by default), so 1000 leaves room while bounding one frame to
/// a fraction of a second. A file above it is refused, naming the frame, rather than silently
/// cut to its best boxes (which would change the results without a trace).
pub const DETECTIONS_PER_FRAME_MAX: usize = 1000;

/// Highest frame rate `lookout track` accepts (a camera at 1000 frames/s is already unusual).
pub const FPS_MAX: f64 = 1000.0;

/// A frame rate lookout tracks at: finite, in `(0, FPS_MAX]` (one rule for seqinfo.ini,
/// `--fps` and the tracking loop).
pub fn valid_fps(fps: f64) -> bool {
    fps.is_finite() && fps > 0.0 && fps <= FPS_MAX
}

/// One line of a detection file.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MotDetection {
    /// 1-based frame number.
    pub frame: u32,
    pub bbox: BBox,
    pub score: f32,
}

/// One line of a results file.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MotResult {
    pub frame: u32,
    pub id: u64,
    pub bbox: BBox,
    pub score: f32,
}

/// The `[Sequence]` section of a `seqinfo.ini`.
#[derive(Debug, Clone, PartialEq)]
pub struct SeqInfo {
    pub name: Option<String>,
    pub frame_rate: f64,
    pub seq_length: Option<u32>,
    pub image_width_px: Option<u32>,
    pub image_height_px: Option<u32>,
}

/// How detection scores are brought into [0, 1] before tracking.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ScoreNormalization {
    /// `None` when every score of the file is in [0, 1], `MinMax` otherwise.
    #[default]
    Auto,
    /// Scores are used as they are; any score outside [0, 1] is an error.
    None,
    /// The file's score range `[min, max]` is mapped affinely onto [0, 1] (all 1 when
    /// `min == max`). Only the file as a whole defines the map, so it is offline-only.
    MinMax,
}

/// What [`run_mot`] reads, writes and how it tracks.
#[derive(Debug, Clone)]
pub struct MotRunOptions {
    /// A `det.txt` or a sequence folder holding `det/det.txt` or `det.txt` and `seqinfo.ini`.
    pub input: PathBuf,
    /// Where the results file goes (parent folders are created).
    pub output: PathBuf,
    /// Frames per second; overrides `seqinfo.ini`'s `frameRate` when given.
    pub fps: Option<f64>,
    pub tracker: TrackerConfig,
    pub score_normalization: ScoreNormalization,
}

/// What [`run_mot`] did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MotRunSummary {
    pub det_path: PathBuf,
    pub output: PathBuf,
    pub fps: f64,
    /// Frames fed to the tracker: 1 to max(seqLength, last detection frame).
    pub frames: u32,
    pub detections: usize,
    pub result_rows: usize,
    /// Distinct track ids in the results.
    pub tracks: usize,
    /// Score range in the file, before normalisation.
    pub score_min: f32,
    pub score_max: f32,
    /// `None` or `MinMax`: what `Auto` resolved to.
    pub score_normalization: ScoreNormalization,
}

fn parse_err(path: &Path, line: usize, message: impl Into<String>) -> MotError {
    MotError::Parse {
        path: path.to_path_buf(),
        line,
        message: message.into(),
    }
}

/// Parse a detection file's text; `path` is only used in errors (lines are 1-based).
pub fn parse_detections(text: &str, path: &Path) -> Result<Vec<MotDetection>, MotError> {
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let raw = raw.trim();
        if raw.is_empty() {
            continue;
        }
        let cols: Vec<&str> = raw.split(',').map(str::trim).collect();
        if !(7..=10).contains(&cols.len()) {
            return Err(parse_err(
                path,
                line,
                format!(
                    "{} columns, expected 7 to 10 (frame,id,x,y,w,h,score[,x,y,z])",
                    cols.len()
                ),
            ));
        }
        let num = |k: usize, name: &str| -> Result<f64, MotError> {
            let v: f64 = cols[k].parse().map_err(|_| {
                parse_err(path, line, format!("{name} {:?} is not a number", cols[k]))
            })?;
            if v.is_finite() {
                Ok(v)
            } else {
                Err(parse_err(path, line, format!("{name} is {v}, not finite")))
            }
        };
        let frame = num(0, "frame")?;
        if frame < 1.0 || frame.fract() != 0.0 || frame > f64::from(FRAME_MAX) {
            return Err(parse_err(
                path,
                line,
                format!("frame {frame} must be a whole number in [1, {FRAME_MAX}]"),
            ));
        }
        let (x, y, w, h) = (
            num(2, "x")?,
            num(3, "y")?,
            num(4, "width")?,
            num(5, "height")?,
        );
        if w <= 0.0 || h <= 0.0 {
            return Err(parse_err(
                path,
                line,
                format!("box size {w} x {h} must be positive"),
            ));
        }
        let score = num(6, "score")?;
        out.push(MotDetection {
            frame: frame as u32,
            bbox: BBox::from_tlwh(x as f32, y as f32, w as f32, h as f32),
            score: score as f32,
        });
    }
    Ok(out)
}

/// Parse a `seqinfo.ini`'s text (`frameRate` required).
pub fn parse_seqinfo(text: &str, path: &Path) -> Result<SeqInfo, MotError> {
    let mut values: BTreeMap<String, (usize, String)> = BTreeMap::new();
    for (i, raw) in text.lines().enumerate() {
        let raw = raw.trim();
        if raw.is_empty() || raw.starts_with('[') || raw.starts_with(';') || raw.starts_with('#') {
            continue;
        }
        let Some((k, v)) = raw.split_once('=') else {
            return Err(parse_err(path, i + 1, format!("{raw:?} is not key=value")));
        };
        values.insert(k.trim().to_string(), (i + 1, v.trim().to_string()));
    }
    let uint = |key: &str| -> Result<Option<u32>, MotError> {
        values
            .get(key)
            .map(|(line, v)| {
                v.parse::<u32>().map_err(|_| {
                    parse_err(path, *line, format!("{key} {v:?} is not a whole number"))
                })
            })
            .transpose()
    };
    let seq_length = uint("seqLength")?;
    if let (Some(n), Some((line, _))) = (seq_length, values.get("seqLength")) {
        if n > FRAME_MAX {
            return Err(parse_err(
                path,
                *line,
                format!("seqLength {n} is above {FRAME_MAX} frames"),
            ));
        }
    }
    let frame_rate = match values.get("frameRate") {
        Some((line, v)) => {
            let fps: f64 = v
                .parse()
                .map_err(|_| parse_err(path, *line, format!("frameRate {v:?} is not a number")))?;
            if !valid_fps(fps) {
                return Err(parse_err(
                    path,
                    *line,
                    format!("frameRate {fps} must be in (0, {FPS_MAX}]"),
                ));
            }
            fps
        }
        None => {
            return Err(MotError::MissingFrameRate {
                path: path.to_path_buf(),
            })
        }
    };
    Ok(SeqInfo {
        name: values.get("name").map(|(_, v)| v.clone()),
        frame_rate,
        seq_length,
        image_width_px: uint("imWidth")?,
        image_height_px: uint("imHeight")?,
    })
}

/// The stamp of 1-based frame `frame` at `fps` frames per second: `(frame - 1) / fps`.
pub fn frame_stamp(frame: u32, fps: f64) -> Time {
    Time::from_ns((f64::from(frame.saturating_sub(1)) * 1e9 / fps).round() as i64)
}

/// The file's score range, `None` for an empty file.
pub fn score_range(dets: &[MotDetection]) -> Option<(f32, f32)> {
    dets.iter().fold(None, |acc, d| match acc {
        None => Some((d.score, d.score)),
        Some((lo, hi)) => Some((lo.min(d.score), hi.max(d.score))),
    })
}

/// Apply a normalisation in place; returns what `Auto` resolved to. `path` names the file in
/// the error for out-of-range scores under `None`.
pub fn normalize_scores(
    dets: &mut [MotDetection],
    mode: ScoreNormalization,
    path: &Path,
) -> Result<ScoreNormalization, MotError> {
    let Some((min, max)) = score_range(dets) else {
        return Ok(ScoreNormalization::None);
    };
    let in_unit = min >= 0.0 && max <= 1.0;
    let mode = match mode {
        ScoreNormalization::Auto if in_unit => ScoreNormalization::None,
        ScoreNormalization::Auto => ScoreNormalization::MinMax,
        m => m,
    };
    match mode {
        ScoreNormalization::None if !in_unit => Err(MotError::ScoreRange {
            path: path.to_path_buf(),
            min,
            max,
        }),
        ScoreNormalization::MinMax => {
            let span = max - min;
            for d in dets.iter_mut() {
                d.score = if span > 0.0 {
                    (d.score - min) / span
                } else {
                    1.0
                };
            }
            Ok(mode)
        }
        _ => Ok(mode),
    }
}

/// Detections per frame, sparse: only frames with detections are stored, so a file whose
/// frame numbers are large (or a long `seqLength`) takes memory for its lines, not its frames.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FrameDetections {
    /// 1-based frame number -> its detections, in file order.
    pub by_frame: BTreeMap<u32, Vec<Detection>>,
    /// The sequence's last frame: `max(seqLength, last detection frame)` (0 when empty).
    pub last_frame: u32,
}

impl FrameDetections {
    /// Frames in the sequence, `1..=last_frame`, with or without detections.
    pub fn frame_count(&self) -> usize {
        self.last_frame as usize
    }

    /// The detections of 1-based `frame` (empty when it has none).
    pub fn get(&self, frame: u32) -> &[Detection] {
        self.by_frame.get(&frame).map_or(&[], Vec::as_slice)
    }
}

/// Detections grouped per frame as class 0 `person`, for frames
/// `1..=max(frames, last detection frame)`.
pub fn group_frames(dets: &[MotDetection], frames: u32) -> FrameDetections {
    let mut out = FrameDetections {
        by_frame: BTreeMap::new(),
        last_frame: frames,
    };
    for d in dets {
        out.last_frame = out.last_frame.max(d.frame);
        out.by_frame.entry(d.frame).or_default().push(Detection {
            bbox: d.bbox,
            class_index: 0,
            label: "person".to_string(),
            score: d.score,
        });
    }
    out
}

/// Track frames grouped by [`group_frames`] at `fps`. Pure: the core of [`run_mot`] and of the
/// benchmarks. `path` names the file in errors. Every frame from 1 to the last is an update of
/// the tracker, except frames without detections while the tracker holds no track: such an
/// update changes nothing but the tracker's last stamp, so runs of them are skipped.
pub fn track_frames(
    frames: &FrameDetections,
    fps: f64,
    config: &TrackerConfig,
    path: &Path,
) -> Result<Vec<MotResult>, MotError> {
    if !valid_fps(fps) {
        return Err(MotError::InvalidFrameRate {
            path: path.to_path_buf(),
            fps,
        });
    }
    let seconds = f64::from(frames.last_frame.saturating_sub(1)) / fps;
    if seconds > f64::from(i32::MAX) {
        return Err(MotError::StampRange {
            path: path.to_path_buf(),
            frame: frames.last_frame,
            fps,
            seconds,
        });
    }
    // Refused before tracking anything: no minutes of work lost to a bad frame at the end.
    if let Some((&frame, dets)) = frames
        .by_frame
        .iter()
        .find(|(_, d)| d.len() > DETECTIONS_PER_FRAME_MAX)
    {
        return Err(MotError::TooManyDetections {
            path: path.to_path_buf(),
            frame,
            count: dets.len(),
        });
    }
    let mut tracker = Tracker::new(config.clone()).map_err(|source| MotError::Track {
        path: path.to_path_buf(),
        frame: 0,
        source,
    })?;
    let mut out = Vec::new();
    let mut frame = 1u32;
    while frame <= frames.last_frame {
        let frame_dets = frames.get(frame);
        if frame_dets.is_empty() && tracker.is_empty() {
            match frames.by_frame.range(frame..).next() {
                Some((&next, _)) => frame = next,
                None => break,
            }
            continue;
        }
        let tracks = tracker
            .update(frame_stamp(frame, fps), frame_dets)
            .map_err(|source| MotError::Track {
                path: path.to_path_buf(),
                frame,
                source,
            })?;
        out.extend(tracks.iter().map(|t| MotResult {
            frame,
            id: t.id,
            bbox: t.bbox,
            score: t.score,
        }));
        frame += 1;
    }
    Ok(out)
}

/// Track a whole sequence: frames `1..=frames` (and any later frame that has detections) at
/// `fps`. `path` names the file in errors.
pub fn track_rows(
    dets: &[MotDetection],
    fps: f64,
    frames: u32,
    config: &TrackerConfig,
    path: &Path,
) -> Result<Vec<MotResult>, MotError> {
    track_frames(&group_frames(dets, frames), fps, config, path)
}

/// One MOTChallenge line per `(frame, id, box, score)`: `frame,id,x,y,w,h,score,-1,-1,-1`,
/// the id `-1` for detections (`None`).
fn format_lines(rows: impl ExactSizeIterator<Item = (u32, Option<u64>, BBox, f32)>) -> String {
    use std::fmt::Write;
    let mut s = String::with_capacity(rows.len() * 48);
    for (frame, id, b, score) in rows {
        // Writing to a String cannot fail.
        let _ = match id {
            Some(id) => write!(s, "{frame},{id},"),
            None => write!(s, "{frame},-1,"),
        };
        let _ = writeln!(
            s,
            "{:.3},{:.3},{:.3},{:.3},{score:.4},-1,-1,-1",
            b.x_min,
            b.y_min,
            b.width(),
            b.height(),
        );
    }
    s
}

/// Results as MOTChallenge text: `frame,id,x,y,w,h,score,-1,-1,-1`.
pub fn format_results(rows: &[MotResult]) -> String {
    format_lines(rows.iter().map(|r| (r.frame, Some(r.id), r.bbox, r.score)))
}

/// MOTChallenge detection lines (`frame,-1,x,y,w,h,score,-1,-1,-1`), the format
/// [`parse_detections`] reads.
pub fn format_detections(dets: &[MotDetection]) -> String {
    format_lines(dets.iter().map(|d| (d.frame, None, d.bbox, d.score)))
}

fn read(path: &Path) -> Result<String, MotError> {
    crate::capped_read::read_to_string_capped(path, crate::capped_read::MAX_MOT_TEXT_BYTES).map_err(
        |source| MotError::Io {
            path: path.to_path_buf(),
            source,
        },
    )
}

/// Where the detections and the `seqinfo.ini` of an input are.
fn locate(input: &Path) -> Result<(PathBuf, Option<PathBuf>), MotError> {
    if input.is_dir() {
        let det = [input.join("det").join("det.txt"), input.join("det.txt")]
            .into_iter()
            .find(|p| p.is_file())
            .ok_or_else(|| MotError::NoDetections {
                path: input.to_path_buf(),
            })?;
        let ini = input.join("seqinfo.ini");
        return Ok((det, ini.is_file().then_some(ini)));
    }
    // A det.txt: look for seqinfo.ini beside it, then one folder up (`<seq>/det/det.txt`).
    let dir = input.parent().unwrap_or(Path::new("."));
    let ini = [dir.join("seqinfo.ini"), dir.join("..").join("seqinfo.ini")]
        .into_iter()
        .find(|p| p.is_file());
    Ok((input.to_path_buf(), ini))
}

/// Read detections, track them, write MOTChallenge results.
pub fn run_mot(opts: &MotRunOptions) -> Result<MotRunSummary, MotError> {
    let (det_path, ini_path) = locate(&opts.input)?;
    let seqinfo = ini_path
        .as_deref()
        .map(|p| parse_seqinfo(&read(p)?, p))
        .transpose()?;
    let fps = match (opts.fps, &seqinfo) {
        (Some(fps), _) => fps,
        (None, Some(info)) => info.frame_rate,
        (None, None) => return Err(MotError::MissingFrameRate { path: det_path }),
    };
    if !valid_fps(fps) {
        return Err(MotError::InvalidFrameRate {
            path: det_path,
            fps,
        });
    }
    let mut dets = parse_detections(&read(&det_path)?, &det_path)?;
    let (score_min, score_max) = score_range(&dets).unwrap_or((0.0, 0.0));
    let applied = normalize_scores(&mut dets, opts.score_normalization, &det_path)?;
    let frames = seqinfo.as_ref().and_then(|s| s.seq_length).unwrap_or(0);
    let rows = track_rows(&dets, fps, frames, &opts.tracker, &det_path)?;
    if let Some(dir) = opts.output.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|source| MotError::Io {
            path: dir.to_path_buf(),
            source,
        })?;
    }
    crate::output::write_atomic(&opts.output, format_results(&rows).as_bytes()).map_err(
        |source| MotError::Io {
            path: opts.output.clone(),
            source,
        },
    )?;
    let mut ids: Vec<u64> = rows.iter().map(|r| r.id).collect();
    ids.sort_unstable();
    ids.dedup();
    let last_det = dets.iter().map(|d| d.frame).max().unwrap_or(0);
    Ok(MotRunSummary {
        det_path,
        output: opts.output.clone(),
        fps,
        frames: frames.max(last_det),
        detections: dets.len(),
        result_rows: rows.len(),
        tracks: ids.len(),
        score_min,
        score_max,
        score_normalization: applied,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_mot15_lines() {
        let text = "1,-1,649.441,231.502,44.417,86.13,0.995474,-1,-1,-1\n\n2,-1,1,2,3,4,0.5\n";
        let d = parse_detections(text, Path::new("det.txt")).unwrap();
        assert_eq!(d.len(), 2);
        assert_eq!(d[0].frame, 1);
        assert!((d[0].bbox.x_max - (649.441 + 44.417)).abs() < 1e-3);
        assert_eq!(d[1].score, 0.5);
    }

    #[test]
    fn stamps_follow_frames() {
        assert_eq!(frame_stamp(1, 7.0).as_ns(), 0);
        assert_eq!(frame_stamp(8, 7.0).as_ns(), 1_000_000_000);
        assert_eq!(frame_stamp(2, 25.0).as_ns(), 40_000_000);
    }

    #[test]
    fn frames_are_sparse_and_bounded() {
        let p = Path::new("det.txt");
        // A frame near the bound costs nothing for the frames before it.
        let text = format!("1,-1,0,0,10,10,0.9\n{FRAME_MAX},-1,0,0,10,10,0.9\n");
        let dets = parse_detections(&text, p).unwrap();
        let frames = group_frames(&dets, FRAME_MAX);
        assert_eq!(frames.by_frame.len(), 2);
        assert_eq!(frames.frame_count(), FRAME_MAX as usize);
        let t = std::time::Instant::now();
        let rows = track_frames(&frames, 25.0, &TrackerConfig::default(), p).unwrap();
        assert!(t.elapsed().as_secs() < 5, "{:?}", t.elapsed());
        assert!(rows.is_empty()); // two single detections never confirm (min_hits 2)
        for bad in ["4294967295,-1,0,0,1,1,1\n", "10000001,-1,0,0,1,1,1\n"] {
            let e = parse_detections(bad, p).unwrap_err().to_string();
            assert!(
                e.contains("det.txt:1") && e.contains("[1, 10000000]"),
                "{e}"
            );
        }
        let e = parse_seqinfo("frameRate=25\nseqLength=4294967295\n", Path::new("s.ini"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("s.ini") && e.contains("seqLength"), "{e}");
        // The last frame's stamp must fit a ROS stamp.
        let e = track_frames(&frames, 0.001, &TrackerConfig::default(), p).unwrap_err();
        assert!(matches!(e, MotError::StampRange { .. }), "{e}");
        for fps in [0.0, f64::NAN, 1e300] {
            let e = track_frames(&frames, fps, &TrackerConfig::default(), p).unwrap_err();
            assert!(matches!(e, MotError::InvalidFrameRate { .. }), "{e}");
        }
        // Too many boxes in one frame: refused, naming the frame.
        let many: Vec<MotDetection> = (0..=DETECTIONS_PER_FRAME_MAX)
            .map(|i| MotDetection {
                frame: 7,
                bbox: BBox::from_tlwh(i as f32, 0.0, 5.0, 5.0),
                score: 0.9,
            })
            .collect();
        let e = track_frames(&group_frames(&many, 0), 25.0, &TrackerConfig::default(), p)
            .unwrap_err()
            .to_string();
        assert!(e.contains("det.txt") && e.contains("frame 7"), "{e}");
    }

    #[test]
    fn skipping_idle_frames_changes_nothing() {
        // A dense run (every frame an update) against the sparse one, with gaps longer and
        // shorter than max_age_s and lost tracks reported.
        let config = TrackerConfig {
            output_lost_max_s: 1.0,
            ..TrackerConfig::default()
        };
        let mut dets = Vec::new();
        for f in (1..=20).chain(30..=40).chain(200..=210) {
            dets.push(MotDetection {
                frame: f,
                bbox: BBox::from_tlwh(10.0 + f as f32, 20.0, 30.0, 60.0),
                score: 0.9,
            });
        }
        let p = Path::new("d");
        let sparse = track_frames(&group_frames(&dets, 300), 10.0, &config, p).unwrap();
        let mut tracker = Tracker::new(config.clone()).unwrap();
        let frames = group_frames(&dets, 300);
        let mut dense = Vec::new();
        for f in 1..=300 {
            for t in tracker.update(frame_stamp(f, 10.0), frames.get(f)).unwrap() {
                dense.push(MotResult {
                    frame: f,
                    id: t.id,
                    bbox: t.bbox,
                    score: t.score,
                });
            }
        }
        assert!(!dense.is_empty());
        assert_eq!(sparse, dense);
    }

    #[test]
    fn seqinfo_and_scores() {
        let ini = "[Sequence]\nname=X\nframeRate=7\nseqLength=795\nimWidth=768\n";
        let s = parse_seqinfo(ini, Path::new("seqinfo.ini")).unwrap();
        assert_eq!((s.frame_rate, s.seq_length), (7.0, Some(795)));
        assert!(matches!(
            parse_seqinfo("[Sequence]\nseqLength=3\n", Path::new("s.ini")),
            Err(MotError::MissingFrameRate { .. })
        ));
        let mut d = parse_detections("1,-1,0,0,1,1,-2\n1,-1,0,0,1,1,8\n", Path::new("d")).unwrap();
        assert!(matches!(
            normalize_scores(&mut d.clone(), ScoreNormalization::None, Path::new("d")),
            Err(MotError::ScoreRange { .. })
        ));
        let m = normalize_scores(&mut d, ScoreNormalization::Auto, Path::new("d")).unwrap();
        assert_eq!(m, ScoreNormalization::MinMax);
        assert_eq!((d[0].score, d[1].score), (0.0, 1.0));
    }
}
