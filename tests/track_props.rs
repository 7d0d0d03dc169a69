//! Property tests of the Kalman filter: the covariance stays symmetric positive definite over
//! random sequences of predict/update with random `dt` and box sizes, and the velocity
//! estimate converges on constant-velocity input whatever the (irregular) sampling; both for
//! the plain update and the Huber-robust one (`kalman::update_robust`).
//!
//! Between two updates the filter predicts at most 3 s ahead (in 0 to 3 steps of up to 1 s):
//! the tracker removes a track `max_age_s` after its last update, and pure prediction for
//! minutes drives the covariance's condition number past what f64 can represent (a std of
//! 10⁷ px next to 0.1 px/s), which no filter formulation fixes.

use lookout::track::kalman::{self, Gaussian, KalmanNoise, MeasurementVector, StateCovariance};
use nalgebra::SymmetricEigen;
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Step {
    Predict {
        dt_s: f64,
    },
    /// Measure the current mean moved by these offsets (in box sizes), the first box's size
    /// scaled by `k`.
    Update {
        dx: f64,
        dy: f64,
        k: f64,
    },
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        (0.0f64..1.0).prop_map(|dt_s| Step::Predict { dt_s }),
        (-1.0f64..1.0, -1.0f64..1.0, 0.5f64..2.0).prop_map(|(dx, dy, k)| Step::Update {
            dx,
            dy,
            k
        }),
    ]
}

fn assert_spd(p: &StateCovariance, context: &str) -> Result<(), TestCaseError> {
    prop_assert!(p.iter().all(|v| v.is_finite()), "{context}: not finite");
    prop_assert_eq!(*p, p.transpose(), "{}: not symmetric", context);
    let eig = SymmetricEigen::new(*p).eigenvalues;
    let min = eig.min();
    prop_assert!(min > 0.0, "{context}: eigenvalue {min} <= 0 ({eig:?})");
    prop_assert!(
        nalgebra::Cholesky::new(*p).is_some(),
        "{context}: no Cholesky"
    );
    Ok(())
}

fn noise() -> impl Strategy<Value = KalmanNoise> {
    (
        0.01f64..5.0,
        0.01f64..2.0,
        0.005f64..0.3,
        0.005f64..0.5,
        0.01f64..1.0,
        0.01f64..5.0,
    )
        .prop_map(|(a, s, m, ms, p0, v0)| KalmanNoise {
            accel_std_rel_per_s2: a,
            size_accel_std_rel_per_s2: s,
            measurement_std_rel: m,
            size_measurement_std_rel: ms,
            init_position_std_rel: p0,
            init_velocity_std_rel_per_s: v0,
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn covariance_stays_symmetric_positive_definite(
        noise in noise(),
        w in 4.0f64..600.0,
        aspect in 0.2f64..5.0,
        steps in prop::collection::vec(step(), 1..80),
        robust_chi2 in prop::option::of(0.5f64..20.0),
    ) {
        let z0 = MeasurementVector::new(500.0, 300.0, w, w * aspect);
        let mut g: Gaussian = kalman::initiate(&z0, &noise).unwrap();
        assert_spd(&g.covariance, "initial")?;
        let mut since_update_s = 0.0;
        for (i, s) in steps.iter().enumerate() {
            let s = match *s {
                Step::Predict { dt_s } if since_update_s + dt_s > 3.0 => {
                    Step::Update { dx: 0.1, dy: -0.1, k: 1.0 }
                }
                ref other => other.clone(),
            };
            match s {
                Step::Predict { dt_s } => {
                    since_update_s += dt_s;
                    g = kalman::predict(&g, dt_s, &noise).unwrap();
                    // Keep the size positive so that the next measurement is valid.
                    g.mean[2] = g.mean[2].max(1.0);
                    g.mean[3] = g.mean[3].max(1.0);
                }
                Step::Update { dx, dy, k } => {
                    // Sizes relative to the first box, so they stay within 0.5x to 2x of it.
                    let (bw, bh) = (z0[2], z0[3]);
                    let z = MeasurementVector::new(
                        g.mean[0] + dx * bw, g.mean[1] + dy * bh, bw * k, bh * k,
                    );
                    g = match robust_chi2 {
                        Some(c) => kalman::update_robust(&g, &z, &noise, c).unwrap(),
                        None => kalman::update(&g, &z, &noise).unwrap(),
                    };
                    since_update_s = 0.0;
                    let d2 = kalman::mahalanobis_squared(&g, &z, &noise).unwrap();
                    prop_assert!(d2.is_finite() && d2 >= 0.0);
                }
            }
            assert_spd(&g.covariance, &format!("after step {i} {s:?}"))?;
        }
    }

    #[test]
    fn velocity_converges_on_constant_velocity_input(
        vx in -300.0f64..300.0,
        vy in -300.0f64..300.0,
        w in 10.0f64..300.0,
        dts in prop::collection::vec(0.02f64..0.4, 40..60),
        robust in any::<bool>(),
    ) {
        let noise = KalmanNoise::default();
        let (x0, y0, h) = (400.0, 300.0, 2.0 * w);
        let mut t = 0.0;
        let mut g = kalman::initiate(&MeasurementVector::new(x0, y0, w, h), &noise).unwrap();
        for dt in &dts {
            t += dt;
            g = kalman::predict(&g, *dt, &noise).unwrap();
            let z = MeasurementVector::new(x0 + vx * t, y0 + vy * t, w, h);
            g = if robust {
                // The tracker's default threshold.
                kalman::update_robust(&g, &z, &noise, 4.0).unwrap()
            } else {
                kalman::update(&g, &z, &noise).unwrap()
            };
        }
        let tol = 0.02 * (vx.abs() + vy.abs()) + 0.5;
        prop_assert!((g.mean[4] - vx).abs() < tol, "vx {} vs {vx}", g.mean[4]);
        prop_assert!((g.mean[5] - vy).abs() < tol, "vy {} vs {vy}", g.mean[5]);
        prop_assert!(g.mean[6].abs() < 0.5 && g.mean[7].abs() < 0.5);
    }
}
