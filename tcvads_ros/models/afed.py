# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""AFED teacher (paper §IV.A(1)): interpretable backbone -> Enhanced RWKV -> per-snippet logit.

The teacher reads either frames (one per snippet, through its own InterpretableMobileNet) or
precomputed per-snippet features of any width (e.g. VadCLIP's 512-d CLIP features), which is
how most users train. Either way the features are projected to ``rwkv_dim`` (Linear +
LayerNorm, our choice: it decouples the RWKV width from the feature width), modelled by the
Enhanced RWKV (Exp. (8)-(9)) and scored by a linear binary head trained with the BCE of
Exp. (10) under multiple-instance learning (tcvads_ros/training/losses.py).

With an audio branch (``audio``, docs/audio.md) each snippet's log-mel patch is encoded and
aligned with the video (`audio.AudioFusion`: CMHKF's top-k window, or a simpler rule), and the
audio feature is concatenated to the visual one before the projection: the RWKV reads both.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import torch
from torch import nn

from tcvads_ros.models.audio import AudioFusion, AudioFusionConfig
from tcvads_ros.models.mobilenet import InterpretableMobileNet, MobileNetConfig
from tcvads_ros.models.rwkv import EnhancedRWKV
from tcvads_ros.models.shapes import check_shape


@dataclass
class AFEDConfig:
    """Args:
        input: "frames" (own backbone) or "features" (precomputed, ``input_dim`` wide).
        input_dim: feature width in "features" mode.
        backbone: InterpretableMobileNet config in "frames" mode.
        rwkv_dim: width of the Enhanced RWKV.
        n_blocks: TimeMix blocks (paper: 2).
        bidirectional: Vision-RWKV Bi-WKV (an offline teacher may look ahead).
        chunk_size: chunk length of the RWKV sequence form.
        dropout: dropout before the head.
        audio: the audio branch (its encoder and fusion), or None: vision only.
    """

    input: Literal["frames", "features"] = "frames"
    input_dim: int = 512
    backbone: MobileNetConfig = field(default_factory=MobileNetConfig)
    rwkv_dim: int = 512
    n_blocks: int = 2
    bidirectional: bool = False
    chunk_size: int = 16
    dropout: float = 0.1
    audio: AudioFusionConfig | None = None


class AFEDTeacher(nn.Module):
    """Coarse teacher: x (frames (B, T, 3, H, W) or features (B, T, D_in)) -> logits (B, T).

    With an audio branch, ``audio`` (B, T, n_mels, frames) log-mel patches and ``heard`` (B, T)
    (1 where the snippet has sound) join the call; without them every snippet is unheard. A
    teacher without an audio branch ignores them.
    """

    def __init__(self, cfg: AFEDConfig | None = None):
        super().__init__()
        self.cfg = cfg = cfg or AFEDConfig()
        self.backbone = InterpretableMobileNet(cfg.backbone) if cfg.input == "frames" else None
        in_dim = self.backbone.feature_dim if self.backbone is not None else cfg.input_dim
        self.audio = AudioFusion(cfg.audio, in_dim) if cfg.audio is not None else None
        audio_dim = cfg.audio.embedding_dim if cfg.audio is not None else 0
        self.project = nn.Sequential(nn.Linear(in_dim + audio_dim, cfg.rwkv_dim), nn.LayerNorm(cfg.rwkv_dim))
        self.rwkv = EnhancedRWKV(cfg.rwkv_dim, cfg.n_blocks, cfg.bidirectional, cfg.chunk_size)
        self.dropout = nn.Dropout(cfg.dropout)
        self.head = nn.Linear(cfg.rwkv_dim, 1)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Per-snippet features (B, T, D): backbone features of frames, or the features as given."""
        if self.backbone is None:
            check_shape(x, ("B", "T", self.cfg.input_dim), "AFEDTeacher (features)")
            return x
        return self.backbone.encode_sequence(x)

    def score(self, features: torch.Tensor, audio: torch.Tensor | None = None,
              heard: torch.Tensor | None = None) -> torch.Tensor:
        """Per-snippet features (B, T, D) -> logits (B, T): everything after the backbone (the
        audio branch included)."""
        if self.audio is not None:
            features = torch.cat([features, self.audio(features, audio, heard)], dim=-1)
        h = self.rwkv(self.project(features))
        return self.head(self.dropout(h)).squeeze(-1)

    def forward(self, x: torch.Tensor, audio: torch.Tensor | None = None,
                heard: torch.Tensor | None = None) -> torch.Tensor:
        return self.score(self.encode(x), audio, heard)
