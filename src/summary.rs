//! What a replay did: [`ReplaySummary`] (frames, detections and track ids per stream, per-stage
//! latency), built frame by frame by [`crate::replay`], printed by `lookout replay` and written
//! as JSON (`--summary-json`), which `lookout eval --report` reads for its latency histograms.
//!
//! Pure: values in, values out; the JSON file is written by the replay's summary sink.

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::engine::{FrameOutput, TimeEvent};
use crate::stats::{LatencySummary, Stage, StageStats, StreamTimeStats};
use crate::types::Frame;

/// Counts and timings of a replay, printed at the end and returned to callers.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct ReplaySummary {
    pub input: PathBuf,
    pub output: PathBuf,
    pub frames: u64,
    pub frames_per_stream: BTreeMap<String, u64>,
    pub skipped_frames: u64,
    pub detections: u64,
    pub detections_per_class: BTreeMap<String, u64>,
    pub track_ids_per_stream: BTreeMap<String, u64>,
    /// The engine's time policy per stream ([`crate::engine`]): tracker restarts after a stamp
    /// went back, frames with a repeated stamp. Streams without either are left out.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub time_per_stream: BTreeMap<String, StreamTimeStats>,
    pub wall_s: f64,
    pub frames_per_s: f64,
    /// Per-stage latency, in pipeline order.
    pub stages: Vec<(&'static str, LatencySummary)>,
    /// True when a stop request (Ctrl-C) ended the replay before the end of the input.
    pub interrupted: bool,
    /// Per-frame time of each stage in ms (the first [`STAGE_SAMPLES_MAX`] frames), for the
    /// latency histograms of `lookout eval --report`.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub stage_samples_ms: BTreeMap<&'static str, Vec<f64>>,
}

/// Per-frame stage times kept in [`ReplaySummary::stage_samples_ms`] (bounded memory).
pub const STAGE_SAMPLES_MAX: usize = 1 << 16;

impl ReplaySummary {
    /// Counts one processed frame: frames, detections per class, highest track id per stream,
    /// and the frame's stage times (complete, write included) as samples.
    pub fn add_frame(&mut self, frame: &Frame, output: &FrameOutput) {
        for stage in Stage::ALL {
            let samples = self.stage_samples_ms.entry(stage.name()).or_default();
            if samples.len() < STAGE_SAMPLES_MAX {
                samples.push(output.timings.get(stage).as_secs_f64() * 1e3);
            }
        }
        self.frames += 1;
        *self
            .frames_per_stream
            .entry(frame.stream.clone())
            .or_default() += 1;
        self.detections += output.detections.len() as u64;
        for d in &output.detections {
            *self
                .detections_per_class
                .entry(d.label.clone())
                .or_default() += 1;
        }
        if let Some(event) = output.time_event {
            let time = self
                .time_per_stream
                .entry(frame.stream.clone())
                .or_default();
            match event {
                TimeEvent::DuplicateStamp { .. } => time.duplicate_stamps += 1,
                TimeEvent::TrackerReset { .. } => time.tracker_resets += 1,
            }
        }
        if let Some(max_id) = output.tracks.iter().map(|t| t.id).max() {
            let e = self
                .track_ids_per_stream
                .entry(frame.stream.clone())
                .or_default();
            *e = (*e).max(max_id);
        }
    }

    /// Sets the per-stage latency from `stats`; stages no frame went through are left out,
    /// and so are their samples.
    pub fn set_stages(&mut self, stats: &StageStats) {
        for stage in Stage::ALL {
            let s = stats.summary(stage);
            if s.count > 0 {
                self.stages.push((stage.name(), s));
            } else {
                self.stage_samples_ms.remove(stage.name());
            }
        }
    }

    /// Sets the wall time and the frame rate over it.
    pub fn set_wall_s(&mut self, wall_s: f64) {
        self.wall_s = wall_s;
        self.frames_per_s = if wall_s > 0.0 {
            self.frames as f64 / wall_s
        } else {
            0.0
        };
    }
}

