//! Annotated frames: the camera image with what lookout made of it, for people to look at.
//! The one drawing of lookout: `lookout replay --render` writes these images ([`FrameSink`]),
//! the ROS node publishes the same image ([`Renderer::draw_packed`]) on `debug/image`.
//!
//! Drawn with `imageproc` (boxes, trail lines and dots) on `image` buffers; text uses the
//! public-domain 8x8 bitmap glyphs of the `font8x8` crate (MIT), scaled by [`text_scale`]
//! (1x up to 1079 px high images, 2x from 1080 px), so nothing needs a font file. Per frame:
//! - detections: 1 px boxes in [`super::DETECTION_COLOR`]; the ones no track covers
//!   ([`super::covered_by_track`]) get a small grey [`super::detection_label`] tab, so
//!   untracked classes are still named;
//! - tracks: 2 px boxes in [`super::track_color`] of the id (the same colour in every frame and
//!   in Foxglove), a [`super::track_label`] (`#id class score`) on a filled tab, and a trail
//!   through the box centres of the last [`RenderOptions::trail_len`] frames the track was
//!   reported (drawn by this [`Renderer`]);
//! - label tabs go above the box, else inside its top, else below it: the first place that
//!   overlaps no tab drawn before (tracks first, by id), kept inside the image;
//! - a compact corner overlay (top-left) on a translucent panel, so the scene stays visible
//!   under it: header stamp, frames/s and total ms of this frame's stages, each stage's ms.
//!
//! [`FrameSink`] writes the frames as numbered JPEG files in a folder, or (for a `.mp4` path)
//! encodes them with the ffmpeg binary at the stream's frame rate (from the header stamps).
//! The video is encoded under a temporary name beside the target and renamed into place when
//! ffmpeg succeeds ([`crate::output::PendingOutput`]); ffmpeg runs in its own process group,
//! so a Ctrl-C at the terminal reaches lookout only, which decides: a second interrupt
//! ([`crate::output::abort_requested`]) kills ffmpeg and drops the video. The temporary JPEG
//! folder is removed in every case.

use std::collections::{BTreeMap, VecDeque};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};

use image::{Rgb, RgbImage as ImageBuf};
use imageproc::drawing::{
    draw_filled_circle_mut, draw_filled_rect_mut, draw_hollow_rect_mut, draw_line_segment_mut,
};
use imageproc::rect::Rect;

use super::Rgb8;
use crate::stats::{Stage, StageTimings};
use crate::track::TrackOutput;
use crate::types::{BBox, Detection, Frame, RgbImage};

/// JPEG quality of rendered frames.
const JPEG_QUALITY: u8 = 90;
/// How much of the image shows through the overlay panel.
const PANEL_SHOW_THROUGH: f32 = 0.35;

/// Glyph scale for an image `height_px` high: 8x8 glyphs are legible at 1x on VGA-to-PAL
/// frames and small enough not to hide the scene; full HD and up gets 2x.
pub fn text_scale(height_px: u32) -> u32 {
    (height_px / 1080 + 1).min(4)
}

/// Height of one text line at `scale`, px.
pub fn line_height_px(scale: u32) -> u32 {
    8 * scale + 2 * scale
}

/// A rendering error (file or encoder), naming the path.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: cannot encode the frame: {message}")]
    Encode { path: PathBuf, message: String },
    #[error("frame buffer {width}x{height} does not match its data ({len} bytes)")]
    Buffer { width: u32, height: u32, len: usize },
    #[error("ffmpeg not found: set $LOOKOUT_FFMPEG, or run scripts/setup.sh (links <cache>/bin/ffmpeg), or render to a folder")]
    NoFfmpeg,
    #[error("ffmpeg failed writing {path}: {message}")]
    Ffmpeg { path: PathBuf, message: String },
    #[error("{path}: not written: interrupted a second time before the video was complete")]
    Interrupted { path: PathBuf },
}

/// Drawing settings.
#[derive(Debug, Clone)]
pub struct RenderOptions {
    /// Past centres drawn per track.
    pub trail_len: usize,
}

impl Default for RenderOptions {
    fn default() -> Self {
        Self { trail_len: 20 }
    }
}

