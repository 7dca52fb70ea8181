# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""Named backbone settings, as data (open_clip names its architectures the same way).

A model section's ``backbone`` is a preset name (``backbone: tiny``), a mapping of
`MobileNetConfig` keys, or both: ``backbone: {preset: tiny, input_size: 64}`` starts from the
preset and changes what it names. `create_model` resolves the name, so configs, the demo and
the tests share one definition of each size, and the run folder stores the resolved settings.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Any

from tcvads_ros.errors import ConfigError

BACKBONES: dict[str, dict[str, Any]] = {
    # CI-sized: trains in seconds on a CPU (config/train/smoke.yaml, the tests)
    "tiny": {"width_mult": 0.25, "input_size": 32, "feature_dim": 32},
    # the synthetic benchmark's runs (config/train/synthetic.yaml)
    "small": {"width_mult": 0.35, "input_size": 96, "feature_dim": 128},
    # the paper's backbone (MobileNetV2 width, 224 px input, 1280-d features)
    "paper": {"width_mult": 1.0, "input_size": 224, "feature_dim": 1280},
}


def backbone_settings(value: str | Mapping[str, Any]) -> dict[str, Any]:
    """The `MobileNetConfig` keys of a ``backbone`` entry: a preset name and/or settings."""
    if isinstance(value, str):
        value = {"preset": value}
    if not isinstance(value, Mapping):
        raise ConfigError(f"backbone: expected a preset name or a mapping, got {value!r}")
    settings = dict(value)
    name = settings.pop("preset", None)
    if name is None:
        return settings
    if name not in BACKBONES:
        close = difflib.get_close_matches(str(name), BACKBONES, n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        raise ConfigError(f"unknown backbone preset '{name}'{hint} (choose from {', '.join(BACKBONES)})")
    return {**BACKBONES[name], **settings}
