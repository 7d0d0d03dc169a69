//! [`Affine2`]: a 2D affine transform of image pixels, `p' = A p + t`, the value that carries
//! the camera's motion from the estimator ([`super::CameraMotion`]) to the tracker
//! ([`crate::track::Tracker::update_with_camera_motion`]).

/// `p' = A p + t` on image pixels, stored row-major as the 2x3 matrix `[A | t]` (OpenCV's
/// layout). As a camera motion it is `cur_from_prev`: a point of the previous frame's image
/// to where the same scene point is in the current frame's.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Affine2 {
    pub m: [[f64; 3]; 2],
}

impl Default for Affine2 {
    fn default() -> Self {
        Self::IDENTITY
    }
}

impl Affine2 {
    pub const IDENTITY: Affine2 = Affine2 {
        m: [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]],
    };

    /// A similarity: rotation by `angle_rad` (counter-clockwise in a y-down image it is
    /// clockwise on screen), uniform `scale`, then translation by `(tx_px, ty_px)`.
    pub fn similarity(scale: f64, angle_rad: f64, tx_px: f64, ty_px: f64) -> Self {
        let (s, c) = angle_rad.sin_cos();
        Self {
            m: [
                [scale * c, -scale * s, tx_px],
                [scale * s, scale * c, ty_px],
            ],
        }
    }

    /// A pure translation.
    pub fn translation(tx_px: f64, ty_px: f64) -> Self {
        Self::similarity(1.0, 0.0, tx_px, ty_px)
    }

    /// The image of point `(x, y)`.
    pub fn apply(&self, x: f64, y: f64) -> (f64, f64) {
        let m = &self.m;
        (
            m[0][0] * x + m[0][1] * y + m[0][2],
            m[1][0] * x + m[1][1] * y + m[1][2],
        )
    }

    /// The image of a displacement or velocity `(vx, vy)` (the linear part only).
    pub fn apply_vector(&self, vx: f64, vy: f64) -> (f64, f64) {
        let m = &self.m;
        (m[0][0] * vx + m[0][1] * vy, m[1][0] * vx + m[1][1] * vy)
    }

    /// The linear part `A`, row-major.
    pub fn linear(&self) -> [[f64; 2]; 2] {
        [[self.m[0][0], self.m[0][1]], [self.m[1][0], self.m[1][1]]]
    }

    /// The translation `t` in pixels.
    pub fn translation_px(&self) -> (f64, f64) {
        (self.m[0][2], self.m[1][2])
    }

    /// The isotropic scale `sqrt(|det A|)`: how much lengths (box sizes) grow.
    pub fn scale(&self) -> f64 {
        let a = self.linear();
        (a[0][0] * a[1][1] - a[0][1] * a[1][0]).abs().sqrt()
    }

    pub fn is_finite(&self) -> bool {
        self.m.iter().flatten().all(|v| v.is_finite())
    }

    /// The same motion in coordinates `factor` times larger: a transform estimated on an image
    /// downscaled by `factor` (`p_small = p / factor`) as a transform of full-size pixels,
    /// `p' = factor (A p / factor + t) = A p + factor t`.
    pub fn in_pixels_scaled_by(&self, factor: f64) -> Self {
        let mut out = *self;
        out.m[0][2] *= factor;
        out.m[1][2] *= factor;
        out
    }

    /// `self` after `first`: `p -> self(first(p))`.
    pub fn after(&self, first: &Affine2) -> Self {
        let (a, b) = (&self.m, &first.m);
        let mut m = [[0.0; 3]; 2];
        for (r, row) in m.iter_mut().enumerate() {
            for (c, v) in row.iter_mut().enumerate() {
                *v = a[r][0] * b[0][c] + a[r][1] * b[1][c];
            }
            row[2] += a[r][2];
        }
        Self { m }
    }

    /// The largest distance (px) by which this transform moves a point of the rectangle
    /// `[0, width] x [0, height]` away from where `other` puts it (the maximum is at a corner).
    pub fn max_corner_distance_px(&self, other: &Affine2, width: f64, height: f64) -> f64 {
        [(0.0, 0.0), (width, 0.0), (0.0, height), (width, height)]
            .iter()
            .map(|&(x, y)| {
                let (ax, ay) = self.apply(x, y);
                let (bx, by) = other.apply(x, y);
                (ax - bx).hypot(ay - by)
            })
            .fold(0.0, f64::max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn similarity_maps_points_vectors_and_scale() {
        let t = Affine2::similarity(2.0, std::f64::consts::FRAC_PI_2, 10.0, -5.0);
        let (x, y) = t.apply(1.0, 0.0);
        assert!(
            (x - 10.0).abs() < 1e-12 && (y - -3.0).abs() < 1e-12,
            "{x} {y}"
        );
        let (vx, vy) = t.apply_vector(1.0, 0.0);
        assert!(vx.abs() < 1e-12 && (vy - 2.0).abs() < 1e-12);
        assert!((t.scale() - 2.0).abs() < 1e-12);
    }

    #[test]
    fn composition_and_rescaling() {
        let a = Affine2::similarity(1.1, 0.1, 3.0, 4.0);
        let b = Affine2::translation(-2.0, 7.0);
        let ab = a.after(&b);
        let (x, y) = b.apply(5.0, 6.0);
        let (ex, ey) = a.apply(x, y);
        let (gx, gy) = ab.apply(5.0, 6.0);
        assert!((ex - gx).abs() < 1e-12 && (ey - gy).abs() < 1e-12);
        // Estimated at half size: a full-size point p maps as 2 * a(p / 2).
        let full = a.in_pixels_scaled_by(2.0);
        let (sx, sy) = a.apply(5.0 / 2.0, 6.0 / 2.0);
        let (fx, fy) = full.apply(5.0, 6.0);
        assert!((2.0 * sx - fx).abs() < 1e-12 && (2.0 * sy - fy).abs() < 1e-12);
        assert_eq!(
            Affine2::IDENTITY.max_corner_distance_px(&b, 10.0, 10.0),
            2f64.hypot(7.0)
        );
    }
}
