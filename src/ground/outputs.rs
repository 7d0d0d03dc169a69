//! The ground objects of one frame as messages, for replay's MCAP and the node alike:
//! `vision_msgs/Detection3DArray`, Autoware's `autoware_perception_msgs/TrackedObjects` and a
//! `foxglove.SceneUpdate` (JSON) with a cube per object.
//!
//! Conventions, shared by the three:
//! - `header.stamp` is the image's stamp, `header.frame_id` the vehicle frame
//!   ([`super::GroundConfig::base_frame`], `base_link`).
//! - Only objects with a ground position are listed (an object above the horizon has none; it
//!   stays on the 2D `tracks` topic).
//! - The box centre is the measured contact point (the box's bottom centre on the road) moved
//!   half the class's length further along the camera's line of sight, at half its height;
//!   its size is the class prior ([`super::size_prior_m`]: `x` length, `y` width, `z`
//!   height); its orientation is unknown and reported as the identity (Autoware:
//!   `orientation_availability = UNAVAILABLE`).
//! - Pose covariance: the filter's `x, y` block in `covariance[0, 1, 6, 7]`, the height's
//!   variance `(height / 4)²` in `[14]`, rotations 0 (unknown orientation is said by the flag,
//!   not by a number). Twist (Autoware only): `(vx, vy)` in `base_link` axes (the identity
//!   orientation makes the object frame's axes `base_link`'s) with the filter's velocity block.
//! - `id` (vision_msgs) is the decimal track id; Autoware's UUID is 8 bytes of the stream
//!   name's FNV-1a hash then the id, big-endian, so ids of two cameras never collide.

use serde::Serialize;

use super::{size_prior_m, GroundObject, GroundState};
use crate::msgs::{
    BoundingBox3D, Detection3D, Detection3DArray, ObjectClassification, ObjectHypothesis,
    ObjectHypothesisWithPose, Point, Pose, PoseWithCovariance, Quaternion, Shape, TrackedObject,
    TrackedObjectKinematics, TrackedObjects, Twist, TwistWithCovariance, Uuid, Vector3,
};
use crate::types::Header;

/// An object's box in `base_link`: centre, size, pose covariance.
fn box_of(o: &GroundObject, g: &GroundState, camera_xy_m: [f64; 2]) -> (Pose, Vector3, [f64; 36]) {
    let [length, width, height] = size_prior_m(&o.label);
    let [x, y] = g.position_m;
    let (dx, dy) = (x - camera_xy_m[0], y - camera_xy_m[1]);
    let d = dx.hypot(dy);
    let (ux, uy) = if d > 1e-9 {
        (dx / d, dy / d)
    } else {
        (1.0, 0.0)
    };
    let pose = Pose {
        position: Point {
            x: x + ux * length / 2.0,
            y: y + uy * length / 2.0,
            z: height / 2.0,
        },
        orientation: Quaternion::default(),
    };
    let mut covariance = [0.0; 36];
    covariance[0] = g.covariance[0][0];
    covariance[1] = g.covariance[0][1];
    covariance[6] = g.covariance[1][0];
    covariance[7] = g.covariance[1][1];
    covariance[14] = (height / 4.0).powi(2);
    (
        pose,
        Vector3 {
            x: length,
            y: width,
            z: height,
        },
        covariance,
    )
}

/// The header of the ground outputs: the image's stamp in `base_frame`.
pub fn base_header(image: &Header, base_frame: &str) -> Header {
    Header {
        stamp: image.stamp,
        frame_id: base_frame.to_owned(),
    }
}

/// `vision_msgs/Detection3DArray` of one frame's objects (see the module docs).
pub fn detection3d_array(
    header: &Header,
    objects: &[GroundObject],
    camera_xy_m: [f64; 2],
) -> Detection3DArray {
    Detection3DArray {
        header: header.clone(),
        detections: objects
            .iter()
            .filter_map(|o| {
                let g = o.ground.as_ref()?;
                let (center, size, covariance) = box_of(o, g, camera_xy_m);
                Some(Detection3D {
                    header: header.clone(),
                    results: vec![ObjectHypothesisWithPose {
                        hypothesis: ObjectHypothesis {
                            class_id: o.label.to_string(),
                            score: f64::from(o.score),
                        },
                        pose: PoseWithCovariance {
                            pose: center,
                            covariance,
                        },
                    }],
                    bbox: BoundingBox3D { center, size },
                    id: o.id.to_string(),
                })
            })
            .collect(),
    }
}

