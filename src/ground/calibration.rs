//! Calibration in: a camera's intrinsics from a `camera_calibration_parsers` YAML file or a
//! `sensor_msgs/CameraInfo` message, and its optical frame's pose in `base_link` from a chain
//! of `/tf_static` transforms.
//!
//! The YAML format is the one `camera_calibration` writes and `camera_info_manager` reads
//! (`camera_calibration_parsers/src/parse_yml.cpp`): `image_width`, `image_height`,
//! `camera_name`, `camera_matrix`, `distortion_model`, `distortion_coefficients`,
//! `rectification_matrix`, `projection_matrix`, each matrix as `{rows, cols, data}`.
//!
//! Everything here is outside data: sizes are checked before anything is allocated from them
//! (the file's length by [`crate::capped_read`], the message's bytes by
//! [`MAX_CALIBRATION_MESSAGE_BYTES`], the distortion vector's and transform list's lengths),
//! and every failure is a [`GroundError::Calibration`] that names what is wrong.

use std::collections::BTreeMap;
use std::path::Path;

use nalgebra::{Quaternion, UnitQuaternion, Vector3};
use serde::Deserialize;

use super::camera::{CameraInfoFields, CameraPose};
use super::GroundError;
use crate::msgs::{CameraInfo, TFMessage};

/// Largest CameraInfo or TFMessage decoded, in CDR bytes (a CameraInfo is about 400 bytes; a
/// robot's whole `/tf_static` a few tens of KB).
pub const MAX_CALIBRATION_MESSAGE_BYTES: usize = 1 << 20;
/// Most distortion coefficients accepted (`rational_polynomial` has 8, `plumb_bob` 5).
pub const DISTORTION_COEFFICIENTS_MAX: usize = 16;
/// Longest frame chain followed from a camera frame up to `base_link`.
pub const TF_CHAIN_MAX: usize = 64;

fn bad(message: String) -> GroundError {
    GroundError::Calibration { message }
}

#[derive(Debug, Deserialize)]
struct YamlMatrix {
    rows: usize,
    cols: usize,
    data: Vec<f64>,
}

#[derive(Debug, Deserialize)]
struct CalibrationYaml {
    image_width: u32,
    image_height: u32,
    #[serde(default)]
    #[allow(dead_code)]
    camera_name: Option<String>,
    camera_matrix: YamlMatrix,
    #[serde(default)]
    distortion_model: String,
    distortion_coefficients: Option<YamlMatrix>,
    #[serde(default)]
    #[allow(dead_code)]
    rectification_matrix: Option<YamlMatrix>,
    projection_matrix: Option<YamlMatrix>,
}

fn matrix<const N: usize>(
    m: &YamlMatrix,
    name: &str,
    rows: usize,
    cols: usize,
) -> Result<[f64; N], GroundError> {
    if m.rows != rows || m.cols != cols || m.data.len() != N {
        return Err(bad(format!(
            "`{name}` must be {rows}x{cols} with {N} values, not {}x{} with {}",
            m.rows,
            m.cols,
            m.data.len()
        )));
    }
    let mut out = [0.0; N];
    out.copy_from_slice(&m.data);
    Ok(out)
}

/// Parses the text of a `camera_calibration_parsers` YAML file. Without `projection_matrix`,
/// `P` is `[K | 0]` (a monocular camera's).
pub fn camera_info_from_yaml(text: &str) -> Result<CameraInfoFields, GroundError> {
    let y: CalibrationYaml = serde_saphyr::from_str(text)
        .map_err(|e| bad(format!("not a camera_calibration_parsers YAML file: {e}")))?;
    let k: [f64; 9] = matrix(&y.camera_matrix, "camera_matrix", 3, 3)?;
    let d = match &y.distortion_coefficients {
        Some(m) => {
            if m.rows != 1 || m.cols != m.data.len() || m.data.len() > DISTORTION_COEFFICIENTS_MAX {
                return Err(bad(format!(
                    "`distortion_coefficients` must be 1xN with N values, N <= \
                     {DISTORTION_COEFFICIENTS_MAX}, not {}x{} with {}",
                    m.rows,
                    m.cols,
                    m.data.len()
                )));
            }
            m.data.clone()
        }
        None => Vec::new(),
    };
    let p: [f64; 12] = match &y.projection_matrix {
        Some(m) => matrix(m, "projection_matrix", 3, 4)?,
        None => [
            k[0], k[1], k[2], 0.0, k[3], k[4], k[5], 0.0, k[6], k[7], k[8], 0.0,
        ],
    };
    Ok(CameraInfoFields {
        width_px: y.image_width,
        height_px: y.image_height,
        distortion_model: y.distortion_model,
        d,
        k,
        p,
    })
}

