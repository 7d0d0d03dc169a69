#!/usr/bin/env python3
"""Independent reader for lookout's MCAP files: PyPI `mcap` + `mcap-ros2-support` (+ OpenCV).

Reads a file and prints one JSON document describing everything in it, so that a Rust test can
check each field against what it wrote:

- header (profile, library), whether a summary section exists, statistics, chunk indexes
  (compression of each chunk), schemas (name, encoding, definition text), channels;
- every message in log-time order, decoded by `mcap_ros2.decoder` from the stored ros2msg
  definition (not from lookout's structs): times, sequence, header stamp and frame_id and the
  type-specific fields (image dims and a sha256 of the data, Detection2DArray,
  Detection3DArray and Autoware TrackedObjects content);
- `linear_message_count`: messages found by a plain forward read with CRC checks
  (`StreamReader(validate_crcs=True)`), which does not use the summary or indexes;
- with `--validate-json`, every `json` message validated (PyPI `jsonschema`) against the
  `jsonschema` schema stored for its channel; failures listed in `json_schema_errors`;
- with `--video PATH`, for each camera message the mean absolute difference between its decoded
  pixels and frame i of the video decoded by OpenCV (`cv2.VideoCapture`);
- with `--images DIR`, the same against the i-th image file of DIR in name order (`cv2.imread`).

Usage: check_mcap.py FILE [--validate-json] [--video PATH | --images DIR]
"""

import argparse
import hashlib
import json
import os
import sys

import numpy as np
from mcap.reader import make_reader
from mcap.stream_reader import StreamReader
from mcap.records import Message
from mcap.decoder import DecoderFactory as McapDecoderFactory
from mcap_ros2.decoder import DecoderFactory


class JsonDecoderFactory(McapDecoderFactory):
    """Decodes `json` channels (lookout's track state) with the standard library."""

    def decoder_for(self, message_encoding, schema):
        if message_encoding == "json":
            return lambda data: json.loads(bytes(data))
        return None


def stamp(header):
    return {"sec": header.stamp.sec, "nanosec": header.stamp.nanosec, "frame_id": header.frame_id}


def image_pixels_rgb(schema_name, msg):
    """Decoded pixels as an RGB uint8 array, or None for non-image messages."""
    import cv2

    if schema_name == "sensor_msgs/msg/CompressedImage":
        bgr = cv2.imdecode(np.frombuffer(bytes(msg.data), np.uint8), cv2.IMREAD_COLOR)
        return None if bgr is None else cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    if schema_name == "sensor_msgs/msg/Image":
        rows = np.frombuffer(bytes(msg.data), np.uint8).reshape(msg.height, msg.step)
        channels = {"rgb8": 3, "bgr8": 3, "mono8": 1}[msg.encoding]
        img = rows[:, : msg.width * channels].reshape(msg.height, msg.width, channels)
        if msg.encoding == "bgr8":
            img = img[:, :, ::-1]
        if msg.encoding == "mono8":
            img = np.repeat(img, 3, axis=2)
        return np.ascontiguousarray(img)
    return None


def describe(schema_name, msg):
    if schema_name == "sensor_msgs/msg/CompressedImage":
        data = bytes(msg.data)
        out = {"header": stamp(msg.header), "format": msg.format, "data_len": len(data),
               "data_sha256": hashlib.sha256(data).hexdigest()}
        rgb = image_pixels_rgb(schema_name, msg)
        out["decoded"] = None if rgb is None else {"width": rgb.shape[1], "height": rgb.shape[0]}
        return out
    if schema_name == "sensor_msgs/msg/Image":
        data = bytes(msg.data)
        return {"header": stamp(msg.header), "height": msg.height, "width": msg.width,
                "encoding": msg.encoding, "is_bigendian": msg.is_bigendian, "step": msg.step,
                "data_len": len(data), "data_sha256": hashlib.sha256(data).hexdigest()}
    if schema_name == "vision_msgs/msg/Detection2DArray":
        dets = []
        for d in msg.detections:
            dets.append({
                "header": stamp(d.header),
                "id": d.id,
                "bbox": {"x": d.bbox.center.position.x, "y": d.bbox.center.position.y,
                         "theta": d.bbox.center.theta, "size_x": d.bbox.size_x,
                         "size_y": d.bbox.size_y},
                "results": [{
                    "class_id": r.hypothesis.class_id,
                    "score": r.hypothesis.score,
                    "position": [r.pose.pose.position.x, r.pose.pose.position.y,
                                 r.pose.pose.position.z],
                    "orientation": [r.pose.pose.orientation.x, r.pose.pose.orientation.y,
                                    r.pose.pose.orientation.z, r.pose.pose.orientation.w],
                    "covariance": list(r.pose.covariance),
                } for r in d.results],
            })
        return {"header": stamp(msg.header), "detections": dets}
    if schema_name == "vision_msgs/msg/Detection3DArray":
        def pose(p):
            return {"position": [p.position.x, p.position.y, p.position.z],
                    "orientation": [p.orientation.x, p.orientation.y, p.orientation.z,
                                    p.orientation.w]}
        return {"header": stamp(msg.header), "detections": [{
            "header": stamp(d.header), "id": d.id,
            "center": pose(d.bbox.center),
            "size": [d.bbox.size.x, d.bbox.size.y, d.bbox.size.z],
            "results": [{"class_id": r.hypothesis.class_id, "score": r.hypothesis.score,
                         "pose": pose(r.pose.pose), "covariance": list(r.pose.covariance)}
                        for r in d.results],
        } for d in msg.detections]}
    if schema_name == "autoware_perception_msgs/msg/TrackedObjects":
        objects = []
        for o in msg.objects:
            k = o.kinematics
            p = k.pose_with_covariance.pose
            t = k.twist_with_covariance
            objects.append({
                "uuid": list(o.object_id.uuid),
                "existence_probability": o.existence_probability,
                "classification": [{"label": c.label, "probability": c.probability}
                                   for c in o.classification],
                "position": [p.position.x, p.position.y, p.position.z],
                "orientation": [p.orientation.x, p.orientation.y, p.orientation.z,
                                p.orientation.w],
                "pose_covariance": list(k.pose_with_covariance.covariance),
                "twist_linear": [t.twist.linear.x, t.twist.linear.y, t.twist.linear.z],
                "twist_covariance": list(t.covariance),
                "orientation_availability": k.orientation_availability,
                "is_stationary": k.is_stationary,
                "shape_type": o.shape.type,
                "footprint_points": len(o.shape.footprint.points),
                "dimensions": [o.shape.dimensions.x, o.shape.dimensions.y,
                               o.shape.dimensions.z],
            })
        return {"header": stamp(msg.header), "objects": objects}
    if schema_name in ("lookout.TrackArray", "foxglove.ImageAnnotations",
                       "foxglove.SceneUpdate"):
        return {"json": msg}
    return {}


