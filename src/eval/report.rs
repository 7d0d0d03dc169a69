//! The evaluation report: one self-contained HTML file (no scripts, no external files; plots as
//! inline SVG drawn by `plotters`' SVG backend, sample frames as inline base64 images) that a
//! reviewer reads in a minute. Sections (each a `<section id=...>`, which the Chromium
//! screenshot test, tests/report_chromium.rs, looks up):
//! - `scores`: the scores, or, without ground truth, that none was given and how to pass it;
//! - `counts`: detections and distinct tracks per class, tracks per frame (no ground truth
//!   needed);
//! - the notes on what was left out or could not be computed;
//! - `pr-curve`: the precision-recall curve of the scored class (with AP50);
//! - `latency`: per-stage latency histograms in pipeline order with the median marked (from
//!   `lookout replay --summary-json`, which holds each stage's per-frame times), and the
//!   p50/p99 table;
//! - `per-frame`: detections and tracks per frame over time;
//! - `birds-eye`: when the replay has ground objects (`<camera>/objects/tracked`), a top view
//!   of their trajectories in `base_link` (x forward up, y left to the left, metres, one
//!   colour per track id) and the walking speeds they imply;
//! - `samples`: a strip of annotated sample frames, when the caller has some.
//!
//! Each missing piece is replaced by a sentence saying why, so a report is always written.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use plotters::prelude::*;

use super::{EvalError, Evaluation};

/// Plot size, px.
const PLOT_W: u32 = 640;
const PLOT_H: u32 = 360;
/// Width of plots over time, px: a long sequence needs the room.
const WIDE_W: u32 = 1100;

/// One sample frame for the strip: a caption and encoded image bytes (`image/jpeg` or
/// `image/png`).
#[derive(Debug, Clone)]
pub struct SampleFrame {
    pub caption: String,
    pub mime: &'static str,
    pub bytes: Vec<u8>,
}

/// What goes into a report.
#[derive(Debug, Clone, Default)]
pub struct ReportInputs<'a> {
    /// The evaluation, or `None` when it could not run (then `error` says why).
    pub evaluation: Option<&'a Evaluation>,
    pub error: Option<String>,
    /// `lookout replay --summary-json` output.
    pub replay_summary: Option<&'a serde_json::Value>,
    pub samples: Vec<SampleFrame>,
    /// The replay's ground objects as paths ([`ground_tracks`]); empty: no bird's-eye plot.
    pub ground_tracks: Vec<GroundTrack>,
}

/// One object's path on the ground in `base_link`, from a replay's TrackedObjects topic.
#[derive(Debug, Clone, PartialEq)]
pub struct GroundTrack {
    pub topic: String,
    /// The track id (the UUID's last 8 bytes).
    pub id: u64,
    pub pedestrian: bool,
    /// Per message: stamp (s), the object's reported position `[x, y]` (m) and speed (m/s).
    pub samples: Vec<(f64, [f64; 2], f64)>,
}

impl GroundTrack {
    /// The median speed once the filter has had `settle_s` seconds, if the track lasted that long.
    pub fn median_speed_mps(&self, settle_s: f64) -> Option<f64> {
        let t0 = self.samples.first()?.0;
        let mut v: Vec<f64> = self
            .samples
            .iter()
            .filter(|(t, _, _)| *t >= t0 + settle_s)
            .map(|s| s.2)
            .collect();
        median(&mut v)
    }
}

fn median(v: &mut [f64]) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    Some(v[v.len() / 2])
}

/// Seconds a ground track is given before its speed counts (the filter's convergence).
const SPEED_SETTLE_S: f64 = 2.0;

