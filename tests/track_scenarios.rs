//! Seeded synthetic scenarios with exact expectations on identities: crossing objects,
//! occlusion gaps shorter and longer than `max_age_s`, the same motion sampled at 5, 10 and
//! 30 Hz and with dropped frames. Objects are pedestrian-sized boxes (40 x 80 px) walking at
//! 60-90 px/s with 2 px of seeded Gaussian detection noise.

mod track_common;

use std::collections::{BTreeMap, BTreeSet};

use lookout::track::{TrackOutput, Tracker, TrackerConfig};
use lookout::{BBox, Detection, Time};
use track_common::Rng;

/// A box moving at constant velocity: centre at `t` seconds.
#[derive(Clone, Copy)]
struct Walker {
    cx0: f64,
    cy0: f64,
    vx: f64,
    vy: f64,
}

impl Walker {
    fn bbox(&self, t: f64) -> BBox {
        BBox::from_center(
            (self.cx0 + self.vx * t) as f32,
            (self.cy0 + self.vy * t) as f32,
            40.0,
            80.0,
        )
    }
}

fn noisy(b: BBox, rng: &mut Rng, std_px: f64) -> Detection {
    let (cx, cy) = b.center();
    Detection {
        bbox: BBox::from_center(
            cx + (rng.normal() * std_px) as f32,
            cy + (rng.normal() * std_px) as f32,
            b.width() + (rng.normal() * std_px) as f32,
            b.height() + (rng.normal() * std_px) as f32,
        ),
        class_index: 0,
        label: "person".into(),
        score: 0.9,
    }
}

fn stamp(t: f64) -> Time {
    // An arbitrary epoch far from zero: the tracker must only use differences.
    Time::from_ns(1_700_000_000_000_000_000 + (t * 1e9).round() as i64)
}

/// Run `walkers` for `duration_s` at `rate_hz`; `visible(k, t)` says whether walker `k` is
/// detected at time `t`; `keep_frame(i)` drops whole frames. Returns, per walker, the set of
/// track ids that were reported on it (the nearest object to each reported track), and the
/// largest distance of a reported track from its nearest object.
fn run(
    walkers: &[Walker],
    rate_hz: f64,
    duration_s: f64,
    seed: u64,
    config: TrackerConfig,
    visible: impl Fn(usize, f64) -> bool,
    keep_frame: impl Fn(u64) -> bool,
) -> (Vec<BTreeSet<u64>>, f32) {
    let mut rng = Rng::new(seed);
    let mut tracker = Tracker::new(config).unwrap();
    let mut ids = vec![BTreeSet::new(); walkers.len()];
    let mut worst_px = 0.0f32;
    let frames = (duration_s * rate_hz).round() as u64;
    for i in 0..=frames {
        if !keep_frame(i) {
            continue;
        }
        let t = i as f64 / rate_hz;
        let dets: Vec<Detection> = walkers
            .iter()
            .enumerate()
            .filter(|(k, _)| visible(*k, t))
            .map(|(_, w)| noisy(w.bbox(t), &mut rng, 2.0))
            .collect();
        let out: Vec<TrackOutput> = tracker.update(stamp(t), &dets).unwrap();
        for o in &out {
            let (ox, oy) = o.bbox.center();
            let (k, d) = walkers
                .iter()
                .enumerate()
                .map(|(k, w)| {
                    let (cx, cy) = w.bbox(t).center();
                    (k, ((ox - cx).powi(2) + (oy - cy).powi(2)).sqrt())
                })
                .min_by(|a, b| a.1.total_cmp(&b.1))
                .unwrap();
            worst_px = worst_px.max(d);
            ids[k].insert(o.id);
        }
    }
    (ids, worst_px)
}

fn three_walkers() -> Vec<Walker> {
    vec![
        Walker {
            cx0: 100.0,
            cy0: 200.0,
            vx: 60.0,
            vy: 0.0,
        },
        Walker {
            cx0: 600.0,
            cy0: 300.0,
            vx: -80.0,
            vy: 10.0,
        },
        Walker {
            cx0: 300.0,
            cy0: 500.0,
            vx: 20.0,
            vy: -90.0,
        },
    ]
}

