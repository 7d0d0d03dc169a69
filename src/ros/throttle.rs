//! Log throttling per camera: a camera that sends a bad frame at 30 Hz must not write 30 error
//! lines a second (they drown every other message and fill the disk of a car's logger).
//!
//! Input: each occurrence with the time it happened and a key (the error's text, or its kind when
//! the text changes every time). Output: whether to log it now and how many occurrences were
//! suppressed since the last line. An occurrence whose key differs from the last one logged is
//! always logged (a new problem is news); the same key again is logged at most once per period,
//! with the count suppressed in between. Counting every
//! occurrence stays the job of the diagnostics counters, which are never throttled.

use std::time::{Duration, Instant};

/// Seconds between two log lines of one kind for one camera.
pub const LOG_PERIOD: Duration = Duration::from_secs(5);

/// One kind of message for one camera.
#[derive(Debug, Clone, Default)]
pub struct LogThrottle {
    last_logged: Option<(Instant, String)>,
    suppressed: u64,
}

impl LogThrottle {
    /// `Some(suppressed since the last line)` when this occurrence should be logged, else `None`
    /// (and the occurrence is counted as suppressed).
    pub fn admit(&mut self, now: Instant, period: Duration, key: &str) -> Option<u64> {
        match &self.last_logged {
            Some((t, last_key))
                if last_key == key && now.saturating_duration_since(*t) < period =>
            {
                self.suppressed += 1;
                None
            }
            _ => {
                self.last_logged = Some((now, key.to_owned()));
                Some(std::mem::take(&mut self.suppressed))
            }
        }
    }
}

/// " (N more since the last report)" for a log line, empty when none was suppressed.
pub fn suppressed_note(suppressed: u64) -> String {
    if suppressed == 0 {
        String::new()
    } else {
        format!(" ({suppressed} more like it since the last report)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_per_period_with_the_count_in_between() {
        let t0 = Instant::now();
        let mut t = LogThrottle::default();
        let p = Duration::from_secs(5);
        assert_eq!(t.admit(t0, p, "short data"), Some(0));
        for k in 1..30 {
            assert_eq!(
                t.admit(t0 + Duration::from_millis(33 * k), p, "short data"),
                None
            );
        }
        assert_eq!(
            t.admit(t0 + Duration::from_secs(5), p, "short data"),
            Some(29)
        );
        assert_eq!(t.admit(t0 + Duration::from_secs(6), p, "short data"), None);
        // A different problem is logged at once (with the count of the one before).
        assert_eq!(t.admit(t0 + Duration::from_secs(7), p, "rgb42"), Some(1));
        assert_eq!(t.admit(t0 + Duration::from_secs(8), p, "rgb42"), None);
        assert_eq!(t.admit(t0 + Duration::from_secs(13), p, "rgb42"), Some(1));
        assert_eq!(suppressed_note(0), "");
        assert!(suppressed_note(3).contains('3'));
    }
}
