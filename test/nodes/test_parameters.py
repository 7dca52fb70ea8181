# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""Parameter specs, their validation, and config/edge.yaml kept in step with them."""

from __future__ import annotations

import dataclasses
import math
import re
from pathlib import Path

import pytest
import yaml

from tcvads_ros.errors import ConfigError
from tcvads_ros.nodes import parameters as P
from tcvads_ros.runtime.events import HYSTERESIS, EventConfig
from tcvads_ros.runtime.pipeline import PipelineConfig
from tcvads_ros.runtime.site_profile import event_settings

REPO = Path(__file__).resolve().parents[2]
EDGE_YAML = REPO / "config" / "edge.yaml"


def test_names_are_unique_and_every_spec_is_well_formed():
    assert len(P.BY_NAME) == len(P.PARAMETERS)
    for spec in P.PARAMETERS:
        assert re.fullmatch(r"[a-z][a-z0-9_]*", spec.name), spec.name
        assert spec.type in P.ROS_TYPE and spec.nodes and set(spec.nodes) <= set(P.BOTH)
        assert spec.description and "\n" not in spec.description
        assert P.check_value(spec, spec.default) is None, spec.name  # defaults are valid
        if spec.range is not None:
            assert spec.type in ("integer", "double") and spec.range[0] < spec.range[1]
        if spec.choices:
            assert spec.type == "string" and spec.default in spec.choices


def test_each_node_declares_what_it_needs():
    coarse = {s.name for s in P.specs_for(P.COARSE)}
    fine = {s.name for s in P.specs_for(P.FINE)}
    assert {"bundle", "backend", "device", "image_topic", "compressed"} <= coarse & fine
    assert {"threshold_on", "threshold_off", "heatmap_alpha", "fine_stage_in_process"} <= coarse - fine
    assert {"clip_cache_seconds", "clip_timeout_s"} <= fine - coarse
    assert "max_pending_clips" in coarse & fine
    # Things a running model cannot change are read-only (restart needed).
    for name in ("bundle", "backend", "device", "image_topic", "compressed"):
        assert P.BY_NAME[name].read_only


def test_event_timing_defaults_are_the_state_machines_own():
    defaults = EventConfig()
    for f in dataclasses.fields(EventConfig):
        if f.name in P.BY_NAME and not f.name.startswith("threshold"):
            assert P.BY_NAME[f.name].default == getattr(defaults, f.name)


@pytest.mark.parametrize(
    ("name", "value", "problem"),
    [
        ("threshold_on", 0.7, None),
        ("threshold_on", 1, None),  # an integer for a double is what users write: accepted
        ("threshold_on", 2, "must be in"),  # ... and range-checked as the float it stands for
        ("threshold_on", "0.5", "must be a double"),
        ("threshold_on", 1.5, "must be in"),
        ("threshold_on", math.nan, "must be in"),
        ("compressed", 1, "must be a bool"),
        ("max_pending_clips", True, "must be a integer"),
        ("max_pending_clips", 2.0, "must be a integer, got 2.0 (double)"),
        ("camera_qos", "best-effort", "must be one of"),
        ("max_pending_clips", 0, "must be in"),
        ("max_pending_clips", 4, None),
        ("backend", "tensorrt", None),
        ("backend", "openvino", "must be one of"),
        ("bundle", 3, "must be a string"),
    ],
)
def test_check_value(name, value, problem):
    result = P.check_value(P.BY_NAME[name], value)
    if problem is None:
        assert result is None
    else:
        assert result is not None and problem in result and name in result


def test_thresholds_follow_the_hysteresis_rule():
    assert P.check_parameters({"threshold_on": 0.6, "threshold_off": 0.4}) is None
    assert P.check_parameters({"threshold_on": P.FROM_BUNDLE, "threshold_off": 0.9}) is None
    assert "must not exceed" in P.check_parameters({"threshold_on": 0.4, "threshold_off": 0.6})
    assert "-1 (from the bundle)" in P.check_parameters({"threshold_on": -0.5})
    assert "unknown parameter" in P.check_parameters({"treshold_on": 0.5})


