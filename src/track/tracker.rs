//! The multi-object tracker: ByteTrack association over Kalman-filtered boxes, with every
//! duration measured in seconds of header-stamp time.
//!
//! Input per frame: the frame's stamp and its detections (boxes in image pixels, scores in
//! [0, 1]). Output: one [`TrackOutput`] per reported track. One [`Tracker`] per camera stream;
//! ids are monotonic within it and never reused.
//!
//! Per frame (Zhang et al., *ByteTrack: Multi-Object Tracking by Associating Every Detection
//! Box*, ECCV 2022, Algorithm 1), separately per class unless `class_agnostic`, where the
//! classes of one of `class_groups` (by default car, truck and bus, which a detector confuses
//! for the same vehicle) associate as one class:
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
//! it was (the caller decides: skip the frame, or [`Tracker::restart`]; the engine's policy is
//! in [`crate::engine`]); ids are never reset silently, and not by a restart either. Any error leaves the tracker unchanged: the update is computed first and
//! committed only when nothing failed.
//!
//! Code: [`Tracker::update`] checks its inputs, then runs the steps above as methods over one
//! `Scratch` of buffers reused across updates: `predict`, `group` (by class), per group the
//! passes of `Matching` (`pass` for steps 2 to 4, `recover` for OCR) and the births,
//! `update_filters`, `initiate`, then `commit` (the only step that changes the tracker) and
//! `report`. The candidate pairs of a pass are built in `candidates`; a track's
//! observed boxes live in `observations`.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::assign::assign;
use super::box_motion;
use super::candidates::{self, CandidateBuilder, Momentum, PassRule};
use super::config::TrackerConfig;
use super::kalman::{self, Gaussian, KalmanNoise, MeasurementVector};
use super::observations::{Observation, Observations};
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
    /// The detection box matched in this update (`None` when coasting): the raw measurement,
    /// for a second filter that must not see the first one's smoothing (the ground tracker,
    /// [`crate::ground`]). Not in the JSON track state.
    #[serde(skip)]
    pub observed_bbox: Option<BBox>,
}

/// One live track: its filter, place in the life cycle, and observations.
#[derive(Debug, Clone)]
pub(super) struct Track {
    pub(super) id: u64,
    class_index: usize,
    label: Arc<str>,
    pub(super) filter: Gaussian,
    state: TrackState,
    hits: u32,
    /// Summed detection score per class matched to this track, in first-seen order; the
    /// track's class is the heaviest (a class group lets one track see several classes).
    class_votes: Vec<(usize, Arc<str>, f32)>,
    score: f32,
    /// The detection scores of the track's matches, smoothed in time
    /// ([`TrackerConfig::track_score_time_s`]).
    track_score: f32,
    /// Whether one of its detections scored at least [`TrackerConfig::confirm_score_min`].
    confident: bool,
    start_ns: i64,
    last_update_ns: i64,
    /// The filter's belief right after the last update (OC-SORT's re-update starts from it).
    pub(super) filter_at_last_update: Gaussian,
    /// Updates (frames) since the last match; 0 when matched in the latest one.
    missed_updates: u32,
    pub(super) observations: Observations,
}

/// A ByteTrack-style multi-object tracker for one camera stream.
#[derive(Debug, Clone)]
pub struct Tracker {
    config: TrackerConfig,
    pub(super) tracks: Vec<Track>,
    next_id: u64,
    last_stamp_ns: Option<i64>,
    /// The adaptive process-noise gain's logarithm (see [`TrackerConfig::noise_gain_max`]):
    /// 0 until innovations say the scene moves more than the configured noise allows.
    log_noise_gain: f64,
    /// `config.class_groups` parsed: label -> group index.
    class_group_index: BTreeMap<String, usize>,
    /// Per-update buffers kept between updates (no state: cleared before each use), so that a
    /// steady-state update allocates little.
    scratch: Scratch,
}

/// The values of one update that the association passes read; nothing here changes until
/// the update commits.
pub(super) struct Context<'a> {
    /// The tracker's tracks as they were before this update.
    pub(super) tracks: &'a [Track],
    /// Each track's belief predicted to `stamp_ns`, indexed like `tracks`.
    pub(super) predicted: &'a [Gaussian],
    /// The predicted boxes (means of `predicted`), indexed like `tracks`.
    pub(super) track_boxes: &'a [BBox],
    pub(super) dets: &'a [Detection],
    /// The boxes of `dets`, contiguous (the candidate sweep reads them many times).
    pub(super) det_boxes: &'a [BBox],
    pub(super) config: &'a TrackerConfig,
    pub(super) momentum: Momentum,
    pub(super) stamp_ns: i64,
}

