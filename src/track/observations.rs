//! The observations a track keeps: its latest matched detections as observed (not filtered),
//! in a fixed ring with no heap allocation.
//!
//! Input: one [`Observation`] (stamp in ns, box `[cx, cy, w, h]` in image pixels) per match.
//! Output: the newest observation, the one nearest a baseline before a reference stamp, and
//! the unit direction of the observed motion over that baseline. These are what OC-SORT (Cao
//! et al., *Observation-Centric SORT*, CVPR 2023) uses for its momentum term (OCM, §4.2),
//! recovery pass (OCR, §4.3, the last observed box) and re-update (ORU, §4.1, the last
//! observation).

use super::kalman::MeasurementVector;

/// A matched detection as it was observed (not filtered).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Observation {
    pub(super) stamp_ns: i64,
    /// `[cx, cy, w, h]` in image pixels.
    pub(super) z: MeasurementVector,
}

/// How many past observations a track keeps for OC-SORT's momentum term: enough for a
/// `oc_momentum_delta_s` of a few tenths of a second at 30 frames/s.
pub(super) const OBSERVATION_HISTORY: usize = 16;

/// The latest [`OBSERVATION_HISTORY`] observations of a track, in a fixed ring (no heap).
#[derive(Debug, Clone, Copy)]
pub(super) struct Observations {
    ring: [Observation; OBSERVATION_HISTORY],
    len: usize,
    /// Index of the newest entry.
    newest: usize,
}

impl Observations {
    pub(super) fn new(first: Observation) -> Self {
        Self {
            ring: [first; OBSERVATION_HISTORY],
            len: 1,
            newest: 0,
        }
    }

    pub(super) fn push(&mut self, o: Observation) {
        self.newest = (self.newest + 1) % OBSERVATION_HISTORY;
        self.ring[self.newest] = o;
        self.len = (self.len + 1).min(OBSERVATION_HISTORY);
    }

    /// Replaces every stored box `z` by `f(z)` (camera-motion compensation moves them all into
    /// the current frame's pixels).
    pub(super) fn map_boxes(&mut self, f: impl Fn(&MeasurementVector) -> MeasurementVector) {
        for o in &mut self.ring {
            o.z = f(&o.z);
        }
    }

    /// Newest first.
    pub(super) fn iter(&self) -> impl Iterator<Item = &Observation> + '_ {
        (0..self.len)
            .map(move |k| &self.ring[(self.newest + OBSERVATION_HISTORY - k) % OBSERVATION_HISTORY])
    }

    pub(super) fn last(&self) -> &Observation {
        &self.ring[self.newest]
    }

    /// The observation whose stamp is nearest `reference_ns - delta_ns`, among those strictly
    /// before `reference_ns` (ties: the newer one); `None` if there is none.
    pub(super) fn nearest_before(&self, reference_ns: i64, delta_ns: i64) -> Option<&Observation> {
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
    pub(super) fn direction(&self, delta_ns: i64) -> Option<[f64; 2]> {
        let last = self.last();
        let from = self.nearest_before(last.stamp_ns, delta_ns)?;
        unit_direction(&from.z, &last.z)
    }
}

/// Unit vector from box centre `a` to box centre `b`; `None` when they coincide.
pub(super) fn unit_direction(a: &MeasurementVector, b: &MeasurementVector) -> Option<[f64; 2]> {
    let (dx, dy) = (b[0] - a[0], b[1] - a[1]);
    // Pixel offsets: no need for `hypot`'s overflow guard, which costs several times more.
    let n = (dx * dx + dy * dy).sqrt();
    (n > 1e-9).then(|| [dx / n, dy / n])
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
