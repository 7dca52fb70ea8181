# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""The nodes as managed (lifecycle) nodes: every transition driven as a ROS 2 user drives it,
with `ros2 lifecycle set` and `ros2 service call .../enable`, on a coarse_node process over Fast
DDS; and, in-process, that cleanup lets go of the models.

The bundle's coarse score is how red the picture is (`tiny_bundle.make_redness_bundle`), so a
red video keeps an event open for as long as it plays.
"""

from __future__ import annotations

import gc
import os
import subprocess
import time
import weakref

import pytest

pytestmark = [pytest.mark.rclpy, pytest.mark.slow]
rclpy = pytest.importorskip("rclpy", reason="rclpy is not installed (no ROS 2 on this machine)")

from ros_harness import (  # noqa: E402, F401 - redness_bundle, ros_with_processes: the fixtures bundle, ros
    BIN,
    NodeProcess,
    Observer,
    node_args,
    play,
    redness_bundle,
    ros_with_processes,
    wait_until,
)
from tiny_bundle import write_red_video  # noqa: E402

FPS = 24.0
CAMERA = "/camera/image_raw"
ENV = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}


def ros2(*args: str, expect: str) -> str:
    """A `ros2` command line, typed again until its output says `expect` (discovery is eventually
    consistent); its output."""
    out = ""
    for _ in range(10):
        proc = subprocess.run(["ros2", *args], env=ENV, capture_output=True, text=True, timeout=60)
        out = proc.stdout + proc.stderr
        if proc.returncode == 0 and expect in out:
            return out
        time.sleep(1.0)
    raise AssertionError(f"ros2 {' '.join(args)}: expected {expect!r}, got:\n{out[-2000:]}")


def set_state(transition: str, expect_state: str) -> None:
    ros2("lifecycle", "set", "/coarse_node", transition, expect="Transitioning successful")
    ros2("lifecycle", "get", "/coarse_node", expect=expect_state)


def enable(value: bool) -> None:
    ros2("service", "call", "/coarse_node/enable", "std_srvs/srv/SetBool", f"{{data: {str(value).lower()}}}",
         expect="success=True")


def test_every_transition_over_dds_with_ros2_lifecycle_and_the_enable_service(bundle, tmp_path):
    """autostart:=false: unconfigured, reporting so. configure -> inactive; activate -> frames
    taken, a red scene opens an event; deactivate with the event open -> it ends with reason
    ``paused``, no frame is taken, /diagnostics says paused; ~/enable true/false resumes and
    pauses again; cleanup -> unconfigured, models freed; shutdown -> the process exits 0."""
    video = write_red_video(tmp_path / "fire.avi", seconds=6.0, fps=FPS, anomalies=[(0.0, 6.0)])
    coarse = NodeProcess("coarse_node", *node_args(bundle, tmp_path, "coarse", "autostart:=false",
                                                   "min_duration_s:=0.0"), log=tmp_path / "coarse.log")
    tester = Observer()
    player = None

    def status() -> dict:
        return tester.status("coarse_node") or {}

    def frames_in() -> int:
        return int(status().get("total_frames_in", 0))

    try:
        wait_until(lambda: status().get("lifecycle_state") == "unconfigured", 60, "an unconfigured coarse_node")
        assert status()["level"] == "OK" and "unconfigured" in status()["message"]
        assert status()["backend"] == "not loaded"
        ros2("lifecycle", "get", "/coarse_node", expect="unconfigured")

        set_state("configure", "inactive")
        wait_until(lambda: status().get("lifecycle_state") == "inactive", 10, "inactive in /diagnostics")
        assert "onnxruntime" in status()["backend"] and "paused" in status()["message"]
        assert frames_in() == 0

        set_state("activate", "active")
        player = play(video, CAMERA, tmp_path / "player.log", "--cycle", str(int(6 * FPS)),
                      "--count", str(int(120 * FPS)))
        wait_until(lambda: tester.events("start"), 60, "an event start while active")

        set_state("deactivate", "inactive")  # the event is open: the fire is still burning
        (end,) = wait_until(lambda: tester.events("end"), 10, "the open event's end")
        assert end["reason"] == "paused" and end["event_id"] == tester.events("start")[0]["event_id"]
        wait_until(lambda: status().get("lifecycle_state") == "inactive", 10, "paused in /diagnostics")
        assert status()["level"] == "OK" and "paused" in status()["message"] and status()["paused_events"] == "1"
        before = frames_in()
        time.sleep(1.5)  # three reports: the camera keeps publishing, nothing is taken
        assert frames_in() == before and status()["frames_in"] == "0"

        enable(True)
        ros2("lifecycle", "get", "/coarse_node", expect="active")
        wait_until(lambda: len(tester.events("start")) == 2, 60, "a new event after ~/enable true")
        enable(False)
        wait_until(lambda: len(tester.events("end")) == 2, 10, "the second event's end")
        assert [e["reason"] for e in tester.events("end")] == ["paused", "paused"]

        set_state("cleanup", "unconfigured")
        wait_until(lambda: status().get("backend") == "not loaded", 10, "the models freed in /diagnostics")
        ros2("lifecycle", "set", "/coarse_node", "shutdown", expect="Transitioning successful")
        assert coarse.wait(30) == 0, coarse.text()[-3000:]
    finally:
        if player is not None:
            player.kill()
        tester.close()
        coarse.kill()


def test_cleanup_lets_go_of_the_models_and_configure_loads_them_again(bundle, tmp_path):
    """In-process: after cleanup nothing holds the backend (its ONNX Runtime sessions, the
    model's memory) any more; configure and activate bring the node back."""
    from rclpy.parameter import Parameter

    from tcvads_ros.nodes.coarse_node import CoarseNode

    node = CoarseNode(parameter_overrides=[
        Parameter("bundle", value=str(bundle)), Parameter("event_store", value=str(tmp_path / "events.sqlite")),
        Parameter("autostart", value=False)])
    try:
        assert node.state == "unconfigured" and node.pipeline is None
        node.trigger_configure()
        assert node.state == "inactive"
        backend = weakref.ref(node.pipeline.backend)
        sessions = [weakref.ref(s) for s in node.pipeline.backend._sessions.values()]
        node.trigger_activate()
        assert node.state == "active"
        node.trigger_deactivate()
        node.trigger_cleanup()
        gc.collect()
        assert node.state == "unconfigured" and node.pipeline is None and node.bundle is None
        assert backend() is None and all(s() is None for s in sessions)
        node.bring_up()
        assert node.state == "active" and node.pipeline is not None
    finally:
        node.close()
        node.destroy_node()
    assert node.state == "finalized"


def test_fine_node_gives_its_verdicts_at_the_bundles_fine_threshold(tmp_path):
    """fine_node's verdicts use the bundle's calibrated fine threshold (`thresholds.fine`), as the
    in-process fine stage does where no site profile sets one."""
    from rclpy.parameter import Parameter
    from tiny_bundle import make_redness_bundle

    from tcvads_ros.nodes.fine_node import FineNode

    bundle = make_redness_bundle(tmp_path / "bundle", thresholds={"coarse": 0.5, "fine": 0.73}).root
    node = FineNode(parameter_overrides=[Parameter("bundle", value=str(bundle)),
                                         Parameter("event_store", value=str(tmp_path / "events.sqlite"))])
    try:
        assert node.fine.fine_threshold == pytest.approx(0.73)
    finally:
        node.close()
        node.destroy_node()
