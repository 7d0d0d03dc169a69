//! Camera motion from the boxes themselves, for input without images (`lookout track` on a
//! detection file) and on top of image-based compensation ([`super::gmc`]).
//!
//! A constant-velocity prediction already carries a camera's steady motion in every track's
//! velocity; what breaks it is a *change* of the camera's motion (a hand-held camera's shake, a
//! platform turning or braking), which moves every object's box the same way at once. Between
//! the tracks' predicted boxes and this frame's confident detections, that change is the one
//! shift most pairs agree on, while each pedestrian's own deviation from its prediction is
//! small and points anywhere. So:
//!
//! 1. **Pairs.** Each confirmed track matched in the previous update is paired with its
//!    nearest high-score detection of the same class group (centre distance in units of the
//!    predicted box's scale `sqrt(w h)`, at most [`SEARCH_RADIUS_REL`], width and height ratios
//!    within [`SIZE_RATIO_MAX`]), kept only when the track is that detection's nearest track
//!    too (mutual nearest neighbours).
//! 2. **Consensus.** Every pair proposes a translation `c' = c + t`; the proposal with the
//!    most pairs agreeing within `inlier_rel` box scales (ties: smaller summed residual) wins,
//!    as RANSAC does with every minimal sample tried (there are few pairs).
//! 3. **Refit** on the agreeing pairs (mean translation) and accept it when at least
//!    `pairs_min` pairs and half of all pairs agree, and the shift is at least
//!    `shift_min_rel` median box scales (shorter is the detections' own noise: moving every
//!    track by noise cost a static camera identities).
//!
//! Translation only: a scale fitted from box sizes (each a few per cent noisy) and applied
//! about the image origin moved far tracks by tens of pixels on static cameras (measured:
//! pooled MOTA on seven MOT15 sequences fell from 34.9 to 20.5). A static camera's consensus
//! is below the shift threshold, so it changes nothing; a camera whose motion changed moves
//! every track's belief before association (the same map as image-based compensation,
//! [`super::gmc::warp_gaussian`]).

use super::kalman::MeasurementVector;
use crate::motion::Affine2;

/// Farthest a detection may be from a track's predicted centre to pair with it, in units of
/// the predicted box's scale `sqrt(w h)`: a camera jolt moves boxes by up to about their size.
pub const SEARCH_RADIUS_REL: f64 = 2.0;
/// Largest ratio of widths (and of heights) of a pair, either way round.
pub const SIZE_RATIO_MAX: f64 = 1.5;

/// One track's predicted box and a detection's box, `[cx, cy, w, h]` in px.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BoxPair {
    pub predicted: MeasurementVector,
    pub detected: MeasurementVector,
    /// Variance (px², per axis) of the pair's centre innovation if nothing but the filter's
    /// own uncertainty moved it: predicted position variance plus measurement noise.
    pub innovation_var_px2: f64,
}

/// What the consensus is asked for (see the module doc).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BoxMotionRule {
    /// Fewest agreeing pairs for a transform to be accepted.
    pub pairs_min: usize,
    /// A pair agrees with a translation when its moved centre lies within this many box
    /// scales of its detection's centre.
    pub inlier_rel: f64,
    /// The shared translation is applied only when it is at least this many (median) box
    /// scales long: below it, it is the detections' own noise, and moving every track by
    /// noise costs a static camera identities.
    pub shift_min_rel: f64,
    /// And only when it is significant against the pairs' own innovation uncertainty: the
    /// squared shift over the variance of a mean of the inliers' innovations (chi² with 2
    /// degrees of freedom) at least this. A static camera's mean innovation passes it only as
    /// often as chance allows (9.21: 1 %).
    pub chi2_min: f64,
}

/// Length of `(dx, dy)`: pixel offsets, far from where `hypot`'s overflow guard matters, and
/// glibc's `hypot` was 7 % of the tracker benchmark's profile.
fn distance_px(dx: f64, dy: f64) -> f64 {
    (dx * dx + dy * dy).sqrt()
}

fn scale_of(z: &MeasurementVector) -> f64 {
    (z[2] * z[3]).max(1.0).sqrt()
}

/// Buffers of [`pair_nearest`], kept between frames (no allocation per update).
#[derive(Debug, Clone, Default)]
pub struct NearestScratch {
    /// Detection indices sorted by centre x.
    order: Vec<usize>,
    /// Per track and per detection: the nearest partner so far, `(distance, index)`.
    best_for_track: Vec<Option<(f64, usize)>>,
    best_for_det: Vec<Option<(f64, usize)>>,
}

