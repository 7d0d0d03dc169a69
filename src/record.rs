//! `lookout record`: a ROS 2 MCAP recording from a video or a folder of images.
//!
//! Input:
//! * a video file, decoded by the `ffmpeg` binary (found by [`find_ffmpeg`]) to raw `rgb24`
//!   frames on a pipe. The frame size comes from `ffmpeg -i`'s stream line; frames are decoded
//!   with `-noautorotate` (so the size is the stream's) and `-fps_mode passthrough` (every
//!   decoded frame once, none duplicated or dropped to fit a frame rate);
//! * a folder of `.jpg`/`.jpeg`/`.png` files, taken in file-name order.
//!
//! Output: one topic of `sensor_msgs/msg/CompressedImage` (JPEG, `format: "jpeg"`; JPEG files
//! are copied through byte for byte) or `sensor_msgs/msg/Image` (`rgb8` or `bgr8`, unpadded
//! rows), through [`Ros2McapWriter`]. Header stamps are either `start + i / fps` for frame `i`
//! (computed in integer nanoseconds as `start_ns + round(i * 1e9 / fps)`, so they do not drift)
//! or each file's modification time (image folders only; the images then go in time order, and
//! two with the same time are refused, so that stamps strictly increase). `log_time = publish_time = stamp`,
//! `sequence = i`.

use crate::image_codec::{self, RawEncoding};
use crate::mcap_io::{McapError, Ros2McapWriter};
use crate::msgs::{CompressedImage, Image};
use crate::types::{Header, RgbImage, Time};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// A recording that cannot be made.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("{path}: input not found")]
    InputMissing { path: PathBuf },
    #[error("{path}: no .jpg, .jpeg or .png files in this folder")]
    NoImages { path: PathBuf },
    #[error("{path}: cannot read: {source}")]
    ReadFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Image {
        path: PathBuf,
        source: image_codec::ImageError,
    },
    #[error("{path}: frame {frame}: {source}")]
    VideoFrame {
        path: PathBuf,
        frame: u64,
        source: image_codec::ImageError,
    },
    #[error(
        "ffmpeg not found (tried {}); run scripts/setup.sh, or set LOOKOUT_FFMPEG to an ffmpeg binary",
        .tried.join(", ")
    )]
    FfmpegNotFound { tried: Vec<String> },
    #[error("{ffmpeg}: cannot run: {source}")]
    FfmpegSpawn {
        ffmpeg: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: ffmpeg found no video stream size: {stderr}")]
    Probe { path: PathBuf, stderr: String },
    #[error("{path}: ffmpeg failed ({status}): {stderr}")]
    Ffmpeg {
        path: PathBuf,
        status: String,
        stderr: String,
    },
    #[error("{path}: frame {frame} ended after {got} of {expected} bytes")]
    TruncatedFrame {
        path: PathBuf,
        frame: u64,
        got: usize,
        expected: usize,
    },
    #[error("option `{option}`: {message}")]
    InvalidOption {
        option: &'static str,
        message: String,
    },
    #[error("{path}: modification time cannot be a ROS stamp: {message}")]
    FileTime { path: PathBuf, message: String },
    /// Two images of a folder stamped by file time have the same modification time: the
    /// recording would hold a repeated stamp (the tracker cannot tell which came first).
    #[error("{path} and {other} have the same modification time ({stamp_ns} ns), so their header stamps would repeat: pass --fps to stamp frames at a fixed rate in name order")]
    RepeatedFileTime {
        path: PathBuf,
        other: PathBuf,
        stamp_ns: i64,
    },
    #[error(transparent)]
    Mcap(#[from] McapError),
}

/// How frames are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordFormat {
    /// `sensor_msgs/msg/CompressedImage` with `format: "jpeg"`; `quality` 1..=100 applies when
    /// pixels have to be encoded (video frames, PNG files).
    Jpeg { quality: u8 },
    /// `sensor_msgs/msg/Image` in the given encoding.
    Raw(RawEncoding),
}

