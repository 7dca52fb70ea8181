# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""The installed tree: what colcon/ament expect, and a wheel that works outside the checkout.

The wheel built from setup.py (the same data_files colcon's ament_python install uses) must
carry the ament index marker, package.xml, the launch files and the configuration under
share/, and console entry points for the `tcvads` command and each node. Installed (not
editable) into a fresh environment and run from another folder, `tcvads demo` (the shipped
bundle, and `--train`) and `tcvads train` must find everything they need in the installed tree.
"""

import configparser
import os
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest
from tiny_bundle import make_tiny_run

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
         str(out), str(REPO)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (path,) = out.glob("tcvads_ros-*.whl")
    return path


def test_wheel_installs_the_ament_layout(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    data = next(n.split("/")[0] for n in names if ".data/" in n)
    for path in ("share/ament_index/resource_index/packages/tcvads_ros",
                 "share/tcvads_ros/package.xml",
                 "share/tcvads_ros/launch/edge.launch.py",
                 "share/tcvads_ros/launch/replay.launch.py",
                 "share/tcvads_ros/config/edge.yaml",
                 "share/tcvads_ros/config/captions.yaml",
                 "share/tcvads_ros/config/train/smoke.yaml",
                 "share/tcvads_ros/config/train/demo.yaml",
                 "share/tcvads_ros/config/train/clip-tiny/open_clip_config.json",
                 "share/tcvads_ros/models/demo-bundle/manifest.json",
                 "share/tcvads_ros/models/demo-bundle/coarse_backbone.onnx",
                 "share/tcvads_ros/config/train/demo-audio.yaml",
                 "share/tcvads_ros/models/demo-audio-bundle/manifest.json",
                 "share/tcvads_ros/models/demo-audio-bundle/coarse_audio.onnx",
                 "share/tcvads_ros/models/clip-standin/open_clip_config.json",
                 "share/tcvads_ros/models/clip-standin/open_clip_model.safetensors"):
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


def _installed(wheel: Path, root: Path) -> Path:
    """A fresh environment with the wheel installed (not editable); the dependencies (torch
    and the rest) are taken from this test's environment, after the wheel's own files."""
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    proc = subprocess.run([sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install",
                           "-q", "--no-deps", "--no-index", str(wheel)], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    site = Path(subprocess.check_output([str(venv / "bin" / "python"), "-c",
                                         "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                        text=True).strip())
    (site / "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return venv


@pytest.mark.slow
def test_demo_and_training_run_from_a_wheel_outside_the_checkout(wheel, tmp_path):
    venv = _installed(wheel, tmp_path)
    outside = tmp_path / "elsewhere"
    make_tiny_run(outside / "demo" / "run", threshold=0.0)  # the demo re-uses a finished run
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["OMP_NUM_THREADS"] = "1"

    def run(*argv: str) -> str:
        proc = subprocess.run([str(venv / "bin" / argv[0]), *argv[1:]], cwd=outside, env=env,
                              capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
        return proc.stdout

    where = run("python", "-c", "import tcvads_ros, tcvads_ros.demo as d, tcvads_ros.config_files as c; "
                                "print(tcvads_ros.__file__); print(c.config_file(d.DEMO_CONFIG))")
    package, config = where.split()
    assert Path(package).is_relative_to(venv) and Path(config).is_relative_to(venv), where
    shipped = run("tcvads", "demo", "--out", "shipped", "--backend", "onnxruntime")  # the installed bundle
    assert f"bundle {venv}" in shipped and "detected  Riot" in shipped, shipped[-2000:]
    assert "re-using the finished run" in run("tcvads", "demo", "--train", "--out", "demo", "--backend", "onnxruntime")
    assert (outside / "demo" / "events.jsonl").is_file()
    # what the demo's training step reads: the installed configs, the shipped stand-in CLIP,
    # clip-tiny and the caption bank
    standin = run("python", "-c", "from tcvads_ros.config_files import config_file as c; "
                                  "from tcvads_ros.training.train_config import load_config as l; "
                                  "print(l(c('train/demo.yaml')).fine.model['checkpoint'])").strip()
    assert Path(standin).is_relative_to(venv) and Path(standin).is_file(), standin
    smoke = Path(config).with_name("smoke.yaml")
    run("tcvads", "train", "--config", str(smoke), "--out", "run", "--stage", "fine", "--no-progress",
        "data.synth.videos=6", "data.synth.frames=48", "fine.optim.epochs=1")
    assert (outside / "run" / "fine.safetensors").is_file() and (outside / "run" / "captions.yaml").is_file()


@pytest.mark.parametrize("python_dir", ["lib/python3.12/site-packages", "local/lib/python3.12/dist-packages"])
def test_a_colcon_install_finds_its_share_folder(tmp_path, python_dir):
    """colcon installs the package under install/tcvads_ros/<python_dir> and the data files under
    install/tcvads_ros/share/tcvads_ros (setup.py's data_files): the shipped files are found there."""
    from tcvads_ros import config_files

    prefix = tmp_path / "install" / "tcvads_ros"
    module = prefix / python_dir / "tcvads_ros" / "config_files.py"
    assert prefix / "share" / "tcvads_ros" in config_files.package_roots(module)


@pytest.mark.slow
def test_a_target_install_on_pythonpath_finds_its_share_folder(wheel, tmp_path):
    """`pip install --no-deps --target DIR` puts the package in DIR/tcvads_ros and the data files
    in DIR/share/tcvads_ros; run with PYTHONPATH=DIR (a Jetson's system Python), the shipped
    configuration and demo bundle are found there."""
    target = tmp_path / "target"
    proc = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-index", "--target",
                           str(target), str(wheel)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    env = {**os.environ, "PYTHONPATH": str(target)}
    where = subprocess.run(
        [sys.executable, "-c", "import tcvads_ros, tcvads_ros.demo as d, tcvads_ros.config_files as c; "
                               "print(tcvads_ros.__file__); print(c.config_file(d.DEMO_CONFIG)); "
                               "print(c.shipped_dir('models/demo-bundle'))"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert where.returncode == 0, where.stdout + where.stderr
    package, config, bundle = map(Path, where.stdout.split())
    assert package.is_relative_to(target), where.stdout
    assert config == target / "share" / "tcvads_ros" / "config" / "train" / "demo.yaml"
    assert (bundle / "manifest.json").is_file() and bundle.is_relative_to(target)
