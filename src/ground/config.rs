//! The `ground:` block of the parameter file: where the camera's calibration and pose come
//! from, and the ground tracker's noise.
//!
//! Off by default (`enabled: false`): without a calibration the engine does no ground work.
//! With it, the intrinsics come from `camera_info_path` (a `camera_calibration_parsers` YAML
//! file) and the pose from `translation_m` + `rotation_xyzw` (of the frame named by
//! `pose_frame`); `lookout replay` prefers a recording's own `<camera>/camera_info` and
//! `/tf_static` when `use_recording_calibration` is set and they are there.

use nalgebra::{Quaternion, UnitQuaternion, Vector3};
use serde::Deserialize;

use super::calibration::load_camera_info_yaml;
use super::camera::{CameraModel, CameraPose, GroundProjector, ImageKind};
use super::filter::GroundFilterNoise;
use super::{GroundError, GroundTrackerParams};

/// Which frame `translation_m` / `rotation_xyzw` place in `base_link`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PoseFrame {
    /// The camera's body frame (`camera_link`: x forward, y left, z up); the optical rotation
    /// is appended.
    #[default]
    Body,
    /// The optical frame itself (z forward, x right, y down).
    Optical,
}

/// The `ground:` parameters.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GroundConfig {
    /// Project tracks onto the road plane (needs a calibration).
    pub enabled: bool,
    /// A `camera_calibration_parsers` YAML file; empty: only from the recording.
    pub camera_info_path: String,
    /// `raw` (boxes on `image_raw`: K and D) or `rectified` (boxes on `image_rect`: P).
    pub image_kind: ImageKind,
    /// The camera's pose in `base_link`: which frame the two keys below place.
    pub pose_frame: PoseFrame,
    /// Position of that frame in `base_link`, metres `[x, y, z]`.
    pub translation_m: Vec<f64>,
    /// Its orientation in `base_link`, quaternion `[x, y, z, w]` (normalised on load).
    pub rotation_xyzw: Vec<f64>,
    /// Replay: a recording's `<camera base>/camera_info` and `/tf_static` (to the CameraInfo's
    /// `frame_id`, from `base_frame`) replace the two sources above when present; the node
    /// subscribes to those topics (`lookout::ros`, feature `ros`) and does the same.
    pub use_recording_calibration: bool,
    /// The vehicle frame the positions are in.
    pub base_frame: String,
    /// Contact points further than this from the camera get no position, metres.
    pub max_range_m: f64,
    /// Pixel noise of the contact point, px.
    pub contact_std_px: f64,
    /// Added pixel noise per pixel of box height (a box's bottom edge jitters with its size).
    pub contact_std_rel: f64,
    /// White-acceleration noise of the ground filter, m/s² ([`GroundFilterNoise`]).
    pub accel_std_mps2: f64,
    /// A new object's velocity standard deviation, m/s.
    pub init_velocity_std_mps: f64,
}

impl Default for GroundConfig {
    fn default() -> Self {
        let params = GroundTrackerParams::default();
        Self {
            enabled: false,
            camera_info_path: String::new(),
            image_kind: ImageKind::Raw,
            pose_frame: PoseFrame::Body,
            translation_m: vec![0.0, 0.0, 1.5],
            rotation_xyzw: vec![0.0, 0.0, 0.0, 1.0],
            use_recording_calibration: true,
            base_frame: "base_link".into(),
            max_range_m: 80.0,
            contact_std_px: params.contact_std_px,
            contact_std_rel: params.contact_std_rel,
            accel_std_mps2: params.noise.accel_std_mps2,
            init_velocity_std_mps: params.noise.init_velocity_std_mps,
        }
    }
}

impl GroundConfig {
    /// Checks the values; returns `(key, message)` (key relative to `ground`).
    pub fn validate(&self) -> Result<(), (String, String)> {
        if self.translation_m.len() != 3 || !self.translation_m.iter().all(|v| v.is_finite()) {
            return Err((
                "translation_m".into(),
                format!("{:?} is not 3 finite metres [x, y, z]", self.translation_m),
            ));
        }
        self.rotation()
            .map_err(|m| ("rotation_xyzw".to_owned(), m))?;
        for (key, value, max) in [
            ("max_range_m", self.max_range_m, 1e4),
            ("contact_std_px", self.contact_std_px, 1e3),
            ("contact_std_rel", self.contact_std_rel, 10.0),
            ("accel_std_mps2", self.accel_std_mps2, 100.0),
            ("init_velocity_std_mps", self.init_velocity_std_mps, 100.0),
        ] {
            if !(value.is_finite() && value > 0.0 && value <= max) {
                return Err((key.into(), format!("{value:?} is outside (0, {max}]")));
            }
        }
        if self.base_frame.is_empty() {
            return Err(("base_frame".into(), "must name a frame".into()));
        }
        Ok(())
    }

    fn rotation(&self) -> Result<UnitQuaternion<f64>, String> {
        let r = &self.rotation_xyzw;
        let q = match r.as_slice() {
            [x, y, z, w] => Quaternion::new(*w, *x, *y, *z),
            _ => return Err(format!("{r:?} is not a quaternion [x, y, z, w]")),
        };
        if !(q.coords.iter().all(|v| v.is_finite()) && (q.norm() - 1.0).abs() < 1e-3) {
            return Err(format!("{r:?} is not a unit quaternion [x, y, z, w]"));
        }
        Ok(UnitQuaternion::from_quaternion(q))
    }

    /// The camera pose of `translation_m` / `rotation_xyzw`.
    pub fn pose(&self) -> Result<CameraPose, GroundError> {
        let bad = |message| GroundError::Calibration { message };
        let q = self.rotation().map_err(bad)?;
        let t = match self.translation_m.as_slice() {
            [x, y, z] => Vector3::new(*x, *y, *z),
            t => return Err(bad(format!("translation_m {t:?} is not [x, y, z]"))),
        };
        Ok(match self.pose_frame {
            PoseFrame::Body => CameraPose::from_body(t, q),
            PoseFrame::Optical => CameraPose::from_optical(t, q),
        })
    }

    /// The tracker parameters; `max_age_s` is the image tracker's.
    pub fn params(&self, max_age_s: f64) -> GroundTrackerParams {
        GroundTrackerParams {
            contact_std_px: self.contact_std_px,
            contact_std_rel: self.contact_std_rel,
            noise: GroundFilterNoise {
                accel_std_mps2: self.accel_std_mps2,
                init_velocity_std_mps: self.init_velocity_std_mps,
            },
            max_age_s,
        }
    }

    /// The projector of the configured file and pose: `None` when disabled or when no
    /// `camera_info_path` is set (the recording must then bring one).
    pub fn projector(&self) -> Result<Option<GroundProjector>, GroundError> {
        if !self.enabled || self.camera_info_path.is_empty() {
            return Ok(None);
        }
        let info = load_camera_info_yaml(std::path::Path::new(&self.camera_info_path))?;
        Ok(Some(GroundProjector {
            camera: CameraModel::from_camera_info(&info, self.image_kind)?,
            pose: self.pose()?,
            max_range_m: self.max_range_m,
        }))
    }
}
