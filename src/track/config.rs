//! The tracker's configuration: thresholds with units in their names, parsed with serde
//! (`deny_unknown_fields`) from the `tracking:` block of `configs/lookout.param.yaml`, then
//! checked once by [`TrackerConfig::validate`].

use serde::{Deserialize, Serialize};

use super::kalman::KalmanNoise;

/// Every knob of [`super::Tracker`]. The defaults (see [`TrackerConfig::default`]) follow
/// ByteTrack's published settings, converted from frames to seconds where they count time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrackerConfig {
    /// Detections with `score >= track_score_high_min` take part in the first association
    /// pass (score in [0, 1]).
    pub track_score_high_min: f32,
    /// Detections with `track_score_low_min <= score < track_score_high_min` take part only in
    /// the second pass (they extend existing tracks through occlusion, never start one).
    pub track_score_low_min: f32,
    /// An unmatched high-score detection starts a tentative track if `score >= new_track_score_min`.
    pub new_track_score_min: f32,
    /// First pass (high-score detections vs confirmed and lost tracks): least IoU of a match.
    pub iou_match_min: f32,
    /// Second pass (low-score detections vs remaining confirmed tracks): least IoU of a match.
    pub iou_match_low_min: f32,
    /// Third pass (remaining high-score detections vs tentative tracks): least IoU of a match.
    pub iou_match_tentative_min: f32,
    /// Multiply IoU by the detection score in the first pass's cost (ByteTrack's `fuse_score`),
    /// so that among overlapping detections the confident one wins.
    pub fuse_score: bool,
    /// A lost track stays matchable for this many seconds of stamp time after its last update.
    pub max_age_s: f64,
    /// Hits (matched detections, including the first) for a tentative track to be confirmed.
    /// `1` confirms on the first detection.
    pub min_hits: u32,
    /// A tentative track is confirmed only once its first and latest detections are at least
    /// this many seconds of stamp time apart (and it has `min_hits` hits, matched in
    /// consecutive updates): the same evidence in time at any frame rate, where `min_hits`
    /// alone means 0.1 s at 30 frames/s and 0.4 s at 7. 0: `min_hits` alone decides.
    pub confirm_min_s: f64,
    /// A detection scoring at least this (in [0, 1]; 0: every detection) is *confident*. A
    /// tentative track none of whose detections is confident needs, besides `min_hits` and
    /// `confirm_min_s`, [`Self::confirm_unconfident_min_s`] seconds of stamp time from its first
    /// to its latest detection (matched in consecutive updates) before it is confirmed: a box
    /// that one detector scores middling may be a person it sees badly or clutter it sees
    /// again and again, and only persistence tells them apart, whereas a confident one
    /// confirms at once. This lets middling detections start tracks
    /// ([`Self::new_track_score_min`] below this) without each of them becoming a reported
    /// object.
    pub confirm_score_min: f32,
    /// Seconds of stamp time a tentative track without a confident detection (see
    /// [`Self::confirm_score_min`]) must be followed before it is confirmed, in
    /// [0, 3600]; a tentative track is removed at its first miss, so this is continuous
    /// evidence, the same in seconds at any frame rate.
    pub confirm_unconfident_min_s: f64,
    /// Associate across classes (a track's class is then its latest detection's class); by
    /// default an id never changes class.
    pub class_agnostic: bool,
    /// Classes (output labels) that associate as one class, one comma-separated group per
    /// entry, e.g. `"car,truck,bus"`: a detector confuses them for the same vehicle (a van is
    /// `car` one frame and `truck` the next), and one object must keep one track. A track's
    /// class is then the one with the largest summed detection score over its matches. Other
    /// classes stay apart. (Comma-separated strings because ROS 2 parameters cannot nest
    /// arrays.)
    pub class_groups: Vec<String>,
    /// Reject matches whose squared Mahalanobis distance (4 degrees of freedom) exceeds
    /// [`Self::mahalanobis_gate_chi2`] (off: IoU alone decides).
    pub mahalanobis_gate: bool,
    /// The gate when [`Self::mahalanobis_gate`] is on; 9.4877 is the 95 % quantile of chi²(4).
    pub mahalanobis_gate_chi2: f64,
    /// Also report lost tracks (coasting on their prediction) for this many seconds after their
    /// last update. 0: only confirmed tracks updated by a detection this frame, which is what
    /// MOTChallenge scoring and a planner reading `Detection2DArray` want; `>= max_age_s`:
    /// every live confirmed or lost track. Reported lost tracks carry `state: lost` and their
    /// `time_since_update_s`.
    pub output_lost_max_s: f64,
    /// A confirmed track is reported in an update only when the detection it matched there
    /// scored at least this (in [0, 1]): a low-score detection keeps a track alive through an
    /// occlusion without being reported as an object on its own evidence. 0 reports every
    /// matched confirmed track.
    pub output_score_min: f32,
    /// A confirmed track is reported only while its *track score* is at least this (in
    /// [0, 1]; 0: off): the detection scores of its matches, smoothed in time with
    /// [`Self::track_score_time_s`]. One detector's false positives on clutter or
    /// unannotated people tend to score middling frame after frame, a true person's high with
    /// dips when occluded: the smoothed score tells the two apart where one frame's score
    /// cannot (`output_score_min` alone must choose between keeping the dips and the clutter).
    pub output_track_score_min: f32,
    /// Time constant (seconds of stamp time) of the track score: each match moves it towards
    /// its detection's score by `1 - exp(-dt / track_score_time_s)`, `dt` the stamp time since
    /// the track's previous match, so the same evidence per second weighs the same at any frame
    /// rate. A track starts at its first detection's score. 0: the latest detection's score.
    pub track_score_time_s: f64,
    /// Where the reported box of a track matched in this update lies between the filter's
    /// mean (0) and the matched detection (1), per coordinate of `[cx, cy, w, h]`. The filter's
    /// measurement noise is set for association and prediction (a smooth velocity through
    /// noisy boxes); its mean then lags a box that a moving camera or a turning pedestrian
    /// moves, while the detection itself is current. Coasting tracks report the prediction.
    pub output_detection_weight: f64,
    /// OC-SORT's observation-centric re-update (ORU; Cao et al., *Observation-Centric SORT*,
    /// CVPR 2023, §4.1): when a track that missed detections is matched again, its filter is
    /// rewound to the belief after its last observation and re-run through boxes interpolated
    /// linearly between that observation and the new one (one per missed frame, evenly spread
    /// over the gap's stamp time), instead of updating the prediction that coasted through the
    /// gap. The velocity then agrees with the observed displacement over the gap.
    pub oc_reupdate: bool,
    /// OC-SORT's observation-centric momentum (OCM, §4.2): weight of the motion-direction
    /// consistency term added to the first pass's similarity. For a track with a known
    /// direction (from the observation nearest [`Self::oc_momentum_delta_s`] before its last
    /// one to its last one) and a candidate detection, the term is
    /// `weight · score · (π/2 − θ) / π`, θ the angle between that direction and the direction
    /// from the track's observation nearest `oc_momentum_delta_s` before now to the detection
    /// (in [−weight/2, weight/2] per unit score). 0 turns it off; OC-SORT uses 0.2. A pair
    /// whose similarity drops to 0 or below cannot match.
    pub oc_momentum_weight: f64,
    /// Baseline of OCM's directions, in seconds of stamp time: the observation used is the one
    /// nearest this long before the reference (OC-SORT's `delta_t = 3` frames at 30 frames/s,
    /// 0.1 s; at lower frame rates the nearest is one frame back).
    pub oc_momentum_delta_s: f64,
    /// OC-SORT's observation-centric recovery (OCR, §4.3): after the low-score pass, confirmed
    /// and lost tracks still unmatched get a last chance against the remaining high-score
    /// detections, by IoU with their *last observed* box rather than their prediction.
    pub oc_recovery: bool,
    /// Least IoU (last observed box vs detection) of an OCR match; OC-SORT uses 0.3.
    pub oc_recovery_iou_min: f32,
    /// Huber-robust Kalman update (see [`super::kalman::update_robust`]): a matched detection
    /// whose normalised innovation squared (4 degrees of freedom) exceeds this value updates
    /// the track with its measurement noise inflated by `sqrt(NIS / robust_update_chi2)`, so a
    /// box merging two people or cut by occlusion drags the track's position and velocity
    /// less. 0 turns it off (every update is the plain one).
    pub robust_update_chi2: f64,
    /// Camera motion from the boxes ([`super::box_motion`]): before association, the
    /// translation that most confirmed tracks' predicted boxes share with their
    /// nearest confident detections moves every track, so a camera that jolts, turns or
    /// brakes does not break the constant-velocity prediction. Needs no image (works on
    /// detection files) and adds to image-based compensation where that runs.
    pub box_motion: bool,
    /// Fewest agreeing (track, detection) pairs for [`Self::box_motion`] to move the tracks.
    pub box_motion_pairs_min: u32,
    /// A pair agrees with the shared motion when its predicted centre, moved, lies within this
    /// many box scales `sqrt(w h)` of its detection's centre, in (0, 1].
    pub box_motion_inlier_rel: f64,
    /// The shared motion moves the tracks only when at least this many median box scales long
    /// (shorter is the detections' own noise), in [0, 10].
    pub box_motion_shift_min_rel: f64,
    /// ... and only when significant against the pairs' own innovation uncertainty: squared
    /// shift over the variance of the mean innovation (chi², 2 degrees of freedom) at least
    /// this (9.21: a static camera passes 1 % of frames by chance), in [0, 1e6].
    pub box_motion_chi2_min: f64,
    /// Innovation-adaptive process noise: the acceleration noise (`noise.accel_std_rel_per_s2`
    /// and its size variant) is multiplied by a scene-wide gain in `[1, noise_gain_max]`,
    /// learnt from how far confirmed tracks' detections fall from their predictions (the
    /// median normalised innovation squared against its chi²(4) median), with time constant
    /// [`Self::noise_gain_time_s`]. The configured noise fits a static camera; a camera that
    /// shakes, turns or brakes makes every object accelerate in the image, and the gain lets
    /// the filter follow. 1 turns it off.
    pub noise_gain_max: f64,
    /// Time constant (seconds of stamp time) of the adaptive gain's estimate.
    pub noise_gain_time_s: f64,
    /// Kalman filter noise, relative to box size and per second.
    pub noise: KalmanNoise,
}

