#!/usr/bin/env python3
"""lookout_node against a real ROS 2 (rclpy, Jazzy wheels): run by scripts/test-ros.sh inside a
loopback-only network namespace, with the node started on tests/ros_node_test.param.yaml.

Test mode: an rclpy camera publishes real PETS09 frames as Image rgb8, Image bgr8 and
CompressedImage (JPEG) in lockstep (next frame once every output of the previous one arrived),
and checks one detections and one tracks message per input, stamps and frame_id preserved,
the YAML parameters in effect (confidence_min, the frame_id override), rgb8 and bgr8 giving the
same boxes, the debug image, /diagnostics, and that bad input (wrong data length, unknown
encoding, corrupt JPEG) is counted and does not stop the node. The received boxes are written
as JSON for the comparison with `lookout replay`.

The test also holds a publisher on /cam_silent/image_raw that publishes nothing: the node must
report it on /diagnostics (WARN, "no image for N s" with a QoS/transport hint) once
diagnostics.silence_warn_s has passed (issue 17: silence instead of an error).

Default mode (issue 17): the node runs on the shipped parameters and the launch files' Fast DDS
profile, with no QoS override. Each camera publishes best effort (sensor-data QoS, as camera
drivers do) at --fps for --seconds: bgr8 Images of a PETS09 frame scaled to the camera's size, or
the JPEG frames. Prints one JSON line per camera: frames sent, received by the node, processed
(published), the node's latency percentiles from /diagnostics; fails when fewer than
--min-received of the frames sent arrive (0: the camera is only measured), when frames arrive
but none is processed, or when a processed frame gives no output.

Ground mode (issue 15; the node on tests/ros_node_ground.param.yaml, ground.enabled): publishes
the camera's pose on /tf_static (reliable, transient local, as a static broadcaster: base_link ->
cam_rgb_link -> cam_rgb_optical, two messages) and its CameraInfo (from the calibration YAML given)
beside the image topic, waits until /diagnostics says the camera is calibrated from them, then
publishes PETS09 frames in lockstep (a CameraInfo with each, as a driver does) and checks per
frame: objects (vision_msgs/Detection3DArray), objects/tracked (autoware TrackedObjects) and
objects/markers (visualization_msgs/MarkerArray) in base_link with the image's stamp, the same ids
as the 2D tracks of that frame, UUIDs ending in the id, a cube and a label per object. Writes the
objects as JSON for the comparison with `lookout replay` (tests/ros_compare_replay.py --objects).

Bench mode: publishes synthetic frames of one size on one camera in lockstep and prints the
node's own overhead percentiles from /diagnostics.
"""

import argparse
import json
import os
import sys
import time

import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from rcl_interfaces.srv import GetParameters, SetParameters
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from rosgraph_msgs.msg import Clock
from sensor_msgs.msg import CompressedImage, Image
from vision_msgs.msg import Detection2DArray
from ros_objects_json import objects_json, tracked_json

RELIABLE = QoSProfile(
    reliability=ReliabilityPolicy.RELIABLE, history=HistoryPolicy.KEEP_LAST, depth=100
)


def track_color(track_id):
    """lookout::viz::track_color: a track's box colour in the debug image (as in replay frames).

    The hue advances by the golden ratio per id; HSV(hue, 0.85, 0.95) to 8-bit RGB, rounding
    half away from zero as Rust's f64::round does.
    """
    h6 = ((track_id * 0.618_033_988_749_895) % 1.0) * 6.0
    sector = int(h6)
    f = h6 - sector
    s, v = 0.85, 0.95
    p, q, t = v * (1 - s), v * (1 - s * f), v * (1 - s * (1 - f))
    r, g, b = [(v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q)][min(sector, 5)]
    return tuple(min(255, int(c * 255 + 0.5)) for c in (r, g, b))


failures = []
# The simulated time the test publishes on /clock when the node runs with use_sim_time.
SIM_TIME_S = 1_800_000_000


def check(cond, message):
    if not cond:
        failures.append(message)
        print(f"FAIL: {message}", file=sys.stderr)
    return cond


class Camera:
    """One input camera of the node and its two output topics."""

    def __init__(self, node, name, kind, in_topic, out_base, frame_id, expect_frame_id):
        self.name, self.kind, self.in_topic = name, kind, in_topic
        self.frame_id, self.expect_frame_id = frame_id, expect_frame_id
        msg_type = CompressedImage if kind == "jpeg" else Image
        self.pub = node.create_publisher(msg_type, in_topic, RELIABLE)
        self.received = {"detections": [], "tracks": []}
        self.out_topics = {k: f"{out_base}/{k}" for k in self.received}
        for k, topic in self.out_topics.items():
            node.create_subscription(
                Detection2DArray, topic, lambda m, k=k: self.received[k].append(m), RELIABLE
            )


def stamp_of(msg):
    return (msg.header.stamp.sec, msg.header.stamp.nanosec)


def make_image(frame_rgb, encoding, stamp, frame_id):
    h, w, _ = frame_rgb.shape
    msg = Image()
    msg.header.stamp.sec, msg.header.stamp.nanosec = stamp
    msg.header.frame_id = frame_id
    msg.height, msg.width, msg.encoding, msg.is_bigendian, msg.step = h, w, encoding, 0, w * 3
    pixels = frame_rgb if encoding == "rgb8" else frame_rgb[:, :, ::-1]
    msg.data = np.ascontiguousarray(pixels).tobytes()
    return msg


