"""Replay a rosbag2 recording into the detector: `ros2 bag play` plus edge.launch.py.

    ros2 launch tcvads_ros replay.launch.py bag:=/path/to/bag bundle:=/path/to/bundle \\
        image_topic:=/camera/image_raw

Every argument of edge.launch.py is accepted and passed on (launch arguments given on the
command line reach the included file). Playback starts `start_delay` seconds after the nodes,
so they have loaded their bundle and subscribed before the first frame is played: camera
frames use best-effort, volatile QoS, and frames played before a subscriber exists are lost.
The nodes run on the frames' header stamps, not the wall clock, so `rate` may be changed freely.
"""

from pathlib import Path

from ament_index_python.packages import get_package_share_directory
from launch.actions import (
    DeclareLaunchArgument,
    ExecuteProcess,
    IncludeLaunchDescription,
    TimerAction,
)
from launch.conditions import IfCondition, UnlessCondition
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration

from launch import LaunchDescription

PACKAGE = "tcvads_ros"


def generate_launch_description() -> LaunchDescription:
    arg = LaunchConfiguration
    play = ["ros2", "bag", "play", arg("bag"), "--rate", arg("rate")]
    edge = Path(get_package_share_directory(PACKAGE)) / "launch" / "edge.launch.py"
    return LaunchDescription([
        DeclareLaunchArgument("bag", description="rosbag2 folder (or file) to play (required)"),
        DeclareLaunchArgument("rate", default_value="1.0", description="playback rate"),
        DeclareLaunchArgument("loop", default_value="false", choices=["true", "false"],
                              description="play the bag again and again"),
        DeclareLaunchArgument("start_delay", default_value="5.0",
                              description="seconds between starting the nodes and starting playback"),
        IncludeLaunchDescription(PythonLaunchDescriptionSource(str(edge))),
        TimerAction(period=arg("start_delay"), actions=[
            ExecuteProcess(cmd=[*play, "--loop"], output="screen", condition=IfCondition(arg("loop"))),
            ExecuteProcess(cmd=play, output="screen", condition=UnlessCondition(arg("loop"))),
        ]),
    ])