/// What the corner overlay shows.
#[derive(Debug, Clone, Default)]
pub struct Overlay {
    /// Stage names and times, ms, in pipeline order.
    pub stage_ms: Vec<(&'static str, f64)>,
}

impl Overlay {
    /// The times of `stages` (in that order) from one frame's timings.
    pub fn of_stages(stages: &[Stage], timings: &StageTimings) -> Self {
        Self {
            stage_ms: stages
                .iter()
                .map(|s| (s.name(), timings.get(*s).as_secs_f64() * 1e3))
                .collect(),
        }
    }
}

/// Draws frames; keeps each track's past centres (per camera stream).
#[derive(Debug, Default)]
pub struct Renderer {
    options: RenderOptions,
    trails: BTreeMap<(String, u64), VecDeque<(f32, f32)>>,
}

fn rgb(c: Rgb8) -> Rgb<u8> {
    Rgb(c)
}

/// Integer rectangle of a box, clipped to the image; `None` when nothing of it is inside.
fn rect_of(bbox: &BBox, width: u32, height: u32) -> Option<Rect> {
    let b = bbox.clip(width as f32, height as f32);
    let (x0, y0) = (b.x_min.round() as i32, b.y_min.round() as i32);
    let (x1, y1) = (b.x_max.round() as i32, b.y_max.round() as i32);
    (x1 > x0 && y1 > y0).then(|| Rect::at(x0, y0).of_size((x1 - x0) as u32, (y1 - y0) as u32))
}

/// Draws `text` with its top-left at `(x, y)`, 8x8 glyphs scaled by `scale`.
pub fn draw_text(img: &mut ImageBuf, x: i32, y: i32, text: &str, scale: u32, colour: Rgb8) {
    let s = scale.max(1) as i32;
    for (k, ch) in text.chars().enumerate() {
        // Basic Latin only; anything else is drawn as a blank cell.
        let glyph = font8x8::legacy::BASIC_LEGACY
            .get(ch as usize)
            .copied()
            .unwrap_or([0; 8]);
        for (row, bits) in glyph.iter().enumerate() {
            for col in 0..8 {
                if bits & (1 << col) == 0 {
                    continue;
                }
                let px = x + (k as i32 * 8 + col) * s;
                let py = y + row as i32 * s;
                draw_filled_rect_mut(
                    img,
                    Rect::at(px, py).of_size(s as u32, s as u32),
                    rgb(colour),
                );
            }
        }
    }
}

/// Width of `text` at `scale`, px.
pub fn text_width(text: &str, scale: u32) -> u32 {
    text.chars().count() as u32 * 8 * scale.max(1)
}

/// Darkens `r` (clipped to the image) so white text reads on it while the scene shows through.
fn darken(img: &mut ImageBuf, r: Rect) {
    let (w, h) = img.dimensions();
    let x1 = (r.right() + 1).clamp(0, w as i32) as u32;
    let y1 = (r.bottom() + 1).clamp(0, h as i32) as u32;
    for y in r.top().max(0) as u32..y1 {
        for x in r.left().max(0) as u32..x1 {
            let p = img.get_pixel_mut(x, y);
            for c in p.0.iter_mut() {
                *c = (f32::from(*c) * PANEL_SHOW_THROUGH) as u8;
            }
        }
    }
}

/// Pixels two rectangles share.
fn overlap_area(a: &Rect, b: &Rect) -> i64 {
    let w = (a.right().min(b.right()) - a.left().max(b.left()) + 1).max(0);
    let h = (a.bottom().min(b.bottom()) - a.top().max(b.top()) + 1).max(0);
    i64::from(w) * i64::from(h)
}

/// Where a label tab of `tab_w` x `tab_h` goes for box `r`: above it, else inside its top,
/// else below it, else inside its bottom: the first inside the image that overlaps none of
/// `taken`, or the one that overlaps them least; shifted left to stay inside the image.
fn place_tab(r: &Rect, tab_w: u32, tab_h: u32, width: u32, height: u32, taken: &[Rect]) -> Rect {
    let x = r.left().min(width as i32 - tab_w as i32).max(0);
    let max_y = (height as i32 - tab_h as i32).max(0);
    let candidates = [
        r.top() - tab_h as i32,
        r.top() + 2,
        r.bottom() + 1,
        r.bottom() - 1 - tab_h as i32,
    ];
    let mut best: Option<(i64, Rect)> = None;
    // Places off the image (above a box at the top edge) are not tried.
    for y in candidates.into_iter().filter(|y| (0..=max_y).contains(y)) {
        let tab = Rect::at(x, y).of_size(tab_w, tab_h);
        let covered: i64 = taken.iter().map(|o| overlap_area(&tab, o)).sum();
        if covered == 0 {
            return tab;
        }
        if best.is_none_or(|(c, _)| covered < c) {
            best = Some((covered, tab));
        }
    }
    // No place fits (an image lower than one text line): the top of the image.
    best.map_or(Rect::at(x, 0).of_size(tab_w, tab_h), |(_, t)| t)
}

/// A label to draw: the box it belongs to, its text and its tab colour.
#[derive(Debug, Clone, PartialEq)]
struct Label {
    rect: Rect,
    text: String,
    colour: Rgb8,
}

/// The labels of one frame, in drawing order: tracks by id, then the detections no track
/// covers (in their grey); boxes with nothing inside the `width` x `height` image get none.
/// `by_id`: the tracks sorted by id (the drawing order, sorted once per frame by the caller).
fn labels(
    detections: &[Detection],
    tracks: &[TrackOutput],
    by_id: &[&TrackOutput],
    width: u32,
    height: u32,
) -> Vec<Label> {
    let tracked = by_id.iter().filter_map(|t| {
        rect_of(&t.bbox, width, height).map(|rect| Label {
            rect,
            text: super::track_label(t),
            colour: super::track_color(t.id),
        })
    });
    let untracked = detections
        .iter()
        .filter(|d| !super::covered_by_track(d, tracks))
        .filter_map(|d| {
            rect_of(&d.bbox, width, height).map(|rect| Label {
                rect,
                text: super::detection_label(d),
                colour: super::DETECTION_COLOR,
            })
        });
    tracked.chain(untracked).collect()
}

/// Black or white, whichever reads better on `bg`.
fn ink_on(bg: Rgb8) -> Rgb8 {
    let luma = 0.299 * f64::from(bg[0]) + 0.587 * f64::from(bg[1]) + 0.114 * f64::from(bg[2]);
    if luma > 140.0 {
        [0, 0, 0]
    } else {
        [255, 255, 255]
    }
}

impl Renderer {
    pub fn new(options: RenderOptions) -> Self {
        Self {
            options,
            trails: BTreeMap::new(),
        }
    }

