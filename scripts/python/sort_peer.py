#!/usr/bin/env python3
"""SORT (Bewley et al., ICIP 2016), re-implemented as the reference `sort.py` runs it, on
MOTChallenge detection files: the peer that issue 12's goal is stated against.

Usage (in the venv-mot interpreter: numpy, scipy):
    sort_peer.py --seq SEQ_DIR --out RESULT.txt [--max-age 1] [--min-hits 3] [--iou 0.3]

SEQ_DIR holds det.txt (or det/det.txt). The reference's choices, kept as they are: state
[cx, cy, area, aspect, vcx, vcy, varea] with filterpy's constant-velocity model and its noise
(P0 10 on boxes, 1e4 on velocities; Q 1 on boxes, 1e-2 on velocities, 1e-4 on area rate; R 1
on the centre, 10 on area and aspect); every detection is used (no score threshold); Hungarian
assignment on IoU with matches below --iou rejected; a track is written only in frames where
it was matched and after --min-hits consecutive matches (or in the first --min-hits frames);
it dies after --max-age frames unmatched; the written box is the filter's posterior. With the
defaults it reproduces the SORT scores in ../shared/data/mot15/README.md exactly (motmetrics
1.4.0, IoU 0.5): e.g. ETH-Sunnyday MOTA 59.1, IDF1 72.4, 22 switches.
"""

import argparse
import os

import numpy as np
from scipy.optimize import linear_sum_assignment

F = np.eye(7)
F[0, 4] = F[1, 5] = F[2, 6] = 1.0
H = np.eye(4, 7)


def iou_matrix(a, b):
    x1 = np.maximum(a[:, None, 0], b[None, :, 0])
    y1 = np.maximum(a[:, None, 1], b[None, :, 1])
    x2 = np.minimum(a[:, None, 2], b[None, :, 2])
    y2 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.maximum(0.0, x2 - x1) * np.maximum(0.0, y2 - y1)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    return inter / (area_a[:, None] + area_b[None, :] - inter)


def z_of(b):
    w, h = b[2] - b[0], b[3] - b[1]
    return np.array([b[0] + w / 2, b[1] + h / 2, w * h, w / h])


def box_of(x):
    w = np.sqrt(max(x[2] * x[3], 0.0))
    h = x[2] / w if w > 0 else 0.0
    return np.array([x[0] - w / 2, x[1] - h / 2, x[0] + w / 2, x[1] + h / 2])


class Track:
    def __init__(self, box, track_id):
        self.x = np.zeros(7)
        self.x[:4] = z_of(box)
        self.P = np.diag([10.0, 10.0, 10.0, 10.0, 1e4, 1e4, 1e4])
        self.Q = np.diag([1.0, 1.0, 1.0, 1.0, 1e-2, 1e-2, 1e-4])
        self.R = np.diag([1.0, 1.0, 10.0, 10.0])
        self.id = track_id
        self.since_update = 0
        self.streak = 0

    def predict(self):
        if self.x[6] + self.x[2] <= 0:
            self.x[6] = 0.0
        self.x = F @ self.x
        self.P = F @ self.P @ F.T + self.Q
        if self.since_update > 0:
            self.streak = 0
        self.since_update += 1
        return box_of(self.x)

    def update(self, box):
        self.since_update = 0
        self.streak += 1
        y = z_of(box) - H @ self.x
        S = H @ self.P @ H.T + self.R
        K = self.P @ H.T @ np.linalg.inv(S)
        self.x = self.x + K @ y
        self.P = (np.eye(7) - K @ H) @ self.P


def track(det, max_age, min_hits, iou_min):
    rows, tracks, next_id = [], [], 1
    last = int(det[:, 0].max()) if len(det) else 0
    for frame in range(1, last + 1):
        d = det[det[:, 0] == frame]
        boxes = np.c_[d[:, 2], d[:, 3], d[:, 2] + d[:, 4], d[:, 3] + d[:, 5]] if len(d) else np.zeros((0, 4))
        kept, predicted = [], []
        for t in tracks:
            p = t.predict()
            if not np.any(np.isnan(p)):
                kept.append(t)
                predicted.append(p)
        tracks = kept
        predicted = np.array(predicted).reshape(-1, 4)
        unmatched = set(range(len(boxes)))
        if len(boxes) and len(predicted):
            m = iou_matrix(boxes, predicted)
            for i, j in zip(*linear_sum_assignment(-m)):
                if m[i, j] >= iou_min:
                    tracks[j].update(boxes[i])
                    unmatched.discard(i)
        for i in sorted(unmatched):
            tracks.append(Track(boxes[i], next_id))
            next_id += 1
        alive = []
        for t in tracks:
            if t.since_update < 1 and (t.streak >= min_hits or frame <= min_hits):
                b = box_of(t.x)
                rows.append((frame, t.id, b[0], b[1], b[2] - b[0], b[3] - b[1]))
            if t.since_update <= max_age:
                alive.append(t)
        tracks = alive
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seq", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--max-age", type=int, default=1)
    ap.add_argument("--min-hits", type=int, default=3)
    ap.add_argument("--iou", type=float, default=0.3)
    a = ap.parse_args()
    path = os.path.join(a.seq, "det", "det.txt")
    if not os.path.isfile(path):
        path = os.path.join(a.seq, "det.txt")
    det = np.loadtxt(path, delimiter=",", ndmin=2)
    rows = track(det, a.max_age, a.min_hits, a.iou)
    tmp = a.out + ".tmp"
    with open(tmp, "w") as fh:
        for f, i, x, y, w, h in rows:
            fh.write(f"{f},{i},{x:.2f},{y:.2f},{w:.2f},{h:.2f},1,-1,-1,-1\n")
    os.replace(tmp, a.out)


if __name__ == "__main__":
    main()