/// Buffers of [`Tracker::update`], reused across calls. Each step clears what it writes
/// before writing it, so nothing here is state; the steps, in order, are its methods and
/// [`Matching`]'s.
#[derive(Debug, Clone, Default)]
struct Scratch {
    /// Per track: its belief at this update's stamp. Predicted by [`Scratch::predict`], then
    /// replaced by the updated belief of matched tracks in [`Scratch::update_filters`].
    beliefs: Vec<Gaussian>,
    /// Per track: the predicted box.
    track_boxes: Vec<BBox>,
    /// Per detection: its box.
    det_boxes: Vec<BBox>,
    /// Track and detection indices per class (one group when class-agnostic).
    groups: BTreeMap<usize, (Vec<usize>, Vec<usize>)>,
    /// The association passes' results and buffers.
    matching: Matching,
    /// Detection index and initial belief of each track started by this update.
    born: Vec<(usize, Gaussian)>,
    /// Per track: still alive after this update.
    keep: Vec<bool>,
    /// Box motion's buffers: one class group's eligible predicted and detected boxes, their
    /// mutual-nearest pairs (indices), and all groups' pairs.
    motion_predicted: Vec<MeasurementVector>,
    /// Per entry of `motion_predicted`: its position variance (px², mean of x and y).
    motion_position_var: Vec<f64>,
    motion_detected: Vec<MeasurementVector>,
    motion_index: Vec<(usize, usize)>,
    motion_nearest: box_motion::NearestScratch,
    motion_pairs: Vec<box_motion::BoxPair>,
    /// Normalised innovations squared of this update's matched confirmed tracks.
    nis: Vec<f64>,
}

/// What happens to each existing track in this update (computed before anything changes).
#[derive(Debug, Clone, Copy)]
enum Fate {
    Matched { det: usize },
    Missed,
}

/// The association passes of one class group, in the order they run (see the module doc).
#[derive(Debug, Clone, Copy)]
enum PassKind {
    /// Step 2: high-score detections vs confirmed and lost tracks.
    High,
    /// Step 3: low-score detections vs confirmed tracks still unmatched.
    Low,
    /// OC-SORT's recovery: unmatched confirmed and lost tracks, by last observed box, vs the
    /// remaining high-score detections.
    Recovery,
    /// Step 4: remaining high-score detections vs tentative tracks.
    Tentative,
}

/// The outcome of association (per track and per detection, over all class groups) and the
/// index lists of the group being associated.
#[derive(Debug, Clone, Default)]
struct Matching {
    /// Per track.
    fate: Vec<Fate>,
    /// Per detection: matched to a track.
    det_used: Vec<bool>,
    /// High-score detections left unmatched that start new tracks.
    new_dets: Vec<usize>,
    /// Per track: its last observed box, for OCR; filled at its first use in an update.
    last_boxes: Vec<BBox>,
    /// The current group's detections by score band and tracks by state.
    high: Vec<usize>,
    low: Vec<usize>,
    /// Confirmed and lost tracks.
    active: Vec<usize>,
    tentative: Vec<usize>,
    /// Confirmed tracks unmatched after the high pass.
    remaining: Vec<usize>,
    /// High-score detections not matched yet.
    high_left: Vec<usize>,
    /// Active tracks unmatched after the low pass (OCR's rows).
    unmatched: Vec<usize>,
    candidates: CandidateBuilder,
}

fn bbox_of(mean: &kalman::StateVector) -> BBox {
    BBox::from_center(
        mean[0] as f32,
        mean[1] as f32,
        mean[2].max(0.0) as f32,
        mean[3].max(0.0) as f32,
    )
}

pub(super) fn measurement_of(b: &BBox) -> MeasurementVector {
    let (cx, cy) = b.center();
    MeasurementVector::new(
        f64::from(cx),
        f64::from(cy),
        f64::from(b.width()),
        f64::from(b.height()),
    )
}

/// A duration in seconds of the config as whole nanoseconds of stamp time.
pub(super) fn ns_from_s(s: f64) -> i64 {
    (s * 1e9).round() as i64
}

impl Tracker {
    /// A tracker with a validated configuration.
    pub fn new(config: TrackerConfig) -> Result<Self, TrackError> {
        config.validate()?;
        Ok(Self {
            class_group_index: config.class_group_index(),
            config,
            tracks: Vec::new(),
            next_id: 1,
            last_stamp_ns: None,
            log_noise_gain: 0.0,
            scratch: Scratch::default(),
        })
    }

    /// Forgets every track and the last stamp, so that the next update may have any stamp
    /// (after the stream's clock jumped back: a looped recording, a simulation reset). Ids
    /// continue from where they were, so an id never names two objects of one stream.
    pub fn restart(&mut self) {
        self.tracks.clear();
        self.last_stamp_ns = None;
        self.log_noise_gain = 0.0;
    }

    /// The adaptive gain on the acceleration noise now, in `[1, noise_gain_max]`.
    pub fn noise_gain(&self) -> f64 {
        self.log_noise_gain.exp()
    }

    /// The stamp of the last update, `None` before the first (or after [`Tracker::restart`]).
    pub fn last_stamp_ns(&self) -> Option<i64> {
        self.last_stamp_ns
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
        self.update_moved(stamp, dets, false)
    }

