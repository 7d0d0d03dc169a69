//! r2r messages to lookout values and back.
//!
//! Camera images are read from r2r's native (C) message, as rmw delivered it: the pixel bytes
//! are borrowed from the C sequence and decoded straight into the frame's RGB8 buffer, one copy
//! in all (r2r's typed messages would first copy them into a `Vec`). Outputs are built once as
//! lookout's `vision_msgs` values (the same builders `lookout replay` writes to MCAP, so the
//! geometry and labels are defined in one place) and copied field by field into r2r's types.

use r2r::WrappedTypesupport;

use super::RosError;
use crate::image_codec::{self, ImageError, RawImageRef};
use crate::msgs;
use crate::types::{Header, RgbImage, Time};

type NativeImage = <r2r::sensor_msgs::msg::Image as WrappedTypesupport>::CStruct;
type NativeHeader = <r2r::std_msgs::msg::Header as WrappedTypesupport>::CStruct;

/// Copies a rosidl C string (possibly null) into a Rust string; invalid UTF-8 is replaced.
macro_rules! c_string {
    ($s:expr) => {{
        let s = &$s;
        if s.data.is_null() || s.size == 0 {
            String::new()
        } else {
            // SAFETY: rosidl strings own `size` initialised bytes at `data` (plus a NUL), and
            // the message they belong to outlives this borrow.
            let bytes = unsafe { std::slice::from_raw_parts(s.data as *const u8, s.size) };
            String::from_utf8_lossy(bytes).into_owned()
        }
    }};
}

/// The header of a native message.
pub fn header_from_native(h: &NativeHeader) -> Header {
    Header {
        stamp: Time {
            sec: h.stamp.sec,
            nanosec: h.stamp.nanosec,
        },
        frame_id: c_string!(h.frame_id),
    }
}

/// Decodes the pixels of a native `sensor_msgs/msg/Image` to RGB8 (the header:
/// [`header_from_native`]), refusing more than `max_pixels` (`input.max_pixels`) before any
/// pixel is touched; errors name the topic and the field.
pub fn image_from_native(
    msg: &NativeImage,
    topic: &str,
    max_pixels: u64,
) -> Result<RgbImage, RosError> {
    let encoding = c_string!(msg.encoding);
    let data: &[u8] = if msg.data.data.is_null() || msg.data.size == 0 {
        &[]
    } else {
        // SAFETY: a rosidl uint8 sequence holds `size` initialised bytes at `data`; the native
        // message is borrowed for the whole call, so the bytes stay alive and unchanged.
        unsafe { std::slice::from_raw_parts(msg.data.data, msg.data.size) }
    };
    image_codec::decode_raw_limited(
        RawImageRef {
            encoding: &encoding,
            width: msg.width,
            height: msg.height,
            step: msg.step,
            is_bigendian: msg.is_bigendian != 0,
            data,
        },
        max_pixels,
    )
    .map_err(|e| bad_input(topic, "sensor_msgs/msg/Image", e))
}

/// Decodes the payload of a `sensor_msgs/msg/CompressedImage`, refusing more than `max_pixels`
/// (read from the JPEG/PNG header before decoding).
pub fn image_from_compressed(
    format: &str,
    data: &[u8],
    topic: &str,
    max_pixels: u64,
) -> Result<RgbImage, RosError> {
    image_codec::decode_compressed_limited(format, data, max_pixels)
        .map_err(|e| bad_input(topic, "sensor_msgs/msg/CompressedImage", e))
}

fn bad_input(topic: &str, field: &'static str, e: ImageError) -> RosError {
    RosError::BadInput {
        topic: topic.to_owned(),
        field,
        message: e.to_string(),
    }
}

pub fn header_from_r2r(h: &r2r::std_msgs::msg::Header) -> Header {
    Header {
        stamp: Time {
            sec: h.stamp.sec,
            nanosec: h.stamp.nanosec,
        },
        frame_id: h.frame_id.clone(),
    }
}

pub fn header_to_r2r(h: &Header) -> r2r::std_msgs::msg::Header {
    r2r::std_msgs::msg::Header {
        stamp: r2r::builtin_interfaces::msg::Time {
            sec: h.stamp.sec,
            nanosec: h.stamp.nanosec,
        },
        frame_id: h.frame_id.clone(),
    }
}

fn pose_with_covariance_to_r2r(
    p: &msgs::PoseWithCovariance,
) -> r2r::geometry_msgs::msg::PoseWithCovariance {
    use r2r::geometry_msgs::msg::{Point, Pose, Quaternion};
    r2r::geometry_msgs::msg::PoseWithCovariance {
        pose: Pose {
            position: Point {
                x: p.pose.position.x,
                y: p.pose.position.y,
                z: p.pose.position.z,
            },
            orientation: Quaternion {
                x: p.pose.orientation.x,
                y: p.pose.orientation.y,
                z: p.pose.orientation.z,
                w: p.pose.orientation.w,
            },
        },
        covariance: p.covariance.to_vec(),
    }
}

