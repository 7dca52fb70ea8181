#!/usr/bin/env python
# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""Soak test: a synthetic 30 fps camera through the two-stage detector, with faults, for a while.

    python -m benchmarks.soak --minutes M      (or --seconds S)  [--bundle BUNDLE] [--json FILE]
    python -m benchmarks.soak --nodes --minutes M [--fault-every S] [--stall-s S]   (real nodes, faults)

The camera is paced in real time and publishes bgr8 messages that go through the project's
`image_convert` as the ROS node does. It alternates quiet and busy scenes so that the coarse
stage opens and closes events (the alarm threshold is set between the untrained model's scores on
the two scenes, measured first), and injects faults:

- 5 % corrupt messages (truncated data, wrong encoding, zero size, bad step, oversize header,
  random bytes): each must be rejected by `image_convert` with a reason code, never crash;
- time glitches every ~10 s: the stamp jumps back (a clock reset) or leaps forward (a gap).

Every event and explanation goes to a durable `EventStore` before it is announced. At the end it
reports frames, rejections by reason, events, explanations, lost events (announced but not in
the store, or started but never ended) and resident memory after warm-up and at the end, and
exits 1 on a lost event or on memory growth above 10 % (an exception is a crash: exit status 1
with the traceback). Without --bundle it exports an untrained bundle (default-size coarse stage,
a 2-layer CLIP for the fine stage; reliability does not depend on the weights or the CLIP size).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np

from benchmarks.camera import CAMERA_SIZE, FPS
from benchmarks.timing import REPO, current_rss_mb, peak_rss_mb

CORRUPT_RATE = 0.05
GLITCH_EVERY_S = 10.0
SCENE_S = (6.0, 4.0)  # quiet, busy
MAX_GROWTH = 0.10
EXPORT = """
import sys
from pathlib import Path
from benchmarks.bundles import SMALL_CLIP, register_small_clip, untrained_bundle
work = Path(sys.argv[1])
register_small_clip(work / "clip_configs")
untrained_bundle(work, clip_model=SMALL_CLIP, max_captions=8)
"""


