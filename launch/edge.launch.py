"""Start the TCVADS detector on a camera: coarse_node, and fine_node unless turned off.

    ros2 launch tcvads_ros edge.launch.py bundle:=/path/to/bundle image_topic:=/camera/image_raw

Every parameter lives in config/edge.yaml (one `/**` block, so any namespace works); the
arguments below override the ones users change most. Respawn policy: both nodes are restarted
`respawn_delay` seconds after they exit (a crash, or a camera driver that took the process
down), because a detector that silently stays down is worse than one that restarts; a node that
cannot start at all (a missing or corrupt bundle) exits with status 2 and a one-line reason,
which is then repeated every `respawn_delay` seconds until fixed. Pass respawn:=false while
setting up.
"""

from pathlib import Path

from ament_index_python.packages import get_package_share_directory
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.conditions import IfCondition
from launch.substitutions import LaunchConfiguration, PythonExpression
from launch_ros.actions import Node
from launch_ros.parameter_descriptions import ParameterValue

from launch import LaunchDescription

PACKAGE = "tcvads_ros"

# (name, default or None when required, description, choices or None)
ARGUMENTS = [
    ("bundle", None, "model bundle folder written by `tcvads export` (required)", None),
    ("image_topic", "/camera/image_raw", "camera topic (sensor_msgs/Image)", None),
    ("compressed", "false", "read sensor_msgs/CompressedImage on <image_topic>/compressed", ["true", "false"]),
    ("backend", "auto", "inference backend", ["auto", "onnxruntime", "tensorrt", "torch"]),
    ("device", "cpu", "inference device: cpu, cuda or cuda:N", None),
    ("namespace", "", "namespace of both nodes and their topics (one per camera or robot)", None),
    ("threshold_on", "-1.0",
     "score that starts an event; -1 = the site profile's, else the bundle's calibrated threshold", None),
    ("threshold_off", "-1.0", "score below which an event ends; -1 = the site profile's, else derived "
     "from threshold_on", None),
    ("site_profile", "", "site profile JSON from `tcvads calibrate` for this camera and bundle "
     "(coarse_node); empty = none", None),
    ("use_fine_stage", "true", "name and explain each event (fine stage)", ["true", "false"]),
    ("fine_in_process", "false",
     "run the fine stage inside coarse_node on its frame buffer instead of a separate fine_node",
     ["true", "false"]),
    ("params_file", str(Path(get_package_share_directory(PACKAGE)) / "config" / "edge.yaml"),
     "parameter file (all parameters, commented)", None),
    ("respawn", "true", "restart a node that exits", ["true", "false"]),
    ("respawn_delay", "2.0", "seconds before a node that exited is restarted", None),
]


def _nodes(context) -> list:
    """The two nodes; built at launch time because respawn and respawn_delay take plain values."""
    arg = LaunchConfiguration
    overrides = {
        "bundle": arg("bundle"),
        "image_topic": arg("image_topic"),
        "compressed": ParameterValue(arg("compressed"), value_type=bool),
        "backend": arg("backend"),
        "device": arg("device"),
        "threshold_on": ParameterValue(arg("threshold_on"), value_type=float),
        "threshold_off": ParameterValue(arg("threshold_off"), value_type=float),
        "site_profile": ParameterValue(arg("site_profile"), value_type=str),
        "fine_stage_in_process": ParameterValue(
            PythonExpression(["'", arg("use_fine_stage"), "' == 'true' and '", arg("fine_in_process"), "' == 'true'"]),
            value_type=bool,
        ),
    }
    common = dict(
        package=PACKAGE,
        namespace=arg("namespace"),
        parameters=[arg("params_file"), overrides],
        output="screen",
        emulate_tty=True,
        respawn=arg("respawn").perform(context) == "true",
        respawn_delay=float(arg("respawn_delay").perform(context)),
    )
    separate_fine_node = PythonExpression(
        ["'", arg("use_fine_stage"), "' == 'true' and '", arg("fine_in_process"), "' != 'true'"]
    )
    return [
        Node(executable="coarse_node", name="coarse_node", **common),
        Node(executable="fine_node", name="fine_node", condition=IfCondition(separate_fine_node), **common),
    ]


def generate_launch_description() -> LaunchDescription:
    declared = [
        DeclareLaunchArgument(
            name, description=text,
            **({} if default is None else {"default_value": default}),
            **({"choices": choices} if choices else {}),
        )
        for name, default, text, choices in ARGUMENTS
    ]
    return LaunchDescription([*declared, OpaqueFunction(function=_nodes)])
