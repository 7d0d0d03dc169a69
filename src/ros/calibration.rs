//! The node's camera calibrations from the ROS graph: each camera's `sensor_msgs/CameraInfo`
//! (the `camera_info` topic beside its image topic) and the static transforms of `/tf_static`,
//! turned into the [`GroundProjector`] the engine's ground tracker uses
//! ([`crate::engine::Engine::set_calibration`]).
//!
//! The rules are `lookout replay`'s ([`crate::replay::calibration`]), applied as messages
//! arrive instead of once before the frames:
//! - intrinsics: the camera's latest CameraInfo (`ground.image_kind`: K and D, or P);
//! - pose: the chain of `/tf_static` transforms from `ground.base_frame` to the camera's frame
//!   (the CameraInfo's `frame_id`, or the camera's `cameras.frame_ids` override), composed as
//!   tf2 composes them; without such a chain, the configured pose (`ground.translation_m`,
//!   `ground.rotation_xyzw`), until `/tf_static` brings one;
//! - a camera without any CameraInfo keeps the configured calibration (`ground.camera_info_path`),
//!   or none.
//!
//! Pure: messages in ([`crate::msgs`] values, converted from r2r's by [`super::convert`]), an
//! [`Update`] out whenever a camera's projector changes. Camera drivers publish a CameraInfo
//! with every image, so an unchanged one is recognised by comparing its fields and costs no
//! more than that comparison.

use crate::ground::calibration::{
    camera_info_fields, StaticTransforms, DISTORTION_COEFFICIENTS_MAX,
};
use crate::ground::{CameraInfoFields, CameraModel, CameraPose, GroundError, GroundProjector};
use crate::ground::{GroundConfig, ImageKind};
use crate::msgs::{CameraInfo, TFMessage};

/// Where a camera's pose came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PoseSource {
    /// The `/tf_static` chain from the base frame to the camera's frame.
    TfStatic { base_frame: String, frame: String },
    /// `ground.translation_m` / `ground.rotation_xyzw`: no chain to `frame` (yet).
    Configured { frame: String },
}

/// A camera's new calibration, for the engine.
#[derive(Debug, Clone, PartialEq)]
pub struct Update {
    /// The camera's index in the node's camera list.
    pub camera: usize,
    pub projector: GroundProjector,
    pub pose_source: PoseSource,
}

impl Update {
    /// How the node reports the calibration in `/diagnostics` (`calibration`) and the log.
    pub fn describe(&self) -> String {
        match &self.pose_source {
            PoseSource::TfStatic { base_frame, frame } => {
                format!("camera_info + /tf_static ({base_frame} -> {frame})")
            }
            PoseSource::Configured { frame } => format!(
                "camera_info + configured pose (ground.translation_m, ground.rotation_xyzw; no \
                 /tf_static chain to {frame})"
            ),
        }
    }
}

/// One camera's last CameraInfo and the calibration last handed to the engine.
#[derive(Debug, Clone, Default)]
struct Camera {
    /// `cameras.frame_ids` override: the camera's frame whatever its CameraInfo says.
    frame_override: Option<String>,
    /// The last CameraInfo's fields and frame.
    info: Option<(CameraInfoFields, String)>,
    /// The intrinsics built from `info`.
    model: Option<CameraModel>,
    applied: Option<Update>,
}

/// Every camera's calibration state (see the module docs).
#[derive(Debug, Clone)]
pub struct Calibrations {
    base_frame: String,
    image_kind: ImageKind,
    max_range_m: f64,
    configured_pose: CameraPose,
    tfs: StaticTransforms,
    cameras: Vec<Camera>,
}

impl Calibrations {
    /// The state of `frame_overrides.len()` cameras (one `cameras.frame_ids` override or
    /// `None` each) under the `ground:` configuration.
    pub fn new(
        ground: &GroundConfig,
        frame_overrides: Vec<Option<String>>,
    ) -> Result<Self, GroundError> {
        Ok(Self {
            base_frame: ground.base_frame.clone(),
            image_kind: ground.image_kind,
            max_range_m: ground.max_range_m,
            configured_pose: ground.pose()?,
            tfs: StaticTransforms::default(),
            cameras: frame_overrides
                .into_iter()
                .map(|frame_override| Camera {
                    frame_override,
                    ..Camera::default()
                })
                .collect(),
        })
    }