def reference_frames(args):
    """Yields RGB reference frames from --video or --images, or nothing."""
    import cv2

    if args.video:
        cap = cv2.VideoCapture(args.video)
        while True:
            ok, bgr = cap.read()
            if not ok:
                return
            yield cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    if args.images:
        names = sorted(n for n in os.listdir(args.images)
                       if n.lower().endswith((".jpg", ".jpeg", ".png")))
        for name in names:
            bgr = cv2.imread(os.path.join(args.images, name), cv2.IMREAD_COLOR)
            yield cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("file")
    parser.add_argument("--video")
    parser.add_argument("--images")
    parser.add_argument("--validate-json", action="store_true")
    args = parser.parse_args()

    out = {}
    with open(args.file, "rb") as f:
        reader = make_reader(f, decoder_factories=[DecoderFactory(), JsonDecoderFactory()])
        header = reader.get_header()
        out["profile"] = header.profile
        out["library"] = header.library
        summary = reader.get_summary()
        out["has_summary"] = summary is not None
        if summary is not None:
            st = summary.statistics
            out["statistics"] = None if st is None else {
                "message_count": st.message_count,
                "channel_message_counts": {str(k): v for k, v in st.channel_message_counts.items()},
                "chunk_count": st.chunk_count,
                "message_start_time": st.message_start_time,
                "message_end_time": st.message_end_time,
            }
            out["chunk_compressions"] = [c.compression for c in summary.chunk_indexes]
            out["chunk_indexes_with_message_index"] = sum(
                1 for c in summary.chunk_indexes if c.message_index_offsets)
            out["schemas"] = {str(s.id): {"name": s.name, "encoding": s.encoding,
                                          "data": s.data.decode("utf-8")}
                              for s in summary.schemas.values()}
            out["channels"] = {str(c.id): {"topic": c.topic, "schema_id": c.schema_id,
                                           "message_encoding": c.message_encoding,
                                           "metadata": dict(c.metadata)}
                               for c in summary.channels.values()}
        refs = reference_frames(args) if (args.video or args.images) else None
        messages = []
        validators = {}
        schema_errors = []
        for schema, channel, message, decoded in reader.iter_decoded_messages(log_time_order=True):
            if args.validate_json and channel.message_encoding == "json":
                import jsonschema

                if schema.encoding != "jsonschema":
                    schema_errors.append(f"{channel.topic}: schema encoding {schema.encoding}")
                elif schema.id not in validators:
                    doc = json.loads(schema.data)
                    jsonschema.validators.validator_for(doc).check_schema(doc)
                    validators[schema.id] = jsonschema.validators.validator_for(doc)(doc)
                if schema.id in validators:
                    for err in validators[schema.id].iter_errors(decoded):
                        schema_errors.append(f"{channel.topic} seq {message.sequence}: {err.message}")
            entry = {"topic": channel.topic, "schema": schema.name, "log_time": message.log_time,
                     "publish_time": message.publish_time, "sequence": message.sequence}
            entry.update(describe(schema.name, decoded))
            if refs is not None:
                rgb = image_pixels_rgb(schema.name, decoded)
                if rgb is not None:
                    ref = next(refs, None)
                    if ref is None or ref.shape != rgb.shape:
                        entry["reference_mean_abs_diff"] = None
                    else:
                        entry["reference_mean_abs_diff"] = float(
                            np.abs(ref.astype(np.int16) - rgb.astype(np.int16)).mean())
            messages.append(entry)
        out["messages"] = messages
        if args.validate_json:
            out["json_schema_errors"] = schema_errors
            out["json_schemas_checked"] = len(validators)

    with open(args.file, "rb") as f:
        count = 0
        for record in StreamReader(f, skip_magic=False, emit_chunks=False,
                                   validate_crcs=True).records:
            if isinstance(record, Message):
                count += 1
        out["linear_message_count"] = count

    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
