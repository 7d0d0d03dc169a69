//! CLEAR MOT (MOTA, MOTP, ID switches) and identity (IDF1) metrics, computed as py-motmetrics
//! 1.4.0 computes them (`MOTAccumulator.update`, `id_global_assignment`), so the numbers agree
//! with the MOTChallenge devkit's Python port.
//!
//! Per frame (Bernardin & Stiefelhagen 2008, "Evaluating multiple object tracking performance:
//! the CLEAR MOT metrics"), with distance `d = 1 - IoU` and pairs with `IoU < iou_min` not
//! allowed to match:
//! 1. a ground-truth object still paired with the hypothesis it was last matched to keeps it
//!    when that pair is allowed (the previous-frame correspondence preference);
//! 2. the rest are matched by a minimum-cost assignment that first maximises the number of
//!    matches (motmetrics' expensive-edge trick), then minimises the total distance; a match
//!    whose object was last matched to a different hypothesis is an ID switch;
//! 3. unmatched objects are misses (FN), unmatched hypotheses false positives (FP).
//!
//! `MOTA = 1 - (FN + FP + IDSW) / GT`, `MOTP` = mean `1 - IoU` over matches (motmetrics'
//! convention: lower is better). IDF1 (Ristani et al. 2016): a global one-to-one matching of
//! object ids to hypothesis ids maximising the frames in which the two overlap with
//! `IoU >= iou_min` (IDTP); `IDF1 = 2 IDTP / (GT + hypotheses)`.
//!
//! Boxes are MOTChallenge `(x, y, w, h)` in f64 pixels; frames are any `u32`, evaluated in
//! increasing order over the union of frames in which either side has a box.

use std::collections::{BTreeMap, HashMap};

use pathfinding::kuhn_munkres::kuhn_munkres;
use pathfinding::matrix::Matrix;
use serde::Serialize;

/// One box of a ground truth or a tracker output.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct IdBox {
    pub frame: u32,
    pub id: u64,
    /// `(x, y, w, h)`, pixels.
    pub tlwh: [f64; 4],
}

/// IoU of two `(x, y, w, h)` boxes, as motmetrics computes it (no +1 pixel convention).
pub fn iou_tlwh(a: &[f64; 4], b: &[f64; 4]) -> f64 {
    let w = ((a[0] + a[2]).min(b[0] + b[2]) - a[0].max(b[0])).max(0.0);
    let h = ((a[1] + a[3]).min(b[1] + b[3]) - a[1].max(b[1])).max(0.0);
    let inter = w * h;
    let union = a[2] * a[3] + b[2] * b[3] - inter;
    if union <= 0.0 {
        0.0
    } else {
        inter / union
    }
}

/// CLEAR MOT and identity metrics of one sequence.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct MotMetrics {
    /// Frames evaluated (with a ground-truth or hypothesis box).
    pub frames: u64,
    /// Ground-truth boxes (GT).
    pub num_objects: u64,
    /// Hypothesis boxes.
    pub num_predictions: u64,
    pub num_unique_objects: u64,
    /// Matches, ID switches included.
    pub num_matches: u64,
    pub num_switches: u64,
    pub num_false_positives: u64,
    pub num_misses: u64,
    /// `1 - (FN + FP + IDSW) / GT`; `None` without ground-truth boxes.
    pub mota: Option<f64>,
    /// Mean `1 - IoU` over matches; `None` without matches.
    pub motp: Option<f64>,
    /// Total `1 - IoU` over matches (MOTP's numerator, what [`merge`] sums).
    pub distance_sum: f64,
    pub idtp: u64,
    pub idfp: u64,
    pub idfn: u64,
    /// `2 IDTP / (GT + hypotheses)`; `None` when both are empty.
    pub idf1: Option<f64>,
    pub idp: Option<f64>,
    pub idr: Option<f64>,
}

/// Distances scaled to integers for the (integer) Kuhn–Munkres solver: 1e-9 resolution.
const DIST_SCALE: f64 = 1e9;

