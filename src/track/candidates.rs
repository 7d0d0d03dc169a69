//! Candidate pairs of one association pass: which (track, detection) pairs may match, and
//! their similarity.
//!
//! Input: the tracks and detections of the pass (indices into the tracker's tracks and the
//! frame's detections), the track boxes IoU is taken against (predicted, or last observed for
//! OC-SORT's recovery), the predicted beliefs (for the Mahalanobis gate), and the pass's
//! [`PassRule`]. Output: the feasible pairs as [`Candidate`]s for [`super::assign::assign`],
//! rows indexing the pass's tracks, columns the frame's detections.
//!
//! A pair is feasible when its IoU is positive and at least the pass's `iou_min`, and (with
//! `mahalanobis_gate`) the detection is inside the track's gate. Its similarity is the IoU,
//! optionally times the detection score (ByteTrack's score fusion), plus, in the first pass,
//! OC-SORT's momentum term (Cao et al., *Observation-Centric SORT*, CVPR 2023, §4.2):
//! `weight · score · (π/2 − θ) / π`, θ the angle between the track's observed direction of
//! motion and the direction from its baseline observation to the detection.
//!
//! Pairs are found with a sweep over detections sorted by left edge, so that 1000 objects are
//! not 10⁶ IoUs. The buffers live in a [`CandidateBuilder`] reused across updates.

use super::assign::Candidate;
use super::config::TrackerConfig;
use super::kalman::{self, MeasurementVector};
use super::observations::unit_direction;
use super::tracker::{measurement_of, Context};
use super::TrackError;
use crate::types::BBox;

/// What one association pass accepts and how it scores.
#[derive(Debug, Clone, Copy)]
pub(super) struct PassRule {
    /// Least IoU of a feasible pair.
    pub(super) iou_min: f32,
    /// Similarity = IoU × detection score (ByteTrack's score fusion) instead of IoU.
    pub(super) fuse_score: bool,
    /// Add OC-SORT's momentum term (when its weight is positive).
    pub(super) momentum: bool,
}

/// One pass: who is matched against whom, and by which rule.
pub(super) struct Pass<'a> {
    /// Indices into [`Context::tracks`]; candidate rows index this list.
    pub(super) tracks: &'a [usize],
    /// Indices into [`Context::dets`]; candidate columns are these indices themselves.
    pub(super) dets: &'a [usize],
    /// Per tracker track (indexed like [`Context::tracks`]): the box IoU is taken against.
    pub(super) track_boxes: &'a [BBox],
    pub(super) rule: PassRule,
}

/// OC-SORT's momentum settings in the units the candidate loop uses, derived once per update.
#[derive(Debug, Clone, Copy)]
pub(super) struct Momentum {
    /// Baseline between the observations that give the directions.
    delta_ns: i64,
    weight: f64,
    /// OCM's similarities can exceed 1 by weight/2; multiplying every one by the same factor
    /// keeps them in (0, 1] (what `assign` expects) without changing the optimum.
    norm: f64,
}

impl Momentum {
    pub(super) fn new(config: &TrackerConfig) -> Self {
        let weight = config.oc_momentum_weight;
        Self {
            delta_ns: super::tracker::ns_from_s(config.oc_momentum_delta_s),
            weight,
            norm: 1.0 / (1.0 + 0.5 * weight),
        }
    }
}

/// Builds the candidates of a pass into buffers kept between passes and updates.
#[derive(Debug, Clone, Default)]
pub(super) struct CandidateBuilder {
    pool: Pool,
    candidates: Vec<Candidate>,
}

