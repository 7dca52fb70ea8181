# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""What coarse_node and fine_node share: the rclpy adapter around the plain logic.

Everything here is ROS wiring (parameter declaration, QoS, the inference thread, /diagnostics,
signals, the process's main); each camera's subscription, frame clock, statistics and status
are `camera.Camera`'s. The decisions it applies are made by plain, tested code: `parameters`
(specs, validation), `messages` (conversion, message fields, diagnostic levels), `stream`
(newest-wins slot, statistics) and `runtime.sampling` (frame numbers from the camera's stamps,
one frame per snippet).

Cameras: a node reads one camera (``image_topic``) or several (``cameras``, NAME=TOPIC each).
Each camera's callback reads only the header stamp from the serialized message, numbers the
frame from it (`FrameClock`: frames lost in transport leave gaps, counted) and asks the node
whether it needs that frame (`wants`: one per snippet); only those go to the camera's
`LatestSlot` and are deserialized, so a frame is copied into Python and decoded only when it
will be used. One worker thread owns the backend (TensorRT/CUDA work stays on one thread): it
takes the newest frame of every camera that has one (`take_each`), converts them and runs them
through the model together (`process`: one batched backbone call in coarse_node); a slow model
drops (and counts) stale frames instead of queueing them. /diagnostics carries one status per
camera.

Lifecycle: both nodes are managed nodes (`rclpy.lifecycle`). configure reads the bundle, loads
and warms the graphs (TensorRT builds or loads its engines here) and makes the outputs; activate
subscribes to the camera and lets the outputs publish; deactivate pauses (frames are no longer
taken, the open event ends with reason ``paused``, /diagnostics says so); cleanup frees the
models. With ``autostart`` (the default) the node goes to active by itself at start, and a
bundle that cannot be loaded stops the process with one line and status 2, as before managed
nodes; ``~/enable`` (std_srvs/SetBool) activates and deactivates for systems that do not drive
lifecycles.

Shutdown: SIGINT and SIGTERM only set a flag (rclpy's own handlers, which invalidate the
context at once, are not installed); the main thread then closes the node while the context is
still valid, so what the node owes (the open event's end, a pending explanation) is stored and
published before rclpy shuts down. A second signal is logged and otherwise ignored.
"""

from __future__ import annotations

import copy
import difflib
import gc
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import rclpy
from builtin_interfaces.msg import Time
from diagnostic_msgs.msg import DiagnosticArray
from rcl_interfaces.msg import (
    FloatingPointRange,
    IntegerRange,
    ParameterDescriptor,
    SetParametersResult,
)
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.executors import ExternalShutdownException, MultiThreadedExecutor
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from rclpy.logging import get_logger
from rclpy.parameter import Parameter
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSPolicyKind, QoSProfile, ReliabilityPolicy
from rclpy.qos_overriding_options import QoSOverridingOptions
from rclpy.signals import SignalHandlerOptions
from std_msgs.msg import Header, String
from std_srvs.srv import SetBool
from tcvads_msgs.msg import AnomalyEvent, AnomalyExplanation
from vision_msgs.msg import Classification, ObjectHypothesis

from tcvads_ros.errors import TcvadsError
from tcvads_ros.nodes import parameters
from tcvads_ros.nodes.camera import STEADY, Camera, camera_qos
from tcvads_ros.nodes.messages import (
    MessageTypes,
    classification_message,
    explanation_json_fields,
    explanation_message,
    frame_from_message,
)
from tcvads_ros.nodes.stream import LatestSlot, take_each
from tcvads_ros.runtime.backends import create_backend, resolve_kind
from tcvads_ros.runtime.event_store import EventStore
from tcvads_ros.runtime.explanation import Explanation
from tcvads_ros.runtime.fine import evidence_clip_file
from tcvads_ros.runtime.frames import Frame
from tcvads_ros.runtime.image_convert import ImageConversionError
from tcvads_ros.runtime.model_card import describe, footage_warning
from tcvads_ros.runtime.stats import Counters

try:  # cv_bridge where it is installed; the project's NumPy conversion everywhere else
    from cv_bridge import CvBridge
except ImportError:
    CvBridge = None

# The classes the typed messages are built of (`messages.anomaly_message`, `explanation_message`).
TYPES = MessageTypes(header=Header, time=Time, anomaly_event=AnomalyEvent, anomaly_explanation=AnomalyExplanation,
                     hypothesis=ObjectHypothesis)
# Sensor-data QoS with a queue of one frame (best effort, volatile).
CAMERA_QOS = camera_qos("best_effort", 1)
# Events: reliable, and the last few kept for late joiners (a dashboard started after an alarm).
EVENT_QOS = QoSProfile(
    history=HistoryPolicy.KEEP_LAST,
    depth=10,
    reliability=ReliabilityPolicy.RELIABLE,
    durability=DurabilityPolicy.TRANSIENT_LOCAL,
)
# The heat map is a live view: newest only, best effort.
VIEW_QOS = CAMERA_QOS
# Parameters every rclpy node understands besides the ones it declares.
ROS_PARAMETER_PREFIXES = (parameters.QOS_OVERRIDES,)
# The QoS policies of the outputs that a user may override with
# `qos_overrides.<topic>.publisher.<policy>` parameters, as in every Jazzy node (rclpy declares
# them, read-only, when the publisher is made; the camera subscription's: `camera.CAMERA_POLICIES`).
OUTPUT_POLICIES = (QoSPolicyKind.HISTORY, QoSPolicyKind.DEPTH, QoSPolicyKind.RELIABILITY, QoSPolicyKind.DURABILITY)


def descriptor(spec: parameters.ParameterSpec) -> ParameterDescriptor:
    """The ParameterDescriptor of a spec: type, description, range, read-only."""
    fields = spec.descriptor_fields()
    fields["integer_range"] = [IntegerRange(**r) for r in fields.get("integer_range", [])]
    fields["floating_point_range"] = [FloatingPointRange(**r) for r in fields.get("floating_point_range", [])]
    return ParameterDescriptor(**fields)


def declared_default(spec: parameters.ParameterSpec) -> Any:
    """What `declare_parameter` takes for a spec's default: an empty string array is declared by
    its type (rclpy would read ``[]`` as a byte array) and stays unset until given."""
    if spec.type == "string_array":
        return list(spec.default) if spec.default else Parameter.Type.STRING_ARRAY
    return spec.default


SUCCESS, FAILURE = TransitionCallbackReturn.SUCCESS, TransitionCallbackReturn.FAILURE


class TcvadsNode(LifecycleNode):
    """Parameters, lifecycle, cameras (`Camera`), inference thread and /diagnostics; subclasses
    add the model (`load`, `pause`, `finish`, `unload`) and what it does with frames (`wants`,
    `process`)."""

    def __init__(self, name: str, **node_options: Any) -> None:
        """`node_options` go to rclpy's Node (tests pass parameter_overrides). With parameter
        ``autostart`` the node is active when this returns, or raises the reason it could not
        configure (TcvadsError: the process exits 2)."""
        super().__init__(name, **node_options)
        specs = parameters.specs_for(name)
        self._check_overrides(name, specs)
        for spec in specs:
            self.declare_parameter(spec.name, declared_default(spec), descriptor(spec))
        self.values: dict[str, Any] = {s.name: self._declared_value(s) for s in specs}
        self.store: EventStore | None = None  # `open_store`
        problem = parameters.check_parameters(self.values)
        if problem:
            raise TcvadsError(f"{name}: {problem}")
        if not self.values["bundle"]:
            raise TcvadsError(f"{name}: parameter 'bundle' is empty; pass bundle:=/path/to/bundle")
        if hasattr(self, "add_pre_set_parameters_callback"):  # Jazzy and later; Humble refuses ints
            self.add_pre_set_parameters_callback(self._coerce_parameters)
        self.add_on_set_parameters_callback(self._on_set_parameters)
        self.backend_name = "not loaded"
        self.bridge = CvBridge() if CvBridge is not None else None
        self.bundle: Any = None  # `load`
        # The cameras (`cameras`, or the one of `image_topic`), each with its own frame clock,
        # statistics and slot; one inference thread takes from every slot (one condition wakes it).
        wakeup = threading.Condition()
        self.cameras = [Camera(self, camera, topic, wakeup)
                        for camera, topic in parameters.camera_topics(self.values).items()]
        # Counts of the node rather than of one camera (announcements fine_node refused), shown
        # in every camera's status.
        self.node_counts = Counters()
        self._worker: threading.Thread | None = None
        self.idle_s = 0.5  # the inference thread's wait for a frame before it calls `idle`
        self.exit_code: int | None = None  # set to end the process (`run`): the camera is stuck
        self._failure: BaseException | None = None  # why the last configure failed
        self._bringing_up = False
        # Diagnostics report in every state (unconfigured, inactive: paused), on the steady clock:
        # with use_sim_time the node's clock follows /clock, and a timer on it would never fire
        # before a simulator or a bag starts /clock, nor after it stops.
        self.diagnostics = self.create_output(DiagnosticArray, "/diagnostics", 10, managed=False)
        self.create_timer(self.values["diagnostics_period"], self._publish_diagnostics,
                          callback_group=MutuallyExclusiveCallbackGroup(), clock=STEADY)
        self.create_service(SetBool, "~/enable", self._on_enable, callback_group=MutuallyExclusiveCallbackGroup())
        if self.values["autostart"]:
            self.bring_up()

    # -- lifecycle ----------------------------------------------------------------------------
    @property
    def state(self) -> str:
        """The lifecycle state's label: unconfigured, inactive, active, finalized."""
        return self._state_machine.current_state[1]

    def bring_up(self) -> None:
        """configure, then activate; raises why configure failed (TcvadsError for a bad bundle or
        setting: the process exits 2 with that line)."""
        self._bringing_up = True  # the caller reports a failure (run: one FATAL line, status 2)
        try:
            configured = self.state != "unconfigured" or self.trigger_configure() == SUCCESS
        finally:
            self._bringing_up = False
        if not configured:
            raise self._failure or TcvadsError(f"{self.get_name()}: configure failed")
        if self.state == "inactive" and self.trigger_activate() != SUCCESS:
            raise TcvadsError(f"{self.get_name()}: activate failed")

    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Load the bundle and the graphs, make the outputs (`load`); a failure leaves the node
        unconfigured with its reason logged."""
        self._failure = None
        try:
            self.load()
        except Exception as error:  # noqa: BLE001 - rclpy would swallow it without a word
            self._failure = error
            if not self._bringing_up:
                self.get_logger().error(f"cannot configure: {error}")
            self._release()
            return FAILURE
        self.get_logger().info("configured (inactive): models loaded, not taking frames yet")
        return super().on_configure(state)

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        result = super().on_activate(state)  # the outputs publish from now on
        self.activated()
        self.start_camera()
        self.get_logger().info("active: taking camera frames")
        return result

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Pause: stop taking frames, end the open event (reason ``paused``) and publish what that
        owes, then the outputs go quiet."""
        self.stop_camera()
        self.pause()
        self.get_logger().info("inactive (paused): not taking camera frames")
        return super().on_deactivate(state)

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Free the models: finish what is owed (`finish`), then drop the bundle and graphs."""
        self.finish()
        self._release()
        self.get_logger().info("unconfigured: models freed")
        return super().on_cleanup(state)

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        """From any state: stop the camera; the open event ends (reason ``shutdown``) and what is
        owed is stored and published (`finish`)."""
        if state.label == "active":
            self.stop_camera()
        if state.label in ("active", "inactive"):
            self.finish()  # the models go with the process
        if self.exit_code is None:
            self.exit_code = 0  # finalized: nothing left to do; the process ends (`run`)
        return super().on_shutdown(state)

    def _release(self) -> None:
        for publisher in list(self._managed_entities):
            self.destroy_lifecycle_publisher(publisher)
        self.unload()
        self.bundle, self.backend_name = None, "not loaded"
        gc.collect()  # the graphs' sessions hold the memory; free it now, not at some later collection

    def _on_enable(self, request: SetBool.Request, response: SetBool.Response) -> SetBool.Response:
        """~/enable: true configures (if needed) and activates; false deactivates (pauses)."""
        try:
            if request.data:
                self.bring_up()
            elif self.state == "active":
                self.trigger_deactivate()
        except Exception as error:  # noqa: BLE001 - the caller gets the reason
            self.get_logger().error(f"~/enable {request.data}: {error}")
            response.success, response.message = False, str(error)
            return response
        response.success, response.message = True, self.state
        return response

    def load(self) -> None:
        """configure: read the bundle, load its graphs, open the store, make the outputs."""
        raise NotImplementedError

    def activated(self) -> None:
        """activate, before the camera starts: publish what was owed while inactive."""

    def pause(self) -> None:
        """deactivate: end each camera's open event (reason ``paused``), publish it, and count it
        in the camera's ``paused_events``."""

    def finish(self) -> None:
        """cleanup / shutdown: end the open event, finish explanations, close the store."""

    def unload(self) -> None:
        """cleanup: drop the models and what refers to them."""

    # -- parameters ---------------------------------------------------------------------------
    def _declared_value(self, spec: parameters.ParameterSpec) -> Any:
        """A declared parameter's value; an array left unset (`declared_default`) is its default."""
        value = self.get_parameter_or(spec.name).value
        return list(spec.default) if value is None and spec.type == "string_array" else value

    def _check_overrides(self, name: str, specs: tuple[parameters.ParameterSpec, ...]) -> None:
        """Judge the `-p` / params-file values before rclpy declares them, so a wrong one gets one
        clear line (TcvadsError: the process exits 2) instead of rclpy's traceback, and an integer
        given for a double is accepted as the float it stands for."""
        overrides = self._parameter_overrides  # rclpy's override table (Humble and Jazzy)
        ours = {spec.name: spec for spec in specs}
        for key, param in list(overrides.items()):
            spec = ours.get(key)
            if key.startswith(ROS_PARAMETER_PREFIXES):  # rclpy applies it; a wrong value gets one line
                problem = parameters.check_qos_override(key, param.value)
                if problem:
                    raise TcvadsError(f"{name}: parameter {problem}")
                continue
            if spec is None:
                if key in parameters.BY_NAME or self.has_parameter(key):
                    continue  # the other node's, or rclpy's own (use_sim_time, ...)
                close = difflib.get_close_matches(key, list(parameters.BY_NAME), n=1)
                hint = f" (did you mean '{close[0]}'?)" if close else ""
                raise TcvadsError(f"{name}: unknown parameter '{key}'{hint}")
            if param.type_ == Parameter.Type.NOT_SET and spec.type == "string_array":
                continue  # an empty YAML list, which rcl reads as unset: the default, empty
            value = parameters.coerce(spec, param.value)
            problem = parameters.check_value(spec, value)
            if problem:
                raise TcvadsError(f"{name}: parameter {problem}")
            overrides[key] = Parameter(key, value=value)

    def _coerce_parameters(self, params: list[Parameter]) -> list[Parameter]:
        """`ros2 param set threshold_on 1`: the integer becomes the double it stands for."""
        specs = parameters.BY_NAME
        return [Parameter(p.name, value=parameters.coerce(specs[p.name], p.value)) if p.name in self.values else p
                for p in params]

    def _on_set_parameters(self, params: list) -> SetParametersResult:
        changes = {p.name: p.value for p in params if p.name in self.values}
        if not changes:  # rclpy's own parameters (qos_overrides.*, declared with the publishers)
            return SetParametersResult(successful=True)
        problem = parameters.check_change(self.values, changes) or self.check_change(changes)
        if problem:
            return SetParametersResult(successful=False, reason=problem)
        self.values.update(changes)
        self.apply_change(changes)
        return SetParametersResult(successful=True)

    def create_output(self, msg_type: type, topic: str, qos: QoSProfile | int, managed: bool = True) -> Any:
        """A publisher of the node's output whose QoS `qos_overrides.<topic>.publisher.<policy>`
        parameters may change (`OUTPUT_POLICIES`); `managed`: a lifecycle publisher, silent
        unless the node is active, destroyed at cleanup."""
        # rclpy writes the overrides into the profile it is given: a copy keeps the shared ones intact.
        profile = copy.copy(qos) if isinstance(qos, QoSProfile) else qos
        make = self.create_lifecycle_publisher if managed else self.create_publisher
        return make(msg_type, topic, profile, qos_overriding_options=QoSOverridingOptions(OUTPUT_POLICIES))

    def create_explanation_outputs(self) -> None:
        """The fine stage's outputs: ``anomaly/category``, ``anomaly/explanation`` (typed) and
        ``anomaly/explanation/json`` (reliable, transient-local). Not lifecycle publishers: the
        explanation of an event announced before a deactivate is published when it is ready."""
        self.category = self.create_output(Classification, "anomaly/category", EVENT_QOS, managed=False)
        self.explanation = self.create_output(AnomalyExplanation, "anomaly/explanation", EVENT_QOS, managed=False)
        self.explanation_json = self.create_output(String, "anomaly/explanation/json", EVENT_QOS, managed=False)

    def publish_explanation(self, explanation: Explanation, header: Header | None) -> None:
        """Publish a stored explanation (`fine.FineStage`'s callback, on its thread); the category
        and the explanation carry `header`, the header of the frame that announced the event's start."""
        self.category.publish(classification_message(
            Classification, ObjectHypothesis, header or Header(), explanation.class_scores))
        self.explanation.publish(explanation_message(TYPES, explanation, header, self._evidence_clip(explanation)))
        self.explanation_json.publish(String(**explanation_json_fields(explanation)))

    def _evidence_clip(self, explanation: Explanation) -> str:
        """The path of the event's evidence clip where this node writes them and it was written."""
        folder = parameters.output_dir(self.values)
        if folder is None or not self.values["evidence_clip"]:
            return ""
        path = evidence_clip_file(folder, explanation.event_id)
        return str(path) if path.is_file() else ""

    def check_change(self, changes: dict[str, Any]) -> str | None:
        """Node-specific refusal of a parameter change (after the generic checks)."""
        return None

    def apply_change(self, changes: dict[str, Any]) -> None:
        """Apply accepted changes to the running model."""

    # -- cameras ------------------------------------------------------------------------------
    @property
    def camera_reliability(self) -> str:
        """The reliability of the (first) camera's subscription, once made."""
        return self.cameras[0].reliability

    def start_camera(self) -> None:
        """Subscribe to every camera and start the inference thread (activate)."""
        for camera in self.cameras:
            camera.start()
        self._worker = threading.Thread(target=self._work, args=([c.slot for c in self.cameras],),
                                        name=f"{self.get_name()}-inference", daemon=True)
        self._worker.start()
        bridge = "cv_bridge" if self.bridge is not None else "numpy (cv_bridge not installed)"
        self.get_logger().info(f"image conversion: {bridge}")
        self._announce_model(", ".join(c.topic for c in self.cameras))

    def _announce_model(self, topics: str) -> None:
        """Say what the bundle was trained on (its model card), and warn once where a bundle of
        synthetic drawings reads a camera: a topic is never a `tcvads synth` video."""
        self.get_logger().info(describe(self.bundle.card, self.bundle.root))
        warning = footage_warning(self.bundle.card, f"camera topic {topics}", source_is_synthetic=False)
        if warning:
            self.get_logger().warning(warning)

    def stop_camera(self) -> None:
        """Unsubscribe from every camera and stop the inference thread (deactivate, shutdown); a
        frame left in a slot is counted as dropped, as is any arriving from now on."""
        for camera in self.cameras:
            camera.stop()
        if self._worker is not None:
            self._worker.join(timeout=10.0)
            self._worker = None

    def wants(self, camera: Camera, number: int) -> bool:
        """Whether frame `number` of `camera` goes to the inference thread (called in the
        camera's callback)."""
        return True

    def _work(self, slots: list[LatestSlot]) -> None:
        """The inference thread: the newest frame of every camera that has one, converted, then
        through the model together (`process`: one batched backbone call in coarse_node)."""
        while not all(slot.closed for slot in slots):
            ready = []
            for camera, item in zip(self.cameras, take_each(slots, timeout=self.idle_s)):
                if item is None:
                    continue
                raw, arrived, number = item
                try:
                    frame = frame_from_message(camera.deserialize(raw), number, self.bridge)
                except ImageConversionError as error:
                    camera.stats.reject(error.reason)
                    self.get_logger().warning(
                        f"frame {number}{' of camera ' + camera.name if camera.name else ''} rejected ({error}); "
                        "counted in /diagnostics", throttle_duration_sec=self.values["reject_log_period"],
                    )
                    continue
                ready.append((camera, frame, arrived))
            if not ready:
                try:
                    self.idle()
                except TcvadsError as error:  # what the model refused is counted where it was refused
                    self.get_logger().warning(str(error), throttle_duration_sec=self.values["reject_log_period"])
                continue
            started = time.monotonic()
            try:
                self.process([(camera, frame) for camera, frame, _ in ready])
            except TcvadsError as error:  # bad input the model refuses: count it, keep running
                for camera, _, _ in ready:
                    camera.stats.reject("model_refused")
                self.get_logger().warning(str(error), throttle_duration_sec=self.values["reject_log_period"])
                continue
            done = time.monotonic()
            for camera, _, arrived in ready:
                camera.stats.processed(done - arrived, model_s=done - started)

    def process(self, frames: list[tuple[Camera, Frame]]) -> None:
        """Run the model on the newest frame of each camera that has one (on the inference
        thread)."""
        raise NotImplementedError

    def idle(self) -> None:
        """No frame came for `idle_s` seconds (on the inference thread): what the model can do
        without one (coarse_node: score the snippets whose sound has come since)."""

    # -- diagnostics --------------------------------------------------------------------------
    def config_problem(self, camera: Camera) -> str | None:
        """Why the settings cannot work on `camera`'s stream as measured so far (an ERROR in
        its /diagnostics status), or None."""
        return None

    def make_backend(self, bundle: Any) -> Any:
        """The backend of parameter ``backend`` for `bundle`: for ``tensorrt`` with the engine
        ``precision`` and ``engine_cache_dir``; for ``torch``, the graph modules of the training
        run the bundle came from, loaded here (the runtime reads no training run)."""
        options: dict[str, Any] = {}
        kind = resolve_kind(self.values["backend"])
        if kind == "tensorrt":
            options["precision"] = self.values["precision"]
            if self.values["engine_cache_dir"]:
                options["cache_dir"] = Path(self.values["engine_cache_dir"]).expanduser()
        if kind == "torch":
            from tcvads_ros.training.export import source_run_modules

            options["modules"] = source_run_modules(bundle)
        return create_backend(self.values["backend"], bundle, device=self.values["device"], **options)

    def open_store(self) -> EventStore:
        """The node's event store (parameter ``event_store``): records the disk refuses are held
        in memory and retried at each diagnostics report; their counts are reported as
        ``store_...`` (`EventStore.counts`)."""
        self.store = EventStore(Path(self.values["event_store"]).expanduser())
        return self.store

    def _store_totals(self) -> dict[str, int]:
        if self.store is None:
            return {}
        self.store.retry()
        return {f"store_{key}": value for key, value in self.store.counts().items()}

    def _publish_diagnostics(self) -> None:
        """One DiagnosticArray: a status per camera (`Camera.status`)."""
        name = f"{self.get_namespace().rstrip('/')}/{self.get_name()}"
        shared = {**self.node_counts.snapshot(), **self._store_totals()}
        array = DiagnosticArray()
        array.header.stamp = self.get_clock().now().to_msg()
        array.status = [camera.status(name, self.state, shared,
                                      self.config_problem(camera) if self.bundle is not None else None)
                        for camera in self.cameras]
        self.diagnostics.publish(array)

    # -- shutdown -----------------------------------------------------------------------------
    def close(self) -> None:
        """Shut down (the shutdown transition, from any state): stop the camera and let the model
        finish (the open event ends, stores flush), while the context can still publish."""
        if self.state != "finalized":
            self.trigger_shutdown()


def run(make_node: Callable[[], TcvadsNode], name: str, args: list[str] | None = None) -> int:
    """A node's main: load before spinning, exit 2 with one clear line when that fails, spin on
    a MultiThreadedExecutor, and on SIGINT / SIGTERM close the node (publishing what it owes)
    before rclpy shuts down."""
    stop = threading.Event()

    def on_signal(signum: int, _frame: Any) -> None:
        if stop.is_set():
            get_logger(name).warning(f"{signal.Signals(signum).name} again: already shutting down")
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, on_signal)
    rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO)
    try:
        try:
            node = make_node()
        except TcvadsError as error:
            get_logger(name).fatal(f"cannot start: {error}")
            return 2
        executor = MultiThreadedExecutor()
        executor.add_node(node)
        spinner = threading.Thread(target=_spin, args=(executor,), name=f"{name}-executor", daemon=True)
        spinner.start()
        while not stop.wait(0.2) and rclpy.ok() and spinner.is_alive() and node.exit_code is None:
            pass
        node.get_logger().info("shutting down: ending the open event, finishing explanations")
        node.close()  # the executor still spins, so replies and late messages are still served
        executor.shutdown(timeout_sec=5.0)
        spinner.join(timeout=5.0)  # rcl aborts the process if a node goes while a wait is on it
        node.destroy_node()
        return node.exit_code or 0
    finally:
        if rclpy.ok():
            rclpy.shutdown()


def _spin(executor: MultiThreadedExecutor) -> None:
    try:
        executor.spin()
    except ExternalShutdownException:
        pass


def main_for(make_node: Callable[[], TcvadsNode], name: str) -> Callable[[], None]:
    """The console entry point of a node."""

    def main() -> None:
        code = run(make_node, name)
        # Python restores the default handlers while it exits, and a signal then (a second
        # Ctrl-C) would kill the process with a traceback: ignore them for the last moments.
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, signal.SIG_IGN)
        sys.exit(code)

    return main
