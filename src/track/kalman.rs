//! A constant-velocity Kalman filter for boxes in the image plane, with time in seconds.
//!
//! State `x = [cx, cy, w, h, vcx, vcy, vw, vh]`: the box centre and size in image pixels and
//! their rates in pixels per second. Measurement `z = [cx, cy, w, h]` (`H = [I4 0]`).
//! Centre and size rather than ByteTrack's centre/aspect/height (as BoT-SORT argues) so the
//! width is estimated directly and all four measured components share units.
//!
//! Process model: each of the four components is a continuous white-noise-acceleration
//! (CWNA) double integrator (Bar-Shalom, Li, Kirubarajan, *Estimation with Applications to
//! Tracking and Navigation*, §6.2.2), discretised exactly for the real `dt` between header
//! stamps:
//!
//! ```text
//! F = [[I, dt I], [0, I]]      Q_i = q_i [[dt³/3, dt²/2], [dt²/2, dt]]
//! ```
//!
//! The power spectral density `q_i` scales with the box as DeepSORT/ByteTrack's
//! `std_weight_*` do, but per second instead of per frame: `q_i = (a_rel · s)²` where
//! `s = sqrt(w h)` ([`box_scale`]) and `a_rel` is [`KalmanNoise::accel_std_rel_per_s2`] (or
//! the size variant). After one second of pure prediction the velocity's standard deviation
//! has grown by `a_rel · s` px/s, whatever the frame rate, which is what keeps one id per
//! object at 5, 10 or 30 Hz.
//!
//! Measurement noise `R = diag((m s)², (m s)², (m_s s)², (m_s s)²)` with `m` =
//! `measurement_std_rel`, `m_s` = `size_measurement_std_rel`, `s` from the *measured* box.
//!
//! The defaults were calibrated so that the normalised innovation squared of detections
//! matched to ground truth averages about 4 (its expectation for 4 degrees of freedom) on two
//! MOT15 sequences at 7 and 25 frames/s, with every component near 1: an isotropic scale
//! `sqrt(w h)` fitted both, where DeepSORT's height scale or a per-axis width/height scale
//! left x and width over- or under-confident by a factor 2-4.
//!
//! The update uses the Joseph form `P = (I-KH) P (I-KH)ᵀ + K R Kᵀ`, then symmetrises, so `P`
//! stays symmetric positive definite in floating point; the gain is computed through a
//! Cholesky factorisation of the innovation covariance `S`, and a non-positive-definite `S`
//! is a [`KalmanError`] value, not a panic.

use nalgebra::{Cholesky, SMatrix, SVector};
use serde::{Deserialize, Serialize};

/// `[cx, cy, w, h, vcx, vcy, vw, vh]` in px and px/s.
pub type StateVector = SVector<f64, 8>;
/// Covariance of [`StateVector`].
pub type StateCovariance = SMatrix<f64, 8, 8>;
/// `[cx, cy, w, h]` in px.
pub type MeasurementVector = SVector<f64, 4>;
/// Covariance of [`MeasurementVector`].
pub type MeasurementCovariance = SMatrix<f64, 4, 4>;

/// Smallest box side (px) used to scale noise, so a degenerate box never yields zero noise.
const NOISE_SCALE_MIN_PX: f64 = 1.0;

/// A numerical failure of the filter.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum KalmanError {
    #[error("innovation covariance is not positive definite")]
    SingularInnovation,
    #[error("time step {dt_s} s is negative or not finite")]
    InvalidTimeStep { dt_s: f64 },
    #[error("measurement {measurement:?} is not finite or has a non-positive size")]
    InvalidMeasurement { measurement: [f64; 4] },
}

