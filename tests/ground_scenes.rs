//! Synthetic scenes with known truth for the ground-plane stage: a distorted camera mounted
//! with roll, pitch and yaw, objects walking or driving at known positions and velocities on
//! the road, their boxes projected exactly through the camera plus seeded Gaussian pixel noise,
//! then the image tracker and the ground tracker, as the engine chains them. After the filters
//! converge every reported position must be within 1 % of its range and every velocity within
//! 0.2 m/s of the truth; objects above the horizon get no position.

mod track_common;

use lookout::ground::{
    CameraModel, CameraPose, GroundFilterNoise, GroundObject, GroundProjector, GroundTracker,
    GroundTrackerParams,
};
use lookout::track::{Tracker, TrackerConfig};
use lookout::{BBox, Detection, Time};
use nalgebra::{UnitQuaternion, Vector2, Vector3};
use track_common::Rng;

/// An object moving at constant velocity on the road (or hovering at `z0_m`, for the
/// above-horizon case), with its size.
#[derive(Clone, Copy)]
struct Mover {
    p0_m: [f64; 2],
    v_mps: [f64; 2],
    z0_m: f64,
    width_m: f64,
    height_m: f64,
    label: &'static str,
    /// From this time on, this velocity instead (a stop or a turn), s and m/s.
    then: Option<(f64, [f64; 2])>,
}

impl Mover {
    fn at(&self, t_s: f64) -> Vector3<f64> {
        let (t1_s, t2_s, v2) = match self.then {
            Some((t_turn_s, v2)) if t_s > t_turn_s => (t_turn_s, t_s - t_turn_s, v2),
            _ => (t_s, 0.0, [0.0; 2]),
        };
        Vector3::new(
            self.p0_m[0] + self.v_mps[0] * t1_s + v2[0] * t2_s,
            self.p0_m[1] + self.v_mps[1] * t1_s + v2[1] * t2_s,
            self.z0_m,
        )
    }

    fn velocity(&self, t_s: f64) -> [f64; 2] {
        match self.then {
            Some((t_turn_s, v2)) if t_s > t_turn_s => v2,
            _ => self.v_mps,
        }
    }

    /// The exact image box: bottom centre at the contact point's pixel, top at the head's,
    /// width from the depth.
    fn bbox(&self, proj: &GroundProjector, t_s: f64) -> BBox {
        let foot = self.at(t_s);
        let head = foot + Vector3::new(0.0, 0.0, self.height_m);
        let foot_px = proj.ground_to_pixel(foot).unwrap();
        let head_px = proj.ground_to_pixel(head).unwrap();
        let depth_m = proj.pose.to_optical(foot).z;
        let fx = 900.0;
        let w = fx * self.width_m / depth_m;
        BBox {
            x_min: (foot_px.x - w / 2.0) as f32,
            y_min: head_px.y as f32,
            x_max: (foot_px.x + w / 2.0) as f32,
            y_max: foot_px.y as f32,
        }
    }
}

fn projector() -> GroundProjector {
    // camera_link 1.6 m up, 1.5 m ahead of base_link, 0.2 m left: pitched 6° down, rolled
    // 2.5°, yawed -3°; barrel distortion.
    let base_from_body = UnitQuaternion::from_euler_angles(
        2.5f64.to_radians(),
        6f64.to_radians(),
        -3f64.to_radians(),
    );
    GroundProjector {
        camera: CameraModel::pinhole(1280, 720, 900.0, 900.0, 640.0, 360.0)
            .with_distortion([-0.25, 0.07, 0.001, -0.0005, -0.01]),
        pose: CameraPose::from_body(Vector3::new(1.5, 0.2, 1.6), base_from_body),
        max_range_m: 80.0,
    }
}

fn movers() -> Vec<Mover> {
    let person = |p0_m, v_mps| Mover {
        p0_m,
        v_mps,
        z0_m: 0.0,
        width_m: 0.6,
        height_m: 1.7,
        label: "pedestrian",
        then: None,
    };
    vec![
        // Crossing the road ahead, left to right.
        person([12.0, 4.0], [0.0, -1.4]),
        // Walking towards the car on the right pavement.
        person([22.0, -3.0], [-1.2, 0.0]),
        // Walking away, diagonally.
        person([7.0, -1.5], [0.9, 0.5]),
        // A car ahead coming closer (20 m to 12 m).
        Mover {
            p0_m: [20.0, 1.5],
            v_mps: [-1.0, 0.0],
            z0_m: 0.0,
            width_m: 1.8,
            height_m: 1.5,
            label: "car",
            then: None,
        },
    ]
}

