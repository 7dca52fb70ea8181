# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""QoS overrides as in every Jazzy node: `qos_overrides.<topic>.<publisher|subscription>.<policy>`
parameters on coarse_node's command line change the QoS its publishers offer and its camera
subscription asks for, seen over DDS by another process, and take precedence over camera_qos and
camera_queue_depth. A value rclpy would not take stops the node with one line.
"""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.rclpy
rclpy = pytest.importorskip("rclpy", reason="rclpy is not installed (no ROS 2 on this machine)")

from rcl_interfaces.srv import GetParameters  # noqa: E402
from rclpy.qos import DurabilityPolicy, ReliabilityPolicy  # noqa: E402
from ros_harness import NodeProcess, node_args, wait_until  # noqa: E402
from tiny_bundle import make_redness_bundle  # noqa: E402

CAMERA = "/qos_test/image"


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    return make_redness_bundle(tmp_path_factory.mktemp("redness") / "bundle").root


@pytest.fixture
def tester():
    rclpy.init()
    node = rclpy.create_node("qos_tester")
    yield node
    NodeProcess.kill_all()
    node.destroy_node()
    rclpy.shutdown()


def parameter(node, target: str, name: str):
    """One GetParameters call over DDS, as `ros2 param get` makes it."""
    client = node.create_client(GetParameters, f"{target}/get_parameters")
    assert client.wait_for_service(timeout_sec=20)
    future = client.call_async(GetParameters.Request(names=[name]))
    rclpy.spin_until_future_complete(node, future, timeout_sec=20)
    node.destroy_client(client)
    return future.result().values[0]


def endpoints(node, get_info, topic: str) -> list:
    """The endpoints on `topic` (a publisher or subscription list), once one is discovered."""
    return wait_until(lambda: get_info(topic), 60, f"an endpoint on {topic}")


def test_overrides_change_the_qos_seen_over_dds_and_beat_camera_qos(bundle, tmp_path, tester):
    overrides = (f"qos_overrides.{CAMERA}.subscription.reliability:=best_effort",
                 f"qos_overrides.{CAMERA}.subscription.depth:=3",
                 "qos_overrides./anomaly.publisher.durability:=volatile")
    coarse = NodeProcess("coarse_node", *node_args(bundle, tmp_path, "coarse", f"image_topic:={CAMERA}",
                                                   "camera_qos:=reliable", *overrides),
                         log=tmp_path / "coarse.log")
    camera = endpoints(tester, tester.get_subscriptions_info_by_topic, CAMERA)
    # best effort although camera_qos says reliable: the override wins
    assert camera[0].qos_profile.reliability == ReliabilityPolicy.BEST_EFFORT, coarse.text()
    anomaly = endpoints(tester, tester.get_publishers_info_by_topic, "/anomaly")
    assert anomaly[0].qos_profile.durability == DurabilityPolicy.VOLATILE  # transient local by default
    assert anomaly[0].qos_profile.reliability == ReliabilityPolicy.RELIABLE  # not overridden: unchanged
    depth = parameter(tester, "/coarse_node", f"qos_overrides.{CAMERA}.subscription.depth")
    assert depth.integer_value == 3  # and not camera_queue_depth's 10
    assert "camera subscription best_effort (camera_qos reliable)" in coarse.text()
    assert coarse.stop() == 0


def test_without_overrides_the_nodes_qos_is_declared_as_parameters(bundle, tmp_path, tester):
    coarse = NodeProcess("coarse_node", *node_args(bundle, tmp_path, "coarse", f"image_topic:={CAMERA}",
                                                   "camera_qos:=reliable"), log=tmp_path / "coarse.log")
    anomaly = endpoints(tester, tester.get_publishers_info_by_topic, "/anomaly")
    assert anomaly[0].qos_profile.durability == DurabilityPolicy.TRANSIENT_LOCAL
    camera = endpoints(tester, tester.get_subscriptions_info_by_topic, CAMERA)
    assert camera[0].qos_profile.reliability == ReliabilityPolicy.RELIABLE
    assert parameter(tester, "/coarse_node", "qos_overrides./anomaly.publisher.durability").string_value \
        == "transient_local"
    assert parameter(tester, "/coarse_node", f"qos_overrides.{CAMERA}.subscription.depth").integer_value == 10
    assert coarse.stop() == 0


def test_a_qos_override_rclpy_would_refuse_stops_the_node_with_one_line(bundle, tmp_path):
    coarse = NodeProcess("coarse_node", *node_args(bundle, tmp_path, "coarse",
                                                   "qos_overrides./anomaly.publisher.durability:=forever"),
                         log=tmp_path / "coarse.log")
    assert coarse.wait(60) == 2
    assert "qos_overrides./anomaly.publisher.durability must be one of volatile, transient_local" in coarse.text()
    assert "Traceback" not in coarse.text()
