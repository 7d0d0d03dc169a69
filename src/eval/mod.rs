//! `lookout eval`: scores a replay output against a MOTChallenge ground truth (`gt.txt`).
//!
//! Inputs: the replay's MCAP (a `vision_msgs/msg/Detection2DArray` tracks topic such as
//! `/camera/tracks`, and its sibling `/camera/detections`, named as [`crate::topics`] names
//! them; streamed, so a replay with images is never in memory whole) and `gt.txt`
//! (`frame,id,x,y,w,h,conf,...`, one class). Outputs, in Rust and pure once the inputs are read:
//! - tracking: MOTA, MOTP, IDF1, ID switches, FP, FN ([`clear`], py-motmetrics' definitions,
//!   IoU >= 0.5);
//! - detection: precision, recall and AP50 of the ground truth's class ([`ap`], VOC all-point);
//! - [`report`]: a self-contained HTML page with plots (inline SVG).
//!
//! Without ground truth ([`evaluate`] with `gt = None`) nothing is scored; the counts (detections
//! and distinct tracks per class, boxes per frame) are still computed, and the notes say what
//! is missing and how to pass it ([`NO_GT_NOTE`]).
//!
//! Frame mapping: the n-th message on the topic (from 0) is MOTChallenge frame `n + 1`, as
//! `lookout replay --mot-out` writes it. A recording made from a video by `lookout record`
//! holds every video frame in order, so video frame `k` (from 0) is MOT frame `k + 1`.
//! Ground-truth rows with confidence 0 are ignored (motmetrics `min_confidence=1`); ground
//! truth beyond the last replayed frame is left out of the scores and said so in the notes
//! (a replay cut with `--max-frames` is scored on what it saw).

pub mod ap;
pub mod clear;
pub mod report;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::mcap_io::{McapError, McapTopicSource};
use crate::msgs::{self, Detection2DArray, RosMessage};
use crate::topics::OutputTopics;

/// Why an evaluation could not run. Every variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    #[error("{path}: cannot read: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}:{line}: {message} (expected MOTChallenge `frame,id,x,y,w,h,conf,...`)")]
    GtParse {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error("{path}: no ground-truth rows")]
    EmptyGt { path: PathBuf },
    /// The replay file cannot be read (the error names the file).
    #[error(transparent)]
    Mcap(#[from] McapError),
    #[error("{path}: topic {topic}: message {index}: not a TrackedObjects: {detail}")]
    GroundDecode {
        path: PathBuf,
        topic: String,
        index: u64,
        detail: String,
    },
    #[error("{path}: topic {topic}: message {index}: not a Detection2DArray: {detail}")]
    Decode {
        path: PathBuf,
        topic: String,
        index: usize,
        detail: String,
    },
    #[error("{path}: no tracks topic (vision_msgs/msg/Detection2DArray ending in /tracks); Detection2DArray topics: [{}]; pass --topic", .available.join(", "))]
    NoTracksTopic {
        path: PathBuf,
        available: Vec<String>,
    },
    #[error("{path}: several tracks topics [{}]: pick one with --topic", .topics.join(", "))]
    AmbiguousTopic { path: PathBuf, topics: Vec<String> },
    #[error("{path}: topic `{topic}` is not a Detection2DArray topic of this file; Detection2DArray topics: [{}]", .available.join(", "))]
    TopicNotFound {
        path: PathBuf,
        topic: String,
        available: Vec<String>,
    },
    #[error("{path}: topic `{topic}` has no messages: the replay is empty, there is nothing to evaluate")]
    EmptyReplay { path: PathBuf, topic: String },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// One row of a MOTChallenge ground truth.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GtRow {
    pub frame: u32,
    pub id: u64,
    /// `(x, y, w, h)`, pixels.
    pub tlwh: [f64; 4],
    /// 0 = ignore (motmetrics keeps rows with confidence >= 1).
    pub conf: f64,
}

impl GtRow {
    pub fn ignored(&self) -> bool {
        self.conf < 1.0
    }
}