fn assert_one_id_each((ids, worst_px): &(Vec<BTreeSet<u64>>, f32), what: &str) {
    assert!(
        *worst_px < 20.0,
        "{what}: a track was {worst_px} px from every object"
    );
    for (k, s) in ids.iter().enumerate() {
        assert_eq!(s.len(), 1, "{what}: object {k} got ids {s:?}");
    }
    let all: BTreeSet<u64> = ids.iter().flatten().copied().collect();
    assert_eq!(
        all.len(),
        ids.len(),
        "{what}: ids shared between objects: {ids:?}"
    );
}

#[test]
fn two_objects_crossing_keep_their_ids() {
    // Head-on crossing with a 20 px vertical offset: at the crossing the boxes overlap with
    // IoU 0.6, so IoU alone cannot tell them apart; the velocity in the prediction must.
    let walkers = [
        Walker {
            cx0: 100.0,
            cy0: 200.0,
            vx: 90.0,
            vy: 0.0,
        },
        Walker {
            cx0: 460.0,
            cy0: 220.0,
            vx: -90.0,
            vy: 0.0,
        },
    ];
    for seed in 0..5 {
        let ids = run(
            &walkers,
            10.0,
            4.0,
            seed,
            TrackerConfig::default(),
            |_, _| true,
            |_| true,
        );
        assert_one_id_each(&ids, &format!("crossing, seed {seed}"));
        assert_eq!(ids.0[0].iter().next(), Some(&1));
        assert_eq!(ids.0[1].iter().next(), Some(&2));
    }
}

#[test]
fn occlusion_shorter_than_max_age_keeps_the_id() {
    let walkers = [Walker {
        cx0: 100.0,
        cy0: 200.0,
        vx: 60.0,
        vy: 0.0,
    }];
    let cfg = TrackerConfig::default();
    let gap_s = 0.8 * cfg.max_age_s;
    // Hidden from 1.0 s to 1.0 + gap_s (exclusive), detected again after.
    let ids = run(
        &walkers,
        10.0,
        4.0,
        7,
        cfg.clone(),
        |_, t| !(1.0..1.0 + gap_s - 1e-9).contains(&t),
        |_| true,
    );
    assert_eq!(ids.0[0], BTreeSet::from([1]));
    // A gap longer than max_age_s ends the track: a new id, exactly one more.
    let gap_s = 1.3 * cfg.max_age_s;
    let ids = run(
        &walkers,
        10.0,
        4.0,
        7,
        cfg,
        |_, t| !(1.0..1.0 + gap_s).contains(&t),
        |_| true,
    );
    assert_eq!(ids.0[0], BTreeSet::from([1, 2]));
}

#[test]
fn same_motion_at_5_10_30_hz_and_with_dropped_frames() {
    for rate_hz in [5.0, 10.0, 30.0] {
        for seed in 0..3 {
            let ids = run(
                &three_walkers(),
                rate_hz,
                5.0,
                seed,
                TrackerConfig::default(),
                |_, _| true,
                |_| true,
            );
            assert_one_id_each(&ids, &format!("{rate_hz} Hz, seed {seed}"));
        }
    }
    // 30 Hz with 40 % of the frames dropped at random (seeded), never the first two.
    for seed in 0..3 {
        let drops: BTreeMap<u64, bool> = {
            let mut rng = Rng::new(100 + seed);
            (0..=150)
                .map(|i| (i, i < 2 || rng.uniform() > 0.4))
                .collect()
        };
        let ids = run(
            &three_walkers(),
            30.0,
            5.0,
            seed,
            TrackerConfig::default(),
            |_, _| true,
            |i| drops[&i],
        );
        assert_one_id_each(&ids, &format!("30 Hz with drops, seed {seed}"));
    }
}

