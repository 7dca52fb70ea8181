# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""Training-time augmentation of snippet frames, the same transform for every snippet of a video.

A coarse model reads one frame per snippet and the Enhanced RWKV compares snippets over time,
so each video draws one random transform (horizontal flip, brightness and contrast factors, a
crop resized back to the input size) and applies it to all of its frames: the scene stays
temporally consistent and only what changes in it (the anomaly) moves between snippets. The
operations are torchvision's (``transforms.v2.functional``) on uint8 frames, before the
normalisation that `FramePreprocess` does in the model's graph.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torchvision.transforms.v2.functional as TF


@dataclass
class AugmentConfig:
    """Args:
        enabled: augment the training frames (validation and test frames never are).
        flip: probability of a horizontal flip.
        brightness, contrast: factors drawn uniformly from [1 - v, 1 + v].
        crop: smallest crop side as a share of the frame side (1.0: no crop); the crop keeps
            the aspect ratio, sits anywhere in the frame and is resized back.
    """

    enabled: bool = False
    flip: float = 0.5
    brightness: float = 0.2
    contrast: float = 0.2
    crop: float = 0.85

    def __post_init__(self) -> None:
        if not 0.0 <= self.flip <= 1.0:
            raise ValueError(f"augment.flip must be a probability in [0, 1], got {self.flip}")
        if not (0.0 <= self.brightness < 1.0 and 0.0 <= self.contrast < 1.0):
            raise ValueError("augment.brightness and augment.contrast must be in [0, 1)")
        if not 0.0 < self.crop <= 1.0:
            raise ValueError(f"augment.crop must be in (0, 1], got {self.crop}")


def _uniform(generator: torch.Generator, low: float, high: float) -> float:
    return low + (high - low) * float(torch.rand((), generator=generator))


def augment_video(frames: torch.Tensor, cfg: AugmentConfig, generator: torch.Generator) -> torch.Tensor:
    """frames (T, H, W, 3) uint8 -> the same shape, one random transform for all T frames."""
    x = frames.permute(0, 3, 1, 2)  # (T, 3, H, W): torchvision's layout
    h, w = x.shape[-2:]
    if float(torch.rand((), generator=generator)) < cfg.flip:
        x = TF.horizontal_flip(x)
    if cfg.brightness > 0:
        x = TF.adjust_brightness(x, _uniform(generator, 1 - cfg.brightness, 1 + cfg.brightness))
    if cfg.contrast > 0:
        x = TF.adjust_contrast(x, _uniform(generator, 1 - cfg.contrast, 1 + cfg.contrast))
    if cfg.crop < 1.0:
        scale = _uniform(generator, cfg.crop, 1.0)
        ch, cw = max(1, round(h * scale)), max(1, round(w * scale))
        top = int(torch.randint(h - ch + 1, (), generator=generator))
        left = int(torch.randint(w - cw + 1, (), generator=generator))
        x = TF.resized_crop(x, top, left, ch, cw, [h, w], antialias=True)
    return x.permute(0, 2, 3, 1).contiguous()


def augment_batch(frames: torch.Tensor, cfg: AugmentConfig, generator: torch.Generator) -> torch.Tensor:
    """frames (B, T, H, W, 3) uint8 -> augmented, one transform per video (row of the batch)."""
    if not cfg.enabled:
        return frames
    if frames.dtype != torch.uint8 or frames.dim() != 5:
        raise ValueError(f"augment_batch expects uint8 frames (B, T, H, W, 3), got {frames.dtype} "
                         f"{tuple(frames.shape)}")
    return torch.stack([augment_video(video, cfg, generator) for video in frames])
