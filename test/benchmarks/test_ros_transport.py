# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""`python -m benchmarks.ros_transport --quick` runs end to end under real rclpy and reports its figures
(values are not checked: they depend on the machine; the full run's are in docs/ros2.md)."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.rclpy, pytest.mark.slow, pytest.mark.timeout(600)]
pytest.importorskip("rclpy", reason="rclpy is not installed (no ROS 2 on this machine)")

REPO = Path(__file__).resolve().parents[2]


def test_ros_transport_quick_reports_loss_and_node_overhead(tmp_path):
    out = tmp_path / "transport.json"
    proc = subprocess.run([sys.executable, "-m", "benchmarks.ros_transport", "--quick", "--json", str(out)],
                          cwd=REPO, capture_output=True, text=True, timeout=540,
                          env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    figures = json.loads(out.read_text())
    assert 0.0 <= figures["frames_lost_640x480_rgb8_reliable"] <= 1.0
    for key in ("node_vs_pipeline_latency", "node_latency_ms", "pipeline_latency_ms", "node_vs_pipeline_fps"):
        assert math.isfinite(figures[key]) and figures[key] > 0, key
    assert "640x480_rgb8    reliable" in proc.stdout and "target >= 0.9" in proc.stdout
