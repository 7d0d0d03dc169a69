//! A similarity transform (rotation, uniform scale, translation: 4 degrees of freedom) fitted
//! to point correspondences with RANSAC, then refitted by least squares on the inliers: what
//! BoT-SORT's GMC gets from OpenCV's `estimateAffinePartial2D` (Fischler & Bolles, *Random
//! Sample Consensus*, CACM 1981).
//!
//! Hand-written rather than from a crate: the minimal sample is two points and both the
//! minimal and the least-squares fit are closed forms (centred cross-correlation, as in
//! Umeyama's method without the rotation's SVD), so a generic RANSAC crate (rust-cv's `arrsac`)
//! would add traits to implement and no code to drop. Sampling uses a fixed-seed generator so
//! that the same frames give the same motion: replay output stays deterministic.

use super::affine::Affine2;

/// A point correspondence `(previous, current)` in pixels.
pub type Correspondence = ((f64, f64), (f64, f64));

/// The fit and how many correspondences support it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SimilarityFit {
    pub transform: Affine2,
    pub inliers: usize,
}

/// RANSAC options.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RansacOptions {
    /// A correspondence is an inlier when the model maps its first point within this many
    /// pixels of its second.
    pub inlier_max_px: f64,
    /// Most hypotheses tried (fewer when the inlier ratio found so far makes a better one
    /// unlikely at 99.5 % confidence).
    pub iterations_max: usize,
    /// Fewest inliers for a fit to be returned.
    pub inliers_min: usize,
}

/// The least-squares similarity `dst ≈ s R src + t` over `pairs` (indices into `all`), or
/// `None` when the source points coincide.
fn fit(all: &[Correspondence], pairs: impl Iterator<Item = usize> + Clone) -> Option<Affine2> {
    let mut n = 0.0;
    let (mut sx, mut sy, mut dx, mut dy) = (0.0, 0.0, 0.0, 0.0);
    for i in pairs.clone() {
        let ((x, y), (u, v)) = all[i];
        n += 1.0;
        sx += x;
        sy += y;
        dx += u;
        dy += v;
    }
    if n < 2.0 {
        return None;
    }
    let (msx, msy, mdx, mdy) = (sx / n, sy / n, dx / n, dy / n);
    // With centred points: a = Σ(x u + y v) / Σ|p|², b = Σ(x v - y u) / Σ|p|², where the
    // linear part is [[a, -b], [b, a]] = s R.
    let (mut num_a, mut num_b, mut den) = (0.0, 0.0, 0.0);
    for i in pairs {
        let ((x, y), (u, v)) = all[i];
        let (x, y, u, v) = (x - msx, y - msy, u - mdx, v - mdy);
        num_a += x * u + y * v;
        num_b += x * v - y * u;
        den += x * x + y * y;
    }
    if den <= 1e-12 {
        return None;
    }
    let (a, b) = (num_a / den, num_b / den);
    let tx = mdx - (a * msx - b * msy);
    let ty = mdy - (b * msx + a * msy);
    Some(Affine2 {
        m: [[a, -b, tx], [b, a, ty]],
    })
}

fn residual_px(t: &Affine2, c: &Correspondence) -> f64 {
    let ((x, y), (u, v)) = *c;
    let (px, py) = t.apply(x, y);
    (px - u).hypot(py - v)
}

/// SplitMix64 (Steele, Lea & Flood, 2014): a tiny fixed-seed generator, enough to draw
/// RANSAC's samples reproducibly.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        // The modulo bias is below 2^-50 for the few hundred points here.
        (self.next() % n as u64) as usize
    }
}

/// The similarity best supported by `correspondences`, or `None` when fewer than
/// `options.inliers_min` agree on one.
pub fn fit_similarity(
    correspondences: &[Correspondence],
    options: &RansacOptions,
) -> Option<SimilarityFit> {
    let n = correspondences.len();
    if n < options.inliers_min.max(2) {
        return None;
    }
    let mut rng = SplitMix64(0x6C6F_6F6B_6F75_7421);
    let mut best: Option<(Affine2, usize)> = None;
    let mut iterations = options.iterations_max;
    let mut k = 0;
    while k < iterations {
        k += 1;
        let i = rng.below(n);
        let j = rng.below(n);
        if i == j {
            continue;
        }
        let Some(model) = fit(correspondences, [i, j].into_iter()) else {
            continue;
        };
        let count = correspondences
            .iter()
            .filter(|c| residual_px(&model, c) <= options.inlier_max_px)
            .count();
        if best.is_none_or(|(_, b)| count > b) {
            best = Some((model, count));
            // Hypotheses needed for a 2-point all-inlier sample at 99.5 % confidence.
            let w = count as f64 / n as f64;
            let p_good = w * w;
            if p_good >= 1.0 {
                break;
            }
            if p_good > 0.0 {
                let needed = ((1.0f64 - 0.995).ln() / (1.0 - p_good).ln()).ceil();
                iterations = iterations.min(needed.max(1.0) as usize);
            }
        }
    }
    let (model, _) = best?;
    // Refit on the inliers, then count again with the refined model.
    let inliers = |m: Affine2| {
        (0..n).filter(move |&i| residual_px(&m, &correspondences[i]) <= options.inlier_max_px)
    };
    let refined = fit(correspondences, inliers(model)).unwrap_or(model);
    let count = inliers(refined).count();
    (count >= options.inliers_min).then_some(SimilarityFit {
        transform: refined,
        inliers: count,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options() -> RansacOptions {
        RansacOptions {
            inlier_max_px: 1.0,
            iterations_max: 200,
            inliers_min: 8,
        }
    }

    #[test]
    fn recovers_a_similarity_despite_outliers() {
        let truth = Affine2::similarity(1.05, 0.02, 7.5, -3.25);
        let mut rng = SplitMix64(1);
        let mut c = Vec::new();
        for k in 0..100 {
            let (x, y) = ((rng.below(640)) as f64, (rng.below(480)) as f64);
            let (u, v) = truth.apply(x, y);
            if k % 3 == 0 {
                // A third moves on its own (pedestrians): 10-40 px off.
                c.push(((x, y), (u + 10.0 + (k % 30) as f64, v - 15.0)));
            } else {
                c.push(((x, y), (u, v)));
            }
        }
        let fit = fit_similarity(&c, &options()).unwrap();
        assert!(fit.inliers >= 66 && fit.inliers <= 67, "{}", fit.inliers);
        assert!(fit.transform.max_corner_distance_px(&truth, 640.0, 480.0) < 1e-6);
    }

    #[test]
    fn too_few_agreeing_points_give_no_fit() {
        let c: Vec<Correspondence> = (0..20)
            .map(|k| {
                let p = (k as f64 * 13.0 % 97.0, k as f64 * 7.0 % 61.0);
                (p, (p.0 + (k * k) as f64, p.1 - (k * 3) as f64))
            })
            .collect();
        assert_eq!(fit_similarity(&c, &options()), None);
        assert_eq!(fit_similarity(&c[..1], &options()), None);
    }
}
