# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""The temporal models paper Table VII compares, beside the Enhanced RWKV (models/rwkv.py).

- ``ChannelMix`` and ``RWKVWithChannelMix``: the "traditional RWKV" row, RWKV-4's block pair
  TimeMix + ChannelMix (token shift, ``σ(W_r x') ⊙ W_v·relu(W_k x')²``, hidden 4·D), in the same
  ``x ← x + LN(·)`` form as the Enhanced RWKV, so the two differ only by the ChannelMix (the
  difference §V.D names: "two TimeMixer blocks" against Time + Channel mixing).
- ``LocalTransformerGCN``: VadCLIP's LGT-Adapter (VadCLIP §"Local and Global Temporal Adapter",
  Eq. 1-3): a Transformer encoder whose self-attention is limited to non-overlapping windows
  (VadCLIP's block-diagonal mask, computed per window), then two GCN branches, one over the
  feature-similarity adjacency (cosine thresholded at 0.7, row softmax), one over the distance
  adjacency exp(−|i−j|/e), each two graph convolutions with residuals, concatenated and
  projected back to D. ``GlobalTransformer`` is the same encoder with global attention.
  Sizes follow VadCLIP's released configuration: 2 layers, 1 head, 4× MLP, QuickGELU.
- ``build_temporal(kind, dim, ...)``: the fine stage's temporal model by name
  (``fine.model.temporal``): ``enhanced_rwkv`` (the paper's), ``rwkv_channelmix``,
  ``lgt_adapter`` and ``none`` (no temporal model: the CLIP snippet features go straight to the
  alignment, Table VII's first row).

Every variant starts as the identity on its input when ``identity_init`` (the fine stage's
``rwkv_identity_init``): the residual branches' last LayerNorm gains (RWKV) or the adapter's
output projection (LGT, wrapped as ``x + adapter(x)``) start at zero, so all four start from the
frozen CLIP's own features and differ only by what they learn.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from tcvads_ros.errors import ConfigError
from tcvads_ros.models.rwkv import EnhancedRWKV

TEMPORAL_KINDS = ("enhanced_rwkv", "rwkv_channelmix", "lgt_adapter", "none")


class ChannelMix(nn.Module):
    """RWKV-4 ChannelMix: token shift, ``σ(W_r x'_r) ⊙ W_v · relu(W_k x'_k)²``."""

    def __init__(self, dim: int, hidden_mult: int = 4, layer_id: int = 0, n_layers: int = 1):
        super().__init__()
        ratio_1_to_almost0 = 1.0 - layer_id / n_layers
        ramp = torch.arange(dim, dtype=torch.float32) / dim
        self.time_mix_k = nn.Parameter(ramp ** ratio_1_to_almost0)
        self.time_mix_r = nn.Parameter(ramp ** ratio_1_to_almost0)
        self.key = nn.Linear(dim, hidden_mult * dim, bias=False)
        self.receptance = nn.Linear(dim, dim, bias=False)
        self.value = nn.Linear(hidden_mult * dim, dim, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        previous = torch.cat([torch.zeros_like(x[:, :1]), x[:, :-1]], dim=1)
        xk = x * self.time_mix_k + previous * (1 - self.time_mix_k)
        xr = x * self.time_mix_r + previous * (1 - self.time_mix_r)
        return torch.sigmoid(self.receptance(xr)) * self.value(torch.relu(self.key(xk)) ** 2)


class RWKVWithChannelMix(EnhancedRWKV):
    """The plain RWKV of Table VII: each TimeMix block followed by a ChannelMix block,
    ``x ← x + LN(TimeMix(x)); x ← x + LN(ChannelMix(x))``; causal windows as EnhancedRWKV.

    Sequence form only (no ``step``): it is an ablation, not a streaming model.
    """

    def __init__(self, dim: int, n_blocks: int = 2, bidirectional: bool = False,
                 chunk_size: int = 16, window: int | None = None):
        super().__init__(dim, n_blocks, bidirectional, chunk_size, window)
        self.channel_mixes = nn.ModuleList(ChannelMix(dim, layer_id=i, n_layers=n_blocks)
                                           for i in range(n_blocks))
        self.channel_norms = nn.ModuleList(nn.LayerNorm(dim) for _ in range(n_blocks))

    def _stack(self, x: torch.Tensor) -> torch.Tensor:
        for block, norm, mix, mix_norm in zip(self.blocks, self.norms, self.channel_mixes,
                                              self.channel_norms):
            x = x + norm(block(x))
            x = x + mix_norm(mix(x))
        return x

    def step(self, x, state, position=None):
        raise ConfigError("RWKVWithChannelMix is an ablation with a sequence form only")


class QuickGELU(nn.Module):
    """CLIP's GELU approximation x * sigmoid(1.702 x), used throughout VadCLIP."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(1.702 * x)


class EncoderLayer(nn.Module):
    """Pre-norm Transformer encoder layer; attention global (window=None) or per window."""

    def __init__(self, width: int, heads: int = 1, window: int | None = None):
        super().__init__()
        self.window = window
        self.ln_1 = nn.LayerNorm(width)
        self.attn = nn.MultiheadAttention(width, heads, batch_first=True)
        self.ln_2 = nn.LayerNorm(width)
        self.mlp = nn.Sequential(nn.Linear(width, 4 * width), QuickGELU(), nn.Linear(4 * width, width))

    def _attention(self, x: torch.Tensor) -> torch.Tensor:
        if self.window is None:
            return self.attn(x, x, x, need_weights=False)[0]
        # Non-overlapping windows, as VadCLIP's block-diagonal mask: fold windows into the batch.
        b, n, d = x.shape
        pad = (-n) % self.window
        padded = F.pad(x, (0, 0, 0, pad))
        windows = padded.reshape(b * (n + pad) // self.window, self.window, d)
        mask = None
        if pad:
            # Padded positions of the last window must not be attended to.
            valid = torch.arange(n + pad, device=x.device) < n
            mask = ~valid.reshape(-1, self.window).repeat(b, 1)
        out = self.attn(windows, windows, windows, key_padding_mask=mask, need_weights=False)[0]
        return out.reshape(b, n + pad, d)[:, :n]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self._attention(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class GlobalTransformer(nn.Module):
    """A Transformer encoder with global self-attention: O(n^2 d) time per forward."""

    def __init__(self, width: int, layers: int = 2, heads: int = 1):
        super().__init__()
        self.blocks = nn.Sequential(*[EncoderLayer(width, heads) for _ in range(layers)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.blocks(x)


class GraphConvolution(nn.Module):
    """Kipf-Welling graph convolution A (X W) with VadCLIP's residual (1-D conv when widths differ)."""

    def __init__(self, in_features: int, out_features: int):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(in_features, out_features))
        nn.init.xavier_uniform_(self.weight)
        self.residual = (
            nn.Identity()
            if in_features == out_features
            else nn.Conv1d(in_features, out_features, kernel_size=5, padding=2)
        )

    def forward(self, x: torch.Tensor, adjacency: torch.Tensor) -> torch.Tensor:
        out = adjacency @ (x @ self.weight)
        if isinstance(self.residual, nn.Identity):
            return out + x
        return out + self.residual(x.transpose(1, 2)).transpose(1, 2)


def similarity_adjacency(x: torch.Tensor, threshold: float = 0.7) -> torch.Tensor:
    """VadCLIP Eq. 2: frame-wise cosine similarity, values below `threshold` zeroed, row softmax."""
    unit = F.normalize(x, dim=-1)
    cos = unit @ unit.transpose(1, 2)
    return torch.softmax(torch.where(cos > threshold, cos, torch.zeros_like(cos)), dim=-1)


def distance_adjacency(n: int, device: torch.device | None = None) -> torch.Tensor:
    """VadCLIP Eq. 3: exp(-|i - j| / e), the relative-distance adjacency (sigma = 1)."""
    pos = torch.arange(n, device=device, dtype=torch.float32)
    return torch.exp(-(pos[:, None] - pos[None, :]).abs() / math.e).unsqueeze(0)


class LocalTransformerGCN(nn.Module):
    """VadCLIP's LGT-Adapter: windowed Transformer (local) followed by two GCN branches (global)."""

    def __init__(self, width: int, layers: int = 2, heads: int = 1, window: int = 8):
        super().__init__()
        self.local = nn.Sequential(*[EncoderLayer(width, heads, window) for _ in range(layers)])
        half = width // 2
        self.sim_1, self.sim_2 = GraphConvolution(width, half), GraphConvolution(half, half)
        self.dis_1, self.dis_2 = GraphConvolution(width, half), GraphConvolution(half, half)
        self.gelu = QuickGELU()
        self.project = nn.Linear(2 * half, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.local(x)
        sim = similarity_adjacency(x)
        dis = distance_adjacency(x.shape[1], x.device)
        a = self.gelu(self.sim_2(self.gelu(self.sim_1(x, sim)), sim))
        b = self.gelu(self.dis_2(self.gelu(self.dis_1(x, dis)), dis))
        return self.project(torch.cat([a, b], dim=-1))


class Residual(nn.Module):
    """``x + module(x)``."""

    def __init__(self, module: nn.Module):
        super().__init__()
        self.module = module

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.module(x)


def build_temporal(kind: str, dim: int, n_blocks: int = 2, bidirectional: bool = False,
                   chunk_size: int = 16, window: int | None = None, lgt_window: int = 64,
                   identity_init: bool = True) -> nn.Module:
    """The temporal model ``kind`` (one of TEMPORAL_KINDS) over (B, T, dim) snippet features."""
    if kind in ("enhanced_rwkv", "rwkv_channelmix"):
        cls = EnhancedRWKV if kind == "enhanced_rwkv" else RWKVWithChannelMix
        model = cls(dim, n_blocks, bidirectional, chunk_size, window)
        if identity_init:
            for norm in [*model.norms, *getattr(model, "channel_norms", [])]:
                nn.init.zeros_(norm.weight)
        return model
    if kind == "lgt_adapter":
        adapter = LocalTransformerGCN(dim, window=lgt_window)
        if identity_init:
            nn.init.zeros_(adapter.project.weight)
            nn.init.zeros_(adapter.project.bias)
        return Residual(adapter)
    if kind == "none":
        return nn.Identity()
    raise ConfigError(f"unknown temporal model '{kind}' (choose from {', '.join(TEMPORAL_KINDS)})")