/// The ground objects of every `autoware_perception_msgs/TrackedObjects` topic of `replay`,
/// per topic and track id, in time order. A replay without ground objects gives none.
pub fn ground_tracks(replay: &Path) -> Result<Vec<GroundTrack>, EvalError> {
    use crate::msgs::{from_cdr, ObjectClassification, RosMessage, TrackedObjects};
    let schema = TrackedObjects::SCHEMA_NAME;
    let topics = crate::mcap_io::McapTopicSource::topics_with_schema(replay, schema)?;
    let mut tracks: std::collections::BTreeMap<(String, u64), GroundTrack> = Default::default();
    for msg in crate::mcap_io::McapTopicSource::open(replay, schema, &topics)? {
        let msg = msg?;
        let objects: TrackedObjects = from_cdr(&msg.data).map_err(|e| EvalError::GroundDecode {
            path: replay.to_owned(),
            topic: msg.topic.to_string(),
            index: msg.index,
            detail: e.to_string(),
        })?;
        let t = objects.header.stamp.as_secs_f64();
        for o in &objects.objects {
            let id = crate::ground::planner::track_id(o);
            let p = &o.kinematics.pose_with_covariance.pose.position;
            let v = &o.kinematics.twist_with_covariance.twist.linear;
            let track = tracks
                .entry((msg.topic.to_string(), id))
                .or_insert_with(|| GroundTrack {
                    topic: msg.topic.to_string(),
                    id,
                    pedestrian: o
                        .classification
                        .first()
                        .is_some_and(|c| c.label == ObjectClassification::PEDESTRIAN),
                    samples: Vec::new(),
                });
            track.samples.push((t, [p.x, p.y], v.x.hypot(v.y)));
        }
    }
    Ok(tracks.into_values().collect())
}

/// Top view of the ground tracks: x forward pointing up, y left pointing left, equal scale,
/// one colour per track id ([`crate::viz::track_color`]), the `base_link` origin marked.
pub fn birds_eye_svg(tracks: &[GroundTrack]) -> Plot {
    let points = tracks.iter().flat_map(|t| t.samples.iter().map(|s| s.1));
    let (mut x_lo, mut x_hi, mut y_lo, mut y_hi) = (0.0f64, 1.0f64, -1.0f64, 1.0f64);
    let mut any = false;
    for [x, y] in points.filter(|p| p[0].is_finite() && p[1].is_finite()) {
        (x_lo, x_hi, y_lo, y_hi) = (x_lo.min(x), x_hi.max(x), y_lo.min(y), y_hi.max(y));
        any = true;
    }
    if !any {
        return Err("no ground object has a position".into());
    }
    // Equal metres per pixel on both axes: widen the shorter extent around its centre.
    let (w_px, h_px) = (PLOT_W as f64 - 70.0, PLOT_W as f64 - 90.0);
    let scale = ((y_hi - y_lo) / w_px).max((x_hi - x_lo) / h_px) * 1.05;
    let (xc, yc) = ((x_hi + x_lo) / 2.0, (y_hi + y_lo) / 2.0);
    let (x_lo, x_hi) = (xc - scale * h_px / 2.0, xc + scale * h_px / 2.0);
    // The horizontal axis is -y, so that left (y > 0) is on the left.
    let (u_lo, u_hi) = (-yc - scale * w_px / 2.0, -yc + scale * w_px / 2.0);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (PLOT_W, PLOT_W)).into_drawing_area();
        root.fill(&WHITE).map_err(plot_error)?;
        let mut chart = ChartBuilder::on(&root)
            .caption("ground tracks, top view (base_link)", ("sans-serif", 18))
            .margin(10)
            .x_label_area_size(40)
            .y_label_area_size(50)
            .build_cartesian_2d(u_lo..u_hi, x_lo..x_hi)
            .map_err(plot_error)?;
        let left = |u: &f64| format!("{:.0}", -u + 0.0);
        chart
            .configure_mesh()
            .x_desc("y (m, left is positive)")
            .y_desc("x (m, forward)")
            .x_label_formatter(&left)
            .draw()
            .map_err(plot_error)?;
        for t in tracks {
            let [r, g, b] = crate::viz::track_color(t.id);
            chart
                .draw_series(LineSeries::new(
                    t.samples.iter().map(|s| (-s.1[1], s.1[0])),
                    RGBColor(r, g, b).stroke_width(3),
                ))
                .map_err(plot_error)?;
            if let Some(last) = t.samples.last() {
                chart
                    .draw_series(std::iter::once(Circle::new(
                        (-last.1[1], last.1[0]),
                        4,
                        RGBColor(r, g, b).filled(),
                    )))
                    .map_err(plot_error)?;
            }
        }
        chart
            .draw_series(std::iter::once(TriangleMarker::new(
                (0.0, 0.0),
                7,
                BLACK.filled(),
            )))
            .map_err(plot_error)?;
        root.present().map_err(plot_error)?;
    }
    Ok(svg)
}

