# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""Faults injected from outside into real node processes over Fast DDS (needs ROS 2: the
registry's Jazzy wheels, scripts/install_ros.sh), as a robotics team's acceptance test would.
Faults that need no second process are tried in-process (test_nodes_rclpy.py) and in the
runtime's own tests (docs/failures.md lists them all).
"""

from __future__ import annotations

import os
import signal
import subprocess
import time

import pytest

pytestmark = [pytest.mark.rclpy, pytest.mark.slow]
rclpy = pytest.importorskip("rclpy", reason="rclpy is not installed (no ROS 2 on this machine)")

from ros_harness import (  # noqa: E402, F401 - redness_bundle, ros_with_processes: the fixtures bundle, ros
    NodeProcess,
    Observer,
    node_args,
    play,
    redness_bundle,
    ros_with_processes,
    wait_until,
)
from sensor_msgs.msg import Image  # noqa: E402
from tiny_bundle import write_red_video  # noqa: E402

from tcvads_ros.nodes.common import camera_qos  # noqa: E402
from tcvads_ros.runtime.event_store import EventStore  # noqa: E402

FPS = 24.0
STALL_S = 10.0
CAMERA = "/camera/image_raw"


def test_a_node_stopped_for_ten_seconds_gets_its_camera_back_and_frees_it_for_others(bundle, tmp_path):
    """SIGSTOP of coarse_node for 10 s while a reliable camera keeps publishing, then SIGCONT.
    Measured with Fast DDS here: the stalled reliable reader wedges the camera's publisher for
    every subscriber, and stays blind itself. With the default camera_timeout_s (10 s) the node's
    watchdog drops its subscription and makes it again: the node and a bystander subscriber
    receive frames again, and the node never exits. (With the watchdog off, 2 of 3 runs here
    stayed blind for the 30 s waited; with it, 3 of 3 recovered 0.5 s after SIGCONT.)"""
    video = write_red_video(tmp_path / "street.avi", seconds=8.0, fps=FPS, anomalies=[])
    coarse = NodeProcess("coarse_node", *node_args(bundle, tmp_path, "coarse", "camera_qos:=reliable"),
                         log=tmp_path / "coarse.log")
    tester = Observer()
    bystander: list[float] = []  # arrival times at another subscriber, best effort, never stopped
    tester.node.create_subscription(Image, CAMERA, lambda m: bystander.append(time.monotonic()),
                                    camera_qos("best_effort", 10))
    try:
        wait_until(lambda: tester.status("coarse_node"), 60, "coarse_node to start")
        player = play(video, CAMERA, tmp_path / "player.log", "--cycle", str(int(8 * FPS)),
                      "--count", str(int(60 * FPS)), "--depth", "10")

        def frames() -> int:
            return int((tester.status("coarse_node") or {}).get("total_frames_in", 0))

        wait_until(lambda: frames() >= 2 * FPS, 30, "two seconds of frames")
        os.kill(coarse.proc.pid, signal.SIGSTOP)
        time.sleep(STALL_S)
        os.kill(coarse.proc.pid, signal.SIGCONT)
        resumed, before = time.monotonic(), frames()
        # More than the reader's queue (10) could hold from before the stall: frames flow again.
        wait_until(lambda: frames() > before + 2 * FPS or coarse.proc.poll() is not None, 30,
                   "frames again", detail=lambda: tester.status("coarse_node"))
        assert coarse.proc.poll() is None, coarse.text()[-3000:]
        status = tester.status("coarse_node")
        # Made again once (unless frames came back before the first report after the stall did).
        assert int(status.get("total_camera_resubscribed", 0)) <= 1 and status["level"] != "ERROR", status
        again = [t - resumed for t in bystander if t > resumed]
        assert len(again) >= FPS, "the bystander got no frames after the stall"
        print(f"\n10 s stall: frames again at the bystander {again[0]:.1f} s after SIGCONT")
        player.kill()
    finally:
        tester.close()
        codes = coarse.stop()
    assert codes == 0


@pytest.mark.skipif(os.geteuid() != 0, reason="mounts a 1 MiB tmpfs to fill (CI runs as root)")
def test_a_full_disk_then_a_sigkill_lose_no_event(bundle, tmp_path):
    """The event store on a 1 MiB tmpfs (root: CI runs as root). First the disk is full when an
    event starts: the start is announced all the same, /diagnostics says records are held (WARN),
    and once space returns they are written, in order. Then coarse_node is SIGKILLed right after
    the next start is stored: restarted on the same store, it ends that event (reason crash),
    stored and announced. At the end every stored start has its end."""
    video = write_red_video(tmp_path / "street.avi", seconds=9.0, fps=FPS, anomalies=[(2.0, 5.0)])
    disk = tmp_path / "disk"
    disk.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(disk)], check=True)
    try:
        records = _full_disk_then_sigkill(bundle, tmp_path, video, disk)
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)
    kinds: dict[str, list[str]] = {}
    for record in records:
        kinds.setdefault(record["event_id"], []).append(record["kind"])
    assert len(kinds) == 2, kinds
    assert all(k[0] == "start" and k[-1] == "end" and k.count("end") == 1 for k in kinds.values()), kinds


def _full_disk_then_sigkill(bundle, tmp_path, video, disk) -> list[dict]:
    args = node_args(bundle, tmp_path, "coarse", "camera_qos:=reliable", "update_interval_s:=1.0")
    args[args.index(f"event_store:={tmp_path / 'coarse.sqlite'}")] = f"event_store:={disk / 'events.sqlite'}"
    coarse = NodeProcess("coarse_node", *args, log=tmp_path / "coarse.log")
    tester = Observer()
    try:
        wait_until(lambda: tester.status("coarse_node"), 60, "coarse_node to start")
        filler = disk / "filler"
        with open(filler, "wb", buffering=0) as handle:  # the disk fills up
            try:
                while True:
                    handle.write(bytes(4096))
            except OSError:
                pass
        player = play(video, CAMERA, tmp_path / "player1.log", "--depth", "10")
        wait_until(lambda: tester.events("start"), 30, "the first start, announced on a full disk")
        held = wait_until(lambda: (s := tester.status("coarse_node")) and int(s.get("store_backlog", 0)) and s, 10,
                          "the held records in /diagnostics", detail=lambda: tester.status("coarse_node"))
        assert held["level"] == "WARN" and "held in memory" in held["message"]
        filler.unlink()  # space again
        wait_until(lambda: (s := tester.status("coarse_node")) and s.get("store_backlog") == "0", 10,
                   "the held records to be written", detail=lambda: tester.status("coarse_node"))
        player.wait(60)
        wait_until(lambda: tester.events("end"), 30, "the first end")
        first = tester.events("start")[0]["event_id"]

        player = play(video, CAMERA, tmp_path / "player2.log", "--depth", "10")

        def stored_starts():
            with EventStore(disk / "events.sqlite") as store:
                return [r["event_id"] for r in store.events() if r["kind"] == "start"]

        wait_until(lambda: len(stored_starts()) >= 2, 30, "the second start to be stored")
        coarse.kill()  # SIGKILL: no end is written
        second = stored_starts()[1]
        player.kill()
        coarse = NodeProcess("coarse_node", *args, log=tmp_path / "coarse2.log")
        crash = wait_until(lambda: [e for e in tester.events("end") if e["event_id"] == second], 60,
                           "the restarted node to end the event left open")
        assert crash[0]["reason"] == "crash"
    finally:
        tester.close()
        code = coarse.stop()
    assert code == 0
    with EventStore(disk / "events.sqlite") as store:
        records = store.events()
    assert (records[0]["event_id"], records[0]["kind"]) == (first, "start")  # held, then written first
    return records
