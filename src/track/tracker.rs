//! The multi-object tracker: ByteTrack association over Kalman-filtered boxes, with every
//! duration measured in seconds of header-stamp time.
//!
//! Input per frame: the frame's stamp and its detections (boxes in image pixels, scores in
//! [0, 1]). Output: one [`TrackOutput`] per reported track. One [`Tracker`] per camera stream;
//! ids are monotonic within it and never reused.
//!
//! Per frame (Zhang et al., *ByteTrack: Multi-Object Tracking by Associating Every Detection
//! Box*, ECCV 2022, Algorithm 1), separately per class unless `class_agnostic`:
//! 1. predict every track to the stamp (lost tracks with their size rates zeroed, as
//!    ByteTrack does, so a coasting box does not shrink to nothing);
//! 2. high-score detections vs confirmed and lost tracks (IoU, optionally score-fused);
//! 3. low-score detections vs the confirmed tracks still unmatched (IoU); confirmed tracks
//!    unmatched after this become lost;
//! 4. remaining high-score detections vs tentative tracks; unmatched tentative tracks are
//!    removed;
//! 5. remaining high-score detections above `new_track_score_min` start tentative tracks;
//! 6. lost tracks whose last update is more than `max_age_s` old are removed (checked before
//!    association too, so a long pause in the stream never revives a stale track).
//!
//! Every assignment is optimal (see [`super::assign`]) and optionally gated by the squared
//! Mahalanobis distance of the detection from the track's predicted measurement.
//!
//! From OC-SORT (Cao et al., *Observation-Centric SORT*, CVPR 2023), each a config option:
//! * momentum (OCM, on by default): step 2's similarity gains a term for the consistency of
//!   the direction to the detection with the track's observed direction of motion, both taken
//!   over a baseline of `oc_momentum_delta_s` seconds of observations;
//! * recovery (OCR, on by default): between steps 3 and 4, confirmed and lost tracks still
//!   unmatched are matched to the remaining high-score detections by IoU with their last
//!   *observed* box (a track whose prediction ran off while the object stopped or turned);
//! * re-update (ORU, off by default): a track matched after missed frames re-runs its filter
//!   from its last observation along boxes interpolated to the new one.
//!
//! Matched detections update the filter with a Huber-robust update
//! ([`super::kalman::update_robust`], `robust_update_chi2`): a box that merges two people or
//! is cut by occlusion drags the track less.
//!
//! Stamps: each update's stamp must be strictly later than the previous one. A duplicate or
//! earlier stamp returns [`TrackError::NonMonotonicStamp`] and leaves the tracker exactly as
//! it was (the caller decides: skip the frame, or start a new tracker); ids are never reset
//! silently. Any error leaves the tracker unchanged: the update is computed first and
//! committed only when nothing failed.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::assign::{assign, Candidate};
use super::config::TrackerConfig;
use super::kalman::{self, Gaussian, MeasurementVector};
use super::TrackError;
use crate::types::{BBox, Detection, Time};

/// Where a track is in its life. Removed tracks are dropped from the tracker, so they never
/// appear in its output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TrackState {
    /// Started by an unmatched high-score detection; removed at its first miss; confirmed
    /// after `min_hits` hits.
    Tentative,
    /// Matched in the latest update.
    Confirmed,
    /// Missed at least once since confirmed; coasting on prediction and still matchable until
    /// `max_age_s` after its last update.
    Lost,
}

/// One track as reported after an update.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrackOutput {
    /// Unique within the tracker (the camera stream), from 1, never reused.
    pub id: u64,
    /// Shared with the track (cloning it per update allocates nothing).
    pub label: Arc<str>,
    pub class_index: usize,
    /// Score of the latest matched detection.
    pub score: f32,
    pub state: TrackState,
    /// Seconds from the track's first detection to this update's stamp.
    pub age_s: f64,
    /// Number of detections matched to this track, including the first.
    pub hits: u32,
    /// Seconds from the latest matched detection to this update's stamp (0 when matched now).
    pub time_since_update_s: f64,
    /// The filtered box (state mean) in image pixels.
    pub bbox: BBox,
    /// Box centre velocity `[vx, vy]` in image pixels per second.
    pub velocity_px_per_s: [f64; 2],
    /// Covariance of `[cx, cy, w, h]` in px², row-major.
    pub bbox_covariance: [[f64; 4]; 4],
}

/// A matched detection as it was observed (not filtered).
#[derive(Debug, Clone, Copy, PartialEq)]
struct Observation {
    stamp_ns: i64,
    z: MeasurementVector,
}

/// How many past observations a track keeps for OC-SORT's momentum term: enough for a
/// `oc_momentum_delta_s` of a few tenths of a second at 30 frames/s.
const OBSERVATION_HISTORY: usize = 16;

