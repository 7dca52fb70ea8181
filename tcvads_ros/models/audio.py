# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""The audio branch (docs/audio.md): a snippet's log-mel patch -> its audio feature, and how the
teacher aligns the audio features with the video (CMHKF's top-k window, or a simpler rule).

The encoder is trained from scratch with the coarse stage: no pretrained audio weights can be
downloaded where this project is built, so, like the backbone and CLIP stand-ins, it learns only
what the training data's sounds teach it (on `tcvads synth --audio`, drawings of sounds).

The patch comes from `runtime.audio_features.log_mel` (the one feature rule, NumPy, shared by
training and the edge). Three strided 3x3 convolutions over (mel, time), each with batch norm
and ReLU, then the maximum over time (an impulse anywhere in the window counts) and the mean
over mel bands, and a linear layer to `embedding_dim`.

A snippet without sound (no microphone, a dropped chunk, the first snippet of a stream, whose
window lies before the track) has an all-zero audio feature: `AudioEncoder.snippets` runs the
encoder on the heard snippets only and leaves the others at zero, as the runtime does, so "all
zeros" means "no sound: score from vision" to the models that read the feature.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from tcvads_ros.errors import ConfigError

FUSIONS = ("topk_window", "window_max", "concat")


@dataclass
class AudioEncoderConfig:
    n_mels: int = 40
    embedding_dim: int = 32
    channels: int = 16  # of the first convolution; doubled by the second and third


@dataclass
class AudioFusionConfig(AudioEncoderConfig):
    """The teacher's audio branch: its encoder and how its audio features meet the video.

    Args:
        fusion: ``topk_window`` (CMHKF's AFAE, Eq. 5-7: `topk_window_weights`), ``window_max``
            (each channel's maximum over the heard snippets within ±`window`) or ``concat`` (the
            snippet's own audio feature, as the student reads it).
        window: w of CMHKF Eq. 6 (their best: 2, a window of 5), also ``window_max``'s.
    """

    fusion: Literal["topk_window", "window_max", "concat"] = "topk_window"
    window: int = 2

    def __post_init__(self) -> None:
        if self.window < 0:
            raise ValueError(f"audio.window must be >= 0, got {self.window}")


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

    def snippets(self, mel: torch.Tensor | None, heard: torch.Tensor | None, batch: int,
                 steps: int) -> torch.Tensor:
        """Per-snippet audio features (B, T, embedding_dim) of patches `mel` (B, T, n_mels, frames):
        the encoder's output where `heard` (B, T) is set, zeros elsewhere (and everywhere when
        `mel` is None). Only the heard patches pass the encoder, so its batch statistics are
        those of sound, as at the edge, where unheard snippets never reach it."""
        ref = self.head.weight
        out = torch.zeros(batch, steps, self.embedding_dim, dtype=ref.dtype, device=ref.device)
        if mel is None:
            return out
        mask = torch.ones(batch, steps, dtype=torch.bool, device=mel.device) if heard is None else heard > 0
        if mask.any():
            out = out.index_put((mask,), self(mel[mask].to(ref.dtype)))
        return out


def heard_mask(heard: torch.Tensor | None, like: torch.Tensor) -> torch.Tensor:
    """`heard` (B, T) as booleans; every snippet heard when None."""
    return torch.ones(like.shape[:2], dtype=torch.bool, device=like.device) if heard is None else heard > 0


def topk_window_weights(saliency: torch.Tensor, heard: torch.Tensor, window: int) -> torch.Tensor:
    """CMHKF's AFAE weights (its Eq. 5-6), per snippet (B, T), from saliency logits (B, T).

    Eq. 5: the temporal saliency S is the softmax of the logits over the video's heard snippets.
    Eq. 6: the k = ⌊T/16⌋ + 1 most salient snippets (T: the heard ones) each extend their
    saliency to the snippets within ±`window` of them, ``S~_n = S_n + S_j`` (the largest such
    S_j where windows overlap). Our addition: S~ is multiplied by T, so that a flat saliency
    leaves the features as they are at any video length (the paper's videos are all cut to 256
    snippets; ours vary). Snippets without sound weigh 0.
    """
    b, t = saliency.shape
    mask = heard > 0
    count = mask.sum(dim=1)
    # masked by a finite floor, not -inf: a video with no sound would make every weight (and
    # its gradient) NaN
    s = torch.softmax(saliency.masked_fill(~mask, -1e9), dim=1) * mask
    k = count // 16 + 1
    top, where = s.topk(min(int(k.max()), t), dim=1)  # (B, K)
    chosen = torch.arange(top.shape[1], device=s.device)[None, :] < k[:, None]
    near = (torch.arange(t, device=s.device)[None, None, :] - where[:, :, None]).abs() <= window
    near = near & chosen[:, :, None] & mask[:, None, :]
    bonus = (near * top[:, :, None]).amax(dim=1)
    return (s + bonus) * count[:, None]


def window_max(audio: torch.Tensor, heard: torch.Tensor, window: int) -> torch.Tensor:
    """Each channel's maximum over the heard snippets within ±`window` (B, T, E); zeros where
    none is heard. Absorbs a misalignment of up to `window` snippets in either direction."""
    mask = (heard > 0)[..., None]
    x = audio.masked_fill(~mask, float("-inf")).transpose(1, 2)
    pooled = F.max_pool1d(x, 2 * window + 1, stride=1, padding=window).transpose(1, 2)
    return torch.where(torch.isfinite(pooled), pooled, torch.zeros_like(pooled))


class AudioFusion(nn.Module):
    """The teacher's audio branch: log-mel patches -> audio features aligned with the video.

    ``topk_window`` follows CMHKF's AFAE (Eq. 5-7): a temporal saliency weights each snippet's
    audio feature, ``F~_a(n) = S~(n) F_a(n)`` (Eq. 7 read per snippet: the fused feature stays
    one row per snippet), after the top-k window spread the saliency of the most salient
    snippets to their neighbours. CMHKF takes the saliency from CLIP's visual-text similarity;
    the coarse teacher has no text, so here it is learned: a linear score of the snippet's
    visual and audio features together (the teacher's own visual-audio affinity). We chose it
    over a saliency from the visual features alone because the sounds the branch exists for are
    heard and barely seen (verbal abuse, a gunshot's two-frame flash): a visual saliency would
    pass over exactly those snippets.
    """

    def __init__(self, cfg: AudioFusionConfig, visual_dim: int):
        super().__init__()
        if cfg.fusion not in FUSIONS:
            raise ConfigError(f"audio.fusion must be one of {', '.join(FUSIONS)}, got {cfg.fusion!r}")
        self.cfg = cfg
        self.encoder = AudioEncoder(cfg)
        self.saliency = nn.Linear(visual_dim + cfg.embedding_dim, 1) if cfg.fusion == "topk_window" else None

    def forward(self, visual: torch.Tensor, mel: torch.Tensor | None, heard: torch.Tensor | None) -> torch.Tensor:
        """visual (B, T, D), mel (B, T, n_mels, frames) or None, heard (B, T) -> (B, T, embedding_dim)."""
        b, t = visual.shape[:2]
        audio = self.encoder.snippets(mel, heard, b, t)
        mask = heard_mask(heard, visual) if mel is not None else torch.zeros(b, t, dtype=torch.bool,
                                                                            device=visual.device)
        if self.cfg.fusion == "window_max":
            return window_max(audio, mask, self.cfg.window)
        if self.cfg.fusion == "topk_window":
            logits = self.saliency(torch.cat([visual, audio], dim=-1)).squeeze(-1)
            return audio * topk_window_weights(logits, mask, self.cfg.window)[..., None]
        return audio