impl Default for TrackerConfig {
    /// ByteTrack's own settings for MOT17 (`tools/track.py`: `track_thresh 0.6`, low `0.1`,
    /// new track `track_thresh + 0.1`, `match_thresh 0.9` i.e. IoU 0.1 on score-fused IoU,
    /// second pass IoU 0.5, unconfirmed IoU 0.3), with time in seconds, except as listed
    /// below. `min_hits 2`: ByteTrack confirms on the second hit.
    /// The Mahalanobis gate is off: on MOT15 it cut more true matches (merged boxes of people
    /// walking side by side) than false ones (numbers in tests/track_mot15.rs).
    ///
    /// Departures from ByteTrack, each measured alone and together on two MOT15 sequences
    /// (7 and 25 frames/s) and two seeded TUD sequences (BENCHMARKS.md, "Tracker accuracy"):
    /// * `robust_update_chi2 = 4`: Huber-robust update above the NIS's expectation (4 degrees
    ///   of freedom), i.e. only measurements worse than an average inlier are down-weighted;
    ///   2 to 9.5 all helped on both MOT15 sequences.
    /// * OCM with OC-SORT's weight 0.2 and a 0.3 s baseline rather than OC-SORT's 3 frames
    ///   (0.1 s at 30 frames/s): a direction is only as good as the displacement over the
    ///   baseline is large against the ~0.05 box-size measurement noise, and a pedestrian
    ///   moves about 0.5 box sizes per second, so 0.1 s makes the direction mostly noise
    ///   (it cost 4 MOTA points on TUD-Campus at 25 frames/s) where 0.3 s does not.
    /// * OCR with OC-SORT's IoU 0.3.
    /// * `max_age_s = 2`: with OCR and the robust velocity, lost tracks are worth keeping
    ///   about as long as DeepSORT's 70 frames at 30 frames/s; 1.5 to 3 s measured alike.
    /// * ORU stays off: on these sequences it cost MOTA on TUD-Campus (65.2 -> 63.2) and
    ///   switches on PETS09-S2L1 on top of the rest; the time-based process noise already lets
    ///   a single update after a gap move the velocity a long way.
    ///
    /// Issue 12 searched these again by leave-one-sequence-out over seven MOT15 sequences
    /// (`scripts/python/loso.py`; BENCHMARKS.md, "Seven MOT15 sequences"). Score thresholds
    /// belong to the detector whose scores they cut: these are lookout's darknet models'
    /// (yolov4-tiny scores true pedestrians lower), and [`DetectorProfile::default`] holds the
    /// public Faster R-CNN detections' (`external_detections`, used by `lookout track`). Two
    /// additions came out of the per-sequence losses on moving cameras and are on by default
    /// (chosen by LOSO on every held-out sequence):
    /// * `box_motion` (pairs 3, inlier 0.25, no shift floor, chi² 9.21): the shared jump of
    ///   all boxes when a camera jolts or turns, estimated from the boxes alone; the chi² test
    ///   is a fixed 1 % false-alarm rate, not searched (it keeps a static camera's tracks from
    ///   being moved by noise, which public detections cannot show);
    /// * `noise_gain_max 4`, `noise_gain_time_s 2`: acceleration noise raised by the
    ///   innovations of the scene (a shaking camera), 1x on a static one.
    ///
    /// The LOSO objective ranks any setting that breaks issue 3's identity bar (PETS09-S2L1,
    /// TUD-Campus: at most half SORT's switches) below every one that keeps it.
    /// The other candidates the LOSO grids tried (`max_age_s 1`, `iou_match_min 0.3`,
    /// `noise.accel_std_rel_per_s2 2`) helped public detections on moving cameras but broke
    /// identities of lookout's own detector on PETS09 at 7 frames/s (IDF1 79.9 -> 43-61).
    fn default() -> Self {
        Self {
            track_score_high_min: 0.6,
            track_score_low_min: 0.1,
            new_track_score_min: 0.7,
            iou_match_min: 0.1,
            iou_match_low_min: 0.5,
            iou_match_tentative_min: 0.3,
            fuse_score: true,
            max_age_s: 2.0,
            min_hits: 2,
            confirm_min_s: 0.0,
            confirm_score_min: 0.0,
            confirm_unconfident_min_s: CONFIRM_UNCONFIDENT_MIN_S,
            class_agnostic: false,
            class_groups: vec!["car,truck,bus".into()],
            mahalanobis_gate: false,
            mahalanobis_gate_chi2: 9.4877,
            output_lost_max_s: 0.0,
            output_score_min: 0.0,
            output_track_score_min: 0.0,
            track_score_time_s: TRACK_SCORE_TIME_S,
            output_detection_weight: 0.0,
            oc_reupdate: false,
            oc_momentum_weight: 0.2,
            oc_momentum_delta_s: 0.3,
            oc_recovery: true,
            oc_recovery_iou_min: 0.3,
            robust_update_chi2: 4.0,
            box_motion: true,
            box_motion_pairs_min: 3,
            box_motion_inlier_rel: 0.25,
            box_motion_shift_min_rel: 0.0,
            box_motion_chi2_min: 9.21,
            noise_gain_max: 4.0,
            noise_gain_time_s: 2.0,
            noise: KalmanNoise::default(),
        }
    }
}

