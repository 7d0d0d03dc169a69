#!/usr/bin/env python3
"""Derives an approximate calibration of PETS09-S2L1 View_001 (768x576) for lookout's ground
stage, from the MOTChallenge ground truth (no calibration is published with the video that
`make demo` uses, Debian's opencv-doc `vtest.avi`).

Method. MOT15's `gt.txt` of PETS09-S2L1 gives, per box, the pedestrian's position on the
ground plane in metres (columns 8-9, the PETS 2009 world frame, z = 0 on the ground). The
bottom centre of each box (where the feet touch the ground) and that position are one
image-to-ground correspondence; the 4650 boxes give a planar calibration target spread over
the whole scene. `cv2.calibrateCamera` on that one planar view fits the focal length (square
pixels, principal point fixed at the image centre: one view cannot separate them) and the
camera's pose in the world frame, minimising the reprojection error of the foot points, with
radial distortion k1 free or fixed at 0 (the fit with the smaller error on held-out tracks is
kept). Box bottoms are where an annotator saw the feet: a few pixels of noise, which thousands
of points average out.

lookout wants the camera in a vehicle frame `base_link` (x forward, y left, z up, ground
z = 0). For a fixed camera we define one: origin on the ground below the camera, x along the
optical axis projected onto the ground, z up (the side of the plane the camera is on). The
result is the camera height, pitch and roll (yaw 0 by construction).

Checks printed: reprojection error (px) on all points and on held-out tracks; the ground
error (m) of the held-out tracks' foot points projected back onto the ground; the implied
pedestrian heights (box tops projected onto vertical lines at the feet; should be about
1.6-1.8 m); the ground-truth walking speeds (m/s, 1 s baseline).

Writes (only the calibration, never the data):
  OUT_DIR/pets09-view001.camera_info.yaml   camera_calibration_parsers YAML (K, D, R, P)
  OUT_DIR/pets09-view001.param.yaml         the ground: keys for lookout (pose in base_link)

Usage: pets09_calibration.py GT_TXT OUT_DIR   (GT_TXT = MOT15 train/PETS09-S2L1/gt/gt.txt)
Needs numpy and opencv (the oracle venv of scripts/setup.sh).
"""

import math
import sys
from pathlib import Path

import cv2
import numpy as np

WIDTH, HEIGHT = 768, 576


def load(path):
    gt = np.loadtxt(path, delimiter=",", ndmin=2)
    gt = gt[gt[:, 6] != 0]
    foot = np.stack([gt[:, 2] + gt[:, 4] / 2, gt[:, 3] + gt[:, 5]], axis=1)
    top = np.stack([gt[:, 2] + gt[:, 4] / 2, gt[:, 3]], axis=1)
    world = np.stack([gt[:, 7], gt[:, 8], np.zeros(len(gt))], axis=1)
    return gt, foot, top, world


def calibrate(foot, world, free_k1):
    k0 = np.array([[900.0, 0, WIDTH / 2], [0, 900.0, HEIGHT / 2], [0, 0, 1]])
    flags = (cv2.CALIB_USE_INTRINSIC_GUESS | cv2.CALIB_FIX_PRINCIPAL_POINT
             | cv2.CALIB_FIX_ASPECT_RATIO | cv2.CALIB_ZERO_TANGENT_DIST
             | cv2.CALIB_FIX_K2 | cv2.CALIB_FIX_K3)
    if not free_k1:
        flags |= cv2.CALIB_FIX_K1
    rms, k, d, rvecs, tvecs = cv2.calibrateCamera(
        [world.astype(np.float32)], [foot.astype(np.float32)], (WIDTH, HEIGHT), k0,
        np.zeros(5), flags=flags)
    r, _ = cv2.Rodrigues(rvecs[0])
    return rms, k, d.ravel(), r, tvecs[0].ravel()


def to_ground(px, k, d, r, t):
    """Foot pixels -> world ground points (z = 0)."""
    norm = cv2.undistortPoints(px.reshape(-1, 1, 2).astype(np.float64), k, d).reshape(-1, 2)
    rays_c = np.concatenate([norm, np.ones((len(norm), 1))], axis=1)
    rays_w = rays_c @ r  # world_from_cam = r.T; row vectors: ray_w = r.T @ ray_c
    centre = -r.T @ t
    s = -centre[2] / rays_w[:, 2]
    return centre + s[:, None] * rays_w