/// The closer of two `(distance, index)` candidates; equal distances go to the lower index
/// (the first in slice order).
fn nearer(a: Option<(f64, usize)>, b: (f64, usize)) -> Option<(f64, usize)> {
    match a {
        Some(a) if a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)).is_le() => Some(a),
        _ => Some(b),
    }
}

/// Mutual-nearest pairs of predicted track boxes and detection boxes (indices into the two
/// slices), appended to `out` in track order.
///
/// A sweep over the detections sorted by centre x: each track looks only at those within its
/// search radius in x, so the cost is `O((T + D) log D + candidates)` instead of `T x D`
/// distance evaluations twice (at 1000 objects the full scan took tens of milliseconds).
pub fn pair_nearest(
    predicted: &[MeasurementVector],
    detected: &[MeasurementVector],
    scratch: &mut NearestScratch,
    out: &mut Vec<(usize, usize)>,
) {
    let distance = |p: &MeasurementVector, d: &MeasurementVector| -> Option<f64> {
        let rw = d[2] / p[2];
        let rh = d[3] / p[3];
        let within = |r: f64| (1.0 / SIZE_RATIO_MAX..=SIZE_RATIO_MAX).contains(&r);
        if !(within(rw) && within(rh)) {
            return None;
        }
        let dist = distance_px(d[0] - p[0], d[1] - p[1]) / scale_of(p);
        (dist <= SEARCH_RADIUS_REL).then_some(dist)
    };
    let NearestScratch {
        order,
        best_for_track,
        best_for_det,
    } = scratch;
    order.clear();
    order.extend(0..detected.len());
    order.sort_unstable_by(|&a, &b| detected[a][0].total_cmp(&detected[b][0]));
    best_for_track.clear();
    best_for_track.resize(predicted.len(), None);
    best_for_det.clear();
    best_for_det.resize(detected.len(), None);
    for (i, p) in predicted.iter().enumerate() {
        // A pair farther apart in x than the radius is farther apart than the radius; the
        // window is widened by a hair so that rounding cannot drop a pair at the limit.
        let reach = SEARCH_RADIUS_REL * scale_of(p) * (1.0 + 1e-9);
        let first = order.partition_point(|&k| detected[k][0] < p[0] - reach);
        for &j in order[first..]
            .iter()
            .take_while(|&&k| detected[k][0] <= p[0] + reach)
        {
            if let Some(dist) = distance(p, &detected[j]) {
                best_for_track[i] = nearer(best_for_track[i], (dist, j));
                best_for_det[j] = nearer(best_for_det[j], (dist, i));
            }
        }
    }
    for (i, best) in best_for_track.iter().enumerate() {
        if let Some((_, j)) = *best {
            if best_for_det[j].map(|b| b.1) == Some(i) {
                out.push((i, j));
            }
        }
    }
}

/// Most translations the consensus tries (RANSAC's iterations): every pair's when there are
/// at most this many, else an even stride through them. Acceptance needs half of all pairs to
/// agree, so a stride of 64 proposals misses the consensus only if all 64 are outliers
/// (about 2^-64 for a random half); it keeps the consensus `O(64 n)` instead of `O(n²)`.
pub const PROPOSALS_MAX: usize = 64;

fn proposal(pair: &BoxPair) -> (f64, f64) {
    (
        pair.detected[0] - pair.predicted[0],
        pair.detected[1] - pair.predicted[1],
    )
}

/// How far (in box scales) `pair` is from the translation, or `None` beyond `inlier_rel`.
fn residual_rel(pair: &BoxPair, (tx, ty): (f64, f64), inlier_rel: f64) -> Option<f64> {
    let dx = pair.predicted[0] + tx - pair.detected[0];
    let dy = pair.predicted[1] + ty - pair.detected[1];
    let r = distance_px(dx, dy) / scale_of(&pair.detected);
    (r <= inlier_rel).then_some(r)
}

