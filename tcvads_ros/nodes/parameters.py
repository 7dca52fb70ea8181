# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""The nodes' ROS parameters, as data.

One table (`PARAMETERS`) is the single source of truth for every parameter of `coarse_node` and
`fine_node`: the nodes declare their `ParameterDescriptor`s from it, `config/edge.yaml` is
generated from it (`python -m tcvads_ros.nodes.parameters > config/edge.yaml`), the parameter table
of docs/ros2.md is generated from it (`--markdown`), and the same validation runs on a YAML file
here and on a `ros2 param set` in the running node. Nothing in this module imports ROS.

`config/edge.yaml` uses one `/**:` block for both nodes: it applies whatever namespace the launch
puts them in, and each node declares only the parameters it uses (the others are ignored, since
the nodes do not set `automatically_declare_parameters_from_overrides`), so values the nodes
share (bundle, backend, device, camera topic) are written once and cannot disagree.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import re
import sys
import textwrap
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tcvads_ros.errors import ConfigError
from tcvads_ros.runtime.backends import BACKENDS
from tcvads_ros.runtime.backends.tensorrt import PRECISIONS
from tcvads_ros.runtime.clips import CLIP_CACHE_SECONDS, CLIP_TIMEOUT_S
from tcvads_ros.runtime.events import EventConfig, threshold_problem

COARSE = "coarse_node"
FINE = "fine_node"
BOTH = (COARSE, FINE)

# rcl_interfaces/msg/ParameterType values, by the type names used here.
ROS_TYPE = {"bool": 1, "integer": 2, "double": 3, "string": 4, "string_array": 9}
PYTHON_TYPE = {"bool": bool, "integer": int, "double": float, "string": str, "string_array": list}

# The threshold parameters take this value to mean "the bundle's calibrated threshold".
FROM_BUNDLE = -1.0
# output_dir values that mean "write no files" (rcl's parser refuses an empty `-p output_dir:=`).
OFF = ("", "none", "off")
# A camera's name in `cameras`: a ROS name token, since it names the camera's topics
# (``<name>/anomaly/heatmap``) and its /diagnostics status.
CAMERA_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
# camera_qos values: the reliability of the camera subscription.
CAMERA_QOS = ("auto", "reliable", "best_effort")
# The event timings' defaults are the event state machine's own (runtime/events.py).
_EVENT = EventConfig()
# Parameters `qos_overrides.<topic>.<publisher|subscription>.<policy>`: rclpy's QoS overrides.
QOS_OVERRIDES = "qos_overrides."
# The values rclpy accepts for the overridable policies the nodes declare (ROS-free copy of its
# enum names, lower case, as the parameters spell them).
QOS_POLICY_VALUES = {
    "reliability": ("reliable", "best_effort", "system_default", "best_available"),
    "durability": ("volatile", "transient_local", "system_default", "best_available"),
    "history": ("keep_last", "keep_all", "system_default"),
}


@dataclass(frozen=True)
class ParameterSpec:
    """One parameter: what `declare_parameter` needs and what a user needs to set it.

    Args:
        name: parameter name.
        type: "bool", "integer", "double", "string" or "string_array" (a list of strings).
        default: value when neither the YAML file nor the launch overrides it.
        description: one line shown by `ros2 param describe` and as the YAML comment.
        nodes: the nodes that declare it.
        range: (from, to, step) inclusive, for numbers (step 0 = any value in between).
        choices: the allowed values, for strings.
        read_only: True where a change needs a restart (models, topics, threads).
    """

    name: str
    type: str
    default: Any
    description: str
    nodes: tuple[str, ...] = BOTH
    range: tuple[float, float, float] | None = None
    choices: tuple[str, ...] = ()
    read_only: bool = False

    def constraints(self) -> str:
        """Plain-English constraints for `ParameterDescriptor.additional_constraints`."""
        parts = []
        if self.choices:
            parts.append("one of: " + ", ".join(self.choices))
        if self.read_only:
            parts.append("read-only: set it in the YAML file or launch arguments, then restart")
        return "; ".join(parts)


    def descriptor_fields(self) -> dict[str, Any]:
        """rcl_interfaces/ParameterDescriptor fields; a range goes under `integer_range` or
        `floating_point_range` as one {from_value, to_value, step} dict (step 0 = continuous)."""
        fields: dict[str, Any] = {
            "name": self.name,
            "type": ROS_TYPE[self.type],
            "description": self.description,
            "additional_constraints": self.constraints(),
            "read_only": self.read_only,
        }
        if self.range is not None:
            cast = int if self.type == "integer" else float
            key = "integer_range" if self.type == "integer" else "floating_point_range"
            fields[key] = [dict(zip(("from_value", "to_value", "step"), map(cast, self.range)))]
        return fields


