//! The pinhole camera of a `sensor_msgs/CameraInfo`, with `plumb_bob` distortion, and its pose
//! in the vehicle frame: pixels to rays, rays to the road plane, and the Jacobian of that map.
//!
//! Conventions (ROS `sensor_msgs/CameraInfo`, REP-103, REP-105):
//! - Pixels `(u, v)`: `u` right, `v` down, the centre of the top-left pixel at `(0, 0)`.
//! - The optical frame: `z` forward (along the optical axis), `x` right, `y` down. A pixel's
//!   *normalised* coordinates `(x, y)` are those of the point `(x, y, 1)` on its ray.
//! - `base_link`: `x` forward, `y` left, `z` up; the road is the plane `z = 0`.
//! - `plumb_bob` (Brown-Conrady, OpenCV's 5-coefficient model `D = [k1, k2, p1, p2, k3]`): an
//!   ideal normalised point `(x, y)`, `r² = x² + y²`, is seen at
//!   `x_d = x (1 + k1 r² + k2 r⁴ + k3 r⁶) + 2 p1 x y + p2 (r² + 2 x²)`,
//!   `y_d = y (1 + k1 r² + k2 r⁴ + k3 r⁶) + p1 (r² + 2 y²) + 2 p2 x y`, then
//!   `(u, v) = K (x_d, y_d, 1)`.
//!
//! Which matrix applies depends on the image the boxes were found in: on `image_raw` (what a
//! driver publishes) the boxes are distorted, so `K` and `D` map pixels to rays
//! ([`ImageKind::Raw`]); on `image_rect` the image was already undistorted *and* rectified with
//! `P`, so the left 3x3 of `P` with no distortion does ([`ImageKind::Rectified`]; `R` is the
//! identity for a monocular camera). Only the box's contact point is undistorted, never the
//! image.

use nalgebra::{Matrix2, Matrix3, Rotation3, UnitQuaternion, Vector2, Vector3};

use super::GroundError;

/// Most Newton steps when undistorting a point.
const UNDISTORT_ITERATIONS_MAX: usize = 20;
/// Undistortion stops when the re-distorted point is this close to the observed one
/// (normalised units; 1e-12 is far below a pixel for any focal length).
const UNDISTORT_TOLERANCE: f64 = 1e-12;

/// Which image the pixel coordinates are in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ImageKind {
    /// The camera's raw image (`image_raw`): intrinsics `K`, distortion `D`.
    #[default]
    Raw,
    /// The rectified image (`image_rect`): the left 3x3 of `P`, no distortion.
    Rectified,
}

/// The fields of a `sensor_msgs/CameraInfo` the ground projection needs (names as in the
/// message; matrices row-major).
#[derive(Debug, Clone, PartialEq)]
pub struct CameraInfoFields {
    pub width_px: u32,
    pub height_px: u32,
    /// `plumb_bob`, `rational_polynomial` (not supported here) or empty (no distortion).
    pub distortion_model: String,
    pub d: Vec<f64>,
    pub k: [f64; 9],
    pub p: [f64; 12],
}

/// A pinhole camera with `plumb_bob` distortion, validated: finite positive focal lengths, a
/// known distortion model.
#[derive(Debug, Clone, PartialEq)]
pub struct CameraModel {
    pub width_px: u32,
    pub height_px: u32,
    /// Intrinsics of the pixel space used: `[[fx, s, cx], [0, fy, cy], [0, 0, 1]]`.
    k: Matrix3<f64>,
    /// `[k1, k2, p1, p2, k3]` (zeros for none).
    d: [f64; 5],
}

