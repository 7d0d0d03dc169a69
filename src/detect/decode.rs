//! Decoding YOLO head outputs into scored boxes in model (letterboxed input) pixels.
//!
//! Darknet/OpenCV semantics (darknet `get_yolo_box`, `get_yolo_detections`; OpenCV
//! `RegionLayer`): for anchor `a` at grid cell `(col, row)` of a `grid_w x grid_h` head,
//!
//! * `cx = (col + sigmoid(tx) * s - (s - 1) / 2) / grid_w * input_w` (s = `scale_x_y`), same for y,
//! * `w = exp(tw) * anchor_w`, `h = exp(th) * anchor_h` (anchors in input pixels),
//! * `score(class) = sigmoid(obj) * sigmoid(class logit)`, kept when `> confidence_min`.
//!
//! Which classes a box yields is the caller's policy ([`ClassPolicy`]): by default one, the
//! class with the highest score (YOLOX's and Autoware's argmax), so that one object gives one
//! box and a parked van is not reported as both `car` and `truck`; optionally, as darknet and
//! OpenCV do, one candidate per class above the threshold (multi-label). Class-aware NMS then
//! runs per class.

use crate::types::BBox;

/// One scored box before NMS, in model pixels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Candidate {
    pub bbox_model: BBox,
    pub class_index: usize,
    pub score: f32,
}

/// How many classes one predicted box may yield.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ClassPolicy {
    /// The class with the largest class logit (the lowest index on a tie), if its score
    /// `objectness * p(class)` is above the threshold: one object, one box.
    #[default]
    Argmax,
    /// Every class whose score is above the threshold (darknet's and OpenCV's output).
    MultiLabel,
}

/// What decoding needs to know about one head besides its numbers.
#[derive(Debug, Clone, PartialEq)]
pub struct HeadGeometry {
    pub grid_w: usize,
    pub grid_h: usize,
    /// `(w, h)` per anchor in input pixels.
    pub anchors: Vec<(f32, f32)>,
    pub classes: usize,
    pub scale_x_y: f32,
    /// Network input width and height in pixels.
    pub input_w_px: usize,
    pub input_h_px: usize,
}

#[inline]
fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

/// Appends the candidates of one image's head output to `out`.
///
/// `data` is the head for one image, `A * (5 + classes) x grid_h x grid_w` row-major (the
/// layout of [`crate::darknet::YoloHead::output`] for one batch item). Returns the number of
/// values expected when `data` has the wrong length, as an error.
pub fn decode_head(
    data: &[f32],
    geometry: &HeadGeometry,
    confidence_min: f32,
    policy: ClassPolicy,
    out: &mut Vec<Candidate>,
) -> Result<(), usize> {
    let g = geometry;
    let entries = 5 + g.classes;
    let plane = g.grid_w * g.grid_h;
    let expected = g.anchors.len() * entries * plane;
    if data.len() != expected {
        return Err(expected);
    }
    let s = g.scale_x_y;
    let cell_w = g.input_w_px as f32 / g.grid_w as f32;
    let cell_h = g.input_h_px as f32 / g.grid_h as f32;
    for (a, &(anchor_w, anchor_h)) in g.anchors.iter().enumerate() {
        let base = a * entries * plane;
        let at = |entry: usize, loc: usize| data[base + entry * plane + loc];
        for row in 0..g.grid_h {
            for col in 0..g.grid_w {
                let loc = row * g.grid_w + col;
                let objectness = sigmoid(at(4, loc));
                // score = obj * p(class) <= obj, so no class can pass when obj does not
                if objectness <= confidence_min {
                    continue;
                }
                let classes = match policy {
                    ClassPolicy::MultiLabel => 0..g.classes,
                    ClassPolicy::Argmax => {
                        // The logit decides (sigmoid is monotonic): the same winner as the
                        // scores without computing every sigmoid; the first maximum wins.
                        let mut best = 0;
                        for c in 1..g.classes {
                            if at(5 + c, loc) > at(5 + best, loc) {
                                best = c;
                            }
                        }
                        best..(best + 1).min(g.classes)
                    }
                };
                let mut bbox: Option<BBox> = None;
                for class_index in classes {
                    let score = objectness * sigmoid(at(5 + class_index, loc));
                    if score <= confidence_min {
                        continue;
                    }
                    let bbox_model = *bbox.get_or_insert_with(|| {
                        let sx = sigmoid(at(0, loc)) * s - 0.5 * (s - 1.0);
                        let sy = sigmoid(at(1, loc)) * s - 0.5 * (s - 1.0);
                        let cx = (col as f32 + sx) * cell_w;
                        let cy = (row as f32 + sy) * cell_h;
                        let w = at(2, loc).exp() * anchor_w;
                        let h = at(3, loc).exp() * anchor_h;
                        BBox::from_center(cx, cy, w, h)
                    });
                    out.push(Candidate {
                        bbox_model,
                        class_index,
                        score,
                    });
                }
            }
        }
    }
    Ok(())
}

