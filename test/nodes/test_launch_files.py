"""The launch files, read without ROS: they parse, declare the documented arguments, pass the
overridden parameters under their real names, and point at files that are installed.

`launch` and `launch_ros` are not installed here, so the files are read with `ast`; the
launch_testing test (test_edge_launch.py) runs edge.launch.py for real on a ROS 2 machine.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from tcvads_ros.nodes import parameters

REPO = Path(__file__).resolve().parents[2]
EDGE = REPO / "launch" / "edge.launch.py"
REPLAY = REPO / "launch" / "replay.launch.py"

EDGE_ARGUMENTS = {
    "bundle", "image_topic", "compressed", "backend", "device", "namespace", "threshold_on",
    "threshold_off", "site_profile", "use_fine_stage", "fine_in_process", "params_file", "respawn",
    "respawn_delay",
}


def tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def edge_arguments() -> dict[str, tuple]:
    """edge.launch.py's ARGUMENTS table: name -> (default, description, choices)."""
    for node in tree(EDGE).body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "ARGUMENTS":
            rows = {}
            for row in node.value.elts:
                name, default, text, choices = row.elts
                rows[name.value] = (
                    default.value if isinstance(default, ast.Constant) else "<computed>",
                    ast.literal_eval(text) if isinstance(text, (ast.Constant, ast.JoinedStr)) else text,
                    ast.literal_eval(choices),
                )
            return rows
    raise AssertionError("edge.launch.py has no ARGUMENTS table")


def called_names(path: Path) -> set[str]:
    return {
        node.func.id if isinstance(node.func, ast.Name) else node.func.attr
        for node in ast.walk(tree(path))
        if isinstance(node, ast.Call) and isinstance(node.func, (ast.Name, ast.Attribute))
    }


@pytest.mark.parametrize("path", [EDGE, REPLAY], ids=lambda p: p.name)
def test_launch_file_compiles_and_defines_generate_launch_description(path):
    module = tree(path)
    compile(module, str(path), "exec")
    assert any(isinstance(n, ast.FunctionDef) and n.name == "generate_launch_description" for n in module.body)


def test_edge_declares_the_documented_arguments_with_sane_defaults():
    rows = edge_arguments()
    assert set(rows) == EDGE_ARGUMENTS
    assert rows["bundle"][0] is None  # required: launching without a bundle fails at once
    for name, (default, text, choices) in rows.items():
        assert text, name
        if choices and default is not None:
            assert default in choices, name
    # Threshold defaults mean "from the bundle", as the node parameters do.
    assert float(rows["threshold_on"][0]) == parameters.FROM_BUNDLE
    assert rows["backend"][2] == list(parameters.BY_NAME["backend"].choices)
    assert rows["image_topic"][0] == parameters.BY_NAME["image_topic"].default
    assert rows["site_profile"][0] == parameters.BY_NAME["site_profile"].default  # none


def test_edge_overrides_use_real_parameter_names_and_starts_both_nodes():
    source = EDGE.read_text(encoding="utf-8")
    overrides = re.search(r"overrides = \{(.*?)\n    \}", source, re.S).group(1)
    keys = re.findall(r'^\s+"(\w+)":', overrides, re.M)
    assert keys and set(keys) <= set(parameters.BY_NAME), set(keys) - set(parameters.BY_NAME)
    # Numbers and booleans are typed: ROS parameters are statically typed.
    for name in keys:
        kind = parameters.BY_NAME[name].type
        if kind in ("double", "bool"):
            assert re.search(rf'"{name}": ParameterValue\(.*?value_type=({"float" if kind == "double" else "bool"})',
                             overrides, re.S), name
    assert re.findall(r'executable="(\w+)"', source) == ["coarse_node", "fine_node"]
    assert {"Node", "DeclareLaunchArgument", "IfCondition", "OpaqueFunction", "get_package_share_directory"} <= called_names(EDGE)
    assert '"config" / "edge.yaml"' in source and (REPO / "config" / "edge.yaml").is_file()


def test_node_executables_exist_as_entry_points():
    setup = (REPO / "setup.py").read_text(encoding="utf-8")
    for node in (parameters.COARSE, parameters.FINE):
        assert f'"{node} = tcvads_ros.nodes.{node}:main"' in setup


def test_replay_plays_the_bag_and_includes_edge():
    source = REPLAY.read_text(encoding="utf-8")
    assert '["ros2", "bag", "play", arg("bag")' in source
    assert '"edge.launch.py"' in source
    assert {"ExecuteProcess", "IncludeLaunchDescription", "TimerAction", "DeclareLaunchArgument"} <= called_names(REPLAY)
    declared = set(re.findall(r'DeclareLaunchArgument\("(\w+)"', source))
    assert declared == {"bag", "rate", "loop", "start_delay"}
    assert not declared & EDGE_ARGUMENTS  # edge's own arguments pass through unchanged