/// The bird's-eye plot and the speeds of the ground tracks.
fn ground_section(html: &mut String, tracks: &[GroundTrack]) {
    html.push_str("<section id=\"birds-eye\"><h2>Ground tracks (bird's-eye view)</h2>");
    match birds_eye_svg(tracks) {
        Ok(svg) => {
            let _ = write!(html, "<div class=\"plot\">{svg}</div>");
        }
        Err(why) => {
            let _ = write!(html, "<p class=\"missing\">Not shown: {}</p>", esc(&why));
        }
    }
    let mut speeds: Vec<f64> = tracks
        .iter()
        .filter(|t| t.pedestrian)
        .filter_map(|t| t.median_speed_mps(SPEED_SETTLE_S))
        .collect();
    let n = speeds.len();
    match median(&mut speeds) {
        Some(m) => {
            let _ = write!(
                html,
                "<p id=\"walking-speeds\">Pedestrian speeds (median per track after {SPEED_SETTLE_S} s, {n} tracks): median {m:.2} m/s, 25th-75th percentile {:.2}-{:.2} m/s. Everyday walking is 1-1.5 m/s; far off, the calibration or the camera pose is.</p>",
                speeds[n / 4],
                speeds[(3 * n) / 4]
            );
        }
        None => html.push_str(
            "<p class=\"missing\">No pedestrian track lasted long enough for a speed.</p>",
        ),
    }
    html.push_str("</section>\n");
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// An SVG plot, or a sentence why there is none.
type Plot = Result<String, String>;

fn plot_error<E: std::fmt::Display>(e: E) -> String {
    format!("the plot could not be drawn: {e}")
}

/// Precision over recall.
pub fn pr_curve_svg(recall: &[f64], precision: &[f64], title: &str) -> Plot {
    if recall.is_empty() {
        return Err("no detection was judged, so there is no precision-recall curve".into());
    }
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (PLOT_W, PLOT_H)).into_drawing_area();
        root.fill(&WHITE).map_err(plot_error)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 18))
            .margin(10)
            .x_label_area_size(40)
            .y_label_area_size(50)
            .build_cartesian_2d(0.0f64..1.0, 0.0f64..1.02)
            .map_err(plot_error)?;
        chart
            .configure_mesh()
            .x_desc("recall")
            .y_desc("precision")
            .draw()
            .map_err(plot_error)?;
        chart
            .draw_series(LineSeries::new(
                recall.iter().copied().zip(precision.iter().copied()),
                BLUE.stroke_width(2),
            ))
            .map_err(plot_error)?;
        root.present().map_err(plot_error)?;
    }
    Ok(svg)
}

/// One line of [`per_frame_svg`]: name, value per frame, colour, stroke width (px). Lines are
/// drawn in order, so a wide line drawn first still shows around a thin one that equals it.
pub type Series<'a> = (&'a str, &'a [u32], RGBColor, u32);