    /// [`Tracker::update`]; `image_motion_applied`: the camera's motion for this frame came
    /// from its image ([`Tracker::update_with_camera_motion`]), which measures the background
    /// and so beats the box-based estimate: box motion then does not run (on a static camera
    /// the two together moved tracks by the boxes' noise and cost identities on PETS09).
    pub(super) fn update_moved(
        &mut self,
        stamp: Time,
        dets: &[Detection],
        image_motion_applied: bool,
    ) -> Result<Vec<TrackOutput>, TrackError> {
        let stamp_ns = stamp.as_ns();
        self.check(stamp_ns, dets)?;
        let dt_s = self
            .last_stamp_ns
            .map_or(0.0, |p| (stamp_ns - p) as f64 * 1e-9);
        let cfg = &self.config;
        let s = &mut self.scratch;
        let gain = self.log_noise_gain.exp();
        let noise = KalmanNoise {
            accel_std_rel_per_s2: cfg.noise.accel_std_rel_per_s2 * gain,
            size_accel_std_rel_per_s2: cfg.noise.size_accel_std_rel_per_s2 * gain,
            ..cfg.noise
        };

        // Everything up to the commit only reads the tracks: an error leaves them as they were
        // (except the box-motion warp below, which only a numerical failure of a Kalman step
        // after it can leave applied, as with image-based compensation).
        s.predict(&self.tracks, dets, dt_s, &noise)?;
        s.group(&self.tracks, dets, cfg, &self.class_group_index, stamp_ns);
        if cfg.box_motion && !image_motion_applied {
            if let Some(cur_from_prev) = s.box_motion(&self.tracks, dets, cfg) {
                // Warping then predicting is predicting then warping (the warp's Jacobian
                // commutes with the constant-velocity transition), and the warp also moves
                // what OC-SORT's steps read (last belief, observed boxes).
                super::gmc::warp_tracks(&mut self.tracks, &cur_from_prev);
                s.predict(&self.tracks, dets, dt_s, &noise)?;
            }
        }
        let ctx = Context {
            tracks: &self.tracks,
            predicted: &s.beliefs,
            track_boxes: &s.track_boxes,
            dets,
            det_boxes: &s.det_boxes,
            config: cfg,
            momentum: Momentum::new(cfg),
            stamp_ns,
        };
        s.matching.begin(self.tracks.len(), dets.len());
        for (group_tracks, group_dets) in s.groups.values() {
            s.matching.associate_group(&ctx, group_tracks, group_dets)?;
        }
        s.update_filters(&self.tracks, cfg, stamp_ns)?;
        s.initiate(self.next_id, &cfg.noise)?;
        let log_noise_gain = s.adapted_log_gain(self.log_noise_gain, dt_s, cfg);

        self.commit(dets, stamp_ns);
        self.log_noise_gain = log_noise_gain;
        Ok(self.report(stamp_ns))
    }

    /// The update's inputs are acceptable: a later stamp and well-formed detections.
    pub(super) fn check(&self, stamp_ns: i64, dets: &[Detection]) -> Result<(), TrackError> {
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
        Ok(())
    }

    /// Apply the update computed in the scratch buffers: matched tracks take their updated
    /// belief, missed ones coast or are removed, new tracks start. Nothing here can fail.
    fn commit(&mut self, dets: &[Detection], stamp_ns: i64) {
        let cfg = &self.config;
        let s = &mut self.scratch;
        let max_age_ns = ns_from_s(cfg.max_age_s);
        // In place: a Track is ~700 bytes, moving every one into a new Vec each frame costs
        // more than the filter arithmetic.
        s.keep.clear();
        s.keep.resize(self.tracks.len(), true);
        for (i, t) in self.tracks.iter_mut().enumerate() {
            t.filter = s.beliefs[i];
            match s.matching.fate[i] {
                Fate::Matched { det } => t.matched(&dets[det], stamp_ns, cfg),
                Fate::Missed => s.keep[i] = t.missed(stamp_ns, max_age_ns),
            }
        }
        let mut k = s.keep.iter();
        // `retain` visits elements in order, once each, so `k` stays aligned.
        self.tracks.retain(|_| k.next().copied().unwrap_or(false));
        for &(j, g) in &s.born {
            let d = &dets[j];
            let label: Arc<str> = Arc::from(d.label.as_str());
            self.tracks.push(Track {
                id: self.next_id,
                class_index: d.class_index,
                class_votes: vec![(d.class_index, label.clone(), d.score)],
                label,
                filter: g,
                filter_at_last_update: g,
                missed_updates: 0,
                observations: Observations::new(Observation {
                    stamp_ns,
                    z: measurement_of(&d.bbox),
                }),
                state: if cfg.min_hits <= 1
                    && cfg.confirm_min_s <= 0.0
                    && (d.score >= cfg.confirm_score_min || cfg.confirm_unconfident_min_s <= 0.0)
                {
                    TrackState::Confirmed
                } else {
                    TrackState::Tentative
                },
                hits: 1,
                score: d.score,
                track_score: d.score,
                confident: d.score >= cfg.confirm_score_min,
                start_ns: stamp_ns,
                last_update_ns: stamp_ns,
            });
            self.next_id += 1;
        }
        self.last_stamp_ns = Some(stamp_ns);
    }

    /// The tracks to report at `stamp_ns`, in id order (tracks are kept in creation order).
    fn report(&self, stamp_ns: i64) -> Vec<TrackOutput> {
        let output_lost_max_ns = ns_from_s(self.config.output_lost_max_s);
        self.tracks
            .iter()
            .filter(|t| match t.state {
                TrackState::Confirmed => {
                    t.score >= self.config.output_score_min
                        && t.track_score >= self.config.output_track_score_min
                }
                TrackState::Lost => stamp_ns - t.last_update_ns <= output_lost_max_ns,
                TrackState::Tentative => false,
            })
            .map(|t| output_of(t, stamp_ns, self.config.output_detection_weight))
            .collect()
    }
}