impl std::fmt::Display for ReplaySummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "replay {} -> {}",
            self.input.display(),
            self.output.display()
        )?;
        if self.interrupted {
            writeln!(
                f,
                "  INTERRUPTED: the output holds every frame processed before the stop"
            )?;
        }
        writeln!(
            f,
            "  frames: {} ({:.1} frames/s over {:.1} s wall){}",
            self.frames,
            self.frames_per_s,
            self.wall_s,
            if self.skipped_frames > 0 {
                format!(", {} skipped (undecodable)", self.skipped_frames)
            } else {
                String::new()
            }
        )?;
        for (stream, n) in &self.frames_per_stream {
            let ids = self.track_ids_per_stream.get(stream).copied().unwrap_or(0);
            write!(f, "    {stream}: {n} frames, {ids} track ids")?;
            if let Some(time) = self.time_per_stream.get(stream) {
                write!(
                    f,
                    ", {} tracker resets (stamp went back), {} repeated stamps",
                    time.tracker_resets, time.duplicate_stamps
                )?;
            }
            writeln!(f)?;
        }
        writeln!(f, "  detections: {}", self.detections)?;
        for (class, n) in &self.detections_per_class {
            writeln!(f, "    {class:<14} {n}")?;
        }
        writeln!(f, "  per-stage time per frame (ms):   p50     p99    mean")?;
        for (stage, s) in &self.stages {
            writeln!(
                f,
                "    {stage:<12} {:>18.2} {:>7.2} {:>7.2}",
                s.p50_ms, s.p99_ms, s.mean_ms
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::StageTimings;
    use crate::types::{BBox, Detection, Header, RgbImage, Time};
    use std::time::Duration;

    #[test]
    fn frames_are_counted_and_unvisited_stages_left_out() {
        let frame = Frame {
            stream: "/cam".into(),
            index: 0,
            header: Header {
                stamp: Time { sec: 1, nanosec: 0 },
                frame_id: "cam".into(),
            },
            image: RgbImage::new(4, 4),
        };
        let mut timings = StageTimings::default();
        timings.set(Stage::Forward, Duration::from_millis(5));
        let output = FrameOutput {
            detections: vec![Detection {
                bbox: BBox::from_tlwh(0.0, 0.0, 1.0, 1.0),
                class_index: 0,
                label: "pedestrian".into(),
                score: 0.5,
            }],
            objects: Vec::new(),
            tracks: Vec::new(),
            timings,
            time_event: None,
        };
        let mut summary = ReplaySummary::default();
        let mut stats = StageStats::new(16);
        for _ in 0..2 {
            summary.add_frame(&frame, &output);
            stats.record(&output.timings);
        }
        summary.set_stages(&stats);
        summary.set_wall_s(0.5);
        assert_eq!(summary.frames, 2);
        assert_eq!(summary.frames_per_stream["/cam"], 2);
        assert_eq!(summary.detections_per_class["pedestrian"], 2);
        assert_eq!(summary.frames_per_s, 4.0);
        assert_eq!(summary.stages.len(), 1);
        assert_eq!(summary.stages[0].0, "forward");
        assert_eq!(
            summary.stage_samples_ms.keys().copied().collect::<Vec<_>>(),
            ["forward"]
        );
        assert_eq!(summary.stage_samples_ms["forward"], [5.0, 5.0]);
        assert!(summary.time_per_stream.is_empty());
        let reset = FrameOutput {
            time_event: Some(TimeEvent::TrackerReset {
                previous_ns: 5,
                stamp_ns: 1,
            }),
            ..output.clone()
        };
        summary.add_frame(&frame, &reset);
        assert_eq!(summary.time_per_stream["/cam"].tracker_resets, 1);
        assert!(summary.to_string().contains("1 tracker resets"));
    }
}