def make_jpeg(jpeg_bytes, stamp, frame_id):
    msg = CompressedImage()
    msg.header.stamp.sec, msg.header.stamp.nanosec = stamp
    msg.header.frame_id = frame_id
    msg.format = "jpeg"
    msg.data = jpeg_bytes
    return msg


def spin_until(node, cond, timeout_s, what):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        rclpy.spin_once(node, timeout_sec=0.05)
        if cond():
            return True
    check(False, f"timed out after {timeout_s:.0f} s waiting for {what}")
    return False


def spin_for(node, seconds):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        rclpy.spin_once(node, timeout_sec=0.05)


def wait_for_graph(node, cameras, timeout_s):
    def matched():
        return all(
            c.pub.get_subscription_count() >= 1
            and all(node.count_publishers(t) >= 1 for t in c.out_topics.values())
            for c in cameras
        )

    return spin_until(node, matched, timeout_s, "the node's subscriptions and publishers")


def publish_lockstep(node, cameras, messages, stamp, timeout_s):
    """Publishes one message per camera and waits for both outputs of each."""
    before = {c.name: {k: len(v) for k, v in c.received.items()} for c in cameras}
    for c, msg in zip(cameras, messages):
        c.pub.publish(msg)

    def done():
        return all(
            any(stamp_of(m) == stamp for m in c.received[k][before[c.name][k]:])
            for c in cameras
            for k in c.received
        )

    return spin_until(node, done, timeout_s, f"outputs for stamp {stamp}")