/// Noise parameters, all relative to the box size so one setting works for near and far
/// objects. Defaults are documented on [`KalmanNoise::default`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KalmanNoise {
    /// White-acceleration standard deviation of the box centre, in box sizes per s²
    /// (equivalently: velocity std gained per second of prediction, in box sizes per second).
    pub accel_std_rel_per_s2: f64,
    /// The same for the box width and height rates.
    pub size_accel_std_rel_per_s2: f64,
    /// Measurement standard deviation of the box centre, in box sizes.
    pub measurement_std_rel: f64,
    /// Measurement standard deviation of the box width and height, in box sizes (detectors
    /// jitter more in extent than in position: limbs, partial occlusion).
    pub size_measurement_std_rel: f64,
    /// Initial position/size standard deviation of a new track, in box sizes.
    pub init_position_std_rel: f64,
    /// Initial velocity standard deviation of a new track (prior mean zero), in box sizes per s.
    pub init_velocity_std_rel_per_s: f64,
}

impl Default for KalmanNoise {
    /// All relative to the box scale `sqrt(w h)`:
    /// * `accel_std_rel_per_s2 = 0.5`: the value at which the centre components of the
    ///   normalised innovation squared average 1 over the two static-camera MOT15 sequences
    ///   (7 and 25 frames/s); for comparison ByteTrack's `std_weight_velocity = 1/160` per
    ///   frame at 30 frames/s is a velocity random walk of `30 · sqrt(30) / 160 ≈ 1.03` box
    ///   sizes per second after one second. Moving cameras favour 2 (their image motion is
    ///   mostly ego-motion), which costs identities at 7 frames/s (issue 12, BENCHMARKS.md).
    /// * `size_accel_std_rel_per_s2 = 0.5`: sizes change more slowly than positions.
    /// * `measurement_std_rel = 0.05`: ByteTrack's `std_weight_position = 1/20`.
    /// * `size_measurement_std_rel = 0.1`: box extents jitter twice as much as centres.
    /// * `init_position_std_rel = 0.1`: twice the centre measurement noise, as ByteTrack.
    /// * `init_velocity_std_rel_per_s = 1.0`: a pedestrian moves up to about a body size per
    ///   second; the second hit sets the velocity almost entirely.
    ///
    /// With these, matched detections on MOT15 (7 and 25 frames/s) have a mean normalised
    /// innovation squared of 3.7 and 4.7 (4 expected), each component within [0.5, 1.5].
    fn default() -> Self {
        Self {
            accel_std_rel_per_s2: 0.5,
            size_accel_std_rel_per_s2: 0.5,
            measurement_std_rel: 0.05,
            size_measurement_std_rel: 0.1,
            init_position_std_rel: 0.1,
            init_velocity_std_rel_per_s: 1.0,
        }
    }
}

/// A Gaussian belief over the box state.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Gaussian {
    pub mean: StateVector,
    pub covariance: StateCovariance,
}

fn scale(v: f64) -> f64 {
    if v.is_finite() {
        v.abs().max(NOISE_SCALE_MIN_PX)
    } else {
        NOISE_SCALE_MIN_PX
    }
}

/// The box size that scales all noise: `sqrt(w h)`, the side of the square of equal area.
/// Isotropic and independent of the aspect ratio, so a tall pedestrian and a wide car get
/// noise in proportion to how big they look, not to their narrow side.
pub fn box_scale(w: f64, h: f64) -> f64 {
    (scale(w) * scale(h)).sqrt()
}

fn check_measurement(z: &MeasurementVector) -> Result<(), KalmanError> {
    if z.iter().all(|v| v.is_finite()) && z[2] > 0.0 && z[3] > 0.0 {
        Ok(())
    } else {
        Err(KalmanError::InvalidMeasurement {
            measurement: [z[0], z[1], z[2], z[3]],
        })
    }
}

/// Measurement noise for a measured box.
pub fn measurement_noise(z: &MeasurementVector, noise: &KalmanNoise) -> MeasurementCovariance {
    let size = box_scale(z[2], z[3]);
    let p = (noise.measurement_std_rel * size).powi(2);
    let s = (noise.size_measurement_std_rel * size).powi(2);
    MeasurementCovariance::from_diagonal(&SVector::<f64, 4>::new(p, p, s, s))
}

