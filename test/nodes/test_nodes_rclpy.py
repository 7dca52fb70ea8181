# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""coarse_node and fine_node under rclpy, on a synthetic video (needs ROS 2; skipped elsewhere).

Run on a machine with ROS 2 Humble or Jazzy sourced and the project's test dependencies:
``python -m pytest -q test/nodes/test_nodes_rclpy.py``. The bundle is the runtime tests' tiny
untrained one; `threshold_on` 0 makes every scored frame count as anomalous, so an event starts
after `min_duration_s` of stream time whatever the untrained model says.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.rclpy
rclpy = pytest.importorskip("rclpy", reason="rclpy is not installed (no ROS 2 on this machine)")

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus  # noqa: E402
from rclpy.executors import MultiThreadedExecutor  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402
from ros_harness import wait_until  # noqa: E402
from sensor_msgs.msg import Image  # noqa: E402
from std_msgs.msg import String  # noqa: E402
from tcvads_msgs.msg import AnomalyEvent, AnomalyExplanation  # noqa: E402
from vision_msgs.msg import Classification  # noqa: E402

from tcvads_ros.errors import TcvadsError  # noqa: E402
from tcvads_ros.nodes.coarse_node import CoarseNode  # noqa: E402
from tcvads_ros.nodes.common import CAMERA_QOS, EVENT_QOS, run  # noqa: E402
from tcvads_ros.nodes.fine_node import FineNode  # noqa: E402
from tcvads_ros.nodes.messages import frame_from_message  # noqa: E402
from tcvads_ros.runtime.event_store import EventStore  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
TOPIC = "/tcvads_test/image"
FPS = 25.0


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    from tiny_bundle import make_tiny_bundle

    path = tmp_path_factory.mktemp("bundle")
    make_tiny_bundle(path)
    return path


def image(i: int, encoding: str = "rgb8") -> Image:
    """Frame i of a synthetic clip: a bright square crossing a dark scene."""
    rgb = np.full((48, 64, 3), 30, np.uint8)
    x = (i * 2) % 48
    rgb[10:26, x:x + 16] = (230, 200, 40)
    msg = Image(height=48, width=64, encoding=encoding, is_bigendian=0, step=64 * 3)
    msg.data = rgb.tobytes()
    stamp = 1_700_000_000.0 + i / FPS
    msg.header.stamp.sec = int(stamp)
    msg.header.stamp.nanosec = int(round((stamp % 1) * 1e9))
    msg.header.frame_id = "test_cam"
    return msg


def overrides(bundle, tmp_path, **extra):
    values = {
        "bundle": str(bundle), "image_topic": TOPIC, "threshold_on": 0.0, "min_duration_s": 0.2,
        "event_store": str(tmp_path / "events.sqlite"), "output_dir": str(tmp_path / "evidence"), **extra,
    }
    return [Parameter(name, value=value) for name, value in values.items()]


def spin_in_background(*nodes):
    executor = MultiThreadedExecutor()
    for node in nodes:
        executor.add_node(node)
    thread = threading.Thread(target=executor.spin, daemon=True)
    thread.start()
    return executor, thread


