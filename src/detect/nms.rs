//! Class-aware greedy non-maximum suppression (darknet `do_nms_sort`, OpenCV `NMSBoxes` run
//! per class): candidates sorted by score, a candidate is dropped when its IoU with an already
//! kept candidate of the same class is `> iou_max`.
//!
//! The order is total and deterministic: score descending, then class, then box corners, so
//! equal inputs give equal outputs whatever the input order.

use std::cmp::Ordering;

use super::decode::Candidate;

/// The largest `top_k` a detector accepts ([`super::DetectorConfig::top_k`]): most candidates
/// NMS considers per image. It bounds the quadratic NMS on the CPU, and the GPU path's
/// candidate buffer is sized to hold this many (`cuda::layout` asserts it at compile time),
/// so both paths accept the same configurations.
pub const TOP_K_MAX: usize = 8192;

/// The deterministic output order: score descending, then class index, then corners.
pub fn candidate_order(a: &Candidate, b: &Candidate) -> Ordering {
    b.score
        .total_cmp(&a.score)
        .then(a.class_index.cmp(&b.class_index))
        .then(a.bbox_model.x_min.total_cmp(&b.bbox_model.x_min))
        .then(a.bbox_model.y_min.total_cmp(&b.bbox_model.y_min))
        .then(a.bbox_model.x_max.total_cmp(&b.bbox_model.x_max))
        .then(a.bbox_model.y_max.total_cmp(&b.bbox_model.y_max))
}

/// Keeps the best candidate of each overlapping same-class group; output sorted by
/// [`candidate_order`].
pub fn nms(candidates: Vec<Candidate>, iou_max: f32) -> Vec<Candidate> {
    nms_limited(candidates, iou_max, usize::MAX, usize::MAX)
}

/// [`nms`] over only the `top_k` best candidates, keeping at most `max_out` (the detector's
/// limits; the GPU's `lookout_sort_nms` does exactly this).
pub fn nms_limited(
    mut candidates: Vec<Candidate>,
    iou_max: f32,
    top_k: usize,
    max_out: usize,
) -> Vec<Candidate> {
    candidates.sort_by(candidate_order);
    candidates.truncate(top_k);
    let mut kept: Vec<Candidate> = Vec::with_capacity(candidates.len().min(max_out));
    for c in candidates {
        if kept.len() >= max_out {
            break;
        }
        let suppressed = kept
            .iter()
            .any(|k| k.class_index == c.class_index && k.bbox_model.iou(&c.bbox_model) > iou_max);
        if !suppressed {
            kept.push(c);
        }
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::BBox;
    use proptest::prelude::*;

    fn cand(x: f32, y: f32, w: f32, h: f32, class_index: usize, score: f32) -> Candidate {
        Candidate {
            bbox_model: BBox::from_tlwh(x, y, w, h),
            class_index,
            score,
        }
    }

    #[test]
    fn suppresses_within_class_only() {
        let out = nms(
            vec![
                cand(0.0, 0.0, 10.0, 10.0, 0, 0.8),
                cand(1.0, 0.0, 10.0, 10.0, 0, 0.9),
                cand(1.0, 0.0, 10.0, 10.0, 1, 0.7),
                cand(50.0, 0.0, 10.0, 10.0, 0, 0.6),
            ],
            0.45,
        );
        let got: Vec<(usize, f32)> = out.iter().map(|c| (c.class_index, c.score)).collect();
        assert_eq!(got, vec![(0, 0.9), (1, 0.7), (0, 0.6)]);
    }

    #[test]
    fn limits_cut_candidates_before_and_detections_after_nms() {
        let cands = vec![
            cand(0.0, 0.0, 10.0, 10.0, 0, 0.9),
            cand(1.0, 0.0, 10.0, 10.0, 0, 0.8), // suppressed by the first
            cand(50.0, 0.0, 10.0, 10.0, 0, 0.7),
            cand(100.0, 0.0, 10.0, 10.0, 1, 0.6),
        ];
        let scores = |v: Vec<Candidate>| v.iter().map(|c| c.score).collect::<Vec<_>>();
        assert_eq!(scores(nms(cands.clone(), 0.45)), vec![0.9, 0.7, 0.6]);
        // top_k 2: only the two best enter NMS, and one of them is suppressed
        assert_eq!(scores(nms_limited(cands.clone(), 0.45, 2, 10)), vec![0.9]);
        // max_out 2: the two best survivors
        assert_eq!(scores(nms_limited(cands, 0.45, 10, 2)), vec![0.9, 0.7]);
    }

    #[test]
    fn iou_equal_to_threshold_is_kept() {
        // nested boxes: IoU exactly 50 / 100
        let a = cand(0.0, 0.0, 10.0, 10.0, 0, 0.9);
        let b = cand(0.0, 0.0, 10.0, 5.0, 0, 0.8);
        assert_eq!(a.bbox_model.iou(&b.bbox_model), 0.5);
        assert_eq!(nms(vec![a, b], 0.5).len(), 2);
        assert_eq!(nms(vec![a, b], 0.49).len(), 1);
    }

    fn arb_candidate() -> impl Strategy<Value = Candidate> {
        (
            0f32..100.0,
            0f32..100.0,
            1f32..40.0,
            1f32..40.0,
            0usize..3,
            0f32..1.0,
        )
            .prop_map(|(x, y, w, h, c, s)| cand(x, y, w, h, c, s))
    }

    proptest! {
        #[test]
        fn nms_invariants(cands in prop::collection::vec(arb_candidate(), 0..40), iou_max in 0.1f32..0.9) {
            let out = nms(cands.clone(), iou_max);
            // a subset of the input
            for k in &out {
                prop_assert!(cands.contains(k));
            }
            // no kept same-class pair above the threshold
            for (i, a) in out.iter().enumerate() {
                for b in &out[i + 1..] {
                    if a.class_index == b.class_index {
                        prop_assert!(a.bbox_model.iou(&b.bbox_model) <= iou_max);
                    }
                }
            }
            // sorted, and independent of the input order
            for w in out.windows(2) {
                prop_assert!(candidate_order(&w[0], &w[1]) != Ordering::Greater);
            }
            let mut reversed = cands.clone();
            reversed.reverse();
            prop_assert_eq!(nms(reversed, iou_max), out.clone());
            // the best candidate of each class always survives
            for class in 0..3 {
                if let Some(best) = cands.iter().filter(|c| c.class_index == class)
                    .max_by(|a, b| candidate_order(b, a)) {
                    prop_assert!(out.contains(best));
                }
            }
        }
    }
}