    /// The annotated image of one frame.
    pub fn draw(
        &mut self,
        frame: &Frame,
        detections: &[Detection],
        tracks: &[TrackOutput],
        overlay: &Overlay,
    ) -> Result<ImageBuf, RenderError> {
        let RgbImage {
            width,
            height,
            data,
        } = &frame.image;
        let (w, h) = (*width, *height);
        let mut img = ImageBuf::from_raw(w, h, data.clone()).ok_or(RenderError::Buffer {
            width: w,
            height: h,
            len: data.len(),
        })?;
        let scale = text_scale(h);
        let line_h = line_height_px(scale);
        let pad = scale as i32;
        for d in detections {
            if let Some(r) = rect_of(&d.bbox, w, h) {
                draw_hollow_rect_mut(&mut img, r, rgb(super::DETECTION_COLOR));
            }
        }
        // Trails first, so boxes and labels stay on top.
        let live: Vec<u64> = tracks.iter().map(|t| t.id).collect();
        self.trails
            .retain(|(stream, id), _| stream != &frame.stream || live.contains(id));
        for t in tracks {
            let trail = self.trails.entry((frame.stream.clone(), t.id)).or_default();
            trail.push_back(t.bbox.center());
            while trail.len() > self.options.trail_len.max(1) {
                trail.pop_front();
            }
            let colour = rgb(super::track_color(t.id));
            for pair in trail.iter().collect::<Vec<_>>().windows(2) {
                draw_line_segment_mut(&mut img, *pair[0], *pair[1], colour);
            }
            for &(cx, cy) in trail.iter() {
                draw_filled_circle_mut(&mut img, (cx.round() as i32, cy.round() as i32), 2, colour);
            }
        }
        let mut by_id: Vec<&TrackOutput> = tracks.iter().collect();
        by_id.sort_by_key(|t| t.id);
        for t in &by_id {
            let colour = super::track_color(t.id);
            let Some(r) = rect_of(&t.bbox, w, h) else {
                continue;
            };
            draw_hollow_rect_mut(&mut img, r, rgb(colour));
            if r.width() > 2 && r.height() > 2 {
                let inner =
                    Rect::at(r.left() + 1, r.top() + 1).of_size(r.width() - 2, r.height() - 2);
                draw_hollow_rect_mut(&mut img, inner, rgb(colour));
            }
        }
        let mut taken: Vec<Rect> = Vec::new();
        for label in labels(detections, tracks, &by_id, w, h) {
            let tab = place_tab(
                &label.rect,
                text_width(&label.text, scale) + 2 * pad as u32,
                line_h,
                w,
                h,
                &taken,
            );
            draw_filled_rect_mut(&mut img, tab, rgb(label.colour));
            draw_text(
                &mut img,
                tab.left() + pad,
                tab.top() + pad,
                &label.text,
                scale,
                ink_on(label.colour),
            );
            taken.push(tab);
        }
        // Corner overlay.
        let total_ms: f64 = overlay.stage_ms.iter().map(|(_, ms)| ms).sum();
        let mut lines = vec![
            format!(
                "t {}.{:03} s",
                frame.header.stamp.sec,
                frame.header.stamp.nanosec / 1_000_000
            ),
            if total_ms > 0.0 {
                format!("{:.1} frames/s {:.0} ms", 1000.0 / total_ms, total_ms)
            } else {
                "- frames/s".to_owned()
            },
        ];
        lines.extend(
            overlay
                .stage_ms
                .iter()
                // Sub-10 ms stages (track, postprocess) need the second decimal to read.
                .map(|(s, ms)| {
                    let digits = if *ms < 10.0 { 2 } else { 1 };
                    format!("{s:<11}{ms:7.digits$} ms")
                }),
        );
        let box_w = lines
            .iter()
            .map(|l| text_width(l, scale))
            .max()
            .unwrap_or(0)
            + 4 * pad as u32;
        let box_h = line_h * lines.len() as u32 + 2 * pad as u32;
        darken(&mut img, Rect::at(0, 0).of_size(box_w, box_h));
        for (i, line) in lines.iter().enumerate() {
            draw_text(
                &mut img,
                2 * pad,
                2 * pad + (i as u32 * line_h) as i32,
                line,
                scale,
                [255, 255, 255],
            );
        }
        Ok(img)
    }

