# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""Overload: a fine stage made slow on purpose must not slow the coarse stage (docs/performance.md).

``python -m benchmarks.overload [--quick] [--delay S] [--json FILE]``

The same stream is pushed through `TwoStagePipeline` twice per round, interleaved:

- **baseline**: fine stage off;
- **overloaded**: fine stage on, every fine graph call held up by ``--delay`` seconds (a slow
  accelerator, a remote worker), with an anomaly every few seconds so triggers keep coming.

Coarse throughput is frames pushed per second of the push loop. The figure is the per-round ratio
overloaded / baseline (median, min, max); the target is >= 0.90 (no more than 10 % slower).
The script also reports the triggers dropped or coalesced and the peak of the fine queue, and
exits 1 when the target is missed, a trigger is lost without being counted, or the fine queue
grows past its bound.

The coarse graphs run for real (the project's exporter on untrained default-size models; speed
does not depend on the weights). Only the anomaly *scores* are replaced by a known square wave
after the real QACM ran, so that every run triggers the fine stage the same number of times.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from benchmarks.bundles import register_small_clip, untrained_bundle
from benchmarks.camera import camera_messages, to_frame
from benchmarks.timing import figure, ratios
from tcvads_ros.runtime.backends import create_backend
from tcvads_ros.runtime.backends.base import Backend
from tcvads_ros.runtime.events import EventConfig
from tcvads_ros.runtime.pipeline import PipelineConfig, TwoStagePipeline

TARGET = 0.90
ANOMALY_PERIOD = 12  # snippets between anomaly onsets
ANOMALY_LENGTH = 4  # snippets per anomaly


class ScriptedScores(Backend):
    """Runs the real graphs; then replaces QACM scores by a square wave and delays fine graphs."""

    def __init__(self, inner: Backend, fine_delay_s: float):
        super().__init__(inner.bundle)
        self.inner, self.fine_delay_s = inner, fine_delay_s
        self.name = inner.name
        self.snippet = 0
        self.fine_calls = 0
        self._lock = threading.Lock()

    def run(self, graph_name, inputs):
        out = self.inner.run(graph_name, inputs)
        if graph_name == "coarse_qacm":
            with self._lock:
                self.snippet += 1
                high = self.snippet % ANOMALY_PERIOD < ANOMALY_LENGTH
            out = {"scores": np.full_like(out["scores"], 0.95 if high else 0.05)}
        elif graph_name.startswith("fine"):
            with self._lock:
                self.fine_calls += 1
            time.sleep(self.fine_delay_s)
        return out


def stream(backend: Backend, frames: list, fine: bool) -> tuple[float, dict]:
    """Push every frame; returns (coarse frames per second, pipeline stats)."""
    events = EventConfig(threshold_on=0.5, threshold_off=0.4, min_duration_s=0.0, merge_gap_s=0.0,
                         cooldown_s=0.0, update_interval_s=10.0)
    cfg = PipelineConfig(sample_every=1, score_every=1, events=events, fine=fine,
                         fine_queue=2)
    pipeline = TwoStagePipeline(backend.bundle, backend, cfg)
    start = time.perf_counter()
    for frame in frames:
        pipeline.push(frame)
    elapsed = time.perf_counter() - start
    pipeline.close(timeout=0.1)  # submits the clip still being collected; no wait for the worker
    return len(frames) / elapsed, dict(pipeline.summary()["stats"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer frames and rounds (CI)")
    parser.add_argument("--delay", type=float, default=2.0, help="seconds each fine graph call is held up")
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--json", type=Path, help="write the figures here")
    args = parser.parse_args(argv)
    rounds = args.rounds or (3 if args.quick else 7)
    n_frames = 120 if args.quick else 360

    with tempfile.TemporaryDirectory(prefix="tcvads-overload-") as work:
        clip = register_small_clip(Path(work) / "clip")
        bundle = untrained_bundle(Path(work), clip_model=clip, max_captions=8)
        backend = create_backend("onnxruntime", bundle)
        frames = [to_frame(p, i, size=(360, 640))
                  for i, p in enumerate(camera_messages(n_frames, size=(360, 640)))]
        base_fps, slow_fps, runs = [], [], []
        for _ in range(rounds):
            fps, _ = stream(ScriptedScores(backend, 0.0), frames, fine=False)
            base_fps.append(fps)
            scripted = ScriptedScores(backend, args.delay)
            fps, stats = stream(scripted, frames, fine=True)
            slow_fps.append(fps)
            runs.append(stats)
        backend.close()

    ratio = ratios(slow_fps, base_fps)
    triggers = [s.get("triggers", 0) for s in runs]
    handled = [s.get("triggers_queued", 0) + s.get("triggers_dropped", 0) + s.get("triggers_coalesced", 0)
               for s in runs]
    result = {
        "coarse_throughput_ratio_slow_fine": figure(ratio, "x", target=TARGET),
        "baseline_fps": figure(base_fps, "frames/s"),
        "overloaded_fps": figure(slow_fps, "frames/s"),
        "fine_delay_s": args.delay,
        "triggers_per_run": triggers,
        "triggers_dropped_per_run": [s.get("triggers_dropped", 0) for s in runs],
        "triggers_coalesced_per_run": [s.get("triggers_coalesced", 0) for s in runs],
        "triggers_queued_per_run": [s.get("triggers_queued", 0) for s in runs],
        "quick": args.quick,
    }
    print(f"coarse throughput, fine stage off:          {result['baseline_fps']['median']:.1f} frames/s")
    print(f"coarse throughput, fine stage {args.delay:.1f} s per call: "
          f"{result['overloaded_fps']['median']:.1f} frames/s")
    r = result["coarse_throughput_ratio_slow_fine"]
    print(f"ratio (target >= {TARGET}): median {r['median']:.3f}  min {r['min']:.3f}  max {r['max']:.3f}")
    print(f"triggers per run {triggers}; dropped {result['triggers_dropped_per_run']}; "
          f"coalesced {result['triggers_coalesced_per_run']}; queued {result['triggers_queued_per_run']}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    problems = []
    if not r["met"]:
        problems.append(f"coarse stage slowed to {r['median']:.2f}x by a slow fine stage (target {TARGET})")
    if any(t == 0 for t in triggers):
        problems.append("no trigger reached the fine stage: the overload was not exercised")
    if any(t != h for t, h in zip(triggers, handled)):
        problems.append(f"triggers not accounted for: {triggers} triggered, {handled} queued/dropped/coalesced")
    for p in problems:
        print(f"FAIL: {p}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
