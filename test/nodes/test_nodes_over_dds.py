# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""coarse_node and fine_node as separate processes over Fast DDS, started as `ros2 run` starts
them (console scripts, ``--ros-args --params-file config/edge.yaml``), fed by camera_player
playing a video with known anomalies.

The bundle's coarse score is a known function of the picture (how red it is: the anomaly is a
fire filling the frame), so the tests can hold the events to the ground truth: each start and
end within 2 s of the annotated span, in the camera's own time stamps. Needs ROS 2 (the
registry's Jazzy wheels: scripts/install_ros.sh).
"""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import pytest

pytestmark = [pytest.mark.rclpy, pytest.mark.slow]
rclpy = pytest.importorskip("rclpy", reason="rclpy is not installed (no ROS 2 on this machine)")

from rcl_interfaces.msg import Parameter as ParameterMsg  # noqa: E402
from rcl_interfaces.msg import ParameterType, ParameterValue  # noqa: E402
from rcl_interfaces.srv import SetParameters  # noqa: E402
from ros_harness import (  # noqa: E402, F401 - redness_bundle, ros_with_processes: the fixtures bundle, ros
    NodeProcess,
    Observer,
    node_args,
    play,
    played,
    redness_bundle,
    ros_with_processes,
    seconds,
    wait_until,
)
from sensor_msgs.msg import CompressedImage, Image  # noqa: E402
from tiny_bundle import write_red_video  # noqa: E402

from tcvads_ros.nodes.common import camera_qos  # noqa: E402
from tcvads_ros.runtime.event_store import EventStore  # noqa: E402

FPS = 24.0
TOLERANCE_S = 2.0


def truth_stamps(stamps_file: Path, spans: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """The camera stamps of the first and last anomalous frame of each annotated span."""
    stamps = json.loads(stamps_file.read_text())
    return [(stamps[int(round(a * FPS))], stamps[int(round(b * FPS)) - 1]) for a, b in spans]


def assert_events_match(starts: list[dict], ends: list[dict], truth: list[tuple[float, float]]) -> None:
    assert len(starts) == len(truth) and len(ends) == len(truth), (starts, ends)
    for start, end, (a, b) in zip(starts, ends, truth):
        assert start["event_id"] == end["event_id"]
        assert abs(start["start_stamp"] - a) <= TOLERANCE_S, (start["start_stamp"] - a)
        assert abs(end["end_stamp"] - b) <= TOLERANCE_S, (end["end_stamp"] - b)
        assert start["header"]["frame_id"] == "camera"
        assert seconds(start["header"]) == pytest.approx(start["stamp"], abs=1e-5)  # the camera's header


def bad_image(stamp: float, kind: str) -> Image:
    msg = Image(height=4, width=4, encoding="rgb8", is_bigendian=0, step=12)
    msg.data = bytes(48)
    if kind == "encoding":
        msg.encoding = "32FC1"
    elif kind == "truncated":
        msg.data = bytes(20)
    elif kind == "zero":
        msg.height = msg.width = msg.step = 0
        msg.data = b""
    msg.header.stamp.sec, msg.header.stamp.nanosec = int(stamp), int((stamp % 1) * 1e9)
    return msg


def publish_faults(tester: Observer, msg_type, topic: str, messages: list, subscribers: int) -> None:
    """Publish malformed messages once `subscribers` camera subscriptions matched, and wait until
    they were delivered (reliable)."""
    publisher = tester.node.create_publisher(msg_type, topic, camera_qos("reliable", 10))
    wait_until(lambda: publisher.get_subscription_count() >= subscribers, 30, f"{subscribers} subscribers on {topic}")
    for msg in messages:
        publisher.publish(msg)
        time.sleep(0.3)  # one at a time: a frame replaced before the model took it is only "dropped"
    assert publisher.wait_for_all_acked(rclpy.duration.Duration(seconds=10))
    tester.node.destroy_publisher(publisher)


def set_parameter(tester: Observer, node: str, name: str, value) -> tuple[bool, str]:
    """One SetParameters call over DDS, as `ros2 param set` makes it."""
    client = tester.node.create_client(SetParameters, f"{node}/set_parameters")
    assert client.wait_for_service(timeout_sec=20)
    kind = {bool: ParameterType.PARAMETER_BOOL, int: ParameterType.PARAMETER_INTEGER,
            float: ParameterType.PARAMETER_DOUBLE, str: ParameterType.PARAMETER_STRING}[type(value)]
    field = {bool: "bool_value", int: "integer_value", float: "double_value", str: "string_value"}[type(value)]
    request = SetParameters.Request(parameters=[ParameterMsg(name=name, value=ParameterValue(type=kind, **{field: value}))])
    future = client.call_async(request)
    wait_until(future.done, 20, f"set_parameters {name}")
    tester.node.destroy_client(client)
    result = future.result().results[0]
    return result.successful, result.reason


def test_separate_nodes_announce_name_and_explain_each_anomaly(bundle, tmp_path):
    """coarse_node + fine_node in /robot1: events within 2 s of the truth, the camera's header
    on /anomaly and the category, one category and one explanation per event, run-time
    parameters over DDS, frame counts in /diagnostics that add up to what was published, a
    killed and restarted fine_node, malformed frames counted, and a late joiner."""
    span = (4.0, 8.0)
    video = write_red_video(tmp_path / "street.avi", seconds=10.0, fps=FPS, anomalies=[span])
    ns, camera = "/robot1", "/robot1/camera/image_raw"
    common = ("image_topic:=camera/image_raw", "camera_qos:=reliable", "update_interval_s:=2.0")
    coarse = NodeProcess("coarse_node", *node_args(bundle, tmp_path, "coarse", *common, namespace=ns),
                         log=tmp_path / "coarse.log")
    fine_args = node_args(bundle, tmp_path, "fine", *common, namespace=ns)
    fine = NodeProcess("fine_node", *fine_args, log=tmp_path / "fine.log")
    tester = Observer(ns)
    try:
        wait_until(lambda: tester.matched(f"{ns}/anomaly", 1) and tester.matched(f"{ns}/anomaly/category", 1),
                   60, "coarse_node and fine_node to start")
        # Run-time parameters over DDS, as `ros2 param set` sends them.
        assert set_parameter(tester, f"{ns}/coarse_node", "min_duration_s", 0.4) == (True, "")
        assert set_parameter(tester, f"{ns}/coarse_node", "threshold_on", 1) == (True, "")  # an int for a double
        assert set_parameter(tester, f"{ns}/coarse_node", "threshold_on", -1.0) == (True, "")
        ok, reason = set_parameter(tester, f"{ns}/coarse_node", "threshold_on", 1.5)
        assert not ok and "out of range" in reason  # rclpy checks the descriptor's range
        ok, reason = set_parameter(tester, f"{ns}/coarse_node", "threshold_off", 0.9)
        assert not ok and "exceeds threshold_on" in reason
        ok, reason = set_parameter(tester, f"{ns}/coarse_node", "bundle", "/elsewhere")
        assert not ok and "read-only" in reason
        ok, reason = set_parameter(tester, f"{ns}/coarse_node", "min_duration_s", "long")
        assert not ok

        published, truth = 0, []
        for run in range(2):
            stamps = tmp_path / f"stamps{run}.json"
            summary = played(play(video, camera, tmp_path / f"player{run}.log", "--depth", "10",
                                  "--stamps-out", str(stamps), subscribers=2))
            published += summary["published"]
            truth += truth_stamps(stamps, [span])
            wait_until(lambda run=run: len(tester.events("end")) > run and len(tester.explanation) > run, 30,
                       f"event {run + 1}'s end and explanation")
            if run == 0:  # SIGKILL, as a crash: coarse_node carries on, a new fine_node takes over
                fine.kill()
                fine = NodeProcess("fine_node", *fine_args, log=tmp_path / "fine2.log")
                wait_until(lambda: tester.node.count_subscribers(camera) >= 2, 60, "the new fine_node")

        starts, ends = tester.events("start"), tester.events("end")
        assert_events_match(starts, ends, truth)
        assert len(tester.category) == 2 and len(tester.explanation) == 2  # one each per event
        for start, category, text in zip(starts, tester.category, tester.explanation):
            assert category.header.frame_id == "camera"
            stamp = category.header.stamp.sec + category.header.stamp.nanosec * 1e-9
            assert stamp == pytest.approx(start["stamp"], abs=1e-6)
            assert {r.class_id for r in category.results} == {"Normal", "Fighting", "Explosion"}
            assert start["event_id"][:8] in text.splitlines()[0] and "UTC" in text.splitlines()[0]

        def counted(status):  # what the camera sent over the numbered span, by fate
            # Numbers skipped in the last 96 are not settled yet (lost late under starvation): pending.
            pending = int(status["pending_lost"]) + int(status["pending_stalled"]) - int(status["pending_repeated"])
            settled = sum(int(status[f"total_{k}"]) for k in ("frames_in", "lost", "stalled", "rate_skipped"))
            return settled - int(status["total_surplus"]) + pending

        first, second = (json.loads((tmp_path / f"stamps{run}.json").read_text()) for run in range(2))
        between = int(round((second[0] - first[-1]) * FPS)) - 1  # the camera's pause between the runs
        sent = published + between
        # A loaded node receives the last frames after the player finished: wait for a window with
        # no frame, after the stream is accounted for.
        status = wait_until(lambda: (s := tester.status("coarse_node")) and counted(s) >= sent - 1
                            and s["frames_in"] == "0" and s, 30,
                            f"coarse_node's /diagnostics to account for {sent} frames, then go quiet",
                            detail=lambda: tester.status("coarse_node"))
        # Received and lost are exact; a pause's frame count is its length over the estimated period.
        # (Frames can be lost even here: a starved callback lets the reader's queue overflow.)
        assert abs(counted(status) - sent) <= 1, status
        assert int(status["total_frames_in"]) == sum(
            int(status[f"total_{k}"]) for k in ("skipped", "processed", "dropped", "rejected", "queued"))
        # One frame per snippet reached the model, or was counted as dropped (the model too slow).
        handed = sum(int(status[f"total_{k}"]) for k in ("processed", "dropped", "queued"))
        assert handed >= int(status["total_frames_in"]) // 16 - 2
        assert "onnxruntime" in status["backend"] and float(status["camera_fps"]) == pytest.approx(FPS, rel=0.01)
        assert int(status["events_started"]) == 2 and not [k for k in status if k.startswith("events_events")]
        assert "missing_frames" not in status  # frames are counted from the stamps: lost / stalled

        # Malformed frames, each a second apart (a snippet of its own): counted, never fatal.
        now = time.time()
        faults = [bad_image(now + 2 + k, kind) for k, kind in enumerate(("encoding", "truncated", "zero"))]
        publish_faults(tester, Image, camera, faults, subscribers=2)
        status = wait_until(lambda: (s := tester.status("coarse_node")) and int(s["total_rejected"]) >= 3 and s,
                            20, "the malformed frames to be counted", detail=lambda: tester.status("coarse_node"))
        for reason in ("unsupported_encoding=1", "truncated=1", "zero_size=1"):
            assert reason in status["rejected_by_reason"]

        late = Observer(ns, name="late_joiner")  # transient local: what happened is still there
        wait_until(lambda: len(late.events("end")) >= 2 and late.explanation and late.category, 20,
                   "the late joiner to receive the events")
        assert [d["event_id"] for d in late.events("start")] == [d["event_id"] for d in starts]
        assert starts[1]["event_id"][:8] in late.explanation[-1].splitlines()[0]
        late.close()
    finally:
        tester.close()
        codes = {"coarse": coarse.stop(), "fine": fine.stop()}
    assert codes == {"coarse": 0, "fine": 0}, coarse.text()[-2000:] + fine.text()[-2000:]
    with EventStore(tmp_path / "coarse.sqlite") as store:
        assert {e["event_id"] for e in store.events()} >= {s["event_id"] for s in starts}
    with EventStore(tmp_path / "fine.sqlite") as store:
        explanations = store.explanations()
    assert [e["event_id"] for e in explanations] == [s["event_id"] for s in starts]
    for explanation, start in zip(explanations, starts):
        # fine_node names coarse_node's frames and the camera's times: its clip covers the start.
        assert explanation["start_frame"] <= start["start_frame"] < explanation["end_frame"]
        # (/anomaly carries stamps to the microsecond)
        assert explanation["start_stamp"] - 1e-5 <= start["start_stamp"] <= explanation["end_stamp"] + 1e-5


def test_in_process_fine_stage_on_compressed_frames_and_ctrl_c_with_an_open_event(bundle, tmp_path):
    """coarse_node with the fine stage in its own process, reading JPEG: only the sampled frames
    are decoded, corrupt JPEGs are counted, a camera pause shows as STALE; SIGINT (twice) with
    the event open still stores and publishes its end, the category and the explanation."""
    spans = [(6.0, 30.0)]
    video = write_red_video(tmp_path / "fire.avi", seconds=12.0, fps=FPS, anomalies=spans)
    camera = "/camera/image_raw"
    coarse = NodeProcess("coarse_node", *node_args(
        bundle, tmp_path, "coarse", "compressed:=true", "fine_stage_in_process:=true", "camera_qos:=reliable",
        "evidence_clip:=true", "update_interval_s:=0.0", "camera_fps:=24.0"), log=tmp_path / "coarse.log")
    tester = Observer()
    try:
        wait_until(lambda: tester.matched("/anomaly", 1) and tester.matched("/anomaly/category", 1), 60,
                   "coarse_node to start")
        now = time.time()
        corrupt = [CompressedImage(format="jpeg", data=b"not a jpeg at all"), CompressedImage(format="h264", data=bytes(10))]
        for k, msg in enumerate(corrupt):
            msg.header.stamp.sec = int(now - 30 + k)
        publish_faults(tester, CompressedImage, camera + "/compressed", corrupt, subscribers=1)
        player = play(video, camera, tmp_path / "player.log", "--encoding", "jpeg", "--pause", "48:2.5",
                      "--stamps-out", str(tmp_path / "stamps.json"))
        wait_until(lambda: tester.events("start"), 60, "the event's start")
        coarse.signal(signal.SIGINT)
        time.sleep(0.1)
        coarse.signal(signal.SIGINT)  # a second Ctrl-C is harmless
        code = coarse.wait(60)
        player.stop()  # Ctrl-C: it writes the stamps it sent
        wait_until(lambda: tester.events("end") and tester.explanation and tester.category, 20,
                   "the end, the category and the explanation after Ctrl-C")
    finally:
        tester.close()
        coarse.kill()
    log = coarse.text()
    assert code == 0, log[-3000:]
    assert "Traceback" not in log and "context is invalid" not in log
    (start,), (end,) = tester.events("start"), tester.events("end")
    assert end["event_id"] == start["event_id"] and end["reason"] == "shutdown"
    (truth_start, _), = truth_stamps(tmp_path / "stamps.json", [(6.0, 7.0)])
    assert abs(start["start_stamp"] - truth_start) <= TOLERANCE_S
    with EventStore(tmp_path / "coarse.sqlite") as store:
        assert [e["kind"] for e in store.events() if e["event_id"] == start["event_id"]] == ["start", "end"]
        (explanation,) = store.explanations(start["event_id"])
    assert Path(explanation["heatmap_path"]).is_file()
    assert (tmp_path / "coarse_evidence" / f"{start['event_id']}_clip.avi").is_file()
    statuses = tester.statuses("coarse_node")
    assert any(s["level"] == "STALE" for s in statuses)  # the camera's pause
    last = statuses[-1]
    assert "decode_failed=1" in last["rejected_by_reason"] and "unsupported_format=1" in last["rejected_by_reason"]
    decoded = int(last["total_processed"]) + int(last["total_rejected"]) + int(last["total_dropped"])
    # One JPEG per 16-frame snippet decoded, the others never: each corrupt frame is a snippet of
    # its own, and each stall can cut one snippet short and start another.
    assert decoded <= int(last["total_frames_in"]) // 16 + len(corrupt) + 2 * int(last["total_stalls"]) + 2, last
    # Every frame is counted with its fate (`queued`: handed to the model, not yet done).
    assert int(last["total_skipped"]) == int(last["total_frames_in"]) - decoded - int(last["total_queued"])


@pytest.mark.parametrize(
    ("param", "starts", "message"),
    [
        ("threshold_on:=1", True, "threshold on 1.000"),  # an int for a double: accepted
        ("output_dir:=none", True, "verified"),
        ("threshold_on:=1.5", False, "threshold_on must be in [-1, 1], got 1.5"),
        ("max_pending_clips:=2.0", False, "max_pending_clips must be a integer, got 2.0 (double)"),
        ("camera_qos:=fast", False, "camera_qos must be one of auto, reliable, best_effort"),
        ("threshhold_on:=0.5", False, "unknown parameter 'threshhold_on' (did you mean 'threshold_on'?)"),
    ],
)
def test_parameter_mistakes_are_one_line_and_exit_2(bundle, tmp_path, param, starts, message):
    # Without the params file: rcl keeps a file's integer over a `-p` double of the same name.
    node = NodeProcess("coarse_node", *node_args(bundle, tmp_path, "coarse", param, params_file=False),
                       log=tmp_path / "node.log")
    if starts:
        wait_until(lambda: "reading CompressedImage" in node.text() or "reading Image" in node.text(), 60,
                   "coarse_node to start")
        assert node.stop() == 0
    else:
        assert node.wait(60) == 2
    log = node.text()
    assert message in log and "Traceback" not in log, log
    if not starts:
        assert [line for line in log.splitlines() if line.strip()] == [
            next(line for line in log.splitlines() if "FATAL" in line)]


def test_an_integer_in_the_params_file_is_accepted_for_a_double(bundle, tmp_path):
    params = tmp_path / "params.yaml"
    params.write_text("/**:\n  ros__parameters:\n    threshold_on: 1\n    min_duration_s: 2\n")
    node = NodeProcess("coarse_node", *node_args(bundle, tmp_path, "coarse"), "--params-file", str(params),
                       log=tmp_path / "node.log")
    wait_until(lambda: "reading Image" in node.text(), 60, "coarse_node to start")
    assert node.stop() == 0
    assert "threshold on 1.000" in node.text()


def test_auto_camera_qos_follows_the_publishers(bundle, tmp_path):
    """camera_qos auto: reliable when every publisher offers it, best effort otherwise."""
    from rclpy.parameter import Parameter

    from tcvads_ros.nodes.coarse_node import CoarseNode

    tester = Observer()
    for offered in ("reliable", "best_effort"):
        topic = f"/qos_{offered}/image_raw"
        publisher = tester.node.create_publisher(Image, topic, camera_qos(offered, 5))
        node = CoarseNode(parameter_overrides=[
            Parameter("bundle", value=str(bundle)), Parameter("image_topic", value=topic),
            Parameter("event_store", value=str(tmp_path / f"{offered}.sqlite"))])
        try:
            if node.camera_reliability != offered:  # not discovered yet: re-checked every second
                executor = rclpy.executors.SingleThreadedExecutor()
                executor.add_node(node)
                deadline = time.monotonic() + 20
                while node.camera_reliability != offered and time.monotonic() < deadline:
                    executor.spin_once(timeout_sec=0.2)
                executor.remove_node(node)
            assert node.camera_reliability == offered
        finally:
            node.close()
            node.destroy_node()
            tester.node.destroy_publisher(publisher)
    tester.close()


@pytest.mark.parametrize("executable", ["coarse_node", "fine_node"])
def test_a_node_says_what_its_bundle_was_trained_on_and_warns_once_of_drawings(bundle, tmp_path, executable):
    """A bundle whose model card says synthetic drawings, reading a camera topic: one line on
    what it was trained on and one WARN with what to do (docs/runtime.md, "The model card")."""
    import shutil

    from tcvads_ros.runtime.bundle import Bundle, write_manifest

    carded = tmp_path / "carded"
    shutil.copytree(bundle, carded)
    manifest = Bundle.load(carded).manifest
    manifest.model_card = {
        "trained_on": {"dataset": "tcvads synth", "synthetic": True, "generator_version": 2},
        "metrics": {}, "intended_use": "demos", "limitations": ["synthetic drawings"],
        "made_by": {"command": "test"}}
    write_manifest(carded, manifest, vouch_card=True)
    node = NodeProcess(executable, *node_args(carded, tmp_path, executable.split("_")[0]),
                       log=tmp_path / "node.log")
    wait_until(lambda: "trained on synthetic drawings" in node.text(), 60, f"{executable} to start")
    assert node.stop() == 0
    log = node.text()
    assert f"bundle {carded}: trained on tcvads synth version 2" in log
    warnings = [line for line in log.splitlines() if "trained on synthetic drawings" in line]
    assert len(warnings) == 1 and "WARN" in warnings[0] and "tcvads calibrate" in warnings[0], warnings
    assert "camera topic" in warnings[0]