/// Autoware's class of a lookout output label.
pub fn autoware_label(label: &str) -> u8 {
    match label {
        "pedestrian" => ObjectClassification::PEDESTRIAN,
        "bicycle" => ObjectClassification::BICYCLE,
        "car" => ObjectClassification::CAR,
        "motorcycle" => ObjectClassification::MOTORCYCLE,
        "bus" => ObjectClassification::BUS,
        "truck" => ObjectClassification::TRUCK,
        _ => ObjectClassification::UNKNOWN,
    }
}

/// The UUID of track `id` of `stream` (module docs).
pub fn object_uuid(stream: &str, id: u64) -> Uuid {
    // FNV-1a, 64 bits.
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for b in stream.bytes() {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    let mut uuid = [0u8; 16];
    uuid[..8].copy_from_slice(&hash.to_be_bytes());
    uuid[8..].copy_from_slice(&id.to_be_bytes());
    Uuid { uuid }
}

/// `autoware_perception_msgs/TrackedObjects` of one frame's objects (see the module docs).
pub fn tracked_objects(
    header: &Header,
    stream: &str,
    objects: &[GroundObject],
    camera_xy_m: [f64; 2],
) -> TrackedObjects {
    TrackedObjects {
        header: header.clone(),
        objects: objects
            .iter()
            .filter_map(|o| {
                let g = o.ground.as_ref()?;
                let (pose, size, covariance) = box_of(o, g, camera_xy_m);
                let mut twist = TwistWithCovariance {
                    twist: Twist {
                        linear: Vector3 {
                            x: g.velocity_mps[0],
                            y: g.velocity_mps[1],
                            z: 0.0,
                        },
                        angular: Vector3::default(),
                    },
                    ..TwistWithCovariance::default()
                };
                twist.covariance[0] = g.covariance[2][2];
                twist.covariance[1] = g.covariance[2][3];
                twist.covariance[6] = g.covariance[3][2];
                twist.covariance[7] = g.covariance[3][3];
                Some(TrackedObject {
                    object_id: object_uuid(stream, o.id),
                    existence_probability: o.score,
                    classification: vec![ObjectClassification {
                        label: autoware_label(&o.label),
                        probability: 1.0,
                    }],
                    kinematics: TrackedObjectKinematics {
                        pose_with_covariance: PoseWithCovariance { pose, covariance },
                        twist_with_covariance: twist,
                        acceleration_with_covariance: TwistWithCovariance::default(),
                        orientation_availability: 0,
                        is_stationary: false,
                    },
                    shape: Shape {
                        kind: 0,
                        footprint: Default::default(),
                        dimensions: size,
                    },
                })
            })
            .collect(),
    }
}

/// Schema name Foxglove recognises for 3D scenes.
pub const SCENE_UPDATE_SCHEMA_NAME: &str = "foxglove.SceneUpdate";

/// JSON Schema of `foxglove.SceneUpdate` as lookout writes it (written for lookout from
/// Foxglove's published message definition: `SceneUpdate`, `SceneEntityDeletion`,
/// `SceneEntity`, `CubePrimitive`, `TextPrimitive`, `Pose`, `Vector3`, `Color`, `Time`).
pub const SCENE_UPDATE_JSON_SCHEMA: &str = r##"{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "title": "foxglove.SceneUpdate",
  "description": "3D scene entities (Foxglove message definition), written by lookout: a cube and a label per ground object",
  "type": "object",
  "$defs": {
    "time": {"type": "object", "required": ["sec", "nsec"], "properties": {"sec": {"type": "integer", "minimum": 0}, "nsec": {"type": "integer", "minimum": 0, "maximum": 999999999}}},
    "vector3": {"type": "object", "required": ["x", "y", "z"], "properties": {"x": {"type": "number"}, "y": {"type": "number"}, "z": {"type": "number"}}},
    "quaternion": {"type": "object", "required": ["x", "y", "z", "w"], "properties": {"x": {"type": "number"}, "y": {"type": "number"}, "z": {"type": "number"}, "w": {"type": "number"}}},
    "pose": {"type": "object", "required": ["position", "orientation"], "properties": {"position": {"$ref": "#/$defs/vector3"}, "orientation": {"$ref": "#/$defs/quaternion"}}},
    "color": {"type": "object", "required": ["r", "g", "b", "a"], "properties": {"r": {"type": "number"}, "g": {"type": "number"}, "b": {"type": "number"}, "a": {"type": "number"}}}
  },
  "properties": {
    "deletions": {"type": "array", "items": {"type": "object", "required": ["timestamp", "type", "id"], "properties": {"timestamp": {"$ref": "#/$defs/time"}, "type": {"description": "0 MATCHING_ID, 1 ALL", "enum": [0, 1]}, "id": {"type": "string"}}}},
    "entities": {
      "type": "array",
      "items": {
        "type": "object",
        "required": ["timestamp", "frame_id", "id", "lifetime", "frame_locked", "metadata", "arrows", "cubes", "spheres", "cylinders", "lines", "triangles", "texts", "models"],
        "properties": {
          "timestamp": {"$ref": "#/$defs/time"},
          "frame_id": {"type": "string"},
          "id": {"type": "string"},
          "lifetime": {"$ref": "#/$defs/time"},
          "frame_locked": {"type": "boolean"},
          "metadata": {"type": "array", "items": {"type": "object", "properties": {"key": {"type": "string"}, "value": {"type": "string"}}}},
          "arrows": {"type": "array"}, "spheres": {"type": "array"}, "cylinders": {"type": "array"},
          "lines": {"type": "array"}, "triangles": {"type": "array"}, "models": {"type": "array"},
          "cubes": {"type": "array", "items": {"type": "object", "required": ["pose", "size", "color"], "properties": {"pose": {"$ref": "#/$defs/pose"}, "size": {"$ref": "#/$defs/vector3", "description": "metres"}, "color": {"$ref": "#/$defs/color"}}}},
          "texts": {"type": "array", "items": {"type": "object", "required": ["pose", "billboard", "font_size", "scale_invariant", "color", "text"], "properties": {"pose": {"$ref": "#/$defs/pose"}, "billboard": {"type": "boolean"}, "font_size": {"type": "number"}, "scale_invariant": {"type": "boolean"}, "color": {"$ref": "#/$defs/color"}, "text": {"type": "string"}}}}
        }
      }
    }
  }
}
"##;

