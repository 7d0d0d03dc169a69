"""Starts lookout_node: namespace, parameter file, camera topic remap, and the Fast DDS profile for
large images. No logic here.

    ros2 launch lookout lookout.launch.py namespace:=perception \
        params_file:=/path/to/lookout.param.yaml camera_topic:=/sensing/camera/front/image_raw

The Fast DDS profile (configs/fastdds.xml: shared-memory segment for raw images) is set in the
environment of every node this launch starts, so a camera driver included in the same launch gets
it too; a camera driver started elsewhere needs FASTRTPS_DEFAULT_PROFILES_FILE exported (README,
"QoS and transport").
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, SetEnvironmentVariable
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
        DeclareLaunchArgument(
            "fastdds_profile",
            default_value=PathJoinSubstitution(
                [FindPackageShare("lookout"), "configs", "fastdds.xml"]
            ),
        ),
        # Fast DDS 2.x (Jazzy) reads the first name, Fast DDS 3.x the second.
        SetEnvironmentVariable("FASTRTPS_DEFAULT_PROFILES_FILE", LaunchConfiguration("fastdds_profile")),
        SetEnvironmentVariable("FASTDDS_DEFAULT_PROFILES_FILE", LaunchConfiguration("fastdds_profile")),
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