PARAMETERS: tuple[ParameterSpec, ...] = (
    # -- model and input, shared by both nodes ------------------------------------------------
    ParameterSpec(
        "bundle", "string", "",
        "model bundle folder written by `tcvads export` (required; the node exits if it fails "
        "verification)",
        read_only=True,
    ),
    ParameterSpec(
        "backend", "string", "auto",
        "inference backend: auto picks tensorrt, then onnxruntime",
        choices=BACKENDS, read_only=True,
    ),
    ParameterSpec(
        "device", "string", "cpu",
        "device for inference: cpu, cuda or cuda:N",
        read_only=True,
    ),
    ParameterSpec(
        "precision", "string", "fp16",
        "TensorRT engine precision (backend tensorrt; the others run the bundle's fp32 graphs)",
        choices=PRECISIONS, read_only=True,
    ),
    ParameterSpec(
        "engine_cache_dir", "string", "",
        "folder of the TensorRT engines built from the bundle (backend tensorrt), reused while the "
        "graphs, TensorRT, GPU and precision match; empty = ~/.cache/tcvads_ros/tensorrt",
        read_only=True,
    ),
    ParameterSpec(
        "autostart", "bool", True,
        "bring the node to active at start (configure: load the bundle; activate: take frames); "
        "false leaves it unconfigured for `ros2 lifecycle set` or ~/enable",
        read_only=True,
    ),
    ParameterSpec(
        "image_topic", "string", "/camera/image_raw",
        "camera topic (sensor_msgs/Image); with compressed=true, IMAGE_TOPIC/compressed is read",
        read_only=True,
    ),
    ParameterSpec(
        "cameras", "string_array", [],
        "several cameras in one node, each NAME=IMAGE_TOPIC (NAME: a letter, then letters, digits "
        "or _), with compressed=true IMAGE_TOPIC/compressed; each has its own frame clock, events "
        "(field camera), /diagnostics status and heat map; one batched model and one fine stage "
        "serve them all; empty = one camera on image_topic",
        read_only=True,
    ),
    ParameterSpec(
        "audio_topic", "string", "",
        "the camera's sound: audio_common_msgs/AudioDataStamped topic of raw PCM (audio_capture "
        "with format wave publishes /audio/audio_stamped), its rate, channels and format read from "
        "AudioInfo on audio_info beside it; aligned to the frames by stamps; read only with a "
        "bundle that listens (an audio graph); empty = no sound, vision only",
        nodes=(COARSE,), read_only=True,
    ),
    ParameterSpec(
        "audio_topics", "string_array", [],
        "sound per camera of cameras, each NAME=AUDIO_TOPIC (one topic may serve several cameras); "
        "a camera not listed uses audio_topic",
        nodes=(COARSE,), read_only=True,
    ),
    ParameterSpec(
        "compressed", "bool", False,
        "subscribe to sensor_msgs/CompressedImage on IMAGE_TOPIC/compressed instead of raw images",
        read_only=True,
    ),
    ParameterSpec(
        "camera_qos", "string", "auto",
        "reliability of the camera subscription: auto = reliable when every publisher on the "
        "topic offers it (fewer lost frames for large images), else best effort (which any "
        "publisher can serve)",
        choices=CAMERA_QOS, read_only=True,
    ),
    ParameterSpec(
        "camera_queue_depth", "integer", 10,
        "camera messages the subscription queues while the callback is busy or starved of CPU "
        "(the callback only reads the stamp; a third of a second at 30 fps)",
        range=(1, 100, 1), read_only=True,
    ),
    ParameterSpec(
        "camera_fps", "double", 0.0,
        "the camera's frame rate, which numbers frames from their header stamps (a snippet is "
        "16 camera frames); 0 = estimate it from the stamps",
        range=(0.0, 1000.0, 0.0), read_only=True,
    ),
    ParameterSpec(
        "event_store", "string", "~/.ros/tcvads_ros/events.sqlite",
        "SQLite (WAL) file where events and explanations are stored before they are published",
        read_only=True,
    ),
    ParameterSpec(
        "diagnostics_period", "double", 1.0,
        "seconds between /diagnostics messages (rates are measured over this window)",
        range=(0.1, 60.0, 0.0), read_only=True,
    ),
    ParameterSpec(
        "reject_log_period", "double", 5.0,
        "at most one warning per this many seconds about frames that cannot be converted",
        range=(0.5, 3600.0, 0.0),
    ),
    ParameterSpec(
        "camera_timeout_s", "double", 10.0,
        "seconds without a frame, from a camera that was publishing and whose publisher is "
        "still matched, before the subscription is made again; as long again: ERROR; as long "
        "again: exit with status 1 when exit_when_stuck (respawn); 0 = off",
        range=(0.0, 3600.0, 0.0),
    ),
    ParameterSpec(
        "exit_when_stuck", "bool", True,
        "exit (status 1, for the launch file's respawn) when a new camera subscription did not "
        "bring frames back either (camera_timeout_s)",
    ),
    # -- coarse stage --------------------------------------------------------------------------
    ParameterSpec(
        "site_profile", "string", "",
        "site profile JSON from `tcvads calibrate` for this camera and bundle: its thresholds "
        "replace the bundle's where threshold_on / threshold_off are -1, and its timings those "
        "timing parameters left at their defaults; empty = none",
        nodes=(COARSE,), read_only=True,
    ),
    ParameterSpec(
        "site_profiles", "string_array", [],
        "site profile per camera of cameras, each NAME=PATH; a camera not listed uses "
        "site_profile",
        nodes=(COARSE,), read_only=True,
    ),
    ParameterSpec(
        "threshold_on", "double", FROM_BUNDLE,
        "score that starts an event; -1 = the site profile's, else the bundle's calibrated "
        "coarse threshold",
        nodes=(COARSE,), range=(-1.0, 1.0, 0.0),
    ),
    ParameterSpec(
        "threshold_off", "double", FROM_BUNDLE,
        "score below which an event ends (hysteresis, <= threshold_on); -1 = the site "
        "profile's when threshold_on is -1 too, else derived from threshold_on",
        nodes=(COARSE,), range=(-1.0, 1.0, 0.0),
    ),
    ParameterSpec(
        "min_duration_s", "double", float(_EVENT.min_duration_s),
        "seconds the score must stay high before an event start is announced",
        nodes=(COARSE,), range=(0.0, 60.0, 0.0),
    ),
    ParameterSpec(
        "merge_gap_s", "double", float(_EVENT.merge_gap_s),
        "seconds the score may stay low before the event ends (a return above threshold_on "
        "continues it)",
        nodes=(COARSE,), range=(0.0, 60.0, 0.0),
    ),
    ParameterSpec(
        "cooldown_s", "double", float(_EVENT.cooldown_s),
        "seconds after an event end before a new event may start",
        nodes=(COARSE,), range=(0.0, 3600.0, 0.0),
    ),
    ParameterSpec(
        "update_interval_s", "double", float(_EVENT.update_interval_s),
        "seconds between 'update' messages on /anomaly while an event is open; 0 = none",
        nodes=(COARSE,), range=(0.0, 3600.0, 0.0),
    ),
    ParameterSpec(
        "gap_timeout_s", "double", float(_EVENT.gap_timeout_s),
        "a jump in camera time longer than this (camera stopped, clock reset) ends the open event; "
        "at least 1.5 snippets of the camera (16 frames each), else refused, or ERROR in "
        "/diagnostics while the rate is only estimated",
        nodes=(COARSE,), range=(0.1, 3600.0, 0.0),
    ),
    ParameterSpec(
        "heatmap_alpha", "double", 0.5,
        "opacity of the heat map over the frame on anomaly/heatmap (rendered only when subscribed)",
        nodes=(COARSE,), range=(0.0, 1.0, 0.0),
    ),
    ParameterSpec(
        "fine_stage_in_process", "bool", False,
        "run the fine stage inside coarse_node on its own frame buffer (then no fine_node is "
        "needed)",
        nodes=(COARSE,), read_only=True,
    ),
    ParameterSpec(
        "confirm_with_fine", "bool", False,
        "with fine_stage_in_process: announce each event's start on /anomaly only with the fine "
        "stage's verdict, confirmed or disputed (disputed ones are announced too), about 6 s "
        "later; false = at once, the verdict following on the explanation; false takes the site "
        "profile's",
        nodes=(COARSE,), read_only=True,
    ),
    # -- fine stage ----------------------------------------------------------------------------
    ParameterSpec(
        "output_dir", "string", "~/.ros/tcvads_ros/evidence",
        "folder for each explained event's files, named in the explanation: the heat-map PNG "
        "(coarse_node with fine_stage_in_process) and the evidence clip; none = no files",
        read_only=True,
    ),
    ParameterSpec(
        "evidence_clip", "bool", False,
        "also write each explained event's clip (the frames the fine stage saw) as an MJPEG AVI in "
        "output_dir",
        read_only=True,
    ),
    # -- fine stage ----------------------------------------------------------------------------
    ParameterSpec(
        "max_pending_clips", "integer", 2,
        "finished clips waiting for the fine stage; a clip that finds the queue full is dropped "
        "(counted)",
        range=(1, 16, 1), read_only=True,
    ),
    ParameterSpec(
        "clip_cache_seconds", "double", CLIP_CACHE_SECONDS,
        "seconds of camera frames fine_node keeps to cut event clips from",
        nodes=(FINE,), range=(2.0, 600.0, 0.0), read_only=True,
    ),
    ParameterSpec(
        "clip_timeout_s", "double", CLIP_TIMEOUT_S,
        "camera seconds after an event start after which its clip is classified with the frames "
        "that arrived",
        nodes=(FINE,), range=(0.0, 600.0, 0.0),
    ),
)

