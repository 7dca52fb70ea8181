# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""Running the nodes as a user would, for the tests over DDS: console scripts in their own
processes, a tester node in the test's process, and waits on conditions (matched endpoints,
received messages), never on luck.

The test session runs on its own ROS domain, with discovery kept on this machine
(test/conftest.py sets ROS_DOMAIN_ID and ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST).
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.executors import SingleThreadedExecutor
from tcvads_msgs.msg import AnomalyEvent, AnomalyExplanation
from vision_msgs.msg import Classification

from tcvads_ros.nodes.common import EVENT_QOS
from tcvads_ros.runtime.event_schema import fields_from_message, header_fields

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent  # the venv's console scripts: coarse_node, fine_node, camera_player


def wait_until(condition: Callable[[], Any], timeout: float, what: str, step: float = 0.05,
               detail: Callable[[], Any] | None = None) -> Any:
    """Poll `condition` until it returns something truthy; fail naming `what` (and `detail()`,
    the state that was waited on) after `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(step)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}"
                         + (f"; last seen: {detail()}" if detail else ""))


@pytest.fixture(scope="module", name="bundle")
def redness_bundle(tmp_path_factory):
    """The bundle whose coarse score is how red the picture is (`tiny_bundle.make_redness_bundle`),
    for the tests of node processes over DDS: import it into the test module."""
    from tiny_bundle import make_redness_bundle

    return make_redness_bundle(tmp_path_factory.mktemp("redness") / "bundle").root


@pytest.fixture(autouse=True, name="ros")
def ros_with_processes():
    """rclpy for the test's own observer; every node process a test started is killed after it,
    whatever happened. Autouse in the module that imports it."""
    rclpy.init()
    yield
    NodeProcess.kill_all()
    rclpy.shutdown()


class NodeProcess:
    """A console script (`coarse_node`, `fine_node`, `camera_player`) in its own process, its
    output captured to a log file."""

    running: list[NodeProcess] = []  # killed by `kill_all` after each test, whatever happened

    def __init__(self, executable: str, *args: str, log: Path) -> None:
        self.log = log
        self._out = open(log, "w")  # noqa: SIM115 - closed in wait()
        self.proc = subprocess.Popen([str(BIN / executable), *args], stdout=self._out,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        NodeProcess.running.append(self)

    @classmethod
    def kill_all(cls) -> None:
        for process in cls.running:
            process.kill()
        cls.running.clear()

    def signal(self, sig: int = signal.SIGINT) -> None:
        self.proc.send_signal(sig)

    def wait(self, timeout: float = 60.0) -> int:
        """The exit status; a process still running after `timeout` is killed (and the test fails)."""
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
            raise AssertionError(f"{self.proc.args[0]} did not exit within {timeout:.0f} s; killed") from None
        finally:
            self._out.close()

    def stop(self, timeout: float = 60.0) -> int:
        """SIGINT, as Ctrl-C or `ros2 launch` sends it, and the exit status."""
        if self.proc.poll() is None:
            self.signal(signal.SIGINT)
        return self.wait(timeout)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)
        self._out.close()

    def text(self) -> str:
        if not self._out.closed:
            self._out.flush()
        return self.log.read_text(errors="replace")


def node_args(bundle: Path, tmp: Path, name: str, *params: str, namespace: str = "",
              params_file: bool = True) -> list[str]:
    """``--ros-args`` as `ros2 run` passes them: the shipped params file (unless not
    `params_file`), the test's bundle and stores, and `params` (``key:=value``)."""
    args = ["--ros-args", *(["--params-file", str(REPO / "config/edge.yaml")] if params_file else []),
            "-p", f"bundle:={bundle}", "-p", f"event_store:={tmp / (name + '.sqlite')}",
            "-p", f"output_dir:={tmp / (name + '_evidence')}", "-p", "diagnostics_period:=0.5"]
    for param in params:
        args += ["-p", param]
    if namespace:
        args += ["-r", f"__ns:={namespace}"]
    return args


def play(video: Path, topic: str, log: Path, *extra: str, subscribers: int = 1) -> NodeProcess:
    """camera_player on `video`, starting once `subscribers` camera subscriptions matched."""
    return NodeProcess("camera_player", str(video), "--topic", topic, "--wait-subscribers",
                       str(subscribers), *extra, log=log)


