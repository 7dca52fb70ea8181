# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""Interpretable MobileNet backbone (paper §IV.A) and the in-graph frame preprocessing.

The backbone is MobileNetV2 (inverted residual stages, torchvision's blocks) with a
deconvolution after every convolution stage, so each stage computes the paper's

    f = σ(W_D · σ(W_C · x + b_C) + b_D)

where ``σ(W_C · x + b_C)`` is the stage's inverted-residual stack and ``W_D`` a transposed
convolution with its own non-linearity (ReLU6, as MobileNetV2). Interpretation choices:

- ``W_C`` is MobileNetV2's stage as torchvision builds it: its non-linearities sit inside the
  expansion and its last projection is the linear bottleneck, so the deconvolution's σ is the
  first non-linearity applied to the stage output.

- The deconvolution sits on the main path (the paper's ``f`` *is* the stage output) with
  stride 1, so it keeps the stage's resolution and every later stage sees the deconvolved map.
- It is followed by BatchNorm before σ; at inference BatchNorm folds into ``W_D`` and ``b_D``,
  so the deployed graph is exactly the formula.
- The deconvolution maps (``forward_with_maps``) are what the heat maps of Fig. 6/7 are drawn
  from: ``activation_map`` is the channel mean of the last ``cam_stages`` deconvolution maps
  (non-negative after ReLU6), resized to the finest of them and summed.

The defaults (width 1.0, 1280-d features, 3×3 deconvolutions) put the backbone at about 3.5 M
parameters, so backbone + QACM lands near the paper's 3.6 M (Table X).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models._utils import _make_divisible
from torchvision.models.mobilenetv2 import InvertedResidual
from torchvision.ops.misc import Conv2dNormActivation

from tcvads_ros.errors import ConfigError
from tcvads_ros.models.shapes import check_shape

# MobileNetV2's stages: expansion t, output channels c, repeats n, first stride s.
_STAGES = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2),
           (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1))

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass
class MobileNetConfig:
    """Args:
        width_mult: channel multiplier of every stage (MobileNetV2's α).
        input_size: square input side in pixels the model is trained and exported at.
        feature_dim: width of the per-frame feature vector (the final 1×1 convolution).
        deconv_kernel: kernel size of each stage's transposed convolution (odd).
        cam_stages: how many of the last deconvolution maps the heat map combines.
        mean, std: RGB normalisation used by the matching ``FramePreprocess``.
    """

    width_mult: float = 1.0
    input_size: int = 224
    feature_dim: int = 1280
    deconv_kernel: int = 3
    cam_stages: int = 3
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD

    def __post_init__(self):
        if self.width_mult <= 0:
            raise ConfigError(f"mobilenet.width_mult must be > 0, got {self.width_mult}")
        if self.input_size < 32:
            raise ConfigError(f"mobilenet.input_size must be >= 32 pixels, got {self.input_size}")
        if self.feature_dim < 1:
            raise ConfigError(f"mobilenet.feature_dim must be >= 1, got {self.feature_dim}")
        if self.deconv_kernel < 1 or self.deconv_kernel % 2 == 0:
            raise ConfigError(f"mobilenet.deconv_kernel must be odd, got {self.deconv_kernel}")
        if not 1 <= self.cam_stages <= len(_STAGES):
            raise ConfigError(f"mobilenet.cam_stages must be in 1..{len(_STAGES)}, got {self.cam_stages}")