/// A new track's belief from its first measured box: the box itself, zero velocity.
pub fn initiate(z: &MeasurementVector, noise: &KalmanNoise) -> Result<Gaussian, KalmanError> {
    check_measurement(z)?;
    let mut mean = StateVector::zeros();
    mean.fixed_rows_mut::<4>(0).copy_from(z);
    let size = box_scale(z[2], z[3]);
    let p = noise.init_position_std_rel * size;
    let v = noise.init_velocity_std_rel_per_s * size;
    let std = [p, p, p, p, v, v, v, v];
    let covariance =
        StateCovariance::from_diagonal(&StateVector::from_iterator(std.iter().map(|s| s * s)));
    Ok(Gaussian { mean, covariance })
}

/// The transition matrix for `dt_s` seconds.
pub fn transition(dt_s: f64) -> StateCovariance {
    let mut f = StateCovariance::identity();
    for i in 0..4 {
        f[(i, i + 4)] = dt_s;
    }
    f
}

/// The CWNA process noise for `dt_s` seconds around a box of width `w` and height `h`.
pub fn process_noise(dt_s: f64, w: f64, h: f64, noise: &KalmanNoise) -> StateCovariance {
    let (w, h) = (scale(w), scale(h));
    let a = noise.accel_std_rel_per_s2;
    let s = noise.size_accel_std_rel_per_s2;
    // Spectral densities (px²/s³) of cx, cy, w, h.
    let q = [
        (a * w).powi(2),
        (a * h).powi(2),
        (s * w).powi(2),
        (s * h).powi(2),
    ];
    let (dt2, dt3) = (dt_s * dt_s, dt_s * dt_s * dt_s);
    let mut m = StateCovariance::zeros();
    for (i, qi) in q.iter().enumerate() {
        m[(i, i)] = qi * dt3 / 3.0;
        m[(i, i + 4)] = qi * dt2 / 2.0;
        m[(i + 4, i)] = qi * dt2 / 2.0;
        m[(i + 4, i + 4)] = qi * dt_s;
    }
    m
}

/// Propagate a belief `dt_s` seconds ahead. Noise is scaled by the *prior* box size.
pub fn predict(g: &Gaussian, dt_s: f64, noise: &KalmanNoise) -> Result<Gaussian, KalmanError> {
    if !(dt_s.is_finite() && dt_s >= 0.0) {
        return Err(KalmanError::InvalidTimeStep { dt_s });
    }
    let q = process_noise(dt_s, g.mean[2], g.mean[3], noise);
    // F P Fᵀ by blocks, with P = [[A, B], [Bᵀ, C]] and F = [[I, dt I], [0, I]]:
    // [[A + dt (B + Bᵀ) + dt² C, B + dt C], [Bᵀ + dt C, C]]; the same as the dense product
    // (tested) at an eighth of the flops.
    let p = &g.covariance;
    let a = p.fixed_view::<4, 4>(0, 0);
    let b = p.fixed_view::<4, 4>(0, 4);
    let bt = p.fixed_view::<4, 4>(4, 0);
    let c = p.fixed_view::<4, 4>(4, 4);
    let mut fpf = *p;
    fpf.fixed_view_mut::<4, 4>(0, 0)
        .copy_from(&(a + (b + bt) * dt_s + c * (dt_s * dt_s)));
    fpf.fixed_view_mut::<4, 4>(0, 4).copy_from(&(b + c * dt_s));
    fpf.fixed_view_mut::<4, 4>(4, 0).copy_from(&(bt + c * dt_s));
    let mut mean = g.mean;
    for i in 0..4 {
        mean[i] += dt_s * g.mean[i + 4];
    }
    Ok(Gaussian {
        mean,
        covariance: symmetrise(&(fpf + q)),
    })
}

/// The predicted measurement distribution `(H x, H P Hᵀ + R)` for a measured box `z` (which
/// sets the scale of `R`).
pub fn project(
    g: &Gaussian,
    r: &MeasurementCovariance,
) -> (MeasurementVector, MeasurementCovariance) {
    let mean = g.mean.fixed_rows::<4>(0).into_owned();
    let s = g.covariance.fixed_view::<4, 4>(0, 0).into_owned() + r;
    (mean, s)
}