/// Parses a MOTChallenge `gt.txt`: at least 6 columns, `conf` (column 7) defaults to 1.
pub fn parse_gt(text: &str, path: &Path) -> Result<Vec<GtRow>, EvalError> {
    let mut rows = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let raw = raw.trim();
        if raw.is_empty() {
            continue;
        }
        let err = |message: String| EvalError::GtParse {
            path: path.to_owned(),
            line: i + 1,
            message,
        };
        let cols: Vec<&str> = raw.split(',').map(str::trim).collect();
        if cols.len() < 6 {
            return Err(err(format!("{} columns, need at least 6", cols.len())));
        }
        let num = |k: usize, name: &str| -> Result<f64, EvalError> {
            cols[k]
                .parse::<f64>()
                .ok()
                .filter(|v| v.is_finite())
                .ok_or_else(|| err(format!("{name} `{}` is not a finite number", cols[k])))
        };
        let frame = num(0, "frame")?;
        if frame < 1.0 || frame.fract() != 0.0 || frame > f64::from(u32::MAX) {
            return Err(err(format!("frame `{}` is not an integer >= 1", cols[0])));
        }
        let id = num(1, "id")?;
        if id < 0.0 || id.fract() != 0.0 {
            return Err(err(format!("id `{}` is not an integer >= 0", cols[1])));
        }
        let tlwh = [num(2, "x")?, num(3, "y")?, num(4, "w")?, num(5, "h")?];
        if tlwh[2] < 0.0 || tlwh[3] < 0.0 {
            return Err(err("negative width or height".into()));
        }
        let conf = if cols.len() > 6 { num(6, "conf")? } else { 1.0 };
        rows.push(GtRow {
            frame: frame as u32,
            id: id as u64,
            tlwh,
            conf,
        });
    }
    if rows.is_empty() {
        return Err(EvalError::EmptyGt {
            path: path.to_owned(),
        });
    }
    Ok(rows)
}

/// Reads and parses a ground-truth file.
pub fn read_gt(path: &Path) -> Result<Vec<GtRow>, EvalError> {
    let text =
        crate::capped_read::read_to_string_capped(path, crate::capped_read::MAX_MOT_TEXT_BYTES)
            .map_err(|source| EvalError::Read {
                path: path.to_owned(),
                source,
            })?;
    parse_gt(&text, path)
}

/// The messages of one `Detection2DArray` topic, in log-time order.
#[derive(Debug, Clone, Default)]
pub struct TopicMessages {
    pub topic: String,
    pub log_time_ns: Vec<u64>,
    pub messages: Vec<Detection2DArray>,
}

/// What `lookout eval` reads from a replay output.
#[derive(Debug, Clone)]
pub struct ReplayData {
    pub path: PathBuf,
    pub tracks: TopicMessages,
    /// The sibling detections topic, when present.
    pub detections: Option<TopicMessages>,
}