def boxes(msg):
    return [
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


def latest_status(diags, name_suffix):
    for arr in reversed(diags):
        for s in arr.status:
            if s.name.endswith(name_suffix):
                return {kv.key: kv.value for kv in s.values}, s
    return None, None


def run_test(args):
    node = Node("lookout_test")
    raw = np.fromfile(args.raw, dtype=np.uint8)
    frame_bytes = args.width * args.height * 3
    n_frames = min(args.frames, raw.size // frame_bytes)
    frames = raw[: n_frames * frame_bytes].reshape(n_frames, args.height, args.width, 3)
    jpegs = [
        open(os.path.join(args.jpeg_dir, f"frame_{i + 1:04d}.jpg"), "rb").read()
        for i in range(n_frames)
    ]
    ns = args.ns.rstrip("/")
    cameras = [
        Camera(node, "rgb", "rgb8", "/cam_rgb/image_raw", f"{ns}/cam_rgb", "cam_rgb_frame",
               "cam_rgb_frame"),
        Camera(node, "bgr", "bgr8", "/cam_bgr/image_raw", f"{ns}/cam_bgr", "cam_bgr_frame",
               "cam_bgr_frame"),
        Camera(node, "jpeg", "jpeg", "/cam_jpeg/image_raw/compressed", f"{ns}/cam_jpeg",
               "cam_jpeg_frame", "jpeg_override_frame"),
    ]
    diags = []
    node.create_subscription(DiagnosticArray, "/diagnostics", diags.append, RELIABLE)
    # Matched (best effort, like a camera driver) and never publishing.
    silent_pub = node.create_publisher(Image, "/cam_silent/image_raw", qos_profile_sensor_data)
    silent_since = time.monotonic()
    if args.sim_time:
        clock_pub = node.create_publisher(Clock, "/clock", RELIABLE)
        sim = Clock()
        sim.clock.sec, sim.clock.nanosec = SIM_TIME_S, 0
        node.create_timer(0.05, lambda: clock_pub.publish(sim))
    if not wait_for_graph(node, cameras, args.discovery_timeout_s):
        return

    def messages_for(i, stamp):
        return [
            make_image(frames[i], "rgb8", stamp, cameras[0].frame_id),
            make_image(frames[i], "bgr8", stamp, cameras[1].frame_id),
            make_jpeg(jpegs[i], stamp, cameras[2].frame_id),
        ]

    stamps = []
    for i in range(n_frames):
        # The stamps `lookout record --fps F --start-ns S` gives frame i, so that the replay of
        # the same frames runs the tracker on the same time steps.
        stamp = divmod(args.start_ns + round(i * 1e9 / args.fps), 1_000_000_000)
        stamps.append(stamp)
        if not publish_lockstep(node, cameras, messages_for(i, stamp), stamp, args.frame_timeout_s):
            return
    # Anything still in flight would be an extra output.
    end = time.monotonic() + 1.0
    while time.monotonic() < end:
        rclpy.spin_once(node, timeout_sec=0.05)

    results = {}
    total_detections = 0
    for c in cameras:
        per_frame = {}
        for k, msgs in c.received.items():
            got = [stamp_of(m) for m in msgs]
            check(got == stamps, f"{c.name}/{k}: one output per input in order, got stamps {got}")
            for m in msgs:
                check(m.header.frame_id == c.expect_frame_id,
                      f"{c.name}/{k}: frame_id {m.header.frame_id!r} != {c.expect_frame_id!r}")
                for d in m.detections:
                    check(stamp_of(d) == stamp_of(m) and d.header.frame_id == m.header.frame_id,
                          f"{c.name}/{k}: detection header differs from the array's")
                    score = d.results[0].hypothesis.score if d.results else -1.0
                    check(score >= args.confidence_min - 1e-6,
                          f"{c.name}/{k}: score {score} below confidence_min {args.confidence_min}"
                          " from the parameter file")
                    check(0 <= d.bbox.center.position.x <= args.width
                          and 0 <= d.bbox.center.position.y <= args.height,
                          f"{c.name}/{k}: box centre outside the image")
                    if k == "tracks":
                        check(d.id.isdigit(), f"{c.name}/tracks: id {d.id!r} is not a track id")
                    else:
                        check(d.id == "", f"{c.name}/detections: id {d.id!r} should be empty")
                if k == "detections":
                    total_detections += len(m.detections)
                per_frame.setdefault(f"{m.header.stamp.sec}.{m.header.stamp.nanosec:09d}", {})[k] = boxes(m)
        results[c.in_topic] = per_frame
    check(total_detections > 0, "no detections at all on PETS09 frames")
    # ground.enabled is off in this parameter file: no ground-plane topic exists.
    for t in ("objects", "objects/tracked", "objects/markers"):
        check(node.count_publishers(f"{ns}/cam_rgb/{t}") == 0,
              f"{ns}/cam_rgb/{t} is advertised without ground.enabled")
    check(results[cameras[0].in_topic] == results[cameras[1].in_topic],
          "rgb8 and bgr8 cameras of the same frames gave different boxes")

    # Nobody watched the debug images so far: none may have been drawn.
    for c in cameras:
        kv, _ = latest_status(diags, c.in_topic)
        check(kv is not None and kv.get("debug_images") == "0",
              f"{c.name}: debug images drawn without a subscriber: {kv and kv.get('debug_images')}")

    # Debug image: subscribe, let the node see the subscription, send frames until one comes
    # back (the node's publisher may not have matched the subscription yet).
    debug = []
    node.create_subscription(Image, f"{ns}/cam_rgb/debug/image", debug.append, RELIABLE)
    spin_until(node, lambda: node.count_publishers(f"{ns}/cam_rgb/debug/image") >= 1, 10.0,
               "the debug image publisher")
    i = 0
    dbg = []
    extra_frames = 0
    for attempt in range(5):
        stamp = (1_700_001_000 + attempt, 1)
        extra_frames += 1
        publish_lockstep(node, cameras, messages_for(i, stamp), stamp, args.frame_timeout_s)
        end = time.monotonic() + 3.0
        while time.monotonic() < end and not dbg:
            rclpy.spin_once(node, timeout_sec=0.05)
            dbg = [m for m in debug if stamp_of(m) == stamp]
        if dbg:
            break
    check(bool(dbg), "no debug image on cam_rgb/debug/image in 5 frames")
    if dbg:
        m = dbg[0]
        check(m.encoding == "rgb8" and m.width == args.width and m.height == args.height
              and m.step == args.width * 3 and len(m.data) == frame_bytes,
              f"debug image layout: {m.encoding} {m.width}x{m.height} step {m.step}")
        img = np.frombuffer(bytes(m.data), dtype=np.uint8).reshape(args.height, args.width, 3)
        check((img != frames[i]).any(), "debug image has nothing drawn on it")
        # Box corners carry their track's colour (unless another box's label covers them).
        tracks = [t for t in cameras[0].received["tracks"] if stamp_of(t) == stamp]
        corners = []
        for t in (tracks[0].detections if tracks else []):
            x = int(round(t.bbox.center.position.x - t.bbox.size_x / 2))
            y = int(round(t.bbox.center.position.y - t.bbox.size_y / 2))
            if 0 <= x < args.width and 0 <= y < args.height:
                corners.append(tuple(int(v) for v in img[y, x]) == track_color(int(t.id)))
        check(not corners or any(corners),
              f"debug image: no track box corner has a box colour ({len(corners)} tracks)")

    # Bad input: the node logs, counts and keeps going.
    h, w = args.height, args.width
    short = make_image(frames[0], "rgb8", (1_700_002_000, 1), "cam_rgb_frame")
    short.data = bytes(short.data)[:-1]
    unknown = make_image(frames[0], "rgb8", (1_700_002_000, 2), "cam_rgb_frame")
    unknown.encoding = "rgb42"
    corrupt = make_jpeg(b"\xff\xd8\xff\xe0" + b"\x00" * 64, (1_700_002_000, 3), "cam_jpeg_frame")
    # One at a time, each counted before the next goes out: the node keeps only the newest
    # frame per camera (newest wins), so a frame sent right behind another may replace it
    # before it is decoded; this part tests decoding errors, not that policy.
    def errors_counted(topic, n):
        kv, _ = latest_status(diags, topic)
        return kv is not None and kv.get("decode_errors") == str(n)

    for pub, msg, topic, n in [
        (cameras[0].pub, short, "/cam_rgb/image_raw", 1),
        (cameras[0].pub, unknown, "/cam_rgb/image_raw", 2),
        (cameras[2].pub, corrupt, "/cam_jpeg/image_raw/compressed", 1),
    ]:
        pub.publish(msg)
        spin_until(node, lambda: errors_counted(topic, n), 10.0,
                   f"/diagnostics counting bad frame {n} of {topic}")
    stamp = (1_700_003_000, 0)
    check(publish_lockstep(node, cameras, messages_for(1, stamp), stamp, args.frame_timeout_s),
          "the node stopped answering after bad input")
    bad_stamps = {(1_700_002_000, k) for k in (1, 2, 3)}
    for c in cameras:
        for k, msgs in c.received.items():
            check(not any(stamp_of(m) in bad_stamps for m in msgs),
                  f"{c.name}/{k}: published an output for a bad frame")

    # /diagnostics: counts and the latency series, once a report covers every frame sent.
    expected_frames = n_frames + extra_frames + 1

    def diag_ok():
        rgb, _ = latest_status(diags, "/cam_rgb/image_raw")
        jpg, _ = latest_status(diags, "/cam_jpeg/image_raw/compressed")
        published = [latest_status(diags, c.in_topic)[0] for c in cameras]
        return rgb is not None and jpg is not None and rgb.get("decode_errors") == "2" \
            and jpg.get("decode_errors") == "1" \
            and all(p and p.get("frames_published") == str(expected_frames) for p in published)

    spin_until(node, diag_ok, 5.0, "/diagnostics counting every frame and the bad ones")
    for c in cameras:
        kv, status = latest_status(diags, c.in_topic)
        if not check(kv is not None, f"/diagnostics has no status for {c.in_topic}"):
            continue
        for key in ["input_rate_hz", "output_rate_hz", "frames_dropped", "decode_errors",
                    "engine_ms_p50", "engine_ms_p99", "node_overhead_ms_p50",
                    "node_overhead_ms_p99", "stamp_age_ms_p50", "decode_ms_p99"]:
            check(key in kv, f"/diagnostics {c.in_topic}: no `{key}` (has {sorted(kv)})")
        check(kv.get("frames_published") == str(expected_frames),
              f"/diagnostics {c.in_topic}: frames_published {kv.get('frames_published')} "
              f"!= {expected_frames}")
        check(kv.get("frames_dropped") == "0",
              f"/diagnostics {c.in_topic}: frames_dropped {kv.get('frames_dropped')} in lockstep")
        check(status.hardware_id == c.in_topic, f"hardware_id {status.hardware_id!r}")
    rgb, _ = latest_status(diags, "/cam_rgb/image_raw")
    check(rgb is not None and int(rgb.get("debug_images", "0")) >= 1,
          "/diagnostics counts no debug image for cam_rgb although one was received")
    bgr, _ = latest_status(diags, "/cam_bgr/image_raw")
    check(bgr is not None and bgr.get("decode_errors") == "0", "bgr camera counted errors")
    check(bgr is not None and bgr.get("debug_images") == "0",
          "bgr camera drew debug images nobody subscribed to")

    # use_sim_time (set on the node's command line by test-ros.sh): the node's clock follows
    # /clock, which this test holds at SIM_TIME_S, so the diagnostics stamps show it.
    if args.sim_time:
        n_before = len(diags)
        spin_until(node, lambda: len(diags) > n_before + 1, 5.0, "diagnostics under sim time")
        got = diags[-1].header.stamp.sec if diags else None
        check(got == SIM_TIME_S, f"/diagnostics stamp {got} s does not follow /clock ({SIM_TIME_S} s)")

    # Live policy under a burst: frames sent faster than the engine runs are replaced in the
    # one-frame slot and counted; every frame is accounted for, nothing queues.
    kv0, _ = latest_status(diags, "/cam_rgb/image_raw")
    burst = [(1_700_004_000 + k, 0) for k in range(args.burst)]
    out_before = len(cameras[0].received["detections"])
    for k, stamp in enumerate(burst):
        cameras[0].pub.publish(make_image(frames[k % n_frames], "rgb8", stamp, "cam_rgb_frame"))
    def received_all():
        kv, _ = latest_status(diags, "/cam_rgb/image_raw")
        return kv is not None and \
            int(kv["frames_received"]) == int(kv0["frames_received"]) + len(burst)

    spin_until(node, received_all, 30.0, "the burst to be received")

    def settled():
        kv, _ = latest_status(diags, "/cam_rgb/image_raw")
        return kv and int(kv["frames_published"]) + int(kv["frames_dropped"]) \
            + int(kv["decode_errors"]) == int(kv["frames_received"])

    spin_until(node, settled, 30.0, "every burst frame published or counted as dropped")
    kv, _ = latest_status(diags, "/cam_rgb/image_raw")
    published = int(kv["frames_published"]) - int(kv0["frames_published"])
    spin_until(node, lambda: len(cameras[0].received["detections"]) - out_before >= published,
               10.0, "the burst's outputs")
    outputs = len(cameras[0].received["detections"]) - out_before
    check(1 <= outputs == published <= len(burst),
          f"burst of {len(burst)}: {outputs} outputs received, {published} published")
    got = [stamp_of(m) for m in cameras[0].received["detections"][out_before:]]
    check(got == sorted(got) and set(got) <= set(burst), f"burst outputs out of order: {got}")
    print(f"burst: {len(burst)} frames sent, {outputs} published, "
          f"{int(kv['frames_dropped']) - int(kv0['frames_dropped'])} dropped (newest wins)")

    # The silent publisher has been matched for the whole test: /diagnostics says so.
    def level(status):
        # DiagnosticStatus.level is a ROS `byte`: rclpy gives it as a 1-byte `bytes`.
        return status.level[0] if isinstance(status.level, bytes) else int(status.level)

    def silence_reported():
        _, status = latest_status(diags, "/cam_silent/image_raw")
        return status is not None and level(status) == 1 and "no image for" in status.message

    spin_until(node, silence_reported, 15.0, "the silence of /cam_silent/image_raw on /diagnostics")
    kv, status = latest_status(diags, "/cam_silent/image_raw")
    if check(status is not None, "/diagnostics has no status for /cam_silent/image_raw"):
        check(level(status) == 1 and "no image for" in status.message
              and "FASTRTPS_DEFAULT_PROFILES_FILE" in status.message,
              f"silent publisher: level {status.level}, message {status.message!r}")
        check(kv.get("publishers") == "1", f"silent camera: publishers {kv.get('publishers')}")
        print(f"silence: reported after {time.monotonic() - silent_since:.0f} s of test: "
              f"{status.message[:100]}...")

    # Parameters are read once at start: `ros2 param set` is refused with the reason, and
    # `ros2 param get` answers what the node runs with.
    node_path = f"{ns}/lookout"
    set_client = node.create_client(SetParameters, f"{node_path}/set_parameters")
    get_client = node.create_client(GetParameters, f"{node_path}/get_parameters")
    services_up = (set_client.wait_for_service(timeout_sec=10.0)
                   and get_client.wait_for_service(timeout_sec=10.0))
    if check(services_up, f"{node_path}: no parameter services"):
        request = SetParameters.Request()
        request.parameters = [Parameter("detector.confidence_min", value=0.05).to_parameter_msg()]
        future = set_client.call_async(request)
        spin_until(node, future.done, 10.0, "the set_parameters reply")
        result = future.result().results[0] if future.done() and future.result() else None
        check(result is not None and not result.successful and "read-only" in result.reason,
              f"ros2 param set was not refused: {result}")
        request = GetParameters.Request()
        request.names = ["detector.confidence_min"]
        future = get_client.call_async(request)
        spin_until(node, future.done, 10.0, "the get_parameters reply")
        values = future.result().values if future.done() and future.result() else []
        check(len(values) == 1 and abs(values[0].double_value - args.confidence_min) < 1e-9,
              f"detector.confidence_min reads back {values}, expected {args.confidence_min}")
        reason = result.reason[:60] if result is not None else None
        print(f"parameters: set refused ({reason}...), get answers "
              f"{values[0].double_value if values else None}")

    silent_pub.destroy()

    if args.out:
        with open(args.out, "w") as f:
            json.dump(results, f, indent=1, sort_keys=True)
    print(f"ros_node_test: {n_frames} frames x {len(cameras)} cameras, "
          f"{total_detections} detections, {len(diags)} diagnostics reports")


def output_base(topic):
    """The node's output namespace for a camera topic (as `lookout replay` names it)."""
    base = topic
    for suffix in ("/compressed", "/image_raw", "/image"):
        if base.endswith(suffix):
            base = base[: -len(suffix)]
    return base


def scaled(frame, width, height):
    """Nearest-neighbour scaling of an HxWx3 frame (content for the detector, not quality)."""
    h0, w0, _ = frame.shape
    rows = np.linspace(0, h0 - 1, height).round().astype(int)
    cols = np.linspace(0, w0 - 1, width).round().astype(int)
    return np.ascontiguousarray(frame[rows][:, cols])


def run_default(args):
    node = Node("lookout_camera")
    raw = np.fromfile(args.raw, dtype=np.uint8)
    frame = raw[: args.width * args.height * 3].reshape(args.height, args.width, 3)
    jpegs = sorted(os.listdir(args.jpeg_dir))
    jpegs = [open(os.path.join(args.jpeg_dir, j), "rb").read() for j in jpegs]
    diags = []
    node.create_subscription(DiagnosticArray, "/diagnostics", diags.append, RELIABLE)
    ns = args.ns.rstrip("/")
    for spec in args.cameras:
        kind, topic = spec.split(":", 1)
        outputs = []
        node.create_subscription(Detection2DArray, f"{ns}{output_base(topic)}/detections",
                                 outputs.append, RELIABLE)
        if kind == "jpeg":
            pub = node.create_publisher(CompressedImage, topic, qos_profile_sensor_data)
            label = "JPEG CompressedImage (768x576)"
            msgs = [make_jpeg(j, (0, 0), "camera") for j in jpegs]
        else:
            w, h = (int(v) for v in kind.split("x"))
            pub = node.create_publisher(Image, topic, qos_profile_sensor_data)
            label = f"{w}x{h} bgr8"
            msgs = [make_image(scaled(frame, w, h), "bgr8", (0, 0), "camera")]
        label = f"{label}{args.label_suffix}"
        if not spin_until(node, lambda: pub.get_subscription_count() >= 1
                          and latest_status(diags, topic)[0] is not None,
                          args.discovery_timeout_s, f"the node's subscription to {topic}"):
            return
        # Matching is two-sided: give the node's side a moment to learn the writer's locators.
        spin_for(node, 1.0)
        kv0, _ = latest_status(diags, topic)
        n = max(1, round(args.fps * args.seconds))
        t_start = time.monotonic()
        for i in range(n):
            # Stamped now: the node's stamp_age is then the transport's latency.
            msg = msgs[i % len(msgs)]
            msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(time.time_ns(), 1_000_000_000)
            pub.publish(msg)
            deadline = t_start + (i + 1) / args.fps
            while time.monotonic() < deadline:
                rclpy.spin_once(node, timeout_sec=max(0.0, deadline - time.monotonic()))
        sent_s = time.monotonic() - t_start

        reports_before = len(diags)

        def settled():
            # Two reports after the last frame was sent, every frame received is accounted for.
            kv, _ = latest_status(diags, topic)
            done = int(kv["frames_published"]) + int(kv["frames_dropped"]) \
                + int(kv["decode_errors"]) + int(kv["engine_errors"])
            return done == int(kv["frames_received"]) and len(diags) > reports_before + 1

        spin_until(node, settled, 60.0, f"the node to finish the frames of {topic}")
        spin_for(node, 1.0)  # the last outputs
        kv, _ = latest_status(diags, topic)
        delta = {k: int(kv[k]) - int(kv0[k]) for k in
                 ("frames_received", "frames_published", "frames_dropped", "decode_errors")}
        row = {
            "camera": label, "topic": topic, "sent": n, "fps": round(n / sent_s, 1),
            "received": delta["frames_received"], "processed": delta["frames_published"],
            "dropped_newest_wins": delta["frames_dropped"], "outputs": len(outputs),
            **{k: kv.get(k) for k in ("stamp_age_ms_p50", "stamp_age_ms_p99", "decode_ms_p50",
                                      "slot_wait_ms_p50", "engine_ms_p50", "end_to_end_ms_p50",
                                      "node_overhead_ms_p50")},
        }
        print(json.dumps(row), flush=True)
        check(row["received"] >= args.min_received * n,
              f"{label}: the node received {row['received']} of {n} best-effort frames "
              f"(at least {args.min_received:.0%} expected)")
        # A frame received is processed unless a newer one replaces it, and the newest never
        # is: so any frame received means one processed. None received fails only through
        # --min-received above (0 for the 1080p camera without the Fast DDS profile, which is
        # measured, not asserted: 0 to 36 of 90 frames arrive, run to run).
        check(row["processed"] >= min(1, row["received"])
              and row["outputs"] == row["processed"],
              f"{label}: {row['processed']} processed, {row['outputs']} outputs received")
        check(delta["decode_errors"] == 0, f"{label}: {delta['decode_errors']} decode errors")
        node.destroy_publisher(pub)


def run_ground(args):
    import yaml
    from autoware_perception_msgs.msg import TrackedObjects
    from geometry_msgs.msg import TransformStamped
    from rclpy.qos import DurabilityPolicy
    from sensor_msgs.msg import CameraInfo
    from tf2_msgs.msg import TFMessage
    from vision_msgs.msg import Detection3DArray
    from visualization_msgs.msg import Marker, MarkerArray

    node = Node("lookout_ground_test")
    raw = np.fromfile(args.raw, dtype=np.uint8)
    frame_bytes = args.width * args.height * 3
    n_frames = min(args.frames, raw.size // frame_bytes)
    frames = raw[: n_frames * frame_bytes].reshape(n_frames, args.height, args.width, 3)
    ns = args.ns.rstrip("/")
    base = f"{ns}/cam_rgb"
    image_pub = node.create_publisher(Image, "/cam_rgb/image_raw", RELIABLE)
    info_pub = node.create_publisher(CameraInfo, "/cam_rgb/camera_info", RELIABLE)
    static_qos = QoSProfile(reliability=ReliabilityPolicy.RELIABLE, history=HistoryPolicy.KEEP_LAST,
                            depth=100, durability=DurabilityPolicy.TRANSIENT_LOCAL)
    tf_pub = node.create_publisher(TFMessage, "/tf_static", static_qos)
    received = {k: [] for k in ("tracks", "objects", "tracked", "markers")}
    for key, msg_type, topic in [("tracks", Detection2DArray, f"{base}/tracks"),
                                 ("objects", Detection3DArray, f"{base}/objects"),
                                 ("tracked", TrackedObjects, f"{base}/objects/tracked"),
                                 ("markers", MarkerArray, f"{base}/objects/markers")]:
        node.create_subscription(msg_type, topic, lambda m, k=key: received[k].append(m), RELIABLE)
    diags = []
    node.create_subscription(DiagnosticArray, "/diagnostics", diags.append, RELIABLE)

    cal = yaml.safe_load(open(args.calibration_yaml))
    optical_frame = "cam_rgb_optical"

    def camera_info(stamp):
        m = CameraInfo()
        m.header.stamp.sec, m.header.stamp.nanosec = stamp
        m.header.frame_id = optical_frame
        m.width, m.height = cal["image_width"], cal["image_height"]
        m.distortion_model = cal["distortion_model"]
        m.d = [float(v) for v in cal["distortion_coefficients"]["data"]]
        m.k = [float(v) for v in cal["camera_matrix"]["data"]]
        m.r = [float(v) for v in cal["rectification_matrix"]["data"]]
        m.p = [float(v) for v in cal["projection_matrix"]["data"]]
        return m

    def transform(parent, child, t, q):
        ts = TransformStamped()
        ts.header.frame_id, ts.child_frame_id = parent, child
        ts.transform.translation.x, ts.transform.translation.y, ts.transform.translation.z = t
        (ts.transform.rotation.x, ts.transform.rotation.y, ts.transform.rotation.z,
         ts.transform.rotation.w) = q
        return ts

    # Two static broadcasters, as robot_state_publisher and a camera driver would be. A
    # transient-local subscriber gets both whenever it matches.
    body_t = [float(v) for v in args.body_translation_m.split(",")]
    body_q = [float(v) for v in args.body_rotation_xyzw.split(",")]
    tf_pub.publish(TFMessage(transforms=[transform("base_link", "cam_rgb_link", body_t, body_q)]))
    if not spin_until(node, lambda: image_pub.get_subscription_count() >= 1
                      and info_pub.get_subscription_count() >= 1
                      and tf_pub.get_subscription_count() >= 1
                      and node.count_publishers(f"{base}/objects") >= 1,
                      args.discovery_timeout_s, "the node's subscriptions and ground publishers"):
        return
    tf_pub.publish(TFMessage(transforms=[
        transform("cam_rgb_link", optical_frame, [0.0, 0.0, 0.0], [-0.5, 0.5, -0.5, 0.5])]))
    stamps = [divmod(args.start_ns + round(i * 1e9 / args.fps), 1_000_000_000)
              for i in range(n_frames)]
    info_pub.publish(camera_info(stamps[0]))

    def calibrated():
        kv, _ = latest_status(diags, "/cam_rgb/image_raw")
        return kv is not None and kv.get("calibration", "").startswith("camera_info + /tf_static")

    if not spin_until(node, calibrated, 30.0, "/diagnostics: calibrated from camera_info + /tf_static"):
        kv, _ = latest_status(diags, "/cam_rgb/image_raw")
        print(f"last calibration status: {kv and kv.get('calibration')}", file=sys.stderr)
        return
    kv, _ = latest_status(diags, "/cam_rgb/image_raw")
    print(f"calibration: {kv['calibration']}")

    for i, stamp in enumerate(stamps):
        before = {k: len(v) for k, v in received.items()}
        info_pub.publish(camera_info(stamp))
        image_pub.publish(make_image(frames[i], "rgb8", stamp, "cam_rgb_frame"))

        def done():
            return all(any(m.markers[0].header.stamp.sec == stamp[0]
                           and m.markers[0].header.stamp.nanosec == stamp[1]
                           if k == "markers" else stamp_of(m) == stamp
                           for m in received[k][before[k]:])
                       for k in received)

        if not spin_until(node, done, args.frame_timeout_s, f"the outputs of stamp {stamp}"):
            return
    spin_for(node, 1.0)

    results = {}
    n_objects = matched_ids = all_track_ids = 0
    for k in ("tracks", "objects", "tracked"):
        got = [stamp_of(m) for m in received[k]]
        check(got == stamps, f"{k}: one message per frame in order, got {got}")
    check(len(received["markers"]) == len(stamps),
          f"markers: {len(received['markers'])} messages for {len(stamps)} frames")
    for tracks, objects, tracked, markers in zip(received["tracks"], received["objects"],
                                                 received["tracked"], received["markers"]):
        key = f"{tracks.header.stamp.sec}.{tracks.header.stamp.nanosec:09d}"
        check(objects.header.frame_id == "base_link" and tracked.header.frame_id == "base_link",
              f"{key}: objects in {objects.header.frame_id!r} / {tracked.header.frame_id!r}, "
              "not base_link")
        track_ids = {d.id for d in tracks.detections}
        object_ids = [d.id for d in objects.detections]
        # The objects are this frame's tracks with a position on the road: their ids are 2D
        # track ids of the same frame (a track not yet measured on the road has none).
        check(set(object_ids) <= track_ids and len(set(object_ids)) == len(object_ids),
              f"{key}: object ids {sorted(object_ids)} not among track ids {sorted(track_ids)}")
        matched_ids += len(object_ids)
        all_track_ids += len(track_ids)
        check(len(tracked.objects) == len(objects.detections),
              f"{key}: {len(tracked.objects)} tracked objects, {len(objects.detections)} objects")
        for d, t in zip(objects.detections, tracked.objects):
            check(d.header.frame_id == "base_link" and stamp_of(d) == stamp_of(objects),
                  f"{key}: detection header differs from the array's")
            check(int.from_bytes(bytes(t.object_id.uuid[8:]), "big") == int(d.id),
                  f"{key}: UUID {bytes(t.object_id.uuid).hex()} does not end in id {d.id}")
            p = t.kinematics.pose_with_covariance.pose.position
            c = d.bbox.center.position
            check((p.x, p.y, p.z) == (c.x, c.y, c.z), f"{key}: Autoware and vision_msgs poses differ")
            check(c.x > 0.0 and d.results[0].pose.covariance[0] > 0.0,
                  f"{key}: object {d.id} at x {c.x} m (behind the camera?) or no covariance")
        cubes = [m for m in markers.markers if m.type == Marker.CUBE]
        labels = [m for m in markers.markers if m.type == Marker.TEXT_VIEW_FACING]
        check(markers.markers[0].action == Marker.DELETEALL
              and sorted(str(m.id) for m in cubes) == sorted(object_ids)
              and len(labels) == len(cubes)
              and all(m.header.frame_id == "base_link" for m in markers.markers),
              f"{key}: markers are not DELETEALL + a cube and a label per object")
        n_objects += len(object_ids)
        results[key] = {
            "objects": objects_json(objects.detections),
            "tracked": tracked_json(tracked.objects),
        }
    check(n_objects > 0, "no ground objects at all on PETS09 frames")
    # The camera looks down far enough that every contact point is below the horizon: nearly
    # every track has a position.
    check(matched_ids >= 0.8 * all_track_ids,
          f"only {matched_ids} of {all_track_ids} tracks have a ground position")
    kv, _ = latest_status(diags, "/cam_rgb/image_raw")
    check(kv is not None and kv.get("objects_published") == str(n_frames),
          f"/diagnostics objects_published {kv and kv.get('objects_published')} != {n_frames}")
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"/cam_rgb/image_raw": results}, f, indent=1, sort_keys=True)
    print(f"ros_node_test ground: {n_frames} frames, {n_objects} objects in base_link")


def run_bench(args):
    node = Node("lookout_bench")
    pub = node.create_publisher(Image, "/bench/image_raw", RELIABLE)
    got = []
    node.create_subscription(Detection2DArray, f"{args.ns.rstrip('/')}/bench/detections",
                             got.append, RELIABLE)
    diags = []
    node.create_subscription(DiagnosticArray, "/diagnostics", diags.append, RELIABLE)
    spin_until(node, lambda: pub.get_subscription_count() >= 1, args.discovery_timeout_s,
               "the bench subscription")
    rng = np.random.default_rng(7)
    frame = rng.integers(0, 256, size=(args.height, args.width, 3), dtype=np.uint8)
    for i in range(args.frames):
        stamp = (1_700_000_000 + i, 0)
        pub.publish(make_image(frame, "rgb8", stamp, "bench"))
        if not spin_until(node, lambda: any(stamp_of(m) == stamp for m in got),
                          args.frame_timeout_s, f"bench output {i}"):
            return
    n_before = len(diags)
    spin_until(node, lambda: len(diags) > n_before + 1, 5.0, "a diagnostics report")
    kv, _ = latest_status(diags, "/bench/image_raw")
    keys = ["decode_ms_p50", "decode_ms_p99", "node_overhead_ms_p50", "node_overhead_ms_p99",
            "engine_ms_p50", "end_to_end_ms_p50", "frames_published"]
    row = {k: (kv or {}).get(k) for k in keys}
    print(json.dumps({"width": args.width, "height": args.height, **row}))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mode", choices=["test", "default", "bench", "ground"], default="test")
    ap.add_argument("--calibration-yaml", help="ground mode: camera_calibration_parsers YAML")
    ap.add_argument("--body-translation-m", default="0,0,1.5",
                    help="ground mode: base_link -> camera body translation x,y,z (m)")
    ap.add_argument("--body-rotation-xyzw", default="0,0,0,1",
                    help="ground mode: base_link -> camera body rotation x,y,z,w")
    ap.add_argument("--cameras", nargs="*", default=[],
                    help="default mode: WxH:topic (bgr8 Image) or jpeg:topic, one after the other")
    ap.add_argument("--seconds", type=float, default=3.0, help="default mode: per camera")
    ap.add_argument("--min-received", type=float, default=1.0,
                    help="default mode: least fraction of the frames sent that must arrive")
    ap.add_argument("--label-suffix", default="", help="default mode: appended to camera labels")
    ap.add_argument("--ns", default="/")
    ap.add_argument("--raw", help="concatenated rgb24 frames (ffmpeg -f rawvideo)")
    ap.add_argument("--jpeg-dir")
    ap.add_argument("--width", type=int, required=True)
    ap.add_argument("--height", type=int, required=True)
    ap.add_argument("--frames", type=int, default=10)
    ap.add_argument("--confidence-min", type=float, default=0.4)
    ap.add_argument("--out")
    ap.add_argument("--start-ns", type=int, default=1_700_000_000_000_000_000)
    ap.add_argument("--fps", type=float, default=7.0)
    ap.add_argument("--sim-time", action="store_true", help="publish /clock (node has use_sim_time)")
    ap.add_argument("--burst", type=int, default=6)
    ap.add_argument("--discovery-timeout-s", type=float, default=60.0)
    ap.add_argument("--frame-timeout-s", type=float, default=120.0)
    args = ap.parse_args()
    rclpy.init()
    try:
        {"test": run_test, "default": run_default, "bench": run_bench,
         "ground": run_ground}[args.mode](args)
    finally:
        rclpy.try_shutdown()
    if failures:
        print(f"0 passed, {len(failures)} failed", file=sys.stderr)
        sys.exit(1)
    print("ros_node_test: all checks passed")


if __name__ == "__main__":
    main()
