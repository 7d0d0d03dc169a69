#!/usr/bin/env python3
"""Run supervision's ByteTrack (the Python peer) on MOTChallenge detection files.

Usage (in the venv-oracle interpreter, supervision==0.26.1):
    bytetrack_peer.py --seq SEQ_DIR --out RESULT.txt [--repeat N]

SEQ_DIR holds det.txt (or det/det.txt) and seqinfo.ini (frameRate, seqLength). Every frame
from 1 to seqLength is fed to `sv.ByteTrack(frame_rate=fps)` with its default thresholds, and
the tracks it returns are written as `frame,id,x,y,w,h,score,-1,-1,-1`. Tracking time (parsing
excluded, like the Rust side) is measured over `--repeat` runs and printed as JSON on the last
line of stdout: {"frames": F, "seconds": S, "frames_per_s": F*N/S}.
"""

import argparse
import configparser
import json
import os
import time

import numpy as np
import supervision as sv


def load_seq(seq):
    det = os.path.join(seq, "det", "det.txt")
    if not os.path.isfile(det):
        det = os.path.join(seq, "det.txt")
    ini = configparser.ConfigParser()
    ini.read(os.path.join(seq, "seqinfo.ini"))
    fps = float(ini["Sequence"]["frameRate"])
    length = int(ini["Sequence"]["seqLength"])
    rows = np.loadtxt(det, delimiter=",", ndmin=2)
    by_frame = {}
    for r in rows:
        by_frame.setdefault(int(r[0]), []).append(r)
    frames = []
    for f in range(1, max(length, int(rows[:, 0].max()) if len(rows) else 0) + 1):
        rs = np.array(by_frame.get(f, []), dtype=np.float64).reshape(-1, 10 if rows.shape[1] >= 10 else rows.shape[1])
        xyxy = np.stack([rs[:, 2], rs[:, 3], rs[:, 2] + rs[:, 4], rs[:, 3] + rs[:, 5]], axis=1) if len(rs) else np.zeros((0, 4))
        conf = rs[:, 6].astype(np.float32) if len(rs) else np.zeros((0,), dtype=np.float32)
        dets = sv.Detections(
            xyxy=xyxy.astype(np.float32),
            confidence=conf,
            class_id=np.zeros(len(rs), dtype=int),
        )
        frames.append((f, dets))
    return fps, frames


def track(fps, frames):
    tracker = sv.ByteTrack(frame_rate=int(round(fps)))
    out = []
    for f, dets in frames:
        res = tracker.update_with_detections(dets)
        for (x1, y1, x2, y2), tid, c in zip(res.xyxy, res.tracker_id, res.confidence):
            out.append((f, int(tid), x1, y1, x2 - x1, y2 - y1, c))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seq", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--repeat", type=int, default=1)
    args = ap.parse_args()
    fps, frames = load_seq(args.seq)
    t0 = time.perf_counter()
    for _ in range(args.repeat):
        rows = track(fps, frames)
    seconds = time.perf_counter() - t0
    with open(args.out, "w") as f:
        for r in rows:
            f.write("%d,%d,%.3f,%.3f,%.3f,%.3f,%.4f,-1,-1,-1\n" % r)
    print(json.dumps({"frames": len(frames), "seconds": seconds, "frames_per_s": len(frames) * args.repeat / seconds}))


if __name__ == "__main__":
    main()