BY_NAME = {spec.name: spec for spec in PARAMETERS}
# The event state machine's timings among the parameters (all of EventConfig but the thresholds).
EVENT_TIMINGS = tuple(f.name for f in dataclasses.fields(EventConfig) if not f.name.startswith("threshold_"))


def specs_for(node: str) -> tuple[ParameterSpec, ...]:
    """The parameters `node` ("coarse_node" or "fine_node") declares."""
    return tuple(spec for spec in PARAMETERS if node in spec.nodes)


def defaults(node: str) -> dict[str, Any]:
    return {spec.name: spec.default for spec in specs_for(node)}


def coerce(spec: ParameterSpec, value: Any) -> Any:
    """`value` as the parameter's type where that loses nothing: an integer given for a double
    (`-p threshold_on:=1`, or `threshold_on: 1` in YAML) becomes a float, as users expect. ROS
    parameters are statically typed and rclpy would refuse it; anything else is left for
    `check_value` to judge."""
    if spec.type == "double" and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if spec.type == "string_array" and isinstance(value, tuple):
        return list(value)
    return value


def check_value(spec: ParameterSpec, value: Any) -> str | None:
    """Why `value` is not acceptable for `spec` (after `coerce`), or None when it is."""
    kind = PYTHON_TYPE[spec.type]
    value = coerce(spec, value)
    # bool, though an int subclass in Python, is neither an integer nor a double here.
    if isinstance(value, bool) != (kind is bool) or not isinstance(value, kind):
        return f"{spec.name} must be a {spec.type}, got {value!r} ({_ros_type_name(value)})"
    if kind is list and not all(isinstance(item, str) for item in value):
        return f"{spec.name} must be a list of strings, got {value!r}"
    if spec.range is not None:
        low, high, _ = spec.range
        if not (isinstance(value, (int, float)) and math.isfinite(value) and low <= value <= high):
            return f"{spec.name} must be in [{low:g}, {high:g}], got {value!r}"
    if spec.choices and value not in spec.choices:
        return f"{spec.name} must be one of {', '.join(spec.choices)}, got {value!r}"
    return None