impl CandidateBuilder {
    /// The feasible pairs of `pass` (see the module doc), rows in the order of
    /// `pass.tracks`, each row's columns in sweep order.
    pub(super) fn build(
        &mut self,
        ctx: &Context<'_>,
        pass: &Pass<'_>,
    ) -> Result<&[Candidate], TrackError> {
        self.candidates.clear();
        if pass.tracks.is_empty() || pass.dets.is_empty() {
            return Ok(&self.candidates);
        }
        let cfg = ctx.config;
        let det_boxes = ctx.det_boxes;
        let momentum = ctx.momentum;
        let with_momentum = pass.rule.momentum && momentum.weight > 0.0;
        self.pool.fill(det_boxes, pass.dets);
        for (r, &ti) in pass.tracks.iter().enumerate() {
            let tb = &pass.track_boxes[ti];
            // OCM: the track's observed direction and the observation the direction to each
            // detection starts from (the latest one when the track has been lost longer than
            // the baseline, as OC-SORT's `k_previous_obs`).
            // Computed at the first candidate only (most tracks have one or two).
            let mut momentum_of: Option<Option<([f64; 2], MeasurementVector)>> = None;
            for dj in self.pool.near(det_boxes, tb) {
                let iou = tb.iou(&det_boxes[dj]);
                if iou < pass.rule.iou_min || iou <= 0.0 {
                    continue;
                }
                if cfg.mahalanobis_gate {
                    let z = measurement_of(&det_boxes[dj]);
                    let d2 = kalman::mahalanobis_squared(&ctx.predicted[ti], &z, &cfg.noise)
                        .map_err(|source| TrackError::Kalman {
                            track_id: ctx.tracks[ti].id,
                            source,
                        })?;
                    if d2 > cfg.mahalanobis_gate_chi2 {
                        continue;
                    }
                }
                let score = f64::from(ctx.dets[dj].score);
                let mut similarity = if pass.rule.fuse_score {
                    f64::from(iou) * score
                } else {
                    f64::from(iou)
                };
                let momentum_of = momentum_of.get_or_insert_with(|| {
                    if !with_momentum {
                        return None;
                    }
                    let obs = &ctx.tracks[ti].observations;
                    obs.direction(momentum.delta_ns).map(|dir| {
                        let from = obs
                            .nearest_before(ctx.stamp_ns, momentum.delta_ns)
                            .unwrap_or(obs.last());
                        (dir, from.z)
                    })
                });
                if let Some((dir, from)) = momentum_of {
                    let to = measurement_of(&det_boxes[dj]);
                    // A detection exactly on the baseline observation's centre has no
                    // direction: no evidence either way.
                    if let Some(d) = unit_direction(from, &to) {
                        let cos = (dir[0] * d[0] + dir[1] * d[1]).clamp(-1.0, 1.0);
                        let angle = cos.acos();
                        similarity +=
                            momentum.weight * score * (std::f64::consts::FRAC_PI_2 - angle)
                                / std::f64::consts::PI;
                    }
                }
                if with_momentum {
                    similarity *= momentum.norm;
                }
                self.candidates.push(Candidate {
                    row: r,
                    // Column = the detection index itself; `assign` only needs an upper bound.
                    col: dj,
                    similarity,
                });
            }
        }
        Ok(&self.candidates)
    }
}

/// Below this many detections a linear scan beats sorting.
const POOL_SORT_MIN: usize = 32;

/// The detections of a pass, sorted by left edge (when there are many) so that the ones that
/// may overlap a track box are found by a binary search and a short scan.
#[derive(Debug, Clone, Default)]
struct Pool {
    /// Indices into the detection boxes.
    order: Vec<usize>,
    /// Widest member box; infinite when `order` is unsorted (then `near` scans everything).
    max_width: f32,
}

impl Pool {
    fn fill(&mut self, boxes: &[BBox], members: &[usize]) {
        self.order.clear();
        self.order.extend_from_slice(members);
        if self.order.len() < POOL_SORT_MIN {
            // Unsorted: `near` then scans everything (max_width infinite keeps it correct).
            self.max_width = f32::INFINITY;
            return;
        }
        self.order
            .sort_by(|&a, &b| boxes[a].x_min.total_cmp(&boxes[b].x_min));
        self.max_width = members
            .iter()
            .map(|&i| boxes[i].width())
            .fold(0.0f32, f32::max);
    }

    /// Members whose box may overlap `b` (x ranges intersect); all members for a small pool.
    /// `boxes` must be the ones the pool was filled from.
    fn near<'a>(&'a self, boxes: &'a [BBox], b: &BBox) -> impl Iterator<Item = usize> + 'a {
        let sorted = self.max_width.is_finite();
        let start = if sorted {
            let lo_x = b.x_min - self.max_width;
            self.order.partition_point(|&i| boxes[i].x_min < lo_x)
        } else {
            0
        };
        let hi_x = b.x_max;
        self.order[start..]
            .iter()
            .copied()
            .take_while(move |&i| !sorted || boxes[i].x_min <= hi_x)
    }
}
