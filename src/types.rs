//! The plain values that flow between lookout's stages.
//!
//! Coordinates: a [`BBox`] is always axis-aligned corners `(x_min, y_min, x_max, y_max)` in
//! pixels of *some* image; which image is part of the name of the variable or field holding it
//! (`bbox_image`, `bbox_model`). [`Detection::bbox`] is in the source image's pixels.

use serde::{Deserialize, Serialize};

/// A ROS 2 `builtin_interfaces/msg/Time`: seconds and nanoseconds since the epoch of its clock.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
pub struct Time {
    pub sec: i32,
    pub nanosec: u32,
}

impl Time {
    /// Nanoseconds since the clock's epoch.
    pub fn as_ns(&self) -> i64 {
        i64::from(self.sec) * 1_000_000_000 + i64::from(self.nanosec)
    }

    /// From nanoseconds since the clock's epoch (negative values round towards minus infinity).
    pub fn from_ns(ns: i64) -> Self {
        let sec = ns.div_euclid(1_000_000_000);
        let nanosec = ns.rem_euclid(1_000_000_000);
        // sec fits i32 until 2038; saturate rather than wrap beyond it.
        Self {
            sec: i32::try_from(sec).unwrap_or(if sec < 0 { i32::MIN } else { i32::MAX }),
            nanosec: nanosec as u32,
        }
    }

    /// Seconds since the clock's epoch as a float (for `dt` computations).
    pub fn as_secs_f64(&self) -> f64 {
        f64::from(self.sec) + f64::from(self.nanosec) * 1e-9
    }
}

/// A ROS 2 `std_msgs/msg/Header`: when and in which optical frame an image was taken.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Header {
    pub stamp: Time,
    pub frame_id: String,
}

/// A packed 8-bit RGB image, rows of exactly `3 * width` bytes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RgbImage {
    pub width: u32,
    pub height: u32,
    pub data: Vec<u8>,
}

impl RgbImage {
    /// A black image of the given size.
    pub fn new(width: u32, height: u32) -> Self {
        Self {
            width,
            height,
            data: vec![0; width as usize * height as usize * 3],
        }
    }

    /// The RGB triple at `(x, y)`; `None` outside the image.
    pub fn pixel(&self, x: u32, y: u32) -> Option<[u8; 3]> {
        if x >= self.width || y >= self.height {
            return None;
        }
        let i = (y as usize * self.width as usize + x as usize) * 3;
        Some([self.data[i], self.data[i + 1], self.data[i + 2]])
    }
}

/// One camera image on its way through the pipeline, with the time and frame it belongs to.
#[derive(Debug, Clone)]
pub struct Frame {
    /// The camera stream this frame came from (the input topic name).
    pub stream: String,
    /// Position of this frame in its stream, from 0 (message order in a recording).
    pub index: u64,
    /// The source message's header: stamp and `frame_id` travel with the frame to every output.
    pub header: Header,
    pub image: RgbImage,
}

/// An axis-aligned box by its corners, in pixels.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct BBox {
    pub x_min: f32,
    pub y_min: f32,
    pub x_max: f32,
    pub y_max: f32,
}

impl BBox {
    pub fn from_center(cx: f32, cy: f32, w: f32, h: f32) -> Self {
        Self {
            x_min: cx - w / 2.0,
            y_min: cy - h / 2.0,
            x_max: cx + w / 2.0,
            y_max: cy + h / 2.0,
        }
    }
    /// From MOTChallenge's top-left corner and size.
    pub fn from_tlwh(x: f32, y: f32, w: f32, h: f32) -> Self {
        Self {
            x_min: x,
            y_min: y,
            x_max: x + w,
            y_max: y + h,
        }
    }
    pub fn width(&self) -> f32 {
        self.x_max - self.x_min
    }
    pub fn height(&self) -> f32 {
        self.y_max - self.y_min
    }
    pub fn center(&self) -> (f32, f32) {
        (
            (self.x_min + self.x_max) / 2.0,
            (self.y_min + self.y_max) / 2.0,
        )
    }
    /// Area, zero for degenerate boxes.
    pub fn area(&self) -> f32 {
        self.width().max(0.0) * self.height().max(0.0)
    }
    /// Intersection over union; 0 when both boxes are empty.
    pub fn iou(&self, other: &BBox) -> f32 {
        let w = (self.x_max.min(other.x_max) - self.x_min.max(other.x_min)).max(0.0);
        let h = (self.y_max.min(other.y_max) - self.y_min.max(other.y_min)).max(0.0);
        let inter = w * h;
        let union = self.area() + other.area() - inter;
        if union <= 0.0 {
            0.0
        } else {
            inter / union
        }
    }
    /// The box clipped to `[0, width] x [0, height]`.
    pub fn clip(&self, width: f32, height: f32) -> Self {
        Self {
            x_min: self.x_min.clamp(0.0, width),
            y_min: self.y_min.clamp(0.0, height),
            x_max: self.x_max.clamp(0.0, width),
            y_max: self.y_max.clamp(0.0, height),
        }
    }
}

/// One detected object in one frame.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Detection {
    /// Corners in the source image's pixels.
    pub bbox: BBox,
    /// Index of the class in the model's label list (COCO for the shipped models).
    pub class_index: usize,
    /// Output class name after the configured mapping (e.g. COCO `person` -> `pedestrian`).
    pub label: String,
    /// Confidence in [0, 1]: objectness times class probability.
    pub score: f32,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_roundtrip_ns() {
        for ns in [
            0i64,
            1,
            999_999_999,
            1_000_000_000,
            1_700_000_000_123_456_789,
            -1,
        ] {
            assert_eq!(Time::from_ns(ns).as_ns(), ns);
        }
        assert_eq!(
            Time::from_ns(-1),
            Time {
                sec: -1,
                nanosec: 999_999_999
            }
        );
    }

    #[test]
    fn iou_known_values() {
        let a = BBox::from_tlwh(0.0, 0.0, 10.0, 10.0);
        let b = BBox::from_tlwh(5.0, 0.0, 10.0, 10.0);
        assert!((a.iou(&b) - 50.0 / 150.0).abs() < 1e-6);
        assert_eq!(a.iou(&a), 1.0);
        let far = BBox::from_tlwh(100.0, 100.0, 1.0, 1.0);
        assert_eq!(a.iou(&far), 0.0);
        let empty = BBox::default();
        assert_eq!(empty.iou(&empty), 0.0);
    }
}