/// Reads the tracks topic (given, or the only `.../tracks` Detection2DArray topic) and its
/// sibling `.../detections` topic ([`OutputTopics::for_tracks_topic`]). The file is streamed
/// ([`McapTopicSource`]): a replay with the images in it is never in memory whole.
pub fn read_replay(path: &Path, tracks_topic: Option<&str>) -> Result<ReplayData, EvalError> {
    let schema = <Detection2DArray as RosMessage>::SCHEMA_NAME;
    // Topics are known from the summary's channels, so a topic without messages is an empty
    // replay, not a missing topic.
    let available = McapTopicSource::topics_with_schema(path, schema)?;
    let topic = match tracks_topic {
        Some(t) => t.to_owned(),
        None => {
            let found: Vec<&String> = available
                .iter()
                .filter(|t| OutputTopics::is_tracks_topic(t))
                .collect();
            match found.as_slice() {
                [one] => (*one).clone(),
                [] => {
                    return Err(EvalError::NoTracksTopic {
                        path: path.to_owned(),
                        available,
                    })
                }
                many => {
                    return Err(EvalError::AmbiguousTopic {
                        path: path.to_owned(),
                        topics: many.iter().map(|s| (*s).clone()).collect(),
                    })
                }
            }
        }
    };
    if !available.contains(&topic) {
        return Err(EvalError::TopicNotFound {
            path: path.to_owned(),
            topic,
            available,
        });
    }
    let detections_topic = OutputTopics::for_tracks_topic(&topic)
        .map(|t| t.detections)
        .filter(|t| available.contains(t));
    let mut selected = vec![topic.clone()];
    selected.extend(detections_topic.iter().cloned());
    let mut per_topic: BTreeMap<String, Vec<(u64, Vec<u8>)>> = BTreeMap::new();
    for message in McapTopicSource::open(path, schema, &selected)? {
        let message = message?;
        per_topic
            .entry(message.topic.to_string())
            .or_default()
            .push((message.log_time_ns, message.data));
    }
    let decode = |topic: &str, raw: Vec<(u64, Vec<u8>)>| -> Result<TopicMessages, EvalError> {
        let mut raw = raw;
        // Stable: messages with equal log times keep their order in the file.
        raw.sort_by_key(|(t, _)| *t);
        let mut out = TopicMessages {
            topic: topic.to_owned(),
            ..Default::default()
        };
        for (index, (t, data)) in raw.into_iter().enumerate() {
            let msg: Detection2DArray = msgs::from_cdr(&data).map_err(|e| EvalError::Decode {
                path: path.to_owned(),
                topic: topic.to_owned(),
                index,
                detail: e.to_string(),
            })?;
            out.log_time_ns.push(t);
            out.messages.push(msg);
        }
        Ok(out)
    };
    let detections = match detections_topic.and_then(|t| per_topic.remove(&t).map(|raw| (t, raw))) {
        Some((t, raw)) => Some(decode(&t, raw)?),
        None => None,
    };
    let tracks = decode(&topic, per_topic.remove(&topic).unwrap_or_default())?;
    if tracks.messages.is_empty() {
        return Err(EvalError::EmptyReplay {
            path: path.to_owned(),
            topic,
        });
    }
    Ok(ReplayData {
        path: path.to_owned(),
        tracks,
        detections,
    })
}

/// Evaluation settings.
#[derive(Debug, Clone)]
pub struct EvalOptions {
    /// The ground truth's class among the output classes, e.g. `pedestrian`.
    pub class: String,
    /// Smallest IoU of a match (0.5 for MOTChallenge and AP50).
    pub iou_min: f64,
}

impl Default for EvalOptions {
    fn default() -> Self {
        Self {
            class: "pedestrian".into(),
            iou_min: 0.5,
        }
    }
}

/// Everything `lookout eval` computed, and what it could not.
#[derive(Debug, Clone, Serialize)]
pub struct Evaluation {
    pub replay: PathBuf,
    pub tracks_topic: String,
    pub detections_topic: Option<String>,
    pub class: String,
    pub iou_min: f64,
    /// Whether ground truth was given (without it only the counts are computed).
    pub ground_truth: bool,
    /// Messages on the tracks topic (= MOT frames 1..=replay_frames).
    pub replay_frames: u64,
    /// Ground-truth rows scored (inside the replay's frames, confidence >= 1).
    pub gt_rows_scored: u64,
    pub gt_rows_ignored: u64,
    /// Ground-truth rows beyond the last replayed frame (left out).
    pub gt_rows_unseen: u64,
    pub tracking: Option<clear::MotMetrics>,
    pub detection: Option<ap::PrCurve>,
    /// Detections of classes the ground truth does not label (counted, not scored); every
    /// class when there is no ground truth.
    pub unscored_classes: BTreeMap<String, u64>,
    /// Detections per class over the whole replay (the detections topic).
    pub detections_by_class: BTreeMap<String, u64>,
    /// Distinct track ids per class over the whole replay (the tracks topic).
    pub tracks_by_class: BTreeMap<String, u64>,
    /// Detections of the scored class per frame, and of all classes per frame.
    pub detections_per_frame: Vec<u32>,
    pub all_detections_per_frame: Vec<u32>,
    /// Tracks of the scored class per frame.
    pub tracks_per_frame: Vec<u32>,
    /// Seconds since the first frame, per frame (log time).
    pub frame_time_s: Vec<f64>,
    /// What was left out or could not be computed, in words.
    pub notes: Vec<String>,
    /// The replays merged into this evaluation ([`merge`]); empty for one replay.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub merged_replays: Vec<PathBuf>,
    /// The judged detections behind `detection` (with ground truth), for [`merge`].
    #[serde(skip)]
    pub judged: Option<ap::Judged>,
}

