#!/usr/bin/env python
# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""Camera frames over ROS 2 (Fast DDS, this machine): what reaches coarse_node, and what the node
costs on top of the streaming core.

    python -m benchmarks.ros_transport [--seconds 6] [--json ros_transport.json] [--quick]

1. frames_lost_<case>_<qos>: camera_player publishes a 30 fps stream (raw 640x480 rgb8, raw
   1280x720 rgb8, 1280x720 JPEG) and coarse_node (a separate process, the real default-size
   coarse backbone) subscribes with that reliability; the share of published frames that never
   reached the node, from its /diagnostics (frames received, counted by the camera's stamps).
   Target: at most 1 % with the recommended QoS (reliable, the default `camera_qos:=auto` picks
   against a reliable camera).
2. node_vs_pipeline_latency: inside coarse_node, per model frame, the time in the streaming core
   and its outputs (`TwoStagePipeline.process`, publishing; /diagnostics `model_mean_ms`) over the
   time from the frame's arrival to its results (`latency_mean_ms`: that plus deserializing,
   conversion and hand-over), medians over the diagnostics windows: target >= 0.9 (the node adds at most
   ~10 %). pipeline_latency_ms: the same pipeline on the same frames in this benchmark's process,
   for reference (another process, so machine noise applies); node_vs_pipeline_fps: frames
   through the model per second in the node against the pipeline on the same 30 fps stream.

`--quick` (what the test suite runs): 640x480 reliable only, 2 s streams. Needs ROS 2
(scripts/install_ros.sh). The bundle is exported from untrained default-size models
(speed does not depend on the weights).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticArray

from tcvads_ros.runtime.backends import create_backend
from tcvads_ros.runtime.frames import Frame
from tcvads_ros.runtime.image_convert import image_to_rgb
from tcvads_ros.runtime.pipeline import PipelineConfig, TwoStagePipeline

BIN = Path(sys.executable).parent
FPS = 30.0
CASES = {"640x480_rgb8": ("640x480", "rgb8"), "1280x720_rgb8": ("1280x720", "rgb8"),
         "1280x720_jpeg": ("1280x720", "jpeg")}
LOSS_TARGET = 0.01
WARMUP = 2  # model frames (pipeline) or diagnostics windows (node) left out of the latency
LATENCY_TARGET = 0.9