    /// A CameraInfo of `camera`: `Ok(Some(update))` when its calibration changes, `Ok(None)`
    /// when the message repeats the last one; an error names what is wrong with it (the last
    /// good calibration stays).
    pub fn on_camera_info(
        &mut self,
        camera: usize,
        info: &CameraInfo,
    ) -> Result<Option<Update>, GroundError> {
        let Some(cam) = self.cameras.get_mut(camera) else {
            return Ok(None);
        };
        let frame = cam
            .frame_override
            .clone()
            .unwrap_or_else(|| info.header.frame_id.clone());
        if cam
            .info
            .as_ref()
            .is_some_and(|(fields, f)| *f == frame && fields_equal(fields, info))
        {
            return Ok(None);
        }
        if info.d.len() > DISTORTION_COEFFICIENTS_MAX {
            return Err(GroundError::Calibration {
                message: format!(
                    "CameraInfo has {} distortion coefficients (at most \
                     {DISTORTION_COEFFICIENTS_MAX})",
                    info.d.len()
                ),
            });
        }
        let fields = camera_info_fields(info);
        let model = CameraModel::from_camera_info(&fields, self.image_kind)?;
        cam.info = Some((fields, frame));
        cam.model = Some(model);
        Ok(self.recompute(camera))
    }

    /// A `/tf_static` message: the cameras whose pose it changes. A bad transform is an error
    /// and the message is not used.
    pub fn on_tf_static(&mut self, msg: &TFMessage) -> Result<Vec<Update>, GroundError> {
        let mut tfs = self.tfs.clone();
        tfs.add(msg)?;
        self.tfs = tfs;
        Ok((0..self.cameras.len())
            .filter_map(|camera| self.recompute(camera))
            .collect())
    }

    /// The calibration of `camera` from its CameraInfo and the transforms, when it differs
    /// from the one last handed out (which it then becomes).
    fn recompute(&mut self, camera: usize) -> Option<Update> {
        let cam = self.cameras.get(camera)?;
        let ((_, frame), model) = (cam.info.as_ref()?, cam.model.as_ref()?);
        let (pose, pose_source) = match self.tfs.pose_in(&self.base_frame, frame) {
            Some(pose) => (
                pose,
                PoseSource::TfStatic {
                    base_frame: self.base_frame.clone(),
                    frame: frame.clone(),
                },
            ),
            None => (
                self.configured_pose,
                PoseSource::Configured {
                    frame: frame.clone(),
                },
            ),
        };
        let update = Update {
            camera,
            projector: GroundProjector {
                camera: model.clone(),
                pose,
                max_range_m: self.max_range_m,
            },
            pose_source,
        };
        let cam = self.cameras.get_mut(camera)?;
        if cam.applied.as_ref() == Some(&update) {
            return None;
        }
        cam.applied = Some(update.clone());
        Some(update)
    }
}