fn tlwh_of(d: &msgs::Detection2D) -> [f64; 4] {
    let b = &d.bbox;
    [
        b.center.position.x - b.size_x / 2.0,
        b.center.position.y - b.size_y / 2.0,
        b.size_x,
        b.size_y,
    ]
}

fn class_of(d: &msgs::Detection2D) -> Option<(&str, f64)> {
    d.results
        .first()
        .map(|r| (r.hypothesis.class_id.as_str(), r.hypothesis.score))
}

/// The note of an evaluation without ground truth: what is not computed and how to get it.
pub const NO_GT_NOTE: &str = "no ground truth given: tracking (MOTA, IDF1, ID switches) and \
     detection (precision, recall, AP50) scores are not computed; pass `--gt path/to/gt.txt` \
     (MOTChallenge `frame,id,x,y,w,h,conf,...`) to `lookout eval`, or \
     `make demo DEMO_GT=path/to/gt.txt` for the demo";

/// Scores `replay` against `gt`; with `gt = None` only the ground-truth-free parts (counts per
/// frame and per class, distinct tracks) are computed and the notes say why the scores are not.
pub fn evaluate(gt: Option<&[GtRow]>, replay: &ReplayData, options: &EvalOptions) -> Evaluation {
    let frames = replay.tracks.messages.len() as u64;
    let mut notes = Vec::new();
    let in_replay = |f: u32| u64::from(f) <= frames;
    let gt_all = gt.unwrap_or(&[]);
    let gt_rows_unseen = gt_all.iter().filter(|g| !in_replay(g.frame)).count() as u64;
    if gt_rows_unseen > 0 {
        let max_gt = gt_all.iter().map(|g| g.frame).max().unwrap_or(0);
        notes.push(format!(
            "the ground truth reaches frame {max_gt} but the replay has {frames} frames: \
             {gt_rows_unseen} ground-truth rows after frame {frames} are left out of every score"
        ));
    }
    let scored: Vec<&GtRow> = gt_all.iter().filter(|g| in_replay(g.frame)).collect();
    let gt_rows_ignored = scored.iter().filter(|g| g.ignored()).count() as u64;
    let gt_ids: Vec<clear::IdBox> = scored
        .iter()
        .filter(|g| !g.ignored())
        .map(|g| clear::IdBox {
            frame: g.frame,
            id: g.id,
            tlwh: g.tlwh,
        })
        .collect();

    let mut hyp = Vec::new();
    let mut tracks_per_frame = Vec::with_capacity(frames as usize);
    let mut track_ids: BTreeMap<String, std::collections::BTreeSet<String>> = BTreeMap::new();
    let mut bad_ids = 0u64;
    for (n, msg) in replay.tracks.messages.iter().enumerate() {
        let frame = u32::try_from(n + 1).unwrap_or(u32::MAX);
        let mut count = 0;
        for d in &msg.detections {
            let Some((class, _)) = class_of(d) else {
                continue;
            };
            track_ids
                .entry(class.to_owned())
                .or_default()
                .insert(d.id.clone());
            if class != options.class {
                continue;
            }
            count += 1;
            match d.id.parse::<u64>() {
                Ok(id) => hyp.push(clear::IdBox {
                    frame,
                    id,
                    tlwh: tlwh_of(d),
                }),
                Err(_) => bad_ids += 1,
            }
        }
        tracks_per_frame.push(count);
    }
    if bad_ids > 0 {
        notes.push(format!(
            "{bad_ids} tracks on {} have no numeric id and were left out of the tracking scores",
            replay.tracks.topic
        ));
    }
    if gt.is_none() {
        notes.push(NO_GT_NOTE.to_owned());
    }
    let tracking = if gt.is_none() {
        None
    } else if gt_ids.is_empty() {
        notes.push(
            "tracking metrics not computed: no ground-truth box inside the replayed frames".into(),
        );
        None
    } else {
        Some(clear::evaluate(&gt_ids, &hyp, options.iou_min))
    };

    let mut detections_per_frame = Vec::new();
    let mut all_detections_per_frame = Vec::new();
    let mut detections_by_class = BTreeMap::new();
    let mut judged = None;
    let detection = match &replay.detections {
        None => {
            notes.push(format!(
                "detection counts and precision/recall/AP not computed: no detections topic next to {}",
                replay.tracks.topic
            ));
            None
        }
        Some(dets) => {
            if dets.messages.len() as u64 != frames {
                notes.push(format!(
                    "{} has {} messages but {} has {frames}: frames are numbered on each topic separately",
                    dets.topic,
                    dets.messages.len(),
                    replay.tracks.topic
                ));
            }
            let mut boxes = Vec::new();
            for (n, msg) in dets.messages.iter().enumerate() {
                let frame = u32::try_from(n + 1).unwrap_or(u32::MAX);
                let mut count = 0;
                for d in &msg.detections {
                    let Some((class, score)) = class_of(d) else {
                        continue;
                    };
                    *detections_by_class.entry(class.to_owned()).or_insert(0u64) += 1;
                    if class == options.class {
                        count += 1;
                        boxes.push(ap::ScoredBox {
                            frame,
                            tlwh: tlwh_of(d),
                            score,
                        });
                    }
                }
                detections_per_frame.push(count);
                all_detections_per_frame.push(msg.detections.len() as u32);
            }
            if gt.is_none() {
                None
            } else {
                let gt_boxes: Vec<ap::GtBox> = scored
                    .iter()
                    .map(|g| ap::GtBox {
                        frame: g.frame,
                        tlwh: g.tlwh,
                        ignore: g.ignored(),
                    })
                    .collect();
                let j = ap::judge(&gt_boxes, &boxes, options.iou_min);
                let curve = ap::curve(&j);
                judged = Some(j);
                if curve.is_none() {
                    notes.push(
                        "detection AP not computed: no ground-truth box inside the replayed frames"
                            .into(),
                    );
                }
                curve
            }
        }
    };
    let unscored_classes: BTreeMap<String, u64> = detections_by_class
        .iter()
        .filter(|(c, _)| gt.is_none() || **c != options.class)
        .map(|(c, n)| (c.clone(), *n))
        .collect();
    if gt.is_some() && !unscored_classes.is_empty() {
        notes.push(format!(
            "the ground truth labels one class ({}); detections of other classes are counted, not scored",
            options.class
        ));
    }
    let t0 = replay.tracks.log_time_ns.first().copied().unwrap_or(0);
    Evaluation {
        replay: replay.path.clone(),
        tracks_topic: replay.tracks.topic.clone(),
        detections_topic: replay.detections.as_ref().map(|d| d.topic.clone()),
        class: options.class.clone(),
        iou_min: options.iou_min,
        ground_truth: gt.is_some(),
        replay_frames: frames,
        gt_rows_scored: gt_ids.len() as u64,
        gt_rows_ignored,
        gt_rows_unseen,
        tracking,
        detection,
        unscored_classes,
        detections_by_class,
        tracks_by_class: track_ids
            .into_iter()
            .map(|(c, ids)| (c, ids.len() as u64))
            .collect(),
        detections_per_frame,
        all_detections_per_frame,
        tracks_per_frame,
        frame_time_s: replay
            .tracks
            .log_time_ns
            .iter()
            .map(|t| t.saturating_sub(t0) as f64 * 1e-9)
            .collect(),
        notes,
        merged_replays: Vec::new(),
        judged,
    }
}