/// Min-cost matching of `cost` (rows x cols, `None` = not allowed) that first maximises the
/// number of allowed pairs, then minimises their total cost, as `(row, col)` pairs.
fn max_card_min_cost(cost: &[Vec<Option<f64>>], rows: usize, cols: usize) -> Vec<(usize, usize)> {
    if rows == 0 || cols == 0 || cost.iter().flatten().all(Option::is_none) {
        return Vec::new();
    }
    let transpose = rows > cols;
    let (r, c) = if transpose {
        (cols, rows)
    } else {
        (rows, cols)
    };
    // A match is worth more than any total of distances (each <= 1, at most r of them).
    let big = (DIST_SCALE as i64) * (r as i64 + 1);
    let weight = |i: usize, j: usize| {
        let (a, b) = if transpose { (j, i) } else { (i, j) };
        match cost[a][b] {
            Some(d) => big - (d * DIST_SCALE).round() as i64,
            None => 0,
        }
    };
    let mut data = Vec::with_capacity(r * c);
    for i in 0..r {
        for j in 0..c {
            data.push(weight(i, j));
        }
    }
    // Matrix::from_vec fails only when data.len() != r * c, which the loops above rule out.
    let Ok(m) = Matrix::from_vec(r, c, data) else {
        return Vec::new();
    };
    let (_, assignment) = kuhn_munkres(&m);
    assignment
        .into_iter()
        .enumerate()
        .map(|(i, j)| if transpose { (j, i) } else { (i, j) })
        .filter(|&(a, b)| cost[a][b].is_some())
        .collect()
}

/// Scores `hyp` against `gt` (both already filtered: ignored ground truth removed).
pub fn evaluate(gt: &[IdBox], hyp: &[IdBox], iou_min: f64) -> MotMetrics {
    let mut frames: BTreeMap<u32, (Vec<&IdBox>, Vec<&IdBox>)> = BTreeMap::new();
    for g in gt {
        frames.entry(g.frame).or_default().0.push(g);
    }
    for h in hyp {
        frames.entry(h.frame).or_default().1.push(h);
    }
    let dist_max = 1.0 - iou_min;
    let mut m = MotMetrics::default();
    // Object id -> the hypothesis id it was last matched to.
    let mut last_match: HashMap<u64, u64> = HashMap::new();
    let mut dist_sum = 0.0;
    // Identity counts: frames per object, per hypothesis, and per allowed pair.
    let mut ocs: HashMap<u64, u64> = HashMap::new();
    let mut hcs: HashMap<u64, u64> = HashMap::new();
    let mut tps: HashMap<(u64, u64), u64> = HashMap::new();
    for (objects, hyps) in frames.values() {
        m.frames += 1;
        m.num_objects += objects.len() as u64;
        m.num_predictions += hyps.len() as u64;
        let mut dist: Vec<Vec<Option<f64>>> = objects
            .iter()
            .map(|o| {
                hyps.iter()
                    .map(|h| {
                        let d = 1.0 - iou_tlwh(&o.tlwh, &h.tlwh);
                        (d <= dist_max).then_some(d)
                    })
                    .collect()
            })
            .collect();
        for o in objects {
            *ocs.entry(o.id).or_default() += 1;
        }
        for h in hyps {
            *hcs.entry(h.id).or_default() += 1;
        }
        for (i, o) in objects.iter().enumerate() {
            for (j, h) in hyps.iter().enumerate() {
                if dist[i][j].is_some() {
                    *tps.entry((o.id, h.id)).or_default() += 1;
                }
            }
        }
        let mut o_done = vec![false; objects.len()];
        let mut h_done = vec![false; hyps.len()];
        // 1. Keep established correspondences.
        for (i, o) in objects.iter().enumerate() {
            let Some(&prev) = last_match.get(&o.id) else {
                continue;
            };
            let Some(j) = (0..hyps.len()).find(|&j| !h_done[j] && hyps[j].id == prev) else {
                continue;
            };
            if let Some(d) = dist[i][j] {
                o_done[i] = true;
                h_done[j] = true;
                m.num_matches += 1;
                dist_sum += d;
            }
        }
        for (i, row) in dist.iter_mut().enumerate() {
            for (j, d) in row.iter_mut().enumerate() {
                if o_done[i] || h_done[j] {
                    *d = None;
                }
            }
        }
        // 2. Optimal assignment of the rest.
        for (i, j) in max_card_min_cost(&dist, objects.len(), hyps.len()) {
            let (o, h) = (objects[i].id, hyps[j].id);
            if last_match.get(&o).is_some_and(|&prev| prev != h) {
                m.num_switches += 1;
            }
            last_match.insert(o, h);
            o_done[i] = true;
            h_done[j] = true;
            m.num_matches += 1;
            dist_sum += dist[i][j].unwrap_or(0.0);
        }
        // 3. The rest are misses and false positives.
        m.num_misses += o_done.iter().filter(|d| !**d).count() as u64;
        m.num_false_positives += h_done.iter().filter(|d| !**d).count() as u64;
    }
    m.num_unique_objects = ocs.len() as u64;
    m.distance_sum = dist_sum;
    m.idtp = id_true_positives(&ocs, &hcs, &tps);
    m.set_ratios();
    m
}

