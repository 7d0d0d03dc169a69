#!/usr/bin/env python3
"""The tracker and SORT on MOT15 sequences under synthetic camera motion (issue 12, point 2).

Usage (in the venv-mot interpreter, motmetrics==1.4.0, numpy<2):
    mot_egomotion.py --bin target/release/lookout [--pan 0.1] [--zoom 0.1] [--seed 1]
                     [--data ../shared/data/mot15] [--work /tmp/lookout-egomotion]
                     [-- LOOKOUT TRACK ARGS...]

`lookout track` on a det.txt has no images, so the camera-motion compensation of replay and
the node (which estimates motion from images) cannot help it; on a held-out moving-camera
sequence only the tracker's own motion handling does. This check adds a known camera motion to
every sequence of DATA: each frame's boxes, in det.txt and gt.txt alike, are moved by one
similarity about the image centre,

    x' = cx + s(t) (x - cx) + tx(t),   y' = cy + s(t) (y - cy) + ty(t),   w' = s(t) w,  h' = s(t) h,

with tx, ty and log s smooth functions of the frame's time in seconds (a sum of three
sinusoids at 0.05-0.5 Hz with random phases; amplitudes --pan x image width/height and --zoom),
so the motion per second is the same at every frame rate and the motion per frame grows as the
frame rate falls, as on a real camera. Nothing is cropped: the evaluation sees the same
objects, only moved. Then it runs lookout (defaults plus any arguments after `--`) and SORT
(`sort_peer.py`) on each and scores both with motmetrics (IoU 0.5), as mot_subsample.py does.
With --pan 0 --zoom 0 it reproduces the seven-sequence table. Working files go under --work.
Prints a Markdown table: MOTA / IDF1 / ID switches, and the largest image motion per frame.
"""

import argparse
import math
import os
import random
import sys

from mot_subsample import SEQS, cell, compare, detections_file, pool, seqinfo, work_dir


def motion(seed, pan, zoom):
    """Three sinusoids per axis (x, y, log scale): t seconds -> (tx/width, ty/height, log s)."""
    rng = random.Random(seed)
    axes = []
    for amplitude in (pan, pan, zoom):
        waves = [(amplitude / math.sqrt(3), rng.uniform(0.05, 0.5), rng.uniform(0, 2 * math.pi)) for _ in range(3)]
        axes.append(waves)

    def at(t):
        return [sum(a * math.sin(2 * math.pi * f * t + p) for a, f, p in waves) for waves in axes]

    return at


def transform(src_dir, dst_dir, at):
    """det.txt and gt.txt of src_dir moved frame by frame into dst_dir; returns the frame rate
    and the largest frame-to-frame shift, in pixels, of the point a quarter of the image width
    right of the centre."""
    info = seqinfo(os.path.join(src_dir, "seqinfo.ini"))
    fps = float(info["frameRate"])
    width, height = float(info["imWidth"]), float(info["imHeight"])
    cx, cy = width / 2, height / 2
    os.makedirs(dst_dir, exist_ok=True)

    def move(frame, x, y, w, h):
        tx, ty, log_s = at((frame - 1) / fps)
        s = math.exp(log_s)
        return cx + s * (x - cx) + tx * width, cy + s * (y - cy) + ty * height, s * w, s * h

    for src, name in ((detections_file(src_dir), "det.txt"), (os.path.join(src_dir, "gt.txt"), "gt.txt")):
        with open(src) as f, open(os.path.join(dst_dir, name), "w") as out:
            for line in f:
                cols = line.strip().split(",")
                frame = int(float(cols[0]))
                x, y, w, h = move(frame, *(float(c) for c in cols[2:6]))
                out.write(",".join([cols[0], cols[1], f"{x:.2f}", f"{y:.2f}", f"{w:.2f}", f"{h:.2f}"] + cols[6:]) + "\n")
    with open(os.path.join(src_dir, "seqinfo.ini")) as f, open(os.path.join(dst_dir, "seqinfo.ini"), "w") as out:
        out.write(f.read())
    worst = 0.0
    for frame in range(1, int(info["seqLength"])):
        a, b = move(frame, cx + width / 4, cy, 0, 0), move(frame + 1, cx + width / 4, cy, 0, 0)
        worst = max(worst, math.hypot(b[0] - a[0], b[1] - a[1]))
    return fps, worst


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", required=True)
    ap.add_argument("--pan", type=float, default=0.1, help="pan amplitude, fraction of the image size")
    ap.add_argument("--zoom", type=float, default=0.1, help="zoom amplitude, natural log of the scale")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--data", default="../shared/data/mot15")
    ap.add_argument("--work", default="/tmp/lookout-egomotion")
    ap.add_argument("track_args", nargs="*", help="after --: passed to `lookout track`")
    args = ap.parse_args()
    data = os.path.abspath(args.data)
    work = work_dir(ap, args)

    totals = {}
    print(f"Synthetic camera motion: pan {args.pan:g}, zoom {args.zoom:g}, seed {args.seed}:\n")
    print("| sequence | fps | largest shift px/frame | lookout MOTA / IDF1 / IDsw | SORT MOTA / IDF1 / IDsw |")
    print("|---|---|---|---|---|")
    for i, seq in enumerate(SEQS):
        src = os.path.join(data, seq)
        if not os.path.isdir(src):
            continue
        dst = os.path.join(work, f"{seq}-pan{args.pan:g}-zoom{args.zoom:g}-seed{args.seed}")
        fps, worst = transform(src, dst, motion(args.seed * 100 + i, args.pan, args.zoom))
        row = compare(args.bin, dst, args.track_args)
        pool(totals, row)
        print(f"| {seq} | {fps:g} | {worst:.0f} | {cell(row['lookout'])} | {cell(row['sort'])} |")
    if not totals:
        sys.exit(f"no sequence of {SEQS} in {data}")
    print(f"| **pooled** | | | {cell(totals['lookout'])} | {cell(totals['sort'])} |")


if __name__ == "__main__":
    main()