def _ros_type_name(value: Any) -> str:
    for name, kind in (("bool", bool), ("integer", int), ("double", float), ("string", str), ("array", list)):
        if isinstance(value, kind):
            return name
    return type(value).__name__


def check_qos_override(name: str, value: Any) -> str | None:
    """Why `value` cannot be the QoS override parameter `name`, or None when rclpy will take it
    (other policies than the nodes declare are ignored by rclpy, as in every node)."""
    policy = name.rsplit(".", 1)[-1]
    if policy == "depth":
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            return f"{name} must be an integer >= 0, got {value!r}"
    elif policy in QOS_POLICY_VALUES and value not in QOS_POLICY_VALUES[policy]:
        return f"{name} must be one of {', '.join(QOS_POLICY_VALUES[policy])}, got {value!r}"
    return None


def check_parameters(values: Mapping[str, Any]) -> str | None:
    """Why a set of parameter values is inconsistent, or None when it is acceptable.

    Checks each value against its spec, then the rules between parameters.
    """
    for name, value in values.items():
        spec = BY_NAME.get(name)
        if spec is None:
            return f"unknown parameter '{name}'"
        problem = check_value(spec, value)
        if problem:
            return problem
    on = values.get("threshold_on", FROM_BUNDLE)
    off = values.get("threshold_off", FROM_BUNDLE)
    for name, value in (("threshold_on", on), ("threshold_off", off)):
        if value != FROM_BUNDLE and value < 0.0:
            return f"{name} must be -1 (from the bundle) or in [0, 1], got {value!r}"
    if values.get("confirm_with_fine") and values.get("fine_stage_in_process") is False:
        return ("confirm_with_fine needs fine_stage_in_process:=true (a separate fine_node's verdict "
                "follows on the explanation topic)")
    if on != FROM_BUNDLE and off != FROM_BUNDLE:
        return threshold_problem(on, off)
    try:
        camera_topics(values)
        site_profile_paths(values)
        audio_topics(values)
    except ConfigError as error:
        return str(error)
    return None


