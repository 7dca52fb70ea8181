# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""QACM, the Quick Anomaly Classification Module (paper §IV.A(2)): the coarse student.

A 3-layer 1-D temporal CNN over the window of per-frame backbone features, ending in one anomaly
logit per snippet. Interpretation choices (the paper gives no layer details):

- the convolutions are causal (left padding only), so the module runs on a live stream and
  the logit of step t depends on steps ≤ t only;
- the padding repeats the first step (``padding="replicate"``, the default): a video or a stream
  starts as if its first frame had been seen for a whole receptive field. Zero padding instead
  shows the QACM a jump from nothing to the scene at every start, the largest onset it ever
  sees, which it may score like the onset of an anomaly; a camera switched on in a normal
  scene then alarms by itself (docs/runtime.md, "Cold start"). For a constant input every
  position gets the steady-state logit. Repeating each layer's first input equals repeating the
  first frame back in time, since a constant past gives each layer a constant output;
- layer l has dilation ``dilation_base ** l`` (1, 2, 4 by default: a receptive field of 15 steps
  with kernel 3), each followed by ReLU and dropout; a linear head gives the logit;
- ``QACMStream`` keeps one small buffer per layer (its receptive span) and computes only the
  newest output of each layer per pushed frame, which equals the windowed result exactly.

It is trained by distillation from the AFED teacher (Exp. (11), (14); see tcvads_ros/training/losses.py).

With an audio branch (``QACMConfig.audio``, docs/audio.md) the student has its own small
`AudioEncoder`, trained with the QACM by distillation, and the QACM reads the visual feature and
the snippet's audio feature side by side (one QACM path, as the bundle's ``coarse_qacm`` graph
does). The audio is taken as stamped: snippet t's own patch, nothing from later snippets, so the
student stays causal and streams; the teacher's alignment window is not copied.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from tcvads_ros.errors import ConfigError
from tcvads_ros.models.audio import AudioEncoder, AudioEncoderConfig
from tcvads_ros.models.mobilenet import InterpretableMobileNet, MobileNetConfig
from tcvads_ros.models.shapes import check_shape

PADDING = ("replicate", "zeros")


class QACM(nn.Module):
    """Causal temporal CNN: features (B, T, D) -> logits (B, T).

    Args:
        input_dim: width of the per-frame features.
        hidden: channels of every temporal convolution.
        kernel_size: temporal kernel of every layer.
        n_layers: number of convolution layers (the paper's 3).
        dilation_base: layer l uses dilation ``dilation_base ** l`` (1 = no dilation).
        dropout: dropout after each layer (training only).
        padding: what the causal convolutions see before the first step: "replicate" (the first
            step, repeated) or "zeros".
    """

    def __init__(self, input_dim: int, hidden: int = 64, kernel_size: int = 3, n_layers: int = 3,
                 dilation_base: int = 2, dropout: float = 0.1, padding: str = "replicate"):
        super().__init__()
        if min(input_dim, hidden, kernel_size, n_layers, dilation_base) < 1:
            raise ConfigError("QACM: input_dim, hidden, kernel_size, n_layers and dilation_base "
                              "must all be >= 1")
        if padding not in PADDING:
            raise ConfigError(f"QACM: padding must be one of {', '.join(PADDING)}, got {padding!r}")
        self.input_dim = input_dim
        self.padding = padding
        self.convs = nn.ModuleList(
            nn.Conv1d(input_dim if i == 0 else hidden, hidden, kernel_size,
                      dilation=dilation_base ** i)
            for i in range(n_layers)
        )
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(hidden, 1)

    @property
    def receptive_field(self) -> int:
        """Number of steps (the current one included) a logit depends on."""
        return 1 + sum(self._span(conv) - 1 for conv in self.convs)

    @staticmethod
    def _span(conv: nn.Conv1d) -> int:
        return (conv.kernel_size[0] - 1) * conv.dilation[0] + 1

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """features (B, T, D) -> per-snippet logits (B, T)."""
        check_shape(features, ("B", "T", self.input_dim), "QACM")
        x = features.transpose(1, 2)
        for conv in self.convs:
            x = self.dropout(F.relu(conv(self.pad(x, self._span(conv) - 1))))
        return self.head(x.transpose(1, 2)).squeeze(-1)

    def pad(self, x: torch.Tensor, steps: int) -> torch.Tensor:
        """Causal padding of (B, C, T) by `steps` on the left, with `self.padding`."""
        return F.pad(x, (steps, 0), mode="replicate" if self.padding == "replicate" else "constant")

    def stream(self) -> QACMStream:
        """A streaming evaluator with its own buffers (use with the module in eval mode)."""
        return QACMStream(self)