/// Squared Mahalanobis distance of measurement `z` from the belief's predicted measurement
/// (chi-square with 4 degrees of freedom when the model holds: 9.49 is the 95 % gate).
pub fn mahalanobis_squared(
    g: &Gaussian,
    z: &MeasurementVector,
    noise: &KalmanNoise,
) -> Result<f64, KalmanError> {
    check_measurement(z)?;
    let (mean, s) = project(g, &measurement_noise(z, noise));
    let chol = Cholesky::new(s).ok_or(KalmanError::SingularInnovation)?;
    let y = z - mean;
    let s_inv_y = chol.solve(&y);
    Ok(y.dot(&s_inv_y))
}

/// Condition a belief on a measured box (Joseph-form covariance update, symmetrised).
pub fn update(
    g: &Gaussian,
    z: &MeasurementVector,
    noise: &KalmanNoise,
) -> Result<Gaussian, KalmanError> {
    check_measurement(z)?;
    update_with(g, z, &measurement_noise(z, noise))
}

/// [`update`] made robust to outlying measurements (a box that merges two people, a box
/// cut by occlusion) by Huber's M-estimator: when the normalised innovation squared `d²`
/// exceeds `chi2_max`, the measurement noise is inflated by `d / sqrt(chi2_max)`, so the
/// correction grows only like `sqrt(d)` instead of linearly with the innovation (one
/// reweighting step of the iteratively reweighted Kalman update; Huber, *Robust Statistics*,
/// 1981; Karlgaard & Schaub, *Huber-based divided difference filtering*, 2007). Inliers
/// (`d² <= chi2_max`) get exactly [`update`].
pub fn update_robust(
    g: &Gaussian,
    z: &MeasurementVector,
    noise: &KalmanNoise,
    chi2_max: f64,
) -> Result<Gaussian, KalmanError> {
    let mut updated = *g;
    update_robust_in_place(&mut updated, z, noise, chi2_max)?;
    Ok(updated)
}

/// [`update_robust`] (the plain [`update`] when `chi2_max` is 0) in place: `g` becomes the
/// posterior, and the measurement's normalised innovation squared against the prior, which
/// the update computes anyway, is returned (a caller that also wants the NIS saves a second
/// factorisation of `S`). No 600-byte belief moves through return values: the tracker updates
/// its scratch beliefs this way (6 % of a PETS09-S2L1 pass). On error `g` is unchanged.
pub fn update_robust_in_place(
    g: &mut Gaussian,
    z: &MeasurementVector,
    noise: &KalmanNoise,
    chi2_max: f64,
) -> Result<f64, KalmanError> {
    check_measurement(z)?;
    let r = measurement_noise(z, noise);
    let s_inv = innovation_inverse(g, &r)?;
    let y = z - g.mean.fixed_rows::<4>(0);
    let d2 = y.dot(&(s_inv * y));
    if d2 > chi2_max && chi2_max > 0.0 {
        let inflated = r * (d2 / chi2_max).sqrt();
        let s_inv = innovation_inverse(g, &inflated)?;
        update_given_in_place(g, z, &inflated, &s_inv)?;
    } else {
        update_given_in_place(g, z, &r, &s_inv)?;
    }
    Ok(d2)
}

/// `S⁻¹` for measurement noise `r`. Cholesky proves `S` positive definite; the closed-form
/// 4x4 inverse is then cheaper than two triangular solves against 8 right-hand sides (and
/// than a hand-unrolled inverse through the Cholesky factor, measured 9 % slower per update).
fn innovation_inverse(
    g: &Gaussian,
    r: &MeasurementCovariance,
) -> Result<MeasurementCovariance, KalmanError> {
    let (_, s) = project(g, r);
    Cholesky::new(s).ok_or(KalmanError::SingularInnovation)?;
    s.try_inverse().ok_or(KalmanError::SingularInnovation)
}

