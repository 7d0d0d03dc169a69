//! Boxes as Foxglove image annotations: one `foxglove.ImageAnnotations` message per image, in
//! `json` message encoding with a `jsonschema` schema, so Foxglove overlays them on the camera
//! image (Image panel, "Image annotations" setting) with no extra setup or plugin.
//!
//! Layout follows Foxglove's published message definition (foxglove/schemas,
//! `ImageAnnotations`, `PointsAnnotation`, `TextAnnotation`, `Point2`, `Color`, `Time`):
//! - `timestamp` is the image's header stamp as `{sec, nsec}` (Foxglove matches annotations to
//!   the image by it);
//! - every box is a `PointsAnnotation` of type `LINE_LOOP` (2) with its 4 corners in the
//!   image's pixels, clockwise from the top-left: `(x_min, y_min), (x_max, y_min),
//!   (x_max, y_max), (x_min, y_max)`;
//! - `points` holds the detections first (thin, [`super::DETECTION_COLOR`]), in the order of
//!   the `detections` Detection2DArray, then the tracks (thicker, [`super::track_color`] of the
//!   id), in the order of the `tracks` Detection2DArray;
//! - `labels` holds one `TextAnnotation` per track (`#id label score`, above the box) and one
//!   per detection (`label score`, inside the bottom-left corner), in the same orders.
//!
//! Colours are RGBA in `[0, 1]`. The JSON Schema below is written for lookout from that
//! definition (same field names and types), not copied from Foxglove's files.

use serde::Serialize;

use super::Rgb8;
use crate::track::TrackOutput;
use crate::types::{BBox, Detection, Header};

/// Schema name Foxglove recognises.
pub const IMAGE_ANNOTATIONS_SCHEMA_NAME: &str = "foxglove.ImageAnnotations";

/// `PointsAnnotationType::LINE_LOOP`: a closed polygon.
pub const LINE_LOOP: u8 = 2;

/// Stroke width of detection boxes, px.
pub const DETECTION_THICKNESS_PX: f64 = 1.0;
/// Stroke width of track boxes, px.
pub const TRACK_THICKNESS_PX: f64 = 2.0;
/// Label font size, px.
pub const FONT_SIZE_PX: f64 = 12.0;

/// JSON Schema (draft 2020-12) of `foxglove.ImageAnnotations` as lookout writes it.
pub const IMAGE_ANNOTATIONS_JSON_SCHEMA: &str = r##"{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "title": "foxglove.ImageAnnotations",
  "description": "Annotations for a 2D image (Foxglove message definition), written by lookout",
  "type": "object",
  "$defs": {
    "time": {
      "type": "object",
      "required": ["sec", "nsec"],
      "properties": {
        "sec": {"type": "integer", "minimum": 0},
        "nsec": {"type": "integer", "minimum": 0, "maximum": 999999999}
      }
    },
    "point2": {
      "type": "object",
      "required": ["x", "y"],
      "description": "image pixels",
      "properties": {"x": {"type": "number"}, "y": {"type": "number"}}
    },
    "color": {
      "type": "object",
      "required": ["r", "g", "b", "a"],
      "properties": {
        "r": {"type": "number", "minimum": 0, "maximum": 1},
        "g": {"type": "number", "minimum": 0, "maximum": 1},
        "b": {"type": "number", "minimum": 0, "maximum": 1},
        "a": {"type": "number", "minimum": 0, "maximum": 1}
      }
    }
  },
  "properties": {
    "circles": {"type": "array", "items": {"type": "object"}},
    "points": {
      "type": "array",
      "items": {
        "title": "foxglove.PointsAnnotation",
        "type": "object",
        "required": ["timestamp", "type", "points", "outline_color", "outline_colors", "fill_color", "thickness"],
        "properties": {
          "timestamp": {"$ref": "#/$defs/time"},
          "type": {"description": "0 UNKNOWN, 1 POINTS, 2 LINE_LOOP, 3 LINE_STRIP, 4 LINE_LIST", "enum": [0, 1, 2, 3, 4]},
          "points": {"type": "array", "items": {"$ref": "#/$defs/point2"}},
          "outline_color": {"$ref": "#/$defs/color"},
          "outline_colors": {"type": "array", "items": {"$ref": "#/$defs/color"}},
          "fill_color": {"$ref": "#/$defs/color"},
          "thickness": {"type": "number", "description": "stroke width, px"}
        }
      }
    },
    "labels": {
      "type": "array",
      "items": {
        "title": "foxglove.TextAnnotation",
        "type": "object",
        "required": ["timestamp", "position", "text", "font_size", "text_color", "background_color"],
        "properties": {
          "timestamp": {"$ref": "#/$defs/time"},
          "position": {"$ref": "#/$defs/point2"},
          "text": {"type": "string"},
          "font_size": {"type": "number", "description": "px"},
          "text_color": {"$ref": "#/$defs/color"},
          "background_color": {"$ref": "#/$defs/color"}
        }
      }
    }
  }
}
"##;