class QACMStream:
    """One QACM step per new frame: ``push(feature (D,)) -> logit``, equal to the windowed form.

    Each layer keeps the last ``(kernel − 1) · dilation + 1`` inputs it needs, filled at the
    first push like the causal padding of ``QACM.forward`` (that input repeated, or zeros).
    """

    def __init__(self, qacm: QACM):
        self.qacm = qacm
        ref = qacm.head.weight
        self.buffers = [
            torch.zeros(1, conv.in_channels, QACM._span(conv), dtype=ref.dtype, device=ref.device)
            for conv in qacm.convs
        ]
        self._started = False

    @torch.no_grad()
    def push(self, feature) -> float:
        x = torch.as_tensor(feature, dtype=self.buffers[0].dtype, device=self.buffers[0].device)
        check_shape(x, (self.qacm.input_dim,), "QACMStream.push")
        x = x.view(1, -1, 1)
        for i, conv in enumerate(self.qacm.convs):
            if not self._started and self.qacm.padding == "replicate":
                self.buffers[i] = x.expand_as(self.buffers[i]).clone()
            else:
                self.buffers[i] = torch.cat([self.buffers[i][:, :, 1:], x], dim=2)
            x = F.relu(conv(self.buffers[i]))  # (1, hidden, 1): the newest output only
        self._started = True
        return float(self.qacm.head(x[:, :, 0])[0, 0])

    def reset(self) -> None:
        for buf in self.buffers:
            buf.zero_()
        self._started = False


@dataclass
class QACMModuleConfig:
    """The temporal CNN alone (``create_model("qacm")``). Args: see ``QACM``."""

    input_dim: int = 512
    hidden: int = 64
    kernel_size: int = 3
    n_layers: int = 3
    dilation_base: int = 2
    dropout: float = 0.1
    padding: str = "replicate"


@dataclass
class QACMConfig:
    """Args:
        input: "frames" (the student owns a backbone) or "features" (precomputed features).
        input_dim: feature width in "features" mode (e.g. 512 for VadCLIP's CLIP features).
        backbone: the InterpretableMobileNet config in "frames" mode.
        hidden, kernel_size, n_layers, dilation_base, dropout, padding: see ``QACM``.
        audio: the student's audio encoder, or None: vision only.
    """

    input: Literal["frames", "features"] = "frames"
    input_dim: int = 512
    backbone: MobileNetConfig = field(default_factory=MobileNetConfig)
    hidden: int = 64
    kernel_size: int = 3
    n_layers: int = 3
    dilation_base: int = 2
    dropout: float = 0.1
    padding: str = "replicate"
    audio: AudioEncoderConfig | None = None


class QACMStudent(nn.Module):
    """The coarse student: backbone + QACM (frames) or QACM alone (features), and optionally
    its audio encoder (``audio`` log-mel patches (B, T, n_mels, frames) and ``heard`` (B, T) join
    the call; a student without one ignores them)."""

    def __init__(self, cfg: QACMConfig | None = None):
        super().__init__()
        self.cfg = cfg = cfg or QACMConfig()
        self.backbone = InterpretableMobileNet(cfg.backbone) if cfg.input == "frames" else None
        self.audio = AudioEncoder(cfg.audio) if cfg.audio is not None else None
        dim = self.backbone.feature_dim if self.backbone is not None else cfg.input_dim
        dim += self.audio.embedding_dim if self.audio is not None else 0
        self.qacm = QACM(dim, cfg.hidden, cfg.kernel_size, cfg.n_layers, cfg.dilation_base,
                         cfg.dropout, cfg.padding)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Per-snippet features (B, T, D): the backbone on frames, or the features themselves."""
        return x if self.backbone is None else self.backbone.encode_sequence(x)

    def score(self, features: torch.Tensor, audio: torch.Tensor | None = None,
              heard: torch.Tensor | None = None) -> torch.Tensor:
        """Per-snippet visual features (B, T, D) -> logits (B, T): the audio encoder (zeros for
        unheard snippets) and the QACM over both features."""
        if self.audio is not None:
            b, t = features.shape[:2]
            features = torch.cat([features, self.audio.snippets(audio, heard, b, t)], dim=-1)
        return self.qacm(features)

    def forward(self, x: torch.Tensor, audio: torch.Tensor | None = None,
                heard: torch.Tensor | None = None) -> torch.Tensor:
        """x: frames (B, T, 3, H, W) or features (B, T, D) -> logits (B, T)."""
        return self.score(self.encode(x), audio, heard)
