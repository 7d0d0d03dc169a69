//! A planner's view of the ground objects: the nearest pedestrian in the ego lane and its time
//! to collision at the ego's speed, from one `autoware_perception_msgs/TrackedObjects` message
//! as lookout writes it ([`super::outputs::tracked_objects`]). Pure: a message in, a value out;
//! `examples/planner_view.rs` reads a replay's MCAP and prints this per frame.
//!
//! Geometry (`base_link`, REP-103: x forward, y left, metres):
//! - The ego drives straight along +x at `ego_speed_mps`; its lane is `|y| ≤ half_width_m`;
//!   its front is at `x = front_m` (0 when `base_link` is at the front; Autoware's `base_link`
//!   is the rear axle, so pass the wheelbase plus front overhang there).
//! - An object's near face is its box centre minus half its length along x (lookout's boxes
//!   have the identity orientation; for a pedestrian the near face is the measured contact
//!   point), its lateral position the box centre's `y`.
//! - An object is in the lane when `|y| ≤ half_width_m` and its near face is ahead of the front
//!   (`distance_m > 0`). The nearest is the one with the smallest `distance_m`.
//!
//! Time to collision: both keep their velocities and the object keeps its lateral position,
//! `ttc_s = distance_m / closing_speed_mps` with `closing_speed_mps = ego_speed_mps - vx`
//! (`vx` the object's longitudinal velocity over the ground). `None` when the gap does not
//! shrink (`closing_speed_mps ≤ 0`): never, at these velocities. Its standard deviation is
//! propagated to first order from the variances lookout reports (position `x` from the pose
//! covariance, `vx` from the twist covariance; the ego speed is taken as exact).
//!
//! Velocities: lookout's are in `base_link` axes, estimated from positions in `base_link`.
//! For a camera that stands still (a fixed camera, a parked car, or a recording replayed as
//! if the ego moved) they are over the ground, as used here. On a moving vehicle, without
//! ego-motion compensation, they are relative to the vehicle: then the closing speed is `-vx`
//! (pass `ego_speed_mps = 0`).

use crate::msgs::{ObjectClassification, TrackedObject, TrackedObjects};

/// The ego vehicle's lane and front, in `base_link`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EgoLane {
    /// Half the lane width, m: objects with `|y|` up to this are in the lane.
    pub half_width_m: f64,
    /// `x` of the ego's front in `base_link`, m.
    pub front_m: f64,
}

/// The nearest pedestrian in the lane and its time to collision.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LaneThreat {
    /// The track id (the last 8 bytes of lookout's UUID, big-endian).
    pub id: u64,
    /// From the ego's front to the object's near face along x, m (> 0).
    pub distance_m: f64,
    /// The object's `y`, m.
    pub lateral_m: f64,
    /// The object's velocity `[vx, vy]`, m/s.
    pub velocity_mps: [f64; 2],
    /// `ego_speed_mps - vx`, m/s: positive when the gap shrinks.
    pub closing_speed_mps: f64,
    /// Seconds until the gap closes; `None` when it does not.
    pub ttc_s: Option<f64>,
    /// First-order standard deviation of `ttc_s`, s.
    pub ttc_std_s: Option<f64>,
}

/// Whether the object's most probable class is pedestrian.
fn is_pedestrian(o: &TrackedObject) -> bool {
    o.classification
        .iter()
        .max_by(|a, b| a.probability.total_cmp(&b.probability))
        .is_some_and(|c| c.label == ObjectClassification::PEDESTRIAN)
}

/// The track id lookout put in the UUID's last 8 bytes.
pub fn track_id(o: &TrackedObject) -> u64 {
    let mut id = [0u8; 8];
    id.copy_from_slice(&o.object_id.uuid[8..]);
    u64::from_be_bytes(id)
}

