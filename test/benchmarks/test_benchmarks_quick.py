# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""The benchmark and soak scripts run end to end and report what docs/performance.md promises.

`python -m benchmarks.run --quick` must write every figure with its statistics (values are
not checked: they depend on the machine), and `python -m benchmarks.soak --seconds 21` must finish with
no lost event and memory growth within 10 % (docs/performance.md, "Soak"). Both run the real scripts in a subprocess,
as CI does; they take minutes on a busy 2-core machine, hence `slow`.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tcvads_ros.runtime.image_convert import REASONS

REPO = Path(__file__).resolve().parents[2]
# The figures of docs/performance.md, with those that carry a target.
FIGURES = {
    "coarse_pipeline_efficiency": True,
    "coarse_vs_vadclip_speedup": True,
    "coarse_onnxruntime_vs_torch_speedup": False,
    "rwkv_time_over_projections": True,
    "rwkv_vs_transformer_speedup_n8192": True,
    "rwkv_growth_250_to_1750": True,
    "fine_latency_s": False,
    "fine_onnxruntime_vs_torch_speedup": True,
    "coarse_rss_mb": False,
    "full_rss_mb": False,
    "streams_30fps": True,
}

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


def _run(args: list[str], timeout: float) -> subprocess.CompletedProcess:
    # run from the checkout as docs/performance.md shows: no PYTHONPATH
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return subprocess.run([sys.executable, *args], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=timeout, check=False)


def test_quick_benchmark_writes_every_figure(tmp_path):
    out = tmp_path / "results.json"
    proc = _run(["-m", "benchmarks.run", "--quick", "--json", str(out)], timeout=840)
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert "QUICK" in proc.stderr  # the output says the figures come from a reduced run
    results = json.loads(out.read_text(encoding="utf-8"))

    machine = results["machine"]
    assert isinstance(machine["cpu"], str) and machine["cpu"]
    assert machine["cores"] >= 1 and machine["usable_cores"] >= 1
    for library in ("numpy", "onnxruntime", "torch"):
        assert machine["libraries"][library]

    for key, has_target in FIGURES.items():
        figure = results[key]
        for stat in ("value", "median", "min", "max"):
            assert isinstance(figure[stat], (int, float)) and math.isfinite(figure[stat]), (key, stat)
        assert figure["min"] <= figure["median"] <= figure["max"], key
        assert figure["value"] == figure["median"], key
        assert isinstance(figure["unit"], str) and figure["unit"], key
        assert ("target" in figure) == has_target, key
        if has_target:
            assert isinstance(figure["met"], bool), key
            wanted = figure["median"] >= figure["target"] if figure["target_is"] == "minimum" \
                else figure["median"] <= figure["target"]
            assert figure["met"] == wanted, key

    assert results["coarse_rss_mb"]["torch_imported"] is False
    assert results["full_rss_mb"]["explanations"] >= 1  # the fine stage really ran
    assert results["streams_30fps"]["value"] == int(results["streams_30fps"]["value"])
    # Every target that is a share of a limit prints the limit beside it.
    assert results["streams_30fps"]["throughput_bound"] > 0
    assert results["coarse_vs_vadclip_speedup"]["flop_ratio"] > 1
    assert results["rwkv_vs_transformer_speedup_n8192"]["multiply_add_ratio"] > 1
    assert results["fine_onnxruntime_vs_torch_speedup"]["gflops"]["plain_matmul"]["median"] > 0
    assert set(results["rwkv_time_over_projections"]["per_n"]) == {"250", "1000", "1750"}
    scaling = results["_scaling"]["seconds_per_forward"]
    assert set(scaling) == {"Enhanced RWKV", "Transformer", "Local Transformer + GCN"}
    assert {"250", "1750"} <= set(scaling["Enhanced RWKV"])

    plot = tmp_path / "fig4_scaling.png"
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    for key in FIGURES:  # the summary table names every figure
        assert key in proc.stdout


def test_short_soak_loses_nothing(tmp_path):
    report_path = tmp_path / "soak.json"
    proc = _run(["-m", "benchmarks.soak", "--seconds", "21", "--json", str(report_path)], timeout=600)
    assert proc.returncode == 0, proc.stderr[-4000:]
    report = json.loads(report_path.read_text(encoding="utf-8"))
    assert report["failures"] == []
    assert report["frames"] == 630  # 21 s at 30 fps, real-time paced: past the glitches at 10 and 20 s
    # About 5 % corrupt messages, each rejected with a known reason code.
    assert 10 <= report["rejected"] <= 60
    assert set(report["rejected_by_reason"]) <= set(REASONS)
    assert report["time_glitches"]["jump_back"] >= 1 and report["time_glitches"]["leap_forward"] >= 1
    assert report["events_started"] >= 1  # the lost-event check had something to check
    assert report["lost_events"] == 0 and report["events_without_end"] == 0
    assert report["event_records_stored"] == report["event_records_announced"]
    assert report["lost_explanations"] == 0
    assert report["store_integrity"] == "ok"
    assert report["memory_growth"] <= 0.10
    assert report["torch_imported"] is False  # the detector process holds no torch


def test_soak_with_faults_on_the_nodes_loses_nothing(tmp_path):
    """`python -m benchmarks.soak --nodes`, short: the shipped bundle, a fault every 7 s (a
    stall of each node, a kill of each, a full disk: mounting the tmpfs needs root, as CI runs)."""
    report_path = tmp_path / "soak_nodes.json"
    proc = _run(["-m", "benchmarks.soak", "--nodes", "--seconds", "35", "--fault-every", "7", "--stall-s", "3",
                 "--bundle", "models/demo-bundle", "--json", str(report_path)], timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    report = json.loads(report_path.read_text(encoding="utf-8"))
    expected = {"stall_coarse", "kill_fine", "stall_fine", "kill_coarse"} | ({"disk_full"} if os.geteuid() == 0 else set())
    assert set(report["faults"]) == expected and report["failures"] == []
    assert report["events"] >= 2 and report["lost_events"] == 0 and report["lost_explanations"] == 0
    assert report["incarnations"] == {"coarse_node": 2, "fine_node": 2}
    assert all(0 <= v < 7 for vs in report["recovery_s"].values() for v in vs), report["recovery_s"]
    assert "lost events 0 (target 0)" in proc.stdout