impl RecordFormat {
    /// The topic used when none is given.
    pub fn default_topic(self) -> &'static str {
        match self {
            Self::Jpeg { .. } => "/camera/image_raw/compressed",
            Self::Raw(_) => "/camera/image_raw",
        }
    }
}

/// Where header stamps come from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum StampSource {
    /// Frame `i` is stamped `start_ns + i / fps`.
    FrameRate { fps: f64, start_ns: i64 },
    /// Each image file's modification time (image folders only).
    FileTimes,
}

/// What to record. [`RecordOptions::new`] fills in the defaults.
#[derive(Debug, Clone)]
pub struct RecordOptions {
    /// A video file, or a folder of images.
    pub input: PathBuf,
    pub output: PathBuf,
    pub format: RecordFormat,
    /// Output topic; `None` for [`RecordFormat::default_topic`].
    pub topic: Option<String>,
    pub frame_id: String,
    pub stamps: StampSource,
    /// Stop after this many frames.
    pub max_frames: Option<u64>,
    /// The ffmpeg binary; `None` to search with [`find_ffmpeg`].
    pub ffmpeg: Option<PathBuf>,
}

/// The default `frame_id`: the camera's optical frame (z forward, x right, y down; REP 103).
pub const DEFAULT_FRAME_ID: &str = "camera_optical_frame";
/// The default JPEG quality.
pub const DEFAULT_JPEG_QUALITY: u8 = 90;

impl RecordOptions {
    /// JPEG at [`DEFAULT_JPEG_QUALITY`] on the default topic, `frame_id`
    /// [`DEFAULT_FRAME_ID`], stamps at `fps` from time 0, all frames.
    pub fn new(input: impl Into<PathBuf>, output: impl Into<PathBuf>, fps: f64) -> Self {
        Self {
            input: input.into(),
            output: output.into(),
            format: RecordFormat::Jpeg {
                quality: DEFAULT_JPEG_QUALITY,
            },
            topic: None,
            frame_id: DEFAULT_FRAME_ID.into(),
            stamps: StampSource::FrameRate { fps, start_ns: 0 },
            max_frames: None,
            ffmpeg: None,
        }
    }

    /// The topic written.
    pub fn topic(&self) -> &str {
        self.topic
            .as_deref()
            .unwrap_or_else(|| self.format.default_topic())
    }
}

/// What a recording holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordSummary {
    pub output: PathBuf,
    pub topic: String,
    pub frames: u64,
    /// Size of the first frame.
    pub width: u32,
    pub height: u32,
    pub first_stamp: Option<Time>,
    pub last_stamp: Option<Time>,
}

/// Finds ffmpeg: `$LOOKOUT_FFMPEG`, then `<cache>/bin/ffmpeg` (cache:
/// [`crate::assets::cache_dir`]), then `ffmpeg` on `PATH`.
pub fn find_ffmpeg() -> Result<PathBuf, RecordError> {
    let mut tried = Vec::new();
    if let Some(path) = std::env::var_os("LOOKOUT_FFMPEG") {
        let path = PathBuf::from(path);
        if path.is_file() {
            return Ok(path);
        }
        tried.push(format!("$LOOKOUT_FFMPEG={}", path.display()));
    }
    // No cache directory (no HOME, no LOOKOUT_CACHE) only means one place fewer to look.
    if let Ok(cache) = crate::assets::cache_dir() {
        let path = cache.join("bin/ffmpeg");
        if path.is_file() {
            return Ok(path);
        }
        tried.push(path.display().to_string());
    }
    if let Some(paths) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&paths) {
            let path = dir.join("ffmpeg");
            if path.is_file() {
                return Ok(path);
            }
        }
    }
    tried.push("ffmpeg on PATH".into());
    Err(RecordError::FfmpegNotFound { tried })
}

/// Records `options.input` into `options.output`. On an error part-way, the output holds the
/// frames written so far (the writer finishes the file when dropped).
pub fn record(options: &RecordOptions) -> Result<RecordSummary, RecordError> {
    record_with_progress(options, &mut |_| {})
}