/// Counts per frame over time, one line per series.
pub fn per_frame_svg(series: &[Series<'_>], title: &str) -> Plot {
    let frames = series.iter().map(|s| s.1.len()).max().unwrap_or(0);
    if frames == 0 {
        return Err("no frame to plot".into());
    }
    let y_max = series
        .iter()
        .flat_map(|s| s.1.iter().copied())
        .max()
        .unwrap_or(0)
        .max(1);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDE_W, PLOT_H)).into_drawing_area();
        root.fill(&WHITE).map_err(plot_error)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 18))
            .margin(10)
            .x_label_area_size(40)
            .y_label_area_size(50)
            // Headroom above the highest line for the legend.
            .build_cartesian_2d(1u32..(frames as u32).max(2), 0u32..(y_max * 4 / 3 + 2))
            .map_err(plot_error)?;
        chart
            .configure_mesh()
            .x_desc("frame (MOT numbering, from 1)")
            .y_desc("boxes")
            .draw()
            .map_err(plot_error)?;
        for (name, values, colour, width) in series {
            let colour = *colour;
            chart
                .draw_series(LineSeries::new(
                    values.iter().enumerate().map(|(i, v)| (i as u32 + 1, *v)),
                    colour.stroke_width(*width),
                ))
                .map_err(plot_error)?
                .label(*name)
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], colour.stroke_width(3))
                });
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()
            .map_err(plot_error)?;
        root.present().map_err(plot_error)?;
    }
    Ok(svg)
}

/// A histogram of one stage's per-frame times.
pub fn latency_histogram_svg(stage: &str, samples_ms: &[f64]) -> Plot {
    let finite: Vec<f64> = samples_ms
        .iter()
        .copied()
        .filter(|v| v.is_finite())
        .collect();
    if finite.is_empty() {
        return Err(format!("no time recorded for stage {stage}"));
    }
    const BINS: usize = 30;
    let mut sorted = finite.clone();
    sorted.sort_by(f64::total_cmp);
    let quantile = |q: f64| sorted[((sorted.len() - 1) as f64 * q).round() as usize];
    let (p50, p99) = (quantile(0.5), quantile(0.99));
    let max = sorted[sorted.len() - 1].max(1e-3);
    // A few slow frames (the first decode, a cache miss) would squeeze the body of the
    // distribution into one bar: past 1.5x the 99th percentile, the axis ends at 1.2x it and
    // the slower frames are counted in the last bar, which the axis title says.
    let x_max = if max <= 1.5 * p99 { max } else { 1.2 * p99 };
    let slower = finite.iter().filter(|v| **v > x_max).count();
    let width = x_max / BINS as f64;
    let mut counts = [0u32; BINS];
    for v in &finite {
        let b = ((v / width) as usize).min(BINS - 1);
        counts[b] += 1;
    }
    let top = counts.iter().copied().max().unwrap_or(1).max(1);
    let x_desc = if slower > 0 {
        format!("ms (last bar: +{slower} slower, up to {max:.1} ms)")
    } else {
        "ms".to_owned()
    };
    let mut svg = String::new();
    {
        let root =
            SVGBackend::with_string(&mut svg, (PLOT_W / 2, PLOT_H * 2 / 3)).into_drawing_area();
        root.fill(&WHITE).map_err(plot_error)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(
                format!("{stage}: p50 {p50:.2} ms, {} frames", finite.len()),
                ("sans-serif", 15),
            )
            .margin(8)
            .x_label_area_size(30)
            .y_label_area_size(40)
            .build_cartesian_2d(0.0f64..x_max * 1.001, 0u32..top + 1)
            .map_err(plot_error)?;
        chart
            .configure_mesh()
            .x_desc(x_desc)
            .y_desc("frames")
            .x_labels(5)
            .draw()
            .map_err(plot_error)?;
        chart
            .draw_series(counts.iter().enumerate().map(|(i, c)| {
                let x0 = i as f64 * width;
                Rectangle::new([(x0, 0), (x0 + width, *c)], BLUE.mix(0.6).filled())
            }))
            .map_err(plot_error)?;
        // The median, so the typical time reads off the axis.
        chart
            .draw_series(std::iter::once(PathElement::new(
                vec![(p50, 0), (p50, top + 1)],
                RED.stroke_width(1),
            )))
            .map_err(plot_error)?;
        root.present().map_err(plot_error)?;
    }
    Ok(svg)
}