/// The latest [`OBSERVATION_HISTORY`] observations of a track, in a fixed ring (no heap).
#[derive(Debug, Clone, Copy)]
struct Observations {
    ring: [Observation; OBSERVATION_HISTORY],
    len: usize,
    /// Index of the newest entry.
    newest: usize,
}

impl Observations {
    fn new(first: Observation) -> Self {
        Self {
            ring: [first; OBSERVATION_HISTORY],
            len: 1,
            newest: 0,
        }
    }

    fn push(&mut self, o: Observation) {
        self.newest = (self.newest + 1) % OBSERVATION_HISTORY;
        self.ring[self.newest] = o;
        self.len = (self.len + 1).min(OBSERVATION_HISTORY);
    }

    /// Newest first.
    fn iter(&self) -> impl Iterator<Item = &Observation> + '_ {
        (0..self.len)
            .map(move |k| &self.ring[(self.newest + OBSERVATION_HISTORY - k) % OBSERVATION_HISTORY])
    }

    fn last(&self) -> &Observation {
        &self.ring[self.newest]
    }

    /// The observation whose stamp is nearest `reference_ns - delta_ns`, among those strictly
    /// before `reference_ns` (ties: the newer one); `None` if there is none.
    fn nearest_before(&self, reference_ns: i64, delta_ns: i64) -> Option<&Observation> {
        let target = reference_ns - delta_ns;
        let mut best: Option<&Observation> = None;
        // Newest first, so stamps decrease: the first one at or before the target ends the
        // search (older ones are further away still).
        for o in self.iter().filter(|o| o.stamp_ns < reference_ns) {
            if o.stamp_ns <= target {
                return match best {
                    Some(b) if b.stamp_ns - target <= target - o.stamp_ns => Some(b),
                    _ => Some(o),
                };
            }
            best = Some(o);
        }
        best
    }

    /// Unit direction of the observed motion (OC-SORT's track "velocity" direction): from the
    /// observation nearest `delta_ns` before the last one, to the last one. `None` with a
    /// single observation or no displacement.
    fn direction(&self, delta_ns: i64) -> Option<[f64; 2]> {
        let last = self.last();
        let from = self.nearest_before(last.stamp_ns, delta_ns)?;
        unit_direction(&from.z, &last.z)
    }
}

/// Unit vector from box centre `a` to box centre `b`; `None` when they coincide.
fn unit_direction(a: &MeasurementVector, b: &MeasurementVector) -> Option<[f64; 2]> {
    let (dx, dy) = (b[0] - a[0], b[1] - a[1]);
    let n = dx.hypot(dy);
    (n > 1e-9).then(|| [dx / n, dy / n])
}

#[derive(Debug, Clone)]
struct Track {
    id: u64,
    class_index: usize,
    label: Arc<str>,
    filter: Gaussian,
    state: TrackState,
    hits: u32,
    score: f32,
    start_ns: i64,
    last_update_ns: i64,
    /// The filter's belief right after the last update (OC-SORT's re-update starts from it).
    filter_at_last_update: Gaussian,
    /// Updates (frames) since the last match; 0 when matched in the latest one.
    missed_updates: u32,
    observations: Observations,
}

/// A ByteTrack-style multi-object tracker for one camera stream.
#[derive(Debug, Clone)]
pub struct Tracker {
    config: TrackerConfig,
    tracks: Vec<Track>,
    next_id: u64,
    last_stamp_ns: Option<i64>,
    /// Per-update buffers kept between updates (no state: cleared before each use), so that a
    /// steady-state update allocates little.
    scratch: Scratch,
}

/// Buffers of [`Tracker::update`], reused across calls.
#[derive(Debug, Clone, Default)]
struct Scratch {
    predicted: Vec<Gaussian>,
    track_boxes: Vec<BBox>,
    det_boxes: Vec<BBox>,
    fate: Vec<Fate>,
    det_used: Vec<bool>,
    new_dets: Vec<usize>,
    keep: Vec<bool>,
    /// Track and detection indices per class (one group when class-agnostic).
    groups: BTreeMap<usize, (Vec<usize>, Vec<usize>)>,
    /// Index lists of one class group's passes.
    high: Vec<usize>,
    low: Vec<usize>,
    active: Vec<usize>,
    tentative: Vec<usize>,
    remaining: Vec<usize>,
    high_left: Vec<usize>,
    unmatched: Vec<usize>,
}

/// What happens to each existing track in this update (computed before anything changes).
#[derive(Debug, Clone, Copy)]
enum Fate {
    Matched { det: usize },
    Missed,
}

fn bbox_of(mean: &kalman::StateVector) -> BBox {
    BBox::from_center(
        mean[0] as f32,
        mean[1] as f32,
        mean[2].max(0.0) as f32,
        mean[3].max(0.0) as f32,
    )
}