/// The translation most pairs agree on (module doc), or `None` without a clear consensus.
pub fn estimate(pairs: &[BoxPair], rule: &BoxMotionRule) -> Option<Affine2> {
    if pairs.len() < rule.pairs_min.max(1) {
        return None;
    }
    let mut best: Option<(usize, f64, (f64, f64))> = None;
    let stride = pairs.len().div_ceil(PROPOSALS_MAX);
    for pair in pairs.iter().step_by(stride) {
        let model = proposal(pair);
        let (count, sum) = pairs
            .iter()
            .filter_map(|p| residual_rel(p, model, rule.inlier_rel))
            .fold((0usize, 0.0), |(n, s), r| (n + 1, s + r));
        let better = match best {
            None => true,
            Some((n, s, _)) => count > n || (count == n && sum < s),
        };
        if better {
            best = Some((count, sum, model));
        }
    }
    let (count, _, model) = best?;
    if count < rule.pairs_min || 2 * count < pairs.len() {
        return None;
    }
    let (mut tx, mut ty, mut n, mut var_sum) = (0.0, 0.0, 0.0, 0.0);
    for p in pairs
        .iter()
        .filter(|p| residual_rel(p, model, rule.inlier_rel).is_some())
    {
        let (x, y) = proposal(p);
        tx += x;
        ty += y;
        n += 1.0;
        var_sum += p.innovation_var_px2;
    }
    let (tx, ty) = (tx / n, ty / n);
    // Variance of the mean of n independent innovations, per axis.
    let var_mean = var_sum / (n * n);
    if !(var_mean > 0.0 && (tx * tx + ty * ty) / var_mean >= rule.chi2_min) {
        return None;
    }
    // The floor needs the median box scale; with the default floor (0) no frame sorts them.
    if rule.shift_min_rel > 0.0 {
        let mut scales: Vec<f64> = pairs.iter().map(|p| scale_of(&p.detected)).collect();
        scales.sort_by(f64::total_cmp);
        if tx.hypot(ty) < rule.shift_min_rel * scales[scales.len() / 2] {
            return None;
        }
    }
    let t = Affine2::translation(tx, ty);
    t.is_finite().then_some(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    const RULE: BoxMotionRule = BoxMotionRule {
        pairs_min: 3,
        inlier_rel: 0.25,
        shift_min_rel: 0.0,
        chi2_min: 0.0,
    };

    fn z(cx: f64, cy: f64, w: f64, h: f64) -> MeasurementVector {
        MeasurementVector::new(cx, cy, w, h)
    }

    /// Pairs moved by `s`, `t` plus a per-pair deviation (px).
    fn moved(s: f64, t: (f64, f64), devs: &[(f64, f64)]) -> Vec<BoxPair> {
        devs.iter()
            .enumerate()
            .map(|(k, &(ex, ey))| {
                let p = z(100.0 + 90.0 * k as f64, 200.0 + 13.0 * k as f64, 30.0, 70.0);
                BoxPair {
                    predicted: p,
                    detected: z(s * p[0] + t.0 + ex, s * p[1] + t.1 + ey, s * 30.0, s * 70.0),
                    innovation_var_px2: 4.0,
                }
            })
            .collect()
    }

    #[test]
    fn a_shared_jolt_is_recovered_despite_an_outlier() {
        let mut pairs = moved(
            1.0,
            (-25.0, 8.0),
            &[(1.0, -1.0), (-1.5, 0.5), (0.5, 1.0), (0.0, 0.0)],
        );
        // One pedestrian who turned around: far from the shared motion.
        pairs.push(BoxPair {
            predicted: z(600.0, 300.0, 30.0, 70.0),
            detected: z(640.0, 300.0, 30.0, 70.0),
            innovation_var_px2: 4.0,
        });
        let t = estimate(&pairs, &RULE).unwrap();
        assert_eq!(t.scale(), 1.0);
        let (tx, ty) = t.translation_px();
        assert!(
            (tx + 25.0).abs() < 1.0 && (ty - 8.0).abs() < 1.0,
            "{tx} {ty}"
        );
        // Below the shift threshold the motion is noise and is not applied.
        let rule = BoxMotionRule {
            shift_min_rel: 1.0,
            ..RULE
        };
        assert_eq!(estimate(&pairs, &rule), None);
        // Nor when the pairs' own uncertainty explains it (4 inliers of 400 px² each: the
        // mean's variance is 100 px², and 26.3 px squared over it is 6.9 < 9.21).
        let uncertain: Vec<BoxPair> = pairs
            .iter()
            .map(|p| BoxPair {
                innovation_var_px2: 400.0,
                ..*p
            })
            .collect();
        let rule = BoxMotionRule {
            chi2_min: 9.21,
            ..RULE
        };
        assert_eq!(estimate(&uncertain, &rule), None);
        assert!(estimate(&pairs, &rule).is_some());
    }

    #[test]
    fn no_consensus_no_transform() {
        // Three pedestrians each off their prediction in a different direction by a box width.
        let pairs = moved(
            1.0,
            (0.0, 0.0),
            &[(30.0, 0.0), (-30.0, 0.0), (0.0, 30.0), (0.0, -30.0)],
        );
        assert_eq!(estimate(&pairs, &RULE), None);
        // Too few pairs.
        assert_eq!(
            estimate(&moved(1.0, (40.0, 0.0), &[(0.0, 0.0); 2]), &RULE),
            None
        );
    }

    #[test]
    fn a_static_camera_gives_about_the_identity() {
        let pairs = moved(
            1.0,
            (0.0, 0.0),
            &[(1.0, 0.5), (-0.5, 1.0), (0.5, -1.0), (-1.0, -0.5)],
        );
        let t = estimate(&pairs, &RULE).unwrap();
        let (x, y) = t.apply(400.0, 300.0);
        assert!(
            (x - 400.0).abs() < 1.0 && (y - 300.0).abs() < 1.0,
            "{x} {y}"
        );
    }

    use crate::track::{Tracker, TrackerConfig};
    use crate::types::{BBox, Detection, Time};

    fn walker(cx: f64, cy: f64) -> Detection {
        Detection {
            bbox: BBox::from_center(cx as f32, cy as f32, 20.0, 40.0),
            class_index: 0,
            label: "pedestrian".into(),
            score: 0.9,
        }
    }

    /// 7 frames/s.
    fn stamp(k: i64) -> Time {
        Time::from_ns(k * 142_857_143)
    }

    /// Distinct ids reported for five pedestrians walking right at 14 px/s, seen by a camera
    /// that jolts 45 px left at frame 6 (boxes 20 px wide: no overlap with the predictions).
    fn jolted_ids(box_motion: bool) -> std::collections::BTreeSet<u64> {
        let config = TrackerConfig {
            box_motion,
            ..TrackerConfig::default()
        };
        let mut tracker = Tracker::new(config).unwrap();
        let mut ids = std::collections::BTreeSet::new();
        let mut offset = 0.0;
        for k in 0..14 {
            if k == 6 {
                offset -= 45.0;
            }
            let dets: Vec<Detection> = (0..5)
                .map(|p| {
                    walker(
                        100.0 + 120.0 * p as f64 + 2.0 * k as f64 + offset,
                        200.0 + 30.0 * p as f64,
                    )
                })
                .collect();
            for t in tracker.update(stamp(k), &dets).unwrap() {
                ids.insert(t.id);
            }
        }
        ids
    }

    #[test]
    fn a_camera_jolt_keeps_every_id() {
        assert_eq!(jolted_ids(true).len(), 5);
        // Without the box motion the same scene breaks tracks (so the test above can fail).
        assert!(jolted_ids(false).len() > 5);
    }

    /// The adaptive noise gain after 40 frames of four walkers whose boxes all shake by up to
    /// `shake_px` a frame (a hand-held camera), box motion off so nothing else absorbs it.
    fn gain_after(shake_px: f64) -> f64 {
        let config = TrackerConfig {
            box_motion: false,
            ..TrackerConfig::default()
        };
        let mut tracker = Tracker::new(config).unwrap();
        for k in 0..40 {
            // A deterministic, irregular shake.
            let phase = (k * k % 7) as f64 / 3.0 - 1.0;
            let dx = shake_px * phase;
            let dy = shake_px * ((k * 3 % 5) as f64 / 2.0 - 1.0);
            let dets: Vec<Detection> = (0..4)
                .map(|p| walker(100.0 + 150.0 * p as f64 + 2.0 * k as f64 + dx, 200.0 + dy))
                .collect();
            tracker.update(stamp(k), &dets).unwrap();
        }
        tracker.noise_gain()
    }

    #[test]
    fn the_noise_gain_follows_a_shaking_camera_and_stays_1_when_still() {
        assert!((gain_after(0.0) - 1.0).abs() < 1e-9, "{}", gain_after(0.0));
        let shaken = gain_after(8.0);
        assert!(shaken > 2.0, "{shaken}");
        assert!(shaken <= TrackerConfig::default().noise_gain_max + 1e-9);
    }

    #[test]
    fn pairs_are_mutual_nearest_and_size_compatible() {
        let predicted = [
            z(100.0, 100.0, 30.0, 60.0),
            z(140.0, 100.0, 30.0, 60.0),
            z(500.0, 100.0, 30.0, 60.0),
        ];
        let detected = [
            z(130.0, 100.0, 30.0, 60.0), // nearest to both 0 and 1; 1 is nearer
            z(505.0, 100.0, 90.0, 60.0), // too wide for track 2
        ];
        let mut out = Vec::new();
        pair_nearest(
            &predicted,
            &detected,
            &mut NearestScratch::default(),
            &mut out,
        );
        assert_eq!(out, vec![(1, 0)]);
    }

    /// The mutual-nearest pairs by scanning every track against every detection.
    fn pair_nearest_scan(
        predicted: &[MeasurementVector],
        detected: &[MeasurementVector],
    ) -> Vec<(usize, usize)> {
        let distance = |p: &MeasurementVector, d: &MeasurementVector| {
            let within = |r: f64| (1.0 / SIZE_RATIO_MAX..=SIZE_RATIO_MAX).contains(&r);
            let dist = distance_px(d[0] - p[0], d[1] - p[1]) / scale_of(p);
            (within(d[2] / p[2]) && within(d[3] / p[3]) && dist <= SEARCH_RADIUS_REL)
                .then_some(dist)
        };
        let nearest = |n: usize, dist: &dyn Fn(usize) -> Option<f64>| {
            (0..n)
                .filter_map(|k| dist(k).map(|d| (k, d)))
                .min_by(|a, b| a.1.total_cmp(&b.1))
                .map(|(k, _)| k)
        };
        (0..predicted.len())
            .filter_map(|i| {
                let j = nearest(detected.len(), &|j| distance(&predicted[i], &detected[j]))?;
                (nearest(predicted.len(), &|k| distance(&predicted[k], &detected[j])) == Some(i))
                    .then_some((i, j))
            })
            .collect()
    }

    #[test]
    fn the_sweep_pairs_as_the_full_scan_does() {
        // Crowds of boxes on a small image (many candidates per track, ties on a grid) and
        // spread over a wide one, sizes varied past the ratio limit.
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed >> 11) as f64 / (1u64 << 53) as f64
        };
        let mut scratch = NearestScratch::default();
        for (n, width_px, grid) in [(5, 200.0, false), (60, 300.0, true), (400, 4000.0, false)] {
            for _ in 0..20 {
                let mut boxes = |k: usize| {
                    (0..k)
                        .map(|_| {
                            let (mut x, mut y) = (next() * width_px, next() * 300.0);
                            if grid {
                                x = (x / 20.0).round() * 20.0;
                                y = (y / 20.0).round() * 20.0;
                            }
                            z(x, y, 20.0 + 30.0 * next(), 50.0 + 60.0 * next())
                        })
                        .collect::<Vec<_>>()
                };
                let predicted = boxes(n);
                let detected = boxes(n + n / 3);
                let mut out = Vec::new();
                pair_nearest(&predicted, &detected, &mut scratch, &mut out);
                assert_eq!(out, pair_nearest_scan(&predicted, &detected), "n {n}");
            }
        }
    }

    #[test]
    fn many_pairs_find_the_consensus_through_the_capped_proposals() {
        // 300 pairs (stride 5 through them, so the proposals tried are inliers and outliers
        // alike), 75 % of them moved by the camera's jolt and the rest scattered: the jolt is
        // found as with every proposal tried.
        assert_eq!(300usize.div_ceil(PROPOSALS_MAX), 5);
        let devs: Vec<(f64, f64)> = (0..300)
            .map(|k| {
                if k % 4 < 3 {
                    (0.3 * ((k % 7) as f64 - 3.0), 0.2 * ((k % 3) as f64 - 1.0))
                } else {
                    (40.0 + 7.0 * (k % 11) as f64, -50.0 + 9.0 * (k % 13) as f64)
                }
            })
            .collect();
        let pairs = moved(1.0, (-30.0, 12.0), &devs);
        let (tx, ty) = estimate(&pairs, &RULE).unwrap().translation_px();
        assert!(
            (tx + 30.0).abs() < 0.5 && (ty - 12.0).abs() < 0.5,
            "{tx} {ty}"
        );
    }
}
