# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""launch_testing test of edge.launch.py: publish a synthetic video, expect /anomaly and a category.

Needs ROS 2 (Humble or Jazzy) with this package built and sourced (`colcon build`, then
`launch_test test/nodes/test_edge_launch.py`); test_ros_commands.py runs it so in a colcon
workspace. pytest collects it only through launch_testing's pytest plugin (test/conftest.py). The bundle is the runtime tests' tiny untrained one and
threshold_on is 0, so an event starts whatever the untrained model scores.
"""

from __future__ import annotations

import tempfile
import time
import unittest
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.launch_testing
pytest.importorskip("launch_testing", reason="launch_testing is not installed (not on the package registry: needs a ROS 2 install)")

import launch_testing.actions  # noqa: E402
import launch_testing.asserts  # noqa: E402
import rclpy  # noqa: E402
from ament_index_python.packages import get_package_share_directory  # noqa: E402
from launch.actions import IncludeLaunchDescription  # noqa: E402
from launch.launch_description_sources import PythonLaunchDescriptionSource  # noqa: E402
from sensor_msgs.msg import Image  # noqa: E402
from tcvads_msgs.msg import AnomalyEvent  # noqa: E402
from vision_msgs.msg import Classification  # noqa: E402

from launch import LaunchDescription  # noqa: E402
from tcvads_ros.nodes.common import EVENT_QOS  # noqa: E402

TOPIC = "/tcvads_launch_test/image"
WORKDIR = Path(tempfile.mkdtemp(prefix="tcvads_launch_test_"))


def make_bundle() -> Path:
    from tiny_bundle import make_tiny_bundle

    make_tiny_bundle(WORKDIR / "bundle")
    return WORKDIR / "bundle"


@pytest.mark.launch_test
def generate_test_description():
    edge = Path(get_package_share_directory("tcvads_ros")) / "launch" / "edge.launch.py"
    arguments = {
        "bundle": str(make_bundle()),
        "image_topic": TOPIC,
        "threshold_on": "0.0",
        "backend": "onnxruntime",
        "respawn": "false",
    }
    return LaunchDescription([
        IncludeLaunchDescription(PythonLaunchDescriptionSource(str(edge)), launch_arguments=arguments.items()),
        launch_testing.actions.ReadyToTest(),
    ])


class TestEdgeLaunch(unittest.TestCase):
    def test_frames_in_anomaly_and_category_out(self):
        rclpy.init()
        node = rclpy.create_node("edge_launch_tester")
        anomalies, categories = [], []
        node.create_subscription(AnomalyEvent, "anomaly", anomalies.append, EVENT_QOS)
        node.create_subscription(Classification, "anomaly/category", categories.append, EVENT_QOS)
        camera = node.create_publisher(Image, TOPIC, 10)
        try:
            deadline = time.monotonic() + 120.0  # includes the nodes loading their bundle
            while time.monotonic() < deadline and camera.get_subscription_count() < 2:
                rclpy.spin_once(node, timeout_sec=0.1)  # both nodes subscribed: a camera that is on
            i = 0
            while time.monotonic() < deadline and not categories:
                camera.publish(frame(i))
                i += 1
                rclpy.spin_once(node, timeout_sec=0.04)
        finally:
            node.destroy_node()
            rclpy.shutdown()
        self.assertTrue(anomalies, "no message on /anomaly")
        self.assertEqual(anomalies[0].kind, AnomalyEvent.KIND_START)
        self.assertTrue(categories, "no message on /anomaly/category")
        self.assertEqual(categories[0].header.frame_id, "launch_cam")
        self.assertGreater(len(categories[0].results), 1)


@launch_testing.post_shutdown_test()
class TestShutdown(unittest.TestCase):
    def test_nodes_exit_cleanly(self, proc_info):
        # SIGINT from launch at the end of the test: the nodes end their events and exit.
        launch_testing.asserts.assertExitCodes(proc_info, allowable_exit_codes=[0, -2, -15])


def frame(i: int) -> Image:
    rgb = np.full((48, 64, 3), 30, np.uint8)
    x = (i * 2) % 48
    rgb[10:26, x:x + 16] = (230, 200, 40)
    msg = Image(height=48, width=64, encoding="rgb8", is_bigendian=0, step=64 * 3)
    msg.data = rgb.tobytes()
    stamp = 1_700_000_000.0 + i / 25.0
    msg.header.stamp.sec = int(stamp)
    msg.header.stamp.nanosec = int(round((stamp % 1) * 1e9))
    msg.header.frame_id = "launch_cam"
    return msg
