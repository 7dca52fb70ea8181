# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""Start the TCVADS detector on a camera: coarse_node, and fine_node unless turned off.

    ros2 launch tcvads_ros edge.launch.py bundle:=/path/to/bundle image_topic:=/camera/image_raw
    ros2 launch tcvads_ros edge.launch.py bundle:=/path/to/bundle audio_topic:=/audio/audio_stamped

Every parameter lives in config/edge.yaml (one `/**` block, so any namespace works); the
arguments below override the ones users change most, each under the name of the parameter it
sets (the others are the launch's own: namespace, use_fine_stage, params_file, respawn,
respawn_delay). Respawn policy: both nodes are restarted `respawn_delay` seconds after they exit
(a crash, or a camera driver that took the process down), because a detector that silently
stays down is worse than one that restarts; a node that cannot start at all (a missing or
corrupt bundle) exits with status 2 and a one-line reason, which is then repeated every
`respawn_delay` seconds until fixed. Pass respawn:=false while setting up.
"""

from pathlib import Path

from ament_index_python.packages import get_package_share_directory
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.logging import get_logger
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node
from launch_ros.parameter_descriptions import ParameterValue

from launch import LaunchDescription
from tcvads_ros.runtime.backends import BACKENDS

PACKAGE = "tcvads_ros"

# (name, default or None when required, description, choices or None, type): an argument with a
# type sets the node parameter of the same name (and that type); one without is the launch's own.
ARGUMENTS = [
    ("bundle", None, "model bundle folder written by `tcvads export` (required)", None, str),
    ("image_topic", "/camera/image_raw", "camera topic (sensor_msgs/Image)", None, str),
    ("audio_topic", "", "the camera's sound: audio_common_msgs/AudioDataStamped topic (raw PCM, its AudioInfo on "
     "audio_info beside it), read by coarse_node with a bundle that listens; empty = no sound", None, str),
    ("compressed", "false", "read sensor_msgs/CompressedImage on <image_topic>/compressed", ["true", "false"],
     bool),
    ("backend", "auto", "inference backend", list(BACKENDS), str),
    ("device", "cpu", "inference device: cpu, cuda or cuda:N", None, str),
    ("threshold_on", "-1.0",
     "score that starts an event; -1 = the site profile's, else the bundle's calibrated threshold", None, float),
    ("threshold_off", "-1.0", "score below which an event ends; -1 = the site profile's, else derived "
     "from threshold_on", None, float),
    ("site_profile", "", "site profile JSON from `tcvads calibrate` for this camera and bundle "
     "(coarse_node); empty = none", None, str),
    ("fine_stage_in_process", "false",
     "run the fine stage inside coarse_node on its frame buffer instead of a separate fine_node",
     ["true", "false"], bool),
    ("namespace", "", "namespace of both nodes and their topics (one per camera or robot)", None, None),
    ("use_fine_stage", "true", "name and explain each event: start fine_node (unless fine_stage_in_process)",
     ["true", "false"], None),
    ("params_file", str(Path(get_package_share_directory(PACKAGE)) / "config" / "edge.yaml"),
     "parameter file (all parameters, commented)", None, None),
    ("respawn", "true", "restart a node that exits", ["true", "false"], None),
    ("respawn_delay", "2.0", "seconds before a node that exited is restarted", None, None),
    ("autostart", "true", "bring both nodes to active at start (configure: load the bundle; activate: "
     "take frames); false leaves them unconfigured, for `ros2 lifecycle set` or ~/enable", ["true", "false"],
     bool),
]
# Earlier names of arguments, still accepted (with a warning) for one release: old -> current.
RENAMED = {"fine_in_process": "fine_stage_in_process"}


def _renamed(context) -> list:
    """An argument given under its old name: warn, and pass its value on under the current name
    unless that was given too. Runs before the arguments are declared, so that a given value is
    told apart from a default."""
    configurations = context.launch_configurations
    for old, new in RENAMED.items():
        if old in configurations:
            get_logger("launch.user").warning(
                f"launch argument '{old}' is deprecated and will be removed in the next release: "
                f"use '{new}' (the parameter it sets)"
            )
            configurations.setdefault(new, configurations[old])
    return []


def _nodes(context) -> list:
    """The two nodes; built at launch time because respawn and respawn_delay take plain values."""
    arg = LaunchConfiguration
    overrides = {name: ParameterValue(arg(name), value_type=kind)
                 for name, _, _, _, kind in ARGUMENTS if kind is not None}
    # use_fine_stage:=false turns the fine stage off wherever it would run: no fine_node, and
    # none inside coarse_node either.
    use_fine = arg("use_fine_stage").perform(context) == "true"
    in_process = use_fine and arg("fine_stage_in_process").perform(context) == "true"
    overrides["fine_stage_in_process"] = in_process
    common = dict(
        package=PACKAGE,
        namespace=arg("namespace"),
        parameters=[arg("params_file"), overrides],
        output="screen",
        emulate_tty=True,
        respawn=arg("respawn").perform(context) == "true",
        respawn_delay=float(arg("respawn_delay").perform(context)),
    )
    nodes = [Node(executable="coarse_node", name="coarse_node", **common)]
    if use_fine and not in_process:
        nodes.append(Node(executable="fine_node", name="fine_node", **common))
    return nodes


def generate_launch_description() -> LaunchDescription:
    declared = [
        DeclareLaunchArgument(
            name, description=text,
            **({} if default is None else {"default_value": default}),
            **({"choices": choices} if choices else {}),
        )
        for name, default, text, choices, _ in ARGUMENTS
    ]
    return LaunchDescription([OpaqueFunction(function=_renamed), *declared, OpaqueFunction(function=_nodes)])
