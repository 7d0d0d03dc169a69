#!/usr/bin/env python3
"""Independent reference for lookout's detector: OpenCV DNN (4.x, cv2.dnn.readNetFromDarknet)
on the same cfg/weights and the same letterboxed input blob, plus a plain numpy
reimplementation of darknet's letterbox_image.

Used by tests/detector_parity.rs. One JSON job file in, one JSON result file out:

    opencv_oracle.py JOB.json OUT.json

JOB.json:
{
  "detect": [{"cfg": ..., "weights": ..., "size": 416, "confidence_min": 0.25,
              "nms_iou_max": 0.45, "multi_label": false,
              "items": [{"name": ..., "blob": "x.f32", "image_w": W, "image_h": H}]}],
  "letterbox": [{"name": ..., "rgb": "x.rgb", "width": W, "height": H, "size": S,
                 "out": "x.f32"}],
  "bench": [{"name": ..., "cfg": ..., "weights": ..., "size": 416, "blob": "x.f32",
             "threads": 2, "warmup": 3, "runs": 20}]
}
Blobs are raw little-endian float32, CHW RGB in [0, 1], 3*S*S values; .rgb files are packed
RGB8 rows. OUT.json: {"opencv_version": ..., "detect": [{"name", "model", "forward_ms",
"detections": [{"class_index", "score", "x_min", "y_min", "x_max", "y_max"}]}]}, boxes in
image pixels; "bench": [{"name", "threads", "times_ms": [...]}].

Decoding follows OpenCV's own YOLO region-layer output: one row per anchor and cell,
[cx, cy, w, h] normalised to the network input, objectness, then per-class scores that OpenCV
has already multiplied by objectness (and zeroed below its 0.2 threshold, which is below the
confidence threshold used here). With "multi_label": true every class with score >
confidence_min is a candidate (as darknet does); with false (the default, lookout's default
policy) only the row's best class is, if its score > confidence_min. NMS is cv2.dnn.NMSBoxes
per class.
"""

import json
import sys
import time

import cv2
import numpy as np


def letterbox_geometry(w, h, s):
    """darknet letterbox_image: compare float ratios, scale in integers."""
    if np.float32(s) / np.float32(w) < np.float32(s) / np.float32(h):
        new_w, new_h = s, (h * s) // w
    else:
        new_w, new_h = (w * s) // h, s
    new_w, new_h = max(new_w, 1), max(new_h, 1)
    return new_w, new_h, (s - new_w) // 2, (s - new_h) // 2


def darknet_resize(im, new_w, new_h):
    """darknet resize_image on an HxWxC float32 array, in float32 as darknet computes it."""
    h, w, _ = im.shape
    f32 = np.float32
    w_scale = f32(w - 1) / f32(new_w - 1) if new_w > 1 else f32(0)
    h_scale = f32(h - 1) / f32(new_h - 1) if new_h > 1 else f32(0)
    # horizontal pass
    part = np.empty((h, new_w, im.shape[2]), np.float32)
    for c in range(new_w):
        if c == new_w - 1 or w == 1:
            part[:, c] = im[:, w - 1]
        else:
            sx = f32(c) * w_scale
            ix = int(sx)
            dx = f32(sx - f32(ix))
            part[:, c] = (f32(1) - dx) * im[:, ix] + dx * im[:, ix + 1]
    # vertical pass: (1 - dy) * row iy, then + dy * row iy+1 except on the last row
    out = np.empty((new_h, new_w, im.shape[2]), np.float32)
    for r in range(new_h):
        sy = f32(r) * h_scale
        iy = min(int(sy), h - 1)
        dy = f32(sy - f32(iy))
        val = (f32(1) - dy) * part[iy]
        if not (r == new_h - 1 or h == 1):
            val = val + dy * part[iy + 1]
        out[r] = val
    return out


def letterbox(rgb, s):
    h, w, _ = rgb.shape
    new_w, new_h, off_x, off_y = letterbox_geometry(w, h, s)
    im = rgb.astype(np.float32) / np.float32(255.0)
    resized = darknet_resize(im, new_w, new_h)
    canvas = np.full((s, s, 3), 0.5, np.float32)
    canvas[off_y:off_y + new_h, off_x:off_x + new_w] = resized
    return np.ascontiguousarray(canvas.transpose(2, 0, 1))


