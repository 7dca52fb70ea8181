"""What coarse_node and fine_node share: the rclpy adapter around the plain logic.

Everything here is ROS wiring (parameter declaration, QoS, the camera subscription, the
inference thread, /diagnostics, the process's main). The decisions it applies are made by
plain, tested code: `parameters` (specs, validation), `messages` (conversion, message fields,
diagnostic levels) and `stream` (newest-wins slot, statistics).

Threads: rclpy's MultiThreadedExecutor runs the callbacks; the camera callback only hands the
message to a `LatestSlot` (its own MutuallyExclusiveCallbackGroup, sensor-data QoS with depth
1, so a slow model drops stale frames instead of queueing them); one worker thread owns the
backend (TensorRT/CUDA work stays on one thread) and does conversion and inference.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import rclpy
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rcl_interfaces.msg import (
    FloatingPointRange,
    IntegerRange,
    ParameterDescriptor,
    SetParametersResult,
)
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.executors import ExternalShutdownException, MultiThreadedExecutor
from rclpy.logging import get_logger
from rclpy.node import Node
from rclpy.qos import (
    DurabilityPolicy,
    HistoryPolicy,
    QoSProfile,
    ReliabilityPolicy,
    qos_profile_sensor_data,
)
from sensor_msgs.msg import CompressedImage, Image

from tcvads_ros.errors import TcvadsError
from tcvads_ros.nodes import parameters
from tcvads_ros.nodes.messages import diagnostic_report, diagnostic_status, frame_from_message
from tcvads_ros.nodes.stream import LatestSlot, StreamStats
from tcvads_ros.runtime.frames import Frame
from tcvads_ros.runtime.image_convert import ImageConversionError

try:  # cv_bridge where it is installed; the project's NumPy conversion everywhere else
    from cv_bridge import CvBridge
except ImportError:
    CvBridge = None

# qos_profile_sensor_data (best effort, volatile) with a queue of one frame.
CAMERA_QOS = QoSProfile(
    history=HistoryPolicy.KEEP_LAST,
    depth=1,
    reliability=qos_profile_sensor_data.reliability,
    durability=qos_profile_sensor_data.durability,
)
# Events: reliable, and the last few kept for late joiners (a dashboard started after an alarm).
EVENT_QOS = QoSProfile(
    history=HistoryPolicy.KEEP_LAST,
    depth=10,
    reliability=ReliabilityPolicy.RELIABLE,
    durability=DurabilityPolicy.TRANSIENT_LOCAL,
)
# The heat map is a live view: newest only, best effort.
VIEW_QOS = CAMERA_QOS


def descriptor(spec: parameters.ParameterSpec) -> ParameterDescriptor:
    """The ParameterDescriptor of a spec: type, description, range, read-only."""
    fields = spec.descriptor_fields()
    fields["integer_range"] = [IntegerRange(**r) for r in fields.get("integer_range", [])]
    fields["floating_point_range"] = [FloatingPointRange(**r) for r in fields.get("floating_point_range", [])]
    return ParameterDescriptor(**fields)


class TcvadsNode(Node):
    """Parameters, camera input, inference thread and /diagnostics; subclasses add the model."""

    def __init__(self, name: str, **node_options: Any) -> None:
        """`node_options` go to rclpy's Node (tests pass parameter_overrides)."""
        super().__init__(name, **node_options)
        specs = parameters.specs_for(name)
        for spec in specs:
            self.declare_parameter(spec.name, spec.default, descriptor(spec))
        self.values: dict[str, Any] = {s.name: self.get_parameter(s.name).value for s in specs}
        problem = parameters.check_parameters(self.values)
        if problem:
            raise TcvadsError(f"{name}: {problem}")
        if not self.values["bundle"]:
            raise TcvadsError(f"{name}: parameter 'bundle' is empty; pass bundle:=/path/to/bundle")
        self.add_on_set_parameters_callback(self._on_set_parameters)
        self.stats = StreamStats()
        self.backend_name = "not loaded"
        self.bridge = CvBridge() if CvBridge is not None else None
        self._slot: LatestSlot[tuple[Any, float, int]] = LatestSlot()  # (msg, arrival, index)
        self._frames_received = 0
        self._worker: threading.Thread | None = None
        self.diagnostics = self.create_publisher(DiagnosticArray, "/diagnostics", 10)

    # -- parameters ---------------------------------------------------------------------------
    def _on_set_parameters(self, params: list) -> SetParametersResult:
        changes = {p.name: p.value for p in params if p.name in self.values}
        problem = parameters.check_change(self.values, changes) or self.check_change(changes)
        if problem:
            return SetParametersResult(successful=False, reason=problem)
        self.values.update(changes)
        self.apply_change(changes)
        return SetParametersResult(successful=True)

    def check_change(self, changes: dict[str, Any]) -> str | None:
        """Node-specific refusal of a parameter change (after the generic checks)."""
        return None

    def apply_change(self, changes: dict[str, Any]) -> None:
        """Apply accepted changes to the running model."""

    # -- camera -------------------------------------------------------------------------------
    def start_camera(self) -> None:
        """Subscribe to the camera and start the inference thread (after the model loaded)."""
        topic = self.values["image_topic"]
        if self.values["compressed"]:
            msg_type, topic = CompressedImage, topic.rstrip("/") + "/compressed"
        else:
            msg_type = Image
        self.create_subscription(
            msg_type, topic, self._on_image, CAMERA_QOS,
            callback_group=MutuallyExclusiveCallbackGroup(),
        )
        self._worker = threading.Thread(target=self._work, name=f"{self.get_name()}-inference", daemon=True)
        self._worker.start()
        self.create_timer(self.values["diagnostics_period"], self._publish_diagnostics,
                          callback_group=MutuallyExclusiveCallbackGroup())
        bridge = "cv_bridge" if self.bridge is not None else "numpy (cv_bridge not installed)"
        self.get_logger().info(f"reading {msg_type.__name__} from {topic}; conversion: {bridge}")

    def _on_image(self, msg: Any) -> None:
        self.stats.count("frames_in")
        if self.wants_frame():
            if self._slot.put((msg, time.monotonic(), self._frames_received)):
                self.stats.count("dropped")
        self._frames_received += 1

    def wants_frame(self) -> bool:
        """Whether this camera frame goes to the inference thread (fine_node keeps one per snippet)."""
        return True

    def _work(self) -> None:
        while not self._slot.closed:
            item = self._slot.take(timeout=0.5)
            if item is None:
                continue
            msg, arrived, index = item
            try:
                frame = frame_from_message(msg, index, self.bridge)
            except ImageConversionError as error:
                self.stats.reject(error.reason)
                self.get_logger().warning(
                    f"frame {index} rejected ({error}); counted in /diagnostics",
                    throttle_duration_sec=self.values["reject_log_period"],
                )
                continue
            try:
                self.process(frame)
            except TcvadsError as error:  # bad input the model refuses: count it, keep running
                self.stats.reject("model_refused")
                self.get_logger().warning(str(error), throttle_duration_sec=self.values["reject_log_period"])
                continue
            self.stats.processed(time.monotonic() - arrived)

    def process(self, frame: Frame) -> None:
        """Run the model on one frame (on the inference thread)."""
        raise NotImplementedError

    # -- diagnostics --------------------------------------------------------------------------
    def extra_totals(self) -> dict[str, Any]:
        """Node-specific counters for /diagnostics."""
        return {}

    def _publish_diagnostics(self) -> None:
        report = diagnostic_report(
            f"tcvads_ros: {self.get_namespace().rstrip('/')}/{self.get_name()}", self.backend_name,
            self.stats.window(), {**self.stats.totals(), **self.extra_totals()},
        )
        array = DiagnosticArray()
        array.header.stamp = self.get_clock().now().to_msg()
        array.status = [diagnostic_status(DiagnosticStatus, KeyValue, report)]
        self.diagnostics.publish(array)

    # -- shutdown -----------------------------------------------------------------------------
    def close(self) -> None:
        """Stop the inference thread and let the model finish (events end, stores flush)."""
        self._slot.close()
        if self._worker is not None:
            self._worker.join(timeout=10.0)


def run(make_node: Callable[[], TcvadsNode], name: str, args: list[str] | None = None) -> int:
    """A node's main: load before spinning, exit 2 with a clear line when that fails, spin on a
    MultiThreadedExecutor, and shut down cleanly on Ctrl-C or an external shutdown."""
    rclpy.init(args=args)
    try:
        node = make_node()
    except TcvadsError as error:
        get_logger(name).fatal(f"cannot start: {error}")
        rclpy.shutdown()
        return 2
    try:
        rclpy.spin(node, executor=MultiThreadedExecutor())
    except (KeyboardInterrupt, ExternalShutdownException):
        node.get_logger().info("shutting down")
    finally:
        node.close()
        node.destroy_node()
        if rclpy.ok():
            rclpy.shutdown()
    return 0


def main_for(make_node: Callable[[], TcvadsNode], name: str) -> Callable[[], None]:
    """The console entry point of a node."""

    def main() -> None:
        sys.exit(run(make_node, name))

    return main
