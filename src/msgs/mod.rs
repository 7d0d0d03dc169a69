//! ROS 2 (Jazzy) messages as serde structs, their CDR encoding and their `ros2msg` definitions,
//! so that MCAP replay reads and writes ROS 2 data without a ROS install.
//!
//! Each struct mirrors its `.msg` file field by field, in declaration order, because CDR is
//! positional: the field order *is* the wire format. `builtin_interfaces/Time` and
//! `std_msgs/Header` are [`crate::types::Time`] and [`crate::types::Header`].
//!
//! * [`cdr`]: [`to_cdr`] / [`from_cdr`] with the 4-byte encapsulation header.
//! * [`definitions`]: the full definition text rosbag2 stores in an MCAP schema record.
//! * [`RosMessage`]: ties a struct to its schema name (`sensor_msgs/msg/Image`) and definition.
//!
//! Sources: `common_interfaces` (std_msgs, sensor_msgs, geometry_msgs 5.3.x, Jazzy),
//! `rcl_interfaces/builtin_interfaces`, `vision_msgs` 4.1.x (ros2 branch, Jazzy),
//! `tf2_msgs`, `unique_identifier_msgs` and Autoware's `autoware_perception_msgs` (autoware_msgs
//! 1.x).

pub mod cdr;
pub mod definitions;

pub use crate::types::{Header, Time};
pub use cdr::{from_cdr, to_cdr, to_cdr_with_capacity, CdrError};

use serde::{de::DeserializeOwned, Deserialize, Serialize};

/// A ROS 2 message type lookout reads or writes.
pub trait RosMessage: Serialize + DeserializeOwned {
    /// The type name as rosbag2 stores it in a schema record, e.g. `sensor_msgs/msg/Image`.
    const SCHEMA_NAME: &'static str;

    /// The `ros2msg` schema text: this type's definition followed by every dependency's.
    fn definition() -> String {
        definitions::full_definition(Self::SCHEMA_NAME)
    }
}

/// `sensor_msgs/msg/Image`: an uncompressed image, rows of `step` bytes.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Image {
    pub header: Header,
    pub height: u32,
    pub width: u32,
    /// Pixel layout, e.g. `rgb8`, `bgr8`, `mono16`, `bayer_rggb8` (sensor_msgs/image_encodings.hpp).
    pub encoding: String,
    /// Non-zero when multi-byte pixels are big-endian.
    pub is_bigendian: u8,
    /// Bytes per row, at least `width * bytes_per_pixel`; extra bytes are padding.
    pub step: u32,
    /// `uint8[]`, (de)serialized as one byte string rather than element by element.
    #[serde(with = "serde_bytes")]
    pub data: Vec<u8>,
}

impl RosMessage for Image {
    const SCHEMA_NAME: &'static str = "sensor_msgs/msg/Image";
}

/// `sensor_msgs/msg/CompressedImage`: a JPEG or PNG image.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct CompressedImage {
    pub header: Header,
    /// `jpeg`, `png`, or image_transport's `rgb8; jpeg compressed bgr8` style.
    pub format: String,
    #[serde(with = "serde_bytes")]
    pub data: Vec<u8>,
}

impl RosMessage for CompressedImage {
    const SCHEMA_NAME: &'static str = "sensor_msgs/msg/CompressedImage";
}

/// `geometry_msgs/msg/Point`.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Point {
    pub x: f64,
    pub y: f64,
    pub z: f64,
}

/// `geometry_msgs/msg/Quaternion` (the `.msg` defaults to the identity, `w = 1`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Quaternion {
    pub x: f64,
    pub y: f64,
    pub z: f64,
    pub w: f64,
}

impl Default for Quaternion {
    fn default() -> Self {
        Self {
            x: 0.0,
            y: 0.0,
            z: 0.0,
            w: 1.0,
        }
    }
}

/// `geometry_msgs/msg/Pose`.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Pose {
    pub position: Point,
    pub orientation: Quaternion,
}

/// `geometry_msgs/msg/PoseWithCovariance`: row-major 6x6 covariance of (x, y, z, rx, ry, rz).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PoseWithCovariance {
    pub pose: Pose,
    #[serde(with = "cdr::big_array")]
    pub covariance: [f64; 36],
}

impl Default for PoseWithCovariance {
    fn default() -> Self {
        Self {
            pose: Pose::default(),
            covariance: [0.0; 36],
        }
    }
}

/// `geometry_msgs/msg/Vector3`.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Vector3 {
    pub x: f64,
    pub y: f64,
    pub z: f64,
}

