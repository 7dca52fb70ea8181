# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""Replay a rosbag2 recording into the detector: `ros2 bag play` plus edge.launch.py.

    ros2 launch tcvads_ros replay.launch.py bag:=/path/to/bag bundle:=/path/to/bundle \\
        image_topic:=/camera/image_raw

Every argument of edge.launch.py is accepted and passed on (launch arguments given on the
command line reach the included file). Playback starts `start_delay` seconds after the nodes,
so they have loaded their bundle and subscribed before the first frame is played: camera
frames use best-effort, volatile QoS, and frames played before a subscriber exists are lost.
The nodes run on the frames' header stamps, not the wall clock, so `rate` may be changed freely.

`player:=camera_player` plays the bag with the package's camera_player instead, which reads it
with the rosbags library: for machines without rosbag2 (`ros2 bag`). It publishes the bag's
image topic (the only one, or the raw one) on `image_topic` at the bag's frame rate times
`rate`, stamped anew on the wall clock as a camera would, starts only once the detector's camera
subscription is there (however long loading the bundle took), and ignores `loop`.
"""

from pathlib import Path

from ament_index_python.packages import get_package_share_directory
from launch.actions import (
    DeclareLaunchArgument,
    ExecuteProcess,
    IncludeLaunchDescription,
    TimerAction,
)
from launch.conditions import IfCondition
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration, PythonExpression
from launch_ros.substitutions import ExecutableInPackage

from launch import LaunchDescription

PACKAGE = "tcvads_ros"


def when(player: str, loop: str | None = None) -> IfCondition:
    """True where `player` plays the bag (and `loop` is as given); PythonExpression rather than
    the substitutions Jazzy added, so that the file runs on Humble too."""
    test = ["'", LaunchConfiguration("player"), f"' == '{player}'"]
    if loop is not None:
        test += [" and '", LaunchConfiguration("loop"), f"' == '{loop}'"]
    return IfCondition(PythonExpression(test))


def generate_launch_description() -> LaunchDescription:
    arg = LaunchConfiguration
    play = ["ros2", "bag", "play", arg("bag"), "--rate", arg("rate")]
    # camera_player also waits for coarse_node's camera subscription, whatever the delay.
    camera_player = [ExecutableInPackage("camera_player", PACKAGE), arg("bag"), "--rate", arg("rate"),
                     "--topic", arg("image_topic", default="/camera/image_raw"), "--wait-subscribers", "1"]
    edge = Path(get_package_share_directory(PACKAGE)) / "launch" / "edge.launch.py"
    return LaunchDescription([
        DeclareLaunchArgument("bag", description="rosbag2 folder (or file) to play (required)"),
        DeclareLaunchArgument("rate", default_value="1.0", description="playback rate"),
        DeclareLaunchArgument("loop", default_value="false", choices=["true", "false"],
                              description="play the bag again and again"),
        DeclareLaunchArgument("start_delay", default_value="5.0",
                              description="seconds between starting the nodes and starting playback"),
        DeclareLaunchArgument("player", default_value="ros2_bag", choices=["ros2_bag", "camera_player"],
                              description="what plays the bag: `ros2 bag play`, or camera_player "
                              "(rosbags library, no rosbag2 needed)"),
        # The other arguments reach edge.launch.py from the command line; a required one must be
        # passed on by name, or launch refuses the include.
        IncludeLaunchDescription(PythonLaunchDescriptionSource(str(edge)),
                                 launch_arguments=[("bundle", arg("bundle"))]),
        TimerAction(period=arg("start_delay"), actions=[
            ExecuteProcess(cmd=[*play, "--loop"], output="screen", condition=when("ros2_bag", "true")),
            ExecuteProcess(cmd=play, output="screen", condition=when("ros2_bag", "false")),
            ExecuteProcess(cmd=camera_player, output="screen", condition=when("camera_player")),
        ]),
    ])
