# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""One camera of a node: its subscription, frame clock, statistics, newest-frame slot and
watchdog, and its /diagnostics status.

A node serves one camera (parameter ``image_topic``) or several (``cameras``, NAME=TOPIC each);
it holds one `Camera` for each, and one inference thread for all (`common.TcvadsNode`). What a
camera owns is what differs between streams: its frames are numbered from its own stamps
(`FrameClock`), counted in its own `Counters` (`StreamStats`), handed over in its own
`LatestSlot` and watched by its own `CameraWatchdog`, and it reports its own status.

The camera callback gets the serialized message and reads only its header stamp, numbers the
frame from it and asks the node whether it needs that frame (`TcvadsNode.wants`: one per
snippet); only those go to the slot, to be deserialized on the inference thread.
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Any

from diagnostic_msgs.msg import DiagnosticStatus, KeyValue
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.clock import Clock, ClockType
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSPolicyKind, QoSProfile, ReliabilityPolicy
from rclpy.qos_overriding_options import QoSOverridingOptions
from rclpy.serialization import deserialize_message
from sensor_msgs.msg import CompressedImage, Image

from tcvads_ros.nodes import parameters
from tcvads_ros.nodes.messages import (
    cdr_header_stamp,
    clock_notes,
    diagnostic_report,
    diagnostic_status,
)
from tcvads_ros.nodes.stream import CLOCK, CameraWatchdog, LatestSlot, StreamStats
from tcvads_ros.runtime.image_convert import ImageConversionError
from tcvads_ros.runtime.sampling import FrameClock
from tcvads_ros.runtime.stats import Counters

if TYPE_CHECKING:
    from tcvads_ros.nodes.common import TcvadsNode

# The clock of the node's own timers (diagnostics, QoS re-checks): wall time, never /clock.
STEADY = Clock(clock_type=ClockType.STEADY_TIME)
RELIABILITY = {"reliable": ReliabilityPolicy.RELIABLE, "best_effort": ReliabilityPolicy.BEST_EFFORT}
# The QoS policies of the camera subscription a `qos_overrides.<topic>.subscription.<policy>`
# parameter may set, as in every Jazzy node.
CAMERA_POLICIES = (QoSPolicyKind.HISTORY, QoSPolicyKind.DEPTH, QoSPolicyKind.RELIABILITY)


def camera_qos(reliability: str, depth: int) -> QoSProfile:
    """The camera subscription's QoS: keep the last `depth` messages, volatile."""
    return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=depth,
                      reliability=RELIABILITY[reliability], durability=DurabilityPolicy.VOLATILE)