#[test]
fn max_age_counts_seconds_not_frames() {
    // The same 0.8 s gap is 4 frames at 5 Hz and 24 frames at 30 Hz: both keep the id.
    let walkers = [Walker {
        cx0: 100.0,
        cy0: 200.0,
        vx: 60.0,
        vy: 0.0,
    }];
    for rate_hz in [5.0, 30.0] {
        let ids = run(
            &walkers,
            rate_hz,
            4.0,
            3,
            TrackerConfig::default(),
            |_, t| !(1.0..1.8).contains(&t),
            |_| true,
        );
        assert_eq!(ids.0[0], BTreeSet::from([1]), "{rate_hz} Hz");
        assert!(ids.1 < 20.0);
    }
}

#[test]
fn non_monotonic_and_duplicate_stamps_are_errors_not_resets() {
    let mut tracker = Tracker::new(TrackerConfig::default()).unwrap();
    let w = Walker {
        cx0: 100.0,
        cy0: 200.0,
        vx: 60.0,
        vy: 0.0,
    };
    let mut rng = Rng::new(1);
    for i in 0..5 {
        let t = i as f64 * 0.1;
        tracker
            .update(stamp(t), &[noisy(w.bbox(t), &mut rng, 1.0)])
            .unwrap();
    }
    let dup = tracker.update(stamp(0.4), &[noisy(w.bbox(0.4), &mut rng, 1.0)]);
    let msg = dup.unwrap_err().to_string();
    assert!(msg.contains("equal to"), "{msg}");
    let back = tracker.update(stamp(0.2), &[]);
    let msg = back.unwrap_err().to_string();
    assert!(msg.contains("earlier than"), "{msg}");
    // The track survives with its id.
    let out = tracker
        .update(stamp(0.5), &[noisy(w.bbox(0.5), &mut rng, 1.0)])
        .unwrap();
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].id, 1);
    assert_eq!(out[0].hits, 6);
}

#[test]
fn crossing_scenario_discriminates_a_tracker_without_velocity() {
    // Control: the same crossing with velocity pinned to zero (no prior velocity variance, no
    // process noise on it) must lose the identities, or the crossing test proves nothing.
    let walkers = [
        Walker {
            cx0: 100.0,
            cy0: 200.0,
            vx: 90.0,
            vy: 0.0,
        },
        Walker {
            cx0: 460.0,
            cy0: 220.0,
            vx: -90.0,
            vy: 0.0,
        },
    ];
    let mut cfg = TrackerConfig::default();
    cfg.noise.init_velocity_std_rel_per_s = 1e-9;
    cfg.noise.accel_std_rel_per_s2 = 0.0;
    cfg.noise.size_accel_std_rel_per_s2 = 0.0;
    let (ids, worst_px) = run(&walkers, 10.0, 4.0, 0, cfg, |_, _| true, |_| true);
    assert!(
        ids.iter().any(|s| s.len() > 1) || ids[0] == ids[1] || worst_px >= 20.0,
        "a zero-velocity tracker kept both ids on target: {ids:?}, {worst_px} px"
    );
    eprintln!("zero-velocity control: ids {ids:?}, worst {worst_px} px");
}

fn exact(cx: f32, cy: f32) -> Detection {
    Detection {
        bbox: BBox::from_center(cx, cy, 40.0, 80.0),
        class_index: 0,
        label: "person".into(),
        score: 0.9,
    }
}

/// A walker at 100 px/s for 1 s (10 Hz), unseen for `gap_frames` frames, seen again `dx_px`
/// further on and from then on walking at `pace_px_per_s`. Returns the velocity the tracker
/// reports when it finds the walker again (same id), and three frames later.
fn velocity_after_gap(
    cfg: TrackerConfig,
    gap_frames: u32,
    dx_px: f32,
    pace_px_per_s: f32,
) -> (f64, f64) {
    let mut tracker = Tracker::new(cfg).unwrap();
    for k in 0..=10 {
        let t = k as f64 * 0.1;
        tracker
            .update(stamp(t), &[exact(100.0 + 100.0 * t as f32, 200.0)])
            .unwrap();
    }
    for k in 11..=10 + gap_frames {
        tracker.update(stamp(f64::from(k) * 0.1), &[]).unwrap();
    }
    let mut found = Vec::new();
    for i in 0..4u32 {
        let t = f64::from(11 + gap_frames + i) * 0.1;
        let cx = 200.0 + dx_px + pace_px_per_s * 0.1 * i as f32;
        let out = tracker.update(stamp(t), &[exact(cx, 200.0)]).unwrap();
        assert_eq!(out.len(), 1, "{out:?}");
        assert_eq!(out[0].id, 1, "the walker keeps its id: {out:?}");
        found.push(out[0].velocity_px_per_s[0]);
    }
    (found[0], found[3])
}