class Deconvolution(nn.Sequential):
    """The paper's ``σ(W_D · h + b_D)``: a stride-1 transposed convolution, BatchNorm, ReLU6."""

    def __init__(self, channels: int, kernel_size: int):
        super().__init__(
            nn.ConvTranspose2d(channels, channels, kernel_size, padding=kernel_size // 2, bias=False),
            nn.BatchNorm2d(channels),
            nn.ReLU6(inplace=True),
        )


class InterpretableMobileNet(nn.Module):
    """MobileNetV2 with a deconvolution after each stage; per-frame features and heat maps."""

    def __init__(self, cfg: MobileNetConfig | None = None):
        super().__init__()
        self.cfg = cfg = cfg or MobileNetConfig()
        self.feature_dim = cfg.feature_dim
        channels = _make_divisible(32 * cfg.width_mult, 8)
        self.stem = Conv2dNormActivation(3, channels, stride=2, activation_layer=nn.ReLU6)
        self.stages = nn.ModuleList()
        self.deconvs = nn.ModuleList()
        for t, c, n, s in _STAGES:
            out = _make_divisible(c * cfg.width_mult, 8)
            blocks = []
            for i in range(n):
                blocks.append(InvertedResidual(channels, out, s if i == 0 else 1, expand_ratio=t))
                channels = out
            self.stages.append(nn.Sequential(*blocks))
            self.deconvs.append(Deconvolution(out, cfg.deconv_kernel))
        self.head = Conv2dNormActivation(channels, cfg.feature_dim, kernel_size=1,
                                         activation_layer=nn.ReLU6)
        self._init_weights()

    def _init_weights(self):
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
                nn.init.kaiming_normal_(m.weight, mode="fan_out")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward_with_maps(self, images: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """images (N, 3, H, W) -> (features (N, feature_dim), deconvolution maps per stage)."""
        check_shape(images, ("N", 3, "H", "W"), "InterpretableMobileNet")
        x = self.stem(images)
        maps = []
        for stage, deconv in zip(self.stages, self.deconvs):
            x = deconv(stage(x))  # f = σ(W_D · σ(W_C · x + b_C) + b_D)
            maps.append(x)
        features = self.head(x).mean(dim=(2, 3))
        return features, maps

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """images (N, 3, H, W) -> per-frame features (N, feature_dim)."""
        return self.forward_with_maps(images)[0]

    def encode_sequence(self, frames: torch.Tensor) -> torch.Tensor:
        """frames (B, T, 3, H, W), one per snippet -> per-snippet features (B, T, feature_dim)."""
        check_shape(frames, ("B", "T", 3, "H", "W"), "InterpretableMobileNet.encode_sequence")
        b, t = frames.shape[:2]
        return self(frames.flatten(0, 1)).view(b, t, self.feature_dim)

    def cam_from_maps(self, maps: Sequence[torch.Tensor]) -> torch.Tensor:
        """Heat map (N, h, w) >= 0 from deconvolution maps (the finest of the last cam_stages)."""
        used = list(maps)[-self.cfg.cam_stages:]
        size = used[0].shape[-2:]
        cam = used[0].mean(dim=1, keepdim=True)
        for m in used[1:]:
            cam = cam + F.interpolate(m.mean(dim=1, keepdim=True), size=size, mode="bilinear",
                                      align_corners=False)
        return cam[:, 0].clamp_min(0)

    def activation_map(self, images: torch.Tensor) -> torch.Tensor:
        """CAM heat map (N, h, w) >= 0 from the deconvolution maps (paper Fig. 6/7)."""
        return self.cam_from_maps(self.forward_with_maps(images)[1])


class FramePreprocess(nn.Module):
    """uint8 RGB frames (N, H, W, 3) -> normalised float (N, 3, H, W), inside the exported graph.

    Args:
        mean, std: per-channel RGB normalisation on the [0, 1] scale.
        size: if given, frames are resized (bilinear) to size × size in the graph; otherwise the
            caller supplies frames at the model's input size.
    """

    def __init__(self, mean: Sequence[float] = IMAGENET_MEAN, std: Sequence[float] = IMAGENET_STD,
                 size: int | None = None):
        super().__init__()
        if len(mean) != 3 or len(std) != 3 or min(std) <= 0:
            raise ConfigError(f"FramePreprocess: mean/std must be 3 values, std > 0; got {mean}, {std}")
        self.size = size
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1))

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        check_shape(frames, ("N", "H", "W", 3), "FramePreprocess (RGB uint8)")
        x = frames.permute(0, 3, 1, 2).to(self.mean.dtype) / 255.0
        if self.size is not None:
            x = F.interpolate(x, size=(self.size, self.size), mode="bilinear", align_corners=False)
        return (x - self.mean) / self.std
