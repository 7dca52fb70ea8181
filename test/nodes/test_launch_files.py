# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""The launch files, read without ROS: they parse, declare the documented arguments, pass the
overridden parameters under their real names, and point at files that are installed.

Read with `ast`, so these checks run where `launch` and `launch_ros` are not installed; the
launch files run for real under `ros2 launch` in test_ros_commands.py and in the launch_testing
test (test_edge_launch.py).
"""

from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path

import pytest

from tcvads_ros.nodes import parameters

REPO = Path(__file__).resolve().parents[2]
EDGE = REPO / "launch" / "edge.launch.py"
REPLAY = REPO / "launch" / "replay.launch.py"

EDGE_ARGUMENTS = {
    "bundle", "image_topic", "compressed", "backend", "device", "namespace", "threshold_on",
    "threshold_off", "site_profile", "use_fine_stage", "fine_stage_in_process", "params_file", "respawn",
    "respawn_delay", "autostart", "audio_topic",
}
# The arguments that set no node parameter: the launch's own.
LAUNCH_ONLY = {"namespace", "use_fine_stage", "params_file", "respawn", "respawn_delay"}
PARAMETER_TYPES = {"string": "str", "bool": "bool", "double": "float", "integer": "int"}


def tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def assigned(path: Path, name: str) -> ast.expr:
    """The value assigned to the module-level `name` of a launch file."""
    for node in tree(path).body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == name:
            return node.value
    raise AssertionError(f"{path.name} has no {name}")


def package_names(path: Path) -> dict[str, object]:
    """The names a launch file imports from tcvads_ros (which imports without ROS)."""
    names = {}
    for node in tree(path).body:
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("tcvads_ros"):
            module = importlib.import_module(node.module)
            names.update({alias.asname or alias.name: getattr(module, alias.name) for alias in node.names})
    return names


def edge_arguments() -> dict[str, tuple]:
    """edge.launch.py's ARGUMENTS table: name -> (default, description, choices, type name or None).
    Choices are literals, or expressions of what the file imports from tcvads_ros."""
    rows = {}
    names = package_names(EDGE)
    for row in assigned(EDGE, "ARGUMENTS").elts:
        name, default, text, choices, kind = row.elts
        rows[name.value] = (
            default.value if isinstance(default, ast.Constant) else "<computed>",
            ast.literal_eval(text) if isinstance(text, (ast.Constant, ast.JoinedStr)) else text,
            eval(compile(ast.Expression(choices), str(EDGE), "eval"), {"__builtins__": {"list": list}}, names),
            kind.id if isinstance(kind, ast.Name) else None,
        )
    return rows


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
    for name, (default, text, choices, _) in rows.items():
        assert text, name
        if choices and default is not None:
            assert default in choices, name
    # Threshold defaults mean "from the bundle", as the node parameters do.
    assert float(rows["threshold_on"][0]) == parameters.FROM_BUNDLE
    assert rows["backend"][2] == list(parameters.BY_NAME["backend"].choices)
    assert rows["image_topic"][0] == parameters.BY_NAME["image_topic"].default
    assert rows["site_profile"][0] == parameters.BY_NAME["site_profile"].default  # none
    assert rows["audio_topic"][0] == parameters.BY_NAME["audio_topic"].default == ""  # no sound


def test_edge_arguments_are_named_after_the_parameters_they_set():
    """Every argument but the launch's own sets the node parameter of its name, with its type
    (ROS parameters are statically typed), and the overrides are built from that table alone."""
    rows = edge_arguments()
    assert {name for name, row in rows.items() if row[3] is None} == LAUNCH_ONLY
    for name, (_, _, choices, kind) in rows.items():
        if kind is None:
            continue
        spec = parameters.BY_NAME.get(name)
        assert spec is not None, f"launch argument {name} sets no parameter of that name"
        assert kind == PARAMETER_TYPES[spec.type], name
        if spec.choices:
            assert choices == list(spec.choices), name
    source = EDGE.read_text(encoding="utf-8")
    assert "ParameterValue(arg(name), value_type=kind)" in source
    assert re.findall(r'executable="(\w+)"', source) == ["coarse_node", "fine_node"]
    assert {"Node", "DeclareLaunchArgument", "OpaqueFunction", "get_package_share_directory"} <= called_names(EDGE)
    assert '"config" / "edge.yaml"' in source and (REPO / "config" / "edge.yaml").is_file()


def test_edge_keeps_old_argument_names_as_deprecated_aliases():
    renamed = ast.literal_eval(assigned(EDGE, "RENAMED"))
    assert renamed == {"fine_in_process": "fine_stage_in_process"}
    rows = edge_arguments()
    assert all(new in rows and old not in rows for old, new in renamed.items())


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
    assert declared == {"bag", "rate", "loop", "start_delay", "player"}
    assert not declared & EDGE_ARGUMENTS  # edge's own arguments pass through unchanged
