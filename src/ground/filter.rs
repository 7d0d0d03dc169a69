//! A constant-velocity Kalman filter on the road plane, per track: state `[x, y, vx, vy]` in
//! `base_link` metres and metres per second, time in seconds from header stamps.
//!
//! Process model: continuous white-noise acceleration per axis (Bar-Shalom, Li, Kirubarajan,
//! *Estimation with Applications to Tracking and Navigation*, §6.2.2), discretised for the real
//! `dt`: `F = [[I, dt I], [0, I]]`, `Q = q [[dt³/3 I, dt²/2 I], [dt²/2 I, dt I]]`, `q` =
//! [`GroundFilterNoise::accel_std_mps2`]². Measurement: the projected contact point `z = (x, y)`
//! with covariance `R = J Σ_px Jᵀ` (`J` the projection's Jacobian, so far objects, whose pixel
//! spans more road, weigh less). Joseph-form update, gain through a Cholesky factorisation of
//! the innovation covariance; a non-positive-definite one is an error value.

use nalgebra::{Cholesky, Matrix2, Matrix4, Matrix4x2, Vector2, Vector4};

use super::GroundError;

/// Process noise and initial velocity uncertainty of the ground filter.
#[derive(Debug, Clone, Copy, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct GroundFilterNoise {
    /// White-acceleration standard deviation per axis, m/s²: the velocity's random walk per
    /// square-root second (Bar-Shalom et al. §6.2.2: velocity changes over `T` of the order of
    /// `σ √T`). 0.15 lets a steady walker's or a cruising car's velocity wander by 0.15 m/s in
    /// a second and 0.3 m/s in four, about what they do; a start, stop or turn is followed
    /// within about two seconds (tests/ground_scenes.rs, `manoeuvres_are_followed`).
    pub accel_std_mps2: f64,
    /// Standard deviation of a new track's velocity per axis, m/s (a new object may move at any
    /// everyday speed).
    pub init_velocity_std_mps: f64,
}

impl Default for GroundFilterNoise {
    fn default() -> Self {
        Self {
            accel_std_mps2: 0.15,
            init_velocity_std_mps: 5.0,
        }
    }
}

/// The belief of one object on the road plane.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GroundFilter {
    /// `[x, y, vx, vy]`, m and m/s in `base_link`.
    pub mean: Vector4<f64>,
    pub covariance: Matrix4<f64>,
}

impl GroundFilter {
    /// A new belief at a measured point: position as measured, velocity unknown.
    pub fn new(z: Vector2<f64>, r: Matrix2<f64>, noise: &GroundFilterNoise) -> Self {
        let mut covariance = Matrix4::zeros();
        covariance.fixed_view_mut::<2, 2>(0, 0).copy_from(&r);
        let v = noise.init_velocity_std_mps.powi(2);
        covariance[(2, 2)] = v;
        covariance[(3, 3)] = v;
        Self {
            mean: Vector4::new(z.x, z.y, 0.0, 0.0),
            covariance,
        }
    }

    /// Moves the belief `dt_s` seconds ahead.
    pub fn predict(&mut self, dt_s: f64, noise: &GroundFilterNoise) -> Result<(), GroundError> {
        if !(dt_s.is_finite() && dt_s >= 0.0) {
            return Err(GroundError::TimeStep { dt_s });
        }
        let mut f = Matrix4::identity();
        f[(0, 2)] = dt_s;
        f[(1, 3)] = dt_s;
        let q = noise.accel_std_mps2.powi(2);
        let (a, b, c) = (q * dt_s.powi(3) / 3.0, q * dt_s.powi(2) / 2.0, q * dt_s);
        let mut qm = Matrix4::zeros();
        for i in 0..2 {
            qm[(i, i)] = a;
            qm[(i, i + 2)] = b;
            qm[(i + 2, i)] = b;
            qm[(i + 2, i + 2)] = c;
        }
        self.mean = f * self.mean;
        self.covariance = f * self.covariance * f.transpose() + qm;
        Ok(())
    }

    /// Fuses a measured position `z` with covariance `r` (m²).
    pub fn update(&mut self, z: Vector2<f64>, r: Matrix2<f64>) -> Result<(), GroundError> {
        let mut h = nalgebra::Matrix2x4::zeros();
        h[(0, 0)] = 1.0;
        h[(1, 1)] = 1.0;
        let s = h * self.covariance * h.transpose() + r;
        let chol = Cholesky::new(s).ok_or(GroundError::SingularInnovation)?;
        // K = P Hᵀ S⁻¹, through S's factorisation: K = (S⁻¹ H P)ᵀ (S and P symmetric).
        let k: Matrix4x2<f64> = chol.solve(&(h * self.covariance)).transpose();
        let innovation = z - h * self.mean;
        self.mean += k * innovation;
        let i_kh = Matrix4::identity() - k * h;
        let p = i_kh * self.covariance * i_kh.transpose() + k * r * k.transpose();
        self.covariance = (p + p.transpose()) * 0.5;
        Ok(())
    }

    /// `(x, y)`, m.
    pub fn position_m(&self) -> Vector2<f64> {
        Vector2::new(self.mean[0], self.mean[1])
    }

    /// `(vx, vy)`, m/s.
    pub fn velocity_mps(&self) -> Vector2<f64> {
        Vector2::new(self.mean[2], self.mean[3])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use approx::assert_relative_eq;

    #[test]
    fn converges_on_a_constant_velocity_target_and_stays_spd() {
        let noise = GroundFilterNoise::default();
        let r = Matrix2::new(0.04, 0.01, 0.01, 0.09);
        let truth = |t: f64| Vector2::new(10.0 + 1.2 * t, -2.0 - 0.5 * t);
        let mut f = GroundFilter::new(truth(0.0), r, &noise);
        // Seeded noise of the measurement's own standard deviations (0.2 m, 0.3 m): a sum of
        // 12 uniforms minus 6 is close to a standard normal.
        let mut state: u64 = 42;
        let mut normal = || {
            (0..12)
                .map(|_| {
                    state = state
                        .wrapping_mul(6_364_136_223_846_793_005)
                        .wrapping_add(1_442_695_040_888_963_407);
                    (state >> 11) as f64 / (1u64 << 53) as f64
                })
                .sum::<f64>()
                - 6.0
        };
        for k in 1..=100 {
            let t = f64::from(k) * 0.1;
            f.predict(0.1, &noise).unwrap();
            let e = Vector2::new(0.2 * normal(), 0.3 * normal());
            f.update(truth(t) + e, r).unwrap();
            assert!(Cholesky::new(f.covariance).is_some());
            assert_relative_eq!(f.covariance, f.covariance.transpose());
        }
        let v_err = (f.velocity_mps() - Vector2::new(1.2, -0.5)).norm();
        let p_err = (f.position_m() - truth(10.0)).norm();
        assert!(v_err < 0.4, "{v_err}");
        assert!(p_err < 0.4, "{p_err}");
    }

    #[test]
    fn bad_time_steps_and_singular_innovations_are_errors() {
        let noise = GroundFilterNoise::default();
        let mut f = GroundFilter::new(Vector2::zeros(), Matrix2::identity(), &noise);
        assert!(f.predict(-0.1, &noise).is_err());
        assert!(f.predict(f64::NAN, &noise).is_err());
        f.covariance = Matrix4::zeros();
        assert!(f.update(Vector2::zeros(), -Matrix2::identity()).is_err());
    }
}