def _named_entries(parameter: str, entries: list[str], what: str) -> dict[str, str]:
    """``NAME=VALUE`` entries of a string-array parameter -> {name: value}; ConfigError naming
    the entry that is wrong."""
    out: dict[str, str] = {}
    for entry in entries:
        name, sep, value = (part.strip() for part in entry.partition("="))
        if not sep or not value:
            raise ConfigError(f"{parameter} entry {entry!r} must be NAME={what}")
        if not CAMERA_NAME.fullmatch(name):
            raise ConfigError(f"{parameter} entry {entry!r}: the camera name must be a letter, then letters, "
                              "digits or _")
        if name in out:
            raise ConfigError(f"{parameter} names camera {name!r} twice")
        out[name] = value
    return out


def camera_topics(values: Mapping[str, Any]) -> dict[str, str]:
    """The node's cameras: {name: image topic} from `cameras`, or {"": image_topic} (one unnamed
    camera, as before cameras could be named) where it is empty. ConfigError for a wrong entry."""
    entries = list(values.get("cameras", ()))
    if not entries:
        return {"": values.get("image_topic", BY_NAME["image_topic"].default)}
    return _named_entries("cameras", entries, "IMAGE_TOPIC")


def audio_topics(values: Mapping[str, Any]) -> dict[str, str]:
    """Each camera's audio topic ("" for none): `audio_topics` where it names the camera, else
    `audio_topic`. ConfigError for a wrong entry or a camera not in `cameras`."""
    return _per_camera(values, "audio_topics", "AUDIO_TOPIC", values.get("audio_topic", ""))


def _per_camera(values: Mapping[str, Any], parameter: str, what: str, default: str) -> dict[str, str]:
    """{camera: value} of a NAME=VALUE string-array parameter, `default` for a camera it does not
    name; ConfigError for a wrong entry or a camera not in `cameras`."""
    cameras = camera_topics(values)
    named = _named_entries(parameter, list(values.get(parameter, ())), what)
    unknown = [name for name in named if name not in cameras]
    if unknown:
        known = ", ".join(name for name in cameras if name) or "none: cameras is empty"
        raise ConfigError(f"{parameter} names camera {unknown[0]!r}, which is not in cameras ({known})")
    return {name: named.get(name, default).strip() for name in cameras}


def site_profile_paths(values: Mapping[str, Any]) -> dict[str, str]:
    """Each camera's site profile path ("" for none): `site_profiles` where it names the camera,
    else `site_profile`. ConfigError for a wrong entry or a camera not in `cameras`."""
    return _per_camera(values, "site_profiles", "PATH", values.get("site_profile", ""))


def check_change(current: Mapping[str, Any], changes: Mapping[str, Any]) -> str | None:
    """Why a `ros2 param set` of `changes` on a node whose values are `current` must be refused."""
    for name in changes:
        if name in BY_NAME and BY_NAME[name].read_only:
            return f"{name} is read-only: set it in the YAML file or launch arguments and restart"
    return check_parameters({**current, **changes})