/// The metrics of several sequences as one, as motmetrics' OVERALL row makes them: every count
/// summed (identities are per sequence, so IDTP sums too), then the ratios computed from the
/// sums. `None` for no sequence.
pub fn merge(parts: &[MotMetrics]) -> Option<MotMetrics> {
    let (first, rest) = parts.split_first()?;
    let mut m = first.clone();
    for p in rest {
        m.frames += p.frames;
        m.num_objects += p.num_objects;
        m.num_predictions += p.num_predictions;
        m.num_unique_objects += p.num_unique_objects;
        m.num_matches += p.num_matches;
        m.num_switches += p.num_switches;
        m.num_false_positives += p.num_false_positives;
        m.num_misses += p.num_misses;
        m.distance_sum += p.distance_sum;
        m.idtp += p.idtp;
    }
    m.set_ratios();
    Some(m)
}

impl MotMetrics {
    /// MOTA, MOTP and the identity scores from the counts.
    fn set_ratios(&mut self) {
        let m = self;
        m.mota = None;
        m.motp = None;
        if m.num_objects > 0 {
            m.mota = Some(
                1.0 - (m.num_misses + m.num_false_positives + m.num_switches) as f64
                    / m.num_objects as f64,
            );
        }
        if m.num_matches > 0 {
            m.motp = Some(m.distance_sum / m.num_matches as f64);
        }
        m.idfn = m.num_objects - m.idtp;
        m.idfp = m.num_predictions - m.idtp;
        let ratio = |num: u64, den: u64| (den > 0).then(|| num as f64 / den as f64);
        m.idf1 = ratio(2 * m.idtp, m.num_objects + m.num_predictions);
        m.idp = ratio(m.idtp, m.num_predictions);
        m.idr = ratio(m.idtp, m.num_objects);
    }
}

