//! r2r messages to lookout values and back.
//!
//! Camera images are read from r2r's native (C) message, as rmw delivered it: the pixel bytes
//! are borrowed from the C sequence and decoded straight into the frame's RGB8 buffer, one copy
//! in all (r2r's typed messages would first copy them into a `Vec`). Outputs are built once as
//! lookout's `vision_msgs` values (the same builders `lookout replay` writes to MCAP, so the
//! geometry and labels are defined in one place) and copied field by field into r2r's types.
//!
//! Ground-plane objects (`ground.enabled`): `vision_msgs/Detection3DArray` and Autoware's
//! `TrackedObjects` are copied from [`crate::ground::outputs`]' builders (replay's MCAP holds
//! the same values); the `visualization_msgs/MarkerArray` of the scene topic is built here from
//! the same boxes (a cube and a label per object, in the track's colour). Calibration in:
//! `sensor_msgs/CameraInfo` and `tf2_msgs/TFMessage` become [`crate::msgs`] values for
//! [`super::calibration`]; a fixed-size array of the wrong length is an error, never a panic.

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

fn point_to_r2r(p: &msgs::Point) -> r2r::geometry_msgs::msg::Point {
    r2r::geometry_msgs::msg::Point {
        x: p.x,
        y: p.y,
        z: p.z,
    }
}

fn quaternion_to_r2r(q: &msgs::Quaternion) -> r2r::geometry_msgs::msg::Quaternion {
    r2r::geometry_msgs::msg::Quaternion {
        x: q.x,
        y: q.y,
        z: q.z,
        w: q.w,
    }
}

fn vector3_to_r2r(v: &msgs::Vector3) -> r2r::geometry_msgs::msg::Vector3 {
    r2r::geometry_msgs::msg::Vector3 {
        x: v.x,
        y: v.y,
        z: v.z,
    }
}

fn pose_to_r2r(p: &msgs::Pose) -> r2r::geometry_msgs::msg::Pose {
    r2r::geometry_msgs::msg::Pose {
        position: point_to_r2r(&p.position),
        orientation: quaternion_to_r2r(&p.orientation),
    }
}

fn twist_with_covariance_to_r2r(
    t: &msgs::TwistWithCovariance,
) -> r2r::geometry_msgs::msg::TwistWithCovariance {
    r2r::geometry_msgs::msg::TwistWithCovariance {
        twist: r2r::geometry_msgs::msg::Twist {
            linear: vector3_to_r2r(&t.twist.linear),
            angular: vector3_to_r2r(&t.twist.angular),
        },
        covariance: t.covariance.to_vec(),
    }
}