def check_yaml(document: Any, where: str = "config") -> dict[str, Any]:
    """Validate a parameter file's content (as loaded by yaml.safe_load); return its parameters.

    Accepts the layout of config/edge.yaml: node-name keys (or `/**`), each with
    `ros__parameters`. Raises ConfigError naming the key that is wrong.
    """
    if not isinstance(document, Mapping) or not document:
        raise ConfigError(f"{where}: expected node names mapping to 'ros__parameters'")
    merged: dict[str, Any] = {}
    for node, section in document.items():
        if not isinstance(section, Mapping) or set(section) != {"ros__parameters"}:
            raise ConfigError(f"{where}: '{node}' must hold exactly one key, 'ros__parameters'")
        params = section["ros__parameters"]
        if not isinstance(params, Mapping):
            raise ConfigError(f"{where}: '{node}.ros__parameters' must be a mapping")
        for name, value in params.items():
            spec = BY_NAME.get(name)
            if spec is None:
                raise ConfigError(
                    f"{where}: unknown parameter '{node}.ros__parameters.{name}' "
                    f"(known: {', '.join(BY_NAME)})"
                )
            problem = check_value(spec, value)
            if problem:
                raise ConfigError(f"{where}: '{node}.ros__parameters.{name}': {problem}")
        merged.update(params)
    problem = check_parameters(merged)
    if problem:
        raise ConfigError(f"{where}: {problem}")
    return merged


def event_arguments(values: Mapping[str, Any]) -> dict[str, Any]:
    """The event parameters as `site_profile.event_settings` takes them: a -1 threshold is None
    (the site profile's, else the bundle's), and a timing left at its default is left out, so
    that a site profile's timing applies; a timing set to another value wins."""
    return {
        "threshold_on": None if values["threshold_on"] == FROM_BUNDLE else values["threshold_on"],
        "threshold_off": None if values["threshold_off"] == FROM_BUNDLE else values["threshold_off"],
        "timings": {name: values[name] for name in EVENT_TIMINGS if values[name] != BY_NAME[name].default},
    }


def output_dir(values: Mapping[str, Any]) -> Path | None:
    """The evidence folder, or None when `output_dir` is one of `OFF` (or empty)."""
    folder = values["output_dir"].strip()
    return None if folder.lower() in OFF else Path(folder).expanduser()


def _yaml_value(spec: ParameterSpec) -> str:
    value = spec.default
    if spec.type == "bool":
        return "true" if value else "false"
    if spec.type == "string":
        return _yaml_string(value)
    if spec.type == "double":
        return repr(float(value))
    if spec.type == "string_array":
        return "[" + ", ".join(_yaml_string(item) for item in value) + "]"
    return str(value)


def _yaml_string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _allowed(spec: ParameterSpec) -> str:
    if spec.range is not None:
        low, high, _ = spec.range
        return f"[{low:g}, {high:g}]"
    if spec.choices:
        return " | ".join(spec.choices)
    return ""


def render_yaml() -> str:
    """config/edge.yaml: every parameter with its default and a comment."""
    lines = [
        "# Parameters of coarse_node and fine_node (tcvads_ros). Generated from",
        "# tcvads_ros/nodes/parameters.py: python -m tcvads_ros.nodes.parameters > config/edge.yaml",
        "# One /** block serves both nodes in any namespace; each node reads the keys it declares.",
        "# [read-only] parameters need a restart; the others can be changed with `ros2 param set`.",
        "/**:",
        "  ros__parameters:",
    ]
    for spec in PARAMETERS:
        notes = ", ".join(
            part
            for part in (
                " and ".join(spec.nodes),
                spec.type,
                _allowed(spec),
                "read-only" if spec.read_only else "",
            )
            if part
        )
        comment = textwrap.wrap(f"{spec.description} [{notes}]", width=94)
        lines += [f"    # {line}" for line in comment]
        lines.append(f"    {spec.name}: {_yaml_value(spec)}")
    return "\n".join(lines) + "\n"


def render_markdown() -> str:
    """The parameter table of docs/ros2.md."""
    rows = [
        "| name | node | type | default | allowed | read-only | description |",
        "|---|---|---|---|---|---|---|",
    ]
    for spec in PARAMETERS:
        nodes = ", ".join(f"`{n}`" for n in spec.nodes)
        default = f"`{_yaml_value(spec)}`"
        allowed = _allowed(spec).replace("|", "\\|")
        read_only = "yes" if spec.read_only else ""
        description = spec.description.replace("|", "\\|")
        rows.append(
            f"| `{spec.name}` | {nodes} | {spec.type} | {default} | {allowed} | {read_only} "
            f"| {description} |"
        )
    return "\n".join(rows) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Print config/edge.yaml (default) or the docs/ros2.md parameter table."
    )
    parser.add_argument("--markdown", action="store_true", help="print the Markdown table")
    args = parser.parse_args(argv)
    sys.stdout.write(render_markdown() if args.markdown else render_yaml())
    return 0


if __name__ == "__main__":
    sys.exit(main())
