//! Camera-motion compensation in the tracker: the image transform between the previous frame
//! and this one ([`Affine2`] `cur_from_prev`, estimated by [`crate::motion::CameraMotion`])
//! moves every track into the current frame's pixels before it is predicted and associated,
//! as BoT-SORT's GMC does (Aharon et al., 2022, §3.2, eq. 8-10) and Deep OC-SORT does for
//! OC-SORT's observations (Maggiolino et al., *Deep OC-SORT*, 2023, §3.1).
//!
//! For a transform `p' = A p + t` with isotropic scale `s = sqrt(|det A|)`, the state
//! `[cx, cy, w, h, vcx, vcy, vw, vh]` ([`super::kalman`]) maps as
//!
//! ```text
//! c' = A c + t,   (w', h') = s (w, h),   v_c' = A v_c,   (v_w', v_h') = s (v_w, v_h)
//! P' = J P Jᵀ,    J = blockdiag(A, s I₂, A, s I₂)
//! ```
//!
//! so the velocity stays the object's own motion (in the new pixels) and the camera's motion is
//! not learnt into it. BoT-SORT applies `A` to `(w, h)` too, which mixes width and height
//! under rotation; the box size of a rotated view is better kept as a scaled size. The same
//! map moves each track's belief at its last update (OC-SORT's re-update starts there) and its
//! observed boxes (momentum and recovery read them).

use super::kalman::{Gaussian, MeasurementVector, StateCovariance};
use super::tracker::Track;
use super::{TrackError, TrackOutput, Tracker};
use crate::motion::Affine2;
use crate::types::{Detection, Time};

/// The Jacobian `J = blockdiag(A, s I₂, A, s I₂)` of the state map.
fn jacobian(t: &Affine2) -> StateCovariance {
    let a = t.linear();
    let s = t.scale();
    let mut j = StateCovariance::zeros();
    for base in [0, 4] {
        for r in 0..2 {
            for c in 0..2 {
                j[(base + r, base + c)] = a[r][c];
            }
        }
        j[(base + 2, base + 2)] = s;
        j[(base + 3, base + 3)] = s;
    }
    j
}

/// A box `[cx, cy, w, h]` in the previous frame's pixels, in the current frame's.
pub fn warp_box(z: &MeasurementVector, cur_from_prev: &Affine2) -> MeasurementVector {
    let (cx, cy) = cur_from_prev.apply(z[0], z[1]);
    let s = cur_from_prev.scale();
    MeasurementVector::new(cx, cy, s * z[2], s * z[3])
}

/// A belief over the state in the previous frame's pixels, in the current frame's.
pub fn warp_gaussian(g: &Gaussian, cur_from_prev: &Affine2) -> Gaussian {
    let j = jacobian(cur_from_prev);
    let mut mean = j * g.mean;
    let (tx, ty) = cur_from_prev.translation_px();
    mean[0] += tx;
    mean[1] += ty;
    let p = j * g.covariance * j.transpose();
    Gaussian {
        mean,
        covariance: (p + p.transpose()) * 0.5,
    }
}

/// Moves tracks into the pixels that `cur_from_prev` maps their frame to (see
/// [`Tracker::apply_camera_motion`]).
pub(super) fn warp_tracks(tracks: &mut [Track], cur_from_prev: &Affine2) {
    for t in tracks {
        t.filter = warp_gaussian(&t.filter, cur_from_prev);
        t.filter_at_last_update = warp_gaussian(&t.filter_at_last_update, cur_from_prev);
        t.observations.map_boxes(|z| warp_box(z, cur_from_prev));
    }
}

impl Tracker {
    /// Moves every track into the pixels of a frame that the camera's motion `cur_from_prev`
    /// takes the previous frame to (its belief, its belief at the last update and its observed
    /// boxes). Call it between two updates, with the motion from the last update's frame to
    /// the next one's; [`Tracker::update_with_camera_motion`] does both in one step.
    pub fn apply_camera_motion(&mut self, cur_from_prev: &Affine2) {
        warp_tracks(&mut self.tracks, cur_from_prev);
    }