/// Several replays' evaluations as one: exactly the numbers one evaluation of all of them
/// together gives (each replay's frames and ids kept apart), as motmetrics' OVERALL row makes
/// them. CLEAR and identity counts are summed and the ratios computed from the sums
/// ([`clear::merge`]); the detections' score/TP lists are pooled in a stable order
/// ([`ap::pool`]) and the precision-recall curve drawn from the pool; class counts are summed
/// and per-frame series concatenated in the order given. `None` for no evaluation.
pub fn merge(evaluations: Vec<Evaluation>) -> Option<Evaluation> {
    let n = evaluations.len();
    let mut iter = evaluations.into_iter();
    let first = iter.next()?;
    if n == 1 {
        return Some(first);
    }
    let mut parts = vec![first];
    parts.extend(iter);
    let mut notes = Vec::new();
    for e in &parts {
        notes.extend(
            e.notes
                .iter()
                .map(|note| format!("{}: {note}", e.replay.display())),
        );
    }
    let tracking_parts: Vec<clear::MotMetrics> =
        parts.iter().filter_map(|e| e.tracking.clone()).collect();
    let with_gt = parts.iter().filter(|e| e.ground_truth).count();
    if !tracking_parts.is_empty() && tracking_parts.len() < with_gt {
        notes.push(format!(
            "tracking scores merged over {} of the {with_gt} replays with ground truth (the \
             others have no ground-truth box in their frames)",
            tracking_parts.len()
        ));
    }
    let judged_parts: Vec<ap::Judged> = parts.iter().filter_map(|e| e.judged.clone()).collect();
    let judged = (!judged_parts.is_empty()).then(|| ap::pool(judged_parts));
    let sum_maps = |get: fn(&Evaluation) -> &BTreeMap<String, u64>| {
        let mut out = BTreeMap::new();
        for e in &parts {
            for (k, v) in get(e) {
                *out.entry(k.clone()).or_insert(0) += v;
            }
        }
        out
    };
    let concat = |get: fn(&Evaluation) -> &Vec<u32>| -> Vec<u32> {
        parts.iter().flat_map(|e| get(e).iter().copied()).collect()
    };
    let join_topics = |get: fn(&Evaluation) -> Option<&String>| -> Option<String> {
        let mut topics: Vec<&String> = parts.iter().filter_map(get).collect();
        topics.dedup();
        (!topics.is_empty()).then(|| {
            topics
                .iter()
                .map(|t| t.as_str())
                .collect::<Vec<_>>()
                .join(",")
        })
    };
    let first = &parts[0];
    Some(Evaluation {
        replay: first.replay.clone(),
        tracks_topic: join_topics(|e| Some(&e.tracks_topic)).unwrap_or_default(),
        detections_topic: join_topics(|e| e.detections_topic.as_ref()),
        class: first.class.clone(),
        iou_min: first.iou_min,
        ground_truth: with_gt > 0,
        replay_frames: parts.iter().map(|e| e.replay_frames).sum(),
        gt_rows_scored: parts.iter().map(|e| e.gt_rows_scored).sum(),
        gt_rows_ignored: parts.iter().map(|e| e.gt_rows_ignored).sum(),
        gt_rows_unseen: parts.iter().map(|e| e.gt_rows_unseen).sum(),
        tracking: clear::merge(&tracking_parts),
        detection: judged.as_ref().and_then(ap::curve),
        unscored_classes: sum_maps(|e| &e.unscored_classes),
        detections_by_class: sum_maps(|e| &e.detections_by_class),
        tracks_by_class: sum_maps(|e| &e.tracks_by_class),
        detections_per_frame: concat(|e| &e.detections_per_frame),
        all_detections_per_frame: concat(|e| &e.all_detections_per_frame),
        tracks_per_frame: concat(|e| &e.tracks_per_frame),
        frame_time_s: parts
            .iter()
            .flat_map(|e| e.frame_time_s.iter().copied())
            .collect(),
        notes,
        merged_replays: parts.iter().map(|e| e.replay.clone()).collect(),
        judged,
    })
}