impl Track {
    /// Commit a match with `d` (the filter already holds the updated belief).
    fn matched(&mut self, d: &Detection, stamp_ns: i64, cfg: &TrackerConfig) {
        self.hits += 1;
        self.score = d.score;
        self.confident |= d.score >= cfg.confirm_score_min;
        self.track_score = smoothed_score(
            self.track_score,
            d.score,
            (stamp_ns - self.last_update_ns) as f64 * 1e-9,
            cfg.track_score_time_s,
        );
        self.last_update_ns = stamp_ns;
        self.filter_at_last_update = self.filter;
        self.missed_updates = 0;
        self.observations.push(Observation {
            stamp_ns,
            z: measurement_of(&d.bbox),
        });
        if cfg.class_agnostic {
            self.class_index = d.class_index;
            if *self.label != *d.label {
                self.label = Arc::from(d.label.as_str());
            }
        } else {
            // Only a class group lets another class match: the score-weighted vote decides,
            // so a van seen as car 0.85 and truck 0.53 stays a car.
            match self.class_votes.iter_mut().find(|v| v.0 == d.class_index) {
                Some(v) => v.2 += d.score,
                None => {
                    self.class_votes
                        .push((d.class_index, Arc::from(d.label.as_str()), d.score))
                }
            }
            // The first-seen class wins a tie (no flip-flopping between equals).
            let best = self
                .class_votes
                .iter()
                .reduce(|b, v| if v.2 > b.2 { v } else { b });
            if let Some((class_index, label, _)) = best {
                if *class_index != self.class_index {
                    self.class_index = *class_index;
                    self.label = label.clone();
                }
            }
        }
        let followed_ns = stamp_ns - self.start_ns;
        self.state = match self.state {
            TrackState::Tentative
                if self.hits < cfg.min_hits
                    || followed_ns < ns_from_s(cfg.confirm_min_s)
                    || (!self.confident
                        && followed_ns < ns_from_s(cfg.confirm_unconfident_min_s)) =>
            {
                TrackState::Tentative
            }
            _ => TrackState::Confirmed,
        };
    }

    /// Commit a miss (the filter already holds the prediction); whether the track lives on.
    fn missed(&mut self, stamp_ns: i64, max_age_ns: i64) -> bool {
        self.missed_updates = self.missed_updates.saturating_add(1);
        match self.state {
            TrackState::Tentative => false,
            TrackState::Confirmed | TrackState::Lost => {
                self.state = TrackState::Lost;
                stamp_ns - self.last_update_ns <= max_age_ns
            }
        }
    }
}

impl Scratch {
    /// Step 1: every track's belief predicted to the stamp (lost tracks with their size rates
    /// zeroed), the predicted boxes, and the detection boxes.
    fn predict(
        &mut self,
        tracks: &[Track],
        dets: &[Detection],
        dt_s: f64,
        noise: &KalmanNoise,
    ) -> Result<(), TrackError> {
        self.beliefs.clear();
        for t in tracks {
            let mut prior = t.filter;
            if t.state == TrackState::Lost {
                prior.mean[6] = 0.0;
                prior.mean[7] = 0.0;
            }
            let g = kalman::predict(&prior, dt_s, noise).map_err(|source| TrackError::Kalman {
                track_id: t.id,
                source,
            })?;
            self.beliefs.push(g);
        }
        self.track_boxes.clear();
        self.track_boxes
            .extend(self.beliefs.iter().map(|g| bbox_of(&g.mean)));
        self.det_boxes.clear();
        self.det_boxes.extend(dets.iter().map(|d| d.bbox));
        Ok(())
    }

    /// Tracks and detections by class (one group when class-agnostic), in a fixed order.
    /// Tracks whose last update is older than `max_age_s` join no group: after a long pause
    /// their prediction means nothing, so they cannot be associated.
    fn group(
        &mut self,
        tracks: &[Track],
        dets: &[Detection],
        cfg: &TrackerConfig,
        class_group_index: &BTreeMap<String, usize>,
        stamp_ns: i64,
    ) {
        // Entries of classes seen before stay (emptied): an empty group matches nothing.
        for (group_tracks, group_dets) in self.groups.values_mut() {
            group_tracks.clear();
            group_dets.clear();
        }
        // A class group's key sits above every class index, so the two never collide.
        let key = |c: usize, label: &str| {
            if cfg.class_agnostic {
                0
            } else {
                class_group_index.get(label).map_or(c, |g| usize::MAX - g)
            }
        };
        let max_age_ns = ns_from_s(cfg.max_age_s);
        for (i, t) in tracks.iter().enumerate() {
            if stamp_ns - t.last_update_ns <= max_age_ns {
                self.groups
                    .entry(key(t.class_index, &t.label))
                    .or_default()
                    .0
                    .push(i);
            }
        }
        for (j, d) in dets.iter().enumerate() {
            self.groups
                .entry(key(d.class_index, &d.label))
                .or_default()
                .1
                .push(j);
        }
    }