/// Runs the scene at `rate_hz` for `duration_s` with `noise_px` of box noise; returns per frame
/// the time and the ground objects with their truth (matched by the box the track was born
/// from: ids are assigned in detection order of the first frame).
fn run(
    movers: &[Mover],
    rate_hz: f64,
    duration_s: f64,
    noise_px: f64,
    seed: u64,
) -> Vec<(f64, Vec<GroundObject>)> {
    // The filter is told the scene's pixel noise (absolute pixels, none growing with the box:
    // what a calibrated deployment sets `contact_std_px` to) and runs with the default motion
    // model (steady acceleration noise, adaptive gain), as shipped.
    let proj = projector();
    let mut tracker = Tracker::new(TrackerConfig::default()).unwrap();
    let params = GroundTrackerParams {
        contact_std_px: noise_px.max(0.5),
        contact_std_rel: 0.0,
        noise: GroundFilterNoise::default(),
        ..GroundTrackerParams::default()
    };
    let mut ground = GroundTracker::new(proj.clone(), params);
    let mut rng = Rng::new(seed);
    let mut frames = Vec::new();
    let n = (duration_s * rate_hz) as i64;
    for k in 0..=n {
        let t_s = k as f64 / rate_hz;
        let detections: Vec<Detection> = movers
            .iter()
            .map(|m| {
                let b = m.bbox(&proj, t_s);
                let e = |rng: &mut Rng| (rng.normal() * noise_px) as f32;
                Detection {
                    bbox: BBox {
                        x_min: b.x_min + e(&mut rng),
                        y_min: b.y_min + e(&mut rng),
                        x_max: b.x_max + e(&mut rng),
                        y_max: b.y_max + e(&mut rng),
                    },
                    class_index: usize::from(m.label == "car") * 2,
                    label: m.label.into(),
                    score: 0.9,
                }
            })
            .collect();
        let stamp = Time::from_ns(1_000_000_000 + (t_s * 1e9).round() as i64);
        let tracks = tracker.update(stamp, &detections).unwrap();
        let objects = ground.update(stamp.as_ns(), &tracks).unwrap();
        frames.push((t_s, objects));
    }
    frames
}

/// The truth of track `id` (ids are 1.. in the order of the first frame's detections).
fn truth(movers: &[Mover], id: u64) -> &Mover {
    &movers[(id - 1) as usize]
}

#[test]
fn positions_and_velocities_match_the_truth_after_convergence() {
    let movers = movers();
    for (rate_hz, seed) in [(10.0, 1), (25.0, 2), (7.0, 3)] {
        let frames = run(&movers, rate_hz, 8.0, 0.5, seed);
        let mut checked = 0;
        let mut worst_pos_rel = 0.0f64;
        let mut worst_vel = 0.0f64;
        // Per object: range seen (min, max), worst position error % of range, worst velocity error.
        let mut per_object = std::collections::BTreeMap::<u64, (f64, f64, f64, f64)>::new();
        for (t_s, objects) in &frames {
            if *t_s < 3.0 {
                continue;
            }
            assert_eq!(objects.len(), movers.len(), "at {t_s} s");
            for o in objects {
                let m = truth(&movers, o.id);
                assert_eq!(&*o.label, m.label);
                let g = o.ground.expect("every object is on the road in range");
                let p = m.at(*t_s);
                let err = (Vector2::from(g.position_m) - p.xy()).norm();
                let range_m = (p - projector().pose.translation_m).norm();
                let v_err =
                    (Vector2::from(g.velocity_mps) - Vector2::from(m.velocity(*t_s))).norm();
                worst_pos_rel = worst_pos_rel.max(err / range_m);
                worst_vel = worst_vel.max(v_err);
                let e = per_object
                    .entry(o.id)
                    .or_insert((f64::INFINITY, 0.0, 0.0, 0.0));
                *e = (
                    e.0.min(range_m),
                    e.1.max(range_m),
                    e.2.max(100.0 * err / range_m),
                    e.3.max(v_err),
                );
                checked += 1;
            }
        }
        assert!(checked > 100, "{checked}");
        for (id, (r_min, r_max, pos, vel)) in &per_object {
            eprintln!(
                "{rate_hz} Hz: object {id}: range {r_min:.1}-{r_max:.1} m, worst position error \
                 {pos:.2} % of range, worst velocity error {vel:.3} m/s"
            );
        }
        eprintln!(
            "{rate_hz} Hz: {checked} estimates, worst position error {:.2} % of range, worst \
             velocity error {worst_vel:.3} m/s",
            worst_pos_rel * 100.0
        );
        assert!(
            worst_pos_rel < 0.01,
            "{rate_hz} Hz: worst position error {:.2} % of range",
            worst_pos_rel * 100.0
        );
        assert!(
            worst_vel < 0.2,
            "{rate_hz} Hz: worst velocity error {worst_vel:.3} m/s"
        );
    }
}

