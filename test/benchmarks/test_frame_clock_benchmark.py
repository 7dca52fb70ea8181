# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""`python -m benchmarks.frame_clock` (docs/ros2.md) runs and counts what its streams lost: the
losses it reports equal the truth it generated, and the rates are the cameras'. Its µs per frame
are printed for reading, not asserted (no timing in the unit suite)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_frame_clock_benchmark_counts_each_streams_losses():
    proc = subprocess.run([sys.executable, "-m", "benchmarks.frame_clock", "--frames", "600", "--repeat", "1"],
                          cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    rows = [line.split() for line in proc.stdout.splitlines() if " this " in line]
    assert len(rows) >= 8, proc.stdout
    for row in rows:
        name = " ".join(row[:row.index("this")])
        frames, lost, true, fps = row[row.index("this") + 1:row.index("this") + 5]
        assert lost == true, f"{name}: counted {lost} lost, {true} really lost"
        want = 30.0 if "->" not in name else float(name.split("->")[1].split()[0])
        assert abs(float(fps) - want) < 0.05, f"{name}: {fps} fps"
