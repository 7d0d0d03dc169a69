"""A moving-camera sequence made from a static one, with its ground truth moved the same way.

lookout's camera-motion compensation (src/motion, src/track/gmc.rs) is for cameras on cars, but
the whole-pipeline benchmark (vtest.avi = PETS09-S2L1) is filmed from a fixed camera. This
script moves a virtual camera over it: each output frame is a crop window of the input, scaled
to a fixed output size (a zoom), whose position and size change from frame to frame like the
view from a vehicle (a smooth pan, a slow zoom for forward motion, a faster swerve, road bumps).
The MOT ground truth goes through the same per-frame transform (clipped to the output frame;
a box less than half inside is dropped), so `lookout eval` scores the moving sequence exactly as
it scores the static one.

Per frame the transform is a scale and a translation: `out = zoom * (in - origin)`. The true
inter-frame motion (`cur_from_prev`, 2x3) is written too, to check the estimator against it.

Usage (numpy and OpenCV from the oracle venv; ffmpeg from the asset cache):

    ~/.cache/lookout/venv-oracle/bin/python scripts/python/make_moving_camera.py \
        --video ~/.cache/lookout/data/vtest.avi --gt ../shared/data/mot15/PETS09-S2L1/gt.txt \
        --out /tmp/moving
    lookout record /tmp/moving/frames --fps 7 --out /tmp/moving.mcap

Outputs in --out: frames/NNNNNN.png, gt.txt (MOT format, 1-based frames), motion.csv
(frame, zoom, origin_x, origin_y, and the six entries of cur_from_prev).
"""

import argparse
import math
import os
import subprocess

import cv2
import numpy as np

IN_W, IN_H = 768, 576


def camera_path(n, seed):
    """Per frame (0-based): the crop window (origin x, origin y, width) in input pixels."""
    rng = np.random.default_rng(seed)
    origins = []
    for i in range(n):
        # Forward motion: the crop narrows and widens slowly (0.3 % scale change per frame at most).
        crop_w = 560.0 + 60.0 * math.cos(2.0 * math.pi * i / 260.0)
        crop_h = crop_w * 0.75
        # A smooth pan left and right (about 5 px/frame in the output at its fastest) ...
        cx = 384.0 + 70.0 * math.sin(2.0 * math.pi * i / 90.0)
        cy = 288.0 + 35.0 * math.sin(2.0 * math.pi * i / 130.0 + 1.0)
        # ... a swerve (frames 300-360: up to 15 px/frame) ...
        if 300 <= i < 360:
            cx += 35.0 * math.sin(2.0 * math.pi * (i - 300) / 15.0)
        # ... and road bumps (frames 500-560: vertical shake of a few px).
        if 500 <= i < 560:
            cy += rng.uniform(-5.0, 5.0)
        # Keep the crop inside the input.
        cx = min(max(cx, crop_w / 2), IN_W - crop_w / 2)
        cy = min(max(cy, crop_h / 2), IN_H - crop_h / 2)
        origins.append((cx - crop_w / 2, cy - crop_h / 2, crop_w))
    return origins


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--video", required=True)
    ap.add_argument("--gt", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--ffmpeg", default=os.path.expanduser("~/.cache/lookout/bin/ffmpeg"))
    ap.add_argument("--width", type=int, default=640)
    ap.add_argument("--height", type=int, default=480)
    ap.add_argument("--seed", type=int, default=12)
    ap.add_argument("--max-frames", type=int, default=0)
    args = ap.parse_args()
    out_w, out_h = args.width, args.height
    os.makedirs(os.path.join(args.out, "frames"), exist_ok=True)

    proc = subprocess.run(
        [args.ffmpeg, "-v", "error", "-i", args.video, "-f", "rawvideo", "-pix_fmt", "bgr24", "-"],
        check=True,
        capture_output=True,
    )
    raw = np.frombuffer(proc.stdout, np.uint8)
    n = raw.size // (IN_W * IN_H * 3)
    frames = raw[: n * IN_W * IN_H * 3].reshape(n, IN_H, IN_W, 3)
    if args.max_frames:
        n = min(n, args.max_frames)
    path = camera_path(n, args.seed)

    transforms = []
    for i in range(n):
        x0, y0, crop_w = path[i]
        zoom = out_w / crop_w
        m = np.array([[zoom, 0.0, -zoom * x0], [0.0, zoom, -zoom * y0]])
        transforms.append((zoom, x0, y0, m))
        img = cv2.warpAffine(frames[i], m, (out_w, out_h), flags=cv2.INTER_LINEAR)
        cv2.imwrite(os.path.join(args.out, "frames", f"{i + 1:06d}.png"), img)

    with open(os.path.join(args.out, "motion.csv"), "w") as f:
        f.write("frame,zoom,origin_x,origin_y,a11,a12,tx,a21,a22,ty\n")
        for i, (zoom, x0, y0, _) in enumerate(transforms):
            if i == 0:
                cur = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]
            else:
                zp, xp, yp, _ = transforms[i - 1]
                s = zoom / zp
                # in = prev / zp + origin_prev; cur = zoom (in - origin_cur)
                cur = [s, 0.0, zoom * (xp - x0), 0.0, s, zoom * (yp - y0)]
            f.write(f"{i + 1},{zoom:.6f},{x0:.4f},{y0:.4f}," + ",".join(f"{v:.6f}" for v in cur) + "\n")

    kept = dropped = 0
    with open(args.gt) as src, open(os.path.join(args.out, "gt.txt"), "w") as dst:
        for line in src:
            p = line.strip().split(",")
            if len(p) < 6:
                continue
            frame = int(float(p[0]))
            if frame < 1 or frame > n:
                continue
            zoom, x0, y0, _ = transforms[frame - 1]
            x, y, w, h = (float(v) for v in p[2:6])
            bx0, by0 = zoom * (x - x0), zoom * (y - y0)
            bx1, by1 = bx0 + zoom * w, by0 + zoom * h
            cx0, cy0 = max(bx0, 0.0), max(by0, 0.0)
            cx1, cy1 = min(bx1, out_w), min(by1, out_h)
            full = (bx1 - bx0) * (by1 - by0)
            inside = max(cx1 - cx0, 0.0) * max(cy1 - cy0, 0.0)
            if full <= 0 or inside < 0.5 * full:
                dropped += 1
                continue
            kept += 1
            conf = p[6] if len(p) > 6 else "1"
            dst.write(f"{frame},{p[1]},{cx0:.2f},{cy0:.2f},{cx1 - cx0:.2f},{cy1 - cy0:.2f},{conf},-1,-1,-1\n")
    speeds = [
        math.hypot(transforms[i][0] * (transforms[i - 1][1] - transforms[i][1]),
                   transforms[i][0] * (transforms[i - 1][2] - transforms[i][2]))
        for i in range(1, n)
    ]
    print(
        f"{n} frames {out_w}x{out_h}; gt boxes kept {kept}, dropped {dropped}; "
        f"pan px/frame: mean {np.mean(speeds):.1f}, p90 {np.percentile(speeds, 90):.1f}, "
        f"max {max(speeds):.1f}"
    )


if __name__ == "__main__":
    main()
