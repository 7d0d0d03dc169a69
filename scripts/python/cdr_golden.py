#!/usr/bin/env python3
"""Prints the CDR bytes rclpy (Jazzy, rmw_fastrtps_cpp) gives for the messages whose golden bytes
tests/mcap_cdr_golden.rs checks, as hex, one `name hex` line each.

Needs a venv with the ROS 2 Jazzy PyPI wheels (see /work/shared/notes/ros2-from-pypi.md or
scripts/setup-ros.sh): ros-jazzy-rclpy==7.1.6 ros-jazzy-rmw-fastrtps-cpp==8.4.3
ros-jazzy-rcl==9.2.8 ros-jazzy-std-msgs==5.3.6 ros-jazzy-sensor-msgs==5.3.6
ros-jazzy-geometry-msgs==5.3.6, run with LD_LIBRARY_PATH=<venv>/lib:<site-packages>/*.libs.
Serializing creates no DDS participant, so no network namespace is needed.

Fast-CDR leaves alignment padding uninitialised, so padding bytes may differ from run to run
(the test masks them where they occur).
"""

from geometry_msgs.msg import PoseWithCovariance
from rclpy.serialization import serialize_message
from sensor_msgs.msg import CompressedImage, Image
from std_msgs.msg import Header


def header(frame_id):
    h = Header()
    h.stamp.sec = 1
    h.stamp.nanosec = 2
    h.frame_id = frame_id
    return h


def main():
    print("header_cam", serialize_message(header("cam")).hex())
    print("header_ab", serialize_message(header("ab")).hex())
    img = Image()
    img.header = header("cam")
    img.height, img.width, img.encoding, img.is_bigendian, img.step = 2, 3, "rgb8", 0, 9
    img.data = bytes(range(18))
    print("image", serialize_message(img).hex())
    c = CompressedImage()
    c.header = header("cam")
    c.format = "jpeg"
    c.data = bytes([0xFF, 0xD8, 0xFF, 1, 2])
    print("compressed", serialize_message(c).hex())
    p = PoseWithCovariance()
    p.covariance[0] = 1.5
    p.covariance[35] = -2.0
    print("pose", serialize_message(p).hex())


if __name__ == "__main__":
    main()
