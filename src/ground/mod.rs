//! Objects on the road: each tracked box's contact point (bottom centre, undistorted) projected
//! onto the plane `z = 0` of `base_link` through the camera's calibration and pose, and tracked
//! there by a constant-velocity Kalman filter per track id, so a planner gets positions in
//! metres and velocities in m/s in the vehicle frame, with covariances.
//!
//! * [`camera`]: [`CameraModel`] (pinhole + `plumb_bob`, from CameraInfo fields), [`CameraPose`]
//!   (the optical frame in `base_link`), [`GroundProjector`] (pixel -> road point and the
//!   Jacobian metres per pixel).
//! * [`calibration`]: intrinsics from a `camera_calibration_parsers` YAML file or a CameraInfo
//!   message, the optical frame's pose from `/tf_static` transforms.
//! * [`config`]: [`GroundConfig`], the `ground:` block of the parameter file.
//! * [`filter`]: [`GroundFilter`], the per-object Kalman filter on the road plane.
//! * [`outputs`]: the objects as `vision_msgs/Detection3DArray`, Autoware `TrackedObjects` and
//!   `foxglove.SceneUpdate`.
//! * [`planner`]: a consumer's view of `TrackedObjects`: the nearest pedestrian in the ego lane
//!   and its time to collision (`examples/planner_view.rs`).
//! * [`GroundTracker`]: runs beside the image tracker (keyed by its track ids): tracks in
//!   ([`crate::track::TrackOutput`], image pixels), [`GroundObject`]s out.
//!
//! Input: the image tracker's output of one frame and the frame's stamp. Output: one
//! [`GroundObject`] per reported track, in the same order, with a [`GroundState`] when the
//! contact point's ray meets the road within range, `None` otherwise (above the horizon: no
//! position rather than a wrong one). Pure: no clocks, files or channels.
//!
//! Measurement noise: the contact pixel's standard deviation is
//! `sqrt(contact_std_px² + (contact_std_rel · box height)²)` in both axes, mapped to metres by
//! the projection's Jacobian `J` (`R = J Σ_px Jᵀ`). The measurement is the detection box the
//! image tracker matched in this frame ([`TrackOutput::observed_bbox`]), not its filtered box:
//! a second filter on the first one's output would lag (a constant velocity on the road is not
//! one in the image) and count the same noise as independent twice.

pub mod calibration;
pub mod camera;
pub mod config;
pub mod filter;
pub mod outputs;
pub mod planner;

use std::collections::BTreeMap;
use std::sync::Arc;

use nalgebra::{Matrix2, Vector2};

pub use camera::{
    CameraInfoFields, CameraModel, CameraPose, GroundPoint, GroundProjector, ImageKind,
};
pub use config::{GroundConfig, PoseFrame};
pub use filter::{GroundFilter, GroundFilterNoise};

use crate::track::TrackOutput;

/// A calibration or ground-tracking failure.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum GroundError {
    #[error("camera calibration: {message}")]
    Calibration { message: String },
    #[error("ground filter: time step {dt_s} s is negative or not finite")]
    TimeStep { dt_s: f64 },
    #[error("ground filter: innovation covariance is not positive definite")]
    SingularInnovation,
}

/// How the contact pixel's noise is modelled and how the ground filter behaves.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GroundTrackerParams {
    /// Pixel standard deviation of the contact point, px.
    pub contact_std_px: f64,
    /// Added (in quadrature) pixel standard deviation per pixel of box height.
    pub contact_std_rel: f64,
    pub noise: GroundFilterNoise,
    /// Seconds a track's ground filter is kept without a measurement.
    pub max_age_s: f64,
}

impl Default for GroundTrackerParams {
    fn default() -> Self {
        Self {
            contact_std_px: 2.0,
            contact_std_rel: 0.03,
            noise: GroundFilterNoise::default(),
            max_age_s: 2.0,
        }
    }
}

/// An object's state on the road, in `base_link`.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct GroundState {
    /// The contact point (bottom centre of the box) `[x, y]`, m.
    pub position_m: [f64; 2],
    /// `[vx, vy]`, m/s.
    pub velocity_mps: [f64; 2],
    /// Covariance of `[x, y, vx, vy]` (m², m²/s, m²/s²), row-major.
    pub covariance: [[f64; 4]; 4],
    /// Distance from the camera's optical centre to the measured contact point, m.
    pub range_m: f64,
}

/// One tracked object as the ground tracker reports it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct GroundObject {
    /// The image tracker's id.
    pub id: u64,
    pub label: Arc<str>,
    pub class_index: usize,
    pub score: f32,
    /// `None` when the contact point's ray does not meet the road within range (at or above
    /// the horizon) or the track was not measured since its ground filter started.
    pub ground: Option<GroundState>,
}

/// The belief of one track and when it was last moved.
#[derive(Debug, Clone)]
struct Entry {
    filter: GroundFilter,
    stamp_ns: i64,
    last_measured_ns: i64,
    range_m: f64,
}