impl CameraModel {
    /// The camera of a CameraInfo for boxes found in `kind` images. Refuses a zero `K` (an
    /// uncalibrated camera publishes one), non-finite values, a distortion model other than
    /// `plumb_bob` (or none with all-zero `D`) and a `D` of another length than 5 (or 0).
    pub fn from_camera_info(info: &CameraInfoFields, kind: ImageKind) -> Result<Self, GroundError> {
        let bad = |message: String| GroundError::Calibration { message };
        if info.width_px == 0 || info.height_px == 0 {
            return Err(bad(format!(
                "image size {}x{} px has a zero side",
                info.width_px, info.height_px
            )));
        }
        let all_finite = info
            .k
            .iter()
            .chain(&info.p)
            .chain(&info.d)
            .all(|v| v.is_finite());
        if !all_finite {
            return Err(bad("K, P or D holds a value that is not finite".into()));
        }
        let (k, d) = match kind {
            ImageKind::Raw => {
                let d = match (info.distortion_model.as_str(), info.d.len()) {
                    (_, 0) => [0.0; 5],
                    ("plumb_bob", 5) | ("", 5) => {
                        [info.d[0], info.d[1], info.d[2], info.d[3], info.d[4]]
                    }
                    (model, n) => {
                        return Err(bad(format!(
                            "distortion model `{model}` with {n} coefficients: only plumb_bob \
                             (5 coefficients) is supported"
                        )))
                    }
                };
                (Matrix3::from_row_slice(&info.k), d)
            }
            ImageKind::Rectified => {
                let p = &info.p;
                (
                    Matrix3::new(p[0], p[1], p[2], p[4], p[5], p[6], p[8], p[9], p[10]),
                    [0.0; 5],
                )
            }
        };
        let (fx, fy) = (k[(0, 0)], k[(1, 1)]);
        let projective_row = k[(2, 0)] == 0.0 && k[(2, 1)] == 0.0 && k[(2, 2)] == 1.0;
        if !(fx > 0.0 && fy > 0.0 && k[(1, 0)] == 0.0 && projective_row) {
            return Err(bad(format!(
                "the intrinsic matrix ({} of the CameraInfo) is not [[fx, s, cx], [0, fy, cy], \
                 [0, 0, 1]] with fx, fy > 0 (an uncalibrated camera publishes zeros): {:?}",
                match kind {
                    ImageKind::Raw => "K",
                    ImageKind::Rectified => "P",
                },
                k.transpose().as_slice()
            )));
        }
        Ok(Self {
            width_px: info.width_px,
            height_px: info.height_px,
            k,
            d,
        })
    }

    /// An ideal pinhole camera (tests, examples).
    pub fn pinhole(width_px: u32, height_px: u32, fx: f64, fy: f64, cx: f64, cy: f64) -> Self {
        Self {
            width_px,
            height_px,
            k: Matrix3::new(fx, 0.0, cx, 0.0, fy, cy, 0.0, 0.0, 1.0),
            d: [0.0; 5],
        }
    }

    /// The same camera with `plumb_bob` coefficients `[k1, k2, p1, p2, k3]`.
    pub fn with_distortion(mut self, d: [f64; 5]) -> Self {
        self.d = d;
        self
    }

    /// Ideal normalised `(x, y)` to distorted normalised, with the 2x2 Jacobian
    /// `∂(x_d, y_d)/∂(x, y)`.
    pub fn distort(&self, n: Vector2<f64>) -> (Vector2<f64>, Matrix2<f64>) {
        let [k1, k2, p1, p2, k3] = self.d;
        let (x, y) = (n.x, n.y);
        let r2 = x * x + y * y;
        let radial = 1.0 + r2 * (k1 + r2 * (k2 + r2 * k3));
        let dradial_dr2 = k1 + r2 * (2.0 * k2 + 3.0 * k3 * r2);
        let xd = x * radial + 2.0 * p1 * x * y + p2 * (r2 + 2.0 * x * x);
        let yd = y * radial + p1 * (r2 + 2.0 * y * y) + 2.0 * p2 * x * y;
        // ∂r²/∂x = 2x, ∂r²/∂y = 2y.
        let j = Matrix2::new(
            radial + x * dradial_dr2 * 2.0 * x + 2.0 * p1 * y + 6.0 * p2 * x,
            x * dradial_dr2 * 2.0 * y + 2.0 * p1 * x + 2.0 * p2 * y,
            y * dradial_dr2 * 2.0 * x + 2.0 * p1 * x + 2.0 * p2 * y,
            radial + y * dradial_dr2 * 2.0 * y + 6.0 * p1 * y + 2.0 * p2 * x,
        );
        (Vector2::new(xd, yd), j)
    }

    /// Distorted normalised to ideal normalised (Newton's method on [`CameraModel::distort`],
    /// from the point itself), with `∂(x_d, y_d)/∂(x, y)` at the result; `None` when it does not
    /// converge (far outside the calibrated field, where the polynomial folds back).
    pub fn undistort(&self, nd: Vector2<f64>) -> Option<(Vector2<f64>, Matrix2<f64>)> {
        let mut n = nd;
        for _ in 0..UNDISTORT_ITERATIONS_MAX {
            let (seen, j) = self.distort(n);
            let residual = seen - nd;
            if residual.norm() < UNDISTORT_TOLERANCE {
                return Some((n, j));
            }
            n -= j.try_inverse()? * residual;
            if !(n.x.is_finite() && n.y.is_finite()) {
                return None;
            }
        }
        let (seen, j) = self.distort(n);
        ((seen - nd).norm() < UNDISTORT_TOLERANCE * 1e3).then_some((n, j))
    }