/// As [`record`], calling `on_frame(frames_written)` after each frame (for a progress bar).
pub fn record_with_progress(
    options: &RecordOptions,
    on_frame: &mut dyn FnMut(u64),
) -> Result<RecordSummary, RecordError> {
    validate(options)?;
    if !options.input.exists() {
        return Err(RecordError::InputMissing {
            path: options.input.clone(),
        });
    }
    let topic = options.topic().to_string();
    let mut writer = Ros2McapWriter::create(&options.output)?;
    match options.format {
        RecordFormat::Jpeg { .. } => writer.add_topic::<CompressedImage>(&topic)?,
        RecordFormat::Raw(_) => writer.add_topic::<Image>(&topic)?,
    }
    let mut recorder = Recorder {
        options,
        topic,
        writer,
        frames: 0,
        size: None,
        first_stamp: None,
        last_stamp: None,
        on_frame,
    };
    if options.input.is_dir() {
        record_folder(&mut recorder)?;
    } else {
        record_video(&mut recorder)?;
    }
    let Recorder {
        topic,
        writer,
        frames,
        size,
        first_stamp,
        last_stamp,
        ..
    } = recorder;
    writer.finish()?;
    let (width, height) = size.unwrap_or((0, 0));
    Ok(RecordSummary {
        output: options.output.clone(),
        topic,
        frames,
        width,
        height,
        first_stamp,
        last_stamp,
    })
}

fn validate(options: &RecordOptions) -> Result<(), RecordError> {
    if let StampSource::FrameRate { fps, .. } = options.stamps {
        if !(fps.is_finite() && fps > 0.0) {
            return Err(RecordError::InvalidOption {
                option: "fps",
                message: format!("must be a positive number, got {fps}"),
            });
        }
    }
    if let RecordFormat::Jpeg { quality } = options.format {
        if !(1..=100).contains(&quality) {
            return Err(RecordError::InvalidOption {
                option: "quality",
                message: format!("must be in 1..=100, got {quality}"),
            });
        }
    }
    if options.topic().is_empty() {
        return Err(RecordError::InvalidOption {
            option: "topic",
            message: "must not be empty".into(),
        });
    }
    Ok(())
}

/// One frame's pixels: either already-compressed JPEG bytes or decoded RGB.
enum FramePixels {
    Jpeg {
        bytes: Vec<u8>,
        width: u32,
        height: u32,
    },
    Rgb(RgbImage),
}

struct Recorder<'a> {
    options: &'a RecordOptions,
    topic: String,
    writer: Ros2McapWriter,
    frames: u64,
    size: Option<(u32, u32)>,
    first_stamp: Option<Time>,
    last_stamp: Option<Time>,
    on_frame: &'a mut dyn FnMut(u64),
}