fn fmt_opt(v: Option<f64>, scale: f64) -> String {
    v.map_or_else(|| "n/a".to_owned(), |v| format!("{:.1}", v * scale))
}

impl std::fmt::Display for Evaluation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "eval {} ({}, {} frames), class {}, IoU >= {}",
            if self.merged_replays.is_empty() {
                self.replay.display().to_string()
            } else {
                format!("{} replays merged", self.merged_replays.len())
            },
            self.tracks_topic,
            self.replay_frames,
            self.class,
            self.iou_min
        )?;
        if self.ground_truth {
            writeln!(
                f,
                "  ground truth: {} boxes scored, {} ignored (conf 0), {} beyond the replay",
                self.gt_rows_scored, self.gt_rows_ignored, self.gt_rows_unseen
            )?;
        } else {
            writeln!(f, "  ground truth: none given, nothing is scored")?;
        }
        let join = |m: &BTreeMap<String, u64>| {
            m.iter()
                .map(|(c, n)| format!("{c} {n}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        writeln!(
            f,
            "  counts:    detections [{}]  distinct tracks [{}]",
            join(&self.detections_by_class),
            join(&self.tracks_by_class)
        )?;
        match &self.tracking {
            Some(m) => {
                writeln!(
                    f,
                    "  tracking:  MOTA {}  MOTP {} (mean 1-IoU, %)  IDF1 {}  IDP {}  IDR {}",
                    fmt_opt(m.mota, 100.0),
                    fmt_opt(m.motp, 100.0),
                    fmt_opt(m.idf1, 100.0),
                    fmt_opt(m.idp, 100.0),
                    fmt_opt(m.idr, 100.0)
                )?;
                writeln!(
                    f,
                    "             ID switches {}  FP {}  FN {}  matches {}  GT {}  objects {}",
                    m.num_switches,
                    m.num_false_positives,
                    m.num_misses,
                    m.num_matches,
                    m.num_objects,
                    m.num_unique_objects
                )?;
            }
            None => writeln!(f, "  tracking:  not computed")?,
        }
        match &self.detection {
            Some(c) => writeln!(
                f,
                "  detection ({}): AP50 {:.1}  precision {}  recall {}  (TP {}, FP {}, GT {})",
                self.class,
                c.ap * 100.0,
                fmt_opt(c.final_precision(), 100.0),
                fmt_opt(c.final_recall(), 100.0),
                c.true_positives,
                c.false_positives,
                c.num_gt
            )?,
            None => writeln!(f, "  detection: not computed")?,
        }
        for (class, n) in self.unscored_classes.iter().filter(|_| self.ground_truth) {
            writeln!(
                f,
                "    {class}: {n} detections (no ground truth for this class)"
            )?;
        }
        for note in &self.notes {
            writeln!(f, "  note: {note}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gt_rows_parse_and_bad_lines_name_the_line() {
        let p = Path::new("gt.txt");
        let rows = parse_gt(
            "1,2,10,20,30,40,1,-1,-1,-1\n\n2,3,1.5,2,3,4,0\n3,4,0,0,1,1\n",
            p,
        )
        .unwrap();
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[0].tlwh, [10.0, 20.0, 30.0, 40.0]);
        assert!(rows[1].ignored());
        assert!(!rows[2].ignored());
        let e = parse_gt("1,2,10,20,30,40,1\n1,x,1,2,3,4,1\n", p).unwrap_err();
        assert!(e.to_string().starts_with("gt.txt:2: id `x`"), "{e}");
        let e = parse_gt("0,1,1,1,1,1\n", p).unwrap_err();
        assert!(e.to_string().contains("frame `0`"), "{e}");
        let e = parse_gt("1,1,1\n", p).unwrap_err();
        assert!(e.to_string().contains("3 columns"), "{e}");
        assert!(matches!(parse_gt("\n", p), Err(EvalError::EmptyGt { .. })));
    }

    /// A track box: id, tlwh, score.
    type Hyp = (u64, [f64; 4], f64);

    /// A seeded sequence: `objects` walking boxes over `frames` frames, tracks that follow them
    /// with jitter, an id switch, dropouts and false positives, and detections with tied scores
    /// (so the pooled order matters).
    fn sequence(seed: u64, frames: u32, objects: u64) -> (Vec<GtRow>, Vec<Vec<Hyp>>) {
        let mut state = seed;
        let mut next = move || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 33) as f64 / (1u64 << 31) as f64
        };
        let mut gt = Vec::new();
        let mut hyp = vec![Vec::new(); frames as usize];
        for f in 1..=frames {
            for o in 0..objects {
                let tlwh = [40.0 * o as f64 + 3.0 * f64::from(f), 50.0, 20.0, 40.0];
                gt.push(GtRow {
                    frame: f,
                    id: o + 1,
                    tlwh,
                    conf: if o == 2 && f % 5 == 0 { 0.0 } else { 1.0 },
                });
                if next() < 0.2 {
                    continue;
                }
                let id = if o == 0 && f > frames / 2 { 99 } else { o + 10 };
                let j = [tlwh[0] + 6.0 * next(), tlwh[1] + 4.0 * next(), 20.0, 40.0];
                let score = (next() * 4.0).round() / 4.0;
                hyp[f as usize - 1].push((id, j, score));
            }
            if next() < 0.5 {
                hyp[f as usize - 1].push((500, [300.0 * next(), 200.0, 20.0, 40.0], 0.5));
            }
        }
        (gt, hyp)
    }

    fn replay_of(hyp: &[Vec<Hyp>]) -> ReplayData {
        let header = crate::types::Header::default();
        let msg = |boxes: &Vec<Hyp>, with_id: bool| {
            let dets: Vec<crate::types::Detection> = boxes
                .iter()
                .map(|(_, b, s)| crate::types::Detection {
                    bbox: crate::types::BBox::from_tlwh(
                        b[0] as f32,
                        b[1] as f32,
                        b[2] as f32,
                        b[3] as f32,
                    ),
                    class_index: 0,
                    label: "pedestrian".into(),
                    score: *s as f32,
                })
                .collect();
            let mut m = Detection2DArray::from_detections(&header, &dets);
            if with_id {
                for (d, (id, _, _)) in m.detections.iter_mut().zip(boxes) {
                    d.id = id.to_string();
                }
            }
            m
        };
        let topic = |name: &str, with_id| TopicMessages {
            topic: name.into(),
            log_time_ns: (0..hyp.len() as u64).map(|n| n * 100).collect(),
            messages: hyp.iter().map(|b| msg(b, with_id)).collect(),
        };
        ReplayData {
            path: "r.mcap".into(),
            tracks: topic("/c/tracks", true),
            detections: Some(topic("/c/detections", false)),
        }
    }

    #[test]
    fn merged_replays_score_as_one_evaluation_of_everything() {
        let options = EvalOptions::default();
        let (gt_a, hyp_a) = sequence(1, 30, 3);
        let (gt_b, hyp_b) = sequence(2, 20, 4);
        let a = evaluate(Some(&gt_a), &replay_of(&hyp_a), &options);
        let b = evaluate(Some(&gt_b), &replay_of(&hyp_b), &options);
        let merged = merge(vec![a.clone(), b.clone()]).unwrap();
        // Everything in one sequence: B's frames after A's, B's ids apart from A's.
        let shift = hyp_a.len() as u32;
        let mut gt_all = gt_a.clone();
        gt_all.extend(gt_b.iter().map(|g| GtRow {
            frame: g.frame + shift,
            id: g.id + 1000,
            ..*g
        }));
        let mut hyp_all = hyp_a.clone();
        hyp_all.extend(
            hyp_b
                .iter()
                .map(|f| f.iter().map(|(id, b, s)| (id + 1000, *b, *s)).collect()),
        );
        let one = evaluate(Some(&gt_all), &replay_of(&hyp_all), &options);
        let (m, o) = (
            merged.tracking.clone().unwrap(),
            one.tracking.clone().unwrap(),
        );
        assert!(m.num_switches > 0 && m.num_false_positives > 0 && m.num_misses > 0);
        assert!((m.distance_sum - o.distance_sum).abs() < 1e-9);
        assert!((m.motp.unwrap() - o.motp.unwrap()).abs() < 1e-12);
        let strip = |mut x: clear::MotMetrics| {
            x.distance_sum = 0.0;
            x.motp = None;
            x
        };
        assert_eq!(strip(m), strip(o));
        // The pooled curve is the one curve, to the bit (ties in score included).
        assert_eq!(merged.detection, one.detection);
        assert_eq!(merged.judged, one.judged);
        assert_eq!(merged.detections_by_class, one.detections_by_class);
        assert_eq!(merged.tracks_per_frame, one.tracks_per_frame);
        assert_eq!(
            (
                merged.replay_frames,
                merged.gt_rows_scored,
                merged.gt_rows_ignored
            ),
            (one.replay_frames, one.gt_rows_scored, one.gt_rows_ignored)
        );
        // Not merely the sum of one part: both count.
        assert_ne!(merged.detection, a.detection);
        assert_eq!(merge(vec![a.clone()]).unwrap().tracking, a.tracking);
        assert!(merge(Vec::new()).is_none());
    }
}