def test_coarse_and_fine_nodes_announce_classify_and_explain(ros, bundle, tmp_path):
    coarse = CoarseNode(parameter_overrides=overrides(bundle, tmp_path))
    fine = FineNode(parameter_overrides=overrides(bundle, tmp_path))
    tester = rclpy.create_node("tcvads_tester")
    got = {"anomaly": [], "anomaly/json": [], "category": [], "explanation": [], "explanation/json": [],
           "heatmap": [], "diagnostics": []}
    tester.create_subscription(AnomalyEvent, "anomaly", got["anomaly"].append, EVENT_QOS)
    tester.create_subscription(String, "anomaly/json", got["anomaly/json"].append, EVENT_QOS)
    tester.create_subscription(Classification, "anomaly/category", got["category"].append, EVENT_QOS)
    tester.create_subscription(AnomalyExplanation, "anomaly/explanation", got["explanation"].append, EVENT_QOS)
    tester.create_subscription(String, "anomaly/explanation/json", got["explanation/json"].append, EVENT_QOS)
    tester.create_subscription(Image, "anomaly/heatmap", got["heatmap"].append, CAMERA_QOS)
    tester.create_subscription(DiagnosticArray, "/diagnostics", got["diagnostics"].append, 10)
    camera = tester.create_publisher(Image, TOPIC, 10)
    executor, _ = spin_in_background(coarse, fine, tester)
    try:
        # Discovery: both nodes' camera subscriptions and the tester's subscriptions matched,
        # so no message is published into the void.
        wait_until(lambda: camera.get_subscription_count() >= 2
                   and tester.count_publishers("/anomaly") >= 1 and tester.count_publishers("/anomaly/category") >= 1,
                   30, "discovery")
        camera.publish(image(0, encoding="32FC1"))  # cannot be converted: counted, never raised
        deadline = time.monotonic() + 90.0
        i = 1
        while time.monotonic() < deadline and not (got["category"] and got["heatmap"] and got["diagnostics"]):
            camera.publish(image(i))
            i += 1
            time.sleep(1.0 / FPS)
        time.sleep(1.0)
    finally:
        executor.shutdown()
        coarse.close()
        fine.close()
    assert got["anomaly"] and got["anomaly"][0].kind == AnomalyEvent.KIND_START, "no /anomaly start"
    start = got["anomaly"][0]
    assert start.header.frame_id == "test_cam" and start.stamp == start.header.stamp and start.stream == TOPIC
    # anomaly/json: the same transitions as the event store's JSON documents
    documents = [json.loads(m.data) for m in got["anomaly/json"]]
    n = min(len(documents), len(got["anomaly"]))  # (the last of either may still have been on its way)
    assert n >= 1 and [(d["kind"], d["event_id"]) for d in documents[:n]] == [
        (m.kind, m.event_id) for m in got["anomaly"][:n]]
    assert documents[0]["schema"] == "tcvads.anomaly/2" and documents[0]["header"]["frame_id"] == "test_cam"
    stored = EventStore(tmp_path / "events.sqlite")
    assert start.event_id in {e["event_id"] for e in stored.events()}  # stored before published
    record = stored.events(start.event_id)[0]  # the same document, but for the topic's rounding
    assert list(record) == list(documents[0])
    assert all(record[k] == (pytest.approx(v, abs=1e-6) if isinstance(v, float) else v) for k, v in documents[0].items())
    category = got["category"][0]
    assert category.header.frame_id == "test_cam"
    assert (category.header.stamp.sec, category.header.stamp.nanosec) == (start.header.stamp.sec, start.header.stamp.nanosec)
    scores = [r.score for r in category.results]
    assert scores == sorted(scores, reverse=True)
    assert {r.class_id for r in category.results} == set(coarse.bundle.class_names)
    explanation = got["explanation"][0]
    assert explanation.text.startswith("ANOMALY ") and explanation.event_id == start.event_id
    assert explanation.header == category.header and explanation.category == category.results[0].class_id
    assert [(h.class_id, h.score) for h in explanation.class_scores] == [(r.class_id, r.score) for r in category.results]
    assert json.loads(got["explanation/json"][0].data)["event_id"] == start.event_id
    # Every value either node publishes in /diagnostics is documented in docs/ros2.md.
    keys = {kv.key for array in got["diagnostics"] for status in array.status for kv in status.values}
    documented = (REPO / "docs" / "ros2.md").read_text(encoding="utf-8")
    undocumented = sorted(k for k in keys if f"`{k.removeprefix('total_')}`" not in documented
                          and f"`{k}`" not in documented)
    assert not undocumented, f"/diagnostics values not in docs/ros2.md: {undocumented}"
    assert stored.explanations(start.event_id)
    heat = got["heatmap"][0]
    assert (heat.encoding, heat.height, heat.width) == ("rgb8", 48, 64)
    statuses = {s.name: {kv.key: kv.value for kv in s.values} for d in got["diagnostics"] for s in d.status}
    coarse_status = next(v for k, v in statuses.items() if "coarse_node" in k)
    assert "onnxruntime" in coarse_status["backend"]
    assert "unsupported_encoding=1" in coarse_status["rejected_by_reason"]
    for node in (coarse, fine, tester):
        node.destroy_node()


def test_parameters_are_described_validated_and_applied(ros, bundle, tmp_path):
    coarse = CoarseNode(parameter_overrides=overrides(bundle, tmp_path, threshold_on=0.5))
    try:
        descriptor = coarse.describe_parameter("threshold_on")
        assert descriptor.floating_point_range[0].from_value == -1.0 and descriptor.description
        assert coarse.describe_parameter("bundle").read_only
        refused = coarse.set_parameters([Parameter("threshold_off", value=0.9)])[0]
        assert not refused.successful and "must not exceed" in refused.reason
        assert not coarse.set_parameters([Parameter("bundle", value="/elsewhere")])[0].successful
        assert coarse.set_parameters([Parameter("threshold_on", value=0.8)])[0].successful
        assert coarse.pipeline.event_config.threshold_on == 0.8
        assert coarse.set_parameters([Parameter("threshold_on", value=1)])[0].successful  # int for a double
        assert coarse.pipeline.event_config.threshold_on == 1.0
        assert not coarse.set_parameters([Parameter("threshold_on", value="high")])[0].successful
    finally:
        coarse.close()
        coarse.destroy_node()