    /// [`Self::draw`] as a packed [`RgbImage`] (rows of `3 * width` bytes, what a
    /// `sensor_msgs/Image` `rgb8` carries): the ROS node's debug image.
    pub fn draw_packed(
        &mut self,
        frame: &Frame,
        detections: &[Detection],
        tracks: &[TrackOutput],
        overlay: &Overlay,
    ) -> Result<RgbImage, RenderError> {
        let img = self.draw(frame, detections, tracks, overlay)?;
        let (width, height) = img.dimensions();
        Ok(RgbImage {
            width,
            height,
            data: img.into_raw(),
        })
    }

    /// Forgets the trails of `stream`: for a caller that stops drawing a stream for a while
    /// (the ROS node while nobody watches), so trails do not jump across the frames not drawn.
    pub fn forget_stream(&mut self, stream: &str) {
        self.trails.retain(|(s, _), _| s != stream);
    }
}

/// Where rendered frames go.
#[derive(Debug)]
pub struct FrameSink {
    /// Folder the JPEG frames are written to (a temporary one for mp4).
    dir: PathBuf,
    /// `Some` for mp4 output: the video path and the folder to remove afterwards.
    video: Option<(PathBuf, tempfile::TempDir)>,
    /// Lists the temporary folder for a last-resort exit ([`crate::output::remove_unfinished`]).
    _temp_guard: Option<crate::output::TempGuard>,
    /// Header stamps (ns) of the frames written, per stream, to set the video frame rate.
    stamps_ns: Vec<i64>,
    count: u64,
}

/// Whether a render target is a video (`.mp4`, rendered through ffmpeg) rather than a folder of
/// JPEG frames: the one rule for `--render`, used by the sink, replay and the CLI.
pub fn is_video(target: &Path) -> bool {
    target
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("mp4"))
}

