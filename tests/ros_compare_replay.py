#!/usr/bin/env python3
"""Compares what lookout_node published (JSON written by tests/ros_node_test.py) with what
`lookout replay` wrote for the same frames (MCAP, read here with the independent `mcap` and
`mcap-ros2-support` readers): the same boxes, classes, scores and track ids, frame by frame.

    ros_compare_replay.py NODE.json CAMERA_TOPIC=REPLAY_OUT.mcap [...]
"""

import json
import sys

from mcap.reader import make_reader
from mcap_ros2.decoder import DecoderFactory


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


def main():
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