class Camera:
    """One camera of `node`: `name` ("" for the single camera of ``image_topic``) on
    `image_topic` (with ``compressed``, its ``/compressed`` topic)."""

    def __init__(self, node: TcvadsNode, name: str, image_topic: str,
                 wakeup: threading.Condition) -> None:
        self.node, self.name = node, name
        values = node.values
        if values["compressed"]:
            self.msg_type, self.topic = CompressedImage, image_topic.rstrip("/") + "/compressed"
        else:
            self.msg_type, self.topic = Image, image_topic
        # The camera's one statistics object: its frames' fates (`StreamStats`), its frame
        # clock's counts, and its pipeline's (coarse_node) or clip cutter's (fine_node).
        self.counts = Counters()
        self.stats = StreamStats(self.counts)
        self.clock = FrameClock(values["camera_fps"] or None, stats=self.counts.scoped(CLOCK))
        self.clock_lock = threading.Lock()  # the callback and diagnostics read the clock's state
        self._wakeup = wakeup  # shared by every camera's slot: one inference thread takes from all
        self.slot: LatestSlot[tuple[bytes, float, int]] = LatestSlot(wakeup)  # (message, arrival, number)
        self.slot.close()  # opened by `start`
        self.subscription: Any = None
        self.reliability = ""  # set when the subscription is made
        self._qos_timer: Any = None
        self.watchdog = CameraWatchdog(values["camera_timeout_s"], values["exit_when_stuck"])
        self.paused_events = 0  # events ended by a deactivate
        self.microphone: Any = None  # coarse_node's `Microphone` of this camera's sound, where it listens

    @property
    def label(self) -> str:
        """How the log names the camera."""
        return f"camera {self.name}" if self.name else "camera"

    @property
    def fps(self) -> float | None:
        """The camera's rate: `camera_fps`, else the estimate once calibrated, else None."""
        with self.clock_lock:
            return self.node.values["camera_fps"] or (self.clock.fps if self.clock.calibrated else None)

    def estimated_fps(self) -> float | None:
        """The frame clock's estimate (provisional or not), or None before one."""
        with self.clock_lock:
            return self.clock.fps

    def number_at(self, stamp: float) -> int | None:
        """This camera's frame number for `stamp` (`FrameClock.number_at`)."""
        with self.clock_lock:
            return self.clock.number_at(stamp)

    # -- subscription -------------------------------------------------------------------------
    def start(self) -> None:
        """Subscribe (activate); the slot opens."""
        node = self.node
        self.slot = LatestSlot(self._wakeup)
        self.watchdog = CameraWatchdog(node.values["camera_timeout_s"], node.values["exit_when_stuck"])
        self._subscribe(self._choose_reliability())
        if self._auto_reliability() and self.reliability == "best_effort":
            # No publisher was discovered yet: best effort can receive from any; look again
            # until one appears, and go reliable if every publisher offers it.
            self._qos_timer = node.create_timer(1.0, self._recheck_reliability,
                                                callback_group=MutuallyExclusiveCallbackGroup(),
                                                clock=STEADY)
        node.get_logger().info(f"reading {self.msg_type.__name__} from {self.topic}"
                               + (f" as camera {self.name}" if self.name else ""))

    def stop(self) -> None:
        """Unsubscribe (deactivate, shutdown); a frame left in the slot is counted as dropped, as
        is any arriving from now on."""
        if self._qos_timer is not None:
            self.node.destroy_timer(self._qos_timer)
            self._qos_timer = None
        if self.subscription is not None:
            self.node.destroy_subscription(self.subscription)
            self.subscription = None
        if self.slot.close():
            self.stats.drop_queued()

    def _auto_reliability(self) -> bool:
        """Whether camera_qos:=auto chooses the reliability at run time: not where a
        `qos_overrides.<camera topic>.subscription.reliability` parameter sets it."""
        node = self.node
        override = f"{parameters.QOS_OVERRIDES}{node.resolve_topic_name(self.topic)}.subscription.reliability"
        return node.values["camera_qos"] == "auto" and override not in node._parameter_overrides

    def _choose_reliability(self) -> str:
        choice = self.node.values["camera_qos"]
        if choice != "auto":
            return choice
        offered = [info.qos_profile.reliability for info in self.node.get_publishers_info_by_topic(self.topic)]
        return "reliable" if offered and all(r == ReliabilityPolicy.RELIABLE for r in offered) else "best_effort"

    def _subscribe(self, reliability: str) -> None:
        node = self.node
        if self.subscription is not None:
            node.destroy_subscription(self.subscription)
        # qos_overrides parameters of the camera subscription take precedence over camera_qos and
        # camera_queue_depth (rclpy applies them to the profile given here). Where camera_qos:=auto
        # chooses the reliability, no reliability parameter is declared: it may change at run time,
        # and a read-only parameter would keep showing the first choice.
        policies = CAMERA_POLICIES if not self._auto_reliability() else \
            tuple(p for p in CAMERA_POLICIES if p != QoSPolicyKind.RELIABILITY)
        # raw=True: the callback gets the serialized message and reads only its stamp; only the
        # frames the model uses are deserialized (a 720p rgb8 image is 2.7 MB to copy into Python).
        self.subscription = node.create_subscription(
            self.msg_type, self.topic, self._on_image,
            camera_qos(reliability, node.values["camera_queue_depth"]),
            callback_group=MutuallyExclusiveCallbackGroup(), raw=True,
            qos_overriding_options=QoSOverridingOptions(policies),
        )
        self.reliability = self.subscription.qos_profile.reliability.name.lower()
        node.get_logger().info(f"{self.label} subscription {self.reliability} "
                               f"(camera_qos {node.values['camera_qos']})")

    def _recheck_reliability(self) -> None:
        if not self.node.get_publishers_info_by_topic(self.topic):
            return
        self._qos_timer.cancel()
        if self._choose_reliability() == "reliable":
            self._subscribe("reliable")

    def _on_image(self, raw: bytes) -> None:
        """The camera callback: number the frame from its stamp; hand over only frames in use. The
        frame is counted in with its fate (`StreamStats`), so /diagnostics always balances."""
        self.watchdog.frame_arrived(time.monotonic())
        stamp = cdr_header_stamp(raw)
        if stamp is None:
            self.stats.reject("bad_message", queued=False)
            return
        with self.clock_lock:
            number = self.clock.number(stamp)  # counts lost / stalled frames into self.counts
        wanted = self.node.wants(self, number)
        self.stats.arrived(queued=wanted)
        if wanted and self.slot.put((raw, time.monotonic(), number)):
            self.stats.drop_queued()  # it replaced a frame never taken, or the node is closing

    def deserialize(self, raw: bytes) -> Any:
        try:
            return deserialize_message(raw, self.msg_type)
        except Exception as error:  # noqa: BLE001 - rclpy raises several types for a bad buffer
            raise ImageConversionError("bad_message", f"cannot deserialize the camera message: {error}") from error

    # -- diagnostics --------------------------------------------------------------------------
    def watch(self) -> dict[str, Any]:
        """`CameraWatchdog`'s step at this report: resubscribe, report ERROR, or end the process."""
        node = self.node
        if self.slot.closed:  # not active: no camera to watch
            return {}
        if self.subscription is None:  # dropped at the last report: made again now
            self._subscribe(self.reliability)
        now = time.monotonic()
        action = self.watchdog.check(now, node.count_publishers(self.topic))
        silent = self.watchdog.silent_s(now)
        if action == "resubscribe":
            node.get_logger().warning(f"no {self.label} frame for {silent:.1f} s while its publisher is "
                                      "matched: making the subscription again")
            self.stats.count("camera_resubscribed")
            # Destroyed now, made again at the next report: created in the same callback, the new
            # reader does not free a publisher that a stalled reliable reader wedged (measured
            # under this MultiThreadedExecutor; docs/failures.md).
            node.destroy_subscription(self.subscription)
            self.subscription = None
        elif action == "exit":
            node.get_logger().fatal(f"no {self.label} frame for {silent:.1f} s although the publisher is "
                                    "matched and the subscription was made again: exiting (status 1) for respawn")
            node.exit_code = 1
        return {"camera_stuck_s": silent} if action in ("error", "exit") else {}

    def status(self, node_name: str, lifecycle_state: str, shared: dict[str, Any],
               problem: str | None) -> DiagnosticStatus:
        """This camera's DiagnosticStatus: named after the node (``tcvads_ros: /ns/node``), with
        ``/<camera>`` after it where the node names its cameras; `shared`: the node's values that
        are no one camera's (the event store's counts), `problem`: why the settings cannot work
        on this camera."""
        stuck = self.watch()
        with self.clock_lock:
            fps, provisional, change = self.clock.fps, not self.clock.calibrated, self.clock.rate_change
            pending = self.clock.pending
        camera = {"camera_fps": fps if fps is not None else float("nan"),
                  "fps_provisional": provisional, "camera_qos": self.reliability,
                  # Skipped numbers (and frames without one) the clock counts only 96 frames on.
                  **{f"pending_{kind}": count for kind, count in pending.items()}}
        window = self.stats.window()
        report = diagnostic_report(
            f"tcvads_ros: {node_name}" + (f"/{self.name}" if self.name else ""), self.node.backend_name,
            window, {"lifecycle_state": lifecycle_state, "paused_events": self.paused_events,
                     **({"camera": self.name, "image_topic": self.topic} if self.name else {}),
                     **camera, **self._audio(), **stuck, **self.stats.totals(), **shared,
                     **({"config_problem": problem} if problem else {})},
            notes=clock_notes(provisional, change if window["rate_changes"] else None),
        )
        return diagnostic_status(DiagnosticStatus, KeyValue, report)

    def _audio(self) -> dict[str, str]:
        """The sound's topic and format (``audio_topic``, ``audio_info``) where the camera listens:
        the level then reads its counts (`messages.audio_problem`)."""
        microphone = self.microphone
        return {} if microphone is None else {"audio_topic": microphone.topic, "audio_info": microphone.describe()}
