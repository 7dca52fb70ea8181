# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
from dataclasses import dataclass, field

import pytest

from tcvads_ros.configuration import apply_overrides, from_mapping, load_yaml, to_mapping
from tcvads_ros.errors import ConfigError


@dataclass
class Inner:
    kernel_size: int = 3
    tau: float = 0.07


@dataclass
class Outer:
    name: str = "x"
    inner: Inner = field(default_factory=Inner)
    sizes: tuple[int, ...] = (1, 2)


def test_builds_nested_and_roundtrips():
    cfg = from_mapping(Outer, {"inner": {"kernel_size": 5}, "sizes": [3]})
    assert cfg.inner.kernel_size == 5 and cfg.sizes == (3,)
    assert from_mapping(Outer, to_mapping(cfg)) == cfg


def test_unknown_key_names_path_and_suggests():
    with pytest.raises(ConfigError, match=r"'inner.kernal_size'.*did you mean 'kernel_size'"):
        from_mapping(Outer, {"inner": {"kernal_size": 5}})


def test_wrong_type_names_path():
    with pytest.raises(ConfigError, match=r"'inner.kernel_size' must be an integer"):
        from_mapping(Outer, {"inner": {"kernel_size": "five"}})


def test_overrides_and_yaml_errors(tmp_path):
    m = apply_overrides({}, ["inner.tau=0.08", "name=y"])
    assert from_mapping(Outer, m).inner.tau == 0.08
    bad = tmp_path / "bad.yaml"
    bad.write_text("a: [1, 2\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_yaml(bad)
    with pytest.raises(ConfigError, match="not found"):
        load_yaml(tmp_path / "missing.yaml")


def test_scientific_notation_without_a_dot_is_a_number():
    # PyYAML follows YAML 1.1, where 3e-4 (no dot) is a string; people write it anyway
    m = apply_overrides({}, ["inner.tau=3e-4"])
    assert m["inner"]["tau"] == "3e-4"
    assert from_mapping(Outer, m).inner.tau == pytest.approx(3e-4)
    assert from_mapping(Outer, {"inner": {"tau": "-1.5E+2"}}).inner.tau == -150.0
    with pytest.raises(ConfigError, match=r"'inner.tau' must be a number, got '3e-4x'"):
        from_mapping(Outer, {"inner": {"tau": "3e-4x"}})