/// `geometry_msgs/msg/Transform`: `p_parent = rotation * p_child + translation`.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Transform {
    pub translation: Vector3,
    pub rotation: Quaternion,
}

/// `geometry_msgs/msg/TransformStamped`: the pose of `child_frame_id` in `header.frame_id`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct TransformStamped {
    pub header: Header,
    pub child_frame_id: String,
    pub transform: Transform,
}

/// `tf2_msgs/msg/TFMessage` (the type of `/tf` and `/tf_static`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct TFMessage {
    pub transforms: Vec<TransformStamped>,
}

impl RosMessage for TFMessage {
    const SCHEMA_NAME: &'static str = "tf2_msgs/msg/TFMessage";
}

/// `sensor_msgs/msg/RegionOfInterest`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct RegionOfInterest {
    pub x_offset: u32,
    pub y_offset: u32,
    pub height: u32,
    pub width: u32,
    pub do_rectify: bool,
}

/// `sensor_msgs/msg/CameraInfo`: intrinsics `k`, distortion `d`, rectification `r` and
/// projection `p` (row-major) of the camera whose images share its header's `frame_id`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct CameraInfo {
    pub header: Header,
    pub height: u32,
    pub width: u32,
    pub distortion_model: String,
    pub d: Vec<f64>,
    pub k: [f64; 9],
    pub r: [f64; 9],
    pub p: [f64; 12],
    pub binning_x: u32,
    pub binning_y: u32,
    pub roi: RegionOfInterest,
}

impl RosMessage for CameraInfo {
    const SCHEMA_NAME: &'static str = "sensor_msgs/msg/CameraInfo";
}

/// `vision_msgs/msg/ObjectHypothesis`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ObjectHypothesis {
    pub class_id: String,
    pub score: f64,
}

/// `vision_msgs/msg/ObjectHypothesisWithPose`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ObjectHypothesisWithPose {
    pub hypothesis: ObjectHypothesis,
    pub pose: PoseWithCovariance,
}

/// `vision_msgs/msg/Point2D`.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Point2D {
    pub x: f64,
    pub y: f64,
}

/// `vision_msgs/msg/Pose2D` (vision_msgs 4.x; not `geometry_msgs/Pose2D`).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Pose2D {
    pub position: Point2D,
    pub theta: f64,
}

/// `vision_msgs/msg/BoundingBox2D`: centre and size in image pixels.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct BoundingBox2D {
    pub center: Pose2D,
    pub size_x: f64,
    pub size_y: f64,
}

impl BoundingBox2D {
    /// From lookout's corner box (same pixel space; no rotation).
    pub fn from_bbox(bbox: &crate::types::BBox) -> Self {
        let (cx, cy) = bbox.center();
        Self {
            center: Pose2D {
                position: Point2D {
                    x: f64::from(cx),
                    y: f64::from(cy),
                },
                theta: 0.0,
            },
            size_x: f64::from(bbox.width()),
            size_y: f64::from(bbox.height()),
        }
    }
}

/// `vision_msgs/msg/Detection2D`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Detection2D {
    pub header: Header,
    pub results: Vec<ObjectHypothesisWithPose>,
    pub bbox: BoundingBox2D,
    /// Tracking id; empty for plain detections.
    pub id: String,
}

impl RosMessage for Detection2D {
    const SCHEMA_NAME: &'static str = "vision_msgs/msg/Detection2D";
}

/// `vision_msgs/msg/Detection2DArray`: all detections of one image.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Detection2DArray {
    pub header: Header,
    pub detections: Vec<Detection2D>,
}

impl RosMessage for Detection2DArray {
    const SCHEMA_NAME: &'static str = "vision_msgs/msg/Detection2DArray";
}

impl Detection2DArray {
    /// The message for one image's detections: every `Detection2D` carries the image's header,
    /// one hypothesis (`class_id` = the detection's output label, its score), an identity pose
    /// with zero covariance, the box centre and size in image pixels, and an empty `id`.
    pub fn from_detections(header: &Header, detections: &[crate::types::Detection]) -> Self {
        Self {
            header: header.clone(),
            detections: detections
                .iter()
                .map(|d| Detection2D {
                    header: header.clone(),
                    results: vec![ObjectHypothesisWithPose {
                        hypothesis: ObjectHypothesis {
                            class_id: d.label.clone(),
                            score: f64::from(d.score),
                        },
                        pose: PoseWithCovariance::default(),
                    }],
                    bbox: BoundingBox2D::from_bbox(&d.bbox),
                    id: String::new(),
                })
                .collect(),
        }
    }

