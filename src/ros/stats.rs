//! Per-camera counters and latency windows behind `/diagnostics`.
//!
//! Counters are totals since the start; rates are computed between two diagnostics reports from
//! the counter deltas and the wall-clock time between the reports. Latencies keep the last
//! [`WINDOW`] samples per series in [`crate::stats`]'s [`LatencyWindow`] (bounded, nearest-rank
//! p50/p99, the same statistics `lookout replay` prints).
//!
//! [`SilenceWatch`] turns "a publisher is matched but no image arrives" into an event (issue 17:
//! large best-effort images that the transport drops arrive as silence, not as errors). Its
//! inputs are the publisher count on the camera topic (from the ROS graph), the received counter
//! and a monotonic time in seconds; the node checks once per diagnostics report.

use std::collections::BTreeMap;

use crate::stats::LatencyWindow;

/// Samples kept per latency series.
pub const WINDOW: usize = 256;

/// Everything the node counts for one camera.
#[derive(Debug, Clone, Default)]
pub struct CameraStats {
    /// Messages taken from the subscription.
    pub received: u64,
    /// Frames the engine processed and whose outputs were published.
    pub published: u64,
    /// Messages that could not become a frame (bad size, unknown encoding, corrupt JPEG).
    pub decode_errors: u64,
    /// Frames the engine failed on.
    pub engine_errors: u64,
    /// Debug images drawn and published (only while another process subscribes).
    pub debug_images: u64,
    /// Frames whose stamp went back: the camera's tracker was restarted (engine time policy).
    pub tracker_resets: u64,
    /// Frames whose stamp repeated the previous one: detections only, no tracker update.
    pub duplicate_stamps: u64,
    /// The last decode or engine error, for the status message.
    pub last_error: Option<String>,
    /// Publishers on the camera topic at the last graph check (any QoS: a best-effort
    /// subscription matches reliable and best-effort publishers alike).
    pub publishers: usize,
    /// Message types of publishers on the topic that differ from the one the node expects.
    pub foreign_publisher_types: Vec<String>,
    /// With `ground.enabled`: where the camera's calibration comes from (`None` without the
    /// ground stage: no key in `/diagnostics`).
    pub calibration: Option<String>,
    /// Frames whose ground-plane objects were published (`ground.enabled`, calibrated).
    pub objects_published: u64,
    /// Latency series by name: `decode`, the engine's stages, `engine`, `node_overhead`,
    /// `end_to_end`, and `stamp_age` (ROS clock at receipt minus the header stamp).
    pub latency_ms: BTreeMap<String, LatencyWindow>,
}

impl CameraStats {
    pub fn record_latency(&mut self, series: &str, ms: f64) {
        self.latency_ms
            .entry(series.to_owned())
            .or_insert_with(|| LatencyWindow::new(WINDOW))
            .push_ms(ms);
    }
}

/// Input and output rates between two reports.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rates {
    pub input_hz: f64,
    pub output_hz: f64,
}

/// Rates from two snapshots of the counters `elapsed_s` apart (zero for a zero interval).
pub fn rates(before: &CameraStats, now: &CameraStats, elapsed_s: f64) -> Rates {
    if elapsed_s <= 0.0 {
        return Rates {
            input_hz: 0.0,
            output_hz: 0.0,
        };
    }
    Rates {
        input_hz: now.received.saturating_sub(before.received) as f64 / elapsed_s,
        output_hz: now.published.saturating_sub(before.published) as f64 / elapsed_s,
    }
}

/// The diagnostics key/value pairs for one camera, in a stable order.
pub fn key_values(stats: &CameraStats, dropped: u64, rates: Rates) -> Vec<(String, String)> {
    let mut kv = vec![
        ("input_rate_hz".to_owned(), format!("{:.2}", rates.input_hz)),
        (
            "output_rate_hz".to_owned(),
            format!("{:.2}", rates.output_hz),
        ),
        ("frames_received".to_owned(), stats.received.to_string()),
        ("frames_published".to_owned(), stats.published.to_string()),
        ("frames_dropped".to_owned(), dropped.to_string()),
        ("decode_errors".to_owned(), stats.decode_errors.to_string()),
        ("engine_errors".to_owned(), stats.engine_errors.to_string()),
        (
            "tracker_resets".to_owned(),
            stats.tracker_resets.to_string(),
        ),
        (
            "duplicate_stamps".to_owned(),
            stats.duplicate_stamps.to_string(),
        ),
        ("debug_images".to_owned(), stats.debug_images.to_string()),
        ("publishers".to_owned(), stats.publishers.to_string()),
    ];
    if let Some(calibration) = &stats.calibration {
        kv.push(("calibration".to_owned(), calibration.clone()));
        kv.push((
            "objects_published".to_owned(),
            stats.objects_published.to_string(),
        ));
    }
    for (series, window) in &stats.latency_ms {
        let summary = window.summary();
        if summary.count > 0 {
            kv.push((format!("{series}_ms_p50"), format!("{:.3}", summary.p50_ms)));
            kv.push((format!("{series}_ms_p99"), format!("{:.3}", summary.p99_ms)));
        }
    }
    kv
}

/// A change of a camera's silence state, for the log.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SilenceEvent {
    /// Publishers have been on the topic for `silent_s` seconds without an image arriving.
    Started { silent_s: f64 },
    /// Images arrive again after a reported silence.
    Ended,
}

