# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""Build any TCVADS network by name: ``create_model(name, **cfg)`` (timm/open_clip style).

``cfg`` is a plain mapping (e.g. a YAML section) validated by ``configuration.from_mapping``
against the model's config dataclass, so a wrong key is a ``ConfigError`` naming it. The fine
stage also takes ``class_names`` and ``captions`` (a CaptionBank, a caption file path or a list).
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import nn

from tcvads_ros.configuration import from_mapping
from tcvads_ros.errors import ConfigError
from tcvads_ros.models.afed import AFEDConfig, AFEDTeacher
from tcvads_ros.models.audio import AudioEncoder, AudioEncoderConfig
from tcvads_ros.models.captions import CaptionBank
from tcvads_ros.models.fine import FineConfig, FineStage
from tcvads_ros.models.mobilenet import InterpretableMobileNet, MobileNetConfig
from tcvads_ros.models.presets import backbone_settings
from tcvads_ros.models.qacm import QACM, QACMConfig, QACMModuleConfig, QACMStudent
from tcvads_ros.models.rwkv import EnhancedRWKV, RWKVConfig


@dataclass(frozen=True)
class ModelSpec:
    config: type
    build: Callable[..., nn.Module]
    extra: tuple[str, ...] = ()  # required keyword arguments that are not configuration


def _build_fine(cfg: FineConfig, class_names: list[str], captions: Any) -> FineStage:
    if isinstance(captions, (str, Path)):
        captions = CaptionBank.from_file(captions)
    elif not isinstance(captions, CaptionBank):
        captions = CaptionBank(captions)
    return FineStage(cfg, list(class_names), captions)


MODEL_REGISTRY: dict[str, ModelSpec] = {
    "mobilenet": ModelSpec(MobileNetConfig, InterpretableMobileNet),
    "enhanced_rwkv": ModelSpec(
        RWKVConfig, lambda c: EnhancedRWKV(c.dim, c.n_blocks, c.bidirectional, c.chunk_size, c.window)),
    "afed": ModelSpec(AFEDConfig, AFEDTeacher),
    "audio_encoder": ModelSpec(AudioEncoderConfig, AudioEncoder),
    "qacm": ModelSpec(QACMModuleConfig, lambda c: QACM(
        c.input_dim, c.hidden, c.kernel_size, c.n_layers, c.dilation_base, c.dropout, c.padding)),
    "qacm_student": ModelSpec(QACMConfig, QACMStudent),
    "fine": ModelSpec(FineConfig, _build_fine, ("class_names", "captions")),
}


def model_config(name: str, mapping: dict | None = None):
    """The validated config dataclass of model ``name`` built from ``mapping`` (a ``backbone``
    may name a preset, `presets.BACKBONES`)."""
    mapping = dict(mapping or {})
    if "backbone" in mapping:
        mapping["backbone"] = backbone_settings(mapping["backbone"])
    if name == "mobilenet" and "preset" in mapping:
        mapping = backbone_settings(mapping)
    return from_mapping(_spec(name).config, mapping, where=name)


def create_model(name: str, **cfg) -> nn.Module:
    """Build model ``name`` from configuration keywords (plus the fine stage's extras)."""
    spec = _spec(name)
    extra = {}
    for key in spec.extra:
        if key not in cfg:
            raise ConfigError(f"create_model('{name}') needs '{key}'")
        extra[key] = cfg.pop(key)
    return spec.build(model_config(name, cfg), **extra)


def _spec(name: str) -> ModelSpec:
    if name not in MODEL_REGISTRY:
        close = difflib.get_close_matches(name, MODEL_REGISTRY, n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        raise ConfigError(f"unknown model '{name}'{hint} (choose from {', '.join(MODEL_REGISTRY)})")
    return MODEL_REGISTRY[name]