def detect(net, out_names, blob, s, image_w, image_h, conf_min, nms_iou_max, multi_label):
    net.setInput(blob.reshape(1, 3, s, s))
    t0 = time.perf_counter()
    outs = net.forward(out_names)
    forward_ms = (time.perf_counter() - t0) * 1e3
    rows = np.concatenate(outs, axis=0)
    new_w, new_h, off_x, off_y = letterbox_geometry(image_w, image_h, s)
    sx, sy = image_w / new_w, image_h / new_h
    per_class = {}
    for row in rows:
        scores = row[5:]
        if multi_label:
            classes = np.nonzero(scores > conf_min)[0]
        else:
            best = int(np.argmax(scores))
            classes = [best] if scores[best] > conf_min else []
        for cls in classes:
            cx, cy, bw, bh = (float(v) * s for v in row[:4])
            per_class.setdefault(int(cls), []).append(
                (cx - bw / 2, cy - bh / 2, bw, bh, float(scores[cls])))
    dets = []
    for cls, cands in per_class.items():
        boxes = [[c[0], c[1], c[2], c[3]] for c in cands]
        scores = [c[4] for c in cands]
        keep = cv2.dnn.NMSBoxes(boxes, scores, conf_min, nms_iou_max)
        for i in np.array(keep).reshape(-1):
            x, y, bw, bh, score = cands[int(i)]
            # model pixels -> image pixels, then clip to the image
            x0 = min(max((x - off_x) * sx, 0.0), image_w)
            y0 = min(max((y - off_y) * sy, 0.0), image_h)
            x1 = min(max((x + bw - off_x) * sx, 0.0), image_w)
            y1 = min(max((y + bh - off_y) * sy, 0.0), image_h)
            if x1 > x0 and y1 > y0:
                dets.append({"class_index": cls, "score": score,
                             "x_min": x0, "y_min": y0, "x_max": x1, "y_max": y1})
    dets.sort(key=lambda d: (-d["score"], d["class_index"], d["x_min"], d["y_min"]))
    return dets, forward_ms


def bench(model):
    """Forward-pass wall times (ms) of OpenCV DNN on one blob, with `threads` threads: `warmup`
    untimed runs, then `runs` timed ones. Timed the same way lookout times its own forward:
    network input set to output tensors available on the host."""
    cv2.setNumThreads(int(model["threads"]))
    net = cv2.dnn.readNetFromDarknet(model["cfg"], model["weights"])
    net.setPreferableBackend(cv2.dnn.DNN_BACKEND_OPENCV)
    net.setPreferableTarget(cv2.dnn.DNN_TARGET_CPU)
    out_names = net.getUnconnectedOutLayersNames()
    s = int(model["size"])
    blob = np.fromfile(model["blob"], dtype="<f4").reshape(1, 3, s, s)
    times = []
    for i in range(int(model["warmup"]) + int(model["runs"])):
        t = time.perf_counter()
        net.setInput(blob)
        net.forward(out_names)
        if i >= int(model["warmup"]):
            times.append((time.perf_counter() - t) * 1e3)
    return {"name": model["name"], "threads": cv2.getNumThreads(), "times_ms": times}


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: opencv_oracle.py JOB.json OUT.json")
    with open(sys.argv[1]) as f:
        job = json.load(f)
    if not hasattr(cv2.dnn, "readNetFromDarknet"):
        sys.exit(f"OpenCV {cv2.__version__} has no darknet importer; the oracle needs 4.x "
                 "(opencv-python-headless==4.12.0.88, see scripts/setup.sh)")
    result = {"opencv_version": cv2.__version__, "detect": []}
    for model in job.get("detect", []):
        net = cv2.dnn.readNetFromDarknet(model["cfg"], model["weights"])
        net.setPreferableBackend(cv2.dnn.DNN_BACKEND_OPENCV)
        net.setPreferableTarget(cv2.dnn.DNN_TARGET_CPU)
        out_names = net.getUnconnectedOutLayersNames()
        s = int(model["size"])
        for item in model["items"]:
            blob = np.fromfile(item["blob"], dtype="<f4")
            if blob.size != 3 * s * s:
                sys.exit(f"{item['blob']}: {blob.size} floats, expected {3 * s * s}")
            dets, forward_ms = detect(net, out_names, blob, s, item["image_w"], item["image_h"],
                                      float(model["confidence_min"]),
                                      float(model["nms_iou_max"]),
                                      bool(model.get("multi_label", False)))
            result["detect"].append({"name": item["name"], "model": model["cfg"],
                                     "forward_ms": forward_ms, "detections": dets})
    for item in job.get("letterbox", []):
        w, h = item["width"], item["height"]
        rgb = np.fromfile(item["rgb"], dtype=np.uint8)
        if rgb.size != 3 * w * h:
            sys.exit(f"{item['rgb']}: {rgb.size} bytes, expected {3 * w * h}")
        letterbox(rgb.reshape(h, w, 3), int(item["size"])).astype("<f4").tofile(item["out"])
    for model in job.get("bench", []):
        result.setdefault("bench", []).append(bench(model))
    with open(sys.argv[2], "w") as f:
        json.dump(result, f)


if __name__ == "__main__":
    main()