fn measurement_of(b: &BBox) -> MeasurementVector {
    let (cx, cy) = b.center();
    MeasurementVector::new(
        f64::from(cx),
        f64::from(cy),
        f64::from(b.width()),
        f64::from(b.height()),
    )
}

/// Candidate pairs between `tracks` (indices into the tracker, with predicted boxes) and
/// `dets` (indices into the frame's detections) with IoU at least `iou_min`, found with a
/// sweep over detections sorted by left edge so that 1000 objects are not 10⁶ IoUs.
struct Pool<'a> {
    boxes: &'a [BBox],
    order: Vec<usize>,
    max_width: f32,
}

/// Below this many detections a linear scan beats sorting.
const POOL_SORT_MIN: usize = 32;

impl<'a> Pool<'a> {
    fn new(boxes: &'a [BBox], members: &[usize]) -> Self {
        let mut order = members.to_vec();
        if order.len() < POOL_SORT_MIN {
            // Unsorted: `near` then scans everything (max_width infinite keeps it correct).
            return Self {
                boxes,
                order,
                max_width: f32::INFINITY,
            };
        }
        order.sort_by(|&a, &b| boxes[a].x_min.total_cmp(&boxes[b].x_min));
        let max_width = members
            .iter()
            .map(|&i| boxes[i].width())
            .fold(0.0f32, f32::max);
        Self {
            boxes,
            order,
            max_width,
        }
    }

    /// Members whose box may overlap `b` (x ranges intersect); all members for a small pool.
    fn near(&self, b: &BBox) -> impl Iterator<Item = usize> + '_ {
        let sorted = self.max_width.is_finite();
        let start = if sorted {
            let lo_x = b.x_min - self.max_width;
            self.order.partition_point(|&i| self.boxes[i].x_min < lo_x)
        } else {
            0
        };
        let hi_x = b.x_max;
        self.order[start..]
            .iter()
            .copied()
            .take_while(move |&i| !sorted || self.boxes[i].x_min <= hi_x)
    }
}

impl Tracker {
    /// A tracker with a validated configuration.
    pub fn new(config: TrackerConfig) -> Result<Self, TrackError> {
        config.validate()?;
        Ok(Self {
            config,
            tracks: Vec::new(),
            next_id: 1,
            last_stamp_ns: None,
            scratch: Scratch::default(),
        })
    }

    pub fn config(&self) -> &TrackerConfig {
        &self.config
    }

    /// Number of live tracks (tentative, confirmed and lost).
    pub fn len(&self) -> usize {
        self.tracks.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tracks.is_empty()
    }