def height_at(top_px, ground_w, k, d, r, t):
    """Height above the ground at which the ray of `top_px` passes the vertical through each
    ground point (least squares along the vertical), m."""
    norm = cv2.undistortPoints(top_px.reshape(-1, 1, 2).astype(np.float64), k, d).reshape(-1, 2)
    rays_w = np.concatenate([norm, np.ones((len(norm), 1))], axis=1) @ r
    centre = -r.T @ t
    # Closest point of the ray c + s·ray to the line g + h·e_z: solve in (s, h).
    heights = []
    for ray, g in zip(rays_w, ground_w):
        a = np.array([[ray @ ray, -ray[2]], [-ray[2], 1.0]])
        b = np.array([ray @ (g - centre), -(g - centre)[2]])
        s, h = np.linalg.solve(a, b)
        heights.append(h)
    return np.abs(np.array(heights))


def base_pose(r, t):
    """The optical frame in base_link (origin below the camera, x = optical axis on the ground,
    z up): translation, rotation matrix, roll, pitch (rad)."""
    centre = -r.T @ t
    up = np.array([0.0, 0.0, 1.0]) * (1.0 if centre[2] > 0 else -1.0)
    optical_axis = r.T @ np.array([0.0, 0.0, 1.0])
    x = optical_axis - (optical_axis @ up) * up
    x /= np.linalg.norm(x)
    y = np.cross(up, x)
    base_from_world = np.stack([x, y, up])
    base_from_optical = base_from_world @ r.T
    # camera_link (x forward, y left, z up) from optical (z forward, x right, y down).
    optical_from_body = np.array([[0.0, -1, 0], [0, 0, -1], [1, 0, 0]])
    base_from_body = base_from_optical @ optical_from_body
    pitch = -math.asin(base_from_body[2, 0])
    roll = math.atan2(base_from_body[2, 1], base_from_body[2, 2])
    return abs(centre[2]), base_from_body, roll, pitch


def quaternion_xyzw(m):
    w = math.sqrt(max(0.0, 1 + m[0, 0] + m[1, 1] + m[2, 2])) / 2
    x = math.copysign(math.sqrt(max(0.0, 1 + m[0, 0] - m[1, 1] - m[2, 2])) / 2, m[2, 1] - m[1, 2])
    y = math.copysign(math.sqrt(max(0.0, 1 - m[0, 0] + m[1, 1] - m[2, 2])) / 2, m[0, 2] - m[2, 0])
    z = math.copysign(math.sqrt(max(0.0, 1 - m[0, 0] - m[1, 1] + m[2, 2])) / 2, m[1, 0] - m[0, 1])
    return [x, y, z, w]


def speeds(gt):
    out = []
    for i in np.unique(gt[:, 1]):
        tr = gt[gt[:, 1] == i]
        tr = tr[np.argsort(tr[:, 0])]
        if len(tr) < 15:
            continue
        xy, f = tr[:, 7:9], tr[:, 0]
        v = np.linalg.norm(xy[7:] - xy[:-7], axis=1) / ((f[7:] - f[:-7]) / 7.0)
        out.append(float(np.median(v)))
    return np.array(out)