/// `foxglove.Time`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct FoxgloveTime {
    pub sec: u32,
    pub nsec: u32,
}

/// `foxglove.Point2`, image pixels.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Point2 {
    pub x: f64,
    pub y: f64,
}

/// `foxglove.Color`, RGBA in `[0, 1]`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Color {
    pub r: f64,
    pub g: f64,
    pub b: f64,
    pub a: f64,
}

impl Color {
    pub fn from_rgb8(rgb: Rgb8, a: f64) -> Self {
        let c = |v: u8| f64::from(v) / 255.0;
        Self {
            r: c(rgb[0]),
            g: c(rgb[1]),
            b: c(rgb[2]),
            a,
        }
    }
}

/// `foxglove.PointsAnnotation`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PointsAnnotation {
    pub timestamp: FoxgloveTime,
    #[serde(rename = "type")]
    pub kind: u8,
    pub points: Vec<Point2>,
    pub outline_color: Color,
    pub outline_colors: Vec<Color>,
    pub fill_color: Color,
    pub thickness: f64,
}

/// `foxglove.TextAnnotation`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TextAnnotation {
    pub timestamp: FoxgloveTime,
    pub position: Point2,
    pub text: String,
    pub font_size: f64,
    pub text_color: Color,
    pub background_color: Color,
}

/// `foxglove.ImageAnnotations`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ImageAnnotations {
    pub circles: Vec<serde_json::Value>,
    pub points: Vec<PointsAnnotation>,
    pub labels: Vec<TextAnnotation>,
}

/// The header stamp as Foxglove time. Foxglove times are unsigned; a stamp before the clock's
/// epoch (never produced by a real camera) is clamped to 0.
pub fn foxglove_time(header: &Header) -> FoxgloveTime {
    FoxgloveTime {
        sec: u32::try_from(header.stamp.sec).unwrap_or(0),
        nsec: header.stamp.nanosec,
    }
}

/// The 4 corners of a box, clockwise from the top-left, as f64 pixels.
pub fn box_corners(bbox: &BBox) -> Vec<Point2> {
    let (x0, y0) = (f64::from(bbox.x_min), f64::from(bbox.y_min));
    let (x1, y1) = (f64::from(bbox.x_max), f64::from(bbox.y_max));
    vec![
        Point2 { x: x0, y: y0 },
        Point2 { x: x1, y: y0 },
        Point2 { x: x1, y: y1 },
        Point2 { x: x0, y: y1 },
    ]
}

/// Annotations of one image: its detections and (when given) its tracks.
pub fn image_annotations(
    header: &Header,
    detections: &[Detection],
    tracks: &[TrackOutput],
) -> ImageAnnotations {
    let timestamp = foxglove_time(header);
    let transparent = Color {
        r: 0.0,
        g: 0.0,
        b: 0.0,
        a: 0.0,
    };
    let backdrop = Color {
        r: 0.0,
        g: 0.0,
        b: 0.0,
        a: 0.6,
    };
    let rect = |bbox: &BBox, colour: Color, thickness: f64| PointsAnnotation {
        timestamp,
        kind: LINE_LOOP,
        points: box_corners(bbox),
        outline_color: colour,
        outline_colors: Vec::new(),
        fill_color: transparent,
        thickness,
    };
    let text = |x: f32, y: f32, text: String, colour: Color| TextAnnotation {
        timestamp,
        position: Point2 {
            x: f64::from(x),
            y: f64::from(y),
        },
        text,
        font_size: FONT_SIZE_PX,
        text_color: colour,
        background_color: backdrop,
    };
    let det_colour = Color::from_rgb8(super::DETECTION_COLOR, 1.0);
    let mut points = Vec::with_capacity(detections.len() + tracks.len());
    let mut labels = Vec::with_capacity(detections.len() + tracks.len());
    for d in detections {
        points.push(rect(&d.bbox, det_colour, DETECTION_THICKNESS_PX));
        labels.push(text(
            d.bbox.x_min,
            d.bbox.y_max,
            super::detection_label(d),
            det_colour,
        ));
    }
    for t in tracks {
        let colour = Color::from_rgb8(super::track_color(t.id), 1.0);
        points.push(rect(&t.bbox, colour, TRACK_THICKNESS_PX));
        labels.push(text(
            t.bbox.x_min,
            t.bbox.y_min - FONT_SIZE_PX as f32,
            super::track_label(t),
            colour,
        ));
    }
    ImageAnnotations {
        circles: Vec::new(),
        points,
        labels,
    }
}

