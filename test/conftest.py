# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""Shared test fixtures. Tests mirror the package layout; all run on CPU without network."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED_LISTS = REPO.parent / "shared" / "data" / "vadclip-lists"

# Tests are small; one intra-op thread keeps them predictable on a 2-core machine.
os.environ.setdefault("OMP_NUM_THREADS", "1")
# ROS 2 tests: a domain of this session's own (a second test run on the machine cannot cross-talk),
os.environ.setdefault("ROS_DOMAIN_ID", str(1 + os.getpid() % 100))
os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")


def _missing(module: str) -> bool:
    return importlib.util.find_spec(module) is None


# launch_testing files (a `generate_test_description`): launch_testing's runner, `launch_test`,
# runs them (test_ros_commands.py does, in a colcon workspace, as `colcon test` would); pytest
# collects them only through launch_testing's pytest plugin, which pytest 9 cannot load.
LAUNCH_TEST_FILES = {"test_edge_launch.py"}


def pytest_ignore_collect(collection_path, config):
    if collection_path.name in LAUNCH_TEST_FILES and not config.pluginmanager.hasplugin("launch_testing"):
        return True
    return None


def pytest_collection_modifyitems(config, items):
    reasons = {
        "rclpy": (any(_missing(m) for m in ("rclpy", "vision_msgs", "tcvads_msgs")),
                  "rclpy or the interface packages the nodes use (vision_msgs, tcvads_msgs) are not installed"),
        "launch_testing": (any(_missing(m) for m in ("launch_testing", "launch_ros", "ros2cli", "colcon_core")),
                           "the launch system, ros2 or colcon is not installed (not on the package registry: "
                           "needs a ROS 2 install, or scripts/install_ros.sh with ROS 2's sources beside the clone)"),
        "tensorrt": (_missing("tensorrt"), "TensorRT is not installed (needs an NVIDIA GPU)"),
    }
    # scripts/test.sh (and so CI) installs ROS 2 Jazzy from the registry, and the launch system,
    # ros2 and colcon from ROS 2's sources, and sets this: there a missing one is a broken setup,
    # never a reason to skip the tests that need it.
    if os.environ.get("TCVADS_REQUIRE_ROS") == "1":
        for marker in ("rclpy", "launch_testing"):
            missing, reason = reasons[marker]
            if missing and (marker == "rclpy" or any(marker in item.keywords for item in items)):
                raise pytest.UsageError(f"TCVADS_REQUIRE_ROS=1 but {reason}: run scripts/install_ros.sh")
    for item in items:
        for marker, (missing, reason) in reasons.items():
            if missing and marker in item.keywords:
                item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture(scope="session")
def vadclip_lists() -> Path:
    """The real VadCLIP annotation and list files shipped beside the project."""
    if not SHARED_LISTS.is_dir():
        pytest.skip(f"real annotation files not found at {SHARED_LISTS}")
    return SHARED_LISTS


TINY_CLIP = "tcvads-test-tiny-clip"


@pytest.fixture(scope="session")
def tiny_clip(tmp_path_factory) -> str:
    """Name of a registered 2-layer, 64-wide CLIP (32 px images, CLIP's tokenizer, 77 tokens)."""
    folder = tmp_path_factory.mktemp("clip_configs")
    config = {
        "embed_dim": 32,
        "vision_cfg": {"image_size": 32, "layers": 2, "width": 64, "patch_size": 8, "head_width": 32},
        "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 2},
    }
    (folder / f"{TINY_CLIP}.json").write_text(json.dumps(config))
    import open_clip  # imported here: most tests never need torch

    open_clip.add_model_config(folder)
    return TINY_CLIP


@pytest.fixture(scope="session")
def readme_run(tmp_path_factory) -> Path:
    """The README's train -> export -> synth -> detect commands, run as written (bash, the
    project's environment first on PATH) in a scratch folder that holds the checkout's config/
    and training/ (the paths the commands name). Returns the folder: runs/smoke, bundles/smoke,
    street/ and events.jsonl are there."""
    from documented_commands import readme_flow

    work = tmp_path_factory.mktemp("readme")
    for name in ("config", "training"):
        (work / name).symlink_to(REPO / name)
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    for line in readme_flow():
        proc = subprocess.run(["bash", "-euo", "pipefail", "-c", line], cwd=work, env=env,
                              capture_output=True, text=True, timeout=900)
        assert proc.returncode == 0, f"{line}\n{proc.stdout[-2000:]}{proc.stderr[-4000:]}"
    return work
