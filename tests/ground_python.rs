//! The ground-plane stage against an independent implementation of the wire format (PyPI
//! `mcap` + `mcap-ros2-support`, which encode and decode CDR from definition texts, not from
//! lookout's structs):
//!
//! - a recording with `sensor_msgs/CameraInfo` and `/tf_static` written by the Python writer
//!   (scripts/python/make_calibrated_recording.py) gives lookout the calibration the script
//!   wrote, and `lookout replay` with `ground.enabled` runs on it and writes the objects
//!   topics with their schemas;
//! - Detection3DArray, Autoware TrackedObjects and foxglove.SceneUpdate written by lookout are
//!   read back by scripts/python/check_mcap.py field by field (JSON validated against the
//!   stored JSON Schema).
//!
//! Needs the oracle venv (`scripts/setup.sh`); the replay also needs the model assets.

mod mcap_common;

use std::path::Path;
use std::process::Command;

use lookout::config::{Config, DEFAULT_PARAMS_YAML};
use lookout::ground::outputs::{
    base_header, detection3d_array, scene_update_json, tracked_objects,
};
use lookout::ground::{CameraModel, CameraPose, GroundObject, GroundState};
use lookout::mcap_io::Ros2McapWriter;
use lookout::msgs::{Detection3DArray, TrackedObjects};
use lookout::{Header, Time};
use mcap_common::{check_mcap, lookout, messages, oracle_python, run};
use nalgebra::{Quaternion, UnitQuaternion, Vector3};
use serde_json::Value;

/// Runs the Python writer; returns what it wrote (JSON).
fn python_recording(out: &Path) -> Value {
    let script =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/python/make_calibrated_recording.py");
    let o = Command::new(oracle_python())
        .arg(script)
        .arg(out)
        .output()
        .expect("run make_calibrated_recording.py");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    serde_json::from_slice(&o.stdout).unwrap()
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

fn ground_config() -> Config {
    Config::from_yaml_str(
        DEFAULT_PARAMS_YAML,
        Path::new("default"),
        &["ground.enabled=true".into()],
    )
    .unwrap()
}

#[test]
fn calibration_written_by_python_is_read_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cal.mcap");
    let truth = python_recording(&path);
    let streams = lookout::mcap_io::camera_topics(&path).unwrap();
    assert_eq!(streams.len(), 1);
    let found =
        lookout::replay::calibration::recording_calibrations(&path, &streams, &ground_config())
            .unwrap();
    assert_eq!(found.len(), 1);
    let (stream, projector) = &found[0];
    assert_eq!(stream, "/cam/front/image_raw/compressed");
    let k = floats(&truth["k"]);
    let d = floats(&truth["d"]);
    let expected = CameraModel::pinhole(1280, 720, k[0], k[4], k[2], k[5])
        .with_distortion([d[0], d[1], d[2], d[3], d[4]]);
    assert_eq!(projector.camera, expected);
    let t = floats(&truth["body_translation_m"]);
    let q = floats(&truth["body_rotation_xyzw"]);
    let body = UnitQuaternion::from_quaternion(Quaternion::new(q[3], q[0], q[1], q[2]));
    let pose = CameraPose::from_body(Vector3::new(t[0], t[1], t[2]), body);
    assert!((projector.pose.translation_m - pose.translation_m).norm() < 1e-12);
    assert!(
        projector
            .pose
            .base_from_optical
            .angle_to(&pose.base_from_optical)
            < 1e-9
    );
    // The body rotation is the script's roll 2.5°, pitch 6°, yaw -3° (ROS RPY convention).
    let (roll, pitch, yaw) = body.euler_angles();
    assert!((roll.to_degrees() - 2.5).abs() < 1e-9);
    assert!((pitch.to_degrees() - 6.0).abs() < 1e-9);
    assert!((yaw.to_degrees() + 3.0).abs() < 1e-9);
}

#[test]
fn replay_of_a_calibrated_python_recording_writes_the_objects_topics() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("cal.mcap");
    python_recording(&input);
    let out = dir.path().join("out.mcap");
    let o = run(lookout()
        .arg("replay")
        .arg(&input)
        .arg("--out")
        .arg(&out)
        .arg("--no-progress")
        .args(["--set", "ground.enabled=true"]));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let desc = check_mcap(&out, &["--validate-json"]);
    assert_eq!(desc["json_schema_errors"], serde_json::json!([]));
    let schema_of = |topic: &str| {
        let channel = desc["channels"]
            .as_object()
            .unwrap()
            .values()
            .find(|c| c["topic"] == topic)
            .unwrap_or_else(|| panic!("no channel {topic}"));
        desc["schemas"][channel["schema_id"].to_string()]["name"].clone()
    };
    assert_eq!(
        schema_of("/cam/front/objects"),
        "vision_msgs/msg/Detection3DArray"
    );
    assert_eq!(
        schema_of("/cam/front/objects/tracked"),
        "autoware_perception_msgs/msg/TrackedObjects"
    );
    assert_eq!(
        schema_of("/cam/front/objects/scene"),
        "foxglove.SceneUpdate"
    );
    // Grey frames: nothing detected, but one message per frame in base_link with the stamp.
    let objects = messages(&desc, "/cam/front/objects");
    assert_eq!(objects.len(), 3);
    assert_eq!(objects[2]["header"]["frame_id"], "base_link");
    assert_eq!(objects[2]["header"]["nanosec"], 200_000_000);
    assert_eq!(messages(&desc, "/cam/front/objects/tracked").len(), 3);
}

