# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""One coarse_node serving 4 cameras (parameter ``cameras``) against 4 single-camera
coarse_nodes, in the same run, on the same frames, over Fast DDS.

    python -m benchmarks.multi_camera [--cameras 4] [--rounds 2] [--json FILE]

Each camera is a camera_player process playing its own synthetic test video (`tcvads synth`,
as the demo draws it: 128x96, 24 fps, 20 s, with anomalies) at its own rate, reliable QoS; the
bundle is the one the project ships (models/demo-bundle), on ONNX Runtime's CPU provider, coarse
stage only (the fine stage runs in fine_node, not measured here). Setup (a) is one coarse_node
with ``cameras:=[cam0=/cam0/image_raw, ...]``, setup (b) one coarse_node per camera, on the same
videos, in turn: (a) then (b) in odd rounds, (b) then (a) in even ones, so that neither setup
always meets the machine's load first.

Measured for each setup, over its node processes: peak memory (the sum of each process's
VmHWM), CPU seconds (user + system, /proc/<pid>/stat) from just before the players start until
every camera's frames are processed, per frame the model processed (each camera's
``total_processed`` in /diagnostics), and each camera's events from the event store (start and
end frame of each). Printed per round and over all rounds (peak memory: the largest; CPU: the
sums): each ratio (a)/(b) with the bound it is judged against (peak memory <= 0.5, CPU per
processed frame <= 0.8) and, per camera, whether its events in (a) equal those of its own node
in (b) in every round. Needs ROS 2 (scripts/install_ros.sh).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.executors import SingleThreadedExecutor

from tcvads_ros.runtime.event_store import EventStore

BIN = Path(sys.executable).parent
REPO = Path(__file__).resolve().parents[1]
BUNDLE = REPO / "models" / "demo-bundle"
# The demo's test video (tcvads_ros/demo.py), one per camera from its own seed.
VIDEO = {"width": 128, "height": 96, "frames": 480, "fps": 24.0, "abnormal_share": 1.0, "test_share": 1.0}
BOUNDS = {"peak_memory": 0.5, "cpu_per_frame": 0.8}
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def write_videos(folder: Path, cameras: int) -> list[Path]:
    """One synthetic test video per camera (different seeds: different scenes and anomalies)."""
    from tcvads_ros.data.synthetic import SynthConfig, generate

    videos = []
    for i in range(cameras):
        plan = generate(folder / f"cam{i}", SynthConfig(videos=1, seed=50 + i, **VIDEO), progress=False)[0]
        videos.append(next((folder / f"cam{i}" / "videos").glob(plan.name + ".*")))
    return videos


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime


def peak_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmHWM for process {pid}")


class Statuses:
    """The newest /diagnostics values of every status, by name."""

    def __init__(self) -> None:
        self.node = rclpy.create_node("multi_camera_benchmark")
        self.lock = threading.Lock()
        self.values: dict[str, dict[str, str]] = {}
        self.node.create_subscription(DiagnosticArray, "/diagnostics", self._keep, 50)
        self.executor = SingleThreadedExecutor()
        self.executor.add_node(self.node)
        threading.Thread(target=self.executor.spin, daemon=True).start()

    def _keep(self, array: DiagnosticArray) -> None:
        with self.lock:
            for status in array.status:
                self.values[status.name] = {kv.key: kv.value for kv in status.values}

    def get(self, name: str) -> dict[str, str]:
        with self.lock:
            return dict(self.values.get(name, {}))

    def close(self) -> None:
        self.executor.shutdown()
        self.node.destroy_node()


def node_args(work: Path, name: str, *params: str) -> list[str]:
    args = ["--ros-args", "-r", f"__node:={name}", "-p", f"bundle:={BUNDLE}", "-p", "backend:=onnxruntime",
            "-p", f"event_store:={work / (name + '.sqlite')}", "-p", "output_dir:=none",
            "-p", "camera_qos:=reliable", "-p", "camera_queue_depth:=30", "-p", "diagnostics_period:=1.0"]
    for param in params:
        args += ["-p", param]
    return args