    /// Tracks, with `id` = the decimal track id. The hypothesis pose carries the filtered box
    /// centre (image px) and its 2x2 covariance (px²) in the x/y block of the 6x6 covariance
    /// (`covariance[0, 1, 6, 7]`), so a ROS consumer gets position uncertainty without
    /// lookout's JSON track state.
    pub fn from_tracks(header: &Header, tracks: &[crate::track::TrackOutput]) -> Self {
        Self {
            header: header.clone(),
            detections: tracks
                .iter()
                .map(|t| {
                    let bbox = BoundingBox2D::from_bbox(&t.bbox);
                    let mut pose = PoseWithCovariance::default();
                    pose.pose.position.x = bbox.center.position.x;
                    pose.pose.position.y = bbox.center.position.y;
                    let c = &t.bbox_covariance;
                    pose.covariance[0] = c[0][0];
                    pose.covariance[1] = c[0][1];
                    pose.covariance[6] = c[1][0];
                    pose.covariance[7] = c[1][1];
                    Detection2D {
                        header: header.clone(),
                        results: vec![ObjectHypothesisWithPose {
                            hypothesis: ObjectHypothesis {
                                class_id: t.label.to_string(),
                                score: f64::from(t.score),
                            },
                            pose,
                        }],
                        bbox,
                        id: t.id.to_string(),
                    }
                })
                .collect(),
        }
    }
}

/// `vision_msgs/msg/BoundingBox3D`: centre pose and size (metres) in the header's frame.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct BoundingBox3D {
    pub center: Pose,
    pub size: Vector3,
}

/// `vision_msgs/msg/Detection3D`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Detection3D {
    pub header: Header,
    pub results: Vec<ObjectHypothesisWithPose>,
    pub bbox: BoundingBox3D,
    pub id: String,
}

/// `vision_msgs/msg/Detection3DArray`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Detection3DArray {
    pub header: Header,
    pub detections: Vec<Detection3D>,
}

impl RosMessage for Detection3DArray {
    const SCHEMA_NAME: &'static str = "vision_msgs/msg/Detection3DArray";
}

/// `geometry_msgs/msg/Twist` (and `Accel`, the same layout).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Twist {
    pub linear: Vector3,
    pub angular: Vector3,
}

/// `geometry_msgs/msg/TwistWithCovariance` (and `AccelWithCovariance`): row-major 6x6 of
/// (linear x, y, z, angular x, y, z).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TwistWithCovariance {
    pub twist: Twist,
    #[serde(with = "cdr::big_array")]
    pub covariance: [f64; 36],
}

impl Default for TwistWithCovariance {
    fn default() -> Self {
        Self {
            twist: Twist::default(),
            covariance: [0.0; 36],
        }
    }
}

/// `geometry_msgs/msg/Point32`.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Point32 {
    pub x: f32,
    pub y: f32,
    pub z: f32,
}

/// `geometry_msgs/msg/Polygon`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Polygon {
    pub points: Vec<Point32>,
}

/// `unique_identifier_msgs/msg/UUID`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Uuid {
    pub uuid: [u8; 16],
}

/// `autoware_perception_msgs/msg/ObjectClassification` (`label` is one of the constants).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct ObjectClassification {
    pub label: u8,
    pub probability: f32,
}

impl ObjectClassification {
    pub const UNKNOWN: u8 = 0;
    pub const CAR: u8 = 1;
    pub const TRUCK: u8 = 2;
    pub const BUS: u8 = 3;
    pub const TRAILER: u8 = 4;
    pub const MOTORCYCLE: u8 = 5;
    pub const BICYCLE: u8 = 6;
    pub const PEDESTRIAN: u8 = 7;
}

/// `autoware_perception_msgs/msg/TrackedObjectKinematics`.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct TrackedObjectKinematics {
    pub pose_with_covariance: PoseWithCovariance,
    pub twist_with_covariance: TwistWithCovariance,
    /// `geometry_msgs/AccelWithCovariance`: the same layout as a twist with covariance.
    pub acceleration_with_covariance: TwistWithCovariance,
    /// `UNAVAILABLE` (0), `SIGN_UNKNOWN` (1) or `AVAILABLE` (2).
    pub orientation_availability: u8,
    pub is_stationary: bool,
}

/// `autoware_perception_msgs/msg/Shape`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Shape {
    /// `BOUNDING_BOX` (0), `CYLINDER` (1) or `POLYGON` (2).
    #[serde(rename = "type")]
    pub kind: u8,
    pub footprint: Polygon,
    pub dimensions: Vector3,
}