#[derive(Serialize)]
struct FoxPose {
    position: Point,
    orientation: Quaternion,
}

#[derive(Serialize)]
struct Cube {
    pose: FoxPose,
    size: Vector3,
    color: crate::viz::foxglove::Color,
}

#[derive(Serialize)]
struct Text {
    pose: FoxPose,
    billboard: bool,
    font_size: f64,
    scale_invariant: bool,
    color: crate::viz::foxglove::Color,
    text: String,
}

#[derive(Serialize)]
struct KeyValue {
    key: &'static str,
    value: String,
}

#[derive(Serialize)]
struct Entity {
    timestamp: crate::viz::foxglove::FoxgloveTime,
    frame_id: String,
    id: String,
    lifetime: crate::viz::foxglove::FoxgloveTime,
    frame_locked: bool,
    metadata: Vec<KeyValue>,
    arrows: [(); 0],
    cubes: Vec<Cube>,
    spheres: [(); 0],
    cylinders: [(); 0],
    lines: [(); 0],
    triangles: [(); 0],
    texts: Vec<Text>,
    models: [(); 0],
}

#[derive(Serialize)]
struct Deletion {
    timestamp: crate::viz::foxglove::FoxgloveTime,
    #[serde(rename = "type")]
    kind: u8,
    id: String,
}

#[derive(Serialize)]
struct SceneUpdate {
    deletions: Vec<Deletion>,
    entities: Vec<Entity>,
}