class SyntheticCamera:
    """Quiet and busy scenes as bgr8 payloads (drawn once), plus corrupt messages."""

    def __init__(self, seed: int = 0, size: tuple[int, int] = CAMERA_SIZE):
        self.rng = np.random.default_rng(seed)
        h, w = self.size = size
        quiet, busy = [], []
        for i in range(8):
            dark = self.rng.integers(10, 40, (h, w, 3), dtype=np.uint8)
            quiet.append(dark.tobytes())
            bright = self.rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
            x = (i * 131) % (w - 300)
            bright[h // 4 : h // 4 + 300, x : x + 300] = (0, 0, 255)  # a red block moving
            busy.append(bright.tobytes())
        self.scenes = {"quiet": quiet, "busy": busy}

    def message(self, scene: str, index: int) -> dict:
        h, w = self.size
        return {"encoding": "bgr8", "height": h, "width": w, "step": 3 * w, "is_bigendian": False,
                "data": self.scenes[scene][index % len(self.scenes[scene])]}

    def corrupt(self, index: int) -> dict:
        """A garbage image message of one of several kinds."""
        h, w = self.size
        good = self.message("quiet", index)
        kind = index % 6
        if kind == 0:
            return {**good, "data": good["data"][: len(good["data"]) // 3]}  # truncated
        if kind == 1:
            return {**good, "encoding": "bayer_nonsense16"}
        if kind == 2:
            return {**good, "height": 0, "width": 0, "step": 0, "data": b""}
        if kind == 3:
            return {**good, "step": w}  # a step shorter than one row
        if kind == 4:
            return {**good, "height": 100_000, "width": 100_000, "step": 300_000}
        return {**good, "data": self.rng.integers(0, 256, 1000, dtype=np.uint8).tobytes()}


def scene_at(t: float) -> str:
    return "quiet" if t % sum(SCENE_S) < SCENE_S[0] else "busy"


def calibrate_threshold(bundle, backend, camera: SyntheticCamera) -> dict:
    """Alarm threshold and hysteresis between the model's scores on quiet and on busy scenes."""
    from tcvads_ros.runtime.frames import Frame
    from tcvads_ros.runtime.image_convert import image_to_rgb
    from tcvads_ros.runtime.pipeline import CoarseDetector, PipelineConfig

    medians = {}
    for scene in ("quiet", "busy"):
        detector = CoarseDetector(bundle, backend, PipelineConfig(sample_every=1, fine=False))
        scores = []
        for i in range(bundle.manifest.window + 8):
            frame = Frame(image_to_rgb(**camera.message(scene, i)), i / FPS, i)
            scores += [s.score for s in detector.push(frame)[0]]
        medians[scene] = float(np.median(scores[-8:]))
    # Untrained, either scene may score higher: alarm half-way, end a quarter of the gap lower.
    high, low = max(medians.values()), min(medians.values())
    threshold = 0.5 * (high + low)
    return {**medians, "threshold": threshold, "hysteresis": 1.0 - 0.25 * (high - low) / threshold}


WARMUP_EXPLANATIONS = 2
WARMUP_MAX_S = 90.0


def soak(bundle, seconds: float, work: Path) -> dict:
    from tcvads_ros.runtime.backends import create_backend
    from tcvads_ros.runtime.event_store import EventStore
    from tcvads_ros.runtime.events import EventConfig
    from tcvads_ros.runtime.frames import Frame
    from tcvads_ros.runtime.image_convert import ImageConversionError, image_to_rgb
    from tcvads_ros.runtime.pipeline import PipelineConfig, TwoStagePipeline

    camera = SyntheticCamera()
    backend = create_backend("onnxruntime", bundle)
    calibration = calibrate_threshold(bundle, backend, camera)
    store = EventStore(work / "events.db")
    explanations: list[str] = []
    pipeline = TwoStagePipeline(
        bundle, backend, PipelineConfig(events=EventConfig().with_threshold(
            calibration["threshold"], calibration["threshold"] * calibration["hysteresis"])), stores=[store],
        on_explanation=lambda e, _header: explanations.append(e.event_id),
    )
    announced: list[tuple[str, str]] = []
    rejected: Counter = Counter()
    glitches: Counter = Counter()
    frames = late = 0
    max_lag = 0.0
    # Warm-up, unpaced and without faults: fill the QACM window and let the fine worker thread
    # explain a few events, so that every graph, buffer and thread has its memory before the
    # baseline is taken (a new thread's first big allocations grow the heap once).
    index = 0
    while index / FPS < WARMUP_MAX_S and not (
        len(explanations) >= WARMUP_EXPLANATIONS and index >= bundle.manifest.window * bundle.manifest.snippet_frames
    ):
        t = index / FPS
        frame = Frame(image_to_rgb(**camera.message(scene_at(t), index)), 1000.0 + t, index)
        announced += [(e.event_id, e.kind) for e in pipeline.push(frame)]
        index += 1
    while not pipeline.fine.queue.empty():
        time.sleep(0.1)
    time.sleep(1.0)
    warmup = {"video_s": index / FPS, "explanations": len(explanations)}
    rss_start = current_rss_mb()
    rng = np.random.default_rng(1)
    timeline = []  # (stream second, RSS MiB, explanations so far)
    first = index
    clock_offset = 0.0
    next_glitch = GLITCH_EVERY_S
    start = time.perf_counter()
    while True:
        t = (index - first) / FPS
        if t >= seconds:
            break
        lag = time.perf_counter() - start - t
        if lag < 0:
            time.sleep(-lag)
        else:
            max_lag = max(max_lag, lag)
            late += lag > 1.0 / FPS
        if (index - first) % int(5 * FPS) == 0:
            timeline.append((round(t), round(current_rss_mb(), 1), len(explanations)))
        if t >= next_glitch:  # alternately a clock reset (back 120 s) and a leap (forward 1 h)
            back = glitches["jump_back"] <= glitches["leap_forward"]
            clock_offset += -120.0 if back else 3600.0
            glitches["jump_back" if back else "leap_forward"] += 1
            next_glitch += GLITCH_EVERY_S
        corrupt = rng.random() < CORRUPT_RATE
        message = camera.corrupt(index) if corrupt else camera.message(scene_at(t), index)
        frames += 1
        try:
            rgb = image_to_rgb(**message)
        except ImageConversionError as exc:
            rejected[exc.reason] += 1
        else:
            if corrupt:
                raise AssertionError(f"a corrupt message of kind {index % 6} was accepted")
            stamp = 1000.0 + index / FPS + clock_offset
            for event in pipeline.push(Frame(rgb, stamp, index)):
                announced.append((event.event_id, event.kind))
        index += 1
    for event in pipeline.close(timeout=120):
        announced.append((event.event_id, event.kind))
    rss_end = current_rss_mb()
    stored = [(e["event_id"], e["kind"]) for e in store.events()]
    stored_explanations = [e["event_id"] for e in store.explanations()]
    integrity = store.integrity_check()
    store.close()
    missing = Counter(announced) - Counter(stored)
    starts = {i for i, k in announced if k == "start"}
    ends = {i for i, k in announced if k == "end"}
    summary = pipeline.summary()
    return {
        "seconds": seconds,
        "wall_seconds": time.perf_counter() - start,
        "frames": frames,
        "rejected": sum(rejected.values()),
        "rejected_by_reason": dict(rejected),
        "time_glitches": dict(glitches),
        "late_frames": late,
        "max_lag_s": max_lag,
        "threshold": calibration,
        "events_started": len(starts),
        "event_records_announced": len(announced),
        "event_records_stored": len(stored),
        "lost_events": sum(missing.values()),
        "events_without_end": len(starts - ends),
        "explanations": len(explanations),
        "explanations_stored": len(stored_explanations),
        "lost_explanations": len(set(explanations) - set(stored_explanations)),
        "store_integrity": integrity,
        "rss_start_mb": rss_start,
        "rss_end_mb": rss_end,
        "rss_peak_mb": peak_rss_mb(),
        "memory_growth": rss_end / rss_start - 1.0,
        "warmup": warmup,
        "rss_timeline_mb": timeline,
        "torch_imported": "torch" in sys.modules,
        "pipeline": summary["stats"],
        "coarse_latency": summary["coarse_latency"],
        "fine_latency": summary.get("fine_latency"),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    length = parser.add_mutually_exclusive_group(required=True)
    length.add_argument("--minutes", type=float, help="how long to stream")
    length.add_argument("--seconds", type=float, help="how long to stream (short CI form)")
    parser.add_argument("--bundle", type=Path, default=None,
                        help="a bundle to soak (default: export an untrained one)")
    parser.add_argument("--json", type=Path, default=None, help="also write the report here")
    parser.add_argument("--nodes", action="store_true",
                        help="soak coarse_node and fine_node over ROS 2 with stalls, kills and a full disk "
                             "(benchmarks/soak_nodes.py) instead of the in-process pipeline")
    parser.add_argument("--fault-every", type=float, default=30.0, help="--nodes: seconds between faults")
    parser.add_argument("--stall-s", type=float, default=10.0,
                        help="--nodes: how long a node is stopped, or the disk full")
    args = parser.parse_args(argv)
    seconds = args.seconds if args.seconds is not None else 60.0 * args.minutes
    if seconds <= 0:
        parser.error("the soak must last more than 0 seconds")
    if args.nodes and not 0 < args.stall_s < args.fault_every:
        parser.error("--stall-s must be positive and shorter than --fault-every")

    from tcvads_ros.runtime.bundle import Bundle

    with tempfile.TemporaryDirectory(prefix="tcvads_soak_") as tmp:
        path = args.bundle
        if path is None:
            # Exported in a child process, so this one holds only the detector (no torch).
            print("exporting an untrained bundle (default coarse stage, 2-layer CLIP)", file=sys.stderr)
            path = Path(tmp) / "export"
            subprocess.run([sys.executable, "-c", EXPORT, str(path)], check=True, cwd=REPO)
            path = path / "bundle"
        if args.nodes:
            return soak_nodes_main(path, seconds, Path(tmp), args)
        bundle = Bundle.load(path)
        print(f"soaking for {seconds:.0f} s at {FPS:.0f} fps (after an unpaced warm-up)",
              file=sys.stderr, flush=True)
        report = soak(bundle, seconds, Path(tmp))
    failures = []
    if report["lost_events"] or report["events_without_end"] or report["lost_explanations"]:
        failures.append("lost events")
    if report["store_integrity"] != "ok":
        failures.append("event store integrity")
    if report["memory_growth"] > MAX_GROWTH:
        failures.append(f"memory growth {report['memory_growth']:.1%} > {MAX_GROWTH:.0%}")
    report["failures"] = failures
    print(
        f"frames {report['frames']}, rejected {report['rejected']} {report['rejected_by_reason']}, "
        f"time glitches {report['time_glitches']}, events {report['events_started']} "
        f"({report['event_records_stored']}/{report['event_records_announced']} records stored, "
        f"{report['lost_events']} lost, {report['events_without_end']} without end), explanations "
        f"{report['explanations_stored']}/{report['explanations']}, RSS {report['rss_start_mb']:.0f} "
        f"-> {report['rss_end_mb']:.0f} MiB ({report['memory_growth']:+.1%}), late frames "
        f"{report['late_frames']} (max lag {report['max_lag_s']:.2f} s)"
    )
    return finish(report, args.json)


def finish(report: dict, json_path: Path | None) -> int:
    """Write the report (JSON line, and `json_path`), and the exit status: 1 on any failure."""
    if json_path is not None:
        json_path.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(report))
    if report["failures"]:
        print("SOAK FAILED: " + ", ".join(report["failures"]), file=sys.stderr)
        return 1
    return 0


def soak_nodes_main(bundle: Path, seconds: float, work: Path, args: argparse.Namespace) -> int:
    from benchmarks.soak_nodes import report_lines, soak_nodes

    print(f"soaking coarse_node and fine_node for {seconds:.0f} s, a fault every {args.fault_every:.0f} s",
          file=sys.stderr, flush=True)
    report = soak_nodes(bundle, seconds, work, args.fault_every, args.stall_s)
    failures = []
    if report["lost_events"] or report["lost_explanations"]:
        failures.append("lost events or explanations")
    if any(v == float("inf") for vs in report["recovery_s"].values() for v in vs):
        failures.append("a node that did not get its camera back")
    if any(report["exit_codes"].values()):
        failures.append(f"exit codes {report['exit_codes']}")
    report["failures"] = failures
    print("\n".join(report_lines(report)))
    return finish(report, args.json)


if __name__ == "__main__":
    sys.exit(main())