#[test]
fn exact_boxes_give_exact_positions() {
    // No noise: the first measurement is the truth (to the f32 box corners), and the filter,
    // whose model is the truth's, converges onto it.
    let movers = movers();
    let frames = run(&movers, 10.0, 3.0, 0.0, 4);
    for (t_s, objects) in frames.iter().filter(|(t_s, _)| *t_s == 0.1 || *t_s > 1.5) {
        for o in objects {
            let g = o.ground.unwrap();
            let p = truth(&movers, o.id).at(*t_s);
            let err = (Vector2::from(g.position_m) - p.xy()).norm();
            assert!(err < 1e-3 * p.norm(), "{err} m at {t_s} s");
        }
    }
}

#[test]
fn objects_above_the_horizon_have_no_position() {
    // A kite 12 m up, 60 m ahead: its box bottom is above the horizon.
    let mut movers = movers();
    movers.push(Mover {
        p0_m: [60.0, 0.0],
        v_mps: [0.0, 0.5],
        z0_m: 12.0,
        width_m: 1.0,
        height_m: 1.0,
        label: "pedestrian",
        then: None,
    });
    let frames = run(&movers, 10.0, 3.0, 0.5, 5);
    let (_, last) = frames.last().unwrap();
    assert_eq!(last.len(), movers.len());
    for o in last {
        if o.id == movers.len() as u64 {
            assert_eq!(o.ground, None, "the hovering object has no road position");
        } else {
            assert!(o.ground.is_some());
        }
    }
}

#[test]
fn far_objects_are_less_certain() {
    let movers = movers();
    let frames = run(&movers, 10.0, 2.0, 0.5, 6);
    let (_, last) = frames.last().unwrap();
    let var_x = |id: u64| {
        last.iter()
            .find(|o| o.id == id)
            .unwrap()
            .ground
            .unwrap()
            .covariance[0][0]
    };
    // Track 2 (20 m) against track 3 (8.8 m): longitudinal variance grows with range.
    assert!(var_x(2) > 2.0 * var_x(3), "{} vs {}", var_x(2), var_x(3));
}

/// The worst velocity error (m/s) over the frames from `from_s` to `to_s`, over all movers.
fn worst_velocity_error(
    movers: &[Mover],
    frames: &[(f64, Vec<GroundObject>)],
    from_s: f64,
    to_s: f64,
) -> f64 {
    let mut worst = 0.0f64;
    for (t_s, objects) in frames.iter().filter(|(t, _)| (from_s..=to_s).contains(t)) {
        for o in objects {
            let g = o.ground.unwrap();
            let v = truth(movers, o.id).velocity(*t_s);
            worst = worst.max((Vector2::from(g.velocity_mps) - Vector2::from(v)).norm());
        }
    }
    worst
}

#[test]
fn manoeuvres_are_followed() {
    // Pedestrians that stop, turn and start at 4 s, and a car that brakes from 6 to 2 m/s: the
    // default (steady-motion) process noise must still follow them, velocities within 0.2 m/s
    // again 2 s after the manoeuvre.
    let mut movers = movers();
    movers[0].then = Some((4.0, [0.0, 0.0]));
    movers[1].then = Some((4.0, [0.0, -1.2]));
    movers[2].then = Some((4.0, [1.4, 0.0]));
    movers[2].v_mps = [0.0, 0.0];
    movers[3].then = Some((4.0, [-2.0, 0.0]));
    movers[3].v_mps = [-6.0, 0.0];
    movers[3].p0_m = [40.0, 1.5];
    for (rate_hz, seed) in [(10.0, 7), (25.0, 8), (7.0, 9)] {
        let frames = run(&movers, rate_hz, 8.0, 0.5, seed);
        let before = worst_velocity_error(&movers, &frames, 3.0, 4.0);
        let soon = worst_velocity_error(&movers, &frames, 5.0, 8.0);
        let after = worst_velocity_error(&movers, &frames, 6.0, 8.0);
        eprintln!(
            "{rate_hz} Hz: worst velocity error before the manoeuvre {before:.3} m/s, from 1 s \
             after it {soon:.3} m/s, from 2 s after it {after:.3} m/s"
        );
        assert!(before < 0.2, "{rate_hz} Hz: {before:.3} m/s before");
        assert!(after < 0.2, "{rate_hz} Hz: {after:.3} m/s from 2 s after");
    }
}