def test_check_change_refuses_read_only_and_inconsistent_changes():
    current = P.defaults(P.COARSE)
    assert P.check_change(current, {"threshold_on": 0.8}) is None
    assert "read-only" in P.check_change(current, {"bundle": "/other"})
    current = {**current, "threshold_on": 0.5}
    assert "must not exceed" in P.check_change(current, {"threshold_off": 0.6})
    # Both in one call is judged on the result, not one at a time.
    assert P.check_change(current, {"threshold_on": 0.8, "threshold_off": 0.6}) is None


def test_edge_yaml_is_exactly_the_generated_file():
    assert EDGE_YAML.read_text(encoding="utf-8") == P.render_yaml(), (
        "config/edge.yaml is out of date: python -m tcvads_ros.nodes.parameters > config/edge.yaml"
    )


def test_edge_yaml_lists_every_parameter_with_a_comment_and_its_type():
    text = EDGE_YAML.read_text(encoding="utf-8")
    document = yaml.safe_load(text)
    values = P.check_yaml(document, str(EDGE_YAML))
    assert list(values) == [s.name for s in P.PARAMETERS]
    lines = text.splitlines()
    for spec in P.PARAMETERS:
        (i,) = [n for n, line in enumerate(lines) if line.strip().startswith(f"{spec.name}:")]
        assert lines[i - 1].strip().startswith("#"), f"{spec.name} has no comment"
        assert type(values[spec.name]) is P.PYTHON_TYPE[spec.type], spec.name
        assert values[spec.name] == spec.default


def test_check_yaml_names_the_wrong_key():
    with pytest.raises(ConfigError, match=r"/\*\*\.ros__parameters\.heatmap_alpha.*\[0, 1\]"):
        P.check_yaml({"/**": {"ros__parameters": {"heatmap_alpha": 2.0}}})
    with pytest.raises(ConfigError, match="unknown parameter 'coarse_node.ros__parameters.bundel'"):
        P.check_yaml({"coarse_node": {"ros__parameters": {"bundel": "x"}}})
    with pytest.raises(ConfigError, match="exactly one key"):
        P.check_yaml({"/**": {"bundle": "x"}})
    with pytest.raises(ConfigError, match="must not exceed"):
        P.check_yaml({"/**": {"ros__parameters": {"threshold_on": 0.3, "threshold_off": 0.4}}})


def test_markdown_table_has_one_row_per_parameter():
    rows = [r for r in P.render_markdown().splitlines() if r.startswith("| `")]
    assert [r.split("`")[1] for r in rows] == [s.name for s in P.PARAMETERS]
    assert all(r.count(" | ") == 6 for r in rows)  # pipes inside cells are escaped


def test_coerce_turns_integers_into_doubles_only():
    assert P.coerce(P.BY_NAME["threshold_on"], 1) == 1.0 and isinstance(P.coerce(P.BY_NAME["threshold_on"], 1), float)
    assert P.coerce(P.BY_NAME["threshold_on"], True) is True  # bool is no number here
    assert P.coerce(P.BY_NAME["max_pending_clips"], 2.0) == 2.0 and isinstance(P.coerce(P.BY_NAME["max_pending_clips"], 2.0), float)


def test_check_yaml_accepts_an_integer_for_a_double():
    assert P.check_yaml({"/**": {"ros__parameters": {"threshold_on": 1}}})["threshold_on"] == 1


def test_constraints_text_for_the_descriptor():
    assert "one of: auto, onnxruntime" in P.BY_NAME["backend"].constraints()
    assert "read-only" in P.BY_NAME["bundle"].constraints()
    assert P.BY_NAME["heatmap_alpha"].constraints() == ""


def thresholds(values, bundle_threshold):
    """(on, off) of coarse_node's parameter values with a bundle whose threshold is `bundle_threshold`."""
    events = event_settings(bundle_threshold, **P.event_arguments(values))
    return events.threshold_on, events.threshold_off


def pipeline_config(values, bundle_threshold):
    """coarse_node's PipelineConfig from its parameter values, as the node builds it."""
    events = event_settings(bundle_threshold, **P.event_arguments(values))
    return PipelineConfig.for_coarse_node(values, events, P.output_dir(values))


def test_thresholds_from_the_bundle_or_the_parameters():
    values = P.defaults(P.COARSE)
    on, off = thresholds(values, bundle_threshold=0.6)
    assert on == 0.6 and off == pytest.approx(0.6 * HYSTERESIS)
    assert thresholds({**values, "threshold_on": 0.7}, 0.6)[0] == 0.7
    assert thresholds({**values, "threshold_off": 0.5}, 0.6) == (0.6, 0.5)
    with pytest.raises(ConfigError, match="the bundle"):
        thresholds({**values, "threshold_off": 0.5}, 0.3)