/// Ground-plane filters keyed by the image tracker's ids, for one camera stream.
#[derive(Debug, Clone)]
pub struct GroundTracker {
    projector: GroundProjector,
    params: GroundTrackerParams,
    entries: BTreeMap<u64, Entry>,
}

impl GroundTracker {
    pub fn new(projector: GroundProjector, params: GroundTrackerParams) -> Self {
        Self {
            projector,
            params,
            entries: BTreeMap::new(),
        }
    }

    /// The camera and pose in use.
    pub fn projector(&self) -> &GroundProjector {
        &self.projector
    }

    /// Drops every filter (the image tracker was restarted: its ids name new objects).
    pub fn restart(&mut self) {
        self.entries.clear();
    }

    /// The contact pixel of a box and its covariance (px²).
    fn contact(&self, bbox: &crate::types::BBox) -> (Vector2<f64>, Matrix2<f64>) {
        let (cx, _) = bbox.center();
        let h = f64::from(bbox.height());
        let var = self.params.contact_std_px.powi(2) + (self.params.contact_std_rel * h).powi(2);
        (
            Vector2::new(f64::from(cx), f64::from(bbox.y_max)),
            Matrix2::identity() * var,
        )
    }

    /// One frame of the image tracker's output at `stamp_ns` (strictly later than the previous
    /// call's, as the engine's time policy guarantees). Tracks matched in this frame update
    /// their filters with the matched detection's box ([`TrackOutput::observed_bbox`]);
    /// coasting tracks are predicted.
    pub fn update(
        &mut self,
        stamp_ns: i64,
        tracks: &[TrackOutput],
    ) -> Result<Vec<GroundObject>, GroundError> {
        let noise = self.params.noise;
        let mut out = Vec::with_capacity(tracks.len());
        for t in tracks {
            let measured = t.observed_bbox.is_some();
            let point = t.observed_bbox.and_then(|bbox| {
                let (px, cov_px) = self.contact(&bbox);
                self.projector.pixel_to_ground(px).map(|g| {
                    let j = g.jacobian_m_per_px;
                    (g, j * cov_px * j.transpose())
                })
            });
            let ground = match (point, self.entries.get_mut(&t.id)) {
                (Some((g, r)), Some(e)) => {
                    e.filter
                        .predict((stamp_ns - e.stamp_ns) as f64 * 1e-9, &noise)?;
                    e.filter.update(g.position_m, r)?;
                    e.stamp_ns = stamp_ns;
                    e.last_measured_ns = stamp_ns;
                    e.range_m = g.range_m;
                    Some(state_of(e))
                }
                (Some((g, r)), None) => {
                    let e = Entry {
                        filter: GroundFilter::new(g.position_m, r, &noise),
                        stamp_ns,
                        last_measured_ns: stamp_ns,
                        range_m: g.range_m,
                    };
                    let s = state_of(&e);
                    self.entries.insert(t.id, e);
                    Some(s)
                }
                // Measured, but the contact point is not on the road in range: the old belief
                // no longer describes what is seen.
                (None, Some(_)) if measured => {
                    self.entries.remove(&t.id);
                    None
                }
                (None, Some(e)) => {
                    e.filter
                        .predict((stamp_ns - e.stamp_ns) as f64 * 1e-9, &noise)?;
                    e.stamp_ns = stamp_ns;
                    Some(state_of(e))
                }
                (None, None) => None,
            };
            out.push(GroundObject {
                id: t.id,
                label: t.label.clone(),
                class_index: t.class_index,
                score: t.score,
                ground,
            });
        }
        let max_age_ns = (self.params.max_age_s * 1e9) as i64;
        self.entries
            .retain(|_, e| stamp_ns - e.last_measured_ns <= max_age_ns);
        Ok(out)
    }
}

fn state_of(e: &Entry) -> GroundState {
    let p = &e.filter.covariance;
    let mut covariance = [[0.0; 4]; 4];
    for (i, row) in covariance.iter_mut().enumerate() {
        for (j, c) in row.iter_mut().enumerate() {
            *c = p[(i, j)];
        }
    }
    GroundState {
        position_m: [e.filter.mean[0], e.filter.mean[1]],
        velocity_mps: [e.filter.mean[2], e.filter.mean[3]],
        covariance,
        range_m: e.range_m,
    }
}

/// Typical size `[length, width, height]` in metres of an output class (lookout's default
/// class names), used where a box's 3D extent is needed and the camera cannot measure it.
/// Unknown classes get 1 m cubes.
pub fn size_prior_m(label: &str) -> [f64; 3] {
    match label {
        "pedestrian" => [0.6, 0.6, 1.7],
        "bicycle" => [1.8, 0.6, 1.7],
        "motorcycle" => [2.2, 0.8, 1.5],
        "car" => [4.5, 1.8, 1.5],
        "truck" => [8.0, 2.5, 3.2],
        "bus" => [12.0, 2.5, 3.2],
        "traffic_light" => [0.3, 0.3, 1.0],
        "stop_sign" => [0.1, 0.8, 0.8],
        _ => [1.0, 1.0, 1.0],
    }
}