    /// [`Tracker::update`] after [`Tracker::apply_camera_motion`]: `cur_from_prev` is the
    /// image motion from the previous update's frame to this one. The input is checked first,
    /// so a bad stamp or detection leaves the tracker unchanged (the motion not applied either);
    /// only a numerical failure of a Kalman step, after the warp, leaves the tracks warped.
    pub fn update_with_camera_motion(
        &mut self,
        stamp: Time,
        dets: &[Detection],
        cur_from_prev: &Affine2,
    ) -> Result<Vec<TrackOutput>, TrackError> {
        // Checked before warping instead of copying every track on every frame to roll back.
        self.check(stamp.as_ns(), dets)?;
        self.apply_camera_motion(cur_from_prev);
        self.update_moved(stamp, dets, true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::track::kalman::{self, KalmanNoise, StateVector};
    use crate::track::TrackerConfig;
    use crate::types::BBox;

    fn det(cx: f32, cy: f32) -> Detection {
        Detection {
            bbox: BBox::from_center(cx, cy, 20.0, 40.0),
            class_index: 0,
            label: "pedestrian".into(),
            score: 0.9,
        }
    }

    fn stamp(k: i64) -> Time {
        // 7 frames/s.
        Time::from_ns(k * 142_857_143)
    }

    #[test]
    fn belief_moves_with_the_image() {
        let mut g = kalman::initiate(
            &MeasurementVector::new(100.0, 50.0, 20.0, 40.0),
            &KalmanNoise::default(),
        )
        .unwrap();
        g.mean[4] = 10.0; // vcx px/s
        g.covariance[(0, 4)] = 3.0;
        g.covariance[(4, 0)] = 3.0;
        let t = Affine2::similarity(1.1, std::f64::consts::FRAC_PI_2, 5.0, -7.0);
        let w = warp_gaussian(&g, &t);
        let (cx, cy) = t.apply(100.0, 50.0);
        let expected = StateVector::from_column_slice(&[
            cx, cy, 22.0, 44.0, 0.0, 11.0, // the x velocity rotated onto y and scaled
            0.0, 0.0,
        ]);
        assert!((w.mean - expected).abs().max() < 1e-9, "{:?}", w.mean);
        // Position variance along x (isotropic) becomes the scaled variance, and the
        // x-position/x-velocity covariance becomes a y/y one.
        assert!((w.covariance[(1, 5)] - 3.0 * 1.21).abs() < 1e-9);
        assert!(w.covariance[(0, 4)].abs() < 1e-9);
        assert!((w.covariance[(2, 2)] - g.covariance[(2, 2)] * 1.21).abs() < 1e-9);
        assert_eq!(w.covariance, w.covariance.transpose());
        assert!(w.covariance.cholesky().is_some());
        // The identity changes nothing.
        assert_eq!(warp_gaussian(&g, &Affine2::IDENTITY), g);
    }

    /// A standing pedestrian seen by a camera that turns between two frames: its box jumps
    /// 40 px in the image, twice its width, then stays.
    fn panned_ids(compensate: bool) -> Vec<u64> {
        let mut tracker = Tracker::new(TrackerConfig::default()).unwrap();
        let mut ids = Vec::new();
        let mut x = 200.0;
        for k in 0..12 {
            let pan = if k == 6 { -40.0 } else { 0.0 };
            x += pan;
            let dets = [det(x as f32, 120.0)];
            let out = if compensate {
                tracker
                    .update_with_camera_motion(stamp(k), &dets, &Affine2::translation(pan, 0.0))
                    .unwrap()
            } else {
                tracker.update(stamp(k), &dets).unwrap()
            };
            ids.extend(out.iter().map(|t| t.id));
        }
        ids
    }

    #[test]
    fn compensation_keeps_the_id_through_a_pan() {
        let with = panned_ids(true);
        assert!(
            with.len() == 11 && with.iter().all(|&id| id == with[0]),
            "{with:?}"
        );
        // Without it the same scene breaks the track (so the test above can fail).
        let without = panned_ids(false);
        assert!(without.iter().any(|&id| id != without[0]), "{without:?}");
    }

    #[test]
    fn the_predicted_box_is_at_the_warped_place() {
        let mut tracker = Tracker::new(TrackerConfig::default()).unwrap();
        for k in 0..4 {
            tracker.update(stamp(k), &[det(300.0, 200.0)]).unwrap();
        }
        // The camera zooms by 1.2 about the image origin and shifts by (10, -20).
        let t = Affine2::similarity(1.2, 0.0, 10.0, -20.0);
        let mut zoomed = det(370.0, 220.0);
        zoomed.bbox = BBox::from_center(370.0, 220.0, 24.0, 48.0);
        let out = tracker
            .update_with_camera_motion(stamp(4), &[zoomed], &t)
            .unwrap();
        assert_eq!(out.len(), 1);
        let (cx, cy) = out[0].bbox.center();
        // The filter is pulled to the detection at (370, 220) = t(300, 200) exactly.
        assert!(
            (cx - 370.0).abs() < 1.0 && (cy - 220.0).abs() < 1.0,
            "{cx} {cy}"
        );
        // The width scaled from 20 to 24 with the image.
        assert!(
            (out[0].bbox.width() - 24.0).abs() < 0.5,
            "{:?}",
            out[0].bbox
        );
    }

    #[test]
    fn an_error_leaves_the_tracker_unwarped() {
        let mut tracker = Tracker::new(TrackerConfig::default()).unwrap();
        for k in 0..3 {
            tracker.update(stamp(k), &[det(300.0, 200.0)]).unwrap();
        }
        let mut reference = tracker.clone();
        let t = Affine2::translation(100.0, 0.0);
        assert!(tracker
            .update_with_camera_motion(stamp(1), &[det(400.0, 200.0)], &t)
            .is_err());
        let a = tracker.update(stamp(3), &[det(300.0, 200.0)]).unwrap();
        let b = reference.update(stamp(3), &[det(300.0, 200.0)]).unwrap();
        assert_eq!(a, b);
    }
}