fn section(html: &mut String, id: &str, title: &str, plot: Plot) {
    let _ = write!(html, "<section id=\"{id}\"><h2>{}</h2>", esc(title));
    match plot {
        Ok(svg) => {
            let _ = write!(html, "<div class=\"plot\">{svg}</div>");
        }
        Err(why) => {
            let _ = write!(html, "<p class=\"missing\">Not shown: {}</p>", esc(&why));
        }
    }
    html.push_str("</section>\n");
}

fn pct(v: Option<f64>) -> String {
    v.map_or_else(|| "n/a".into(), |v| format!("{:.1}", v * 100.0))
}

fn base64(bytes: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for k in 0..4 {
            if k <= chunk.len() {
                out.push(T[((n >> (18 - 6 * k)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// The latency plots: histograms from per-frame samples, else a quantile table, else why not.
fn latency_section(html: &mut String, summary: Option<&serde_json::Value>) {
    html.push_str("<section id=\"latency\"><h2>Per-stage latency</h2>");
    let Some(summary) = summary else {
        html.push_str("<p class=\"missing\">Not shown: no replay summary given (pass <code>--summary-json</code> written by <code>lookout replay --summary-json</code>); the MCAP output holds no timings.</p></section>\n");
        return;
    };
    let samples = summary["stage_samples_ms"].as_object();
    match samples {
        Some(stages) if !stages.is_empty() => {
            // Pipeline order (the quantile list keeps it; the samples map is sorted by name).
            let mut order: Vec<&str> = summary["stages"]
                .as_array()
                .map(|a| a.iter().filter_map(|s| s[0].as_str()).collect())
                .unwrap_or_default();
            order.retain(|s| stages.contains_key(*s));
            for name in stages.keys() {
                if !order.contains(&name.as_str()) {
                    order.push(name);
                }
            }
            html.push_str("<div class=\"grid\">");
            for stage in order {
                let values = &stages[stage];
                let v: Vec<f64> = values
                    .as_array()
                    .map(|a| a.iter().filter_map(serde_json::Value::as_f64).collect())
                    .unwrap_or_default();
                match latency_histogram_svg(stage, &v) {
                    Ok(svg) => {
                        let _ = write!(html, "<div class=\"plot\">{svg}</div>");
                    }
                    Err(why) => {
                        let _ = write!(html, "<p class=\"missing\">{}</p>", esc(&why));
                    }
                }
            }
            html.push_str("</div>");
        }
        _ => html.push_str(
            "<p class=\"missing\">No per-frame times in the summary (written by an older lookout): histograms not shown; quantiles below.</p>",
        ),
    }
    if let Some(stages) = summary["stages"].as_array() {
        html.push_str("<table><tr><th>stage</th><th>p50 ms</th><th>p99 ms</th><th>mean ms</th><th>max ms</th></tr>");
        for s in stages {
            let name = s[0].as_str().unwrap_or("?");
            let q = &s[1];
            let f = |k: &str| q[k].as_f64().map_or("n/a".into(), |v| format!("{v:.2}"));
            let _ = write!(
                html,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(name),
                f("p50_ms"),
                f("p99_ms"),
                f("mean_ms"),
                f("max_ms")
            );
        }
        html.push_str("</table>");
    }
    if let Some(fps) = summary["frames_per_s"].as_f64() {
        let _ = write!(html, "<p>End to end: {fps:.2} frames/s.</p>");
    }
    html.push_str("</section>\n");
}

/// Detections and distinct tracks per class, and tracks per frame: what the replay did,
/// with or without ground truth.
fn counts_section(html: &mut String, ev: &Evaluation) {
    html.push_str("<section id=\"counts\"><h2>Counts</h2><table><tr><th>class</th><th>detections</th><th>distinct tracks</th></tr>");
    let classes: std::collections::BTreeSet<&String> = ev
        .detections_by_class
        .keys()
        .chain(ev.tracks_by_class.keys())
        .collect();
    for c in classes {
        let n = |m: &std::collections::BTreeMap<String, u64>| m.get(c).copied().unwrap_or(0);
        let _ = write!(
            html,
            "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(c),
            n(&ev.detections_by_class),
            n(&ev.tracks_by_class)
        );
    }
    html.push_str("</table>");
    if !ev.tracks_per_frame.is_empty() {
        let total: u64 = ev.tracks_per_frame.iter().map(|&v| u64::from(v)).sum();
        let max = ev.tracks_per_frame.iter().copied().max().unwrap_or(0);
        let _ = write!(
            html,
            "<p>{} tracks per frame: mean {:.1}, max {max}, over {} frames.</p>",
            esc(&ev.class),
            total as f64 / ev.tracks_per_frame.len() as f64,
            ev.tracks_per_frame.len()
        );
    }
    html.push_str("</section>\n");
}

/// The report as one HTML string.
pub fn render_html(inputs: &ReportInputs<'_>) -> String {
    let mut html = String::from(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>lookout evaluation</title>\n<style>body{font-family:sans-serif;max-width:1400px;margin:1em auto;padding:0 1em}table{border-collapse:collapse}td,th{border:1px solid #bbb;padding:2px 8px;text-align:right}.missing{color:#a40;font-style:italic}.grid{display:flex;flex-wrap:wrap;gap:8px}.strip{display:grid;grid-template-columns:repeat(auto-fill,minmax(600px,1fr));gap:12px}.strip figure{margin:0}.strip img{width:100%;height:auto;display:block}figcaption{font-size:small;color:#555}</style></head><body>\n<h1>lookout evaluation</h1>\n",
    );
    if let Some(e) = &inputs.error {
        let _ = writeln!(
            html,
            "<p class=\"missing\" id=\"error\">The evaluation could not run: {}</p>",
            esc(e)
        );
    }
    match inputs.evaluation {
        Some(ev) => {
            let _ = write!(
                html,
                "<p>Replay <code>{}</code>, topic <code>{}</code>, {} frames; class <b>{}</b>, IoU &ge; {}. ",
                esc(&ev.replay.display().to_string()),
                esc(&ev.tracks_topic),
                ev.replay_frames,
                esc(&ev.class),
                ev.iou_min,
            );
            if ev.ground_truth {
                let _ = writeln!(
                    html,
                    "Ground truth: {} boxes scored, {} ignored (confidence 0), {} beyond the replay.</p>",
                    ev.gt_rows_scored, ev.gt_rows_ignored, ev.gt_rows_unseen
                );
            } else {
                html.push_str("No ground truth.</p>\n");
            }
            if !ev.ground_truth {
                html.push_str(
                    "<section id=\"scores\"><h2>Scores</h2><p class=\"missing\" id=\"no-gt\">Not computed: no ground truth was given, so there is no MOTA, IDF1, ID switch count, precision, recall or AP50. Pass <code>--gt path/to/gt.txt</code> (MOTChallenge <code>frame,id,x,y,w,h,conf,...</code>) to <code>lookout eval</code>, or <code>make demo DEMO_GT=path/to/gt.txt</code> for the demo. The counts and plots below need no ground truth.</p></section>\n",
                );
            } else {
                html.push_str("<section id=\"scores\"><h2>Scores</h2><table>");
                match &ev.tracking {
                    Some(m) => {
                        let _ = write!(
                        html,
                        "<tr><th>MOTA %</th><th>MOTP (1-IoU) %</th><th>IDF1 %</th><th>ID switches</th><th>FP</th><th>FN</th><th>GT</th></tr><tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                        pct(m.mota),
                        pct(m.motp),
                        pct(m.idf1),
                        m.num_switches,
                        m.num_false_positives,
                        m.num_misses,
                        m.num_objects
                    );
                    }
                    None => html.push_str(
                        "<tr><td class=\"missing\">tracking metrics not computed</td></tr>",
                    ),
                }
                html.push_str("</table><table>");
                match &ev.detection {
                    Some(c) => {
                        let _ = write!(
                        html,
                        "<tr><th>class</th><th>AP50 %</th><th>precision %</th><th>recall %</th><th>TP</th><th>FP</th><th>GT</th></tr><tr><td>{}</td><td>{:.1}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                        esc(&ev.class),
                        c.ap * 100.0,
                        pct(c.final_precision()),
                        pct(c.final_recall()),
                        c.true_positives,
                        c.false_positives,
                        c.num_gt
                    );
                    }
                    None => html.push_str(
                        "<tr><td class=\"missing\">detection metrics not computed</td></tr>",
                    ),
                }
                for (class, n) in &ev.unscored_classes {
                    let _ = write!(
                    html,
                    "<tr><td>{}</td><td colspan=\"6\" class=\"missing\">{n} detections, no ground truth for this class</td></tr>",
                    esc(class)
                );
                }
                html.push_str("</table></section>\n");
            }
            counts_section(&mut html, ev);
            // The no-ground-truth note is already said, with markup, under Scores.
            let notes: Vec<&String> = ev
                .notes
                .iter()
                .filter(|n| n.as_str() != super::NO_GT_NOTE)
                .collect();
            if !notes.is_empty() {
                html.push_str("<section><h2>Notes</h2><ul id=\"notes\">");
                for n in notes {
                    let _ = write!(html, "<li>{}</li>", esc(n));
                }
                html.push_str("</ul></section>\n");
            }
            let pr = match &ev.detection {
                Some(c) => pr_curve_svg(
                    &c.recall,
                    &c.precision,
                    &format!("{} precision-recall (AP50 {:.1} %)", ev.class, c.ap * 100.0),
                ),
                None if !ev.ground_truth => {
                    Err("no ground truth was given (see Scores for how to pass it).".into())
                }
                None => Err("detection metrics were not computed (see the notes)".into()),
            };
            section(&mut html, "pr-curve", "Precision-recall", pr);
            latency_section(&mut html, inputs.replay_summary);
            let series: Vec<Series<'_>> = [
                (
                    "detections (all classes)",
                    ev.all_detections_per_frame.as_slice(),
                    RGBColor(230, 140, 0),
                    2,
                ),
                (
                    "detections (scored class)",
                    ev.detections_per_frame.as_slice(),
                    RGBColor(110, 150, 255),
                    5,
                ),
                (
                    "tracks (scored class)",
                    ev.tracks_per_frame.as_slice(),
                    RGBColor(200, 0, 0),
                    2,
                ),
            ]
            .into_iter()
            .filter(|s| !s.1.is_empty())
            .collect();
            section(
                &mut html,
                "per-frame",
                "Detections per frame",
                per_frame_svg(&series, "boxes per frame"),
            );
        }
        None => {
            html.push_str("<p class=\"missing\">No scores, precision-recall curve or per-frame plots: the evaluation did not run.</p>\n");
            latency_section(&mut html, inputs.replay_summary);
        }
    }
    if !inputs.ground_tracks.is_empty() {
        ground_section(&mut html, &inputs.ground_tracks);
    }
    html.push_str("<section id=\"samples\"><h2>Sample frames</h2>");
    if inputs.samples.is_empty() {
        html.push_str("<p class=\"missing\">Not shown: no annotated sample frames were given (render them with <code>lookout replay --render DIR</code>, or replay with <code>--with-images</code>).</p>");
    } else {
        html.push_str("<div class=\"strip\">");
        for s in &inputs.samples {
            let _ = write!(
                html,
                "<figure><img alt=\"{0}\" src=\"data:{1};base64,{2}\"><figcaption>{0}</figcaption></figure>",
                esc(&s.caption),
                s.mime,
                base64(&s.bytes)
            );
        }
        html.push_str("</div>");
    }
    html.push_str("</section>\n</body></html>\n");
    html
}

/// Up to `count` frames spread evenly over the `.jpg`/`.png` files of `dir` (name order, as
/// `lookout replay --render DIR` names them), captioned with their file names.
pub fn sample_frames(dir: &Path, count: usize) -> Result<Vec<SampleFrame>, EvalError> {
    let read_err = |path: &Path, source| EvalError::Read {
        path: path.to_owned(),
        source,
    };
    let mut names: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| read_err(dir, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| matches!(e.to_ascii_lowercase().as_str(), "jpg" | "jpeg" | "png"))
        })
        .collect();
    names.sort();
    if names.is_empty() || count == 0 {
        return Ok(Vec::new());
    }
    let picks: Vec<usize> = if names.len() <= count {
        (0..names.len()).collect()
    } else {
        (0..count)
            .map(|k| k * (names.len() - 1) / (count - 1).max(1))
            .collect()
    };
    picks
        .into_iter()
        .map(|i| {
            let path = &names[i];
            let bytes = std::fs::read(path).map_err(|e| read_err(path, e))?;
            let is_png = path
                .extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("png"));
            Ok(SampleFrame {
                caption: path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default(),
                mime: if is_png { "image/png" } else { "image/jpeg" },
                bytes,
            })
        })
        .collect()
}

/// Writes `<dir>/report.html` (creating `dir`) and returns its path.
pub fn write_report(dir: &Path, inputs: &ReportInputs<'_>) -> Result<PathBuf, EvalError> {
    let path = dir.join("report.html");
    let write_err = |source| EvalError::Write {
        path: path.clone(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(write_err)?;
    crate::output::write_atomic(&path, render_html(inputs).as_bytes()).map_err(write_err)?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc4648_vectors() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
    }

    #[test]
    fn plots_are_svg_and_missing_data_says_why() {
        let svg = pr_curve_svg(&[0.1, 0.5, 0.6], &[1.0, 0.8, 0.5], "pr").unwrap();
        assert!(svg.starts_with("<svg") && svg.contains("polyline"), "{svg}");
        assert!(pr_curve_svg(&[], &[], "pr").is_err());
        let h = latency_histogram_svg("forward", &[10.0, 11.0, 30.0]).unwrap();
        assert!(h.contains("<rect") && h.contains("p50 11.00 ms"), "{h}");
        // One slow frame among 200 does not set the axis: it is counted in the last bar.
        let mut v: Vec<f64> = (0..200).map(|i| 10.0 + f64::from(i % 10)).collect();
        v.push(500.0);
        let h = latency_histogram_svg("decode", &v).unwrap();
        assert!(h.contains("last bar: +1 slower, up to 500.0 ms"), "{h}");
        let html = render_html(&ReportInputs {
            error: Some("gt.txt:3: bad <line>".into()),
            ..Default::default()
        });
        assert!(html.contains("gt.txt:3: bad &lt;line&gt;"));
        assert!(html.contains("no replay summary given"));
    }

    #[test]
    fn birds_eye_plot_and_speeds_when_ground_tracks_exist() {
        let walker = |id: u64, y0: f64, vy: f64| GroundTrack {
            topic: "/camera/objects/tracked".into(),
            id,
            pedestrian: true,
            samples: (0..40)
                .map(|k| {
                    let t = f64::from(k) * 0.1;
                    (t, [20.0, y0 + vy * t], vy.abs())
                })
                .collect(),
        };
        let tracks = vec![walker(1, -3.0, 1.0), walker(2, 4.0, -1.4)];
        let svg = birds_eye_svg(&tracks).unwrap();
        assert!(svg.starts_with("<svg") && svg.contains("polyline"), "{svg}");
        let html = render_html(&ReportInputs {
            ground_tracks: tracks,
            ..Default::default()
        });
        assert!(html.contains("id=\"birds-eye\""));
        // Median over the two tracks' medians (1.0 and 1.4): the upper one of two.
        assert!(html.contains("median 1.40 m/s"), "{html}");
        // No ground objects: no section.
        assert!(!render_html(&ReportInputs::default()).contains("birds-eye"));
        assert!(birds_eye_svg(&[]).is_err());
    }
}
