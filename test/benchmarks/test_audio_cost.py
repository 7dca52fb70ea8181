# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""`benchmarks/audio_cost.py` (docs/audio.md) runs as documented: `--quick` prints the coarse
stage's and the audio branch's time per second of stream, their ratio and the bound 0.10 (the
values depend on the machine and are not checked), and `--libraries` which reader reads what."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.timeout(300)


def _run(*args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # from the checkout, as documented
    return subprocess.run([sys.executable, "-m", "benchmarks.audio_cost", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=280, check=False)


def test_quick_run_prints_the_ratio_and_the_bound(tmp_path):
    proc = _run("--quick", "--json", str(tmp_path / "cost.json"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "QUICK" in proc.stderr
    assert "ratio audio / coarse:" in proc.stdout and "bound 0.10:" in proc.stdout
    result = json.loads((tmp_path / "cost.json").read_text())
    assert result["bound"] == 0.10 and result["ratio"] > 0 and result["ratio_of_medians"] > 0
    assert result["snippets"] == 7 and result["snippets_heard"] == 6  # 4 s: the first window is before the sound
    assert result["coarse_ms_per_s"] > 0 and result["audio_graph_ms_per_s"] > 0
    assert result["machine"]["cores"] >= 1


def test_the_libraries_run_says_which_reader_reads_what(tmp_path):
    proc = _run("--libraries", "--quick", "--json", str(tmp_path / "lib.json"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads((tmp_path / "lib.json").read_text())
    files = result["files"]
    assert all(isinstance(row["pyav"], dict) for row in files.values())  # PyAV reads every container
    for rate, row in result["resampling"].items():
        assert row["soxr"]["offset_samples"] == 0 and row["soxr"]["rms_error"] < 1e-3, rate
        assert row["soxr"]["samples"] == 160000