    /// Advance to `stamp` with this frame's detections; returns the reported tracks sorted by
    /// id (see [`TrackerConfig::output_lost_max_s`] for which are reported). On error the tracker
    /// is unchanged.
    pub fn update(
        &mut self,
        stamp: Time,
        dets: &[Detection],
    ) -> Result<Vec<TrackOutput>, TrackError> {
        let stamp_ns = stamp.as_ns();
        if let Some(previous_ns) = self.last_stamp_ns {
            if stamp_ns <= previous_ns {
                return Err(TrackError::NonMonotonicStamp {
                    previous_ns,
                    stamp_ns,
                });
            }
        }
        for (index, d) in dets.iter().enumerate() {
            let b = &d.bbox;
            let finite = [b.x_min, b.x_max, b.y_min, b.y_max, d.score]
                .iter()
                .all(|v| v.is_finite());
            if !finite || b.width() <= 0.0 || b.height() <= 0.0 {
                return Err(TrackError::InvalidDetection {
                    index,
                    reason: format!(
                        "box {:?} with score {} must be finite with positive width and height",
                        b, d.score
                    ),
                });
            }
        }
        let dt_s = self
            .last_stamp_ns
            .map_or(0.0, |p| (stamp_ns - p) as f64 * 1e-9);
        let cfg = &self.config;
        let noise = &cfg.noise;

        // Buffers from earlier updates (taken so that they can be used beside `self`; an
        // update that fails drops them, the next one allocates afresh).
        let Scratch {
            mut predicted,
            mut track_boxes,
            mut det_boxes,
            mut fate,
            mut det_used,
            mut new_dets,
            mut keep,
            mut groups,
            mut high,
            mut low,
            mut active,
            mut tentative,
            mut remaining,
            mut high_left,
            mut unmatched,
        } = std::mem::take(&mut self.scratch);

        // 1. Predict (no mutation yet).
        predicted.clear();
        for t in &self.tracks {
            let mut prior = t.filter;
            if t.state == TrackState::Lost {
                prior.mean[6] = 0.0;
                prior.mean[7] = 0.0;
            }
            let g = kalman::predict(&prior, dt_s, noise).map_err(|source| TrackError::Kalman {
                track_id: t.id,
                source,
            })?;
            predicted.push(g);
        }
        track_boxes.clear();
        track_boxes.extend(predicted.iter().map(|g| bbox_of(&g.mean)));
        det_boxes.clear();
        det_boxes.extend(dets.iter().map(|d| d.bbox));
        // Last observed boxes, for OCR; filled at its first use.
        let mut last_boxes: Vec<BBox> = Vec::new();

        // Group by class (one group when class-agnostic); BTreeMap keeps the order fixed.
        // Entries of classes seen before stay (emptied): an empty group matches nothing.
        for (tracks_g, dets_g) in groups.values_mut() {
            tracks_g.clear();
            dets_g.clear();
        }
        let key = |c: usize| if cfg.class_agnostic { 0 } else { c };
        // A track whose last update is older than max_age_s is removed before it can be
        // associated (after a long pause its prediction means nothing).
        let max_age_ns = (cfg.max_age_s * 1e9).round() as i64;
        for (i, t) in self.tracks.iter().enumerate() {
            if stamp_ns - t.last_update_ns <= max_age_ns {
                groups.entry(key(t.class_index)).or_default().0.push(i);
            }
        }
        for (j, d) in dets.iter().enumerate() {
            groups.entry(key(d.class_index)).or_default().1.push(j);
        }

        fate.clear();
        fate.resize(self.tracks.len(), Fate::Missed);
        det_used.clear();
        det_used.resize(dets.len(), false);
        new_dets.clear();

        let momentum_delta_ns = (cfg.oc_momentum_delta_s * 1e9).round() as i64;
        let momentum_weight = cfg.oc_momentum_weight;
        // OCM's similarities can exceed 1 by weight/2; dividing every one by the same factor
        // keeps them in (0, 1] (what `assign` expects) without changing the optimum.
        let momentum_norm = 1.0 / (1.0 + 0.5 * momentum_weight);

        // Candidate pairs of one pass, gated. `boxes`: the track boxes IoU is taken against.
        let candidates = |tracks: &[usize],
                          pool_dets: &[usize],
                          boxes: &[BBox],
                          iou_min: f32,
                          fuse: bool,
                          momentum: bool|
         -> Result<Vec<Candidate>, TrackError> {
            if tracks.is_empty() || pool_dets.is_empty() {
                return Ok(Vec::new());
            }
            let pool = Pool::new(&det_boxes, pool_dets);
            let mut out = Vec::new();
            for (r, &ti) in tracks.iter().enumerate() {
                let tb = &boxes[ti];
                // OCM: the track's observed direction and the observation the direction to
                // each detection starts from (the latest one when the track has been lost
                // longer than the baseline, as OC-SORT's `k_previous_obs`).
                // Computed at the first candidate only (most tracks have one or two).
                let mut momentum_of: Option<Option<([f64; 2], MeasurementVector)>> = None;
                for dj in pool.near(tb) {
                    let iou = tb.iou(&det_boxes[dj]);
                    if iou < iou_min || iou <= 0.0 {
                        continue;
                    }
                    if cfg.mahalanobis_gate {
                        let z = measurement_of(&det_boxes[dj]);
                        let d2 = kalman::mahalanobis_squared(&predicted[ti], &z, noise).map_err(
                            |source| TrackError::Kalman {
                                track_id: self.tracks[ti].id,
                                source,
                            },
                        )?;
                        if d2 > cfg.mahalanobis_gate_chi2 {
                            continue;
                        }
                    }
                    let score = f64::from(dets[dj].score);
                    let mut similarity = if fuse {
                        f64::from(iou) * score
                    } else {
                        f64::from(iou)
                    };
                    let momentum_of = momentum_of.get_or_insert_with(|| {
                        if !(momentum && momentum_weight > 0.0) {
                            return None;
                        }
                        let obs = &self.tracks[ti].observations;
                        obs.direction(momentum_delta_ns).map(|dir| {
                            let from = obs
                                .nearest_before(stamp_ns, momentum_delta_ns)
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
                                momentum_weight * score * (std::f64::consts::FRAC_PI_2 - angle)
                                    / std::f64::consts::PI;
                        }
                    }
                    if momentum && momentum_weight > 0.0 {
                        similarity *= momentum_norm;
                    }
                    out.push(Candidate {
                        row: r,
                        // Column = the detection index itself; `assign` only needs an upper bound.
                        col: dj,
                        similarity,
                    });
                }
            }
            Ok(out)
        };

        for (tracks_g, dets_g) in groups.values() {
            high.clear();
            high.extend(
                dets_g
                    .iter()
                    .copied()
                    .filter(|&j| dets[j].score >= cfg.track_score_high_min),
            );
            low.clear();
            low.extend(dets_g.iter().copied().filter(|&j| {
                dets[j].score >= cfg.track_score_low_min && dets[j].score < cfg.track_score_high_min
            }));
            active.clear();
            active.extend(
                tracks_g
                    .iter()
                    .copied()
                    .filter(|&i| self.tracks[i].state != TrackState::Tentative),
            );
            tentative.clear();
            tentative.extend(
                tracks_g
                    .iter()
                    .copied()
                    .filter(|&i| self.tracks[i].state == TrackState::Tentative),
            );

            // Pass 1: high-score detections vs confirmed and lost tracks.
            let c1 = candidates(
                &active,
                &high,
                &track_boxes,
                cfg.iou_match_min,
                cfg.fuse_score,
                true,
            )?;
            for (r, j) in assign(active.len(), dets.len(), &c1) {
                fate[active[r]] = Fate::Matched { det: j };
                det_used[j] = true;
            }
            // Pass 2: low-score detections vs confirmed tracks still unmatched.
            remaining.clear();
            remaining.extend(active.iter().copied().filter(|&i| {
                matches!(fate[i], Fate::Missed) && self.tracks[i].state == TrackState::Confirmed
            }));
            let c2 = candidates(
                &remaining,
                &low,
                &track_boxes,
                cfg.iou_match_low_min,
                false,
                false,
            )?;
            for (r, j) in assign(remaining.len(), dets.len(), &c2) {
                fate[remaining[r]] = Fate::Matched { det: j };
                det_used[j] = true;
            }
            high_left.clear();
            high_left.extend(high.iter().copied().filter(|&j| !det_used[j]));
            // OCR: unmatched confirmed and lost tracks, by their last observed box.
            unmatched.clear();
            if cfg.oc_recovery && !high_left.is_empty() {
                unmatched.extend(
                    active
                        .iter()
                        .copied()
                        .filter(|&i| matches!(fate[i], Fate::Missed)),
                );
            }
            if !unmatched.is_empty() {
                if last_boxes.is_empty() {
                    last_boxes = self
                        .tracks
                        .iter()
                        .map(|t| {
                            let z = &t.observations.last().z;
                            BBox::from_center(z[0] as f32, z[1] as f32, z[2] as f32, z[3] as f32)
                        })
                        .collect();
                }
                let c = candidates(
                    &unmatched,
                    &high_left,
                    &last_boxes,
                    cfg.oc_recovery_iou_min,
                    false,
                    false,
                )?;
                for (r, j) in assign(unmatched.len(), dets.len(), &c) {
                    fate[unmatched[r]] = Fate::Matched { det: j };
                    det_used[j] = true;
                }
                high_left.retain(|&j| !det_used[j]);
            }
            // Pass 3: remaining high-score detections vs tentative tracks.
            let c3 = candidates(
                &tentative,
                &high_left,
                &track_boxes,
                cfg.iou_match_tentative_min,
                false,
                false,
            )?;
            for (r, j) in assign(tentative.len(), dets.len(), &c3) {
                fate[tentative[r]] = Fate::Matched { det: j };
                det_used[j] = true;
            }
            // New tracks from what is left.
            new_dets.extend(
                high_left
                    .iter()
                    .copied()
                    .filter(|&j| !det_used[j] && dets[j].score >= cfg.new_track_score_min),
            );
        }

        // Kalman updates of matched tracks (in the predicted beliefs' place) and initial
        // beliefs of new ones (still fallible).
        let filters = &mut predicted;
        for (i, f) in fate.iter().enumerate() {
            if let Fate::Matched { det } = *f {
                let t = &self.tracks[i];
                let z = measurement_of(&det_boxes[det]);
                let updated = if cfg.oc_reupdate && t.missed_updates > 0 {
                    reupdate(t, stamp_ns, &z, noise)
                } else if cfg.robust_update_chi2 > 0.0 {
                    kalman::update_robust(&filters[i], &z, noise, cfg.robust_update_chi2)
                } else {
                    kalman::update(&filters[i], &z, noise)
                };
                filters[i] = updated.map_err(|source| TrackError::Kalman {
                    track_id: t.id,
                    source,
                })?;
            }
        }
        new_dets.sort_unstable();
        let mut born = Vec::with_capacity(new_dets.len());
        for &j in &new_dets {
            let z = measurement_of(&det_boxes[j]);
            let g = kalman::initiate(&z, noise).map_err(|source| TrackError::Kalman {
                track_id: self.next_id + born.len() as u64,
                source,
            })?;
            born.push((j, g));
        }

        // Commit: nothing below can fail.
        let min_hits = cfg.min_hits;
        // In place: a Track is ~700 bytes, moving every one into a new Vec each frame costs
        // more than the filter arithmetic.
        keep.clear();
        keep.resize(self.tracks.len(), true);
        for (i, t) in self.tracks.iter_mut().enumerate() {
            t.filter = filters[i];
            match fate[i] {
                Fate::Matched { det } => {
                    let d = &dets[det];
                    t.hits += 1;
                    t.score = d.score;
                    t.last_update_ns = stamp_ns;
                    t.filter_at_last_update = t.filter;
                    t.missed_updates = 0;
                    t.observations.push(Observation {
                        stamp_ns,
                        z: measurement_of(&d.bbox),
                    });
                    if cfg.class_agnostic {
                        t.class_index = d.class_index;
                        if *t.label != *d.label {
                            t.label = Arc::from(d.label.as_str());
                        }
                    }
                    t.state = match t.state {
                        TrackState::Tentative if t.hits < min_hits => TrackState::Tentative,
                        _ => TrackState::Confirmed,
                    };
                }
                Fate::Missed => {
                    t.missed_updates = t.missed_updates.saturating_add(1);
                    keep[i] = match t.state {
                        TrackState::Tentative => false,
                        TrackState::Confirmed | TrackState::Lost => {
                            t.state = TrackState::Lost;
                            stamp_ns - t.last_update_ns <= max_age_ns
                        }
                    };
                }
            }
        }
        let mut k = keep.iter();
        // `retain` visits elements in order, once each, so `k` stays aligned.
        self.tracks.retain(|_| k.next().copied().unwrap_or(false));
        for (j, g) in born {
            let d = &dets[j];
            self.tracks.push(Track {
                id: self.next_id,
                class_index: d.class_index,
                label: Arc::from(d.label.as_str()),
                filter: g,
                filter_at_last_update: g,
                missed_updates: 0,
                observations: Observations::new(Observation {
                    stamp_ns,
                    z: measurement_of(&d.bbox),
                }),
                state: if min_hits <= 1 {
                    TrackState::Confirmed
                } else {
                    TrackState::Tentative
                },
                hits: 1,
                score: d.score,
                start_ns: stamp_ns,
                last_update_ns: stamp_ns,
            });
            self.next_id += 1;
        }
        self.last_stamp_ns = Some(stamp_ns);
        self.scratch = Scratch {
            predicted,
            track_boxes,
            det_boxes,
            fate,
            det_used,
            new_dets,
            keep,
            groups,
            high,
            low,
            active,
            tentative,
            remaining,
            high_left,
            unmatched,
        };

        let output_lost_max_ns = (cfg.output_lost_max_s * 1e9).round() as i64;
        let out = self
            .tracks
            .iter()
            .filter(|t| match t.state {
                TrackState::Confirmed => true,
                TrackState::Lost => stamp_ns - t.last_update_ns <= output_lost_max_ns,
                TrackState::Tentative => false,
            })
            .map(|t| output_of(t, stamp_ns))
            .collect();
        Ok(out)
    }
}

/// OC-SORT's observation-centric re-update: rewind `t`'s filter to its belief after its last
/// observation and run it through a virtual trajectory to the new measurement `z` at
/// `stamp_ns`: one box per missed update plus the real one, linearly interpolated between the
/// last observation and `z`, at evenly spread stamps over the gap (the missed frames' own
/// stamps are not kept; evenly spread is exact at a constant frame rate).
fn reupdate(
    t: &Track,
    stamp_ns: i64,
    z: &MeasurementVector,
    noise: &kalman::KalmanNoise,
) -> Result<Gaussian, kalman::KalmanError> {
    let from = t.observations.last();
    let steps = t.missed_updates + 1;
    let dt_s = (stamp_ns - from.stamp_ns) as f64 * 1e-9 / f64::from(steps);
    let mut g = t.filter_at_last_update;
    for k in 1..=steps {
        let a = f64::from(k) / f64::from(steps);
        let virtual_z = from.z + (z - from.z) * a;
        g = kalman::predict(&g, dt_s, noise)?;
        g = kalman::update(&g, &virtual_z, noise)?;
    }
    Ok(g)
}

fn output_of(t: &Track, stamp_ns: i64) -> TrackOutput {
    let m = &t.filter.mean;
    let p = &t.filter.covariance;
    let mut cov = [[0.0; 4]; 4];
    for (r, row) in cov.iter_mut().enumerate() {
        for (c, v) in row.iter_mut().enumerate() {
            *v = p[(r, c)];
        }
    }
    TrackOutput {
        id: t.id,
        label: t.label.clone(),
        class_index: t.class_index,
        score: t.score,
        state: t.state,
        age_s: (stamp_ns - t.start_ns) as f64 * 1e-9,
        hits: t.hits,
        time_since_update_s: (stamp_ns - t.last_update_ns) as f64 * 1e-9,
        bbox: bbox_of(m),
        velocity_px_per_s: [m[4], m[5]],
        bbox_covariance: cov,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn det(x: f32, y: f32, score: f32) -> Detection {
        Detection {
            bbox: BBox::from_tlwh(x, y, 40.0, 80.0),
            class_index: 0,
            label: "person".into(),
            score,
        }
    }

    fn at(s: f64) -> Time {
        Time::from_ns((s * 1e9).round() as i64)
    }

    #[test]
    fn observation_ring_keeps_the_newest_and_finds_the_baseline() {
        let obs = |k: i64| Observation {
            stamp_ns: k * 100_000_000,
            z: MeasurementVector::new(10.0 * k as f64, 0.0, 4.0, 8.0),
        };
        let mut ring = Observations::new(obs(0));
        assert_eq!(ring.direction(300_000_000), None);
        for k in 1..=20 {
            ring.push(obs(k));
        }
        // Wrapped around: the newest OBSERVATION_HISTORY, newest first.
        let stamps: Vec<i64> = ring.iter().map(|o| o.stamp_ns / 100_000_000).collect();
        let want: Vec<i64> = (0..OBSERVATION_HISTORY as i64).map(|k| 20 - k).collect();
        assert_eq!(stamps, want);
        // 0.3 s before 2.0 s is the observation at 1.7 s; before 2.1 s (not yet observed), 1.8 s.
        assert_eq!(
            ring.nearest_before(2_000_000_000, 300_000_000),
            Some(&obs(17))
        );
        assert_eq!(
            ring.nearest_before(2_100_000_000, 300_000_000),
            Some(&obs(18))
        );
        // Further back than the history: the oldest kept.
        assert_eq!(
            ring.nearest_before(2_000_000_000, 10_000_000_000),
            Some(&obs(20 - OBSERVATION_HISTORY as i64 + 1))
        );
        let d = ring.direction(300_000_000).unwrap();
        assert!((d[0] - 1.0).abs() < 1e-12 && d[1].abs() < 1e-12, "{d:?}");
    }

    #[test]
    fn confirms_after_min_hits_and_reports_velocity() {
        let mut t = Tracker::new(TrackerConfig::default()).unwrap();
        assert!(t
            .update(at(0.0), &[det(100.0, 100.0, 0.9)])
            .unwrap()
            .is_empty());
        let mut last = Vec::new();
        for k in 1..=20 {
            let s = k as f64 * 0.1;
            last = t
                .update(at(s), &[det(100.0 + 50.0 * s as f32, 100.0, 0.9)])
                .unwrap();
            assert_eq!(last.len(), 1);
            assert_eq!(last[0].id, 1);
        }
        assert!(
            (last[0].velocity_px_per_s[0] - 50.0).abs() < 2.0,
            "{last:?}"
        );
        assert!(last[0].velocity_px_per_s[1].abs() < 2.0);
        assert_eq!(last[0].hits, 21);
        assert!((last[0].age_s - 2.0).abs() < 1e-9);
        assert_eq!(last[0].state, TrackState::Confirmed);
    }

    #[test]
    fn stamps_must_increase_and_errors_leave_state() {
        let mut t = Tracker::new(TrackerConfig::default()).unwrap();
        t.update(at(1.0), &[det(0.0, 0.0, 0.9)]).unwrap();
        let before = format!("{:?}", t);
        assert!(matches!(
            t.update(at(1.0), &[det(0.0, 0.0, 0.9)]),
            Err(TrackError::NonMonotonicStamp { .. })
        ));
        assert!(matches!(
            t.update(at(0.5), &[]),
            Err(TrackError::NonMonotonicStamp { .. })
        ));
        let mut bad = det(0.0, 0.0, 0.9);
        bad.bbox.x_max = f32::NAN;
        assert!(matches!(
            t.update(at(2.0), &[det(0.0, 0.0, 0.9), bad]),
            Err(TrackError::InvalidDetection { index: 1, .. })
        ));
        assert_eq!(format!("{:?}", t), before);
        // And it carries on from where it was.
        let out = t.update(at(1.1), &[det(1.0, 0.0, 0.9)]).unwrap();
        assert_eq!(out[0].id, 1);
    }

    #[test]
    fn low_score_detection_extends_but_never_starts() {
        let mut t = Tracker::new(TrackerConfig::default()).unwrap();
        assert!(t.update(at(0.0), &[det(0.0, 0.0, 0.3)]).unwrap().is_empty());
        assert!(t.is_empty());
        t.update(at(0.1), &[det(0.0, 0.0, 0.9)]).unwrap();
        let out = t.update(at(0.2), &[det(1.0, 0.0, 0.9)]).unwrap();
        assert_eq!(out[0].id, 1);
        let out = t.update(at(0.3), &[det(2.0, 0.0, 0.3)]).unwrap();
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].id, 1);
        assert_eq!(out[0].score, 0.3);
    }

    #[test]
    fn classes_do_not_mix_unless_agnostic() {
        let mut car = det(0.0, 0.0, 0.9);
        car.class_index = 2;
        car.label = "car".into();
        let mut t = Tracker::new(TrackerConfig::default()).unwrap();
        t.update(at(0.0), &[det(0.0, 0.0, 0.9)]).unwrap();
        t.update(at(0.1), &[det(0.0, 0.0, 0.9)]).unwrap();
        let out = t.update(at(0.2), &[car.clone()]).unwrap();
        assert!(
            out.is_empty(),
            "a car detection must not confirm the person track"
        );
        let out = t.update(at(0.3), &[car.clone()]).unwrap();
        assert_eq!(out.len(), 1);
        assert_eq!((out[0].id, &*out[0].label), (2, "car"));

        let cfg = TrackerConfig {
            class_agnostic: true,
            ..TrackerConfig::default()
        };
        let mut t = Tracker::new(cfg).unwrap();
        t.update(at(0.0), &[det(0.0, 0.0, 0.9)]).unwrap();
        t.update(at(0.1), &[det(0.0, 0.0, 0.9)]).unwrap();
        let out = t.update(at(0.2), &[car]).unwrap();
        assert_eq!((out[0].id, &*out[0].label), (1, "car"));
    }

    #[test]
    fn lost_track_expires_after_max_age_seconds() {
        let cfg = TrackerConfig {
            max_age_s: 0.5,
            output_lost_max_s: 10.0,
            ..TrackerConfig::default()
        };
        let mut t = Tracker::new(cfg).unwrap();
        t.update(at(0.0), &[det(0.0, 0.0, 0.9)]).unwrap();
        t.update(at(0.1), &[det(0.0, 0.0, 0.9)]).unwrap();
        let out = t.update(at(0.5), &[]).unwrap();
        assert_eq!(out[0].state, TrackState::Lost);
        assert!((out[0].time_since_update_s - 0.4).abs() < 1e-9);
        assert_eq!(t.update(at(0.6), &[]).unwrap().len(), 1);
        assert!(t.update(at(0.61), &[]).unwrap().is_empty());
        assert!(t.is_empty());
    }

    #[test]
    fn many_objects_use_the_sorted_sweep_and_keep_ids() {
        // 60 boxes (above POOL_SORT_MIN) on a grid, all moving right: one id each, in order.
        let grid = |k: usize, s: f64| {
            let (c, r) = ((k % 10) as f32, (k / 10) as f32);
            det(c * 60.0 + 30.0 * s as f32, r * 100.0, 0.9)
        };
        let mut t = Tracker::new(TrackerConfig::default()).unwrap();
        let mut out = Vec::new();
        for f in 0..10 {
            let s = f as f64 * 0.1;
            let dets: Vec<Detection> = (0..60).map(|k| grid(k, s)).collect();
            out = t.update(at(s), &dets).unwrap();
        }
        assert_eq!(out.len(), 60);
        for (k, o) in out.iter().enumerate() {
            assert_eq!(o.id, k as u64 + 1);
            let (cx, _) = o.bbox.center();
            let (want, _) = grid(k, 0.9).bbox.center();
            assert!(
                (cx - want).abs() < 1.0,
                "track {} at {cx}, object at {want}",
                o.id
            );
        }
    }

    #[test]
    fn output_serialises_with_units_and_covariance() {
        let mut t = Tracker::new(TrackerConfig::default()).unwrap();
        t.update(at(0.0), &[det(100.0, 100.0, 0.9)]).unwrap();
        let out = t.update(at(0.1), &[det(103.0, 100.0, 0.8)]).unwrap();
        let json = serde_json::to_value(&out[0]).unwrap();
        assert_eq!(json["id"], 1);
        assert_eq!(json["state"], "confirmed");
        assert_eq!(json["label"], "person");
        assert_eq!(json["hits"], 2);
        assert!(json["velocity_px_per_s"][0].as_f64().unwrap() > 0.0);
        let cov = &json["bbox_covariance"];
        for r in 0..4 {
            assert!(cov[r][r].as_f64().unwrap() > 0.0);
            for c in 0..4 {
                assert_eq!(cov[r][c], cov[c][r]);
            }
        }
        let back: TrackOutput = serde_json::from_value(json).unwrap();
        assert_eq!(back, out[0]);
    }

    #[test]
    fn a_long_pause_expires_tracks_before_association() {
        // A stationary object, then a 5 s pause (longer than max_age_s) and the same object in
        // the same place: the stale track must not be revived, the object gets a new id.
        let mut t = Tracker::new(TrackerConfig::default()).unwrap();
        t.update(at(0.0), &[det(100.0, 100.0, 0.9)]).unwrap();
        let out = t.update(at(0.1), &[det(100.0, 100.0, 0.9)]).unwrap();
        assert_eq!(out[0].id, 1);
        assert!(t
            .update(at(5.1), &[det(100.0, 100.0, 0.9)])
            .unwrap()
            .is_empty());
        let out = t.update(at(5.2), &[det(100.0, 100.0, 0.9)]).unwrap();
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].id, 2);
        assert_eq!(t.len(), 1);
    }
}