/// Whether `info` carries the same calibration as `fields` (what a driver's repeated
/// CameraInfo does), without building anything.
fn fields_equal(fields: &CameraInfoFields, info: &CameraInfo) -> bool {
    fields.width_px == info.width
        && fields.height_px == info.height
        && fields.distortion_model == info.distortion_model
        && fields.d == info.d
        && fields.k == info.k
        && fields.p == info.p
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::msgs::{Header, Quaternion, Transform, TransformStamped, Vector3};
    use nalgebra::Vector2;

    fn info(frame: &str, fx: f64) -> CameraInfo {
        CameraInfo {
            header: Header {
                frame_id: frame.into(),
                ..Header::default()
            },
            width: 640,
            height: 480,
            distortion_model: "plumb_bob".into(),
            d: vec![-0.05, 0.01, 0.0, 0.0, 0.0],
            k: [fx, 0.0, 320.0, 0.0, fx, 240.0, 0.0, 0.0, 1.0],
            p: [fx, 0.0, 320.0, 0.0, 0.0, fx, 240.0, 0.0, 0.0, 0.0, 1.0, 0.0],
            ..CameraInfo::default()
        }
    }

    fn tf(parent: &str, child: &str, t: [f64; 3], q: [f64; 4]) -> TransformStamped {
        TransformStamped {
            header: Header {
                frame_id: parent.into(),
                ..Header::default()
            },
            child_frame_id: child.into(),
            transform: Transform {
                translation: Vector3 {
                    x: t[0],
                    y: t[1],
                    z: t[2],
                },
                rotation: Quaternion {
                    x: q[0],
                    y: q[1],
                    z: q[2],
                    w: q[3],
                },
            },
        }
    }

    /// camera_link -> optical: the REP-103 optical rotation (z forward, x right, y down).
    const OPTICAL_XYZW: [f64; 4] = [-0.5, 0.5, -0.5, 0.5];

    fn ground() -> GroundConfig {
        GroundConfig {
            enabled: true,
            translation_m: vec![0.0, 0.0, 2.0],
            ..GroundConfig::default()
        }
    }

    #[test]
    fn camera_info_then_tf_static_gives_the_tf_pose() {
        let mut cal = Calibrations::new(&ground(), vec![None, None]).unwrap();
        // CameraInfo first: the configured pose (2 m up) until /tf_static says otherwise.
        let u = cal.on_camera_info(1, &info("cam_optical", 500.0)).unwrap();
        let u = u.expect("a first CameraInfo calibrates the camera");
        assert_eq!(u.camera, 1);
        assert!(matches!(u.pose_source, PoseSource::Configured { .. }));
        assert!((u.projector.pose.translation_m.z - 2.0).abs() < 1e-12);
        assert!(u.describe().contains("configured pose"), "{}", u.describe());
        // The same CameraInfo again (a driver sends one per image): nothing changes.
        assert_eq!(cal.on_camera_info(1, &info("cam_optical", 500.0)), Ok(None));
        // /tf_static: base_link -> camera_link -> cam_optical.
        let updates = cal
            .on_tf_static(&TFMessage {
                transforms: vec![
                    tf(
                        "base_link",
                        "camera_link",
                        [1.0, 0.0, 1.5],
                        [0.0, 0.0, 0.0, 1.0],
                    ),
                    tf("camera_link", "cam_optical", [0.0; 3], OPTICAL_XYZW),
                ],
            })
            .unwrap();
        assert_eq!(updates.len(), 1, "only camera 1 has a CameraInfo");
        let u = &updates[0];
        assert_eq!(
            u.pose_source,
            PoseSource::TfStatic {
                base_frame: "base_link".into(),
                frame: "cam_optical".into()
            }
        );
        let t = u.projector.pose.translation_m;
        assert!(
            (t.x - 1.0).abs() < 1e-12 && (t.z - 1.5).abs() < 1e-12,
            "{t}"
        );
        // The principal point's ray goes straight ahead from 1.5 m: it never meets the road;
        // a pixel below it does, ahead of the camera.
        let p = u
            .projector
            .pixel_to_ground(Vector2::new(320.0, 400.0))
            .expect("below the horizon");
        assert!(
            p.position_m[0] > 1.0 && p.position_m[1].abs() < 1e-9,
            "{p:?}"
        );
        // The same transforms again change nothing; new intrinsics do.
        assert_eq!(
            cal.on_tf_static(&TFMessage {
                transforms: vec![tf("camera_link", "cam_optical", [0.0; 3], OPTICAL_XYZW)],
            }),
            Ok(vec![])
        );
        let u = cal.on_camera_info(1, &info("cam_optical", 600.0)).unwrap();
        assert!(matches!(
            u,
            Some(Update {
                pose_source: PoseSource::TfStatic { .. },
                ..
            })
        ));
    }

    #[test]
    fn frame_override_and_bad_messages() {
        let mut cal = Calibrations::new(&ground(), vec![Some("front_optical".into())]).unwrap();
        cal.on_tf_static(&TFMessage {
            transforms: vec![tf(
                "base_link",
                "front_optical",
                [0.0, 0.0, 1.2],
                OPTICAL_XYZW,
            )],
        })
        .unwrap();
        // The CameraInfo names another frame; the override wins, as for the images.
        let u = cal
            .on_camera_info(0, &info("wrong_frame", 500.0))
            .unwrap()
            .unwrap();
        assert_eq!(
            u.pose_source,
            PoseSource::TfStatic {
                base_frame: "base_link".into(),
                frame: "front_optical".into()
            }
        );
        // A camera index the node does not have is ignored.
        assert_eq!(cal.on_camera_info(3, &info("x", 500.0)), Ok(None));
        // Unusable messages are errors and leave the calibration as it was.
        let mut many = info("front_optical", 500.0);
        many.d = vec![0.0; 17];
        assert!(cal.on_camera_info(0, &many).is_err());
        let mut no_k = info("front_optical", 500.0);
        no_k.k = [0.0; 9];
        no_k.p = [0.0; 12];
        assert!(cal.on_camera_info(0, &no_k).is_err());
        assert!(cal
            .on_tf_static(&TFMessage {
                transforms: vec![tf("base_link", "x", [f64::NAN, 0.0, 0.0], OPTICAL_XYZW)],
            })
            .is_err());
        assert_eq!(cal.on_camera_info(0, &info("wrong_frame", 500.0)), Ok(None));
    }
}
