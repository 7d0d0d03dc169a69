"""Starts lookout_node: namespace, parameter file and camera topic remap. No logic here.

    ros2 launch lookout lookout.launch.py namespace:=perception \
        params_file:=/path/to/lookout.param.yaml camera_topic:=/sensing/camera/front/image_raw
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare


def generate_launch_description():
    return LaunchDescription([
        DeclareLaunchArgument("namespace", default_value="perception"),
        DeclareLaunchArgument(
            "params_file",
            default_value=PathJoinSubstitution(
                [FindPackageShare("lookout"), "configs", "lookout.param.yaml"]
            ),
        ),
        DeclareLaunchArgument("use_sim_time", default_value="false"),
        DeclareLaunchArgument("camera_topic", default_value="/camera/image_raw"),
        Node(
            package="lookout",
            executable="lookout_node",
            name="lookout",
            namespace=LaunchConfiguration("namespace"),
            parameters=[
                LaunchConfiguration("params_file"),
                {"use_sim_time": LaunchConfiguration("use_sim_time")},
            ],
            remappings=[("/camera/image_raw", LaunchConfiguration("camera_topic"))],
            output="screen",
        ),
    ])