impl Recorder<'_> {
    fn done(&self) -> bool {
        self.options
            .max_frames
            .is_some_and(|max| self.frames >= max)
    }

    /// The stamp of the next frame under [`StampSource::FrameRate`].
    fn rate_stamp(&self, fps: f64, start_ns: i64) -> Time {
        frame_stamp(self.frames, fps, start_ns)
    }

    fn write(
        &mut self,
        stamp: Time,
        pixels: FramePixels,
        source: &Path,
    ) -> Result<(), RecordError> {
        let header = Header {
            stamp,
            frame_id: self.options.frame_id.clone(),
        };
        let image_error = |source_err| RecordError::Image {
            path: source.to_path_buf(),
            source: source_err,
        };
        let (width, height) = match &pixels {
            FramePixels::Jpeg { width, height, .. } => (*width, *height),
            FramePixels::Rgb(img) => (img.width, img.height),
        };
        let log_time_ns = u64::try_from(stamp.as_ns()).map_err(|_| RecordError::InvalidOption {
            option: "start time",
            message: format!(
                "stamp {} ns is before 1970; MCAP log times are unsigned",
                stamp.as_ns()
            ),
        })?;
        let sequence = self.frames as u32;
        match (self.options.format, pixels) {
            (RecordFormat::Jpeg { .. }, FramePixels::Jpeg { bytes, .. }) => {
                let msg = CompressedImage {
                    header,
                    format: "jpeg".into(),
                    data: bytes,
                };
                self.writer
                    .write_message(&self.topic, log_time_ns, sequence, &msg)?;
            }
            (RecordFormat::Jpeg { quality }, FramePixels::Rgb(img)) => {
                let msg = CompressedImage {
                    header,
                    format: "jpeg".into(),
                    data: image_codec::encode_jpeg(&img, quality).map_err(image_error)?,
                };
                self.writer
                    .write_message(&self.topic, log_time_ns, sequence, &msg)?;
            }
            (RecordFormat::Raw(encoding), pixels) => {
                let img = match pixels {
                    FramePixels::Rgb(img) => img,
                    FramePixels::Jpeg { bytes, .. } => {
                        image_codec::decode_compressed("jpeg", &bytes).map_err(image_error)?
                    }
                };
                let (step, data) = image_codec::encode_raw(&img, encoding).map_err(image_error)?;
                let msg = Image {
                    header,
                    height: img.height,
                    width: img.width,
                    encoding: encoding.as_str().into(),
                    is_bigendian: 0,
                    step,
                    data,
                };
                self.writer
                    .write_message(&self.topic, log_time_ns, sequence, &msg)?;
            }
        }
        self.size.get_or_insert((width, height));
        self.first_stamp.get_or_insert(stamp);
        self.last_stamp = Some(stamp);
        self.frames += 1;
        (self.on_frame)(self.frames);
        Ok(())
    }
}

/// The stamp of frame `index` at `fps` from `start_ns`: `start_ns + round(index * 1e9 / fps)`,
/// computed from the index each time so that stamps do not accumulate rounding errors.
pub fn frame_stamp(index: u64, fps: f64, start_ns: i64) -> Time {
    let offset_ns = (index as f64 * 1e9 / fps).round() as i64;
    Time::from_ns(start_ns.saturating_add(offset_ns))
}

fn is_image_file(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| matches!(e.to_ascii_lowercase().as_str(), "jpg" | "jpeg" | "png"))
}

fn record_folder(rec: &mut Recorder) -> Result<(), RecordError> {
    let dir = &rec.options.input;
    let read_error = |source| RecordError::ReadFile {
        path: dir.clone(),
        source,
    };
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(read_error)? {
        let path = entry.map_err(read_error)?.path();
        if path.is_file() && is_image_file(&path) {
            files.push(path);
        }
    }
    if files.is_empty() {
        return Err(RecordError::NoImages { path: dir.clone() });
    }
    files.sort_by(|a, b| a.file_name().cmp(&b.file_name()));
    // With file times as stamps, frames go in time order (what the stamps say), so that the
    // stamps increase even where names and times disagree; equal times are refused.
    let mut times = Vec::new();
    if rec.options.stamps == StampSource::FileTimes {
        let mut timed = files
            .into_iter()
            .map(|path| Ok((file_time(&path)?, path)))
            .collect::<Result<Vec<_>, RecordError>>()?;
        timed.sort_by_key(|(t, _)| t.as_ns());
        if let Some(pair) = timed.windows(2).find(|w| w[0].0 == w[1].0) {
            return Err(RecordError::RepeatedFileTime {
                path: pair[0].1.clone(),
                other: pair[1].1.clone(),
                stamp_ns: pair[0].0.as_ns(),
            });
        }
        (times, files) = timed.into_iter().unzip();
    }
    for (i, path) in files.into_iter().enumerate() {
        if rec.done() {
            break;
        }
        let bytes = std::fs::read(&path).map_err(|source| RecordError::ReadFile {
            path: path.clone(),
            source,
        })?;
        let stamp = match rec.options.stamps {
            StampSource::FrameRate { fps, start_ns } => rec.rate_stamp(fps, start_ns),
            StampSource::FileTimes => times[i],
        };
        let pixels =
            if bytes.starts_with(&[0xff, 0xd8, 0xff])
                && matches!(rec.options.format, RecordFormat::Jpeg { .. })
            {
                // Pass JPEG through untouched, but decode it once (strictly), so that a corrupt
                // or truncated file is an error here rather than in whoever replays the recording.
                let decoded = image_codec::decode_compressed("jpeg", &bytes).map_err(|source| {
                    RecordError::Image {
                        path: path.clone(),
                        source,
                    }
                })?;
                let (width, height) = (decoded.width, decoded.height);
                FramePixels::Jpeg {
                    bytes,
                    width,
                    height,
                }
            } else {
                let format = path
                    .extension()
                    .and_then(|e| e.to_str())
                    .unwrap_or_default()
                    .to_ascii_lowercase();
                FramePixels::Rgb(image_codec::decode_compressed(&format, &bytes).map_err(
                    |source| RecordError::Image {
                        path: path.clone(),
                        source,
                    },
                )?)
            };
        rec.write(stamp, pixels, &path)?;
    }
    Ok(())
}