/// The JSON bytes of one image's annotations (one line, no trailing newline).
pub fn image_annotations_json(
    header: &Header,
    detections: &[Detection],
    tracks: &[TrackOutput],
) -> Result<Vec<u8>, serde_json::Error> {
    serde_json::to_vec(&image_annotations(header, detections, tracks))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::track::TrackState;
    use crate::types::Time;

    fn header() -> Header {
        Header {
            stamp: Time {
                sec: 12,
                nanosec: 345,
            },
            frame_id: "cam".into(),
        }
    }

    fn track(id: u64, bbox: BBox) -> TrackOutput {
        TrackOutput {
            id,
            label: "pedestrian".into(),
            class_index: 0,
            score: 0.75,
            state: TrackState::Confirmed,
            age_s: 1.0,
            hits: 3,
            time_since_update_s: 0.0,
            bbox,
            velocity_px_per_s: [0.0, 0.0],
            bbox_covariance: [[0.0; 4]; 4],
            observed_bbox: None,
        }
    }

    #[test]
    fn boxes_become_line_loops_with_corners_in_pixels() {
        let det = Detection {
            bbox: BBox::from_tlwh(10.0, 20.0, 30.0, 40.0),
            class_index: 2,
            label: "car".into(),
            score: 0.5,
        };
        let a = image_annotations(
            &header(),
            &[det],
            &[track(3, BBox::from_tlwh(1.0, 2.0, 3.0, 4.0))],
        );
        assert_eq!(a.points.len(), 2);
        let p = &a.points[0];
        assert_eq!(p.kind, LINE_LOOP);
        assert_eq!(p.timestamp, FoxgloveTime { sec: 12, nsec: 345 });
        let xy: Vec<(f64, f64)> = p.points.iter().map(|q| (q.x, q.y)).collect();
        assert_eq!(
            xy,
            vec![(10.0, 20.0), (40.0, 20.0), (40.0, 60.0), (10.0, 60.0)]
        );
        assert_eq!(a.points[1].points[2], Point2 { x: 4.0, y: 6.0 });
        assert_eq!(
            a.points[1].outline_color,
            Color::from_rgb8(crate::viz::track_color(3), 1.0)
        );
        assert_eq!(a.labels[0].text, "car 0.50");
        assert_eq!(a.labels[1].text, "#3 pedestrian 0.75");
    }

    #[test]
    fn json_uses_foxglove_field_names() {
        let bytes = image_annotations_json(
            &header(),
            &[],
            &[track(1, BBox::from_tlwh(0.0, 0.0, 1.0, 1.0))],
        )
        .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(v["points"][0]["type"], 2);
        assert_eq!(v["points"][0]["timestamp"]["nsec"], 345);
        assert!(v["points"][0]["outline_color"]["a"].is_number());
        assert_eq!(v["labels"][0]["font_size"], FONT_SIZE_PX);
        assert!(v["circles"].as_array().unwrap().is_empty());
        // The schema itself is valid JSON.
        let schema: serde_json::Value =
            serde_json::from_str(IMAGE_ANNOTATIONS_JSON_SCHEMA).unwrap();
        assert_eq!(schema["title"], IMAGE_ANNOTATIONS_SCHEMA_NAME);
    }
}