/// The update with a given (diagonal) measurement noise `r`.
fn update_with(
    g: &Gaussian,
    z: &MeasurementVector,
    r: &MeasurementCovariance,
) -> Result<Gaussian, KalmanError> {
    let s_inv = innovation_inverse(g, r)?;
    let mut updated = *g;
    update_given_in_place(&mut updated, z, r, &s_inv)?;
    Ok(updated)
}

/// The update with `r` and its innovation covariance's inverse `s_inv` already computed, in
/// place; on error `g` is unchanged.
fn update_given_in_place(
    g: &mut Gaussian,
    z: &MeasurementVector,
    r: &MeasurementCovariance,
    s_inv: &MeasurementCovariance,
) -> Result<(), KalmanError> {
    let z_pred = g.mean.fixed_rows::<4>(0).into_owned();
    // P Hᵀ is the first four columns of P; K = P Hᵀ S⁻¹.
    let pht: SMatrix<f64, 8, 4> = g.covariance.fixed_view::<8, 4>(0, 0).into_owned();
    let k: SMatrix<f64, 8, 4> = pht * s_inv;
    let innovation = z - z_pred;
    let mean = g.mean + k * innovation;
    // Joseph form (I - KH) P (I - KH)ᵀ + K R Kᵀ without forming I - KH: H selects the first
    // four rows/columns, so with M = (I - KH) P = P - K (H P) the form is
    // M - (M Hᵀ) Kᵀ + (K R) Kᵀ = M - N Kᵀ with N = M Hᵀ - K R: the same terms. The result is
    // symmetric in exact arithmetic, so only its upper triangle is computed and mirrored
    // (which also symmetrises it exactly).
    let p = &g.covariance;
    let mut n = SMatrix::<f64, 8, 4>::zeros();
    for j in 0..4 {
        for i in 0..8 {
            let mut m_ij = p[(i, j)];
            for q in 0..4 {
                m_ij -= k[(i, q)] * pht[(j, q)];
            }
            n[(i, j)] = m_ij - k[(i, j)] * r[(j, j)];
        }
    }
    let mut covariance = StateCovariance::zeros();
    for j in 0..8 {
        for i in 0..=j {
            // M_ij = P_ij - Σ_q K_iq P_jq (P symmetric, P_jq = pht_jq for q < 4).
            let mut v = p[(i, j)];
            for q in 0..4 {
                v -= k[(i, q)] * pht[(j, q)] + n[(i, q)] * k[(j, q)];
            }
            covariance[(i, j)] = v;
            covariance[(j, i)] = v;
        }
    }
    // Without short-circuiting, so that the 72 checks vectorise (the short-circuiting form
    // was 3 % of the tracker benchmark's profile).
    let finite = |m: &[f64]| m.iter().fold(true, |ok, v| ok & v.is_finite());
    if !(finite(mean.as_slice()) & finite(covariance.as_slice())) {
        return Err(KalmanError::SingularInnovation);
    }
    g.mean = mean;
    g.covariance = covariance;
    Ok(())
}

fn symmetrise(p: &StateCovariance) -> StateCovariance {
    (p + p.transpose()) * 0.5
}

#[cfg(test)]
mod tests {
    use super::*;
    use approx::assert_relative_eq;

    fn noise() -> KalmanNoise {
        KalmanNoise {
            accel_std_rel_per_s2: 1.0,
            size_accel_std_rel_per_s2: 0.5,
            measurement_std_rel: 0.1,
            size_measurement_std_rel: 0.3,
            init_position_std_rel: 0.2,
            init_velocity_std_rel_per_s: 1.0,
        }
    }

    #[test]
    fn the_update_returns_the_nis_of_its_prior() {
        let z0 = MeasurementVector::new(100.0, 50.0, 10.0, 20.0);
        let g = predict(&initiate(&z0, &noise()).unwrap(), 0.1, &noise()).unwrap();
        for z in [z0, MeasurementVector::new(108.0, 47.0, 11.0, 19.0)] {
            let want = mahalanobis_squared(&g, &z, &noise()).unwrap();
            for chi2 in [0.0, 0.5, 4.0] {
                let mut updated = g;
                let nis = update_robust_in_place(&mut updated, &z, &noise(), chi2).unwrap();
                assert_relative_eq!(nis, want, max_relative = 1e-9);
                assert_eq!(updated, update_robust(&g, &z, &noise(), chi2).unwrap());
            }
            if z != z0 {
                // The robust branch ran: the posterior is the plain update's only without it.
                let mut robust = g;
                update_robust_in_place(&mut robust, &z, &noise(), 0.5).unwrap();
                assert_ne!(robust, update(&g, &z, &noise()).unwrap());
            }
        }
    }

