"""Issue 8, overload: a fine stage made slow on purpose must not slow the coarse stage by more
than 10 %. benchmarks/overload.py measures it (interleaved rounds, per-round ratios) and exits 1
on a miss, on triggers that are neither queued, dropped nor coalesced, or when no trigger fired."""

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_slow_fine_stage_does_not_slow_the_coarse_stage(tmp_path):
    out = tmp_path / "overload.json"
    proc = subprocess.run([sys.executable, "benchmarks/overload.py", "--quick", "--json", str(out)],
                          cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = json.loads(out.read_text())
    assert result["coarse_throughput_ratio_slow_fine"]["met"]
    assert all(t > 0 for t in result["triggers_per_run"])
    assert all(d > 0 for d in result["triggers_dropped_per_run"])  # the overload really happened