def test_pipeline_config_carries_every_coarse_parameter(tmp_path):
    values = {**P.defaults(P.COARSE), "threshold_on": 0.8, "threshold_off": 0.6, "min_duration_s": 1.5,
              "cooldown_s": 4.0, "fine_stage_in_process": True, "max_pending_clips": 3,
              "output_dir": str(tmp_path)}
    cfg = pipeline_config(values, bundle_threshold=0.5)
    assert (cfg.events.threshold_on, cfg.events.threshold_off) == (0.8, 0.6)
    assert (cfg.events.min_duration_s, cfg.events.cooldown_s) == (1.5, 4.0)
    assert cfg.fine and cfg.fine_queue == 3 and cfg.output_dir == tmp_path and cfg.heatmap
    assert not cfg.evidence_clip
    assert pipeline_config({**values, "evidence_clip": True}, 0.5).evidence_clip
    for off in ("", "none", "OFF", " off "):  # rcl's parser refuses an empty -p output_dir:=
        cfg = pipeline_config({**values, "output_dir": off, "evidence_clip": True}, 0.5)
        assert cfg.output_dir is None and not cfg.heatmap and not cfg.evidence_clip
    assert pipeline_config({**values, "output_dir": "~/x"}, 0.5).output_dir == Path("~/x").expanduser()


def test_readme_parameter_table_is_the_generated_one():
    text = (REPO / "docs" / "ros2.md").read_text(encoding="utf-8")
    table = text.split("<!-- parameters:begin -->\n", 1)[1].split("<!-- parameters:end -->", 1)[0]
    assert table.strip() == P.render_markdown().strip(), (
        "docs/ros2.md parameter table is out of date: python -m tcvads_ros.nodes.parameters --markdown"
    )


def test_descriptor_fields_fit_the_humble_parameter_descriptor():
    from rosbags.typesys import Stores, get_typestore

    ts = get_typestore(Stores.ROS2_HUMBLE)
    Descriptor = ts.types["rcl_interfaces/msg/ParameterDescriptor"]
    Integer, Floating = ts.types["rcl_interfaces/msg/IntegerRange"], ts.types["rcl_interfaces/msg/FloatingPointRange"]
    for spec in P.PARAMETERS:
        fields = spec.descriptor_fields()
        fields["integer_range"] = [Integer(**r) for r in fields.get("integer_range", [])]
        fields["floating_point_range"] = [Floating(**r) for r in fields.get("floating_point_range", [])]
        msg = Descriptor(**{"dynamic_typing": False, **fields})
        back = ts.deserialize_cdr(ts.serialize_cdr(msg, msg.__msgtype__), msg.__msgtype__)
        assert back.type == P.ROS_TYPE[spec.type] and back.read_only == spec.read_only
        if spec.type == "integer" and spec.range:
            assert (back.integer_range[0].from_value, back.integer_range[0].to_value) == spec.range[:2]
        if spec.type == "double" and spec.range:
            assert back.floating_point_range[0].to_value == spec.range[1]
            assert not back.integer_range
    assert P.BY_NAME["max_pending_clips"].descriptor_fields()["integer_range"] == [
        {"from_value": 1, "to_value": 16, "step": 1}]


def test_confirm_with_fine_reaches_the_pipeline_and_needs_the_in_process_fine_stage(tmp_path):
    values = {**P.defaults(P.COARSE), "fine_stage_in_process": True}
    assert values["confirm_with_fine"] is False
    cfg = pipeline_config(values, 0.5)
    assert cfg.confirm_with_fine is None and cfg.site_profile is None  # the profile's, else off
    cfg = pipeline_config({**values, "confirm_with_fine": True, "site_profile": str(tmp_path / "s.json")}, 0.5)
    assert cfg.confirm_with_fine is True and cfg.site_profile == str(tmp_path / "s.json")
    assert P.check_parameters({**values, "confirm_with_fine": True}) is None
    problem = P.check_parameters({**values, "confirm_with_fine": True, "fine_stage_in_process": False})
    assert "needs fine_stage_in_process" in problem
    assert "read-only" in P.check_change(values, {"confirm_with_fine": True})


