#!/usr/bin/env python3
"""Writes a ROS 2 MCAP recording with a camera's calibration, by an independent writer
(PyPI `mcap-ros2-support`, which encodes CDR from the definition text below, not from
lookout's structs), for tests/ground_python.rs:

- `/cam/front/image_raw/compressed` (sensor_msgs/msg/CompressedImage): FRAMES grey JPEGs,
  stamps 0.1 s apart, frame_id `cam_front_optical`;
- `/cam/front/camera_info` (sensor_msgs/msg/CameraInfo): K, D (plumb_bob), R, P below;
- `/tf_static` (tf2_msgs/msg/TFMessage): base_link -> cam_front_link (1.5, 0.2, 1.6, a body
  rotation of roll 2.5 deg, pitch 6 deg, yaw -3 deg) and cam_front_link -> cam_front_optical
  (the standard optical rotation), in two messages, as two static broadcasters would.

Prints the values as JSON (the test compares lookout's reading with them).

Usage: make_calibrated_recording.py OUT.mcap
"""

import json
import math
import sys

import cv2
import numpy as np
from mcap_ros2.writer import Writer

SEP = "=" * 80
TIME = "int32 sec\nuint32 nanosec\n"
HEADER = "builtin_interfaces/Time stamp\nstring frame_id\n"
DEFS = {
    "sensor_msgs/msg/CompressedImage": (
        "std_msgs/Header header\nstring format\nuint8[] data\n"
        f"{SEP}\nMSG: std_msgs/Header\n{HEADER}{SEP}\nMSG: builtin_interfaces/Time\n{TIME}"
    ),
    "sensor_msgs/msg/CameraInfo": (
        "std_msgs/Header header\nuint32 height\nuint32 width\nstring distortion_model\n"
        "float64[] d\nfloat64[9] k\nfloat64[9] r\nfloat64[12] p\nuint32 binning_x\n"
        "uint32 binning_y\nRegionOfInterest roi\n"
        f"{SEP}\nMSG: std_msgs/Header\n{HEADER}{SEP}\nMSG: builtin_interfaces/Time\n{TIME}"
        f"{SEP}\nMSG: sensor_msgs/RegionOfInterest\n"
        "uint32 x_offset\nuint32 y_offset\nuint32 height\nuint32 width\nbool do_rectify\n"
    ),
    "tf2_msgs/msg/TFMessage": (
        "geometry_msgs/TransformStamped[] transforms\n"
        f"{SEP}\nMSG: geometry_msgs/TransformStamped\n"
        "std_msgs/Header header\nstring child_frame_id\nTransform transform\n"
        f"{SEP}\nMSG: std_msgs/Header\n{HEADER}{SEP}\nMSG: builtin_interfaces/Time\n{TIME}"
        f"{SEP}\nMSG: geometry_msgs/Transform\nVector3 translation\nQuaternion rotation\n"
        f"{SEP}\nMSG: geometry_msgs/Vector3\nfloat64 x\nfloat64 y\nfloat64 z\n"
        f"{SEP}\nMSG: geometry_msgs/Quaternion\nfloat64 x 0\nfloat64 y 0\nfloat64 z 0\nfloat64 w 1\n"
    ),
}

FRAMES = 3
T0_NS = 1_700_000_000_000_000_000
K = [900.0, 0.0, 640.0, 0.0, 905.0, 360.0, 0.0, 0.0, 1.0]
D = [-0.25, 0.07, 0.001, -0.0005, -0.01]
P = [880.0, 0.0, 641.0, 0.0, 0.0, 885.0, 359.0, 0.0, 0.0, 0.0, 1.0, 0.0]
BODY_T = [1.5, 0.2, 1.6]
ROLL, PITCH, YAW = math.radians(2.5), math.radians(6.0), math.radians(-3.0)


def quaternion_rpy(roll, pitch, yaw):
    """[x, y, z, w] of R = Rz(yaw) Ry(pitch) Rx(roll) (ROS / tf2 convention)."""
    cr, sr = math.cos(roll / 2), math.sin(roll / 2)
    cp, sp = math.cos(pitch / 2), math.sin(pitch / 2)
    cy, sy = math.cos(yaw / 2), math.sin(yaw / 2)
    return [sr * cp * cy - cr * sp * sy, cr * sp * cy + sr * cp * sy,
            cr * cp * sy - sr * sp * cy, cr * cp * cy + sr * sp * sy]


def stamp(ns):
    return {"sec": ns // 1_000_000_000, "nanosec": ns % 1_000_000_000}


def transform(parent, child, t, q):
    return {"header": {"stamp": stamp(T0_NS), "frame_id": parent}, "child_frame_id": child,
            "transform": {"translation": dict(zip("xyz", t)), "rotation": dict(zip("xyzw", q))}}


def main():
    out = sys.argv[1]
    body_q = quaternion_rpy(ROLL, PITCH, YAW)
    optical_q = [-0.5, 0.5, -0.5, 0.5]
    with open(out, "wb") as f:
        w = Writer(f)
        schemas = {name: w.register_msgdef(name, text) for name, text in DEFS.items()}
        w.write_message("/tf_static", schemas["tf2_msgs/msg/TFMessage"],
                        {"transforms": [transform("base_link", "cam_front_link", BODY_T, body_q)]},
                        log_time=T0_NS, publish_time=T0_NS)
        w.write_message("/tf_static", schemas["tf2_msgs/msg/TFMessage"],
                        {"transforms": [transform("cam_front_link", "cam_front_optical",
                                                  [0.0, 0.0, 0.0], optical_q)]},
                        log_time=T0_NS, publish_time=T0_NS)
        info = {"header": {"stamp": stamp(T0_NS), "frame_id": "cam_front_optical"},
                "height": 720, "width": 1280, "distortion_model": "plumb_bob", "d": D, "k": K,
                "r": [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0], "p": P,
                "binning_x": 0, "binning_y": 0,
                "roi": {"x_offset": 0, "y_offset": 0, "height": 0, "width": 0,
                        "do_rectify": False}}
        grey = np.full((72, 128, 3), 96, np.uint8)
        ok, jpeg = cv2.imencode(".jpg", grey)
        assert ok
        for i in range(FRAMES):
            t = T0_NS + i * 100_000_000
            w.write_message("/cam/front/camera_info", schemas["sensor_msgs/msg/CameraInfo"],
                            dict(info, header={"stamp": stamp(t), "frame_id": "cam_front_optical"}),
                            log_time=t, publish_time=t, sequence=i)
            w.write_message("/cam/front/image_raw/compressed",
                            schemas["sensor_msgs/msg/CompressedImage"],
                            {"header": {"stamp": stamp(t), "frame_id": "cam_front_optical"},
                             "format": "jpeg", "data": jpeg.tobytes()},
                            log_time=t, publish_time=t, sequence=i)
        w.finish()
    json.dump({"k": K, "d": D, "p": P, "width": 1280, "height": 720,
               "body_translation_m": BODY_T, "body_rotation_xyzw": body_q}, sys.stdout)


if __name__ == "__main__":
    main()