/// The `foxglove.SceneUpdate` JSON of one frame: every earlier entity deleted, then one entity
/// per object with a position (a cube of its class size in its track colour and a label).
pub fn scene_update_json(
    header: &Header,
    objects: &[GroundObject],
    camera_xy_m: [f64; 2],
) -> Result<Vec<u8>, serde_json::Error> {
    let timestamp = crate::viz::foxglove::foxglove_time(header);
    let forever = crate::viz::foxglove::FoxgloveTime { sec: 0, nsec: 0 };
    let entities = objects
        .iter()
        .filter_map(|o| {
            let g = o.ground.as_ref()?;
            let (pose, size, _) = box_of(o, g, camera_xy_m);
            let colour = crate::viz::foxglove::Color::from_rgb8(crate::viz::track_color(o.id), 0.6);
            let label_pose = FoxPose {
                position: Point {
                    z: size.z + 0.3,
                    ..pose.position
                },
                orientation: Quaternion::default(),
            };
            let speed_mps = g.velocity_mps[0].hypot(g.velocity_mps[1]);
            Some(Entity {
                timestamp,
                frame_id: header.frame_id.clone(),
                id: o.id.to_string(),
                lifetime: forever,
                frame_locked: false,
                metadata: vec![KeyValue {
                    key: "class",
                    value: o.label.to_string(),
                }],
                arrows: [],
                cubes: vec![Cube {
                    pose: FoxPose {
                        position: pose.position,
                        orientation: pose.orientation,
                    },
                    size,
                    color: colour,
                }],
                spheres: [],
                cylinders: [],
                lines: [],
                triangles: [],
                texts: vec![Text {
                    pose: label_pose,
                    billboard: true,
                    font_size: 14.0,
                    scale_invariant: true,
                    color: crate::viz::foxglove::Color { a: 1.0, ..colour },
                    text: format!("#{} {} {:.1} m/s", o.id, o.label, speed_mps),
                }],
                models: [],
            })
        })
        .collect();
    serde_json::to_vec(&SceneUpdate {
        deletions: vec![Deletion {
            timestamp,
            kind: 1,
            id: String::new(),
        }],
        entities,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::Time;

    fn objects() -> Vec<GroundObject> {
        let mut covariance = [[0.0; 4]; 4];
        for (i, row) in covariance.iter_mut().enumerate() {
            row[i] = (i + 1) as f64;
        }
        vec![
            GroundObject {
                id: 7,
                label: "pedestrian".into(),
                class_index: 0,
                score: 0.8,
                ground: Some(GroundState {
                    position_m: [10.0, 0.0],
                    velocity_mps: [0.5, -1.0],
                    covariance,
                    range_m: 10.1,
                }),
            },
            GroundObject {
                id: 8,
                label: "car".into(),
                class_index: 2,
                score: 0.9,
                ground: None,
            },
        ]
    }

    fn header() -> Header {
        base_header(
            &Header {
                stamp: Time { sec: 5, nanosec: 6 },
                frame_id: "cam_optical".into(),
            },
            "base_link",
        )
    }

    #[test]
    fn detections_3d_list_positioned_objects_in_base_link() {
        let msg = detection3d_array(&header(), &objects(), [0.0, 0.0]);
        assert_eq!(msg.header.frame_id, "base_link");
        assert_eq!(
            msg.detections.len(),
            1,
            "the object without a position is left out"
        );
        let d = &msg.detections[0];
        assert_eq!(d.id, "7");
        // Centre: half a pedestrian (0.3 m) beyond the contact point, half its height up.
        assert_eq!(
            d.bbox.center.position,
            Point {
                x: 10.3,
                y: 0.0,
                z: 0.85
            }
        );
        assert_eq!(
            (d.bbox.size.x, d.bbox.size.y, d.bbox.size.z),
            (0.6, 0.6, 1.7)
        );
        let c = &d.results[0].pose.covariance;
        assert_eq!((c[0], c[7], c[1]), (1.0, 2.0, 0.0));
        let bytes = crate::msgs::to_cdr(&msg).unwrap();
        assert_eq!(
            crate::msgs::from_cdr::<Detection3DArray>(&bytes).unwrap(),
            msg
        );
    }

    #[test]
    fn autoware_objects_carry_uuid_class_and_twist() {
        let msg = tracked_objects(&header(), "/cam/image_raw", &objects(), [0.0, 0.0]);
        assert_eq!(msg.objects.len(), 1);
        let o = &msg.objects[0];
        assert_eq!(o.classification[0].label, ObjectClassification::PEDESTRIAN);
        assert_eq!(&o.object_id.uuid[8..], &7u64.to_be_bytes());
        assert_ne!(object_uuid("/a", 7), object_uuid("/b", 7));
        let t = &o.kinematics.twist_with_covariance;
        assert_eq!((t.twist.linear.x, t.twist.linear.y), (0.5, -1.0));
        assert_eq!((t.covariance[0], t.covariance[7]), (3.0, 4.0));
        let bytes = crate::msgs::to_cdr(&msg).unwrap();
        assert_eq!(
            crate::msgs::from_cdr::<TrackedObjects>(&bytes).unwrap(),
            msg
        );
    }

    #[test]
    fn scene_update_has_a_cube_per_object() {
        let json = scene_update_json(&header(), &objects(), [0.0, 0.0]).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&json).unwrap();
        assert_eq!(v["deletions"][0]["type"], 1);
        let e = &v["entities"].as_array().unwrap();
        assert_eq!(e.len(), 1);
        assert_eq!(e[0]["frame_id"], "base_link");
        assert_eq!(e[0]["cubes"][0]["size"]["z"], 1.7);
        assert_eq!(e[0]["timestamp"]["sec"], 5);
        assert!(e[0]["texts"][0]["text"]
            .as_str()
            .unwrap()
            .starts_with("#7 pedestrian"));
        let _: serde_json::Value = serde_json::from_str(SCENE_UPDATE_JSON_SCHEMA).unwrap();
    }
}