    #[test]
    fn initiate_sets_box_and_diagonal_prior() {
        let z = MeasurementVector::new(100.0, 50.0, 10.0, 10.0);
        let g = initiate(&z, &noise()).unwrap();
        assert_eq!(g.mean.fixed_rows::<4>(0).into_owned(), z);
        assert_eq!(
            g.mean.fixed_rows::<4>(4).into_owned(),
            MeasurementVector::zeros()
        );
        // Square 10 px box: scale 10; std 0.2 * 10 = 2 -> var 4; velocity 1 * 10 -> 100.
        let diag = g.covariance.diagonal();
        let want = [4.0, 4.0, 4.0, 4.0, 100.0, 100.0, 100.0, 100.0];
        for (got, want) in diag.iter().zip(want) {
            assert_relative_eq!(*got, want, epsilon = 1e-12);
        }
    }

    #[test]
    fn predict_matches_hand_computation() {
        // One axis by hand: cx with var 4, vcx with var 100, vcx = 30 px/s, dt = 0.5 s, w = 10.
        // F P Fᵀ: var_x = 4 + 0.25 * 100 = 29, cov = 0.5 * 100 = 50, var_v = 100.
        // q = (1 * 10)² = 100: Q = [[100 * 0.125 / 3, 100 * 0.25 / 2], [.., 100 * 0.5]]
        //   = [[4.1667, 12.5], [12.5, 50]].
        let z = MeasurementVector::new(100.0, 50.0, 10.0, 10.0);
        let mut g = initiate(&z, &noise()).unwrap();
        g.mean[4] = 30.0;
        let p = predict(&g, 0.5, &noise()).unwrap();
        assert_relative_eq!(p.mean[0], 115.0, epsilon = 1e-12);
        assert_relative_eq!(p.mean[1], 50.0, epsilon = 1e-12);
        assert_relative_eq!(
            p.covariance[(0, 0)],
            29.0 + 100.0 * 0.125 / 3.0,
            epsilon = 1e-9
        );
        assert_relative_eq!(p.covariance[(0, 4)], 50.0 + 12.5, epsilon = 1e-9);
        assert_relative_eq!(p.covariance[(4, 0)], 50.0 + 12.5, epsilon = 1e-9);
        assert_relative_eq!(p.covariance[(4, 4)], 150.0, epsilon = 1e-9);
        // Width axis: size noise 0.5 * 10 = 5 -> q = 25; var_w = 4 + 0.25 * 100 + 25 * 0.125 / 3.
        assert_relative_eq!(
            p.covariance[(2, 2)],
            29.0 + 25.0 * 0.125 / 3.0,
            epsilon = 1e-9
        );
        // Axes stay uncorrelated.
        assert_eq!(p.covariance[(0, 1)], 0.0);
    }