def test_cameras_are_name_topic_pairs_and_site_profiles_name_one_of_them():
    values = P.defaults(P.COARSE)
    assert P.camera_topics(values) == {"": "/camera/image_raw"}  # empty: today's one camera
    assert P.site_profile_paths({**values, "site_profile": "/p.json"}) == {"": "/p.json"}
    two = {**values, "cameras": ["front=/front/image_raw", " back = /back/image "], "site_profile": "/all.json",
           "site_profiles": ["back=/back.json"]}
    assert P.check_parameters(two) is None
    assert P.camera_topics(two) == {"front": "/front/image_raw", "back": "/back/image"}
    assert P.site_profile_paths(two) == {"front": "/all.json", "back": "/back.json"}
    for change, problem in [
        ({"cameras": ["front"]}, "cameras entry 'front' must be NAME=IMAGE_TOPIC"),
        ({"cameras": ["front="]}, "cameras entry 'front=' must be NAME=IMAGE_TOPIC"),
        ({"cameras": ["front cam=/x"]}, "the camera name must be a letter, then letters, digits or _"),
        ({"cameras": ["a=/x", "a=/y"]}, "cameras names camera 'a' twice"),
        ({"cameras": ["a=/x"], "site_profiles": ["b=/p"]}, "site_profiles names camera 'b', which is not in cameras (a)"),
        ({"site_profiles": ["b=/p"]}, "not in cameras (none: cameras is empty)"),
        ({"cameras": "a=/x"}, "cameras must be a string_array, got 'a=/x' (string)"),
        ({"cameras": ["a=/x", 3]}, "cameras must be a list of strings"),
    ]:
        assert problem in P.check_parameters({**values, **change}), change


def test_string_arrays_in_yaml_and_the_descriptor():
    spec = P.BY_NAME["cameras"]
    assert spec.descriptor_fields()["type"] == 9  # rcl_interfaces PARAMETER_STRING_ARRAY
    assert P.check_value(spec, ("a=/x",)) is None  # rclpy hands arrays over as tuples too
    document = {"/**": {"ros__parameters": {"cameras": ["front=/f", "back=/b"], "site_profiles": ["back=/p"]}}}
    assert P.check_yaml(document)["cameras"] == ["front=/f", "back=/b"]
    with pytest.raises(ConfigError, match="site_profiles names camera 'side'"):
        P.check_yaml({"/**": {"ros__parameters": {"cameras": ["front=/f"], "site_profiles": ["side=/p"]}}})
    assert "    cameras: []\n" in P.render_yaml()


def test_audio_topics_give_each_camera_its_sound_or_none():
    values = P.defaults(P.COARSE)
    assert values["audio_topic"] == "" and P.audio_topics(values) == {"": ""}  # no sound: vision only
    assert P.audio_topics({**values, "audio_topic": " /audio/audio_stamped "}) == {"": "/audio/audio_stamped"}
    three = {**values, "cameras": ["front=/f", "back=/b", "side=/s"], "audio_topic": "/mic",
             "audio_topics": ["back=/back/audio_stamped", "side=/back/audio_stamped"]}
    assert P.check_parameters(three) is None
    # a camera not listed takes audio_topic; one topic may serve several cameras
    assert P.audio_topics(three) == {"front": "/mic", "back": "/back/audio_stamped", "side": "/back/audio_stamped"}
    assert P.audio_topics({**three, "audio_topic": ""})["front"] == ""
    for change, problem in [
        ({"audio_topics": ["back"]}, "audio_topics entry 'back' must be NAME=AUDIO_TOPIC"),
        ({"audio_topics": ["rear=/x"]}, "audio_topics names camera 'rear', which is not in cameras (front, back, side)"),
        ({"audio_topics": ["back=/x", "back=/y"]}, "audio_topics names camera 'back' twice"),
    ]:
        assert problem in P.check_parameters({**three, **change}), change
    assert "not in cameras (none: cameras is empty)" in P.check_parameters({**values, "audio_topics": ["a=/x"]})
    assert "read-only" in P.check_change(values, {"audio_topic": "/other"})
    assert not [s.name for s in P.specs_for(P.FINE) if s.name.startswith("audio")]  # fine_node hears nothing
