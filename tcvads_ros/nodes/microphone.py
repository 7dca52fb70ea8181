# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""One audio topic of coarse_node: its AudioInfo, its subscription, and the cameras whose sound it is.

A camera listens where ``audio_topic`` (or its entry of ``audio_topics``) names a topic and the
bundle listens (it has an audio graph, docs/audio.md). One topic may serve several cameras (one
microphone in a room of cameras): one subscription, each chunk handed to each of their pipelines.

- AudioInfo is read on ``audio_info`` beside the topic (`messages.audio_info_topic`), with the QoS
  audio_capture publishes it with: reliable, transient-local, depth 1, so a node that starts
  later still gets the last one. Its rate, channels and sample format read every chunk after it;
  a change is logged. Until one comes, chunks are counted as refused (reason ``no_info``) and not
  used: a guessed format would turn a wrong one into noise the model takes for sound.
- AudioDataStamped chunks: reliable, the last 100 kept (audio_capture publishes them reliable,
  depth 10); ``qos_overrides.<topic>.subscription.<policy>`` parameters may change either
  subscription, as in every Jazzy node.
- Each chunk becomes an `AudioChunk` stamped by its header, the time of its first sample on the
  camera's clock (`messages.audio_chunk`: `audio_convert.pcm_to_float`), and goes to each camera's
  pipeline (`TwoStagePipeline.push_audio`, which is thread-safe), which aligns it to the frames
  by stamps alone and counts it (``audio.`` in the camera's Counters). A chunk that cannot be
  read is counted by reason in the pipeline of every camera it was for
  (`TwoStagePipeline.audio_refused`: ``audio.chunks``, ``audio.chunks_refused`` and
  ``audio.refused_<reason>``, as the pipeline counts a chunk it refuses itself) and logged,
  throttled, as a frame that cannot be converted is.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from audio_common_msgs.msg import AudioDataStamped, AudioInfo
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSPolicyKind, QoSProfile, ReliabilityPolicy
from rclpy.qos_overriding_options import QoSOverridingOptions

from tcvads_ros.nodes.messages import AudioFormat, audio_chunk, audio_format, audio_info_topic
from tcvads_ros.runtime.audio_convert import AudioChunk, AudioConversionError

if TYPE_CHECKING:
    from tcvads_ros.nodes.camera import Camera
    from tcvads_ros.nodes.common import TcvadsNode

# audio_capture's AudioInfo publisher: the last one kept for late joiners.
INFO_QOS = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1, reliability=ReliabilityPolicy.RELIABLE,
                      durability=DurabilityPolicy.TRANSIENT_LOCAL)
# The chunks: reliable (audio_capture's), 100 kept while the callback is busy (10 s of 0.1 s chunks).
AUDIO_QOS = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=100, reliability=ReliabilityPolicy.RELIABLE,
                       durability=DurabilityPolicy.VOLATILE)
POLICIES = (QoSPolicyKind.HISTORY, QoSPolicyKind.DEPTH, QoSPolicyKind.RELIABILITY, QoSPolicyKind.DURABILITY)


class Microphone:
    """The audio `topic` of `node` and the `cameras` it is the sound of; `push(camera, chunk)`
    hands a chunk to a camera's pipeline, `refuse(camera, reason)` counts one that cannot be read."""

    def __init__(self, node: TcvadsNode, topic: str, cameras: list[Camera],
                 push: Callable[[Camera, AudioChunk], None], refuse: Callable[[Camera, str], None]) -> None:
        self.node, self.topic, self.cameras, self._push, self._refuse = node, topic, cameras, push, refuse
        self.info_topic = audio_info_topic(topic)
        self.format: AudioFormat | None = None  # from the newest readable AudioInfo
        self.info_problem, self._reason = "", ""  # why the newest AudioInfo cannot be used, its reason
        self._subscriptions: list[Any] = []
        self._heard = False  # the first chunk used is logged

    def describe(self) -> str:
        """What /diagnostics says of the sound's format (``audio_info``)."""
        if self.info_problem:
            return f"AudioInfo on {self.info_topic} unusable: {self.info_problem}"
        return self.format.describe() if self.format else f"no AudioInfo on {self.info_topic} yet"

    def start(self) -> None:
        """Subscribe to the AudioInfo and the chunks (activate)."""
        node, group = self.node, MutuallyExclusiveCallbackGroup()  # one at a time: the format is not shared
        options = QoSOverridingOptions(POLICIES)
        # (copies: rclpy writes the overrides into the profile it is given)
        self._subscriptions = [
            node.create_subscription(AudioInfo, self.info_topic, self._on_info, copy.copy(INFO_QOS),
                                     callback_group=group, qos_overriding_options=options),
            node.create_subscription(AudioDataStamped, self.topic, self._on_audio, copy.copy(AUDIO_QOS),
                                     callback_group=group, qos_overriding_options=options),
        ]
        names = ", ".join(camera.label for camera in self.cameras)
        node.get_logger().info(f"reading sound (AudioDataStamped) from {self.topic} with its AudioInfo on "
                               f"{self.info_topic}, for {names}")

    def stop(self) -> None:
        """Unsubscribe (deactivate, shutdown)."""
        for subscription in self._subscriptions:
            self.node.destroy_subscription(subscription)
        self._subscriptions = []

    def _on_info(self, msg: Any) -> None:
        try:
            fmt = audio_format(msg)
        except AudioConversionError as error:
            if str(error) != self.info_problem:
                self.node.get_logger().warning(f"{self.info_topic}: {error}; the sound of {self.topic} is refused "
                                               f"(counted under audio.refused_{error.reason})")
            self.format, self.info_problem, self._reason = None, str(error), error.reason
            return
        if fmt != self.format:
            self.node.get_logger().info(f"{self.topic}: {fmt.describe()} ({self.info_topic})")
        self.format, self.info_problem = fmt, ""

    def _on_audio(self, msg: Any) -> None:
        try:
            if self.info_problem:
                raise AudioConversionError(self._reason, self.info_problem)
            chunk = audio_chunk(msg, self.format)
        except AudioConversionError as error:
            for camera in self.cameras:
                self._refuse(camera, error.reason)
            self.node.get_logger().warning(
                f"audio chunk from {self.topic} refused ({error}); counted in /diagnostics",
                throttle_duration_sec=self.node.values["reject_log_period"])
            return
        if not self._heard:
            self._heard = True
            self.node.get_logger().info(f"hearing {self.topic}: {self.format.describe()}")
        for camera in self.cameras:
            self._push(camera, chunk)
