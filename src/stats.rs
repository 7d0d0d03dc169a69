//! Latency statistics per pipeline stage: the stages ([`Stage`]), one frame's time in each
//! ([`StageTimings`], filled by the engine, replay and the ROS node), and a bounded window of
//! samples ([`LatencyWindow`], so a long-running node never grows without bound) with median,
//! p99 and mean.

use std::time::Duration;

/// The stages a frame goes through, in order; used as keys for timings everywhere.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Stage {
    /// Reading the message from the recording or the wire.
    Read,
    /// Image decode and colour conversion to RGB8.
    Decode,
    /// Letterbox resize into the network input.
    Preprocess,
    /// The network's forward pass.
    Forward,
    /// YOLO decoding, NMS and the transform back to image pixels.
    Postprocess,
    /// Camera-motion estimation between this frame and the previous one ([`crate::motion`]);
    /// zero when `camera_motion.enabled` is off.
    Gmc,
    /// The multi-object tracker update.
    Track,
    /// Encoding and writing (or publishing) the results.
    Write,
}

impl Stage {
    pub const ALL: [Stage; 8] = [
        Stage::Read,
        Stage::Decode,
        Stage::Preprocess,
        Stage::Forward,
        Stage::Postprocess,
        Stage::Gmc,
        Stage::Track,
        Stage::Write,
    ];

    /// The stages [`crate::engine::Engine::process`] times (read, decode and write belong to
    /// its caller: the replay threads or the ROS node).
    pub const ENGINE: [Stage; 5] = [
        Stage::Preprocess,
        Stage::Forward,
        Stage::Postprocess,
        Stage::Gmc,
        Stage::Track,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Stage::Read => "read",
            Stage::Decode => "decode",
            Stage::Preprocess => "preprocess",
            Stage::Forward => "forward",
            Stage::Postprocess => "postprocess",
            Stage::Gmc => "gmc",
            Stage::Track => "track",
            Stage::Write => "write",
        }
    }
}

/// The time one frame spent in each stage (zero for stages it did not go through).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct StageTimings {
    pub durations: [Duration; Stage::ALL.len()],
}

impl StageTimings {
    pub fn set(&mut self, stage: Stage, d: Duration) {
        self.durations[stage as usize] = d;
    }
    pub fn get(&self, stage: Stage) -> Duration {
        self.durations[stage as usize]
    }
}

/// What the engine's time policy did on one camera stream (see [`crate::engine`]): counters
/// since the start, shown by the replay summary and meant for the node's diagnostics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct StreamTimeStats {
    /// Frames whose stamp was earlier than the stream's previous one: the tracker was
    /// restarted (a looped recording, a simulation reset, a driver restarting at 0).
    pub tracker_resets: u64,
    /// Frames whose stamp equalled the previous one: detections published, tracker not updated.
    pub duplicate_stamps: u64,
}

impl StreamTimeStats {
    /// No event counted.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// The last `capacity` samples of one quantity, in milliseconds.
#[derive(Debug, Clone)]
pub struct LatencyWindow {
    samples_ms: Vec<f64>,
    next: usize,
    capacity: usize,
    count: u64,
}

/// Summary statistics of a window.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct LatencySummary {
    pub count: u64,
    pub mean_ms: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

impl LatencyWindow {
    /// A window keeping at most `capacity` samples (at least one).
    pub fn new(capacity: usize) -> Self {
        Self {
            samples_ms: Vec::new(),
            next: 0,
            capacity: capacity.max(1),
            count: 0,
        }
    }

    pub fn push(&mut self, d: Duration) {
        self.push_ms(d.as_secs_f64() * 1e3);
    }

    pub fn push_ms(&mut self, ms: f64) {
        if self.samples_ms.len() < self.capacity {
            self.samples_ms.push(ms);
        } else {
            self.samples_ms[self.next] = ms;
        }
        self.next = (self.next + 1) % self.capacity;
        self.count += 1;
    }

    /// Total samples ever pushed (not only those in the window).
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Nearest-rank percentiles over the samples in the window.
    pub fn summary(&self) -> LatencySummary {
        if self.samples_ms.is_empty() {
            return LatencySummary::default();
        }
        let mut sorted = self.samples_ms.clone();
        sorted.sort_by(f64::total_cmp);
        let rank = |p: f64| {
            let i = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
            sorted[i.clamp(1, sorted.len()) - 1]
        };
        LatencySummary {
            count: self.count,
            mean_ms: sorted.iter().sum::<f64>() / sorted.len() as f64,
            p50_ms: rank(50.0),
            p99_ms: rank(99.0),
            max_ms: sorted[sorted.len() - 1],
        }
    }
}

/// One window per stage.
#[derive(Debug, Clone)]
pub struct StageStats {
    windows: Vec<LatencyWindow>,
}

impl StageStats {
    pub fn new(capacity: usize) -> Self {
        Self {
            windows: Stage::ALL
                .iter()
                .map(|_| LatencyWindow::new(capacity))
                .collect(),
        }
    }

    /// Adds a frame's timings; stages with zero time (not visited) are not counted.
    pub fn record(&mut self, timings: &StageTimings) {
        for stage in Stage::ALL {
            let d = timings.get(stage);
            if !d.is_zero() {
                self.windows[stage as usize].push(d);
            }
        }
    }

    pub fn summary(&self, stage: Stage) -> LatencySummary {
        self.windows[stage as usize].summary()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_nearest_rank() {
        let mut w = LatencyWindow::new(1000);
        for i in 1..=100 {
            w.push_ms(i as f64);
        }
        let s = w.summary();
        assert_eq!(s.p50_ms, 50.0);
        assert_eq!(s.p99_ms, 99.0);
        assert_eq!(s.max_ms, 100.0);
        assert!((s.mean_ms - 50.5).abs() < 1e-9);
    }

    #[test]
    fn window_is_bounded() {
        let mut w = LatencyWindow::new(10);
        for i in 0..1000 {
            w.push_ms(i as f64);
        }
        assert_eq!(w.count(), 1000);
        let s = w.summary();
        assert_eq!(s.p50_ms, 994.0);
        assert_eq!(s.max_ms, 999.0);
    }

    #[test]
    fn empty_window_is_zero() {
        assert_eq!(LatencyWindow::new(4).summary(), LatencySummary::default());
    }
}
