//! Detection precision, recall and average precision at one IoU threshold (AP50 with
//! `iou_min = 0.5`), PASCAL VOC style (Everingham et al. 2010; the VOC devkit's `VOCevaldet`
//! and its Python port `voc_eval.py`):
//!
//! - detections of all frames sorted by score, highest first (stable, so ties keep file order);
//! - each detection takes the ground-truth box of its frame with the highest IoU; it is a true
//!   positive when that IoU is `>= iou_min` and the box is not taken yet, a false positive
//!   otherwise (a second detection of a taken box is a false positive: duplicates cost);
//! - an *ignored* ground-truth box (MOTChallenge confidence 0, VOC's "difficult") makes the
//!   detection that best matches it neither true nor false positive, and is not counted in
//!   the positives;
//! - AP is the area under the precision envelope (precision made non-increasing from the
//!   right) at every recall step: the "all-point" interpolation of VOC 2010 onwards.

use std::collections::HashMap;

use serde::Serialize;

use super::clear::iou_tlwh;

/// A scored detection box.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ScoredBox {
    pub frame: u32,
    /// `(x, y, w, h)`, pixels.
    pub tlwh: [f64; 4],
    pub score: f64,
}

/// A ground-truth box.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GtBox {
    pub frame: u32,
    pub tlwh: [f64; 4],
    /// Matches nothing and counts for nothing (MOTChallenge confidence 0).
    pub ignore: bool,
}

/// The precision-recall curve of one class and its summary numbers.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct PrCurve {
    /// Ground-truth boxes that count (not ignored).
    pub num_gt: u64,
    /// Detections judged (those matching an ignored box are left out).
    pub num_detections: u64,
    pub true_positives: u64,
    pub false_positives: u64,
    /// Precision and recall after each judged detection, in score order.
    pub precision: Vec<f64>,
    pub recall: Vec<f64>,
    /// Score of each judged detection, the threshold at which that point is reached.
    pub score: Vec<f64>,
    /// All-point interpolated average precision.
    pub ap: f64,
}

impl PrCurve {
    /// Precision with every detection kept (the operating point of the file).
    pub fn final_precision(&self) -> Option<f64> {
        self.precision.last().copied()
    }
    /// Recall with every detection kept.
    pub fn final_recall(&self) -> Option<f64> {
        self.recall.last().copied()
    }
}

/// Detections judged against the ground truth, in score order (highest first, ties in input
/// order): what a precision-recall curve is made of, and what [`pool`] merges across
/// sequences.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Judged {
    /// Ground-truth boxes that count (not ignored).
    pub num_gt: u64,
    /// `(score, true positive)` per judged detection.
    pub detections: Vec<(f64, bool)>,
}

/// Judges each detection (module docs): the score/TP list of one sequence.
pub fn judge(gt: &[GtBox], detections: &[ScoredBox], iou_min: f64) -> Judged {
    let num_gt = gt.iter().filter(|g| !g.ignore).count() as u64;
    let mut by_frame: HashMap<u32, Vec<usize>> = HashMap::new();
    for (i, g) in gt.iter().enumerate() {
        by_frame.entry(g.frame).or_default().push(i);
    }
    let mut order: Vec<usize> = (0..detections.len()).collect();
    order.sort_by(|&a, &b| detections[b].score.total_cmp(&detections[a].score));
    let mut taken = vec![false; gt.len()];
    let mut judged = Judged {
        num_gt,
        detections: Vec::with_capacity(detections.len()),
    };
    for i in order {
        let d = &detections[i];
        let best = by_frame.get(&d.frame).and_then(|idx| {
            idx.iter()
                .map(|&g| (g, iou_tlwh(&d.tlwh, &gt[g].tlwh)))
                .max_by(|a, b| a.1.total_cmp(&b.1))
        });
        let true_positive = match best {
            Some((g, iou)) if iou >= iou_min => {
                if gt[g].ignore {
                    continue;
                }
                !std::mem::replace(&mut taken[g], true)
            }
            _ => false,
        };
        judged.detections.push((d.score, true_positive));
    }
    judged
}

/// The score/TP lists of several sequences as one: the ground-truth counts summed, the lists
/// concatenated in the order given and sorted by score (stable: ties keep sequence order, then
/// their order within the sequence). This is the list one judgement of all sequences together
/// (frames kept apart) makes, so its curve is the same to the bit.
pub fn pool(parts: impl IntoIterator<Item = Judged>) -> Judged {
    let mut pooled = Judged::default();
    for part in parts {
        pooled.num_gt += part.num_gt;
        pooled.detections.extend(part.detections);
    }
    pooled.detections.sort_by(|a, b| b.0.total_cmp(&a.0));
    pooled
}

