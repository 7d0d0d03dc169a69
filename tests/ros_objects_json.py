"""The JSON projection of lookout's ground-plane messages that the ROS tests compare: the
node's (rclpy messages, tests/ros_node_test.py) against lookout replay's (MCAP messages decoded
by mcap-ros2-support, tests/ros_compare_replay.py). Plain attribute access, so one definition
serves both decoders."""


def objects_json(detections):
    """vision_msgs/Detection3D list -> id, class, score, position, size, covariance."""
    return [{
        "id": d.id,
        "class_id": d.results[0].hypothesis.class_id,
        "score": d.results[0].hypothesis.score,
        "position_m": [d.bbox.center.position.x, d.bbox.center.position.y,
                       d.bbox.center.position.z],
        "size_m": [d.bbox.size.x, d.bbox.size.y, d.bbox.size.z],
        "covariance": list(d.results[0].pose.covariance),
    } for d in detections]


def tracked_json(objects):
    """autoware_perception_msgs/TrackedObject list -> uuid, label, velocity, its covariance."""
    return [{
        "uuid": bytes(t.object_id.uuid).hex(),
        "label": t.classification[0].label,
        "velocity_mps": [t.kinematics.twist_with_covariance.twist.linear.x,
                         t.kinematics.twist_with_covariance.twist.linear.y],
        "twist_covariance": list(t.kinematics.twist_with_covariance.covariance),
    } for t in objects]