class Diagnostics:
    """/diagnostics of one node (by name): its newest values, and its per-window latencies."""

    def __init__(self) -> None:
        self.node = rclpy.create_node("transport_benchmark")
        self.name = ""
        self.latest: dict[str, str] = {}
        self.windows: list[tuple[float, float]] = []  # (mean latency ms, mean model ms) per window
        self.node.create_subscription(DiagnosticArray, "/diagnostics", self._keep, 10)

    def watch(self, name: str) -> None:
        self.name, self.latest, self.windows = name, {}, []

    def _keep(self, array: DiagnosticArray) -> None:
        for status in array.status:
            if status.name.endswith("/" + self.name):
                self.latest = values = {kv.key: kv.value for kv in status.values}
                if float(values["processing_rate_hz"]) > 0:
                    self.windows.append((float(values["latency_mean_ms"]), float(values["model_mean_ms"])))

    def latency_ms(self) -> tuple[float, float]:
        """Medians over the windows (after the first ones with frames: the model warming up) of
        the node's arrival-to-result latency and of the model's share of it."""
        windows = np.asarray(self.windows[WARMUP:]).reshape(-1, 2)
        return tuple(float(v) for v in np.median(windows, axis=0)) if len(windows) else (float("nan"),) * 2

    def spin_until(self, condition, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while not condition() and time.monotonic() < deadline:
            rclpy.spin_once(self.node, timeout_sec=0.05)


def run_case(bundle: Path, work: Path, size: str, encoding: str, qos: str, seconds: float,
             diagnostics: Diagnostics) -> dict:
    """One camera_player -> coarse_node run; returns published, received and the node's figures."""
    name = f"coarse_{size}_{encoding}_{qos}"
    diagnostics.watch(name)
    node = subprocess.Popen(
        [str(BIN / "coarse_node"), "--ros-args", "-r", f"__node:={name}", "-p", f"bundle:={bundle}",
         "-p", f"event_store:={work / (name + '.sqlite')}", "-p", f"camera_qos:={qos}",
         "-p", f"compressed:={'true' if encoding == 'jpeg' else 'false'}", "-p", "output_dir:=none",
         "-p", "diagnostics_period:=0.5", "-p", "threshold_on:=1.0"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        # Its first /diagnostics: the node is loaded and spinning, so the stream starts on a
        # ready subscriber (frames sent while a node still loads are not transport's doing).
        diagnostics.spin_until(lambda: diagnostics.latest, 120)
        player = subprocess.run(
            [str(BIN / "camera_player"), f"synthetic:{size}", "--fps", str(FPS), "--encoding", encoding,
             "--qos", qos, "--depth", "10", "--cycle", "10", "--count", str(int(seconds * FPS)),
             "--wait-subscribers", "1", "--wait-timeout", "60"],
            capture_output=True, text=True, timeout=seconds + 120)
        summary = json.loads(player.stdout.strip().splitlines()[-1])
        settled = time.monotonic() + 2.0
        diagnostics.spin_until(lambda: time.monotonic() > settled, 3.0)  # the node's last counts
    finally:
        node.send_signal(2)
        node.wait(60)
    figures = diagnostics.latest
    received = int(figures.get("total_frames_in", 0))
    return {"published": summary["published"], "received": received,
            "lost": 1.0 - received / max(summary["published"], 1),
            **dict(zip(("node_latency_ms", "model_latency_ms"), diagnostics.latency_ms())),
            "node_processed": int(figures.get("total_processed", 0)), "seconds": summary["seconds"]}


def pipeline_latency(bundle_path: Path, size: str, count: int) -> dict:
    """TwoStagePipeline on the same synthetic frames as camera_player sends (raw rgb8), paced at
    30 fps: mean ms per frame through conversion + model, frames through the model per second."""
    from tcvads_ros.runtime.bundle import Bundle

    bundle = Bundle.load(bundle_path)
    width, height = (int(v) for v in size.split("x"))
    rng = np.random.default_rng(0)  # camera_player's synthetic frames
    payloads = [rng.integers(0, 256, (height, width, 3), dtype=np.uint8).tobytes() for _ in range(10)]
    pipeline = TwoStagePipeline(bundle, create_backend("onnxruntime", bundle), PipelineConfig(fine=False))
    times = []
    start = next_time = time.monotonic()
    for i in range(count):
        delay = next_time - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        next_time += 1.0 / FPS
        if not pipeline.select(i):
            continue
        t0 = time.perf_counter()
        rgb = image_to_rgb("rgb8", height, width, width * 3, 0, payloads[i % len(payloads)])
        pipeline.process(Frame(rgb, i / FPS, i))
        times.append(time.perf_counter() - t0)
    elapsed = time.monotonic() - start
    pipeline.close()
    return {"latency_ms": 1e3 * float(np.median(times[WARMUP:])), "fps": len(times) / elapsed}


def export_bundle(work: Path) -> Path:
    """The default-size untrained bundle, exported in a child process so that torch is never
    imported into this one (it would slow ONNX Runtime here and skew the comparison)."""
    code = ("import sys; from pathlib import Path; from benchmarks.bundles import register_small_clip, "
            "untrained_bundle; w = Path(sys.argv[1]); "
            "print(untrained_bundle(w / 'models', clip_model=register_small_clip(w / 'clip')).root)")
    proc = subprocess.run([sys.executable, "-c", code, str(work)], capture_output=True, text=True, check=True,
                          cwd=Path(__file__).resolve().parent.parent)
    return Path(proc.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=6.0, help="stream length per case")
    parser.add_argument("--json", type=Path, help="write the figures here")
    parser.add_argument("--quick", action="store_true", help="one case, short streams (a smoke run)")
    args = parser.parse_args(argv)
    cases = {"640x480_rgb8": CASES["640x480_rgb8"]} if args.quick else CASES
    qualities = ("reliable",) if args.quick else ("reliable", "best_effort")
    if args.quick:
        args.seconds = 2.0
    os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    os.environ.setdefault("ROS_DOMAIN_ID", str(1 + os.getpid() % 100))
    results: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as work:
        work = Path(work)
        bundle = export_bundle(work)
        rclpy.init()
        diagnostics = Diagnostics()
        print(f"{'case':<16}{'qos':<13}{'published':>10}{'received':>10}{'lost':>8}  target")
        for case, (size, encoding) in cases.items():
            for qos in qualities:
                r = run_case(bundle, work, size, encoding, qos, args.seconds, diagnostics)
                results[f"frames_lost_{case}_{qos}"] = r["lost"]
                target = f"<= {LOSS_TARGET:.0%}" if qos == "reliable" else "(not recommended)"
                print(f"{case:<16}{qos:<13}{r['published']:>10}{r['received']:>10}{r['lost']:>8.1%}  {target}",
                      flush=True)
        # Node overhead: a longer 720p stream through coarse_node, then through the pipeline.
        node_latency = run_case(bundle, work, "1280x720", "rgb8", "reliable", 2 * args.seconds, diagnostics)
        core = pipeline_latency(bundle, "1280x720", int(2 * args.seconds * FPS))
        diagnostics.node.destroy_node()
        rclpy.shutdown()
    ratio = node_latency["model_latency_ms"] / node_latency["node_latency_ms"]
    fps_ratio = (node_latency["node_processed"] / node_latency["seconds"]) / core["fps"]
    results.update(node_vs_pipeline_latency=ratio, node_latency_ms=node_latency["node_latency_ms"],
                   node_model_latency_ms=node_latency["model_latency_ms"], pipeline_latency_ms=core["latency_ms"],
                   node_vs_pipeline_fps=fps_ratio)
    print(f"1280x720 rgb8 at 30 fps, reliable: per model frame {node_latency['node_latency_ms']:.1f} ms from "
          f"arrival to result in coarse_node, of which the model (TwoStagePipeline.process and its outputs) "
          f"{node_latency['model_latency_ms']:.1f} ms: ratio {ratio:.2f} (target >= {LATENCY_TARGET}); "
          f"the same pipeline alone in this process {core['latency_ms']:.1f} ms; frames through the model "
          f"per second, node / pipeline {fps_ratio:.2f}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