    /// Pixel to distorted normalised coordinates (`K⁻¹`), and that linear map's 2x2 matrix.
    fn normalise(&self, px: Vector2<f64>) -> (Vector2<f64>, Matrix2<f64>) {
        let (fx, s, cx) = (self.k[(0, 0)], self.k[(0, 1)], self.k[(0, 2)]);
        let (fy, cy) = (self.k[(1, 1)], self.k[(1, 2)]);
        let y = (px.y - cy) / fy;
        let x = (px.x - cx - s * y) / fx;
        let a = Matrix2::new(1.0 / fx, -s / (fx * fy), 0.0, 1.0 / fy);
        (Vector2::new(x, y), a)
    }

    /// The ideal normalised coordinates of a pixel (its ray is `(x, y, 1)` in the optical
    /// frame), with `∂(x, y)/∂(u, v)`; `None` when undistortion does not converge.
    pub fn pixel_to_normalised(&self, px: Vector2<f64>) -> Option<(Vector2<f64>, Matrix2<f64>)> {
        let (nd, a) = self.normalise(px);
        let (n, j_dist) = self.undistort(nd)?;
        Some((n, j_dist.try_inverse()? * a))
    }

    /// The pixel where an optical-frame point is seen; `None` behind the camera.
    pub fn project(&self, p_optical: Vector3<f64>) -> Option<Vector2<f64>> {
        if p_optical.z <= 0.0 {
            return None;
        }
        let (nd, _) = self.distort(Vector2::new(
            p_optical.x / p_optical.z,
            p_optical.y / p_optical.z,
        ));
        let p = self.k * Vector3::new(nd.x, nd.y, 1.0);
        Some(Vector2::new(p.x, p.y))
    }
}

/// The rotation from the camera's optical frame (z forward, x right, y down) to its body frame
/// (REP-103: x forward, y left, z up): the columns are the optical axes in body coordinates.
pub fn body_from_optical() -> Rotation3<f64> {
    Rotation3::from_matrix_unchecked(Matrix3::new(
        0.0, 0.0, 1.0, //
        -1.0, 0.0, 0.0, //
        0.0, -1.0, 0.0,
    ))
}

/// The camera's optical frame in `base_link`: `p_base = rotation * p_optical + translation_m`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CameraPose {
    pub base_from_optical: UnitQuaternion<f64>,
    /// The optical centre in `base_link`, metres.
    pub translation_m: Vector3<f64>,
}

impl CameraPose {
    /// From the pose of the optical frame itself (a `/tf_static` chain ending in the image's
    /// `frame_id`, which CameraInfo's `header.frame_id` names).
    pub fn from_optical(
        translation_m: Vector3<f64>,
        base_from_optical: UnitQuaternion<f64>,
    ) -> Self {
        Self {
            base_from_optical,
            translation_m,
        }
    }

    /// From the pose of the camera's *body* frame (`camera_link`: x forward, y left, z up, as a
    /// URDF mounts a camera), the optical rotation appended.
    pub fn from_body(translation_m: Vector3<f64>, base_from_body: UnitQuaternion<f64>) -> Self {
        Self {
            base_from_optical: base_from_body
                * UnitQuaternion::from_rotation_matrix(&body_from_optical()),
            translation_m,
        }
    }

    /// An optical-frame point in `base_link`.
    pub fn to_base(&self, p_optical: Vector3<f64>) -> Vector3<f64> {
        self.base_from_optical * p_optical + self.translation_m
    }

    /// A `base_link` point in the optical frame.
    pub fn to_optical(&self, p_base: Vector3<f64>) -> Vector3<f64> {
        self.base_from_optical.inverse() * (p_base - self.translation_m)
    }
}

/// A pixel on the road: where the ray through it meets `z = 0` of `base_link`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GroundPoint {
    /// `(x, y)` in `base_link`, metres.
    pub position_m: Vector2<f64>,
    /// `∂(x, y)/∂(u, v)`, metres per pixel: maps pixel noise to position noise.
    pub jacobian_m_per_px: Matrix2<f64>,
    /// Distance from the optical centre to the point, metres.
    pub range_m: f64,
}

/// A camera with its pose: pixels to the road plane.
#[derive(Debug, Clone, PartialEq)]
pub struct GroundProjector {
    pub camera: CameraModel,
    pub pose: CameraPose,
    /// Points further than this from the camera are not reported (near the horizon a pixel
    /// spans tens of metres: the position would be mostly noise).
    pub max_range_m: f64,
}