    #[test]
    fn update_matches_scalar_kalman_per_axis() {
        // With a diagonal-by-axis prior, each axis is an independent 2-state filter.
        // cx axis without process noise: P = [[29, 50], [50, 100]] after predicting 0.5 s;
        // measure 120 with R = (0.1 * 10)² = 1: S = 30, K = [29/30, 50/30], x = 115 + 29/30 * 5.
        let z0 = MeasurementVector::new(100.0, 50.0, 10.0, 10.0);
        let n = KalmanNoise {
            accel_std_rel_per_s2: 0.0,
            size_accel_std_rel_per_s2: 0.0,
            ..noise()
        };
        let mut g = initiate(&z0, &n).unwrap();
        g.mean[4] = 30.0;
        let p = predict(&g, 0.5, &n).unwrap();
        assert_relative_eq!(p.covariance[(0, 0)], 29.0, epsilon = 1e-12);
        let z = MeasurementVector::new(120.0, 50.0, 10.0, 10.0);
        let u = update(&p, &z, &n).unwrap();
        assert_relative_eq!(u.mean[0], 115.0 + 29.0 / 30.0 * 5.0, epsilon = 1e-9);
        assert_relative_eq!(u.mean[4], 30.0 + 50.0 / 30.0 * 5.0, epsilon = 1e-9);
        // Posterior P = (I - KH) P: var_x = 29 - 29²/30 = 29/30, var_v = 100 - 50²/30.
        assert_relative_eq!(u.covariance[(0, 0)], 29.0 / 30.0, epsilon = 1e-9);
        assert_relative_eq!(u.covariance[(4, 4)], 100.0 - 2500.0 / 30.0, epsilon = 1e-9);
        assert_relative_eq!(
            u.covariance[(0, 4)],
            50.0 - 29.0 * 50.0 / 30.0,
            epsilon = 1e-9
        );
    }

    #[test]
    fn mahalanobis_is_scaled_innovation() {
        let z0 = MeasurementVector::new(100.0, 50.0, 10.0, 10.0);
        let g = initiate(&z0, &noise()).unwrap();
        // S_xx = 4 (prior) + 1 (R) = 5; a 5 px offset in x gives d² = 25 / 5.
        let z = MeasurementVector::new(105.0, 50.0, 10.0, 10.0);
        assert_relative_eq!(
            mahalanobis_squared(&g, &z, &noise()).unwrap(),
            5.0,
            epsilon = 1e-9
        );
    }

    #[test]
    fn robust_update_inflates_noise_of_outliers_only() {
        // As in `mahalanobis_is_scaled_innovation`: S_xx = 4 + 1, a 5 px offset gives d² = 5.
        let z0 = MeasurementVector::new(100.0, 50.0, 10.0, 10.0);
        let g = initiate(&z0, &noise()).unwrap();
        let z = MeasurementVector::new(105.0, 50.0, 10.0, 10.0);
        // An inlier (d² <= chi2_max) gets exactly the plain update: x = 100 + 4/5 * 5.
        let inlier = update_robust(&g, &z, &noise(), 5.0).unwrap();
        assert_eq!(inlier, update(&g, &z, &noise()).unwrap());
        assert_relative_eq!(inlier.mean[0], 104.0, epsilon = 1e-9);
        // chi2_max = 1.25: R is inflated by sqrt(5 / 1.25) = 2, so R_xx = 2, S_xx = 6,
        // K = 4/6: x = 100 + 4/6 * 5, var_x = (1 - K)² 4 + K² 2 = 4/3.
        let outlier = update_robust(&g, &z, &noise(), 1.25).unwrap();
        assert_relative_eq!(outlier.mean[0], 100.0 + 4.0 / 6.0 * 5.0, epsilon = 1e-9);
        assert_relative_eq!(outlier.covariance[(0, 0)], 4.0 / 3.0, epsilon = 1e-9);
        // The inflated update is less sure than the plain one, never more.
        assert!(outlier.covariance[(0, 0)] > inlier.covariance[(0, 0)]);
        assert!(matches!(
            update_robust(
                &g,
                &MeasurementVector::new(f64::NAN, 0.0, 1.0, 1.0),
                &noise(),
                1.0
            ),
            Err(KalmanError::InvalidMeasurement { .. })
        ));
    }

    /// The dense textbook formulas the structured ones must equal.
    fn dense_predict(g: &Gaussian, dt: f64, n: &KalmanNoise) -> Gaussian {
        let f = transition(dt);
        let q = process_noise(dt, g.mean[2], g.mean[3], n);
        Gaussian {
            mean: f * g.mean,
            covariance: f * g.covariance * f.transpose() + q,
        }
    }

