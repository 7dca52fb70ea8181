"""Issue 2: the installed tree is what colcon/ament expect.

The wheel built from setup.py (the same data_files colcon's ament_python install uses) must
carry the ament index marker, package.xml, the launch files and the configuration under
share/, and console entry points for the `tcvads` command and each node.
"""

import configparser
import subprocess
import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def test_wheel_installs_the_ament_layout(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
         str(tmp_path), str(REPO)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (wheel,) = tmp_path.glob("tcvads_ros-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    data = next(n.split("/")[0] for n in names if ".data/" in n)
    for path in ("share/ament_index/resource_index/packages/tcvads_ros",
                 "share/tcvads_ros/package.xml",
                 "share/tcvads_ros/launch/edge.launch.py",
                 "share/tcvads_ros/launch/replay.launch.py",
                 "share/tcvads_ros/config/edge.yaml",
                 "share/tcvads_ros/config/captions.yaml",
                 "share/tcvads_ros/config/train/smoke.yaml"):
        assert f"{data}/data/{path}" in names, f"{path} missing from the installed tree"
    entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    parser = configparser.ConfigParser()
    parser.read_string(zipfile.ZipFile(wheel).read(entry_points).decode())
    assert set(parser["console_scripts"]) == {"tcvads", "coarse_node", "fine_node", "camera_player"}


def test_setup_cfg_puts_node_executables_where_ros2_run_looks():
    cfg = configparser.ConfigParser()
    cfg.read(REPO / "setup.cfg")
    assert cfg["develop"]["script_dir"] == "$base/lib/tcvads_ros"
    assert cfg["install"]["install_scripts"] == "$base/lib/tcvads_ros"
