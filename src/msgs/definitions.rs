//! `ros2msg` schema texts: the "complete message definition" rosbag2 stores in MCAP schema records
//! (rosbag2 `docs/message_definition_encoding.md`).
//!
//! Format, as `rosbag2_cpp::LocalMessageDefinitionSource::get_full_text` builds it: the root
//! type's `.msg` text, then for every dependency not yet emitted (depth first, each message's
//! dependencies in sorted order) a newline, a line of 80 `=`, a line `MSG: pkg/Name`, and that
//! dependency's text with its own dependencies after it. Field types without a package resolve
//! to the enclosing message's package.
//!
//! The texts below carry the field declarations (and defaults) of the Jazzy `.msg` files with
//! their comments stripped; comments do not change the wire format or any decoder. The
//! `autoware_perception_msgs` texts are those of Autoware's `autoware_msgs` repository (1.x),
//! carried by lookout as its own interface package in `ros/autoware_perception_msgs/`.

use std::collections::BTreeSet;

/// `.msg` texts by `pkg/Name`, field declarations exactly as in the ROS 2 Jazzy sources.
const MSG_TEXTS: &[(&str, &str)] = &[
    ("builtin_interfaces/Time", "int32 sec\nuint32 nanosec\n"),
    (
        "std_msgs/Header",
        "builtin_interfaces/Time stamp\nstring frame_id\n",
    ),
    (
        "sensor_msgs/Image",
        "std_msgs/Header header\n\
         uint32 height\n\
         uint32 width\n\
         string encoding\n\
         uint8 is_bigendian\n\
         uint32 step\n\
         uint8[] data\n",
    ),
    (
        "sensor_msgs/CompressedImage",
        "std_msgs/Header header\nstring format\nuint8[] data\n",
    ),
    ("geometry_msgs/Point", "float64 x\nfloat64 y\nfloat64 z\n"),
    (
        "geometry_msgs/Quaternion",
        "float64 x 0\nfloat64 y 0\nfloat64 z 0\nfloat64 w 1\n",
    ),
    (
        "geometry_msgs/Pose",
        "Point position\nQuaternion orientation\n",
    ),
    (
        "geometry_msgs/PoseWithCovariance",
        "Pose pose\nfloat64[36] covariance\n",
    ),
    ("geometry_msgs/Vector3", "float64 x\nfloat64 y\nfloat64 z\n"),
    (
        "geometry_msgs/Transform",
        "Vector3 translation\nQuaternion rotation\n",
    ),
    (
        "geometry_msgs/TransformStamped",
        "std_msgs/Header header\nstring child_frame_id\nTransform transform\n",
    ),
    (
        "tf2_msgs/TFMessage",
        "geometry_msgs/TransformStamped[] transforms\n",
    ),
    (
        "sensor_msgs/RegionOfInterest",
        "uint32 x_offset\nuint32 y_offset\nuint32 height\nuint32 width\nbool do_rectify\n",
    ),
    (
        "sensor_msgs/CameraInfo",
        "std_msgs/Header header\n\
         uint32 height\n\
         uint32 width\n\
         string distortion_model\n\
         float64[] d\n\
         float64[9] k\n\
         float64[9] r\n\
         float64[12] p\n\
         uint32 binning_x\n\
         uint32 binning_y\n\
         RegionOfInterest roi\n",
    ),
    ("geometry_msgs/Twist", "Vector3 linear\nVector3 angular\n"),
    (
        "geometry_msgs/TwistWithCovariance",
        "Twist twist\nfloat64[36] covariance\n",
    ),
    ("geometry_msgs/Accel", "Vector3 linear\nVector3 angular\n"),
    (
        "geometry_msgs/AccelWithCovariance",
        "Accel accel\nfloat64[36] covariance\n",
    ),
    ("geometry_msgs/Point32", "float32 x\nfloat32 y\nfloat32 z\n"),
    ("geometry_msgs/Polygon", "Point32[] points\n"),
    ("unique_identifier_msgs/UUID", "uint8[16] uuid\n"),
    (
        "vision_msgs/BoundingBox3D",
        "geometry_msgs/Pose center\ngeometry_msgs/Vector3 size\n",
    ),
    (
        "vision_msgs/Detection3D",
        "std_msgs/Header header\n\
         ObjectHypothesisWithPose[] results\n\
         BoundingBox3D bbox\n\
         string id\n",
    ),
    (
        "vision_msgs/Detection3DArray",
        "std_msgs/Header header\nDetection3D[] detections\n",
    ),
    (
        "autoware_perception_msgs/ObjectClassification",
        "uint8 UNKNOWN = 0\n\
         uint8 CAR = 1\n\
         uint8 TRUCK = 2\n\
         uint8 BUS = 3\n\
         uint8 TRAILER = 4\n\
         uint8 MOTORCYCLE = 5\n\
         uint8 BICYCLE = 6\n\
         uint8 PEDESTRIAN = 7\n\
         uint8 ANIMAL = 8\n\
         uint8 HAZARD = 9\n\
         uint8 OVER_DRIVABLE = 10\n\
         uint8 UNDER_DRIVABLE = 11\n\
         \n\
         uint8 label\n\
         float32 probability\n",
    ),
    (
        "autoware_perception_msgs/Shape",
        "uint8 BOUNDING_BOX=0\n\
         uint8 CYLINDER=1\n\
         uint8 POLYGON=2\n\
         \n\
         uint8 type\n\
         geometry_msgs/Polygon footprint\n\
         geometry_msgs/Vector3 dimensions\n",
    ),
    (
        "autoware_perception_msgs/TrackedObjectKinematics",
        "uint8 UNAVAILABLE=0\n\
         uint8 SIGN_UNKNOWN=1\n\
         uint8 AVAILABLE=2\n\
         \n\
         geometry_msgs/PoseWithCovariance pose_with_covariance\n\
         geometry_msgs/TwistWithCovariance twist_with_covariance\n\
         geometry_msgs/AccelWithCovariance acceleration_with_covariance\n\
         \n\
         uint8 orientation_availability\n\
         bool is_stationary\n",
    ),
    (
        "autoware_perception_msgs/TrackedObject",
        "unique_identifier_msgs/UUID object_id\n\
         float32 existence_probability\n\
         ObjectClassification[] classification\n\
         TrackedObjectKinematics kinematics\n\
         Shape shape\n",
    ),
    (
        "autoware_perception_msgs/TrackedObjects",
        "std_msgs/Header header\nTrackedObject[] objects\n",
    ),
    (
        "vision_msgs/ObjectHypothesis",
        "string class_id\nfloat64 score\n",
    ),
    (
        "vision_msgs/ObjectHypothesisWithPose",
        "ObjectHypothesis hypothesis\ngeometry_msgs/PoseWithCovariance pose\n",
    ),
    ("vision_msgs/Point2D", "float64 x\nfloat64 y\n"),
    (
        "vision_msgs/Pose2D",
        "vision_msgs/Point2D position\nfloat64 theta\n",
    ),
    (
        "vision_msgs/BoundingBox2D",
        "vision_msgs/Pose2D center\nfloat64 size_x\nfloat64 size_y\n",
    ),
    (
        "vision_msgs/Detection2D",
        "std_msgs/Header header\n\
         ObjectHypothesisWithPose[] results\n\
         BoundingBox2D bbox\n\
         string id\n",
    ),
    (
        "vision_msgs/Detection2DArray",
        "std_msgs/Header header\nDetection2D[] detections\n",
    ),
];