#[test]
fn re_update_after_a_gap_gives_the_observed_velocity() {
    // The walker slows down while unseen for 1 s: it reappears 20 px further on, 1.1 s after
    // its last detection (18.2 px/s over the gap), and keeps that pace. OCR
    // finds it by its last observed box (the prediction has run ~110 px ahead). OC-SORT's ORU
    // re-runs the filter along the observed displacement, so the velocity is the gap's pace;
    // updating the coasted prediction instead leaves a large velocity error.
    const PACE: f32 = 20.0 / 1.1;
    let plain = TrackerConfig {
        oc_reupdate: false,
        oc_recovery: true,
        ..TrackerConfig::default()
    };
    let oru = TrackerConfig {
        oc_reupdate: true,
        ..plain.clone()
    };
    let (v_plain, v_plain_later) = velocity_after_gap(plain, 10, 20.0, PACE);
    let (v_oru, v_oru_later) = velocity_after_gap(oru, 10, 20.0, PACE);
    let pace = f64::from(PACE);
    assert!(
        (v_oru - pace).abs() < 5.0,
        "ORU velocity {v_oru} px/s, observed {pace} over the gap"
    );
    assert!(
        (v_oru - pace).abs() < 0.5 * (v_plain - pace).abs(),
        "ORU {v_oru} vs plain {v_plain} px/s (observed {pace})"
    );
    // Three frames later ORU is still closer to the truth.
    assert!(
        (v_oru_later - pace).abs() < (v_plain_later - pace).abs(),
        "later: ORU {v_oru_later} vs plain {v_plain_later} px/s (truth {pace})"
    );
}

#[test]
fn recovery_by_last_observation_keeps_the_id_of_a_stopped_object() {
    // A walker at 200 px/s stops dead and is missed for 0.5 s: the coasting prediction runs
    // ~100 px ahead (no overlap with the walker), so only OC-SORT's OCR (IoU with the last
    // *observed* box) can give it its id back; without it the walker is a new track.
    let run = |oc_recovery: bool| {
        let cfg = TrackerConfig {
            oc_recovery,
            oc_reupdate: false,
            ..TrackerConfig::default()
        };
        let mut tracker = Tracker::new(cfg).unwrap();
        for k in 0..=10 {
            let t = k as f64 * 0.1;
            tracker
                .update(stamp(t), &[exact(100.0 + 200.0 * t as f32, 200.0)])
                .unwrap();
        }
        for k in 11..=15 {
            tracker.update(stamp(k as f64 * 0.1), &[]).unwrap();
        }
        let mut ids = BTreeSet::new();
        for k in 16..=20 {
            for o in tracker
                .update(stamp(k as f64 * 0.1), &[exact(300.0, 200.0)])
                .unwrap()
            {
                ids.insert(o.id);
            }
        }
        ids
    };
    assert_eq!(run(true), BTreeSet::from([1]));
    assert_eq!(run(false), BTreeSet::from([2]));
}

