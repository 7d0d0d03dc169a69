#!/usr/bin/env python3
"""The tracker and SORT on MOT15 sequences played at a lower frame rate (issue 12, point 3).

Usage (in the venv-mot interpreter, motmetrics==1.4.0, numpy<2):
    mot_subsample.py --bin target/release/lookout --step K [--data ../shared/data/mot15]
                     [--work /tmp/lookout-subsample] [--fps-min 4] [-- LOOKOUT TRACK ARGS...]

Keeps every K-th frame of each sequence in DATA (frames 1, 1+K, 1+2K, ... renumbered 1, 2, 3,
...) in det.txt and gt.txt alike, writes a seqinfo.ini with frameRate divided by K, then runs
`lookout track` (the defaults, plus any arguments after `--`) and SORT (`sort_peer.py`, its
reference settings, which count frames) on the result, and scores both with motmetrics as
loso.py does (IoU 0.5, ground truth with conf 0 ignored). Sequences whose reduced rate would
fall below --fps-min frames/s are skipped. With K = 1 it reproduces the seven-sequence table.
The tracker counts time in seconds (issue 12, point 3), so the same defaults should hold at
any K; SORT's frame counts (max_age 1, min_hits 3) mean another time at each K. Working files
go under --work (never into DATA). Prints a Markdown table: MOTA / IDF1 / ID switches.
"""

import argparse
import math
import os
import subprocess
import sys

import motmetrics as mm

SEQS = ["PETS09-S2L1", "TUD-Campus", "Venice-2", "KITTI-17", "ETH-Bahnhof", "ETH-Sunnyday", "ADL-Rundle-8"]
METRICS = ["num_objects", "num_false_positives", "num_misses", "num_switches", "idtp", "idfp", "idfn"]


def seqinfo(path):
    with open(path) as f:
        return dict(line.strip().split("=", 1) for line in f if "=" in line)


def detections_file(seq_dir):
    nested = os.path.join(seq_dir, "det", "det.txt")
    return nested if os.path.isfile(nested) else os.path.join(seq_dir, "det.txt")


def subsample(src_dir, dst_dir, step):
    """Every `step`-th frame of src_dir's det.txt and gt.txt into dst_dir; returns the fps."""
    info = seqinfo(os.path.join(src_dir, "seqinfo.ini"))
    fps = float(info["frameRate"]) / step
    length = math.ceil(int(info["seqLength"]) / step)
    os.makedirs(dst_dir, exist_ok=True)
    for src, name in ((detections_file(src_dir), "det.txt"), (os.path.join(src_dir, "gt.txt"), "gt.txt")):
        with open(src) as f, open(os.path.join(dst_dir, name), "w") as out:
            for line in f:
                frame, rest = line.split(",", 1)
                frame = int(float(frame))
                if (frame - 1) % step == 0:
                    out.write(f"{(frame - 1) // step + 1},{rest}")
    with open(os.path.join(dst_dir, "seqinfo.ini"), "w") as f:
        f.write(f"[Sequence]\nname={info.get('name', '')}\nframeRate={fps:g}\nseqLength={length}\n")
    return fps


def score(gt_path, res_path):
    gt = mm.io.loadtxt(gt_path, fmt="mot15-2D", min_confidence=1)
    if os.path.getsize(res_path) == 0:
        n = int(len(gt))
        return {"num_objects": n, "num_false_positives": 0, "num_misses": n, "num_switches": 0,
                "idtp": 0, "idfp": 0, "idfn": n}
    res = mm.io.loadtxt(res_path, fmt="mot15-2D")
    acc = mm.utils.compare_to_groundtruth(gt, res, "iou", distth=0.5)
    s = mm.metrics.create().compute(acc, metrics=METRICS, name="s")
    return {m: int(s[m].iloc[0]) for m in METRICS}


def mota(c):
    return 100.0 * (1.0 - (c["num_false_positives"] + c["num_misses"] + c["num_switches"]) / c["num_objects"])


def idf1(c):
    d = 2 * c["idtp"] + c["idfp"] + c["idfn"]
    return 100.0 * 2 * c["idtp"] / d if d else 0.0


def cell(c):
    return f"{mota(c):.1f} / {idf1(c):.1f} / {c['num_switches']}"


def work_dir(ap, args):
    """--work made absolute; an argparse error if it lies inside --data (never write there)."""
    data, work = os.path.abspath(args.data), os.path.abspath(args.work)
    if work == data or work.startswith(data + os.sep):
        ap.error("--work must lie outside --data")
    return work


def compare(lookout_bin, seq_dir, track_args):
    """`lookout track` (with track_args) and SORT on seq_dir's det.txt, each scored against its
    gt.txt: {"lookout": counts, "sort": counts}. Their outputs go into seq_dir."""
    sort_peer = os.path.join(os.path.dirname(os.path.abspath(__file__)), "sort_peer.py")
    ours, theirs = os.path.join(seq_dir, "lookout.txt"), os.path.join(seq_dir, "sort.txt")
    subprocess.run([lookout_bin, "track", "--det", seq_dir, "--out", ours] + track_args,
                   check=True, stdout=subprocess.DEVNULL)
    subprocess.run([sys.executable, sort_peer, "--seq", seq_dir, "--out", theirs],
                   check=True, stdout=subprocess.DEVNULL)
    gt = os.path.join(seq_dir, "gt.txt")
    return {"lookout": score(gt, ours), "sort": score(gt, theirs)}


def pool(totals, row):
    """Adds one sequence's counts (compare's result) into totals, per tracker."""
    for who, counts in row.items():
        prev = totals.get(who)
        totals[who] = counts if prev is None else {m: prev[m] + counts[m] for m in METRICS}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", required=True)
    ap.add_argument("--step", type=int, required=True, help="keep every STEP-th frame (>= 1)")
    ap.add_argument("--data", default="../shared/data/mot15")
    ap.add_argument("--work", default="/tmp/lookout-subsample")
    ap.add_argument("--fps-min", type=float, default=4.0)
    ap.add_argument("track_args", nargs="*", help="after --: passed to `lookout track`")
    args = ap.parse_args()
    if args.step < 1:
        ap.error("--step must be >= 1")
    data = os.path.abspath(args.data)
    work = work_dir(ap, args)

    totals = {}
    print(f"One frame in {args.step}:\n")
    print("| sequence | fps | lookout MOTA / IDF1 / IDsw | SORT MOTA / IDF1 / IDsw |")
    print("|---|---|---|---|")
    for seq in SEQS:
        src = os.path.join(data, seq)
        if not os.path.isdir(src):
            continue
        if float(seqinfo(os.path.join(src, "seqinfo.ini"))["frameRate"]) / args.step < args.fps_min:
            continue
        dst = os.path.join(work, f"{seq}-every-{args.step}")
        fps = subsample(src, dst, args.step)
        row = compare(args.bin, dst, args.track_args)
        pool(totals, row)
        print(f"| {seq} | {fps:g} | {cell(row['lookout'])} | {cell(row['sort'])} |")
    if not totals:
        sys.exit(f"no sequence of {SEQS} at >= {args.fps_min} frames/s in {data}")
    print(f"| **pooled** | | {cell(totals['lookout'])} | {cell(totals['sort'])} |")


if __name__ == "__main__":
    main()
