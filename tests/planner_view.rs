//! `examples/planner_view.rs` on a synthetic calibrated scene with known truth, through the
//! real tracking pass and MCAP files: pedestrians and a car at known positions and velocities
//! on the road, seen by the distorted, rolled, pitched and yawed camera of
//! `scripts/python/make_calibrated_recording.py` (its K, D and `base_link` pose, given here as
//! `ground:` parameters); their exact boxes plus seeded 0.5 px noise are written as a detections
//! MCAP (what `lookout replay --detect-only` writes from the camera's frames), `lookout track
//! --detections` (its library function) tracks them with the default ground parameters and
//! writes the results MCAP, and the example reads its `TrackedObjects` topic. Per frame after
//! the filters converged (3 s), the example must pick the pedestrian that truly is the nearest
//! in the ego lane, and its time to collision must be within 5 % of the true one
//! (`true distance / (ego speed - true vx)`): what the accuracy (positions within 1 % of
//! range, velocities within 0.2 m/s) allows at these distances and speeds.
//!
//! The detector is left out on purpose: the truth of a box is only known when the box is made
//! from the truth (a detector's box on a rendered person would add an unknown bias).

#[path = "../examples/planner_view.rs"]
mod planner_view;
mod track_common;

use std::path::Path;

use lookout::config::{Config, DEFAULT_PARAMS_YAML};
use lookout::ground::GroundProjector;
use lookout::mcap_io::Ros2McapWriter;
use lookout::replay::detections::{
    track_detections, DetectionBits, FrameRecord, SliceInfo, FORMAT_VERSION, FRAMES_SCHEMA_NAME,
    FRAMES_TOPIC, SLICE_SCHEMA_NAME, SLICE_TOPIC,
};
use lookout::{BBox, Detection, Header, Time};
use nalgebra::Vector3;
use planner_view::{planner_view, Args};
use track_common::Rng;

const TOPIC: &str = "/cam/front/image_raw/compressed";
const T0_NS: i64 = 1_700_000_000_000_000_000;
const EGO_SPEED_MPS: f64 = 8.0;
const HALF_WIDTH_M: f64 = 1.75;

/// make_calibrated_recording.py's camera: K, plumb_bob D, 1280x720.
const CAMERA_YAML: &str = "image_width: 1280
image_height: 720
camera_name: cam_front
camera_matrix:
  rows: 3
  cols: 3
  data: [900.0, 0.0, 640.0, 0.0, 905.0, 360.0, 0.0, 0.0, 1.0]
distortion_model: plumb_bob
distortion_coefficients:
  rows: 1
  cols: 5
  data: [-0.25, 0.07, 0.001, -0.0005, -0.01]