/// Reads and parses a `camera_calibration_parsers` YAML file (at most
/// [`crate::capped_read::MAX_CONFIG_BYTES`]).
pub fn load_camera_info_yaml(path: &Path) -> Result<CameraInfoFields, GroundError> {
    let text =
        crate::capped_read::read_to_string_capped(path, crate::capped_read::MAX_CONFIG_BYTES)
            .map_err(|e| bad(format!("{}: {e}", path.display())))?;
    camera_info_from_yaml(&text).map_err(|e| match e {
        GroundError::Calibration { message } => bad(format!("{}: {message}", path.display())),
        e => e,
    })
}

/// Decodes a CDR `sensor_msgs/CameraInfo` (size checked first).
pub fn camera_info_from_cdr(bytes: &[u8]) -> Result<CameraInfo, GroundError> {
    if bytes.len() > MAX_CALIBRATION_MESSAGE_BYTES {
        return Err(bad(format!(
            "CameraInfo of {} bytes is over the {MAX_CALIBRATION_MESSAGE_BYTES}-byte limit",
            bytes.len()
        )));
    }
    let info: CameraInfo =
        crate::msgs::from_cdr(bytes).map_err(|e| bad(format!("CameraInfo: {e}")))?;
    if info.d.len() > DISTORTION_COEFFICIENTS_MAX {
        return Err(bad(format!(
            "CameraInfo has {} distortion coefficients (at most {DISTORTION_COEFFICIENTS_MAX})",
            info.d.len()
        )));
    }
    Ok(info)
}

/// The fields the camera model needs of a CameraInfo message.
pub fn camera_info_fields(info: &CameraInfo) -> CameraInfoFields {
    CameraInfoFields {
        width_px: info.width,
        height_px: info.height,
        distortion_model: info.distortion_model.clone(),
        d: info.d.clone(),
        k: info.k,
        p: info.p,
    }
}

/// Decodes a CDR `tf2_msgs/TFMessage` (size checked first).
pub fn tf_message_from_cdr(bytes: &[u8]) -> Result<TFMessage, GroundError> {
    if bytes.len() > MAX_CALIBRATION_MESSAGE_BYTES {
        return Err(bad(format!(
            "TFMessage of {} bytes is over the {MAX_CALIBRATION_MESSAGE_BYTES}-byte limit",
            bytes.len()
        )));
    }
    crate::msgs::from_cdr(bytes).map_err(|e| bad(format!("TFMessage: {e}")))
}

/// The static transforms seen so far: each child frame's pose in its parent (a later transform
/// of the same child replaces the earlier one, as tf2's static buffer does).
#[derive(Debug, Clone, Default)]
pub struct StaticTransforms {
    /// child -> (parent, parent_from_child rotation, translation).
    parents: BTreeMap<String, (String, UnitQuaternion<f64>, Vector3<f64>)>,
}

impl StaticTransforms {
    /// Adds every transform of one message; a non-finite or zero quaternion is an error.
    pub fn add(&mut self, msg: &TFMessage) -> Result<(), GroundError> {
        for t in &msg.transforms {
            let r = t.transform.rotation;
            let q = Quaternion::new(r.w, r.x, r.y, r.z);
            let v = t.transform.translation;
            let finite = [r.w, r.x, r.y, r.z, v.x, v.y, v.z]
                .iter()
                .all(|x| x.is_finite());
            if !finite || q.norm() < 1e-9 {
                return Err(bad(format!(
                    "transform {} -> {} is not finite or has a zero quaternion",
                    t.header.frame_id, t.child_frame_id
                )));
            }
            self.parents.insert(
                strip_slash(&t.child_frame_id).to_owned(),
                (
                    strip_slash(&t.header.frame_id).to_owned(),
                    UnitQuaternion::from_quaternion(q),
                    Vector3::new(v.x, v.y, v.z),
                ),
            );
        }
        Ok(())
    }

    /// The pose of `frame` (the camera's optical frame) in `base`, composed along the chain of
    /// parents; `None` when the chain does not reach `base` (or loops, or is longer than
    /// [`TF_CHAIN_MAX`]).
    pub fn pose_in(&self, base: &str, frame: &str) -> Option<CameraPose> {
        let base = strip_slash(base);
        let mut current = strip_slash(frame);
        let mut rotation = UnitQuaternion::identity();
        let mut translation = Vector3::zeros();
        for _ in 0..TF_CHAIN_MAX {
            if current == base {
                return Some(CameraPose::from_optical(translation, rotation));
            }
            let (parent, r, t) = self.parents.get(current)?;
            // p_parent = r p_child + t, with p_child = rotation p_frame + translation.
            rotation = r * rotation;
            translation = r * translation + t;
            current = parent;
        }
        None
    }
}