    /// The camera motion that the predicted boxes of confirmed tracks matched in the last
    /// update share with this frame's high-score detections, per class group (see
    /// [`box_motion`]); `None` without a clear consensus.
    fn box_motion(
        &mut self,
        tracks: &[Track],
        dets: &[Detection],
        cfg: &TrackerConfig,
    ) -> Option<crate::motion::Affine2> {
        self.motion_pairs.clear();
        for (group_tracks, group_dets) in self.groups.values() {
            self.motion_predicted.clear();
            self.motion_position_var.clear();
            for &i in group_tracks {
                if tracks[i].state == TrackState::Confirmed && tracks[i].missed_updates == 0 {
                    let g = &self.beliefs[i];
                    self.motion_predicted
                        .push(g.mean.fixed_rows::<4>(0).into_owned());
                    self.motion_position_var
                        .push(0.5 * (g.covariance[(0, 0)] + g.covariance[(1, 1)]));
                }
            }
            self.motion_detected.clear();
            self.motion_detected.extend(
                group_dets
                    .iter()
                    .filter(|&&j| dets[j].score >= cfg.track_score_high_min)
                    .map(|&j| measurement_of(&self.det_boxes[j])),
            );
            self.motion_index.clear();
            box_motion::pair_nearest(
                &self.motion_predicted,
                &self.motion_detected,
                &mut self.motion_nearest,
                &mut self.motion_index,
            );
            for &(a, b) in &self.motion_index {
                let detected = self.motion_detected[b];
                let r = kalman::measurement_noise(&detected, &cfg.noise);
                self.motion_pairs.push(box_motion::BoxPair {
                    predicted: self.motion_predicted[a],
                    detected,
                    innovation_var_px2: self.motion_position_var[a] + 0.5 * (r[(0, 0)] + r[(1, 1)]),
                });
            }
        }
        box_motion::estimate(
            &self.motion_pairs,
            &box_motion::BoxMotionRule {
                pairs_min: cfg.box_motion_pairs_min as usize,
                inlier_rel: cfg.box_motion_inlier_rel,
                shift_min_rel: cfg.box_motion_shift_min_rel,
                chi2_min: cfg.box_motion_chi2_min,
            },
        )
    }

    /// The Kalman update of every matched track, in its predicted belief's place (OC-SORT's
    /// re-update when on and the track missed updates; else robust or plain).
    fn update_filters(
        &mut self,
        tracks: &[Track],
        cfg: &TrackerConfig,
        stamp_ns: i64,
    ) -> Result<(), TrackError> {
        let noise = &cfg.noise;
        self.nis.clear();
        for (i, f) in self.matching.fate.iter().enumerate() {
            if let Fate::Matched { det } = *f {
                let t = &tracks[i];
                let z = measurement_of(&self.det_boxes[det]);
                let kalman_error = |source| TrackError::Kalman {
                    track_id: t.id,
                    source,
                };
                if cfg.oc_reupdate && t.missed_updates > 0 {
                    self.beliefs[i] = reupdate(t, stamp_ns, &z, noise).map_err(kalman_error)?;
                } else {
                    // The plain update when robust_update_chi2 is 0.
                    let nis = kalman::update_robust_in_place(
                        &mut self.beliefs[i],
                        &z,
                        noise,
                        cfg.robust_update_chi2,
                    )
                    .map_err(kalman_error)?;
                    if t.state == TrackState::Confirmed && t.missed_updates == 0 {
                        self.nis.push(nis);
                    }
                }
            }
        }
        Ok(())
    }

    /// The adaptive noise gain's logarithm after this update: moved towards
    /// `ln(median NIS / chi²(4) median) / 2` (a standard-deviation ratio) with weight
    /// `1 - exp(-dt / noise_gain_time_s)`, clamped to `[0, ln noise_gain_max]`. Needs three
    /// matched confirmed tracks (a median of fewer is one object's own manoeuvre).
    fn adapted_log_gain(&mut self, log_gain: f64, dt_s: f64, cfg: &TrackerConfig) -> f64 {
        /// Median of the chi-square distribution with 4 degrees of freedom.
        const CHI2_4_MEDIAN: f64 = 3.356_694;
        if cfg.noise_gain_max <= 1.0 || self.nis.len() < 3 || dt_s <= 0.0 {
            return log_gain;
        }
        let mid = self.nis.len() / 2;
        let (_, median, _) = self.nis.select_nth_unstable_by(mid, f64::total_cmp);
        let median = median.max(f64::MIN_POSITIVE);
        let target = 0.5 * (median / CHI2_4_MEDIAN).ln() + log_gain;
        let weight = 1.0 - (-dt_s / cfg.noise_gain_time_s).exp();
        (log_gain + weight * (target - log_gain)).clamp(0.0, cfg.noise_gain_max.ln())
    }

