# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""The edge path (bundle loading, ONNX Runtime, both pipeline stages, detect) never imports torch."""

from __future__ import annotations

import subprocess
import sys

from recordings import write_recording
from tiny_bundle import make_tiny_bundle

SCRIPT = """
import sys
from tcvads_ros.cli import main
code = main(["detect", sys.argv[1], "--bundle", sys.argv[2], "--backend", "auto", "--quiet", "--threshold", "0"])
loaded = sorted(m for m in sys.modules if m == "torch" or m.startswith("torch."))
print("exit", code, "torch modules:", loaded)
assert code == 0 and not loaded
"""


def test_detect_never_imports_torch(tmp_path):
    bundle, _ = make_tiny_bundle(tmp_path / "bundle")
    video = write_recording(tmp_path / "v.avi", "mjpeg", 25.0, (96, 128), 200, bright=[(50, 150)])
    result = subprocess.run([sys.executable, "-c", SCRIPT, str(video), str(bundle.root)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "exit 0 torch modules: []" in result.stdout
    assert "1 explanations" in result.stdout  # the fine stage ran too, still without torch


CALIBRATE = """
import sys
from tcvads_ros.cli import main
code = main(["calibrate", sys.argv[2], "--normal", sys.argv[1], "--false-alarms-per-hour", "2000",
             "--out", sys.argv[3], "--backend", "auto", "--quiet"])
code = code or main(["detect", sys.argv[1], "--bundle", sys.argv[2], "--site", sys.argv[3], "--quiet", "--no-fine"])
loaded = sorted(m for m in sys.modules if m == "torch" or m.startswith("torch."))
print("exit", code, "torch modules:", loaded)
assert code == 0 and not loaded
"""


def test_calibrate_and_a_site_profile_never_import_torch(tmp_path):
    bundle, _ = make_tiny_bundle(tmp_path / "bundle")
    video = write_recording(tmp_path / "v.avi", "mjpeg", 25.0, (96, 128), 400)
    result = subprocess.run([sys.executable, "-c", CALIBRATE, str(video), str(bundle.root),
                             str(tmp_path / "site.json")], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "exit 0 torch modules: []" in result.stdout and (tmp_path / "site.json").is_file()
