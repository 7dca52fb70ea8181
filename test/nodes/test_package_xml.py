# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""package.xml declares every ROS package the nodes, launch files and ROS tests import.

`rosdep install` and the build farm only know what package.xml lists: an import missing there
works on the developer's machine and fails on the robot. The imports are read with `ast` (every
import, including those inside functions and try blocks, since an optional import such as
cv_bridge is still a dependency to install).
"""

from __future__ import annotations

import ast
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
RUNTIME_SOURCES = [*sorted((REPO / "tcvads_ros" / "nodes").glob("*.py")), *sorted((REPO / "launch").glob("*.py"))]
# The tests that need ROS; the others use rosbags and plain Python on purpose.
ROS_TESTS = [REPO / "test" / "nodes" / name for name in
             ("test_nodes_rclpy.py", "test_edge_launch.py", "test_qos_overrides.py", "test_ros_commands.py")]

# Python modules that come from the distribution, by their rosdep keys.
ROSDEP_KEYS = {"numpy": "python3-numpy", "cv2": "python3-opencv", "yaml": "python3-yaml", "pytest": "python3-pytest"}
# Not ROS packages: the project itself and the test helpers it puts on sys.path.
FIRST_PARTY = {"tcvads_ros", "tiny_bundle", "ros_harness", "documented_commands"}


def imported_modules(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    # importorskip("x") is an import too.
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if (isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "importorskip"
                and node.args and isinstance(node.args[0], ast.Constant)):
            names.add(node.args[0].value.split(".")[0])
    return names


def required_keys(paths: list[Path]) -> set[str]:
    keys = set()
    for path in paths:
        for module in imported_modules(path):
            if module in sys.stdlib_module_names or module in FIRST_PARTY or module == "__future__":
                continue
            keys.add(ROSDEP_KEYS.get(module, module))
    return keys


def declared(kind: str) -> set[str]:
    root = ET.parse(REPO / "package.xml").getroot()
    tags = {"run": ("exec_depend", "depend"), "test": ("test_depend", "depend", "exec_depend")}[kind]
    return {element.text.strip() for tag in tags for element in root.iter(tag)}


def test_package_xml_is_format_3_ament_python():
    root = ET.parse(REPO / "package.xml").getroot()
    assert root.get("format") == "3" and root.findtext("name") == "tcvads_ros"
    assert root.find("export").findtext("build_type") == "ament_python"


def test_every_ros_package_the_nodes_and_launch_files_import_is_an_exec_depend():
    needed = required_keys(RUNTIME_SOURCES)
    assert {"rclpy", "sensor_msgs", "launch_ros"} <= needed  # the scan sees the ROS imports
    missing = needed - declared("run")
    assert not missing, f"add <exec_depend> for {sorted(missing)} to package.xml"


def test_every_package_the_ros_tests_import_is_declared():
    assert all(path.is_file() for path in ROS_TESTS)
    needed = required_keys(ROS_TESTS)
    assert "launch_testing" in needed
    missing = needed - declared("test")
    assert not missing, f"add <test_depend> for {sorted(missing)} to package.xml"


def test_the_scan_finds_imports_in_every_form(tmp_path):
    source = tmp_path / "example.py"
    source.write_text(
        "import os\nimport rclpy.node\nfrom sensor_msgs.msg import Image\nfrom . import sibling\n"
        "try:\n    from cv_bridge import CvBridge\nexcept ImportError:\n    CvBridge = None\n"
        "def f():\n    import vision_msgs.msg\n"
        "import pytest\nlt = pytest.importorskip('launch_testing.actions')\n"
    )
    assert required_keys([source]) == {"rclpy", "sensor_msgs", "cv_bridge", "vision_msgs", "python3-pytest",
                                       "launch_testing"}