impl GroundProjector {
    /// The road point seen at pixel `px`, or `None` when its ray does not meet the road ahead
    /// of the camera within `max_range_m` (at or above the horizon, a camera at or below the
    /// road, or a pixel whose undistortion fails).
    pub fn pixel_to_ground(&self, px: Vector2<f64>) -> Option<GroundPoint> {
        let c = self.pose.translation_m;
        if c.z <= 0.0 {
            return None;
        }
        let (n, dn_dpx) = self.camera.pixel_to_normalised(px)?;
        let r = self.pose.base_from_optical.to_rotation_matrix();
        let dir = r * Vector3::new(n.x, n.y, 1.0);
        if dir.z >= 0.0 {
            return None;
        }
        let s = -c.z / dir.z;
        let p = c + dir * s;
        let range_m = (p - c).norm();
        if !(range_m.is_finite() && range_m <= self.max_range_m) {
            return None;
        }
        // p(n) = c + s(n) dir(n), s = -c_z / dir_z, ∂dir/∂n_i = R e_i:
        // ∂p/∂n_i = s (R e_i - dir (R e_i)_z / dir_z).
        let mut dp_dn = Matrix2::zeros();
        for i in 0..2 {
            let col = r.matrix().column(i).into_owned();
            let d = (col - dir * (col.z / dir.z)) * s;
            dp_dn[(0, i)] = d.x;
            dp_dn[(1, i)] = d.y;
        }
        Some(GroundPoint {
            position_m: Vector2::new(p.x, p.y),
            jacobian_m_per_px: dp_dn * dn_dpx,
            range_m,
        })
    }