impl FrameSink {
    /// A `.mp4` path renders a video (needs ffmpeg), anything else a folder of JPEG frames.
    pub fn create(target: &Path) -> Result<Self, RenderError> {
        let io = |source| RenderError::Io {
            path: target.to_owned(),
            source,
        };
        if is_video(target) {
            find_ffmpeg().ok_or(RenderError::NoFfmpeg)?;
            let tmp = tempfile::tempdir().map_err(io)?;
            let guard = crate::output::TempGuard::register(tmp.path(), target);
            Ok(Self {
                dir: tmp.path().to_owned(),
                video: Some((target.to_owned(), tmp)),
                _temp_guard: Some(guard),
                stamps_ns: Vec::new(),
                count: 0,
            })
        } else {
            std::fs::create_dir_all(target).map_err(io)?;
            Ok(Self {
                dir: target.to_owned(),
                video: None,
                _temp_guard: None,
                stamps_ns: Vec::new(),
                count: 0,
            })
        }
    }

    /// The file name of frame `index` of `stream` in a folder sink: one folder per camera
    /// when there are several is left to the caller; names sort in frame order.
    pub fn frame_name(stream: &str, index: u64) -> String {
        let clean: String = stream
            .trim_matches('/')
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect();
        format!("{clean}_{index:06}.jpg")
    }

    /// Writes one rendered frame.
    pub fn write(&mut self, frame: &Frame, img: &ImageBuf) -> Result<PathBuf, RenderError> {
        let name = if self.video.is_some() {
            format!("{:06}.jpg", self.count)
        } else {
            Self::frame_name(&frame.stream, frame.index)
        };
        let path = self.dir.join(name);
        let encode_err = |message: String| RenderError::Encode {
            path: path.clone(),
            message,
        };
        let file = std::fs::File::create(&path).map_err(|e| encode_err(e.to_string()))?;
        // Quality 90: thin coloured lines keep their colour (the default 75 smears chroma).
        image::codecs::jpeg::JpegEncoder::new_with_quality(
            std::io::BufWriter::new(file),
            JPEG_QUALITY,
        )
        .encode_image(img)
        .map_err(|e| encode_err(e.to_string()))?;
        self.stamps_ns.push(frame.header.stamp.as_ns());
        self.count += 1;
        Ok(path)
    }

