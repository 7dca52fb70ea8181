# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""coarse_node's microphones under rclpy, in the test's process: which camera hears which topic
(``audio_topics``, else ``audio_topic``), one subscription per topic however many cameras it
serves, and every chunk that cannot be used counted by its reason in each camera it was for."""

from __future__ import annotations

import threading

import numpy as np
import pytest

pytestmark = pytest.mark.rclpy
rclpy = pytest.importorskip("rclpy", reason="rclpy is not installed (no ROS 2 on this machine)")
pytest.importorskip("audio_common_msgs.msg", reason="audio_common_msgs is not installed (scripts/install_ros.sh)")

from audio_common_msgs.msg import AudioData, AudioDataStamped, AudioInfo  # noqa: E402
from rclpy.executors import MultiThreadedExecutor  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402
from ros_harness import wait_until  # noqa: E402

from tcvads_ros.nodes.coarse_node import CoarseNode  # noqa: E402
from tcvads_ros.nodes.messages import audio_info_fields, pcm_s16le  # noqa: E402
from tcvads_ros.nodes.microphone import AUDIO_QOS, INFO_QOS  # noqa: E402

MIC = "/front/audio/audio_stamped"


@pytest.fixture(scope="module")
def listening(tmp_path_factory):
    from tiny_bundle import TINY_AUDIO, make_tiny_bundle

    path = tmp_path_factory.mktemp("listening")
    make_tiny_bundle(path, audio=TINY_AUDIO.to_dict())
    return path


def chunk(stamp: float, samples: int = 1600, data: bytes | None = None) -> AudioDataStamped:
    msg = AudioDataStamped()
    msg.header.stamp.sec, msg.header.stamp.nanosec = int(stamp), int(round((stamp % 1) * 1e9))
    raw = pcm_s16le(np.full((samples, 1), 0.1, np.float32)) if data is None else data
    msg.audio = AudioData(data=raw)
    return msg


def test_cameras_hear_their_topics_and_refusals_are_counted_by_reason(ros, listening, tmp_path):
    values = {"bundle": str(listening), "event_store": str(tmp_path / "events.sqlite"), "output_dir": "none",
              "cameras": ["front=/front/image", "back=/back/image", "side=/side/image"],
              "audio_topics": [f"front={MIC}", f"side={MIC}"], "diagnostics_period": 0.2}
    node = CoarseNode(parameter_overrides=[Parameter(k, value=v) for k, v in values.items()])
    tester = rclpy.create_node("tcvads_mic")
    executor = MultiThreadedExecutor()
    for each in (node, tester):
        executor.add_node(each)
    thread = threading.Thread(target=executor.spin, daemon=True)
    thread.start()
    try:
        cameras = {camera.name: camera for camera in node.cameras}
        # one microphone, one subscription, for the two cameras that name its topic; back has none
        assert [(m.topic, [c.name for c in m.cameras]) for m in node.microphones] == [(MIC, ["front", "side"])]
        assert cameras["back"].microphone is None and cameras["front"].microphone is cameras["side"].microphone
        assert node.count_subscribers(MIC) == 1 and node.count_subscribers("/front/audio/audio_info") == 1
        audio = tester.create_publisher(AudioDataStamped, MIC, AUDIO_QOS)
        info = tester.create_publisher(AudioInfo, "/front/audio/audio_info", INFO_QOS)
        wait_until(lambda: audio.get_subscription_count() and info.get_subscription_count(), 10, "the node's subscriptions")

        def counts(name: str) -> dict:
            return {k[len("audio."):]: v for k, v in cameras[name].counts.snapshot().items() if k.startswith("audio.")}

        def sent(msg, publisher=audio, total=None):
            publisher.publish(msg)
            if total is not None:
                wait_until(lambda: counts("front").get("chunks", 0) >= total and counts("side").get("chunks", 0) >= total,
                           10, f"{total} chunks counted", detail=lambda: counts("front"))

        sent(chunk(100.0), total=1)  # before any AudioInfo: refused, not guessed
        info.publish(AudioInfo(**audio_info_fields(16000, 1)))
        wait_until(lambda: node.microphones[0].format is not None, 10, "the AudioInfo")
        sent(chunk(100.1), total=2)
        sent(chunk(100.2, data=bytes(321)), total=3)  # half a sample at the end
        sent(chunk(100.2), total=4)
        info.publish(AudioInfo(**{**audio_info_fields(16000, 1), "coding_format": "mp3"}))  # audio_capture's default
        wait_until(lambda: node.microphones[0].format is None, 10, "the mp3 AudioInfo")
        sent(chunk(100.3), total=5)
        for name in ("front", "side"):
            got = counts(name)
            assert got["chunks"] == 5 and got["chunks_refused"] == 3, got
            assert (got["refused_no_info"], got["refused_truncated"], got["refused_compressed_coding"]) == (1, 1, 1)
        assert not counts("back")  # no sound: nothing counted of it
        assert "AudioInfo on /front/audio/audio_info unusable" in node.microphones[0].describe()
        assert "format:=wave" in node.microphones[0].describe()
    finally:
        executor.shutdown()
        node.close()
        node.destroy_node()
        tester.destroy_node()
