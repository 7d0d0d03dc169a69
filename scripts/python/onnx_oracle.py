#!/usr/bin/env python3
"""Independent reference for lookout's YOLOX: onnxruntime on the same ONNX file, with YOLOX's
own preprocessing (yolox/data/data_augment.py `preproc`: cv2.resize INTER_LINEAR, top-left
paste on a canvas of 114, BGR, no normalisation) and post-processing (yolox/utils/boxes.py
`postprocess` and demo decoding: grid/stride/exp, best class per box, score = obj * cls,
class-aware NMS), written here with numpy only.

Used by tests/yolox_parity.rs and `lookout bench`. One JSON job file in, one JSON result file
out:

    onnx_oracle.py JOB.json OUT.json

JOB.json:
{
  "onnx": "yolox_nano.onnx", "size": 416, "threads": 2,
  "detect": [{"name": ..., "rgb": "x.rgb", "width": W, "height": H,
              "confidence_min": 0.25, "nms_iou_max": 0.45,
              "blob_out": "x.f32", "raw_out": "x.out.f32"}],
  "bench": {"blob": "x.f32", "warmup": 3, "runs": 20}
}
.rgb files are packed RGB8 rows; blob_out receives the letterboxed input (CHW BGR float32,
3*S*S), raw_out the network's raw output ([anchors, 5 + classes] float32).
OUT.json: {"onnxruntime_version", "detect": [{"name", "forward_ms", "detections":
[{"class_index", "score", "x_min", "y_min", "x_max", "y_max"}]}], "bench": {"times_ms"}},
boxes in image pixels, clipped to the image as lookout reports them.
"""

import json
import sys
import time

import cv2
import numpy as np
import onnxruntime as ort


def preproc(rgb, size):
    """YOLOX ValTransform: BGR, resize by r = min(S/h, S/w), top-left on 114."""
    bgr = np.ascontiguousarray(rgb[:, :, ::-1])
    h, w = bgr.shape[:2]
    r = min(size / h, size / w)
    resized = cv2.resize(
        bgr, (int(w * r), int(h * r)), interpolation=cv2.INTER_LINEAR
    ).astype(np.uint8)
    padded = np.full((size, size, 3), 114, dtype=np.uint8)
    padded[: int(h * r), : int(w * r)] = resized
    blob = padded.transpose(2, 0, 1).astype(np.float32)
    return np.ascontiguousarray(blob), r


def decode(raw, size, strides=(8, 16, 32)):
    """YOLOX demo_postprocess: grid offsets and strides."""
    grids, expanded = [], []
    for s in strides:
        g = size // s
        xv, yv = np.meshgrid(np.arange(g), np.arange(g))
        grids.append(np.stack((xv, yv), 2).reshape(-1, 2))
        expanded.append(np.full((g * g, 1), s))
    grids = np.concatenate(grids, 0).astype(np.float32)
    expanded = np.concatenate(expanded, 0).astype(np.float32)
    out = raw.copy()
    out[:, :2] = (out[:, :2] + grids) * expanded
    out[:, 2:4] = np.exp(out[:, 2:4]) * expanded
    return out


def nms(boxes, scores, iou_max):
    """Greedy NMS (torchvision.ops.nms): drop boxes with IoU > iou_max with a kept one."""
    order = np.argsort(-scores, kind="stable")
    keep = []
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    while order.size > 0:
        i = order[0]
        keep.append(i)
        rest = order[1:]
        xx1 = np.maximum(boxes[i, 0], boxes[rest, 0])
        yy1 = np.maximum(boxes[i, 1], boxes[rest, 1])
        xx2 = np.minimum(boxes[i, 2], boxes[rest, 2])
        yy2 = np.minimum(boxes[i, 3], boxes[rest, 3])
        inter = np.clip(xx2 - xx1, 0, None) * np.clip(yy2 - yy1, 0, None)
        iou = inter / (areas[i] + areas[rest] - inter)
        order = rest[iou <= iou_max]
    return keep


def postprocess(pred, conf, iou_max, r, width, height):
    """Best class per box, score obj * cls > conf, NMS per class, boxes / r, clipped."""
    cls = pred[:, 5:]
    best = cls.argmax(1)
    scores = pred[:, 4] * cls[np.arange(len(cls)), best]
    mask = scores > conf
    boxes = np.stack(
        [
            pred[:, 0] - pred[:, 2] / 2,
            pred[:, 1] - pred[:, 3] / 2,
            pred[:, 0] + pred[:, 2] / 2,
            pred[:, 1] + pred[:, 3] / 2,
        ],
        1,
    )[mask]
    scores, best = scores[mask], best[mask]
    dets = []
    for c in np.unique(best):
        idx = np.nonzero(best == c)[0]
        for k in nms(boxes[idx], scores[idx], iou_max):
            b = boxes[idx[k]] / r
            b = [
                float(np.clip(b[0], 0, width)),
                float(np.clip(b[1], 0, height)),
                float(np.clip(b[2], 0, width)),
                float(np.clip(b[3], 0, height)),
            ]
            if b[2] <= b[0] or b[3] <= b[1]:
                continue
            dets.append(
                {
                    "class_index": int(c),
                    "score": float(scores[idx[k]]),
                    "x_min": b[0],
                    "y_min": b[1],
                    "x_max": b[2],
                    "y_max": b[3],
                }
            )
    dets.sort(key=lambda d: -d["score"])
    return dets


def main():
    job = json.load(open(sys.argv[1]))
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = int(job.get("threads", 2))
    opts.inter_op_num_threads = 1
    sess = ort.InferenceSession(job["onnx"], opts, providers=["CPUExecutionProvider"])
    input_name = sess.get_inputs()[0].name
    size = int(job["size"])
    result = {"onnxruntime_version": ort.__version__, "detect": []}
    for item in job.get("detect", []):
        w, h = item["width"], item["height"]
        rgb = np.fromfile(item["rgb"], np.uint8).reshape(h, w, 3)
        blob, r = preproc(rgb, size)
        if "blob_out" in item:
            blob.tofile(item["blob_out"])
        t0 = time.perf_counter()
        raw = sess.run(None, {input_name: blob[None]})[0][0]
        forward_ms = (time.perf_counter() - t0) * 1e3
        if "raw_out" in item:
            raw.astype(np.float32).tofile(item["raw_out"])
        pred = decode(raw, size)
        dets = postprocess(
            pred, item["confidence_min"], item["nms_iou_max"], r, w, h
        )
        result["detect"].append(
            {"name": item["name"], "forward_ms": forward_ms, "detections": dets}
        )
    if "bench" in job:
        b = job["bench"]
        blob = np.fromfile(b["blob"], np.float32).reshape(1, 3, size, size)
        for _ in range(int(b["warmup"])):
            sess.run(None, {input_name: blob})
        times = []
        for _ in range(int(b["runs"])):
            t0 = time.perf_counter()
            sess.run(None, {input_name: blob})
            times.append((time.perf_counter() - t0) * 1e3)
        result["bench"] = {"times_ms": times}
    json.dump(result, open(sys.argv[2], "w"))


if __name__ == "__main__":
    main()