#[test]
fn objects_read_back_field_by_field() {
    let mut covariance = [[0.0; 4]; 4];
    covariance[0] = [0.04, 0.01, 0.0, 0.0];
    covariance[1] = [0.01, 0.09, 0.0, 0.0];
    covariance[2][2] = 0.25;
    covariance[3][3] = 0.36;
    let objects = vec![
        GroundObject {
            id: 3,
            label: "pedestrian".into(),
            class_index: 0,
            score: 0.75,
            ground: Some(GroundState {
                position_m: [12.0, -2.0],
                velocity_mps: [-0.5, 1.25],
                covariance,
                range_m: 12.3,
            }),
        },
        GroundObject {
            id: 4,
            label: "car".into(),
            class_index: 2,
            score: 0.5,
            ground: None,
        },
    ];
    let image = Header {
        stamp: Time {
            sec: 1_700_000_000,
            nanosec: 5,
        },
        frame_id: "cam_optical".into(),
    };
    let header = base_header(&image, "base_link");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("objects.mcap");
    let mut w = Ros2McapWriter::create(&path).unwrap();
    w.add_topic::<Detection3DArray>("/objects").unwrap();
    w.add_topic::<TrackedObjects>("/objects/tracked").unwrap();
    w.add_json_topic(
        "/objects/scene",
        lookout::ground::outputs::SCENE_UPDATE_SCHEMA_NAME,
        lookout::ground::outputs::SCENE_UPDATE_JSON_SCHEMA,
    )
    .unwrap();
    let camera_xy = [1.5, 0.0];
    w.write_message(
        "/objects",
        1,
        0,
        &detection3d_array(&header, &objects, camera_xy),
    )
    .unwrap();
    w.write_message(
        "/objects/tracked",
        1,
        0,
        &tracked_objects(&header, "/cam/image_raw", &objects, camera_xy),
    )
    .unwrap();
    let scene = scene_update_json(&header, &objects, camera_xy).unwrap();
    w.write("/objects/scene", 1, 1, 0, &scene).unwrap();
    w.finish().unwrap();

    let desc = check_mcap(&path, &["--validate-json"]);
    assert_eq!(desc["json_schema_errors"], serde_json::json!([]));
    assert_eq!(desc["json_schemas_checked"], 1);
    let d3 = &messages(&desc, "/objects")[0];
    assert_eq!(d3["header"]["frame_id"], "base_link");
    let dets = d3["detections"].as_array().unwrap();
    assert_eq!(dets.len(), 1, "the object without a position is not listed");
    let d = &dets[0];
    assert_eq!(d["id"], "3");
    // Contact point (12, -2) pushed 0.3 m (half a pedestrian) away from the camera at (1.5, 0).
    let dir_xy = [10.5, -2.0];
    let n = f64::hypot(dir_xy[0], dir_xy[1]);
    let centre = floats(&d["center"]["position"]);
    assert!((centre[0] - (12.0 + 0.3 * dir_xy[0] / n)).abs() < 1e-12);
    assert!((centre[1] - (-2.0 + 0.3 * dir_xy[1] / n)).abs() < 1e-12);
    assert!((centre[2] - 0.85).abs() < 1e-12);
    assert_eq!(floats(&d["size"]), [0.6, 0.6, 1.7]);
    let r = &d["results"][0];
    assert_eq!(r["class_id"], "pedestrian");
    assert_eq!(r["score"], 0.75);
    let cov = floats(&r["covariance"]);
    assert_eq!((cov[0], cov[1], cov[6], cov[7]), (0.04, 0.01, 0.01, 0.09));

    let tracked = &messages(&desc, "/objects/tracked")[0];
    let o = &tracked["objects"][0];
    assert_eq!(tracked["objects"].as_array().unwrap().len(), 1);
    assert_eq!(o["classification"][0]["label"], 7, "PEDESTRIAN");
    assert_eq!(o["existence_probability"], 0.75);
    assert_eq!(floats(&o["twist_linear"]), [-0.5, 1.25, 0.0]);
    let tc = floats(&o["twist_covariance"]);
    assert_eq!((tc[0], tc[7]), (0.25, 0.36));
    assert_eq!(o["orientation_availability"], 0);
    assert_eq!(o["shape_type"], 0);
    assert_eq!(floats(&o["dimensions"]), [0.6, 0.6, 1.7]);
    let uuid: Vec<u64> = o["uuid"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b.as_u64().unwrap())
        .collect();
    assert_eq!(uuid.len(), 16);
    assert_eq!(&uuid[8..], &[0, 0, 0, 0, 0, 0, 0, 3]);

    let scene = &messages(&desc, "/objects/scene")[0]["json"];
    assert_eq!(scene["entities"].as_array().unwrap().len(), 1);
    assert_eq!(scene["entities"][0]["cubes"][0]["size"]["z"], 1.7);
}
