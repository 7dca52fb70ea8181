# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""Soak with faults on the real nodes: coarse_node and fine_node as processes over Fast DDS, a
camera_player that never stops, and a fault every `--fault-every` seconds, in turn:

- ``stall_coarse`` / ``stall_fine``: SIGSTOP of the node for `--stall-s` seconds, then SIGCONT;
  the recovery time is from SIGCONT to the first window in which the node receives frames again;
- ``kill_fine`` / ``kill_coarse``: SIGKILL, then the node started again on the same event store
  (as the launch file's respawn does);
- ``disk_full`` (as root only: it mounts a tmpfs under the event store): the store's disk is
  filled for `--stall-s` seconds, then freed.

    python -m benchmarks.soak --nodes --minutes 5 [--json FILE]

Reported: faults injected, events (started, as stored), lost events (a start stored or announced
with no end stored: target 0), explanations, events without an explanation, of which accounted
for by a counted reason (`clips_not_covered`: a fine_node killed while it held the clip sees
the start again when restarted, without its frames; a dropped trigger; a fine-stage error) and
lost (target 0), and the recovery times. The camera is a folder of PNG frames
(lossless, so the alarm threshold measured in this process on the same pixels holds in the
node): quiet and busy scenes in turn, as in the in-process soak. Needs ROS 2
(scripts/install_ros.sh).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import cv2
import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from std_msgs.msg import String

from benchmarks.soak import SCENE_S, SyntheticCamera, calibrate_threshold, scene_at
from tcvads_ros.nodes.common import EVENT_QOS

BIN = Path(sys.executable).parent
FPS = 30.0
SIZE = (240, 320)  # (height, width): small frames, so the soak measures faults, not transport
FAULTS = ("stall_coarse", "kill_fine", "disk_full", "stall_fine", "kill_coarse")
CAMERA = "/soak/camera"


def write_camera(folder: Path, camera: SyntheticCamera) -> None:
    """One scene cycle as PNG files (each distinct image once, the rest links to it)."""
    folder.mkdir(parents=True)
    h, w = SIZE
    for i in range(int(round(sum(SCENE_S) * FPS))):
        scene = scene_at(i / FPS)
        image = folder.parent / f"{scene}{i % 8}.png"
        if not image.exists():
            bgr = np.frombuffer(camera.message(scene, i % 8)["data"], np.uint8).reshape(h, w, 3)
            cv2.imwrite(str(image), bgr)
        (folder / f"{i:05d}.png").symlink_to(image)


class Watch:
    """The /anomaly/json documents (the event store's format, so announced and stored records
    compare as they are) and the newest /diagnostics values of coarse_node and fine_node."""

    def __init__(self) -> None:
        self.node = rclpy.create_node("soak_watch")
        self.anomaly: list[dict] = []
        self.status: dict[str, dict[str, str]] = {}
        self.node.create_subscription(String, "/soak/anomaly/json",
                                      lambda m: self.anomaly.append(json.loads(m.data)), EVENT_QOS)
        self.node.create_subscription(DiagnosticArray, "/diagnostics", self._keep, 10)

    def _keep(self, array: DiagnosticArray) -> None:
        for status in array.status:
            name = status.name.rsplit("/", 1)[-1]
            self.status[name] = {**{kv.key: kv.value for kv in status.values}, "level": int.from_bytes(
                status.level, "little") if isinstance(status.level, bytes) else int(status.level)}

    def frames(self, node: str) -> int:
        return int(self.status.get(node, {}).get("total_frames_in", 0))

    def spin(self, seconds: float, until=None) -> bool:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            rclpy.spin_once(self.node, timeout_sec=0.05)
            if until is not None and until():
                return True
        return False


class NodeRun:
    """One node's process, started again after a kill on the same parameters."""

    def __init__(self, name: str, args: list[str], log: Path) -> None:
        self.name, self.args, self.log = name, args, log
        self.incarnations = 0
        self.start()

    def start(self) -> None:
        self.incarnations += 1
        with open(f"{self.log}.{self.incarnations}", "w") as out:
            self.proc = subprocess.Popen([str(BIN / self.name), *self.args], stdout=out, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL)

    def signal(self, sig: int) -> None:
        os.kill(self.proc.pid, sig)

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait(10)

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        return self.proc.wait(60)


def soak_nodes(bundle_path: Path, seconds: float, work: Path, fault_every: float, stall_s: float) -> dict:
    from tcvads_ros.runtime.backends import create_backend
    from tcvads_ros.runtime.bundle import Bundle

    bundle_path = Path(bundle_path).resolve()
    bundle = Bundle.load(bundle_path)
    camera = SyntheticCamera(size=SIZE)
    calibration = calibrate_threshold(bundle, create_backend("onnxruntime", bundle), camera)
    write_camera(work / "camera", camera)
    root = os.geteuid() == 0
    disk = work / "disk"
    disk.mkdir()
    if root:
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(disk)], check=True)
    rclpy.init()
    try:
        return _soak(bundle_path, seconds, work, fault_every, stall_s, calibration, disk, root)
    finally:
        if root:
            subprocess.run(["umount", "-l", str(disk)], check=False)
        rclpy.shutdown()