/// The types rosbag2 treats as primitive when scanning for dependencies.
const PRIMITIVES: &[&str] = &[
    "bool", "byte", "char", "float32", "float64", "int8", "uint8", "int16", "uint16", "int32",
    "uint32", "int64", "uint64", "string", "wstring",
];

/// `pkg/msg/Name` or `pkg/Name` to `pkg/Name`.
fn short_name(type_name: &str) -> String {
    let parts: Vec<&str> = type_name.split('/').collect();
    match parts.as_slice() {
        [pkg, "msg", name] => format!("{pkg}/{name}"),
        _ => type_name.to_string(),
    }
}

/// The `.msg` text of a known type (`pkg/Name` or `pkg/msg/Name`).
pub fn msg_text(type_name: &str) -> Option<&'static str> {
    let short = short_name(type_name);
    MSG_TEXTS
        .iter()
        .find(|(name, _)| *name == short)
        .map(|(_, text)| *text)
}

/// The non-primitive field types of a `.msg` text, resolved to `pkg/Name` and sorted, as
/// rosbag2's `parse_msg_dependencies` finds them (first token of each line, array suffix off).
fn dependencies(text: &str, package: &str) -> BTreeSet<String> {
    text.lines()
        .filter_map(|line| line.split_whitespace().next())
        .filter(|token| !token.starts_with('#'))
        .map(|token| token.split('[').next().unwrap_or(token))
        .filter(|ty| !PRIMITIVES.contains(ty) && !ty.starts_with("string<"))
        .map(|ty| {
            if ty.contains('/') {
                short_name(ty)
            } else {
                format!("{package}/{ty}")
            }
        })
        .collect()
}