/// IDTP: the largest total of co-occurring frames over one-to-one object/hypothesis id pairs.
fn id_true_positives(
    ocs: &HashMap<u64, u64>,
    hcs: &HashMap<u64, u64>,
    tps: &HashMap<(u64, u64), u64>,
) -> u64 {
    if tps.is_empty() {
        return 0;
    }
    let mut oids: Vec<u64> = ocs.keys().copied().collect();
    let mut hids: Vec<u64> = hcs.keys().copied().collect();
    oids.sort_unstable();
    hids.sort_unstable();
    let transpose = oids.len() > hids.len();
    let (rows, cols) = if transpose {
        (&hids, &oids)
    } else {
        (&oids, &hids)
    };
    let mut data = Vec::with_capacity(rows.len() * cols.len());
    for &r in rows {
        for &c in cols {
            let key = if transpose { (c, r) } else { (r, c) };
            data.push(tps.get(&key).copied().unwrap_or(0) as i64);
        }
    }
    // Matrix::from_vec fails only on a length mismatch, which the loops above rule out.
    let Ok(matrix) = Matrix::from_vec(rows.len(), cols.len(), data) else {
        return 0;
    };
    let (total, _) = kuhn_munkres(&matrix);
    total.max(0) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(frame: u32, id: u64, x: f64) -> IdBox {
        IdBox {
            frame,
            id,
            tlwh: [x, 0.0, 10.0, 10.0],
        }
    }

    #[test]
    fn iou_of_tlwh_boxes() {
        assert_eq!(
            iou_tlwh(&[0.0, 0.0, 10.0, 10.0], &[0.0, 0.0, 10.0, 10.0]),
            1.0
        );
        assert!(
            (iou_tlwh(&[0.0, 0.0, 10.0, 10.0], &[5.0, 0.0, 10.0, 10.0]) - 1.0 / 3.0).abs() < 1e-12
        );
        assert_eq!(iou_tlwh(&[0.0, 0.0, 1.0, 1.0], &[2.0, 0.0, 1.0, 1.0]), 0.0);
    }

    #[test]
    fn perfect_tracking_scores_one() {
        let gt: Vec<IdBox> = (1..=5)
            .flat_map(|f| [b(f, 1, 0.0), b(f, 2, 50.0)])
            .collect();
        let hyp: Vec<IdBox> = gt
            .iter()
            .map(|g| IdBox {
                id: g.id + 10,
                ..*g
            })
            .collect();
        let m = evaluate(&gt, &hyp, 0.5);
        assert_eq!(m.mota, Some(1.0));
        assert_eq!(m.idf1, Some(1.0));
        assert_eq!(m.motp, Some(0.0));
        assert_eq!(
            (m.num_switches, m.num_misses, m.num_false_positives),
            (0, 0, 0)
        );
    }

    #[test]
    fn a_switch_a_miss_and_a_false_positive_are_counted() {
        // Object 1 is tracked by hypothesis 7 for 2 frames, then by 8 (a switch); frame 4 has
        // no hypothesis (a miss) and one far-away box (a false positive).
        let gt: Vec<IdBox> = (1..=4).map(|f| b(f, 1, 0.0)).collect();
        let hyp = vec![b(1, 7, 1.0), b(2, 7, 1.0), b(3, 8, 1.0), b(4, 9, 100.0)];
        let m = evaluate(&gt, &hyp, 0.5);
        assert_eq!(m.num_switches, 1);
        assert_eq!(m.num_misses, 1);
        assert_eq!(m.num_false_positives, 1);
        assert_eq!(m.num_matches, 3);
        assert!((m.mota.unwrap() - (1.0 - 3.0 / 4.0)).abs() < 1e-12);
        // IDTP = 2 (object 1 with hypothesis 7); IDF1 = 4 / (4 + 4).
        assert_eq!(m.idtp, 2);
        assert!((m.idf1.unwrap() - 0.5).abs() < 1e-12);
    }

    #[test]
    fn previous_correspondence_wins_over_a_closer_box() {
        // Frame 2: hypothesis 5 (old partner, IoU 0.67) and 6 (exact) both overlap object 1.
        let gt = vec![b(1, 1, 0.0), b(2, 1, 0.0)];
        let hyp = vec![b(1, 5, 0.0), b(2, 5, 2.0), b(2, 6, 0.0)];
        let m = evaluate(&gt, &hyp, 0.5);
        assert_eq!(m.num_switches, 0);
        assert_eq!(m.num_false_positives, 1);
    }

    #[test]
    fn assignment_maximises_matches_before_cost() {
        // o0 overlaps h0 (IoU ~0.82) and h1 (IoU 1); o1 only overlaps h1. Min cost alone would
        // give o0-h1 and leave o1 unmatched; motmetrics matches both.
        let cost = vec![vec![Some(0.18), Some(0.0)], vec![None, Some(0.3)]];
        let mut pairs = max_card_min_cost(&cost, 2, 2);
        pairs.sort_unstable();
        assert_eq!(pairs, vec![(0, 0), (1, 1)]);
        // More rows than columns.
        let cost = vec![vec![Some(0.1)], vec![Some(0.05)], vec![None]];
        assert_eq!(max_card_min_cost(&cost, 3, 1), vec![(1, 0)]);
    }

    #[test]
    fn empty_inputs_give_no_ratios() {
        let m = evaluate(&[], &[], 0.5);
        assert_eq!((m.mota, m.idf1, m.motp), (None, None, None));
        let m = evaluate(&[], &[b(1, 1, 0.0)], 0.5);
        assert_eq!(m.num_false_positives, 1);
        assert_eq!(m.mota, None);
    }
}