/// The precision-recall curve of judged detections; `None` when no ground-truth box counts
/// (recall, hence AP, is undefined).
pub fn curve(judged: &Judged) -> Option<PrCurve> {
    let num_gt = judged.num_gt;
    if num_gt == 0 {
        return None;
    }
    let mut curve = PrCurve {
        num_gt,
        ..Default::default()
    };
    for &(score, true_positive) in &judged.detections {
        if true_positive {
            curve.true_positives += 1;
        } else {
            curve.false_positives += 1;
        }
        curve.num_detections += 1;
        let tp = curve.true_positives as f64;
        curve
            .precision
            .push(tp / (curve.true_positives + curve.false_positives) as f64);
        curve.recall.push(tp / num_gt as f64);
        curve.score.push(score);
    }
    curve.ap = all_point_ap(&curve.recall, &curve.precision);
    Some(curve)
}

/// Precision, recall and AP of `detections` against `gt`; `None` when no ground-truth box
/// counts (recall, hence AP, is undefined).
pub fn average_precision(gt: &[GtBox], detections: &[ScoredBox], iou_min: f64) -> Option<PrCurve> {
    curve(&judge(gt, detections, iou_min))
}

/// VOC all-point AP: area under the non-increasing envelope of precision over recall.
fn all_point_ap(recall: &[f64], precision: &[f64]) -> f64 {
    let mut mrec = Vec::with_capacity(recall.len() + 2);
    mrec.push(0.0);
    mrec.extend_from_slice(recall);
    mrec.push(1.0);
    let mut mpre = Vec::with_capacity(precision.len() + 2);
    mpre.push(0.0);
    mpre.extend_from_slice(precision);
    mpre.push(0.0);
    for i in (0..mpre.len() - 1).rev() {
        mpre[i] = mpre[i].max(mpre[i + 1]);
    }
    (1..mrec.len())
        .filter(|&i| mrec[i] != mrec[i - 1])
        .map(|i| (mrec[i] - mrec[i - 1]) * mpre[i])
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn g(frame: u32, x: f64) -> GtBox {
        GtBox {
            frame,
            tlwh: [x, 0.0, 10.0, 10.0],
            ignore: false,
        }
    }
    fn d(frame: u32, x: f64, score: f64) -> ScoredBox {
        ScoredBox {
            frame,
            tlwh: [x, 0.0, 10.0, 10.0],
            score,
        }
    }

    #[test]
    fn perfect_detector_has_ap_one() {
        let gt = vec![g(1, 0.0), g(1, 50.0), g(2, 0.0)];
        let dets = vec![d(1, 0.0, 0.9), d(1, 50.0, 0.8), d(2, 1.0, 0.7)];
        let c = average_precision(&gt, &dets, 0.5).unwrap();
        assert_eq!(c.ap, 1.0);
        assert_eq!(c.final_recall(), Some(1.0));
    }

    #[test]
    fn hand_computed_curve() {
        // Scores: TP 0.9, FP 0.8 (far away), TP 0.7, duplicate of the first (FP) 0.6; 4 gt.
        let gt = vec![g(1, 0.0), g(1, 50.0), g(2, 0.0), g(3, 0.0)];
        let dets = vec![
            d(1, 0.0, 0.9),
            d(1, 200.0, 0.8),
            d(1, 50.0, 0.7),
            d(1, 0.5, 0.6),
        ];
        let c = average_precision(&gt, &dets, 0.5).unwrap();
        assert_eq!(c.recall, vec![0.25, 0.25, 0.5, 0.5]);
        assert_eq!(c.precision, vec![1.0, 0.5, 2.0 / 3.0, 0.5]);
        // Envelope: 1.0 up to recall 0.25, 2/3 up to 0.5, then 0.
        assert!((c.ap - (0.25 * 1.0 + 0.25 * 2.0 / 3.0)).abs() < 1e-12);
        assert_eq!((c.true_positives, c.false_positives), (2, 2));
    }

    #[test]
    fn ignored_boxes_neither_reward_nor_punish() {
        let mut gt = vec![g(1, 0.0), g(1, 50.0)];
        gt[1].ignore = true;
        let dets = vec![d(1, 50.0, 0.9), d(1, 0.0, 0.5)];
        let c = average_precision(&gt, &dets, 0.5).unwrap();
        assert_eq!(c.num_gt, 1);
        assert_eq!(c.num_detections, 1);
        assert_eq!(c.ap, 1.0);
        assert!(average_precision(&gt[1..], &dets, 0.5).is_none());
    }
}