    fn dense_update(g: &Gaussian, z: &MeasurementVector, n: &KalmanNoise) -> Gaussian {
        let mut h = SMatrix::<f64, 4, 8>::zeros();
        h.fixed_view_mut::<4, 4>(0, 0).fill_with_identity();
        let r = measurement_noise(z, n);
        let s = h * g.covariance * h.transpose() + r;
        let k = g.covariance * h.transpose() * s.try_inverse().unwrap();
        let i_kh = StateCovariance::identity() - k * h;
        Gaussian {
            mean: g.mean + k * (z - h * g.mean),
            covariance: i_kh * g.covariance * i_kh.transpose() + k * r * k.transpose(),
        }
    }

    #[test]
    fn structured_matches_dense_formulas() {
        let n = noise();
        let mut g = initiate(&MeasurementVector::new(100.0, 50.0, 30.0, 70.0), &n).unwrap();
        // Correlate everything with a few steps.
        let zs = [
            MeasurementVector::new(104.0, 48.0, 31.0, 69.0),
            MeasurementVector::new(109.0, 47.0, 29.0, 72.0),
            MeasurementVector::new(115.0, 45.0, 30.5, 71.0),
        ];
        for (i, z) in zs.iter().enumerate() {
            let dt = 0.1 * (i + 1) as f64;
            let (p, pd) = (predict(&g, dt, &n).unwrap(), dense_predict(&g, dt, &n));
            assert_relative_eq!(p.mean, pd.mean, epsilon = 1e-9);
            assert_relative_eq!(
                p.covariance,
                pd.covariance,
                epsilon = 1e-9,
                max_relative = 1e-12
            );
            let (u, ud) = (update(&p, z, &n).unwrap(), dense_update(&p, z, &n));
            assert_relative_eq!(u.mean, ud.mean, epsilon = 1e-9);
            assert_relative_eq!(
                u.covariance,
                ud.covariance,
                epsilon = 1e-9,
                max_relative = 1e-9
            );
            g = u;
        }
    }

    #[test]
    fn noise_scales_with_sqrt_area() {
        // A 40 x 10 box has scale sqrt(400) = 20: centre std 0.1 * 20 = 2, size std 0.3 * 20 = 6.
        let z = MeasurementVector::new(0.0, 0.0, 40.0, 10.0);
        let r = measurement_noise(&z, &noise());
        let want = [4.0, 4.0, 36.0, 36.0];
        for (got, want) in r.diagonal().iter().zip(want) {
            assert_relative_eq!(*got, want, epsilon = 1e-9);
        }
        assert_relative_eq!(box_scale(40.0, 10.0), 20.0, epsilon = 1e-12);
        // Degenerate sides are clamped to 1 px so the noise never vanishes.
        assert_relative_eq!(box_scale(0.0, 0.0), 1.0, epsilon = 1e-12);
    }

    #[test]
    fn errors_are_values() {
        let z = MeasurementVector::new(100.0, 50.0, 10.0, 10.0);
        let g = initiate(&z, &noise()).unwrap();
        assert!(matches!(
            predict(&g, -0.1, &noise()),
            Err(KalmanError::InvalidTimeStep { .. })
        ));
        assert!(matches!(
            predict(&g, f64::NAN, &noise()),
            Err(KalmanError::InvalidTimeStep { .. })
        ));
        let bad = MeasurementVector::new(f64::NAN, 0.0, 1.0, 1.0);
        assert!(matches!(
            update(&g, &bad, &noise()),
            Err(KalmanError::InvalidMeasurement { .. })
        ));
        let neg = MeasurementVector::new(1.0, 0.0, -1.0, 1.0);
        assert!(initiate(&neg, &noise()).is_err());
        // A covariance that is not positive definite makes S singular when R is zero.
        let n0 = KalmanNoise {
            measurement_std_rel: 0.0,
            ..noise()
        };
        let mut degenerate = g;
        degenerate.covariance = StateCovariance::zeros();
        assert_eq!(
            update(&degenerate, &z, &n0),
            Err(KalmanError::SingularInnovation)
        );
        assert_eq!(
            mahalanobis_squared(&degenerate, &z, &n0),
            Err(KalmanError::SingularInnovation)
        );
    }
}