def _soak(bundle_path: Path, seconds: float, work: Path, fault_every: float, stall_s: float,
          calibration: dict, disk: Path, root: bool) -> dict:
    from tcvads_ros.runtime.event_store import EventStore

    common = ["--ros-args", "-r", "__ns:=/soak", "-p", f"bundle:={bundle_path}", "-p", "image_topic:=camera",
              "-p", "camera_qos:=reliable", "-p", "diagnostics_period:=0.5", "-p", "output_dir:=none"]
    coarse = NodeRun("coarse_node", [*common, "-p", f"event_store:={disk / 'coarse.sqlite'}",
                                     "-p", f"threshold_on:={calibration['threshold']}",
                                     "-p", f"threshold_off:={calibration['threshold'] * calibration['hysteresis']}"],
                     work / "coarse.log")
    fine = NodeRun("fine_node", [*common, "-p", f"event_store:={work / 'fine.sqlite'}"], work / "fine.log")
    nodes = {"coarse_node": coarse, "fine_node": fine}
    try:
        watch = Watch()
    except BaseException:
        for run in nodes.values():
            run.kill()
        raise
    faults: Counter = Counter()
    recovery: dict[str, list[float]] = {"stall_coarse": [], "stall_fine": []}
    accounted: Counter = Counter()  # fine_node's counted reasons, summed over its incarnations
    skipped: list[str] = []
    player = None
    try:
        watch.spin(120, until=lambda: "coarse_node" in watch.status and "fine_node" in watch.status)
        player = subprocess.Popen(
            [str(BIN / "camera_player"), str(work / "camera"), "--topic", CAMERA, "--fps", str(FPS),
             "--depth", "10", "--cycle", str(int(round(sum(SCENE_S) * FPS))), "--count", str(10**9),
             "--wait-subscribers", "2"], stdout=subprocess.DEVNULL, stderr=open(work / "player.log", "w"))
        watch.spin(60, until=lambda: watch.frames("coarse_node") > FPS)
        start = time.monotonic()
        for k in range(int(seconds // fault_every)):
            watch.spin(start + (k + 1) * fault_every - time.monotonic())
            kind = FAULTS[k % len(FAULTS)]
            if kind == "disk_full" and not root:
                skipped.append(kind)
                continue
            faults[kind] += 1
            if kind.startswith("stall_"):
                target = nodes[kind.removeprefix("stall_") + "_node"]
                target.signal(signal.SIGSTOP)
                watch.spin(stall_s)
                target.signal(signal.SIGCONT)
                resumed, before = time.monotonic(), watch.frames(target.name)
                # Past the frames the reader's queue held from before the stall.
                if watch.spin(fault_every, until=lambda t=target.name, b=before: watch.frames(t) > b + 12):
                    recovery[kind].append(time.monotonic() - resumed)
                else:
                    recovery[kind].append(float("inf"))
            elif kind.startswith("kill_"):
                target = nodes[kind.removeprefix("kill_") + "_node"]
                # Its counts die with it: keep its last report's. A clip it held is counted by the
                # next one, which sees the start again (transient local) without its frames.
                _add_reasons(accounted, watch.status.pop(target.name, {}) if target is fine else {})
                watch.status.pop(target.name, None)
                target.kill()
                target.start()
                watch.spin(60, until=lambda t=target.name: t in watch.status)
            else:  # disk_full
                filler = disk / "filler"
                with open(filler, "wb", buffering=0) as handle:
                    try:
                        while True:
                            handle.write(bytes(65536))
                    except OSError:
                        pass
                watch.spin(stall_s)
                filler.unlink()
        watch.spin(max(0.0, start + seconds - time.monotonic()))
    finally:
        if player is not None:
            player.send_signal(signal.SIGINT)
            player.wait(30)
        watch.spin(3.0)  # the last windows
        _add_reasons(accounted, watch.status.get("fine_node", {}))
        codes = {name: run.stop() for name, run in nodes.items()}
        watch.node.destroy_node()
    with EventStore(disk / "coarse.sqlite") as store:
        records = store.events()
    with EventStore(work / "fine.sqlite") as store:
        explained = {r["event_id"] for r in store.explanations()}
    kinds: dict[str, list[str]] = {}
    for record in records:
        kinds.setdefault(record["event_id"], []).append(record["kind"])
    announced_starts = {d["event_id"] for d in watch.anomaly if d["kind"] == "start"}
    ended = {i for i, k in kinds.items() if "end" in k}
    unexplained = len(set(kinds) - explained)
    reasons = sum(accounted.values())
    return {
        "seconds": seconds, "fault_every_s": fault_every, "stall_s": stall_s,
        "faults": dict(faults), "faults_skipped": skipped, "threshold": calibration,
        "events": len(kinds),
        "events_by_end_reason": dict(Counter(r.get("reason", "") for r in records if r["kind"] == "end")),
        "lost_events": len((set(kinds) | announced_starts) - ended),
        "explanations": len(explained & set(kinds)),
        "events_without_explanation": unexplained,
        "accounted_reasons": dict(accounted),
        "lost_explanations": max(0, unexplained - reasons),
        "recovery_s": {k: [round(v, 2) for v in vs] for k, vs in recovery.items()},
        "incarnations": {name: run.incarnations for name, run in nodes.items()},
        "exit_codes": codes,
    }


def _add_reasons(accounted: Counter, status: dict[str, str]) -> None:
    """fine_node's counted reasons for a clip without an explanation, from its last report."""
    for key in ("clips_not_covered", "triggers_dropped", "fine_errors"):
        accounted[key] += int(status.get(key, 0))


def report_lines(report: dict) -> list[str]:
    recovery = {k: (max(v) if v else None) for k, v in report["recovery_s"].items()}
    return [
        f"faults {report['faults']}" + (f" (skipped, not root: {report['faults_skipped']})"
                                        if report["faults_skipped"] else ""),
        f"events {report['events']} (ends by reason {report['events_by_end_reason']}), "
        f"lost events {report['lost_events']} (target 0)",
        f"explanations {report['explanations']}, events without one {report['events_without_explanation']}, "
        f"accounted {report['accounted_reasons']}, lost explanations {report['lost_explanations']} (target 0)",
        f"recovery after a {report['stall_s']:.0f} s stall, worst: {recovery}",
    ]
