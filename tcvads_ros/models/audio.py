# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""The audio branch's encoder: a snippet's log-mel patch -> its audio feature (docs/audio.md).

Trained from scratch with the coarse stage: no pretrained audio weights can be downloaded where
this project is built, so, like the backbone and CLIP stand-ins, it learns only what the
training data's sounds teach it (on `tcvads synth --audio`, drawings of sounds).

The patch comes from `runtime.audio_features.log_mel` (the one feature rule, NumPy, shared by
training and the edge). Three strided 3x3 convolutions over (mel, time), each with batch norm
and ReLU, then the maximum over time (an impulse anywhere in the window counts) and the mean
over mel bands, and a linear layer to `embedding_dim`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from tcvads_ros.errors import ConfigError


@dataclass
class AudioEncoderConfig:
    n_mels: int = 40
    embedding_dim: int = 32
    channels: int = 16  # of the first convolution; doubled by the second and third


class AudioEncoder(nn.Module):
    """log-mel patches (N, n_mels, frames) -> audio features (N, embedding_dim)."""

    def __init__(self, cfg: AudioEncoderConfig | None = None):
        super().__init__()
        self.cfg = cfg = cfg or AudioEncoderConfig()
        if min(cfg.n_mels, cfg.embedding_dim, cfg.channels) < 1:
            raise ConfigError("audio encoder: n_mels, embedding_dim and channels must be >= 1")
        c = cfg.channels
        self.input_norm = nn.BatchNorm2d(1)  # log energies have a large offset (silence is -13.8)
        layers, width = [], 1
        for out in (c, 2 * c, 2 * c):
            layers += [nn.Conv2d(width, out, 3, stride=2, padding=1), nn.BatchNorm2d(out), nn.ReLU()]
            width = out
        self.convs = nn.Sequential(*layers)
        self.head = nn.Linear(width, cfg.embedding_dim)

    @property
    def embedding_dim(self) -> int:
        return self.cfg.embedding_dim

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        if mel.dim() != 3 or mel.shape[1] != self.cfg.n_mels:
            if not torch.jit.is_tracing():
                raise ValueError(f"AudioEncoder takes (N, {self.cfg.n_mels}, frames), got {tuple(mel.shape)}")
        x = self.convs(self.input_norm(mel.unsqueeze(1)))  # (N, C, mel', time')
        return self.head(x.amax(dim=3).mean(dim=2))