/// Appends the candidates of one image's YOLOX head (one stride) to `out`.
///
/// `data` is `(5 + classes) x grid_h x grid_w` row-major ([`crate::yolox::YoloxHead::output`]
/// for one batch item): raw `x, y, w, h`, then objectness and class probabilities with the
/// sigmoid already applied. YOLOX's `decode_outputs`: `cx = (x + col) * stride`,
/// `cy = (y + row) * stride`, `w = exp(w) * stride`, `h = exp(h) * stride`; a class scores
/// `obj * p(class)` and is kept when above `confidence_min`, under `policy` (YOLOX's own
/// post-processing is [`ClassPolicy::Argmax`]). Returns the expected length on a mismatch.
#[allow(clippy::too_many_arguments)]
pub fn decode_yolox_head(
    data: &[f32],
    grid_w: usize,
    grid_h: usize,
    stride_px: usize,
    classes: usize,
    confidence_min: f32,
    policy: ClassPolicy,
    out: &mut Vec<Candidate>,
) -> Result<(), usize> {
    let plane = grid_w * grid_h;
    let expected = (5 + classes) * plane;
    if data.len() != expected || classes == 0 {
        return Err(expected);
    }
    let stride = stride_px as f32;
    let at = |entry: usize, loc: usize| data[entry * plane + loc];
    for row in 0..grid_h {
        for col in 0..grid_w {
            let loc = row * grid_w + col;
            let objectness = at(4, loc);
            if objectness <= confidence_min {
                continue;
            }
            let classes = match policy {
                ClassPolicy::MultiLabel => 0..classes,
                ClassPolicy::Argmax => {
                    let mut best = 0;
                    for c in 1..classes {
                        if at(5 + c, loc) > at(5 + best, loc) {
                            best = c;
                        }
                    }
                    best..best + 1
                }
            };
            let mut bbox: Option<BBox> = None;
            for class_index in classes {
                let score = objectness * at(5 + class_index, loc);
                if score <= confidence_min {
                    continue;
                }
                let bbox_model = *bbox.get_or_insert_with(|| {
                    let cx = (at(0, loc) + col as f32) * stride;
                    let cy = (at(1, loc) + row as f32) * stride;
                    let w = at(2, loc).exp() * stride;
                    let h = at(3, loc).exp() * stride;
                    BBox::from_center(cx, cy, w, h)
                });
                out.push(Candidate {
                    bbox_model,
                    class_index,
                    score,
                });
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn logit(p: f32) -> f32 {
        (p / (1.0 - p)).ln()
    }

    /// A 2x2 grid, 2 anchors, 3 classes, every logit very negative except the ones set.
    fn head() -> (Vec<f32>, HeadGeometry) {
        let g = HeadGeometry {
            grid_w: 2,
            grid_h: 2,
            anchors: vec![(10.0, 20.0), (30.0, 40.0)],
            classes: 3,
            scale_x_y: 1.1,
            input_w_px: 64,
            input_h_px: 64,
        };
        let mut data = vec![-20.0f32; 2 * 8 * 4];
        // anchor 1, cell (col 1, row 0): loc 1
        let base = 8 * 4;
        let set = |data: &mut Vec<f32>, entry: usize, v: f32| data[base + entry * 4 + 1] = v;
        set(&mut data, 0, 0.0); // sigmoid 0.5
        set(&mut data, 1, logit(0.25));
        set(&mut data, 2, 0.0); // exp 1
        set(&mut data, 3, 2f32.ln()); // exp 2
        set(&mut data, 4, logit(0.9));
        set(&mut data, 5 + 2, logit(0.5)); // class 2: 0.45
        set(&mut data, 5, logit(0.3)); // class 0: 0.27
        (data, g)
    }

    #[test]
    fn decodes_a_hand_made_head() {
        let (data, g) = head();
        let mut out = Vec::new();
        decode_head(&data, &g, 0.25, ClassPolicy::MultiLabel, &mut out).unwrap();
        assert_eq!(out.len(), 2);
        let by_class = |c: usize| out.iter().find(|d| d.class_index == c).unwrap();
        let c2 = by_class(2);
        assert!((c2.score - 0.45).abs() < 1e-5);
        assert!((by_class(0).score - 0.27).abs() < 1e-5);
        // cx = (1 + 0.5 * 1.1 - 0.05) * 32 = 48; cy = (0 + 0.25 * 1.1 - 0.05) * 32 = 7.2
        let (cx, cy) = c2.bbox_model.center();
        assert!((cx - 48.0).abs() < 1e-4, "{cx}");
        assert!((cy - 7.2).abs() < 1e-4, "{cy}");
        assert!((c2.bbox_model.width() - 30.0).abs() < 1e-4);
        assert!((c2.bbox_model.height() - 80.0).abs() < 1e-4);

        // a higher threshold drops class 0, and everything at 0.45 (strictly greater kept)
        out.clear();
        decode_head(&data, &g, 0.3, ClassPolicy::MultiLabel, &mut out).unwrap();
        assert_eq!(out.len(), 1);
        out.clear();
        decode_head(&data, &g, 0.46, ClassPolicy::MultiLabel, &mut out).unwrap();
        assert!(out.is_empty());
    }

    #[test]
    fn argmax_keeps_one_class_per_box() {
        let (data, g) = head();
        let mut out = Vec::new();
        decode_head(&data, &g, 0.25, ClassPolicy::Argmax, &mut out).unwrap();
        // class 2 (0.45) beats class 0 (0.27): one candidate, the same box as multi-label's
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].class_index, 2);
        assert!((out[0].score - 0.45).abs() < 1e-5);
        let mut multi = Vec::new();
        decode_head(&data, &g, 0.25, ClassPolicy::MultiLabel, &mut multi).unwrap();
        let same = multi.iter().find(|c| c.class_index == 2).unwrap();
        assert_eq!(same, &out[0]);
        // the best class below the threshold: nothing, even though objectness passes
        out.clear();
        decode_head(&data, &g, 0.46, ClassPolicy::Argmax, &mut out).unwrap();
        assert!(out.is_empty());
    }

    #[test]
    fn decodes_a_hand_made_yolox_head() {
        // 2 classes, a 2 x 3 grid (h x w), stride 16; everything zero except cell (row 1, col 2)
        let plane = 6;
        let mut data = vec![0f32; 7 * plane];
        let loc = 3 + 2;
        let set = |d: &mut Vec<f32>, e: usize, v: f32| d[e * plane + loc] = v;
        set(&mut data, 0, 0.25);
        set(&mut data, 1, -0.5);
        set(&mut data, 2, 0.0);
        set(&mut data, 3, 2f32.ln());
        set(&mut data, 4, 0.8);
        set(&mut data, 5, 0.5); // class 0: 0.4
        set(&mut data, 6, 0.75); // class 1: 0.6
        let mut out = Vec::new();
        decode_yolox_head(&data, 3, 2, 16, 2, 0.3, ClassPolicy::Argmax, &mut out).unwrap();
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].class_index, 1);
        assert!((out[0].score - 0.6).abs() < 1e-6);
        // cx = (0.25 + 2) * 16 = 36, cy = (-0.5 + 1) * 16 = 8, w = 16, h = 32
        let (cx, cy) = out[0].bbox_model.center();
        assert!((cx - 36.0).abs() < 1e-4 && (cy - 8.0).abs() < 1e-4);
        assert!((out[0].bbox_model.width() - 16.0).abs() < 1e-4);
        assert!((out[0].bbox_model.height() - 32.0).abs() < 1e-4);
        out.clear();
        decode_yolox_head(&data, 3, 2, 16, 2, 0.3, ClassPolicy::MultiLabel, &mut out).unwrap();
        assert_eq!(out.len(), 2);
        out.clear();
        decode_yolox_head(&data, 3, 2, 16, 2, 0.6, ClassPolicy::MultiLabel, &mut out).unwrap();
        assert!(out.is_empty());
        assert_eq!(
            decode_yolox_head(&data[1..], 3, 2, 16, 2, 0.3, ClassPolicy::Argmax, &mut out),
            Err(42)
        );
    }

    #[test]
    fn wrong_length_is_an_error() {
        let (mut data, g) = head();
        data.pop();
        assert_eq!(
            decode_head(&data, &g, 0.25, ClassPolicy::Argmax, &mut Vec::new()),
            Err(64)
        );
    }
}