/// Default [`TrackerConfig::track_score_time_s`]: chosen by leave-one-sequence-out with the
/// public detections' [`DetectorProfile::output_track_score_min`] (BENCHMARKS.md, "Seven MOT15
/// sequences", fifth round).
pub const TRACK_SCORE_TIME_S: f64 = 0.5;

/// Default [`TrackerConfig::confirm_unconfident_min_s`]: chosen by leave-one-sequence-out with
/// the public detections' [`DetectorProfile::confirm_score_min`] (BENCHMARKS.md, "Seven MOT15
/// sequences", sixth round). It acts only where the profile's `confirm_score_min` is above 0.
pub const CONFIRM_UNCONFIDENT_MIN_S: f64 = 0.5;

/// What the tracker assumes about the detections of a detector other than lookout's
/// (`lookout track` on a MOTChallenge file): the six score thresholds of [`TrackerConfig`]
/// and [`TrackerConfig::output_detection_weight`]. Both are properties of the detector, not of
/// the tracker: a score threshold cuts one detector's score scale (lookout's darknet models
/// score true pedestrians lower than the Faster R-CNN whose detections MOTChallenge
/// distributes, so thresholds fitted to one drop true boxes of the other or keep false ones),
/// and how far a reported box should follow the matched detection rather than the filter
/// depends on how well that detector places its boxes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DetectorProfile {
    pub track_score_high_min: f32,
    pub track_score_low_min: f32,
    pub new_track_score_min: f32,
    pub confirm_score_min: f32,
    pub output_score_min: f32,
    pub output_track_score_min: f32,
    pub output_detection_weight: f64,
}