    /// Initial beliefs of the new tracks, in detection order (their ids follow `next_id`).
    fn initiate(&mut self, next_id: u64, noise: &KalmanNoise) -> Result<(), TrackError> {
        self.matching.new_dets.sort_unstable();
        self.born.clear();
        for &j in &self.matching.new_dets {
            let z = measurement_of(&self.det_boxes[j]);
            let g = kalman::initiate(&z, noise).map_err(|source| TrackError::Kalman {
                track_id: next_id + self.born.len() as u64,
                source,
            })?;
            self.born.push((j, g));
        }
        Ok(())
    }
}

impl Matching {
    /// Every track missed, every detection free, no births yet.
    fn begin(&mut self, n_tracks: usize, n_dets: usize) {
        self.fate.clear();
        self.fate.resize(n_tracks, Fate::Missed);
        self.det_used.clear();
        self.det_used.resize(n_dets, false);
        self.new_dets.clear();
        self.last_boxes.clear();
    }

    /// Steps 2 to 5 for one class group: the passes in order, then the group's births.
    fn associate_group(
        &mut self,
        ctx: &Context<'_>,
        group_tracks: &[usize],
        group_dets: &[usize],
    ) -> Result<(), TrackError> {
        let cfg = ctx.config;
        self.split(ctx, group_tracks, group_dets);
        self.pass(ctx, PassKind::High)?;
        self.remaining.clear();
        self.remaining
            .extend(self.active.iter().copied().filter(|&i| {
                matches!(self.fate[i], Fate::Missed) && ctx.tracks[i].state == TrackState::Confirmed
            }));
        self.pass(ctx, PassKind::Low)?;
        self.high_left.clear();
        self.high_left
            .extend(self.high.iter().copied().filter(|&j| !self.det_used[j]));
        self.recover(ctx)?;
        self.pass(ctx, PassKind::Tentative)?;
        self.new_dets.extend(
            self.high_left
                .iter()
                .copied()
                .filter(|&j| !self.det_used[j] && ctx.dets[j].score >= cfg.new_track_score_min),
        );
        Ok(())
    }

    /// The group's detections by score band (high, low, ignored) and tracks by state
    /// (tentative or not).
    fn split(&mut self, ctx: &Context<'_>, group_tracks: &[usize], group_dets: &[usize]) {
        let (cfg, dets, tracks) = (ctx.config, ctx.dets, ctx.tracks);
        self.high.clear();
        self.high.extend(
            group_dets
                .iter()
                .copied()
                .filter(|&j| dets[j].score >= cfg.track_score_high_min),
        );
        self.low.clear();
        self.low.extend(group_dets.iter().copied().filter(|&j| {
            dets[j].score >= cfg.track_score_low_min && dets[j].score < cfg.track_score_high_min
        }));
        self.active.clear();
        self.active.extend(
            group_tracks
                .iter()
                .copied()
                .filter(|&i| tracks[i].state != TrackState::Tentative),
        );
        self.tentative.clear();
        self.tentative.extend(
            group_tracks
                .iter()
                .copied()
                .filter(|&i| tracks[i].state == TrackState::Tentative),
        );
    }

    /// OC-SORT's recovery (OCR), when on: active tracks still unmatched vs the high-score
    /// detections still free, by IoU with each track's last observed box.
    fn recover(&mut self, ctx: &Context<'_>) -> Result<(), TrackError> {
        self.unmatched.clear();
        if ctx.config.oc_recovery && !self.high_left.is_empty() {
            self.unmatched.extend(
                self.active
                    .iter()
                    .copied()
                    .filter(|&i| matches!(self.fate[i], Fate::Missed)),
            );
        }
        if self.unmatched.is_empty() {
            return Ok(());
        }
        if self.last_boxes.is_empty() {
            self.last_boxes.extend(ctx.tracks.iter().map(|t| {
                let z = &t.observations.last().z;
                BBox::from_center(z[0] as f32, z[1] as f32, z[2] as f32, z[3] as f32)
            }));
        }
        self.pass(ctx, PassKind::Recovery)?;
        self.high_left.retain(|&j| !self.det_used[j]);
        Ok(())
    }