/// One `vision_msgs/msg/Detection2D`, field by field.
pub fn detection_to_r2r(d: &msgs::Detection2D) -> r2r::vision_msgs::msg::Detection2D {
    use r2r::vision_msgs::msg as vm;
    vm::Detection2D {
        header: header_to_r2r(&d.header),
        results: d
            .results
            .iter()
            .map(|r| vm::ObjectHypothesisWithPose {
                hypothesis: vm::ObjectHypothesis {
                    class_id: r.hypothesis.class_id.clone(),
                    score: r.hypothesis.score,
                },
                pose: pose_with_covariance_to_r2r(&r.pose),
            })
            .collect(),
        bbox: vm::BoundingBox2D {
            center: vm::Pose2D {
                position: vm::Point2D {
                    x: d.bbox.center.position.x,
                    y: d.bbox.center.position.y,
                },
                theta: d.bbox.center.theta,
            },
            size_x: d.bbox.size_x,
            size_y: d.bbox.size_y,
        },
        id: d.id.clone(),
    }
}

/// `vision_msgs/msg/Detection2DArray`, field by field.
pub fn detection_array_to_r2r(
    a: &msgs::Detection2DArray,
) -> r2r::vision_msgs::msg::Detection2DArray {
    r2r::vision_msgs::msg::Detection2DArray {
        header: header_to_r2r(&a.header),
        detections: a.detections.iter().map(detection_to_r2r).collect(),
    }
}

/// An RGB8 image as `sensor_msgs/msg/Image` (`rgb8`, no row padding); takes the pixels.
pub fn image_to_r2r(header: &Header, image: RgbImage) -> r2r::sensor_msgs::msg::Image {
    r2r::sensor_msgs::msg::Image {
        header: header_to_r2r(header),
        height: image.height,
        width: image.width,
        encoding: "rgb8".into(),
        is_bigendian: 0,
        step: image.width * 3,
        data: image.data,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::BBox;

    fn header() -> Header {
        Header {
            stamp: Time {
                sec: 1_700_000_000,
                nanosec: 5,
            },
            frame_id: "cam".into(),
        }
    }

    #[test]
    fn detection_array_copies_every_field() {
        let d = crate::types::Detection {
            bbox: BBox {
                x_min: 10.0,
                y_min: 20.0,
                x_max: 50.0,
                y_max: 100.0,
            },
            class_index: 0,
            label: "pedestrian".into(),
            score: 0.75,
        };
        let mirror = msgs::Detection2DArray::from_detections(&header(), &[d]);
        let r = detection_array_to_r2r(&mirror);
        assert_eq!(r.header.stamp.sec, 1_700_000_000);
        assert_eq!(r.header.stamp.nanosec, 5);
        assert_eq!(r.header.frame_id, "cam");
        let det = &r.detections[0];
        assert_eq!(det.bbox.center.position.x, 30.0);
        assert_eq!(det.bbox.center.position.y, 60.0);
        assert_eq!(det.bbox.size_x, 40.0);
        assert_eq!(det.bbox.size_y, 80.0);
        assert_eq!(det.results[0].hypothesis.class_id, "pedestrian");
        assert_eq!(det.results[0].hypothesis.score, 0.75);
        assert_eq!(det.results[0].pose.covariance.len(), 36);
        assert_eq!(det.results[0].pose.pose.orientation.w, 1.0);
        assert_eq!(det.header.frame_id, "cam");
        assert_eq!(header_from_r2r(&r.header), header());
    }

    const MAX: u64 = image_codec::DEFAULT_MAX_PIXELS;

    #[test]
    fn native_image_decodes_and_reports_bad_fields() {
        let mut native = r2r::NativeMsg::<r2r::sensor_msgs::msg::Image>::new();
        let msg = r2r::sensor_msgs::msg::Image {
            header: header_to_r2r(&header()),
            height: 2,
            width: 2,
            encoding: "bgr8".into(),
            is_bigendian: 0,
            step: 6,
            data: vec![1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12],
        };
        msg.copy_to_native(&mut native);
        let img = image_from_native(&native, "/cam/image_raw", MAX).unwrap();
        assert_eq!(header_from_native(&native.header), header());
        assert_eq!(img.pixel(0, 0), Some([3, 2, 1]));
        assert_eq!(img.pixel(1, 1), Some([12, 11, 10]));
        // Over the pixel limit (`input.max_pixels`): refused from the size fields.
        let e = image_from_native(&native, "/cam/image_raw", 3)
            .unwrap_err()
            .to_string();
        assert!(e.contains("/cam/image_raw") && e.contains("pixel"), "{e}");

        let mut short = msg.clone();
        short.data.pop();
        short.copy_to_native(&mut native);
        let e = image_from_native(&native, "/cam/image_raw", MAX)
            .unwrap_err()
            .to_string();
        assert!(e.contains("/cam/image_raw") && e.contains("data"), "{e}");

        let mut unknown = msg;
        unknown.encoding = "rgb42".into();
        unknown.copy_to_native(&mut native);
        let e = image_from_native(&native, "/cam/image_raw", MAX)
            .unwrap_err()
            .to_string();
        assert!(e.contains("rgb42"), "{e}");
    }

    #[test]
    fn corrupt_jpeg_is_an_error_naming_the_topic() {
        let e = image_from_compressed("jpeg", &[0xff, 0xd8, 0xff, 0x00, 1, 2], "/c", MAX)
            .unwrap_err()
            .to_string();
        assert!(e.contains("/c") && e.contains("CompressedImage"), "{e}");
    }
}
