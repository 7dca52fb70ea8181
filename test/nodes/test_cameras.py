# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""One coarse_node and one fine_node serving two cameras (parameter ``cameras``), as separate
processes over Fast DDS, each camera fed by its own camera_player.

Each camera has its own anomalies (the redness bundle: a red picture is an anomaly), so the
tests hold each camera's events to its own ground truth and see that nothing crosses over:
events carry the camera's name and its frames' header, /diagnostics has a status per camera
whose counts add up to what that camera's player sent, one fine_node explains every camera's
events, and a deactivate ends each camera's open event with reason ``paused``. Needs ROS 2.
"""

from __future__ import annotations

import json

import pytest

pytestmark = [pytest.mark.rclpy, pytest.mark.slow]
rclpy = pytest.importorskip("rclpy", reason="rclpy is not installed (no ROS 2 on this machine)")

from ros_harness import (  # noqa: E402, F401 - redness_bundle, ros_with_processes: the fixtures bundle, ros
    REPO,
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
from sensor_msgs.msg import Image  # noqa: E402
from std_srvs.srv import SetBool  # noqa: E402
from tiny_bundle import write_red_video  # noqa: E402

from tcvads_ros.nodes.common import VIEW_QOS  # noqa: E402
from tcvads_ros.runtime.event_store import EventStore  # noqa: E402

FPS = 24.0
TOLERANCE_S = 2.0
# Two cameras, each with its own anomalies; the last of each lasts to the end of its video, so
# it is still open when the node is deactivated.
SPANS = {"front": [(2.0, 4.0), (7.0, 10.0)], "back": [(5.0, 10.0)]}
CAMERAS = "cameras:=[front=/front/image_raw, back=/back/image_raw]"


def enable(tester: Observer, node: str, value: bool) -> None:
    """~/enable over DDS, as `ros2 service call` makes it."""
    client = tester.node.create_client(SetBool, f"{node}/enable")
    assert client.wait_for_service(timeout_sec=20)
    future = client.call_async(SetBool.Request(data=value))
    wait_until(future.done, 30, f"{node}/enable {value}")
    tester.node.destroy_client(client)
    assert future.result().success, future.result().message


@pytest.mark.parametrize("in_process", [False, True], ids=["fine_node", "fine_stage_in_process"])
def test_one_node_pair_serves_two_cameras_each_with_its_own_events_status_and_heat_map(bundle, tmp_path, in_process):
    """The fine stage in fine_node (a clip cache per camera, announcements routed by camera
    name), or in coarse_node: either way one stage and one queue for both cameras."""
    common = (CAMERAS, "camera_qos:=reliable", "update_interval_s:=0.0")
    coarse = NodeProcess("coarse_node", *node_args(bundle, tmp_path, "coarse", *common,
                                                   f"fine_stage_in_process:={str(in_process).lower()}"),
                         log=tmp_path / "coarse.log")
    fine = None if in_process else \
        NodeProcess("fine_node", *node_args(bundle, tmp_path, "fine", *common), log=tmp_path / "fine.log")
    subscribers = 1 if in_process else 2
    tester = Observer()
    heatmaps = {name: [] for name in SPANS}
    for name, into in heatmaps.items():  # a subscriber makes the node render it
        tester.node.create_subscription(Image, f"/{name}/anomaly/heatmap", into.append, VIEW_QOS)
    try:
        wait_until(lambda: tester.matched("/anomaly", 1) and tester.matched("/anomaly/category", 1)
                   and all(tester.matched(f"/{name}/anomaly/heatmap", 1) for name in SPANS),
                   60, "coarse_node and fine_node to start")
        players, truth = {}, {}
        for name, spans in SPANS.items():
            video = write_red_video(tmp_path / f"{name}.avi", seconds=10.0, fps=FPS, anomalies=spans)
            players[name] = play(video, f"/{name}/image_raw", tmp_path / f"{name}_player.log", "--depth", "10",
                                 "--frame-id", f"{name}_optical", "--stamps-out", str(tmp_path / f"{name}.json"),
                                 subscribers=subscribers)
        sent = {name: played(player)["published"] for name, player in players.items()}
        for name, spans in SPANS.items():
            stamps = json.loads((tmp_path / f"{name}.json").read_text())
            truth[name] = [(stamps[int(round(a * FPS))], stamps[min(int(round(b * FPS)), len(stamps)) - 1])
                           for a, b in spans]
        wait_until(lambda: len(tester.events("start")) >= 3 and tester.events("end"), 30,
                   "three starts and the first end", detail=lambda: tester.events())

        def counted(status):  # received, and lost in transport (numbers skipped near the end: pending)
            return int(status["total_frames_in"]) + int(status["total_lost"]) + int(status["pending_lost"])

        # Each camera's counts in its own /diagnostics status: everything its player sent.
        for name in SPANS:
            status = wait_until(lambda name=name: (s := tester.status(f"coarse_node/{name}"))
                                and counted(s) >= sent[name] - 1 and s,
                                30, f"the {name} status to count its frames",
                                detail=lambda name=name: tester.status(f"coarse_node/{name}"))
            assert status["camera"] == name and status["image_topic"] == f"/{name}/image_raw"
            assert int(status["events_started"]) == len(SPANS[name])
            assert float(status["camera_fps"]) == pytest.approx(FPS, rel=0.01)
            if fine is not None:
                wait_until(lambda name=name: tester.status(f"fine_node/{name}"), 20, f"fine_node's {name} status")
        assert tester.status("coarse_node") is None  # no unnamed status beside the cameras'
        # Every value of the cameras' statuses is documented in docs/ros2.md.
        with tester.lock:
            keys = {key for report in tester.diagnostics for values in report.values() for key in values}
        documented = (REPO / "docs" / "ros2.md").read_text(encoding="utf-8")
        assert not sorted(k for k in keys - {"level", "message"} if f"`{k.removeprefix('total_')}`" not in documented
                          and f"`{k}`" not in documented)

        # Deactivate: each camera's open event ends, reason paused.
        enable(tester, "/coarse_node", False)
        wait_until(lambda: len(tester.events("end")) == 3, 30, "the open events to end",
                   detail=lambda: tester.events("end"))
        for name, spans in SPANS.items():
            starts = [d for d in tester.events("start") if d["stream"] == name]
            ends = [d for d in tester.events("end") if d["stream"] == name]
            assert len(starts) == len(ends) == len(spans), tester.events()
            for start, end, (a, _) in zip(starts, ends, truth[name]):
                assert start["event_id"] == end["event_id"]
                assert abs(start["start_stamp"] - a) <= TOLERANCE_S, (name, start["start_stamp"] - a)
                assert start["header"]["frame_id"] == f"{name}_optical"
                assert seconds(start["header"]) == pytest.approx(start["stamp"], abs=1e-5)
            assert ends[-1]["reason"] == "paused"
            assert all(end["reason"] == "score" for end in ends[:-1])
            assert abs(ends[0]["end_stamp"] - truth[name][0][1]) <= TOLERANCE_S or ends[0]["reason"] == "paused"
            assert heatmaps[name] and all(m.header.frame_id == f"{name}_optical" for m in heatmaps[name])
        assert wait_until(lambda: (s := tester.status("coarse_node/back")) and s["lifecycle_state"] == "inactive"
                          and s, 20, "the paused status")["paused_events"] == "1"
        # The fine stage explains the events whose clips are complete; each category carries the
        # header of the frame that announced its event's start, so its camera's frame_id.
        wait_until(lambda: tester.category, 30, "a category")
        by_id = {d["event_id"]: d for d in tester.events("start")}
        for category in tester.category:
            assert category.header.frame_id in ("front_optical", "back_optical")
    finally:
        tester.close()
        codes = {"coarse": coarse.stop(), "fine": fine.stop() if fine is not None else 0}
    assert codes == {"coarse": 0, "fine": 0}, coarse.text()[-2000:] + (fine.text()[-2000:] if fine else "")
    with EventStore(tmp_path / "coarse.sqlite") as store:
        stored = {e["event_id"]: e["stream"] for e in store.events() if e["kind"] == "start"}
    assert stored == {event_id: d["stream"] for event_id, d in by_id.items()}
    # The fine stage finishes the clips still being collected when its node stops: every event
    # explained once, whichever camera it came from.
    with EventStore(tmp_path / ("coarse.sqlite" if in_process else "fine.sqlite")) as store:
        assert sorted(e["event_id"] for e in store.explanations()) == sorted(by_id)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        (("cameras:=[front]",), "cameras entry 'front' must be NAME=IMAGE_TOPIC"),
        (("cameras:=[a=/x, a=/y]",), "cameras names camera 'a' twice"),
        ((CAMERAS, "site_profiles:=[side=/p.json]"),
         "site_profiles names camera 'side', which is not in cameras (front, back)"),
    ],
)
def test_camera_mistakes_are_one_line_and_exit_2(bundle, tmp_path, params, message):
    node = NodeProcess("coarse_node", *node_args(bundle, tmp_path, "coarse", *params), log=tmp_path / "node.log")
    assert node.wait(60) == 2
    log = node.text()
    assert message in log and "Traceback" not in log, log
    assert [line for line in log.splitlines() if line.strip()] == [
        next(line for line in log.splitlines() if "FATAL" in line)]


def test_each_camera_has_its_own_site_profile_and_a_parameter_change_reaches_every_camera(bundle, tmp_path):
    """site_profiles: the back camera's thresholds are its profile's, the front's the bundle's;
    `ros2 param set` of a timing applies to both (an rclpy node in this process)."""
    from rclpy.parameter import Parameter

    from tcvads_ros.nodes.coarse_node import CoarseNode
    from tcvads_ros.runtime.bundle import Bundle
    from tcvads_ros.runtime.events import EventConfig
    from tcvads_ros.runtime.site_profile import SiteProfile, bundle_threshold, coarse_graph_hashes

    loaded = Bundle.load(bundle)
    profile = SiteProfile(EventConfig(threshold_on=0.9, threshold_off=0.7), coarse_graph_hashes(loaded))
    path = profile.save(tmp_path / "back.json")
    values = {"bundle": str(bundle), "cameras": ["front=/front/image_raw", "back=/back/image_raw"],
              "site_profiles": [f"back={path}"], "event_store": str(tmp_path / "events.sqlite"),
              "output_dir": "none"}
    node = CoarseNode(parameter_overrides=[Parameter(k, value=v) for k, v in values.items()])
    try:
        pipelines = node.streams.pipelines
        assert pipelines["back"].event_config.threshold_on == 0.9
        assert pipelines["front"].event_config.threshold_on == pytest.approx(bundle_threshold(loaded))
        assert node.set_parameters([Parameter("min_duration_s", value=0.7)])[0].successful
        assert {p.event_config.min_duration_s for p in pipelines.values()} == {0.7}
        assert node.describe_parameter("cameras").type == 9 and node.describe_parameter("cameras").read_only
    finally:
        node.close()
        node.destroy_node()