def played(player: NodeProcess) -> dict:
    """camera_player's closing JSON line (frames published, seconds, fps)."""
    assert player.wait(120) == 0, player.text()
    return json.loads(player.text().strip().splitlines()[-1])


def write_wav(path: Path, seconds: float, rate: int = 16000) -> Path:
    """A sound track for a test video: quiet noise with a bang every second (at 0.5 s, 1.5 s ...),
    16-bit mono, written with the standard library's wave module."""
    import wave

    import numpy as np

    rng = np.random.default_rng(0)
    x = 0.02 * rng.standard_normal(int(seconds * rate))
    for t in np.arange(0.5, seconds, 1.0):
        i = int(t * rate)
        x[i:i + 320] += 0.8 * np.exp(-np.arange(min(320, x.size - i)) / 64.0)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes((np.clip(x, -1, 1) * 32767).astype("<i2").tobytes())
    return path


def event_fields(msg: AnomalyEvent) -> dict[str, Any]:
    """A typed /anomaly message as {field: value}, stamps in seconds (None where unset before
    the end), its header as {stamp: {sec, nanosec}, frame_id}: what tests index by name."""
    return {**fields_from_message(msg), "header": header_fields(msg.header)}


class Observer:
    """A node in the test's process that records /anomaly (typed, as `event_fields`), the
    category, the explanation's text and /diagnostics of one namespace, spun on its own thread."""

    def __init__(self, namespace: str = "", name: str = "tcvads_tester") -> None:
        self.node = rclpy.create_node(name, namespace=namespace or "/")
        self.lock = threading.Lock()
        self.anomaly: list[dict] = []
        self.category: list[Classification] = []
        self.explanation: list[str] = []
        self.diagnostics: list[dict] = []
        self.subscribe()
        self.executor = SingleThreadedExecutor()
        self.executor.add_node(self.node)
        self.thread = threading.Thread(target=self.executor.spin, daemon=True)
        self.thread.start()

    def subscribe(self) -> None:
        def keep(into, convert=lambda m: m):
            def callback(msg):
                with self.lock:
                    into.append(convert(msg))
            return callback

        self.node.create_subscription(AnomalyEvent, "anomaly", keep(self.anomaly, event_fields), EVENT_QOS)
        self.node.create_subscription(Classification, "anomaly/category", keep(self.category), EVENT_QOS)
        self.node.create_subscription(AnomalyExplanation, "anomaly/explanation",
                                      keep(self.explanation, lambda m: m.text), EVENT_QOS)
        self.node.create_subscription(DiagnosticArray, "/diagnostics", keep(self.diagnostics, status_by_name), 10)

    def events(self, kind: str | None = None) -> list[dict]:
        with self.lock:
            return [d for d in self.anomaly if kind is None or d["kind"] == kind]

    def status(self, node: str) -> dict | None:
        """The newest /diagnostics status of `node` (name contains it), as {key: value}, plus
        its level and message."""
        with self.lock:
            for report in reversed(self.diagnostics):
                for name, values in report.items():
                    if name.endswith("/" + node):
                        return values
        return None

    def statuses(self, node: str) -> list[dict]:
        with self.lock:
            return [v for r in self.diagnostics for n, v in r.items() if n.endswith("/" + node)]

    def matched(self, topic: str, publishers: int) -> bool:
        return self.node.count_publishers(topic) >= publishers

    def close(self) -> None:
        self.executor.shutdown()
        self.node.destroy_node()


LEVEL_NAMES = {0: "OK", 1: "WARN", 2: "ERROR", 3: "STALE"}


def status_by_name(array: DiagnosticArray) -> dict[str, dict]:
    out = {}
    for status in array.status:
        values = {kv.key: kv.value for kv in status.values}
        values["level"] = LEVEL_NAMES[int.from_bytes(status.level, "little") if isinstance(status.level, bytes)
                                      else int(status.level)]
        values["message"] = status.message
        out[status.name] = values
    return out


def seconds(header: dict) -> float:
    """Seconds of an /anomaly message's header stamp (as `event_fields` gives it)."""
    return header["stamp"]["sec"] + header["stamp"]["nanosec"] * 1e-9