/// Watches one camera for publishers that are matched but deliver nothing.
#[derive(Debug, Clone, Default)]
pub struct SilenceWatch {
    /// The received counter at the last check.
    received: u64,
    /// Since when (caller's clock, seconds) publishers were on the topic and nothing arrived.
    quiet_since_s: Option<f64>,
    /// The current silence was reported.
    reported: bool,
}

impl SilenceWatch {
    /// One check at `now_s`: `publishers` on the topic, `received` images so far, and the
    /// silence that is worth a warning, `warn_after_s`. Returns an event when the state changes.
    pub fn update(
        &mut self,
        now_s: f64,
        publishers: usize,
        received: u64,
        warn_after_s: f64,
    ) -> Option<SilenceEvent> {
        let new_images = received != self.received;
        self.received = received;
        if new_images || publishers == 0 {
            // Nothing is amiss while images arrive; without a publisher, silence is expected
            // (and reported as "no publisher", not as a transport problem).
            self.quiet_since_s = None;
            let was_reported = std::mem::replace(&mut self.reported, false);
            return (was_reported && new_images).then_some(SilenceEvent::Ended);
        }
        let since = *self.quiet_since_s.get_or_insert(now_s);
        let silent_s = now_s - since;
        if !self.reported && silent_s >= warn_after_s {
            self.reported = true;
            return Some(SilenceEvent::Started { silent_s });
        }
        None
    }

    /// Seconds of the current reported silence, `None` while there is none to report.
    pub fn silent_s(&self, now_s: f64) -> Option<f64> {
        self.quiet_since_s
            .filter(|_| self.reported)
            .map(|since| now_s - since)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_series_are_bounded() {
        let mut s = CameraStats::default();
        for i in 0..(WINDOW + 10) {
            s.record_latency("engine", i as f64);
        }
        let w = &s.latency_ms["engine"];
        assert_eq!(w.count(), (WINDOW + 10) as u64);
        assert_eq!(w.summary().max_ms, (WINDOW + 9) as f64);
        // The oldest ten samples have left the window.
        assert_eq!(w.summary().p50_ms, (10 + WINDOW / 2 - 1) as f64);
    }

    #[test]
    fn rates_from_deltas() {
        let before = CameraStats {
            received: 10,
            published: 8,
            ..Default::default()
        };
        let now = CameraStats {
            received: 30,
            published: 18,
            ..Default::default()
        };
        let r = rates(&before, &now, 2.0);
        assert!((r.input_hz - 10.0).abs() < 1e-9);
        assert!((r.output_hz - 5.0).abs() < 1e-9);
        assert_eq!(rates(&before, &now, 0.0).input_hz, 0.0);
    }

    #[test]
    fn silence_is_reported_once_after_the_threshold_and_ends_with_images() {
        let mut w = SilenceWatch::default();
        // No publisher: silence is not a transport problem.
        assert_eq!(w.update(0.0, 0, 0, 3.0), None);
        assert_eq!(w.update(10.0, 0, 0, 3.0), None);
        // A publisher appears at t = 11 s and nothing arrives.
        assert_eq!(w.update(11.0, 1, 0, 3.0), None);
        assert_eq!(w.update(13.0, 1, 0, 3.0), None);
        assert_eq!(w.silent_s(13.0), None, "not yet reported");
        assert_eq!(
            w.update(14.0, 1, 0, 3.0),
            Some(SilenceEvent::Started { silent_s: 3.0 })
        );
        // Reported once, then held.
        assert_eq!(w.update(15.0, 1, 0, 3.0), None);
        assert_eq!(w.silent_s(16.0), Some(5.0));
        // Images arrive: the silence ends, and a new one starts counting afresh.
        assert_eq!(w.update(17.0, 1, 4, 3.0), Some(SilenceEvent::Ended));
        assert_eq!(w.silent_s(17.0), None);
        assert_eq!(w.update(18.0, 1, 4, 3.0), None);
        assert_eq!(w.update(20.0, 1, 4, 3.0), None);
        assert!(matches!(
            w.update(21.0, 1, 4, 3.0),
            Some(SilenceEvent::Started { .. })
        ));
        // The publisher leaves: no silence to report any more, and no "images again" either.
        assert_eq!(w.update(22.0, 0, 4, 3.0), None);
        assert_eq!(w.silent_s(22.0), None);
    }

    #[test]
    fn key_values_name_every_counter_and_series() {
        let mut s = CameraStats {
            received: 3,
            decode_errors: 1,
            ..Default::default()
        };
        s.record_latency("engine", 12.0);
        let kv = key_values(
            &s,
            2,
            Rates {
                input_hz: 1.0,
                output_hz: 0.5,
            },
        );
        let get = |k: &str| kv.iter().find(|(key, _)| key == k).map(|(_, v)| v.clone());
        assert_eq!(get("frames_dropped").as_deref(), Some("2"));
        assert_eq!(get("decode_errors").as_deref(), Some("1"));
        assert_eq!(get("engine_ms_p50").as_deref(), Some("12.000"));
        assert_eq!(get("output_rate_hz").as_deref(), Some("0.50"));
        assert_eq!(get("publishers").as_deref(), Some("0"));
        assert_eq!(get("calibration"), None, "no ground stage, no key");
        s.calibration = Some("none yet".into());
        s.objects_published = 4;
        let kv = key_values(
            &s,
            0,
            Rates {
                input_hz: 0.0,
                output_hz: 0.0,
            },
        );
        let get = |k: &str| kv.iter().find(|(key, _)| key == k).map(|(_, v)| v.clone());
        assert_eq!(get("calibration").as_deref(), Some("none yet"));
        assert_eq!(get("objects_published").as_deref(), Some("4"));
    }
}