def wait_for(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    raise RuntimeError(f"timed out after {timeout:.0f} s waiting for {what}")


def run_setup(label: str, nodes: dict[str, list[str]], status_of: dict[str, str], videos: list[Path],
              work: Path, statuses: Statuses) -> dict:
    """Start `nodes` (process name -> arguments), play every camera once, and measure."""
    logs = {name: open(work / f"{name}.log", "w") for name in nodes}  # noqa: SIM115 - closed below
    procs = {name: subprocess.Popen([str(BIN / "coarse_node"), *args], stdout=logs[name],
                                    stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
             for name, args in nodes.items()}
    players: list[subprocess.Popen] = []
    try:
        wait_for(lambda: all("active: taking camera frames" in (work / f"{n}.log").read_text() for n in nodes),
                 120, f"{label}: the nodes to be active")
        cpu_before = {name: cpu_seconds(p.pid) for name, p in procs.items()}
        for i, video in enumerate(videos):
            players.append(subprocess.Popen(
                [str(BIN / "camera_player"), str(video), "--topic", f"/cam{i}/image_raw", "--depth", "30",
                 "--frame-id", f"cam{i}", "--wait-subscribers", "1", "--wait-timeout", "60"],
                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True))
        published = [json.loads(p.communicate(timeout=300)[0].strip().splitlines()[-1])["published"]
                     for p in players]

        def settled() -> bool:  # every frame received counted with its fate, and none queued
            for i, name in enumerate(status_of.values()):
                s = statuses.get(name)
                received = int(s["total_frames_in"]) + int(s["total_lost"]) + int(s["pending_lost"]) if s else 0
                if not s or received < published[i] - 1 \
                        or s["total_queued"] != "0" or s["frames_in"] != "0":
                    return False
            return True

        wait_for(settled, 120, f"{label}: every camera's frames to be processed")
        cpu = sum(cpu_seconds(p.pid) - cpu_before[name] for name, p in procs.items())
        peak = sum(peak_mib(p.pid) for p in procs.values())
        counts = {camera: statuses.get(name) for camera, name in status_of.items()}
    finally:
        for p in procs.values():
            if p.poll() is None:
                p.send_signal(signal.SIGINT)
        codes = {name: p.wait(60) for name, p in procs.items()}
        for log in logs.values():
            log.close()
    if any(codes.values()):
        raise RuntimeError(f"{label}: a node exited with {codes}; logs in {work}")
    processed = sum(int(c["total_processed"]) for c in counts.values())
    return {"processes": len(procs), "peak_mib": peak, "cpu_s": cpu, "processed": processed,
            "cpu_ms_per_frame": 1e3 * cpu / processed, "published": published,
            "lost": {camera: int(c["total_lost"]) for camera, c in counts.items()},
            "dropped": {camera: int(c["total_dropped"]) for camera, c in counts.items()}}


def events_of(store: Path, camera: str | None = None) -> list[tuple[int, int]]:
    """(start_frame, end_frame) of each ended event in `store` (of `camera` where given)."""
    with EventStore(store) as records:
        return [(e["start_frame"], e["end_frame"]) for e in records.events()
                if e["kind"] == "end" and (camera is None or e.get("stream") == camera)]


def run_round(number: int, names: list[str], videos: list[Path], work: Path, statuses: Statuses) -> dict:
    """Both setups once, in this round's order; their figures and each camera's events."""
    cameras = "cameras:=[" + ", ".join(f"{n}=/{n}/image_raw" for n in names) + "]"
    one_name = f"coarse_all_{number}"
    setups = {
        "one_node": lambda: run_setup("(a) one node", {one_name: node_args(work, one_name, cameras)},
                                      {n: f"tcvads_ros: /{one_name}/{n}" for n in names}, videos, work, statuses),
        "node_per_camera": lambda: run_setup(
            "(b) a node per camera",
            {f"coarse_{n}_{number}": node_args(work, f"coarse_{n}_{number}", f"image_topic:=/{n}/image_raw")
             for n in names},
            {n: f"tcvads_ros: /coarse_{n}_{number}" for n in names}, videos, work, statuses),
    }
    order = list(setups) if number % 2 else list(reversed(setups))
    result = {key: setups[key]() for key in order}
    result["order"] = order
    result["events"] = {n: {"one_node": events_of(work / f"{one_name}.sqlite", n),
                            "own_node": events_of(work / f"coarse_{n}_{number}.sqlite")} for n in names}
    return result


def ratios_of(one: dict, many: dict) -> dict[str, float]:
    return {"peak_memory": one["peak_mib"] / many["peak_mib"],
            "cpu_per_frame": (one["cpu_s"] / one["processed"]) / (many["cpu_s"] / many["processed"])}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cameras", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=2, help="rounds of both setups, in alternating order")
    parser.add_argument("--json", type=Path, help="write the figures here too")
    args = parser.parse_args(argv)
    names = [f"cam{i}" for i in range(args.cameras)]
    rclpy.init()
    statuses = Statuses()
    try:
        with tempfile.TemporaryDirectory(prefix="tcvads-multi-camera-") as tmp:
            work = Path(tmp)
            videos = write_videos(work / "videos", args.cameras)
            rounds = [run_round(number, names, videos, work, statuses) for number in range(1, args.rounds + 1)]
    finally:
        statuses.close()
        rclpy.shutdown()
    print(f"{args.cameras} cameras, models/demo-bundle on onnxruntime (CPU), 20 s of 24 fps 128x96 each")
    for number, result in enumerate(rounds, 1):
        print(f"round {number} ({' then '.join(result['order'])}):")
        for key, label in (("one_node", "(a) one coarse_node, all cameras"),
                           ("node_per_camera", "(b) one coarse_node per camera")):
            r = result[key]
            print(f"  {label}: {r['processes']} process(es), peak memory {r['peak_mib']:.0f} MiB, {r['cpu_s']:.2f} "
                  f"CPU s for {r['processed']} processed frames = {r['cpu_ms_per_frame']:.1f} ms per frame; "
                  f"lost {sum(r['lost'].values())}, dropped {sum(r['dropped'].values())}")
        ratios = ratios_of(result["one_node"], result["node_per_camera"])
        print("  " + ", ".join(f"{k} (a)/(b) {v:.2f}" for k, v in ratios.items()))
    total = {key: {"peak_mib": max(r[key]["peak_mib"] for r in rounds), "cpu_s": sum(r[key]["cpu_s"] for r in rounds),
                   "processed": sum(r[key]["processed"] for r in rounds)} for key in ("one_node", "node_per_camera")}
    ratios = ratios_of(total["one_node"], total["node_per_camera"])
    print(f"all {args.rounds} round(s):")
    for key, bound in BOUNDS.items():
        verdict = "holds" if ratios[key] <= bound else "MISSED"
        print(f"  {key} (a)/(b): {ratios[key]:.2f} (bound <= {bound}): {verdict}")
    same = {n: all(r["events"][n]["one_node"] == r["events"][n]["own_node"] for r in rounds) for n in names}
    for n in names:
        print(f"  {n} events (start, end frame) one node {rounds[0]['events'][n]['one_node']}, own node "
              f"{rounds[0]['events'][n]['own_node']}: {'equal in every round' if same[n] else 'DIFFERENT'}")
    if args.json:
        args.json.write_text(json.dumps({"rounds": rounds, "total": total, "ratios": ratios, "bounds": BOUNDS,
                                         "events_equal": same}, indent=2))
    return 0 if all(same.values()) and all(ratios[k] <= b for k, b in BOUNDS.items()) else 1


if __name__ == "__main__":
    sys.exit(main())
