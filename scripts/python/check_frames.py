#!/usr/bin/env python3
"""Independent decoder for lookout's rendered frames (OpenCV, from the oracle venv).

Reads a video (`--video PATH`, cv2.VideoCapture) or a folder of images (`--images DIR`, files in
name order, cv2.imread) and prints one JSON object: frame count, size of the first frame, and
for each `--at I,X,Y` the RGB value at pixel (X, Y) of frame I (the median over the 3x3
neighbourhood, so JPEG/H.264 ringing on a 2 px line does not decide the answer).

Usage: check_frames.py (--video PATH | --images DIR) [--at I,X,Y]...
"""

import argparse
import json
import os
import sys

import cv2
import numpy as np


def frames(args):
    if args.video:
        cap = cv2.VideoCapture(args.video)
        while True:
            ok, bgr = cap.read()
            if not ok:
                return
            yield bgr
    else:
        names = sorted(n for n in os.listdir(args.images) if n.lower().endswith((".jpg", ".jpeg", ".png")))
        for n in names:
            img = cv2.imread(os.path.join(args.images, n), cv2.IMREAD_COLOR)
            if img is None:
                raise SystemExit(f"cannot decode {n}")
            yield img


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--video")
    ap.add_argument("--images")
    ap.add_argument("--at", action="append", default=[])
    args = ap.parse_args()
    wanted = {}
    for spec in args.at:
        i, x, y = (int(v) for v in spec.split(","))
        wanted.setdefault(i, []).append((x, y))
    out = {"frames": 0, "width": None, "height": None, "pixels": {}}
    for i, bgr in enumerate(frames(args)):
        if out["width"] is None:
            out["height"], out["width"] = bgr.shape[:2]
        for x, y in wanted.get(i, []):
            patch = bgr[max(y - 1, 0):y + 2, max(x - 1, 0):x + 2].reshape(-1, 3)
            b, g, r = np.median(patch, axis=0)
            out["pixels"][f"{i},{x},{y}"] = [int(r), int(g), int(b)]
        out["frames"] += 1
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