def test_a_gap_timeout_below_the_snippets_is_refused_at_start_at_run_time_and_reported(ros, bundle, tmp_path):
    """gap_timeout_s shorter than 1.5 snippets (16 frames at 25 fps: 0.64 s; the least is 0.96 s):
    refused at start when camera_fps is given, refused by SetParameters, and, when the rate is
    only estimated, an ERROR in /diagnostics once the estimate is made."""
    with pytest.raises(TcvadsError, match=r"gap_timeout_s \(0.5 s\).*at least 0.96 s"):
        CoarseNode(parameter_overrides=overrides(bundle, tmp_path, camera_fps=25.0, gap_timeout_s=0.5))
    coarse = CoarseNode(parameter_overrides=overrides(bundle, tmp_path, camera_fps=25.0), namespace="/gap")
    refused = coarse.set_parameters([Parameter("gap_timeout_s", value=0.5)])[0]
    assert not refused.successful and "at least 0.96 s" in refused.reason
    coarse.close()
    coarse.destroy_node()
    coarse = CoarseNode(parameter_overrides=overrides(bundle, tmp_path, gap_timeout_s=0.5, diagnostics_period=0.2),
                        namespace="/gap")  # the rate unknown yet: accepted
    tester, _, diagnostics = observe("/gap")
    camera = tester.create_publisher(Image, TOPIC, 10)
    executor, _ = spin_in_background(coarse, tester)
    try:
        wait_until(lambda: camera.get_subscription_count() >= 1, 30, "discovery")
        for i in range(int(3 * FPS)):  # more than the 24 intervals of the estimate
            camera.publish(image(i))
            time.sleep(1.0 / FPS)
        wait_until(lambda: diagnostics and diagnostics[-1].status[0].level == DiagnosticStatus.ERROR, 10,
                   "an ERROR naming gap_timeout_s", detail=lambda: diagnostics[-1].status[0].message)
        assert "gap_timeout_s (0.5 s)" in diagnostics[-1].status[0].message
    finally:
        executor.shutdown()
        coarse.close()


def test_a_missing_bundle_exits_with_status_2(tmp_path):
    code = run(lambda: CoarseNode(parameter_overrides=[Parameter("bundle", value=str(tmp_path / "none"))]),
               "coarse_node")
    assert code == 2


def test_an_output_dir_that_cannot_be_made_exits_with_status_2_and_one_line(bundle, tmp_path, capfd):
    (tmp_path / "file").write_text("")
    blocked = overrides(bundle, tmp_path, output_dir=str(tmp_path / "file" / "evidence"), evidence_clip=True)
    assert run(lambda: FineNode(parameter_overrides=blocked), "fine_node") == 2
    err = capfd.readouterr().err
    assert "cannot start: output_dir" in err and "cannot create it" in err and "Traceback" not in err


@pytest.mark.parametrize("encoding", ["rgb8", "bgr8", "rgba8", "bgra8", "mono8", "mono16", "yuv422"])
def test_numpy_conversion_matches_cv_bridge(encoding):
    cv_bridge = pytest.importorskip("cv_bridge", reason="cv_bridge is not installed")
    channels = {"rgba8": 4, "bgra8": 4, "mono8": 1, "mono16": 2, "yuv422": 2}.get(encoding, 3)
    rng = np.random.default_rng(0)
    msg = Image(height=6, width=8, encoding=encoding, is_bigendian=0, step=8 * channels + 4)  # padded rows
    msg.data = rng.integers(0, 256, msg.step * msg.height, dtype=np.uint8).tobytes()
    ours = frame_from_message(msg, 0).rgb
    theirs = cv_bridge.CvBridge().imgmsg_to_cv2(msg, desired_encoding="rgb8")
    np.testing.assert_allclose(ours.astype(int), theirs.astype(int), atol=1)


def observe(namespace: str):
    """A tester node with the /anomaly messages and /diagnostics of the nodes in `namespace`
    (its own namespace: nothing a node of another test left on the graph reaches it)."""
    tester = rclpy.create_node("tcvads_tester")
    anomaly, diagnostics = [], []
    tester.create_subscription(AnomalyEvent, f"{namespace}/anomaly", anomaly.append, EVENT_QOS)
    tester.create_subscription(DiagnosticArray, "/diagnostics", lambda m: diagnostics.append(m)
                               if m.status and m.status[0].name.endswith(f"{namespace}/coarse_node") else None, 10)
    return tester, anomaly, diagnostics