#[test]
fn momentum_prefers_the_detection_along_the_motion() {
    // A walker moving right at 100 px/s (10 Hz), then two detections near its prediction:
    // A 10 px ahead (IoU 0.60 with the predicted box), B 19 px below (IoU 0.62). IoU alone
    // takes B; OC-SORT's OCM term favours A, which lies along the observed direction of
    // motion. The chosen one pulls the track: its centre stays on y = 200 with A.
    let run = |oc_momentum_weight: f64| {
        let cfg = TrackerConfig {
            oc_momentum_weight,
            ..TrackerConfig::default()
        };
        let mut tracker = Tracker::new(cfg).unwrap();
        for k in 0..=10 {
            let t = k as f64 * 0.1;
            tracker
                .update(stamp(t), &[exact(100.0 + 100.0 * t as f32, 200.0)])
                .unwrap();
        }
        // Predicted centre at t = 1.1 s: about (210, 200).
        let out = tracker
            .update(stamp(1.1), &[exact(220.0, 200.0), exact(210.0, 219.0)])
            .unwrap();
        let track = out.iter().find(|o| o.id == 1).expect("track 1 reported");
        track.bbox.center()
    };
    let (_, y_momentum) = run(0.2);
    let (_, y_iou) = run(0.0);
    assert!(
        y_momentum < 202.0,
        "with OCM the track took B: y = {y_momentum}"
    );
    assert!(
        y_iou > 205.0,
        "IoU alone should take B (y = {y_iou}); scenario broken"
    );
}

/// A parked van that the detector calls `car` (0.85) on even frames and `truck` (0.8) on odd
/// ones (an unsure argmax), while a pedestrian walks past its front.
fn van_frames(config: TrackerConfig) -> Vec<Vec<TrackOutput>> {
    let mut tracker = Tracker::new(config).unwrap();
    let mut rng = Rng::new(12);
    (0..30)
        .map(|i| {
            let t = f64::from(i) / 10.0;
            let (class_index, label, score) = if i % 2 == 0 {
                (2, "car", 0.85)
            } else {
                (7, "truck", 0.8)
            };
            let van = Detection {
                bbox: BBox::from_tlwh(
                    300.0 + (rng.normal() * 1.5) as f32,
                    200.0 + (rng.normal() * 1.5) as f32,
                    180.0,
                    120.0,
                ),
                class_index,
                label: label.into(),
                score,
            };
            // The pedestrian walks past the van's front, overlapping it.
            let mut person = noisy(
                Walker {
                    cx0: 250.0,
                    cy0: 270.0,
                    vx: 60.0,
                    vy: 0.0,
                }
                .bbox(t),
                &mut rng,
                1.0,
            );
            person.label = "pedestrian".into();
            tracker.update(stamp(t), &[van, person]).unwrap()
        })
        .collect()
}

#[test]
fn a_van_seen_as_car_and_truck_is_one_car_track() {
    let config = TrackerConfig {
        // Confirm on the second hit, so a class flip every frame would matter without groups.
        min_hits: 2,
        ..TrackerConfig::default()
    };
    assert_eq!(config.class_groups, vec!["car,truck,bus".to_string()]);
    let frames = van_frames(config.clone());
    let vehicle_ids: BTreeSet<u64> = frames
        .iter()
        .flatten()
        .filter(|o| o.label.as_ref() != "pedestrian")
        .map(|o| o.id)
        .collect();
    assert_eq!(vehicle_ids.len(), 1, "one van, one track: {vehicle_ids:?}");
    // Reported as the class with the larger summed score (0.85 per car frame > 0.8 per truck
    // frame), whatever the latest detection said.
    let last = frames.last().unwrap();
    let van = last.iter().find(|o| vehicle_ids.contains(&o.id)).unwrap();
    assert_eq!((van.label.as_ref(), van.class_index), ("car", 2));
    let person_ids: BTreeSet<u64> = frames
        .iter()
        .flatten()
        .filter(|o| o.label.as_ref() == "pedestrian")
        .map(|o| o.id)
        .collect();
    assert_eq!(person_ids.len(), 1, "the pedestrian keeps its own track");
    assert!(person_ids.is_disjoint(&vehicle_ids));

    // Without the group, class-aware association cannot keep the van as one track (each
    // class's tentative track dies at the next frame's other class): the group is what works.
    let split = van_frames(TrackerConfig {
        class_groups: vec![],
        ..config
    });
    let ids: BTreeSet<u64> = split
        .iter()
        .flatten()
        .filter(|o| o.label.as_ref() != "pedestrian")
        .map(|o| o.id)
        .collect();
    assert_ne!(ids.len(), 1, "without class groups: {ids:?}");
}
