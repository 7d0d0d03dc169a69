//! Seeing what lookout sees: image annotations for Foxglove ([`foxglove`]), annotated frames
//! and video ([`render`]), and what every visual output shares (a track's colour and label
//! text, which detections a track covers), so a track looks the same in Foxglove, in
//! `lookout replay --render` frames, in the ROS node's debug image and in the report.
//!
//! [`render`] is the one place that draws pixels: `lookout replay --render` writes its images
//! to files, the ROS node (`ros::node`) converts the same images to `sensor_msgs/Image`.

pub mod foxglove;
pub mod render;

use crate::track::TrackOutput;
use crate::types::Detection;

/// An RGB colour, 8 bits per channel.
pub type Rgb8 = [u8; 3];

/// A stable, well-spread colour for a track id: the hue advances by the golden ratio per id,
/// so consecutive ids get far-apart hues and the same id always gets the same colour (no
/// state, no hashing of anything but the id).
pub fn track_color(id: u64) -> Rgb8 {
    const GOLDEN: f64 = 0.618_033_988_749_895;
    let hue = (id as f64 * GOLDEN).fract();
    hsv_to_rgb(hue, 0.85, 0.95)
}

/// Colour of untracked detections: light grey, distinct from every saturated track colour.
pub const DETECTION_COLOR: Rgb8 = [220, 220, 220];

/// A detection overlapping a track's box by at least this IoU is that track's detection: it
/// gets no label of its own in drawn images (the track's label names it).
pub const TRACK_COVERS_DETECTION_IOU: f32 = 0.5;

/// The label of a track: `#id class score`.
pub fn track_label(track: &TrackOutput) -> String {
    format!("#{} {} {:.2}", track.id, track.label, track.score)
}

/// The label of a detection: `class score`.
pub fn detection_label(detection: &Detection) -> String {
    format!("{} {:.2}", detection.label, detection.score)
}

/// Whether one of `tracks` covers `detection` (IoU at least [`TRACK_COVERS_DETECTION_IOU`]).
pub fn covered_by_track(detection: &Detection, tracks: &[TrackOutput]) -> bool {
    tracks
        .iter()
        .any(|t| t.bbox.iou(&detection.bbox) >= TRACK_COVERS_DETECTION_IOU)
}

/// HSV (all in `[0, 1]`) to 8-bit RGB.
fn hsv_to_rgb(h: f64, s: f64, v: f64) -> Rgb8 {
    let h6 = (h.rem_euclid(1.0)) * 6.0;
    let sector = h6.floor();
    let f = h6 - sector;
    let (p, q, t) = (v * (1.0 - s), v * (1.0 - s * f), v * (1.0 - s * (1.0 - f)));
    let (r, g, b) = match sector as u32 {
        0 => (v, t, p),
        1 => (q, v, p),
        2 => (p, v, t),
        3 => (p, q, v),
        4 => (t, p, v),
        _ => (v, p, q),
    };
    let to8 = |c: f64| (c * 255.0).round().clamp(0.0, 255.0) as u8;
    [to8(r), to8(g), to8(b)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn track_colours_are_stable_and_neighbours_differ() {
        assert_eq!(track_color(7), track_color(7));
        for id in 1..200u64 {
            let (a, b) = (track_color(id), track_color(id + 1));
            let dist: i32 = a
                .iter()
                .zip(&b)
                .map(|(x, y)| (i32::from(*x) - i32::from(*y)).abs())
                .sum();
            assert!(dist > 60, "ids {id} and {} look alike: {a:?} {b:?}", id + 1);
            assert_ne!(a, DETECTION_COLOR);
        }
    }

    #[test]
    fn hsv_primaries() {
        assert_eq!(hsv_to_rgb(0.0, 1.0, 1.0), [255, 0, 0]);
        assert_eq!(hsv_to_rgb(1.0 / 3.0, 1.0, 1.0), [0, 255, 0]);
        assert_eq!(hsv_to_rgb(2.0 / 3.0, 1.0, 1.0), [0, 0, 255]);
        assert_eq!(hsv_to_rgb(0.5, 0.0, 0.5), [128, 128, 128]);
    }
}