/// The full `ros2msg` definition of `schema_name` (e.g. `sensor_msgs/msg/Image`), dependencies
/// included. Panics in debug builds, and leaves a dependency's text empty in release builds, if
/// a type is missing from this module's table: the table is fixed at compile time and the
/// `every_dependency_is_known` test walks it.
pub fn full_definition(schema_name: &str) -> String {
    let mut seen = BTreeSet::new();
    append(&short_name(schema_name), &mut seen)
}

fn append(type_name: &str, seen: &mut BTreeSet<String>) -> String {
    let text = msg_text(type_name);
    debug_assert!(text.is_some(), "no .msg text for {type_name}");
    let text = text.unwrap_or_default();
    let package = type_name.split('/').next().unwrap_or_default();
    let mut out = text.to_string();
    for dep in dependencies(text, package) {
        if seen.insert(dep.clone()) {
            out.push('\n');
            out.push_str(&"=".repeat(80));
            out.push_str("\nMSG: ");
            out.push_str(&dep);
            out.push('\n');
            out.push_str(&append(&dep, seen));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_dependency_is_known() {
        for (name, text) in MSG_TEXTS {
            let package = name.split('/').next().unwrap();
            for dep in dependencies(text, package) {
                assert!(msg_text(&dep).is_some(), "{name} needs {dep}");
            }
        }
    }

    #[test]
    fn image_definition_layout() {
        let def = full_definition("sensor_msgs/msg/Image");
        let sep = "=".repeat(80);
        let expected = format!(
            "std_msgs/Header header\nuint32 height\nuint32 width\nstring encoding\n\
             uint8 is_bigendian\nuint32 step\nuint8[] data\n\
             \n{sep}\nMSG: std_msgs/Header\nbuiltin_interfaces/Time stamp\nstring frame_id\n\
             \n{sep}\nMSG: builtin_interfaces/Time\nint32 sec\nuint32 nanosec\n"
        );
        assert_eq!(def, expected);
    }

    #[test]
    fn detection_array_lists_each_dependency_once() {
        let def = full_definition("vision_msgs/msg/Detection2DArray");
        let deps: Vec<&str> = def
            .lines()
            .filter_map(|l| l.strip_prefix("MSG: "))
            .collect();
        assert_eq!(
            deps,
            [
                "std_msgs/Header",
                "builtin_interfaces/Time",
                "vision_msgs/Detection2D",
                "vision_msgs/BoundingBox2D",
                "vision_msgs/Pose2D",
                "vision_msgs/Point2D",
                "vision_msgs/ObjectHypothesisWithPose",
                "geometry_msgs/PoseWithCovariance",
                "geometry_msgs/Pose",
                "geometry_msgs/Point",
                "geometry_msgs/Quaternion",
                "vision_msgs/ObjectHypothesis",
            ]
        );
    }
}