def test_a_restart_ends_the_open_event_and_a_full_disk_loses_no_announcement(ros, bundle, tmp_path):
    """A store left with an open event (the node was SIGKILLed): the restarted coarse_node ends it
    (reason crash), stored and announced. Then the disk refuses writes: the next event's start is still
    announced, held in memory (diagnostics WARN), and stored in order once space returns."""
    from tcvads_ros.runtime.events import EventConfig, EventStateMachine

    machine = EventStateMachine(EventConfig(min_duration_s=0.0, update_interval_s=0.0))
    with EventStore(tmp_path / "events.sqlite") as store:  # what the killed run left
        (left_open,) = machine.update(0.9, 1_600_000_000.0, 16)
        store.append(left_open)
    coarse = CoarseNode(parameter_overrides=overrides(bundle, tmp_path, diagnostics_period=0.2), namespace="/restart")
    tester, anomaly, diagnostics = observe("/restart")
    camera = tester.create_publisher(Image, TOPIC, 10)
    executor, _ = spin_in_background(coarse, tester)

    def store_db(sql):
        with coarse.store._lock:
            return coarse.store._db.execute(sql).fetchone()

    def status():
        return {kv.key: kv.value for kv in diagnostics[-1].status[0].values} | {
            "level": diagnostics[-1].status[0].level} if diagnostics else {}
    try:
        wait_until(lambda: anomaly, 20, "the crash end (transient local)")
        assert (anomaly[0].kind, anomaly[0].reason, anomaly[0].event_id) == ("end", "crash", left_open.event_id)
        assert anomaly[0].header.stamp.sec == 0 and anomaly[0].end_frame == left_open.frame + 1  # no frame caused it
        wait_until(lambda: camera.get_subscription_count() >= 1, 30, "discovery")
        store_db("PRAGMA query_only=1")  # the disk refuses writes (test_event_store fills it for real)
        i = 0
        while not [m for m in anomaly if m.kind == "start"] and i < 40 * FPS:
            camera.publish(image(i))
            i += 1
            time.sleep(1.0 / FPS)
        (start,) = [m for m in anomaly if m.kind == "start"]  # announced although not on disk

        def held():  # the camera keeps running (a window without frames reads STALE, which outranks WARN)
            nonlocal i
            camera.publish(image(i))
            i += 1
            last = diagnostics[-1].status[0] if diagnostics else None
            return last is not None and last.level == DiagnosticStatus.WARN and "held in memory" in last.message

        wait_until(held, 10, "the held records in /diagnostics (WARN)", step=1.0 / FPS, detail=status)
        store_db("PRAGMA query_only=0")  # writable again: written at the next report
        wait_until(lambda: status().get("store_backlog") == "0", 10, "the backlog to be written",
                   detail=status)
        assert int(status()["store_written_late"]) >= 1 and status()["store_dropped"] == "0"
    finally:
        executor.shutdown()
        coarse.close()
    stored = EventStore(tmp_path / "events.sqlite").events()
    assert [(r["event_id"], r["kind"]) for r in stored[:3]] == [
        (left_open.event_id, "start"), (left_open.event_id, "end"), (start.event_id, "start")]
    assert stored[-1]["kind"] == "end" and stored[-1]["event_id"] == start.event_id  # closed at shutdown


def test_with_sim_time_and_no_clock_diagnostics_still_report_and_a_deleted_bundle_changes_nothing(
        ros, bundle, tmp_path):
    """use_sim_time with no /clock publisher: /diagnostics keeps its period (the timer runs on the
    steady clock). The bundle's folder deleted after the start: the graphs were loaded then, so
    frames are still processed and an event starts."""
    import shutil

    own = tmp_path / "bundle"
    shutil.copytree(bundle, own)
    coarse = CoarseNode(parameter_overrides=[*overrides(own, tmp_path, diagnostics_period=0.2),
                                             Parameter("use_sim_time", value=True)], namespace="/simtime")
    shutil.rmtree(own)
    tester, anomaly, diagnostics = observe("/simtime")
    camera = tester.create_publisher(Image, TOPIC, 10)
    executor, _ = spin_in_background(coarse, tester)
    try:
        wait_until(lambda: len(diagnostics) >= 3, 10, "three /diagnostics reports with no /clock")
        assert diagnostics[-1].status[0].level == DiagnosticStatus.STALE  # no frames yet: said so
        wait_until(lambda: camera.get_subscription_count() >= 1, 30, "discovery")
        i = 0
        while not anomaly and i < 40 * FPS:
            camera.publish(image(i))
            i += 1
            time.sleep(1.0 / FPS)
        assert anomaly and anomaly[0].kind == "start"
        values = {kv.key: kv.value for kv in diagnostics[-1].status[0].values}
        assert values["rejected_by_reason"] == "none" and int(values["total_processed"]) >= 1
    finally:
        executor.shutdown()
        coarse.close()