def main():
    gt_path, out_dir = Path(sys.argv[1]), Path(sys.argv[2])
    gt, foot, top, world = load(gt_path)
    ids = gt[:, 1].astype(int)
    held_out = ids % 5 == 0
    best = None
    for free_k1 in (False, True):
        rms, k, d, r, t = calibrate(foot[~held_out], world[~held_out], free_k1)
        proj, _ = cv2.projectPoints(world[held_out], cv2.Rodrigues(r)[0], t, k, d)
        test_px = float(np.sqrt(np.mean(np.sum((proj.reshape(-1, 2) - foot[held_out]) ** 2, 1))))
        print(f"k1 {'free' if free_k1 else 'fixed 0'}: fit rms {rms:.2f} px, held-out rms "
              f"{test_px:.2f} px, f {k[0, 0]:.1f} px, k1 {d[0]:.4f}")
        if best is None or test_px < best[0] - 0.05:
            best = (test_px, free_k1)
    free_k1 = best[1]
    rms, k, d, r, t = calibrate(foot, world, free_k1)
    ground = to_ground(foot, k, d, r, t)
    err = np.linalg.norm(ground[:, :2] - world[:, :2], axis=1)
    range_m = np.linalg.norm(ground - (-r.T @ t), axis=1)
    heights = height_at(top, world, k, d, r, t)
    h_cam, base_from_body, roll, pitch = base_pose(r, t)
    q = quaternion_xyzw(base_from_body)
    sp = speeds(gt)
    print(f"kept: k1 {'free' if free_k1 else 'fixed 0'}; all {len(foot)} points: rms "
          f"{rms:.2f} px; ground error median {np.median(err):.2f} m, 90th pct "
          f"{np.percentile(err, 90):.2f} m (median {100 * np.median(err / range_m):.1f} % of "
          f"range, ranges {range_m.min():.1f}-{range_m.max():.1f} m)")
    print(f"f {k[0, 0]:.1f} px (horizontal FOV {math.degrees(2 * math.atan(WIDTH / 2 / k[0, 0])):.1f}"
          f" deg), camera height {h_cam:.2f} m, pitch {math.degrees(pitch):.2f} deg down, roll "
          f"{math.degrees(roll):.2f} deg")
    print(f"implied pedestrian heights: median {np.median(heights):.2f} m, 10-90th pct "
          f"{np.percentile(heights, 10):.2f}-{np.percentile(heights, 90):.2f} m")
    print(f"ground-truth walking speeds (median per track, {len(sp)} tracks): median "
          f"{np.median(sp):.2f} m/s, 25-75th pct {np.percentile(sp, 25):.2f}-"
          f"{np.percentile(sp, 75):.2f} m/s")

    fmt = lambda v: ", ".join(f"{x:.6g}" for x in v)  # noqa: E731
    p = np.zeros((3, 4))
    p[:, :3] = k
    header = (f"# Approximate calibration of PETS09-S2L1 View_001 (768x576), derived by\n"
              f"# scripts/python/pets09_calibration.py from MOT15's gt.txt (foot points and their\n"
              f"# ground positions): not the published PETS 2009 calibration. Fit rms "
              f"{rms:.2f} px,\n# f {k[0, 0]:.1f} px, principal point fixed at the image centre.\n")
    yaml = (header + f"image_width: {WIDTH}\nimage_height: {HEIGHT}\ncamera_name: pets09_view001\n"
            f"camera_matrix:\n  rows: 3\n  cols: 3\n  data: [{fmt(k.ravel())}]\n"
            f"distortion_model: plumb_bob\ndistortion_coefficients:\n  rows: 1\n  cols: 5\n"
            f"  data: [{fmt(d[:5])}]\n"
            f"rectification_matrix:\n  rows: 3\n  cols: 3\n  data: [1, 0, 0, 0, 1, 0, 0, 0, 1]\n"
            f"projection_matrix:\n  rows: 3\n  cols: 4\n  data: [{fmt(p.ravel())}]\n")
    params = (
        "# lookout parameters for the PETS09-S2L1 demo with ground-plane objects (make demo):\n"
        "# the built-in defaults plus an APPROXIMATE calibration of View_001 derived by\n"
        "# scripts/python/pets09_calibration.py from MOT15's ground truth (no calibration is\n"
        "# published with vtest.avi). base_link is a frame made for this fixed camera: origin on\n"
        "# the ground below it, x along its view direction, y left, z up.\n"
        f"# Camera {h_cam:.2f} m up, pitched {math.degrees(pitch):.1f} deg down, rolled "
        f"{math.degrees(roll):.1f} deg; f {k[0, 0]:.0f} px.\n"
        "/**:\n  ros__parameters:\n    ground:\n      enabled: true\n"
        "      camera_info_path: configs/pets09-view001.camera_info.yaml\n"
        "      image_kind: raw\n      pose_frame: body\n"
        f"      translation_m: [0.0, 0.0, {h_cam:.3f}]\n"
        f"      rotation_xyzw: [{fmt(q)}]\n"
        "      use_recording_calibration: false\n")
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "pets09-view001.camera_info.yaml").write_text(yaml)
    (out_dir / "pets09-view001.param.yaml").write_text(params)


if __name__ == "__main__":
    main()
