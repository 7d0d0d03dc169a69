//! Multi-object tracking: Kalman filters on nalgebra, ByteTrack-style association, time from
//! header stamps.
//!
//! * [`kalman`]: constant-velocity filter of `[cx, cy, w, h]` in image pixels, pure
//!   `predict`/`update` with `dt` in seconds, Joseph-form update.
//! * [`assign`]: optimal assignment (Kuhn–Munkres on connected components).
//! * [`tracker`]: the [`Tracker`] stage: detections with a stamp in, [`TrackOutput`]s out;
//!   its update runs as named steps (predict, group, association passes, recovery, filter
//!   updates, commit, report) over one set of reused buffers.
//! * `candidates`: the feasible (track, detection) pairs of one association pass and their
//!   similarity (IoU, score fusion, OC-SORT momentum), found by a sweep over sorted boxes.
//! * `observations`: a track's latest observed boxes in a fixed ring (OC-SORT's momentum,
//!   recovery and re-update read them).
//! * [`gmc`]: camera-motion compensation: a frame-to-frame image transform applied to every
//!   track's belief and observations before association
//!   ([`Tracker::update_with_camera_motion`]).
//! * [`box_motion`]: camera motion estimated from the tracks' predicted boxes and the
//!   detections alone (no image), applied the same way before association.
//! * [`config`]: [`TrackerConfig`], the `tracking:` block of the parameter file.
//!
//! Inputs and outputs are plain values ([`crate::types::Detection`], [`crate::types::Time`]);
//! no clocks, files or channels in here.

pub mod assign;
pub mod box_motion;
mod candidates;
pub mod config;
pub mod gmc;
pub mod kalman;
mod observations;
pub mod tracker;

pub use config::{DetectorProfile, InvalidTrackerConfig, TrackerConfig};
pub use kalman::{KalmanError, KalmanNoise};
pub use tracker::{TrackOutput, TrackState, Tracker};

/// A tracker update that cannot be applied. The tracker is unchanged after any of these.
#[derive(Debug, thiserror::Error)]
pub enum TrackError {
    #[error(transparent)]
    Config(#[from] InvalidTrackerConfig),
    /// Stamps must strictly increase within a stream (see [`tracker`] for the policy).
    #[error(
        "stamp {stamp_ns} ns is {} the previous update's {previous_ns} ns; stamps must strictly increase",
        if stamp_ns == previous_ns { "equal to" } else { "earlier than" }
    )]
    NonMonotonicStamp { previous_ns: i64, stamp_ns: i64 },
    #[error("detection {index}: {reason}")]
    InvalidDetection { index: usize, reason: String },
    #[error("Kalman filter of track {track_id}: {source}")]
    Kalman {
        track_id: u64,
        #[source]
        source: KalmanError,
    },
}