impl Default for DetectorProfile {
    /// Chosen by leave-one-sequence-out over seven MOT15 sequences' public Faster R-CNN
    /// detections (scores in [0.5, 1]; BENCHMARKS.md, "Seven MOT15 sequences"). Since the
    /// fifth round the track score ([`TrackerConfig::output_track_score_min`] 0.83, with
    /// [`TRACK_SCORE_TIME_S`]) decides which matched tracks are reported; the per-frame
    /// `output_score_min` 0.5 is the detections' own floor (LOSO chose it over 0.7). Since the
    /// sixth, middling detections (from 0.75) start tracks, but one with no detection of at
    /// least `confirm_score_min` 0.95 is confirmed only after
    /// [`CONFIRM_UNCONFIDENT_MIN_S`] of consecutive matches.
    fn default() -> Self {
        Self {
            track_score_high_min: 0.7,
            track_score_low_min: 0.1,
            new_track_score_min: 0.75,
            confirm_score_min: 0.95,
            output_score_min: 0.5,
            output_track_score_min: 0.83,
            output_detection_weight: 0.5,
        }
    }
}

impl DetectorProfile {
    /// `tracker` with this profile in place of its own settings (validate the result).
    pub fn applied_to(&self, tracker: &TrackerConfig) -> TrackerConfig {
        TrackerConfig {
            track_score_high_min: self.track_score_high_min,
            track_score_low_min: self.track_score_low_min,
            new_track_score_min: self.new_track_score_min,
            confirm_score_min: self.confirm_score_min,
            output_score_min: self.output_score_min,
            output_track_score_min: self.output_track_score_min,
            output_detection_weight: self.output_detection_weight,
            ..tracker.clone()
        }
    }
}