fn accel_with_covariance_to_r2r(
    t: &msgs::TwistWithCovariance,
) -> r2r::geometry_msgs::msg::AccelWithCovariance {
    r2r::geometry_msgs::msg::AccelWithCovariance {
        accel: r2r::geometry_msgs::msg::Accel {
            linear: vector3_to_r2r(&t.twist.linear),
            angular: vector3_to_r2r(&t.twist.angular),
        },
        covariance: t.covariance.to_vec(),
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

/// One `vision_msgs/msg/ObjectHypothesisWithPose` (of a 2D or a 3D detection), field by field.
fn hypothesis_to_r2r(
    r: &msgs::ObjectHypothesisWithPose,
) -> r2r::vision_msgs::msg::ObjectHypothesisWithPose {
    use r2r::vision_msgs::msg as vm;
    vm::ObjectHypothesisWithPose {
        hypothesis: vm::ObjectHypothesis {
            class_id: r.hypothesis.class_id.clone(),
            score: r.hypothesis.score,
        },
        pose: pose_with_covariance_to_r2r(&r.pose),
    }
}

/// One `vision_msgs/msg/Detection2D`, field by field.
pub fn detection_to_r2r(d: &msgs::Detection2D) -> r2r::vision_msgs::msg::Detection2D {
    use r2r::vision_msgs::msg as vm;
    vm::Detection2D {
        header: header_to_r2r(&d.header),
        results: d.results.iter().map(hypothesis_to_r2r).collect(),
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

/// `vision_msgs/msg/Detection3DArray`, field by field.
pub fn detection3d_array_to_r2r(
    a: &msgs::Detection3DArray,
) -> r2r::vision_msgs::msg::Detection3DArray {
    use r2r::vision_msgs::msg as vm;
    vm::Detection3DArray {
        header: header_to_r2r(&a.header),
        detections: a
            .detections
            .iter()
            .map(|d| vm::Detection3D {
                header: header_to_r2r(&d.header),
                results: d.results.iter().map(hypothesis_to_r2r).collect(),
                bbox: vm::BoundingBox3D {
                    center: pose_to_r2r(&d.bbox.center),
                    size: vector3_to_r2r(&d.bbox.size),
                },
                id: d.id.clone(),
            })
            .collect(),
    }
}

/// Autoware's `autoware_perception_msgs/msg/TrackedObjects`, field by field.
pub fn tracked_objects_to_r2r(
    t: &msgs::TrackedObjects,
) -> r2r::autoware_perception_msgs::msg::TrackedObjects {
    use r2r::autoware_perception_msgs::msg as am;
    am::TrackedObjects {
        header: header_to_r2r(&t.header),
        objects: t
            .objects
            .iter()
            .map(|o| am::TrackedObject {
                object_id: r2r::unique_identifier_msgs::msg::UUID {
                    uuid: o.object_id.uuid.to_vec(),
                },
                existence_probability: o.existence_probability,
                classification: o
                    .classification
                    .iter()
                    .map(|c| am::ObjectClassification {
                        label: c.label,
                        probability: c.probability,
                    })
                    .collect(),
                kinematics: am::TrackedObjectKinematics {
                    pose_with_covariance: pose_with_covariance_to_r2r(
                        &o.kinematics.pose_with_covariance,
                    ),
                    twist_with_covariance: twist_with_covariance_to_r2r(
                        &o.kinematics.twist_with_covariance,
                    ),
                    acceleration_with_covariance: accel_with_covariance_to_r2r(
                        &o.kinematics.acceleration_with_covariance,
                    ),
                    orientation_availability: o.kinematics.orientation_availability,
                    is_stationary: o.kinematics.is_stationary,
                },
                shape: am::Shape {
                    type_: o.shape.kind,
                    footprint: r2r::geometry_msgs::msg::Polygon {
                        points: o
                            .shape
                            .footprint
                            .points
                            .iter()
                            .map(|p| r2r::geometry_msgs::msg::Point32 {
                                x: p.x,
                                y: p.y,
                                z: p.z,
                            })
                            .collect(),
                    },
                    dimensions: vector3_to_r2r(&o.shape.dimensions),
                },
            })
            .collect(),
    }
}

/// `visualization_msgs/Marker` actions and types used here (the `.msg` constants).
const MARKER_CUBE: i32 = 1;
const MARKER_TEXT_VIEW_FACING: i32 = 9;
const MARKER_ADD: i32 = 0;
const MARKER_DELETEALL: i32 = 3;

/// The scene of one frame as `visualization_msgs/MarkerArray`, what RViz and Foxglove's 3D
/// panel draw: a `DELETEALL` first (the previous frame's objects go), then per object of
/// `boxes` (the frame's `Detection3DArray`) a cube of its box (namespace `objects`) and a label
/// `#id class speed m/s` above it (namespace `labels`), in the track's colour (as the debug
/// image draws it). `objects` gives the speeds: the frame's ground objects, of which `boxes`
/// lists those with a position, in order. Marker ids are the track ids modulo 2^31 - 1.
pub fn object_markers(
    boxes: &msgs::Detection3DArray,
    objects: &[crate::ground::GroundObject],
) -> r2r::visualization_msgs::msg::MarkerArray {
    use r2r::visualization_msgs::msg::{Marker, MarkerArray};
    let header = header_to_r2r(&boxes.header);
    let mut markers = Vec::with_capacity(1 + 2 * boxes.detections.len());
    markers.push(Marker {
        header: header.clone(),
        action: MARKER_DELETEALL,
        ..Marker::default()
    });
    let positioned = objects.iter().filter_map(|o| Some((o, o.ground.as_ref()?)));
    for (d, (o, g)) in boxes.detections.iter().zip(positioned) {
        let id = (o.id % i32::MAX as u64) as i32;
        let [r, gr, b] = crate::viz::track_color(o.id);
        let colour = |a: f32| r2r::std_msgs::msg::ColorRGBA {
            r: f32::from(r) / 255.0,
            g: f32::from(gr) / 255.0,
            b: f32::from(b) / 255.0,
            a,
        };
        let center = pose_to_r2r(&d.bbox.center);
        let mut label_pose = center.clone();
        label_pose.position.z = d.bbox.size.z + 0.3;
        let speed_mps = g.velocity_mps[0].hypot(g.velocity_mps[1]);
        markers.push(Marker {
            header: header.clone(),
            ns: "objects".into(),
            id,
            type_: MARKER_CUBE,
            action: MARKER_ADD,
            pose: center,
            scale: vector3_to_r2r(&d.bbox.size),
            color: colour(0.6),
            ..Marker::default()
        });
        markers.push(Marker {
            header: header.clone(),
            ns: "labels".into(),
            id,
            type_: MARKER_TEXT_VIEW_FACING,
            action: MARKER_ADD,
            pose: label_pose,
            // A text marker's height is scale.z, metres.
            scale: r2r::geometry_msgs::msg::Vector3 {
                x: 0.0,
                y: 0.0,
                z: 0.5,
            },
            color: colour(1.0),
            text: format!("#{} {} {:.1} m/s", o.id, o.label, speed_mps),
            ..Marker::default()
        });
    }
    MarkerArray { markers }
}

/// A fixed-size array of an r2r message (a `Vec` in r2r's types) as an array, or an error.
fn fixed<const N: usize>(
    v: &[f64],
    topic: &str,
    field: &'static str,
) -> Result<[f64; N], RosError> {
    v.try_into().map_err(|_| RosError::BadInput {
        topic: topic.to_owned(),
        field,
        message: format!("{} values, expected {N}", v.len()),
    })
}

/// `sensor_msgs/msg/CameraInfo` as lookout's value (for [`super::calibration`]).
pub fn camera_info_from_r2r(
    m: &r2r::sensor_msgs::msg::CameraInfo,
    topic: &str,
) -> Result<msgs::CameraInfo, RosError> {
    Ok(msgs::CameraInfo {
        header: header_from_r2r(&m.header),
        height: m.height,
        width: m.width,
        distortion_model: m.distortion_model.clone(),
        d: m.d.clone(),
        k: fixed(&m.k, topic, "sensor_msgs/msg/CameraInfo.k")?,
        r: fixed(&m.r, topic, "sensor_msgs/msg/CameraInfo.r")?,
        p: fixed(&m.p, topic, "sensor_msgs/msg/CameraInfo.p")?,
        binning_x: m.binning_x,
        binning_y: m.binning_y,
        roi: msgs::RegionOfInterest {
            x_offset: m.roi.x_offset,
            y_offset: m.roi.y_offset,
            height: m.roi.height,
            width: m.roi.width,
            do_rectify: m.roi.do_rectify,
        },
    })
}

/// `tf2_msgs/msg/TFMessage` as lookout's value (for [`super::calibration`]).
pub fn tf_message_from_r2r(m: &r2r::tf2_msgs::msg::TFMessage) -> msgs::TFMessage {
    msgs::TFMessage {
        transforms: m
            .transforms
            .iter()
            .map(|t| {
                let (v, q) = (&t.transform.translation, &t.transform.rotation);
                msgs::TransformStamped {
                    header: header_from_r2r(&t.header),
                    child_frame_id: t.child_frame_id.clone(),
                    transform: msgs::Transform {
                        translation: msgs::Vector3 {
                            x: v.x,
                            y: v.y,
                            z: v.z,
                        },
                        rotation: msgs::Quaternion {
                            x: q.x,
                            y: q.y,
                            z: q.z,
                            w: q.w,
                        },
                    },
                }
            })
            .collect(),
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

    fn ground_objects() -> Vec<crate::ground::GroundObject> {
        use crate::ground::{GroundObject, GroundState};
        let mut covariance = [[0.0; 4]; 4];
        for (i, row) in covariance.iter_mut().enumerate() {
            row[i] = 0.1 * (i + 1) as f64;
        }
        vec![
            GroundObject {
                id: 3,
                label: "car".into(),
                class_index: 2,
                score: 0.9,
                ground: Some(GroundState {
                    position_m: [12.0, -2.0],
                    velocity_mps: [3.0, 4.0],
                    covariance,
                    range_m: 12.2,
                }),
            },
            // Above the horizon: no position, no 3D output.
            GroundObject {
                id: 4,
                label: "pedestrian".into(),
                class_index: 0,
                score: 0.7,
                ground: None,
            },
            GroundObject {
                id: 9,
                label: "pedestrian".into(),
                class_index: 0,
                score: 0.6,
                ground: Some(GroundState {
                    position_m: [6.0, 1.0],
                    velocity_mps: [0.0, -1.0],
                    covariance,
                    range_m: 6.1,
                }),
            },
        ]
    }

    #[test]
    fn ground_objects_copy_every_field_into_r2r_messages() {
        use crate::ground::outputs;
        let header = outputs::base_header(&header(), "base_link");
        let objects = ground_objects();
        let boxes = outputs::detection3d_array(&header, &objects, [1.0, 0.0]);
        let r = detection3d_array_to_r2r(&boxes);
        assert_eq!(r.header.frame_id, "base_link");
        assert_eq!(r.header.stamp.sec, 1_700_000_000);
        assert_eq!(r.detections.len(), 2);
        for (ours, theirs) in boxes.detections.iter().zip(&r.detections) {
            assert_eq!(theirs.id, ours.id);
            assert_eq!(theirs.bbox.center.position.x, ours.bbox.center.position.x);
            assert_eq!(theirs.bbox.center.position.y, ours.bbox.center.position.y);
            assert_eq!(theirs.bbox.center.position.z, ours.bbox.center.position.z);
            assert_eq!(theirs.bbox.size.x, ours.bbox.size.x);
            assert_eq!(theirs.bbox.size.z, ours.bbox.size.z);
            let (a, b) = (&ours.results[0], &theirs.results[0]);
            assert_eq!(b.hypothesis.class_id, a.hypothesis.class_id);
            assert_eq!(b.hypothesis.score, a.hypothesis.score);
            assert_eq!(b.pose.covariance, a.pose.covariance.to_vec());
        }
        assert_eq!(r.detections[1].id, "9");

        let tracked = outputs::tracked_objects(&header, "/cam/image_raw", &objects, [1.0, 0.0]);
        let t = tracked_objects_to_r2r(&tracked);
        assert_eq!(t.objects.len(), 2);
        let (a, b) = (&tracked.objects[0], &t.objects[0]);
        assert_eq!(b.object_id.uuid, a.object_id.uuid.to_vec());
        assert_eq!(b.object_id.uuid.len(), 16);
        assert_eq!(b.classification[0].label, a.classification[0].label);
        assert_eq!(b.existence_probability, a.existence_probability);
        let k = &b.kinematics;
        assert_eq!(k.twist_with_covariance.twist.linear.x, 3.0);
        assert_eq!(k.twist_with_covariance.twist.linear.y, 4.0);
        assert_eq!(
            k.twist_with_covariance.covariance,
            a.kinematics.twist_with_covariance.covariance.to_vec()
        );
        assert_eq!(k.acceleration_with_covariance.covariance.len(), 36);
        assert_eq!(k.orientation_availability, 0);
        assert_eq!(b.shape.type_, a.shape.kind);
        assert_eq!(b.shape.dimensions.x, a.shape.dimensions.x);
        // The fixed-size arrays have their sizes: publishing would assert on them.
        let mut native =
            r2r::NativeMsg::<r2r::autoware_perception_msgs::msg::TrackedObjects>::new();
        t.copy_to_native(&mut native);
        let mut native3 = r2r::NativeMsg::<r2r::vision_msgs::msg::Detection3DArray>::new();
        r.copy_to_native(&mut native3);
    }

    #[test]
    fn markers_draw_a_cube_and_a_label_per_positioned_object() {
        use crate::ground::outputs;
        let header = outputs::base_header(&header(), "base_link");
        let objects = ground_objects();
        let boxes = outputs::detection3d_array(&header, &objects, [0.0, 0.0]);
        let m = object_markers(&boxes, &objects);
        assert_eq!(m.markers.len(), 1 + 2 * 2);
        assert_eq!(m.markers[0].action, MARKER_DELETEALL);
        let cube = &m.markers[1];
        assert_eq!(
            (cube.ns.as_str(), cube.id, cube.type_),
            ("objects", 3, MARKER_CUBE)
        );
        assert_eq!(cube.header.frame_id, "base_link");
        assert_eq!(
            cube.pose.position.x,
            boxes.detections[0].bbox.center.position.x
        );
        assert_eq!(cube.scale.x, 4.5, "a car's length");
        let label = &m.markers[2];
        assert_eq!(label.type_, MARKER_TEXT_VIEW_FACING);
        assert_eq!(label.text, "#3 car 5.0 m/s");
        assert_eq!(m.markers[4].text, "#9 pedestrian 1.0 m/s");
        assert_eq!(m.markers[3].id, 9);
        assert!(cube.color.a > 0.0 && label.color.a == 1.0);
    }

    #[test]
    fn camera_info_and_tf_messages_become_lookout_values() {
        let mut info = r2r::sensor_msgs::msg::CameraInfo {
            header: header_to_r2r(&header()),
            height: 480,
            width: 640,
            distortion_model: "plumb_bob".into(),
            d: vec![0.1, 0.0, 0.0, 0.0, 0.0],
            k: vec![500.0, 0.0, 320.0, 0.0, 500.0, 240.0, 0.0, 0.0, 1.0],
            r: vec![1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0],
            p: vec![
                500.0, 0.0, 320.0, 0.0, 0.0, 500.0, 240.0, 0.0, 0.0, 0.0, 1.0, 0.0,
            ],
            ..Default::default()
        };
        let ours = camera_info_from_r2r(&info, "/cam/camera_info").unwrap();
        assert_eq!(ours.header, header());
        assert_eq!((ours.width, ours.height), (640, 480));
        assert_eq!(ours.k[2], 320.0);
        assert_eq!(ours.p[5], 500.0);
        assert_eq!(ours.d, info.d);
        info.k.pop();
        let e = camera_info_from_r2r(&info, "/cam/camera_info")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("/cam/camera_info") && e.contains("CameraInfo.k"),
            "{e}"
        );

        let tf = r2r::tf2_msgs::msg::TFMessage {
            transforms: vec![r2r::geometry_msgs::msg::TransformStamped {
                header: header_to_r2r(&header()),
                child_frame_id: "cam_optical".into(),
                transform: r2r::geometry_msgs::msg::Transform {
                    translation: r2r::geometry_msgs::msg::Vector3 {
                        x: 1.0,
                        y: 2.0,
                        z: 3.0,
                    },
                    rotation: r2r::geometry_msgs::msg::Quaternion {
                        x: 0.0,
                        y: 0.0,
                        z: 0.0,
                        w: 1.0,
                    },
                },
            }],
        };
        let t = tf_message_from_r2r(&tf);
        assert_eq!(t.transforms[0].header.frame_id, "cam");
        assert_eq!(t.transforms[0].child_frame_id, "cam_optical");
        assert_eq!(t.transforms[0].transform.translation.y, 2.0);
        assert_eq!(t.transforms[0].transform.rotation.w, 1.0);
    }

    #[test]
    fn corrupt_jpeg_is_an_error_naming_the_topic() {
        let e = image_from_compressed("jpeg", &[0xff, 0xd8, 0xff, 0x00, 1, 2], "/c", MAX)
            .unwrap_err()
            .to_string();
        assert!(e.contains("/c") && e.contains("CompressedImage"), "{e}");
    }
}