rectification_matrix:
  rows: 3
  cols: 3
  data: [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
projection_matrix:
  rows: 3
  cols: 4
  data: [880.0, 0.0, 641.0, 0.0, 0.0, 885.0, 359.0, 0.0, 0.0, 0.0, 1.0, 0.0]
";

/// An object at constant velocity on the road.
#[derive(Clone, Copy)]
struct Mover {
    p0_m: [f64; 2],
    v_mps: [f64; 2],
    width_m: f64,
    height_m: f64,
    label: &'static str,
}

impl Mover {
    fn at(&self, t_s: f64) -> [f64; 2] {
        [
            self.p0_m[0] + self.v_mps[0] * t_s,
            self.p0_m[1] + self.v_mps[1] * t_s,
        ]
    }

    fn bbox(&self, proj: &GroundProjector, t_s: f64) -> BBox {
        let [x, y] = self.at(t_s);
        let foot = Vector3::new(x, y, 0.0);
        let head = Vector3::new(x, y, self.height_m);
        let foot_px = proj.ground_to_pixel(foot).unwrap();
        let head_px = proj.ground_to_pixel(head).unwrap();
        let w = 900.0 * self.width_m / proj.pose.to_optical(foot).z;
        BBox {
            x_min: (foot_px.x - w / 2.0) as f32,
            y_min: head_px.y as f32,
            x_max: (foot_px.x + w / 2.0) as f32,
            y_max: foot_px.y as f32,
        }
    }
}

fn movers() -> Vec<Mover> {
    let person = |p0_m, v_mps| Mover {
        p0_m,
        v_mps,
        width_m: 0.6,
        height_m: 1.7,
        label: "pedestrian",
    };
    vec![
        // In the lane, walking towards the ego: 25 m to 17 m.
        person([25.0, 0.5], [-1.0, 0.0]),
        // Crossing from the left: in the lane from 1.6 s to 4.1 s, the nearest then.
        person([12.0, 4.0], [0.0, -1.4]),
        // In the lane, walking away, further.
        person([35.0, -1.0], [1.2, 0.0]),
        // Nearer than all, on the right pavement: not in the lane.
        person([9.0, -3.0], [0.3, 0.0]),
        // A car in the lane, nearer: not a pedestrian.
        Mover {
            p0_m: [15.0, 0.0],
            v_mps: [0.0, 0.0],
            width_m: 1.8,
            height_m: 1.5,
            label: "car",
        },
    ]
}

fn config(dir: &Path) -> Config {
    let yaml = dir.join("cam_front.yaml");
    std::fs::write(&yaml, CAMERA_YAML).unwrap();
    // make_calibrated_recording.py's base_link -> cam_front_link: (1.5, 0.2, 1.6), roll 2.5°,
    // pitch 6°, yaw -3° (ROS RPY).
    let q = nalgebra::UnitQuaternion::from_euler_angles(
        2.5f64.to_radians(),
        6f64.to_radians(),
        -3f64.to_radians(),
    );
    let overrides = vec![
        "ground.enabled=true".to_owned(),
        format!("ground.camera_info_path={}", yaml.display()),
        "ground.translation_m=[1.5, 0.2, 1.6]".to_owned(),
        format!("ground.rotation_xyzw=[{}, {}, {}, {}]", q.i, q.j, q.k, q.w),
        "ground.use_recording_calibration=false".to_owned(),
        // Boxes without images: no image-based camera motion.
        "camera_motion.enabled=false".to_owned(),
    ];
    Config::from_yaml_str(DEFAULT_PARAMS_YAML, Path::new("default"), &overrides).unwrap()
}

/// Writes the scene's detections at `rate_hz` for `duration_s` as a detections MCAP.
fn write_detections(path: &Path, proj: &GroundProjector, rate_hz: f64, duration_s: f64) {
    let mut w = Ros2McapWriter::create(path).unwrap();
    w.add_json_topic(SLICE_TOPIC, SLICE_SCHEMA_NAME, "{}")
        .unwrap();
    w.add_json_topic(FRAMES_TOPIC, FRAMES_SCHEMA_NAME, "{}")
        .unwrap();
    let info = SliceInfo {
        format: FORMAT_VERSION,
        lookout_version: env!("CARGO_PKG_VERSION").to_owned(),
        input_name: "synthetic.mcap".into(),
        input_bytes: 0,
        cameras: vec![(TOPIC.into(), "sensor_msgs/msg/CompressedImage".into())],
        start_ns: None,
        end_ns: None,
        camera_motion: false,
    };
    w.write(SLICE_TOPIC, 0, 0, 0, &serde_json::to_vec(&info).unwrap())
        .unwrap();
    let mut rng = Rng::new(15);
    let movers = movers();
    for k in 0..=(duration_s * rate_hz) as u64 {
        let t_s = k as f64 / rate_hz;
        let detections: Vec<DetectionBits> = movers
            .iter()
            .map(|m| {
                let b = m.bbox(proj, t_s);
                let mut e = || (rng.normal() * 0.5) as f32;
                let d = Detection {
                    bbox: BBox {
                        x_min: b.x_min + e(),
                        y_min: b.y_min + e(),
                        x_max: b.x_max + e(),
                        y_max: b.y_max + e(),
                    },
                    class_index: usize::from(m.label == "car") * 2,
                    label: m.label.into(),
                    score: 0.9,
                };
                DetectionBits::from(&d)
            })
            .collect();
        let stamp_ns = T0_NS + (t_s * 1e9).round() as i64;
        let record = FrameRecord {
            position: k,
            stream: TOPIC.into(),
            index: k,
            log_time_ns: stamp_ns as u64,
            header: Header {
                stamp: Time::from_ns(stamp_ns),
                frame_id: "cam_front_optical".into(),
            },
            detections,
            cur_from_prev: None,
        };
        let json = serde_json::to_vec(&record).unwrap();
        w.write(
            FRAMES_TOPIC,
            stamp_ns as u64,
            stamp_ns as u64,
            k as u32,
            &json,
        )
        .unwrap();
    }
    w.finish().unwrap();
}

/// The truly nearest pedestrian in the lane at `t_s` (index, distance m, ttc s), and whether
/// any pedestrian is within `margin_m` of the lane's edge (where a centimetre decides).
fn truth(t_s: f64, margin_m: f64) -> (Option<(usize, f64, f64)>, bool) {
    let movers = movers();
    let mut near_edge = false;
    let mut best: Option<(usize, f64, f64)> = None;
    for (i, m) in movers.iter().enumerate() {
        if m.label != "pedestrian" {
            continue;
        }
        let [x, y] = m.at(t_s);
        near_edge |= (y.abs() - HALF_WIDTH_M).abs() < margin_m;
        if y.abs() <= HALF_WIDTH_M && x > 0.0 && best.is_none_or(|(_, d, _)| x < d) {
            best = Some((i, x, x / (EGO_SPEED_MPS - m.v_mps[0])));
        }
    }
    (best, near_edge)
}

#[test]
fn nearest_pedestrian_in_lane_and_ttc_match_the_truth() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path());
    let proj = config.ground.projector().unwrap().unwrap();
    let detections = dir.path().join("detections.mcap");
    let results = dir.path().join("results.mcap");
    write_detections(&detections, &proj, 10.0, 7.0);
    track_detections(&[detections], &results, &config).unwrap();

    let frames = planner_view(&Args {
        replay: results,
        topic: None,
        ego_speed_mps: EGO_SPEED_MPS,
        lane_half_width_m: HALF_WIDTH_M,
        front_m: 0.0,
    })
    .unwrap();
    assert_eq!(frames.len(), 71);
    // Track ids are 1.. in the order of the first frame's detections: mover i is id i + 1.
    let mut checked = 0;
    let mut worst_rel = 0.0f64;
    let mut seen = std::collections::BTreeSet::new();
    for f in &frames {
        let t_s = f.stamp_s - T0_NS as f64 * 1e-9;
        let (expected, near_edge) = truth(t_s, 0.3);
        if t_s < 3.0 || near_edge {
            continue;
        }
        let (i, distance_m, ttc_s) = expected.expect("the scene always has one in the lane");
        let threat = f
            .threat
            .unwrap_or_else(|| panic!("none found at {t_s:.1} s"));
        assert_eq!(threat.id, i as u64 + 1, "at {t_s:.1} s: {f}");
        let found = threat
            .ttc_s
            .unwrap_or_else(|| panic!("not closing at {t_s:.1} s: {f}"));
        let rel = (found - ttc_s).abs() / ttc_s;
        assert!(
            (threat.distance_m - distance_m).abs() < 0.01 * distance_m + 0.05,
            "at {t_s:.1} s: distance {} m, true {distance_m} m",
            threat.distance_m
        );
        worst_rel = worst_rel.max(rel);
        seen.insert(i);
        checked += 1;
    }
    eprintln!(
        "{checked} frames checked, worst TTC error {:.2} % ({} lane pedestrians)",
        worst_rel * 100.0,
        seen.len()
    );
    assert!(checked >= 30, "{checked}");
    // Both the crossing pedestrian (while in the lane) and the one walking towards the ego.
    assert_eq!(seen, [0, 1].into_iter().collect());
    assert!(
        worst_rel < 0.05,
        "worst TTC error {:.2} %",
        worst_rel * 100.0
    );
}