/// `autoware_perception_msgs/msg/TrackedObject`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct TrackedObject {
    pub object_id: Uuid,
    pub existence_probability: f32,
    pub classification: Vec<ObjectClassification>,
    pub kinematics: TrackedObjectKinematics,
    pub shape: Shape,
}

/// `autoware_perception_msgs/msg/TrackedObjects`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct TrackedObjects {
    pub header: Header,
    pub objects: Vec<TrackedObject>,
}

impl RosMessage for TrackedObjects {
    const SCHEMA_NAME: &'static str = "autoware_perception_msgs/msg/TrackedObjects";
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header() -> Header {
        Header {
            stamp: Time {
                sec: 1_700_000_000,
                nanosec: 142_857_142,
            },
            frame_id: "camera_optical_frame".into(),
        }
    }

    #[test]
    fn image_roundtrip_and_layout() {
        let img = Image {
            header: header(),
            height: 2,
            width: 3,
            encoding: "rgb8".into(),
            is_bigendian: 0,
            step: 9,
            data: (0..18).collect(),
        };
        let bytes = to_cdr(&img).unwrap();
        assert_eq!(from_cdr::<Image>(&bytes).unwrap(), img);
        // The data is the last field: a u32 count then the raw bytes, nothing after.
        let tail = &bytes[bytes.len() - 22..];
        assert_eq!(&tail[..4], &18u32.to_le_bytes());
        assert_eq!(&tail[4..], img.data.as_slice());
    }

    #[test]
    fn compressed_roundtrip() {
        let img = CompressedImage {
            header: header(),
            format: "jpeg".into(),
            data: vec![0xff, 0xd8, 0xff, 1, 2, 3],
        };
        assert_eq!(
            from_cdr::<CompressedImage>(&to_cdr(&img).unwrap()).unwrap(),
            img
        );
    }

    #[test]
    fn detection_array_roundtrip_and_alignment() {
        let mut covariance = [0.0; 36];
        covariance[0] = 1.5;
        covariance[35] = -2.0;
        let msg = Detection2DArray {
            header: header(),
            detections: vec![Detection2D {
                header: header(),
                results: vec![ObjectHypothesisWithPose {
                    hypothesis: ObjectHypothesis {
                        class_id: "pedestrian".into(),
                        score: 0.875,
                    },
                    pose: PoseWithCovariance {
                        pose: Pose::default(),
                        covariance,
                    },
                }],
                bbox: BoundingBox2D::from_bbox(&crate::types::BBox::from_tlwh(
                    10.0, 20.0, 30.0, 40.0,
                )),
                id: "7".into(),
            }],
        };
        let bytes = to_cdr(&msg).unwrap();
        assert_eq!(from_cdr::<Detection2DArray>(&bytes).unwrap(), msg);
        // "pedestrian" (len 11 incl. NUL) ends unaligned, so the f64 score must start on an
        // 8-byte boundary of the payload: find it and check its offset.
        let payload = &bytes[4..];
        let score = 0.875f64.to_le_bytes();
        let at = payload
            .windows(8)
            .position(|w| w == score)
            .expect("score bytes present");
        assert_eq!(at % 8, 0);
    }

    #[test]
    fn detection_array_from_detections() {
        let dets = [crate::types::Detection {
            bbox: crate::types::BBox::from_tlwh(10.0, 20.0, 30.0, 40.0),
            class_index: 0,
            label: "pedestrian".into(),
            score: 0.75,
        }];
        let msg = Detection2DArray::from_detections(&header(), &dets);
        assert_eq!(msg.header, header());
        assert_eq!(msg.detections.len(), 1);
        let d = &msg.detections[0];
        assert_eq!(d.header, header());
        assert_eq!(d.results[0].hypothesis.class_id, "pedestrian");
        assert_eq!(d.results[0].hypothesis.score, 0.75);
        assert_eq!(d.results[0].pose.pose.orientation.w, 1.0);
        assert_eq!(d.bbox.center.position, Point2D { x: 25.0, y: 40.0 });
        assert_eq!((d.bbox.size_x, d.bbox.size_y), (30.0, 40.0));
        assert_eq!(d.bbox.center.theta, 0.0);
    }

    #[test]
    fn truncated_covariance_is_an_error() {
        let msg = PoseWithCovariance::default();
        let bytes = to_cdr(&msg).unwrap();
        assert!(from_cdr::<PoseWithCovariance>(&bytes[..bytes.len() - 8]).is_err());
    }
}