    /// Frames written so far.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Encodes the video (mp4 sinks); returns the output path. The video appears at its path
    /// only once ffmpeg has succeeded; on any error (or [`crate::output::request_abort`]) no
    /// file is left, neither the video nor its temporary name nor the JPEG folder.
    pub fn finish(self) -> Result<PathBuf, RenderError> {
        let Some((video, tmp)) = self.video else {
            return Ok(self.dir);
        };
        let io = |source| RenderError::Io {
            path: video.clone(),
            source,
        };
        if crate::output::abort_requested() {
            return Err(RenderError::Interrupted { path: video });
        }
        let fps = frame_rate(&self.stamps_ns);
        let ffmpeg = find_ffmpeg().ok_or(RenderError::NoFfmpeg)?;
        // ffmpeg writes the temporary file by name (`-y` overwrites the empty file).
        let (file, pending) = crate::output::PendingOutput::create(&video).map_err(io)?;
        drop(file);
        let mut child = std::process::Command::new(ffmpeg)
            .args(["-hide_banner", "-loglevel", "error", "-y", "-framerate"])
            .arg(format!("{fps:.6}"))
            .arg("-i")
            .arg(tmp.path().join("%06d.jpg"))
            .args([
                "-vf",
                "pad=ceil(iw/2)*2:ceil(ih/2)*2",
                "-c:v",
                "libx264",
                "-pix_fmt",
                "yuv420p",
            ])
            .arg(pending.temp_path())
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .process_group(0)
            .spawn()
            .map_err(io)?;
        // Drained on its own thread so that a chatty ffmpeg never blocks on a full pipe.
        let stderr = child.stderr.take();
        let drain = std::thread::spawn(move || {
            let mut text = Vec::new();
            if let Some(mut pipe) = stderr {
                let _ = std::io::Read::read_to_end(&mut pipe, &mut text);
            }
            text
        });
        let status = loop {
            if let Some(status) = child.try_wait().map_err(io)? {
                break status;
            }
            if crate::output::abort_requested() {
                // Killing ffmpeg and waiting for it leaves no process behind; dropping
                // `pending` then removes its half-written file.
                let _ = child.kill();
                let _ = child.wait();
                return Err(RenderError::Interrupted { path: video });
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        };
        let stderr = drain.join().unwrap_or_default();
        if !status.success() {
            return Err(RenderError::Ffmpeg {
                path: video,
                message: String::from_utf8_lossy(&stderr).trim().to_owned(),
            });
        }
        pending.commit().map_err(io)?;
        Ok(video)
    }
}

/// Frames per second from header stamps (median interval); 10 when it cannot be told.
pub fn frame_rate(stamps_ns: &[i64]) -> f64 {
    let mut dt: Vec<i64> = stamps_ns
        .windows(2)
        .map(|w| w[1] - w[0])
        .filter(|d| *d > 0)
        .collect();
    if dt.is_empty() {
        return 10.0;
    }
    dt.sort_unstable();
    1e9 / dt[dt.len() / 2] as f64
}

/// `$LOOKOUT_FFMPEG`, then `<cache>/bin/ffmpeg`, then `ffmpeg` on `PATH` (as `lookout record`).
pub fn find_ffmpeg() -> Option<PathBuf> {
    crate::record::find_ffmpeg().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::track::TrackState;
    use crate::types::{Header, Time};

    fn frame() -> Frame {
        Frame {
            stream: "/cam".into(),
            index: 0,
            header: Header {
                stamp: Time { sec: 1, nanosec: 0 },
                frame_id: "cam".into(),
            },
            image: RgbImage::new(320, 240),
        }
    }

    fn track(id: u64, bbox: BBox) -> TrackOutput {
        TrackOutput {
            id,
            label: "pedestrian".into(),
            class_index: 0,
            score: 0.9,
            state: TrackState::Confirmed,
            age_s: 0.0,
            hits: 1,
            time_since_update_s: 0.0,
            bbox,
            velocity_px_per_s: [0.0; 2],
            bbox_covariance: [[0.0; 4]; 4],
            observed_bbox: None,
        }
    }

    #[test]
    fn boxes_are_drawn_on_their_edges_in_their_colours() {
        let mut r = Renderer::new(RenderOptions::default());
        let det = Detection {
            bbox: BBox::from_tlwh(200.0, 150.0, 40.0, 50.0),
            class_index: 0,
            label: "pedestrian".into(),
            score: 0.5,
        };
        let t = track(4, BBox::from_tlwh(100.0, 100.0, 60.0, 100.0));
        let img = r.draw(&frame(), &[det], &[t], &Overlay::default()).unwrap();
        assert_eq!(img.get_pixel(200, 175).0, crate::viz::DETECTION_COLOR);
        assert_eq!(img.get_pixel(220, 150).0, crate::viz::DETECTION_COLOR);
        assert_eq!(img.get_pixel(100, 180).0, crate::viz::track_color(4));
        assert_eq!(img.get_pixel(130, 199).0, crate::viz::track_color(4));
        // Inside the boxes (away from the trail dot at the centre) the image is untouched.
        assert_eq!(img.get_pixel(115, 180).0, [0, 0, 0]);
        assert_eq!(img.get_pixel(210, 160).0, [0, 0, 0]);
    }

    #[test]
    fn a_track_has_the_same_colour_and_label_in_replay_frames_and_the_ros_debug_image() {
        let t = track(4, BBox::from_tlwh(100.0, 100.0, 60.0, 100.0));
        let covered = Detection {
            bbox: BBox::from_tlwh(101.0, 101.0, 60.0, 100.0),
            class_index: 0,
            label: "pedestrian".into(),
            score: 0.8,
        };
        let untracked = Detection {
            bbox: BBox::from_tlwh(220.0, 150.0, 40.0, 50.0),
            class_index: 2,
            label: "car".into(),
            score: 0.5,
        };
        let dets = [covered, untracked];
        let tracks = [t];
        let overlay = Overlay {
            stage_ms: vec![("forward", 100.0)],
        };
        // `lookout replay --render` and the ROS node's debug image, each with its own renderer.
        let replay = Renderer::default()
            .draw(&frame(), &dets, &tracks, &overlay)
            .unwrap();
        let debug = Renderer::default()
            .draw_packed(&frame(), &dets, &tracks, &overlay)
            .unwrap();
        assert_eq!((debug.width, debug.height), replay.dimensions());
        assert_eq!(debug.data, replay.as_raw().as_slice());
        // What both show: the track's box and tab in its colour, its `#id class score` label;
        // the detection it covers gets no label, the other one a grey tab.
        let colour = crate::viz::track_color(4);
        assert_eq!(debug.pixel(100, 180), Some(colour));
        assert_eq!(debug.pixel(100, 90), Some(colour), "the tab above the box");
        let mut by_id: Vec<&TrackOutput> = tracks.iter().collect();
        by_id.sort_by_key(|t| t.id);
        let drawn = labels(&dets, &tracks, &by_id, 320, 240);
        let texts: Vec<(&str, Rgb8)> = drawn.iter().map(|l| (l.text.as_str(), l.colour)).collect();
        assert_eq!(
            texts,
            [
                ("#4 pedestrian 0.90", colour),
                ("car 0.50", crate::viz::DETECTION_COLOR)
            ]
        );
    }

    #[test]
    fn trails_follow_a_track_and_forget_it_when_it_ends() {
        let mut r = Renderer::new(RenderOptions { trail_len: 3 });
        for k in 0..5 {
            let t = track(
                1,
                BBox::from_tlwh(100.0 + 10.0 * k as f32, 100.0, 20.0, 40.0),
            );
            r.draw(&frame(), &[], &[t], &Overlay::default()).unwrap();
        }
        assert_eq!(r.trails[&("/cam".to_owned(), 1)].len(), 3);
        r.draw(&frame(), &[], &[], &Overlay::default()).unwrap();
        assert!(r.trails.is_empty());
        // A stream no longer drawn is forgotten on request; other streams keep their trails.
        let t = track(2, BBox::from_tlwh(10.0, 10.0, 20.0, 40.0));
        r.draw(&frame(), &[], std::slice::from_ref(&t), &Overlay::default())
            .unwrap();
        let mut other = frame();
        other.stream = "/cam2".into();
        r.draw(&other, &[], &[t], &Overlay::default()).unwrap();
        r.forget_stream("/cam");
        assert_eq!(
            r.trails.keys().collect::<Vec<_>>(),
            [&("/cam2".to_owned(), 2)]
        );
    }

    #[test]
    fn label_tabs_avoid_each_other_and_stay_in_the_image() {
        let (w, h) = (320, 240);
        let mut taken = Vec::new();
        // Two boxes side by side at the same height: the second tab may not cover the first.
        for left in [100, 130] {
            let r = Rect::at(left, 50).of_size(20, 60);
            let tab = place_tab(&r, 90, 10, w, h, &taken);
            assert!(
                taken.iter().all(|t| overlap_area(&tab, t) == 0),
                "{tab:?} {taken:?}"
            );
            taken.push(tab);
        }
        assert_eq!(taken[0].top(), 40, "the first tab sits above its box");
        // A box at the right edge: the tab is shifted left to stay whole.
        let r = Rect::at(300, 100).of_size(20, 40);
        let tab = place_tab(&r, 90, 10, w, h, &[]);
        assert_eq!(tab.right(), w as i32 - 1);
        // A box at the top edge: the tab goes inside it, not off the image.
        let r = Rect::at(10, 0).of_size(40, 40);
        assert_eq!(place_tab(&r, 50, 10, w, h, &[]).top(), 2);
    }

    #[test]
    fn overlay_is_compact_and_translucent() {
        let mut img_frame = frame();
        img_frame.image.data.fill(200);
        let overlay = Overlay {
            stage_ms: vec![("forward", 100.0), ("track", 1.0)],
        };
        let img = Renderer::default()
            .draw(&img_frame, &[], &[], &overlay)
            .unwrap();
        // Darkened, not black: the scene shows through the panel.
        let p = img.get_pixel(1, 1).0;
        assert!(p[0] > 40 && p[0] < 100, "{p:?}");
        // 4 lines at 1x: the panel ends well above a quarter of the image height.
        assert_eq!(img.get_pixel(1, 60).0, [200, 200, 200]);
        assert_eq!(text_scale(576), 1);
        assert_eq!(text_scale(1080), 2);
    }

    #[test]
    fn frame_rate_from_stamps() {
        assert!((frame_rate(&[0, 142_857_143, 285_714_286]) - 7.0).abs() < 1e-6);
        assert_eq!(frame_rate(&[5]), 10.0);
    }
}