    /// The pixel where a `base_link` point is seen (`None` behind the camera).
    pub fn ground_to_pixel(&self, p_base: Vector3<f64>) -> Option<Vector2<f64>> {
        self.camera.project(self.pose.to_optical(p_base))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use approx::assert_relative_eq;

    /// A 1280x720 camera with noticeable barrel distortion.
    fn distorted() -> CameraModel {
        CameraModel::pinhole(1280, 720, 900.0, 905.0, 641.5, 358.0)
            .with_distortion([-0.28, 0.09, 0.0012, -0.0008, -0.012])
    }

    /// 1.5 m up, 0.3 m left of centre, pitched 8° down, rolled 3°, yawed 2°.
    fn projector() -> GroundProjector {
        let base_from_body = UnitQuaternion::from_euler_angles(
            3f64.to_radians(),
            8f64.to_radians(),
            2f64.to_radians(),
        );
        GroundProjector {
            camera: distorted(),
            pose: CameraPose::from_body(Vector3::new(1.2, 0.3, 1.5), base_from_body),
            max_range_m: 200.0,
        }
    }

    #[test]
    fn optical_axes_in_body_frame() {
        let r = body_from_optical();
        assert_relative_eq!(r * Vector3::z(), Vector3::x()); // forward
        assert_relative_eq!(r * Vector3::x(), -Vector3::y()); // right
        assert_relative_eq!(r * Vector3::y(), -Vector3::z()); // down
        let q = UnitQuaternion::from_rotation_matrix(&r);
        // The quaternion every ROS camera driver publishes for camera_link -> optical frame.
        let expected =
            UnitQuaternion::from_quaternion(nalgebra::Quaternion::new(0.5, -0.5, 0.5, -0.5));
        assert!(q.angle_to(&expected) < 1e-12, "{q:?}");
    }

    #[test]
    fn distortion_round_trip_over_the_image() {
        let cam = distorted();
        let mut worst = 0.0f64;
        for v in (0..=720).step_by(40) {
            for u in (0..=1280).step_by(40) {
                let px = Vector2::new(f64::from(u), f64::from(v));
                let (n, _) = cam.pixel_to_normalised(px).expect("converges in the image");
                let back = cam.project(Vector3::new(n.x, n.y, 1.0)).unwrap();
                worst = worst.max((back - px).norm());
            }
        }
        assert!(worst < 1e-6, "worst round trip error {worst} px");
        // And it is not the identity: the corner moves by many pixels.
        let (n, _) = cam.pixel_to_normalised(Vector2::new(0.0, 0.0)).unwrap();
        let ideal = CameraModel::pinhole(1280, 720, 900.0, 905.0, 641.5, 358.0)
            .project(Vector3::new(n.x, n.y, 1.0))
            .unwrap();
        assert!(ideal.norm() > 20.0, "{ideal}");
    }

    #[test]
    fn distortion_jacobian_matches_finite_differences() {
        let cam = distorted();
        let n = Vector2::new(0.41, -0.27);
        let (_, j) = cam.distort(n);
        let h = 1e-7;
        for i in 0..2 {
            let mut e = Vector2::zeros();
            e[i] = h;
            let num = (cam.distort(n + e).0 - cam.distort(n - e).0) / (2.0 * h);
            assert_relative_eq!(j.column(i).into_owned(), num, epsilon = 1e-7);
        }
    }

    #[test]
    fn ground_points_project_back_exactly() {
        let proj = projector();
        for &(x, y) in &[(5.0, 0.0), (12.0, -3.5), (30.0, 6.0), (60.0, -1.0)] {
            let p = Vector3::new(x, y, 0.0);
            let px = proj.ground_to_pixel(p).expect("in front of the camera");
            let g = proj.pixel_to_ground(px).expect("below the horizon");
            assert_relative_eq!(g.position_m, Vector2::new(x, y), epsilon = 1e-6);
            assert_relative_eq!(
                g.range_m,
                (p - proj.pose.translation_m).norm(),
                epsilon = 1e-6
            );
        }
    }

    #[test]
    fn ground_jacobian_matches_finite_differences() {
        let proj = projector();
        let px = proj.ground_to_pixel(Vector3::new(20.0, 2.0, 0.0)).unwrap();
        let g = proj.pixel_to_ground(px).unwrap();
        let h = 1e-3;
        for i in 0..2 {
            let mut e = Vector2::zeros();
            e[i] = h;
            let plus = proj.pixel_to_ground(px + e).unwrap().position_m;
            let minus = proj.pixel_to_ground(px - e).unwrap().position_m;
            let num = (plus - minus) / (2.0 * h);
            assert_relative_eq!(
                g.jacobian_m_per_px.column(i).into_owned(),
                num,
                max_relative = 1e-5,
                epsilon = 1e-9
            );
        }
        // Far points are less certain: a pixel spans more metres.
        let far = proj.ground_to_pixel(Vector3::new(60.0, 2.0, 0.0)).unwrap();
        let far = proj.pixel_to_ground(far).unwrap();
        assert!(far.jacobian_m_per_px.norm() > 4.0 * g.jacobian_m_per_px.norm());
    }

    #[test]
    fn rays_above_the_horizon_meet_no_ground() {
        let proj = projector();
        // A point 2 m above the road far ahead is above the horizon for a camera 1.5 m up.
        let px = proj.ground_to_pixel(Vector3::new(80.0, 0.0, 3.0)).unwrap();
        assert_eq!(proj.pixel_to_ground(px), None);
        // The top row of the image looks up.
        assert_eq!(proj.pixel_to_ground(Vector2::new(640.0, 0.0)), None);
        // Beyond max_range_m: no position either.
        let px = proj.ground_to_pixel(Vector3::new(150.0, 0.0, 0.0)).unwrap();
        let near = GroundProjector {
            max_range_m: 100.0,
            ..proj.clone()
        };
        assert!(proj.pixel_to_ground(px).is_some());
        assert_eq!(near.pixel_to_ground(px), None);
    }

    #[test]
    fn calibration_is_validated() {
        let info = CameraInfoFields {
            width_px: 640,
            height_px: 480,
            distortion_model: "plumb_bob".into(),
            d: vec![-0.2, 0.05, 0.0, 0.0, 0.0],
            k: [500.0, 0.0, 320.0, 0.0, 500.0, 240.0, 0.0, 0.0, 1.0],
            p: [
                480.0, 0.0, 322.0, 0.0, 0.0, 482.0, 241.0, 0.0, 0.0, 0.0, 1.0, 0.0,
            ],
        };
        let raw = CameraModel::from_camera_info(&info, ImageKind::Raw).unwrap();
        assert_eq!(raw.d[0], -0.2);
        let rect = CameraModel::from_camera_info(&info, ImageKind::Rectified).unwrap();
        assert_eq!(
            (rect.k[(0, 0)], rect.k[(1, 2)], rect.d),
            (480.0, 241.0, [0.0; 5])
        );
        let uncalibrated = CameraInfoFields {
            k: [0.0; 9],
            ..info.clone()
        };
        assert!(CameraModel::from_camera_info(&uncalibrated, ImageKind::Raw).is_err());
        let fisheye = CameraInfoFields {
            distortion_model: "equidistant".into(),
            d: vec![0.1, 0.0, 0.0, 0.0],
            ..info.clone()
        };
        let e = CameraModel::from_camera_info(&fisheye, ImageKind::Raw).unwrap_err();
        assert!(e.to_string().contains("equidistant"), "{e}");
        let nan = CameraInfoFields {
            d: vec![f64::NAN, 0.0, 0.0, 0.0, 0.0],
            ..info
        };
        assert!(CameraModel::from_camera_info(&nan, ImageKind::Raw).is_err());
    }
}