/// The nearest pedestrian in the ego lane of one message, with its time to collision at
/// `ego_speed_mps` (module docs); `None` when the lane holds none. Objects with non-finite
/// values are skipped.
pub fn nearest_pedestrian_in_lane(
    objects: &TrackedObjects,
    lane: &EgoLane,
    ego_speed_mps: f64,
) -> Option<LaneThreat> {
    objects
        .objects
        .iter()
        .filter(|o| is_pedestrian(o))
        .filter_map(|o| {
            let k = &o.kinematics;
            let p = &k.pose_with_covariance.pose.position;
            let distance_m = p.x - o.shape.dimensions.x / 2.0 - lane.front_m;
            let v = &k.twist_with_covariance.twist.linear;
            let finite = [distance_m, p.y, v.x, v.y].iter().all(|x| x.is_finite());
            (finite && distance_m > 0.0 && p.y.abs() <= lane.half_width_m).then(|| {
                let closing_speed_mps = ego_speed_mps - v.x;
                let closing = closing_speed_mps > 0.0;
                let ttc_s = closing.then(|| distance_m / closing_speed_mps);
                // d(ttc) = dd / c - d dc / c² with dd ~ σx², dc ~ σvx² (independent enough:
                // the filter's x-vx covariance is small once it has converged).
                let var_x = k.pose_with_covariance.covariance[0].max(0.0);
                let var_vx = k.twist_with_covariance.covariance[0].max(0.0);
                let ttc_std_s = closing.then(|| {
                    (var_x / closing_speed_mps.powi(2)
                        + distance_m.powi(2) * var_vx / closing_speed_mps.powi(4))
                    .sqrt()
                });
                LaneThreat {
                    id: track_id(o),
                    distance_m,
                    lateral_m: p.y,
                    velocity_mps: [v.x, v.y],
                    closing_speed_mps,
                    ttc_s,
                    ttc_std_s,
                }
            })
        })
        .min_by(|a, b| a.distance_m.total_cmp(&b.distance_m))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::msgs::{Uuid, Vector3};
    use approx::assert_relative_eq;

    fn object(id: u64, label: u8, x: f64, y: f64, vx: f64) -> TrackedObject {
        let mut o = TrackedObject {
            object_id: Uuid {
                uuid: [[0xab; 8], id.to_be_bytes()].concat().try_into().unwrap(),
            },
            classification: vec![ObjectClassification {
                label,
                probability: 1.0,
            }],
            ..TrackedObject::default()
        };
        o.kinematics.pose_with_covariance.pose.position.x = x;
        o.kinematics.pose_with_covariance.pose.position.y = y;
        o.kinematics.pose_with_covariance.covariance[0] = 0.04;
        o.kinematics.twist_with_covariance.twist.linear.x = vx;
        o.kinematics.twist_with_covariance.covariance[0] = 0.01;
        o.shape.dimensions = Vector3 {
            x: 0.6,
            y: 0.6,
            z: 1.7,
        };
        o
    }

    const LANE: EgoLane = EgoLane {
        half_width_m: 1.75,
        front_m: 0.0,
    };
    const PED: u8 = ObjectClassification::PEDESTRIAN;

    fn objects(list: Vec<TrackedObject>) -> TrackedObjects {
        TrackedObjects {
            objects: list,
            ..TrackedObjects::default()
        }
    }

    #[test]
    fn nearest_pedestrian_in_the_lane_and_its_ttc() {
        let msg = objects(vec![
            object(1, PED, 30.3, 0.5, 0.0),
            // Nearer but outside the lane, and a nearer car: neither counts.
            object(2, PED, 8.3, 2.5, 0.0),
            object(3, ObjectClassification::CAR, 5.0, 0.0, 0.0),
            // Behind the front.
            object(4, PED, 0.2, 0.0, 0.0),
            // The one: near face at 20 m, walking towards the ego at 1 m/s.
            object(5, PED, 20.3, -1.7, -1.0),
        ]);
        let t = nearest_pedestrian_in_lane(&msg, &LANE, 8.0).unwrap();
        assert_eq!(t.id, 5);
        assert_relative_eq!(t.distance_m, 20.0, epsilon = 1e-12);
        assert_relative_eq!(t.closing_speed_mps, 9.0);
        assert_relative_eq!(t.ttc_s.unwrap(), 20.0 / 9.0, epsilon = 1e-12);
        let std = (0.04 / 81.0 + 400.0 * 0.01 / 9f64.powi(4)).sqrt();
        assert_relative_eq!(t.ttc_std_s.unwrap(), std, epsilon = 1e-12);
        // The ego's front 4 m ahead of base_link shortens the gap.
        let front = EgoLane {
            front_m: 4.0,
            ..LANE
        };
        let t = nearest_pedestrian_in_lane(&msg, &front, 8.0).unwrap();
        assert_relative_eq!(t.ttc_s.unwrap(), 16.0 / 9.0, epsilon = 1e-12);
    }

    #[test]
    fn no_ttc_when_the_gap_does_not_shrink() {
        // Walking away as fast as the ego drives, or the ego standing still.
        let msg = objects(vec![object(7, PED, 10.3, 0.0, 5.0)]);
        let t = nearest_pedestrian_in_lane(&msg, &LANE, 5.0).unwrap();
        assert_eq!((t.ttc_s, t.ttc_std_s), (None, None));
        let t = nearest_pedestrian_in_lane(&msg, &LANE, 0.0).unwrap();
        assert_eq!(t.ttc_s, None);
        // Walking away slower than the ego: closing.
        let t = nearest_pedestrian_in_lane(&msg, &LANE, 8.0).unwrap();
        assert_relative_eq!(t.ttc_s.unwrap(), 10.0 / 3.0, epsilon = 1e-12);
    }

    #[test]
    fn empty_lane_and_bad_values_give_none() {
        assert_eq!(
            nearest_pedestrian_in_lane(&objects(vec![]), &LANE, 8.0),
            None
        );
        let msg = objects(vec![
            object(1, PED, f64::NAN, 0.0, 0.0),
            object(2, PED, 10.0, 0.0, f64::INFINITY),
            object(3, PED, 10.0, 1.76, 0.0),
        ]);
        assert_eq!(nearest_pedestrian_in_lane(&msg, &LANE, 8.0), None);
    }
}