/// Largest `max_age_s` and `output_lost_max_s`: an hour of stamp time.
pub const DURATION_S_MAX: f64 = 3600.0;
/// Largest `oc_momentum_delta_s`: a minute (OC-SORT's baseline is a few frames).
pub const OC_MOMENTUM_DELTA_S_MAX: f64 = 60.0;
/// Largest `oc_momentum_weight` (OC-SORT uses 0.2; at 10 direction alone decides every match).
pub const OC_MOMENTUM_WEIGHT_MAX: f64 = 10.0;
/// Largest `min_hits`: a thousand matched detections, over half a minute at 30 frames/s.
pub const MIN_HITS_MAX: u32 = 1000;
/// Largest chi² gate or robust threshold (4 dof): 1e6 is already "never", far from infinity.
pub const CHI2_MAX: f64 = 1e6;
/// Largest noise standard deviation, in box sizes (per second or s² for the rates): squared in
/// the covariance, values near f64's range would overflow it to infinity.
pub const NOISE_STD_REL_MAX: f64 = 100.0;

/// A configuration value out of its range.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("tracking.{field} = {value}: {expected}")]
pub struct InvalidTrackerConfig {
    pub field: &'static str,
    pub value: String,
    pub expected: &'static str,
}

impl TrackerConfig {
    /// Each label of [`Self::class_groups`] and the index of its group, parsed once (the
    /// tracker keeps it; association looks labels up in it every frame).
    pub fn class_group_index(&self) -> std::collections::BTreeMap<String, usize> {
        self.class_groups
            .iter()
            .enumerate()
            .flat_map(|(g, labels)| labels.split(',').map(move |l| (l.trim().to_owned(), g)))
            .collect()
    }

