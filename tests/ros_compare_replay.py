#!/usr/bin/env python3
"""Compares what lookout_node published (JSON written by tests/ros_node_test.py) with what
`lookout replay` wrote for the same frames (MCAP, read here with the independent `mcap` and
`mcap-ros2-support` readers): the same boxes, classes, scores and track ids, frame by frame.

    ros_compare_replay.py NODE.json CAMERA_TOPIC=REPLAY_OUT.mcap [...]
    ros_compare_replay.py --objects NODE_GROUND.json CAMERA_TOPIC=REPLAY_OUT.mcap [...]

With --objects (issue 15): the ground-plane objects instead, `<base>/objects`
(vision_msgs/Detection3DArray) and `<base>/objects/tracked` (Autoware TrackedObjects): the same
ids, classes, scores, UUIDs and Autoware labels, and positions, sizes, velocities and
covariances within OBJECT_TOLERANCE (the node's pose is composed from /tf_static transforms,
replay's from the configured pose: the same rotation, rounded differently).
"""

import json
import sys

from mcap.reader import make_reader
from mcap_ros2.decoder import DecoderFactory
from ros_objects_json import objects_json, tracked_json


def replay_boxes(path, camera_topic):
    base = camera_topic
    if base.endswith("/compressed"):
        base = base[: -len("/compressed")]
    for suffix in ["/image_raw", "/image_rect_color", "/image_rect", "/image_color", "/image"]:
        if base.endswith(suffix):
            base = base[: -len(suffix)]
            break
    wanted = {f"{base}/detections": "detections", f"{base}/tracks": "tracks"}
    out = {}
    with open(path, "rb") as f:
        reader = make_reader(f, decoder_factories=[DecoderFactory()])
        for _schema, channel, _message, msg in reader.iter_decoded_messages(topics=list(wanted)):
            key = f"{msg.header.stamp.sec}.{msg.header.stamp.nanosec:09d}"
            out.setdefault(key, {})[wanted[channel.topic]] = [
                {
                    "class_id": d.results[0].hypothesis.class_id if d.results else "",
                    "score": d.results[0].hypothesis.score if d.results else None,
                    "cx": d.bbox.center.position.x,
                    "cy": d.bbox.center.position.y,
                    "w": d.bbox.size_x,
                    "h": d.bbox.size_y,
                    "id": d.id,
                }
                for d in msg.detections
            ]
    return out


# Absolute tolerance on metres, m/s and their covariances between the node and replay.
OBJECT_TOLERANCE = 1e-6


def camera_base(camera_topic):
    base = camera_topic
    if base.endswith("/compressed"):
        base = base[: -len("/compressed")]
    for suffix in ["/image_raw", "/image_rect_color", "/image_rect", "/image_color", "/image"]:
        if base.endswith(suffix):
            return base[: -len(suffix)]
    return base


def replay_objects(path, camera_topic):
    base = camera_base(camera_topic)
    wanted = {f"{base}/objects": "objects", f"{base}/objects/tracked": "tracked"}
    out = {}
    with open(path, "rb") as f:
        reader = make_reader(f, decoder_factories=[DecoderFactory()])
        for _schema, channel, _message, msg in reader.iter_decoded_messages(topics=list(wanted)):
            key = f"{msg.header.stamp.sec}.{msg.header.stamp.nanosec:09d}"
            kind = wanted[channel.topic]
            if kind == "objects":
                out.setdefault(key, {})["objects"] = objects_json(msg.detections)
            else:
                out.setdefault(key, {})["tracked"] = tracked_json(msg.objects)
    return out


def close(a, b):
    """Equal, except floats (also inside lists and dicts) within OBJECT_TOLERANCE."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(close(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(close(x, y) for x, y in zip(a, b))
    if isinstance(a, float) and isinstance(b, float):
        return abs(a - b) <= OBJECT_TOLERANCE
    return a == b


def compare_objects(node_json, specs):
    node = json.load(open(node_json))
    failures = compared = objects = 0
    for spec in specs:
        topic, path = spec.split("=", 1)
        replay = replay_objects(path, topic)
        mine = node.get(topic, {})
        if not replay:
            print(f"FAIL: {path} has no objects for {topic}", file=sys.stderr)
            failures += 1
            continue
        if sorted(mine) != sorted(replay):
            failures += 1
            print(f"FAIL: {topic}: node stamps {sorted(mine)} != replay stamps {sorted(replay)}",
                  file=sys.stderr)
        for stamp, outputs in sorted(replay.items()):
            for kind, values in outputs.items():
                got = mine.get(stamp, {}).get(kind)
                compared += 1
                objects += len(values)
                if got is None or not close(got, values):
                    failures += 1
                    print(f"FAIL: {topic} {kind} at {stamp}: node {got} != replay {values}",
                          file=sys.stderr)
        print(f"{topic}: {len(replay)} frames of ground objects compared with {path}")
    if compared == 0:
        failures += 1
        print("FAIL: nothing compared", file=sys.stderr)
    print(f"objects: {objects} compared; "
          f"{compared - failures if failures <= compared else 0} passed, {failures} failed")
    sys.exit(1 if failures else 0)


def main():
    if sys.argv[1] == "--objects":
        compare_objects(sys.argv[2], sys.argv[3:])
    node = json.load(open(sys.argv[1]))
    failures = 0
    compared = 0
    for spec in sys.argv[2:]:
        topic, path = spec.split("=", 1)
        replay = replay_boxes(path, topic)
        mine = node.get(topic, {})
        if not replay:
            print(f"FAIL: {path} has no outputs for {topic}", file=sys.stderr)
            failures += 1
            continue
        for stamp, outputs in sorted(replay.items()):
            for kind, boxes in outputs.items():
                got = mine.get(stamp, {}).get(kind)
                compared += 1
                if got != boxes:
                    failures += 1
                    print(f"FAIL: {topic} {kind} at {stamp}: node {got} != replay {boxes}",
                          file=sys.stderr)
        print(f"{topic}: {len(replay)} frames compared with {path}")
    if compared == 0:
        failures += 1
        print("FAIL: nothing compared", file=sys.stderr)
    print(f"{compared - failures if failures <= compared else 0} passed, {failures} failed")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