/// tf2 ignores a leading `/` in frame names.
fn strip_slash(frame: &str) -> &str {
    frame.strip_prefix('/').unwrap_or(frame)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::msgs::{Header, Transform, TransformStamped};
    use approx::assert_relative_eq;

    const YAML: &str = "image_width: 768
image_height: 576
camera_name: pets09_view001
camera_matrix:
  rows: 3
  cols: 3
  data: [800.0, 0.0, 384.0, 0.0, 800.0, 288.0, 0.0, 0.0, 1.0]
distortion_model: plumb_bob
distortion_coefficients:
  rows: 1
  cols: 5
  data: [-0.1, 0.01, 0.0, 0.0, 0.0]
rectification_matrix:
  rows: 3
  cols: 3
  data: [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
projection_matrix:
  rows: 3
  cols: 4
  data: [790.0, 0.0, 384.0, 0.0, 0.0, 790.0, 288.0, 0.0, 0.0, 0.0, 1.0, 0.0]
";

    #[test]
    fn calibration_yaml_is_read() {
        let info = camera_info_from_yaml(YAML).unwrap();
        assert_eq!((info.width_px, info.height_px), (768, 576));
        assert_eq!(info.k[0], 800.0);
        assert_eq!(info.d, [-0.1, 0.01, 0.0, 0.0, 0.0]);
        assert_eq!(info.p[0], 790.0);
        assert_eq!(info.distortion_model, "plumb_bob");
        let bad = YAML.replace("rows: 3\n  cols: 4", "rows: 4\n  cols: 4");
        let e = camera_info_from_yaml(&bad).unwrap_err();
        assert!(e.to_string().contains("projection_matrix"), "{e}");
        assert!(camera_info_from_yaml("image_width: [").is_err());
    }

    #[test]
    fn camera_info_cdr_round_trip_and_limits() {
        let msg = CameraInfo {
            header: Header {
                frame_id: "cam_optical".into(),
                ..Header::default()
            },
            height: 480,
            width: 640,
            distortion_model: "plumb_bob".into(),
            d: vec![0.1, 0.2, 0.0, 0.0, 0.3],
            k: [1.0; 9],
            r: [0.0; 9],
            p: [2.0; 12],
            ..CameraInfo::default()
        };
        let bytes = crate::msgs::to_cdr(&msg).unwrap();
        assert_eq!(camera_info_from_cdr(&bytes).unwrap(), msg);
        let many = CameraInfo {
            d: vec![0.0; 17],
            ..msg
        };
        assert!(camera_info_from_cdr(&crate::msgs::to_cdr(&many).unwrap()).is_err());
        assert!(camera_info_from_cdr(&bytes[..bytes.len() - 9]).is_err());
        assert!(camera_info_from_cdr(&vec![0u8; MAX_CALIBRATION_MESSAGE_BYTES + 1]).is_err());
    }

    fn tf(parent: &str, child: &str, t: [f64; 3], q: UnitQuaternion<f64>) -> TransformStamped {
        TransformStamped {
            header: Header {
                frame_id: parent.into(),
                ..Header::default()
            },
            child_frame_id: child.into(),
            transform: Transform {
                translation: crate::msgs::Vector3 {
                    x: t[0],
                    y: t[1],
                    z: t[2],
                },
                rotation: crate::msgs::Quaternion {
                    x: q.i,
                    y: q.j,
                    z: q.k,
                    w: q.w,
                },
            },
        }
    }

    #[test]
    fn tf_chain_composes_to_the_optical_frame() {
        let body = UnitQuaternion::from_euler_angles(0.02, 0.1, -0.05);
        let optical =
            UnitQuaternion::from_rotation_matrix(&super::super::camera::body_from_optical());
        let mut tfs = StaticTransforms::default();
        tfs.add(&TFMessage {
            transforms: vec![
                tf("base_link", "camera_link", [1.5, 0.2, 1.6], body),
                tf(
                    "/camera_link",
                    "camera_optical_frame",
                    [0.0, 0.0, 0.0],
                    optical,
                ),
            ],
        })
        .unwrap();
        let pose = tfs.pose_in("base_link", "camera_optical_frame").unwrap();
        let expected = CameraPose::from_body(Vector3::new(1.5, 0.2, 1.6), body);
        assert_relative_eq!(pose.translation_m, expected.translation_m, epsilon = 1e-12);
        assert!(pose.base_from_optical.angle_to(&expected.base_from_optical) < 1e-12);
        assert!(tfs.pose_in("base_link", "other_frame").is_none());
        // A loop ends, without a pose.
        tfs.add(&TFMessage {
            transforms: vec![
                tf("b", "a", [0.0; 3], UnitQuaternion::identity()),
                tf("a", "b", [0.0; 3], UnitQuaternion::identity()),
            ],
        })
        .unwrap();
        assert!(tfs.pose_in("base_link", "a").is_none());
    }
}