fn file_time(path: &Path) -> Result<Time, RecordError> {
    let modified = std::fs::metadata(path)
        .and_then(|m| m.modified())
        .map_err(|source| RecordError::ReadFile {
            path: path.to_path_buf(),
            source,
        })?;
    let since_epoch = modified
        .duration_since(std::time::UNIX_EPOCH)
        .map_err(|e| RecordError::FileTime {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
    let ns = i64::try_from(since_epoch.as_nanos()).map_err(|_| RecordError::FileTime {
        path: path.to_path_buf(),
        message: "beyond the year 2262".into(),
    })?;
    Ok(Time::from_ns(ns))
}

/// The frame size from `ffmpeg -i`'s first video stream line, e.g.
/// `Stream #0:0: Video: msmpeg4v3 (div3 / 0x33766964), yuv420p, 768x576, 816 kb/s, 10 fps`.
/// Fields are comma-separated; the size is the field that starts with `<w>x<h>` (the codec
/// field, which may hold a `0x...` tag, starts with the codec name).
pub fn parse_video_size(ffmpeg_stderr: &str) -> Option<(u32, u32)> {
    let line = ffmpeg_stderr
        .lines()
        .find(|l| l.contains("Stream #") && l.contains("Video:"))?;
    let fields = line.split_once("Video:")?.1;
    fields.split(',').find_map(|field| {
        let field = field.trim_start();
        let (w, rest) = field.split_once('x')?;
        let h: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
        let w: u32 = w.parse().ok()?;
        let h: u32 = h.parse().ok()?;
        (w > 0 && h > 0).then_some((w, h))
    })
}

fn stderr_tail(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let lines: Vec<&str> = text.lines().rev().take(8).collect();
    lines.into_iter().rev().collect::<Vec<_>>().join(" | ")
}

fn record_video(rec: &mut Recorder) -> Result<(), RecordError> {
    let input = rec.options.input.clone();
    let StampSource::FrameRate { fps, start_ns } = rec.options.stamps else {
        return Err(RecordError::InvalidOption {
            option: "stamps",
            message: "file times are only for image folders; give a frame rate for a video".into(),
        });
    };
    let ffmpeg = match &rec.options.ffmpeg {
        Some(path) => path.clone(),
        None => find_ffmpeg()?,
    };
    let spawn_error = |source| RecordError::FfmpegSpawn {
        ffmpeg: ffmpeg.clone(),
        source,
    };
    // `ffmpeg -i` with no output exits non-zero by design; only its stream lines matter.
    let probe = Command::new(&ffmpeg)
        .args(["-hide_banner", "-nostdin", "-i"])
        .arg(&input)
        .stdin(Stdio::null())
        .output()
        .map_err(spawn_error)?;
    let probe_text = String::from_utf8_lossy(&probe.stderr);
    let (width, height) = parse_video_size(&probe_text).ok_or_else(|| RecordError::Probe {
        path: input.clone(),
        stderr: stderr_tail(&probe.stderr),
    })?;
    let frame_bytes = width as usize * height as usize * 3;

    let mut command = Command::new(&ffmpeg);
    command
        .args([
            "-hide_banner",
            "-nostdin",
            "-v",
            "error",
            "-noautorotate",
            "-i",
        ])
        .arg(&input)
        .args(["-map", "0:v:0", "-fps_mode", "passthrough"]);
    if let Some(max) = rec.options.max_frames {
        command.args(["-frames:v", &max.to_string()]);
    }
    command
        .args(["-f", "rawvideo", "-pix_fmt", "rgb24", "-"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().map_err(spawn_error)?;
    let mut stdout = child
        .stdout
        .take()
        .ok_or_else(|| RecordError::FfmpegSpawn {
            ffmpeg: ffmpeg.clone(),
            source: std::io::Error::other("no stdout pipe"),
        })?;
    // Drain stderr on its own thread so a chatty ffmpeg never blocks on a full pipe.
    let stderr_reader = child.stderr.take().map(|mut stderr| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = stderr.read_to_end(&mut buf);
            buf
        })
    });

    let result = (|| loop {
        if rec.done() {
            return Ok(());
        }
        let mut buf = vec![0u8; frame_bytes];
        let got = read_full(&mut stdout, &mut buf).map_err(|source| RecordError::ReadFile {
            path: input.clone(),
            source,
        })?;
        if got == 0 {
            return Ok(());
        }
        if got < frame_bytes {
            return Err(RecordError::TruncatedFrame {
                path: input.clone(),
                frame: rec.frames,
                got,
                expected: frame_bytes,
            });
        }
        let stamp = rec.rate_stamp(fps, start_ns);
        let img = RgbImage {
            width,
            height,
            data: buf,
        };
        rec.write(stamp, FramePixels::Rgb(img), &input)?;
    })();
    // Stop ffmpeg if we stopped reading early (an error), then reap it.
    drop(stdout);
    if result.is_err() {
        let _ = child.kill();
    }
    let status = child.wait().map_err(spawn_error)?;
    let stderr = stderr_reader
        .and_then(|h| h.join().ok())
        .unwrap_or_default();
    result?;
    if !status.success() {
        return Err(RecordError::Ffmpeg {
            path: input,
            status: status.to_string(),
            stderr: stderr_tail(&stderr),
        });
    }
    Ok(())
}

/// Reads until `buf` is full or the stream ends; returns the bytes read.
fn read_full(reader: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn video_size_from_stream_line() {
        let text = "Input #0, avi, from 'vtest.avi':\n  Duration: 00:01:19.50\n  \
            Stream #0:0: Video: msmpeg4v3 (div3 / 0x33766964), yuv420p, 768x576, 816 kb/s, 10 fps\n";
        assert_eq!(parse_video_size(text), Some((768, 576)));
        let h264 = "  Stream #0:0[0x1](und): Video: h264 (High) (avc1 / 0x31637661), \
            yuv420p(tv, bt709, progressive), 1920x1080 [SAR 1:1 DAR 16:9], 30 fps\n";
        assert_eq!(parse_video_size(h264), Some((1920, 1080)));
        assert_eq!(
            parse_video_size("  Stream #0:0: Audio: aac, 44100 Hz\n"),
            None
        );
    }

    #[test]
    fn rate_stamps_do_not_drift() {
        // 7 fps: frame 7 is exactly 1 s after the start, frame 1 rounds 142857142.86 ns up.
        let stamp = |i: u64| frame_stamp(i, 7.0, 1_000);
        assert_eq!(stamp(7).as_ns(), 1_000_001_000);
        assert_eq!(stamp(1).as_ns(), 1_000 + 142_857_143);
        assert_eq!(stamp(700).as_ns(), 100_000_001_000);
    }
}