    /// Check every field's range once, at startup.
    pub fn validate(&self) -> Result<(), InvalidTrackerConfig> {
        fn unit(field: &'static str, v: f32) -> Result<(), InvalidTrackerConfig> {
            if (0.0..=1.0).contains(&v) {
                Ok(())
            } else {
                Err(InvalidTrackerConfig {
                    field,
                    value: format!("{v:?}"),
                    expected: "must be in [0, 1]",
                })
            }
        }
        fn nonneg(field: &'static str, v: f64) -> Result<(), InvalidTrackerConfig> {
            if v.is_finite() && v >= 0.0 {
                Ok(())
            } else {
                Err(InvalidTrackerConfig {
                    field,
                    value: format!("{v:?}"),
                    expected: "must be finite and >= 0",
                })
            }
        }
        fn positive(field: &'static str, v: f64) -> Result<(), InvalidTrackerConfig> {
            if v.is_finite() && v > 0.0 {
                Ok(())
            } else {
                Err(InvalidTrackerConfig {
                    field,
                    value: format!("{v:?}"),
                    expected: "must be finite and > 0",
                })
            }
        }
        /// `v <= max`, after the lower bound was checked; `expected` states the range.
        fn at_most(
            field: &'static str,
            v: f64,
            max: f64,
            expected: &'static str,
        ) -> Result<(), InvalidTrackerConfig> {
            if v <= max {
                Ok(())
            } else {
                Err(InvalidTrackerConfig {
                    field,
                    value: format!("{v:?}"),
                    expected,
                })
            }
        }
        unit("track_score_high_min", self.track_score_high_min)?;
        unit("track_score_low_min", self.track_score_low_min)?;
        unit("new_track_score_min", self.new_track_score_min)?;
        unit("confirm_score_min", self.confirm_score_min)?;
        unit("output_score_min", self.output_score_min)?;
        unit("output_track_score_min", self.output_track_score_min)?;
        if !(0.0..=1.0).contains(&self.output_detection_weight) {
            return Err(InvalidTrackerConfig {
                field: "output_detection_weight",
                value: self.output_detection_weight.to_string(),
                expected: "in [0, 1]",
            });
        }
        if self.track_score_low_min > self.track_score_high_min {
            return Err(InvalidTrackerConfig {
                field: "track_score_low_min",
                value: self.track_score_low_min.to_string(),
                expected: "must be <= track_score_high_min",
            });
        }
        if self.new_track_score_min < self.track_score_high_min {
            return Err(InvalidTrackerConfig {
                field: "new_track_score_min",
                value: self.new_track_score_min.to_string(),
                expected:
                    "must be >= track_score_high_min (only high-score detections start tracks)",
            });
        }
        // An IoU threshold of 0 would let disjoint boxes match.
        for (field, v) in [
            ("iou_match_min", self.iou_match_min),
            ("iou_match_low_min", self.iou_match_low_min),
            ("iou_match_tentative_min", self.iou_match_tentative_min),
            ("oc_recovery_iou_min", self.oc_recovery_iou_min),
        ] {
            unit(field, v)?;
            if v <= 0.0 {
                return Err(InvalidTrackerConfig {
                    field,
                    value: format!("{v:?}"),
                    expected: "must be > 0",
                });
            }
        }
        let mut seen = std::collections::BTreeSet::new();
        for g in &self.class_groups {
            for label in g.split(',').map(str::trim) {
                if label.is_empty() || !seen.insert(label) {
                    return Err(InvalidTrackerConfig {
                        field: "class_groups",
                        value: format!("{:?}", self.class_groups),
                        expected: "comma-separated non-empty labels, each in at most one group",
                    });
                }
            }
        }
        // Durations become nanoseconds of stamp time (i64) and are subtracted from stamps: an
        // hour bounds them far from overflow, and no lost track is the same object an hour on.
        for (field, v) in [
            ("max_age_s", self.max_age_s),
            ("output_lost_max_s", self.output_lost_max_s),
            ("confirm_min_s", self.confirm_min_s),
            ("confirm_unconfident_min_s", self.confirm_unconfident_min_s),
            ("track_score_time_s", self.track_score_time_s),
        ] {
            nonneg(field, v)?;
            at_most(field, v, DURATION_S_MAX, "must be at most 3600 s")?;
        }
        if !(1..=MIN_HITS_MAX).contains(&self.box_motion_pairs_min) {
            return Err(InvalidTrackerConfig {
                field: "box_motion_pairs_min",
                value: self.box_motion_pairs_min.to_string(),
                expected: "must be in [1, 1000]",
            });
        }
        positive("box_motion_inlier_rel", self.box_motion_inlier_rel)?;
        at_most(
            "box_motion_inlier_rel",
            self.box_motion_inlier_rel,
            1.0,
            "must be at most 1",
        )?;
        if !(self.noise_gain_max.is_finite() && (1.0..=100.0).contains(&self.noise_gain_max)) {
            return Err(InvalidTrackerConfig {
                field: "noise_gain_max",
                value: format!("{:?}", self.noise_gain_max),
                expected: "must be in [1, 100]",
            });
        }
        positive("noise_gain_time_s", self.noise_gain_time_s)?;
        at_most(
            "noise_gain_time_s",
            self.noise_gain_time_s,
            DURATION_S_MAX,
            "must be at most 3600 s",
        )?;
        nonneg("box_motion_chi2_min", self.box_motion_chi2_min)?;
        at_most(
            "box_motion_chi2_min",
            self.box_motion_chi2_min,
            CHI2_MAX,
            "must be at most 1e6",
        )?;
        nonneg("box_motion_shift_min_rel", self.box_motion_shift_min_rel)?;
        at_most(
            "box_motion_shift_min_rel",
            self.box_motion_shift_min_rel,
            10.0,
            "must be at most 10",
        )?;
        if !(1..=MIN_HITS_MAX).contains(&self.min_hits) {
            return Err(InvalidTrackerConfig {
                field: "min_hits",
                value: self.min_hits.to_string(),
                expected: "must be in [1, 1000]",
            });
        }
        // The gate must be positive (0 matches nothing); a robust threshold of 0 is "off".
        positive("mahalanobis_gate_chi2", self.mahalanobis_gate_chi2)?;
        nonneg("robust_update_chi2", self.robust_update_chi2)?;
        for (field, v) in [
            ("mahalanobis_gate_chi2", self.mahalanobis_gate_chi2),
            ("robust_update_chi2", self.robust_update_chi2),
        ] {
            at_most(field, v, CHI2_MAX, "must be at most 1e6")?;
        }
        nonneg("oc_momentum_weight", self.oc_momentum_weight)?;
        at_most(
            "oc_momentum_weight",
            self.oc_momentum_weight,
            OC_MOMENTUM_WEIGHT_MAX,
            "must be at most 10",
        )?;
        positive("oc_momentum_delta_s", self.oc_momentum_delta_s)?;
        at_most(
            "oc_momentum_delta_s",
            self.oc_momentum_delta_s,
            OC_MOMENTUM_DELTA_S_MAX,
            "must be at most 60 s",
        )?;
        let n = &self.noise;
        for (field, v, zero_ok) in [
            ("noise.accel_std_rel_per_s2", n.accel_std_rel_per_s2, true),
            (
                "noise.size_accel_std_rel_per_s2",
                n.size_accel_std_rel_per_s2,
                true,
            ),
            ("noise.measurement_std_rel", n.measurement_std_rel, false),
            (
                "noise.size_measurement_std_rel",
                n.size_measurement_std_rel,
                false,
            ),
            (
                "noise.init_position_std_rel",
                n.init_position_std_rel,
                false,
            ),
            (
                "noise.init_velocity_std_rel_per_s",
                n.init_velocity_std_rel_per_s,
                false,
            ),
        ] {
            if zero_ok {
                nonneg(field, v)?;
            } else {
                positive(field, v)?;
            }
            at_most(field, v, NOISE_STD_REL_MAX, "must be at most 100 box sizes")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_roundtrip() {
        let c = TrackerConfig::default();
        c.validate().unwrap();
        let json = serde_json::to_string(&c).unwrap();
        let back: TrackerConfig = serde_json::from_str(&json).unwrap();
        assert_eq!(back, c);
    }

    #[test]
    fn unknown_fields_and_bad_ranges_are_rejected() {
        assert!(serde_json::from_str::<TrackerConfig>(r#"{"max_age": 1.0}"#).is_err());
        let partial: TrackerConfig = serde_json::from_str(r#"{"max_age_s": 0.5}"#).unwrap();
        assert_eq!(partial.max_age_s, 0.5);
        let bad = TrackerConfig {
            track_score_low_min: 0.9,
            ..TrackerConfig::default()
        };
        assert_eq!(bad.validate().unwrap_err().field, "track_score_low_min");
        let bad = TrackerConfig {
            max_age_s: f64::NAN,
            ..TrackerConfig::default()
        };
        assert_eq!(bad.validate().unwrap_err().field, "max_age_s");
        let bad = TrackerConfig {
            iou_match_min: 0.0,
            ..TrackerConfig::default()
        };
        assert_eq!(bad.validate().unwrap_err().field, "iou_match_min");
        let bad = TrackerConfig {
            oc_recovery_iou_min: 0.0,
            ..TrackerConfig::default()
        };
        assert_eq!(bad.validate().unwrap_err().field, "oc_recovery_iou_min");
        let bad = TrackerConfig {
            oc_momentum_delta_s: 0.0,
            ..TrackerConfig::default()
        };
        assert_eq!(bad.validate().unwrap_err().field, "oc_momentum_delta_s");
        let bad = TrackerConfig {
            oc_momentum_weight: -0.1,
            ..TrackerConfig::default()
        };
        assert_eq!(bad.validate().unwrap_err().field, "oc_momentum_weight");
        let bad = TrackerConfig {
            robust_update_chi2: f64::INFINITY,
            ..TrackerConfig::default()
        };
        assert_eq!(bad.validate().unwrap_err().field, "robust_update_chi2");
        let bad = TrackerConfig {
            output_track_score_min: 1.5,
            ..TrackerConfig::default()
        };
        assert_eq!(bad.validate().unwrap_err().field, "output_track_score_min");
        for time_s in [-0.1, f64::NAN, 4000.0] {
            let bad = TrackerConfig {
                track_score_time_s: time_s,
                ..TrackerConfig::default()
            };
            assert_eq!(bad.validate().unwrap_err().field, "track_score_time_s");
        }
        for groups in [vec!["car,,bus"], vec!["car,truck", "truck,bus"]] {
            let bad = TrackerConfig {
                class_groups: groups.into_iter().map(String::from).collect(),
                ..TrackerConfig::default()
            };
            assert_eq!(bad.validate().unwrap_err().field, "class_groups");
        }
    }

    #[test]
    fn class_groups_find_their_labels() {
        let c = TrackerConfig {
            class_groups: vec!["car, truck,bus".into(), "bicycle,motorcycle".into()],
            ..TrackerConfig::default()
        };
        c.validate().unwrap();
        let index = c.class_group_index();
        assert_eq!(index.get("truck"), Some(&0));
        assert_eq!(index.get("car"), Some(&0));
        assert_eq!(index.get("motorcycle"), Some(&1));
        assert_eq!(index.get("pedestrian"), None);
        assert_eq!(index.get("ca"), None);
    }

    #[test]
    fn huge_values_are_rejected_and_the_bounds_accepted() {
        let check = |f: fn(&mut TrackerConfig), field: &str| {
            let mut c = TrackerConfig::default();
            f(&mut c);
            assert_eq!(c.validate().unwrap_err().field, field);
        };
        check(|c| c.max_age_s = 1e300, "max_age_s");
        check(|c| c.output_lost_max_s = 3600.5, "output_lost_max_s");
        check(|c| c.oc_momentum_delta_s = 1e19, "oc_momentum_delta_s");
        check(|c| c.oc_momentum_weight = 11.0, "oc_momentum_weight");
        check(|c| c.min_hits = u32::MAX, "min_hits");
        check(|c| c.mahalanobis_gate_chi2 = 1e300, "mahalanobis_gate_chi2");
        check(|c| c.robust_update_chi2 = 2e6, "robust_update_chi2");
        check(
            |c| c.noise.accel_std_rel_per_s2 = 1e200,
            "noise.accel_std_rel_per_s2",
        );
        let largest = TrackerConfig {
            max_age_s: DURATION_S_MAX,
            output_lost_max_s: DURATION_S_MAX,
            oc_momentum_delta_s: OC_MOMENTUM_DELTA_S_MAX,
            oc_momentum_weight: OC_MOMENTUM_WEIGHT_MAX,
            min_hits: MIN_HITS_MAX,
            mahalanobis_gate_chi2: CHI2_MAX,
            robust_update_chi2: CHI2_MAX,
            noise: KalmanNoise {
                accel_std_rel_per_s2: NOISE_STD_REL_MAX,
                size_accel_std_rel_per_s2: NOISE_STD_REL_MAX,
                measurement_std_rel: NOISE_STD_REL_MAX,
                size_measurement_std_rel: NOISE_STD_REL_MAX,
                init_position_std_rel: NOISE_STD_REL_MAX,
                init_velocity_std_rel_per_s: NOISE_STD_REL_MAX,
            },
            ..TrackerConfig::default()
        };
        largest.validate().unwrap();
    }
}