    /// One association pass: its candidates, their optimal assignment, and the matches
    /// recorded.
    fn pass(&mut self, ctx: &Context<'_>, kind: PassKind) -> Result<(), TrackError> {
        let cfg = ctx.config;
        let plain = |iou_min| PassRule {
            iou_min,
            fuse_score: false,
            momentum: false,
        };
        let (tracks, dets, track_boxes, rule) = match kind {
            PassKind::High => (
                &self.active,
                &self.high,
                ctx.track_boxes,
                PassRule {
                    iou_min: cfg.iou_match_min,
                    fuse_score: cfg.fuse_score,
                    momentum: true,
                },
            ),
            PassKind::Low => (
                &self.remaining,
                &self.low,
                ctx.track_boxes,
                plain(cfg.iou_match_low_min),
            ),
            PassKind::Recovery => (
                &self.unmatched,
                &self.high_left,
                &self.last_boxes[..],
                plain(cfg.oc_recovery_iou_min),
            ),
            PassKind::Tentative => (
                &self.tentative,
                &self.high_left,
                ctx.track_boxes,
                plain(cfg.iou_match_tentative_min),
            ),
        };
        let pass = candidates::Pass {
            tracks,
            dets,
            track_boxes,
            rule,
        };
        let candidates = self.candidates.build(ctx, &pass)?;
        for (r, j) in assign(tracks.len(), ctx.dets.len(), candidates) {
            self.fate[tracks[r]] = Fate::Matched { det: j };
            self.det_used[j] = true;
        }
        Ok(())
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

/// `previous` moved towards `score` by `1 - exp(-dt_s / time_s)` (`score` itself when
/// `time_s` is 0): an exponential average in stamp time, the same per second at any frame rate.
fn smoothed_score(previous: f32, score: f32, dt_s: f64, time_s: f64) -> f32 {
    if time_s <= 0.0 {
        return score;
    }
    let weight = 1.0 - (-dt_s.max(0.0) / time_s).exp();
    previous + (weight as f32) * (score - previous)
}

fn output_of(t: &Track, stamp_ns: i64, detection_weight: f64) -> TrackOutput {
    let m = &t.filter.mean;
    let observed = (t.last_update_ns == stamp_ns).then(|| t.observations.last().z);
    let reported = match observed {
        Some(z) if detection_weight > 0.0 => {
            let b = |i: usize| m[i] + detection_weight * (z[i] - m[i]);
            BBox::from_center(b(0) as f32, b(1) as f32, b(2) as f32, b(3) as f32)
        }
        _ => bbox_of(m),
    };
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
        bbox: reported,
        velocity_px_per_s: [m[4], m[5]],
        bbox_covariance: cov,
        observed_bbox: observed
            .map(|z| BBox::from_center(z[0] as f32, z[1] as f32, z[2] as f32, z[3] as f32)),
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
    fn reported_box_lies_between_the_filter_and_the_detection_by_the_weight() {
        // A pedestrian that stops dead after walking right: the filter's mean overshoots the
        // detection (it still believes in the velocity); the weight moves the reported box
        // toward the detection by exactly that fraction, and coasting reports the prediction.
        let run = |weight: f64| {
            let cfg = TrackerConfig {
                output_detection_weight: weight,
                box_motion: false,
                ..TrackerConfig::default()
            };
            let mut t = Tracker::new(cfg).unwrap();
            let mut out = Vec::new();
            for k in 0..=10 {
                let x = 100.0 + 10.0 * (k.min(8) as f32);
                out = t.update(at(k as f64 * 0.1), &[det(x, 100.0, 0.9)]).unwrap();
            }
            let coast = t.update(at(1.1), &[]).unwrap();
            (out, coast)
        };
        let (mean, _) = run(0.0);
        let (half, _) = run(0.5);
        let (detection, coast) = run(1.0);
        let seen = detection[0].observed_bbox.unwrap();
        assert_eq!(detection[0].bbox, seen);
        assert_eq!(mean[0].observed_bbox, Some(seen));
        assert!((mean[0].bbox.x_min - seen.x_min).abs() > 1.0, "{mean:?}");
        let mid = 0.5 * (mean[0].bbox.x_min + seen.x_min);
        assert!((half[0].bbox.x_min - mid).abs() < 1e-3, "{half:?} vs {mid}");
        assert!((half[0].bbox.y_max - 0.5 * (mean[0].bbox.y_max + seen.y_max)).abs() < 1e-3);
        assert!(
            coast.is_empty(),
            "coasting tracks are not reported by default"
        );
        let bad = TrackerConfig {
            output_detection_weight: 1.5,
            ..TrackerConfig::default()
        };
        assert!(Tracker::new(bad).is_err());
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
    fn restart_forgets_tracks_and_stamp_but_not_ids() {
        let mut t = Tracker::new(TrackerConfig::default()).unwrap();
        t.update(at(10.0), &[det(0.0, 0.0, 0.9)]).unwrap();
        assert_eq!(t.update(at(10.1), &[det(1.0, 0.0, 0.9)]).unwrap()[0].id, 1);
        assert_eq!(t.last_stamp_ns(), Some(at(10.1).as_ns()));
        t.restart();
        assert!(t.is_empty());
        assert_eq!(t.last_stamp_ns(), None);
        // An earlier stamp is accepted now, and the new object gets a new id.
        t.update(at(0.0), &[det(0.0, 0.0, 0.9)]).unwrap();
        assert_eq!(t.update(at(0.1), &[det(1.0, 0.0, 0.9)]).unwrap()[0].id, 2);
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
    fn unconfident_tracks_confirm_after_seconds_at_any_frame_rate() {
        let cfg = TrackerConfig {
            new_track_score_min: 0.7,
            confirm_score_min: 0.95,
            confirm_unconfident_min_s: 0.4,
            ..TrackerConfig::default()
        };
        // Frames (stamp in s) until the first report of a walker whose detections all score
        // `score`, at `fps`.
        let first_report_s = |score: f32, fps: f64| {
            let mut t = Tracker::new(cfg.clone()).unwrap();
            (0..100)
                .map(|k| k as f64 / fps)
                .find(|&s| {
                    !t.update(at(s), &[det(100.0 + 20.0 * s as f32, 100.0, score)])
                        .unwrap()
                        .is_empty()
                })
                .unwrap()
        };
        // Confident: the second hit confirms, as min_hits says.
        assert_eq!(first_report_s(0.96, 10.0), 0.1);
        assert!((first_report_s(0.96, 30.0) - 1.0 / 30.0).abs() < 1e-9);
        // Unconfident: 0.4 s of following, whatever the frame rate.
        assert!((first_report_s(0.9, 10.0) - 0.4).abs() < 1e-9);
        assert!((first_report_s(0.9, 30.0) - 0.4).abs() < 1e-9);
        assert!((first_report_s(0.9, 7.0) - 3.0 / 7.0).abs() < 1e-9);

        // One confident detection along the way confirms at once, and a miss before that ends
        // the tentative track.
        let mut t = Tracker::new(cfg.clone()).unwrap();
        assert!(t
            .update(at(0.0), &[det(100.0, 100.0, 0.9)])
            .unwrap()
            .is_empty());
        assert!(t
            .update(at(0.1), &[det(102.0, 100.0, 0.8)])
            .unwrap()
            .is_empty());
        let out = t.update(at(0.2), &[det(104.0, 100.0, 0.97)]).unwrap();
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].id, 1);
        let mut t = Tracker::new(cfg.clone()).unwrap();
        t.update(at(0.0), &[det(100.0, 100.0, 0.9)]).unwrap();
        t.update(at(0.1), &[]).unwrap();
        assert!(t.is_empty());

        // Off (confirm_score_min 0): min_hits alone.
        let off = TrackerConfig {
            confirm_score_min: 0.0,
            ..cfg.clone()
        };
        let mut t = Tracker::new(off).unwrap();
        t.update(at(0.0), &[det(100.0, 100.0, 0.8)]).unwrap();
        assert_eq!(
            t.update(at(0.1), &[det(102.0, 100.0, 0.8)]).unwrap().len(),
            1
        );

        let bad = TrackerConfig {
            confirm_unconfident_min_s: -1.0,
            ..cfg
        };
        assert!(Tracker::new(bad).is_err());
    }

    #[test]
    fn track_score_keeps_a_dip_but_drops_a_run_of_middling_scores() {
        let cfg = TrackerConfig {
            output_track_score_min: 0.8,
            track_score_time_s: 0.5,
            ..TrackerConfig::default()
        };
        let mut t = Tracker::new(cfg).unwrap();
        // One second of confident detections at 10 frames/s: reported from the second.
        for k in 0..10 {
            let out = t
                .update(at(k as f64 * 0.1), &[det(0.0, 0.0, 0.95)])
                .unwrap();
            assert_eq!(out.len(), usize::from(k > 0), "frame {k}");
        }
        // One middling detection (an occlusion): the track score stays above 0.8
        // (0.95 - 0.18 * 0.35 = 0.89) and the track is still reported.
        let out = t.update(at(1.0), &[det(0.0, 0.0, 0.6)]).unwrap();
        assert_eq!((out.len(), out[0].score), (1, 0.6));
        // Middling frame after frame: 0.6 + 0.35 exp(-dt / 0.5) drops below 0.8 after
        // dt = 0.5 ln(0.35 / 0.2) = 0.28 s, i.e. from the third frame on.
        let reported: Vec<usize> = (1..=5)
            .map(|k| {
                let s = 1.0 + k as f64 * 0.1;
                t.update(at(s), &[det(0.0, 0.0, 0.6)]).unwrap().len()
            })
            .collect();
        assert_eq!(reported, [1, 0, 0, 0, 0]);
        // The track lives on (matched) and is reported again once its detections recover.
        let back = (0..20).position(|k| {
            let s = 1.6 + k as f64 * 0.1;
            !t.update(at(s), &[det(0.0, 0.0, 0.99)]).unwrap().is_empty()
        });
        // After 0.6 s of 0.6 the score is 0.6 + 0.35 exp(-1.2) = 0.705; at 0.99 it passes 0.8
        // after 0.5 ln(0.285 / 0.19) = 0.2 s: the third frame.
        assert_eq!(back, Some(2));
        assert_eq!(t.update(at(3.6), &[det(0.0, 0.0, 0.99)]).unwrap()[0].id, 1);
    }

    #[test]
    fn track_score_weighs_seconds_not_frames() {
        // The same stretch of time at 10 and 30 frames/s moves the score the same way.
        let at_rate = |fps: u32| {
            (0..fps * 3 / 10).fold(0.95f32, |s, _| {
                smoothed_score(s, 0.6, 1.0 / fps as f64, 0.5)
            })
        };
        let expected = 0.6 + 0.35 * (-0.3f32 / 0.5).exp();
        for fps in [10, 30] {
            assert!((at_rate(fps) - expected).abs() < 1e-5, "{fps} frames/s");
        }
        // A gap counts as its stamp time; a time constant of 0 is the latest score.
        assert!((smoothed_score(0.9, 0.5, 10.0, 0.5) - 0.5).abs() < 1e-6);
        assert_eq!(smoothed_score(0.9, 0.5, 0.1, 0.0), 0.5);
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
        // The matched detection box is for the ground tracker only, not in the JSON.
        assert!(out[0].observed_bbox.is_some());
        assert!(json.get("observed_bbox").is_none());
        let back: TrackOutput = serde_json::from_value(json).unwrap();
        assert_eq!(
            back,
            TrackOutput {
                observed_bbox: None,
                ..out[0].clone()
            }
        );
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
