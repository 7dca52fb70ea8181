# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""Timing, statistics, memory and machine facts shared by the benchmark scripts.

The machines these run on are shared and noisy, so every figure is measured several times,
interleaved with what it is compared against (A, B, A, B, ... rather than A, A, ..., B, B, ...),
and reported as the median with min and max. Ratios are taken per round, so a slow moment
of the machine slows both sides of the ratio it falls in.

Nothing here imports torch: the coarse-only memory probe runs this module too.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def time_calls(fn: Callable[[], object], repeats: int, warmup: int = 1, inner: int = 1) -> list[float]:
    """Seconds per call of `fn`: `repeats` samples, each the mean of `inner` calls."""
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(inner):
            fn()
        samples.append((time.perf_counter() - start) / inner)
    return samples


def interleaved(
    fns: Mapping[str, Callable[[], object]], repeats: int, warmup: int = 1, inner: int = 1
) -> dict[str, list[float]]:
    """Seconds per call of each function, measured round-robin so they share the machine's noise."""
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    samples: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            for _ in range(inner):
                fn()
            samples[name].append((time.perf_counter() - start) / inner)
    return samples


def ratios(numerator: list[float], denominator: list[float]) -> list[float]:
    """Per-round ratios of two interleaved sample lists."""
    if len(numerator) != len(denominator) or not numerator:
        raise ValueError("ratios need two non-empty sample lists of the same length")
    return [a / b for a, b in zip(numerator, denominator)]


def summarize(samples: list[float]) -> dict[str, float]:
    """Median, min and max of a list of samples."""
    if not samples:
        raise ValueError("no samples to summarise")
    return {
        "median": float(statistics.median(samples)),
        "min": float(min(samples)),
        "max": float(max(samples)),
    }


def figure(
    samples: list[float],
    unit: str,
    target: float | None = None,
    higher_is_better: bool = True,
    **extra: object,
) -> dict:
    """One results.json entry: value (= median), unit, median, min, max, target/met, extras."""
    entry: dict = {"value": None, "unit": unit, **summarize(samples)}
    entry["value"] = entry["median"]
    entry["samples"] = len(samples)
    if target is not None:
        entry["target"] = target
        entry["met"] = bool(entry["median"] >= target if higher_is_better else entry["median"] <= target)
        entry["target_is"] = "minimum" if higher_is_better else "maximum"
    entry.update(extra)
    return entry


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MiB.

    Linux keeps `getrusage().ru_maxrss` across exec, so a probe started by a large parent (the
    benchmark, with torch and a ViT loaded) would report the parent's peak; VmHWM in
    /proc/self/status belongs to this process image alone. ru_maxrss is the fallback elsewhere.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except (OSError, ValueError, IndexError):
        pass
    kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kib / 1024.0 if sys.platform != "darwin" else kib / (1024.0 * 1024.0)


def current_rss_mb() -> float:
    """Resident memory of this process now, in MiB (from /proc; falls back to the peak)."""
    try:
        with open("/proc/self/statm", encoding="ascii") as f:
            pages = int(f.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / (1024.0 * 1024.0)
    except (OSError, ValueError, IndexError):
        return peak_rss_mb()


def run_json_subprocess(args: list[str], timeout: float, env: Mapping[str, str] | None = None) -> dict:
    """Run `python <args>` from the repository root and parse the JSON object on its last line."""
    full_env = {**os.environ, **(env or {})}
    proc = subprocess.run(
        [sys.executable, *args],
        cwd=REPO,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(
            f"subprocess {' '.join(args)} failed with status {proc.returncode}:\n{proc.stderr[-3000:]}"
        )
    return json.loads(lines[-1])


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def machine_info() -> dict:
    """CPU model, core counts, OS, Python and the versions of the libraries that set the speed."""
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    try:
        load = [round(x, 2) for x in os.getloadavg()]
    except OSError:
        load = None
    libraries = {
        dist: _version(dist)
        for dist in (
            "numpy",
            "onnxruntime",
            "onnxruntime-gpu",
            "opencv-python-headless",
            "opencv-python",
            "torch",
            "open_clip_torch",
            "onnx",
            "tensorrt",
        )
    }
    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "usable_cores": usable,
        "load_average_at_start": load,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "libraries": {k: v for k, v in libraries.items() if v is not None},
    }
