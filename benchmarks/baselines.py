# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""What a user would pick instead of TCVADS: VadCLIP-sized temporal models, for timing only.

These are baselines for the benchmarks, not product code, and carry random weights (speed does
not depend on training). Sizes follow VadCLIP's released configuration (`src/ucf_option.py`,
`src/model.py`): width 512, 2 Transformer layers with a 4x MLP and QuickGELU, 1 attention head,
attention window 8 (UCF-Crime), GCN width 256, visual length 256, and its LGT-Adapter
(VadCLIP §"Local and Global Temporal Adapter", Eq. 1-3):

- local module: a Transformer encoder layer whose self-attention is limited to windows of
  `window` frames. VadCLIP builds a block-diagonal mask over the full n x n score matrix; here
  attention is computed per window (same result, O(n w d) instead of O(n^2 d) work), which
  favours the baseline.
- global module: two GCN branches over the same frames, one with the feature-similarity
  adjacency (cosine similarity, thresholded at 0.7, row softmax) and one with the distance
  adjacency exp(-|i-j| / e), each two graph convolutions with residuals; concatenated and
  projected back to 512.

`GlobalTransformer` is the plain (global attention) Transformer encoder of the same width that
the paper's Fig. 4 compares against. `VadCLIPTemporalHead` is the LGT-Adapter plus VadCLIP's
position embedding and binary classifier (C-branch), exported to ONNX for the per-snippet
detector baseline; its image encoder is the bundle's own `fine_image` graph (open_clip ViT-B/16,
preprocessing in the graph), so both detectors see the same CLIP export.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from tcvads_ros.runtime.backends.onnxruntime import cpu_session_options

WIDTH = 512  # VadCLIP visual_width; also the width of the paper's Fig. 4
LAYERS = 2  # VadCLIP visual_layers (UCF-Crime)
HEADS = 1  # VadCLIP visual_head
WINDOW = 8  # VadCLIP attn_window (UCF-Crime)
GCN_WIDTH = WIDTH // 2
VISUAL_LENGTH = 256  # VadCLIP visual_length: snippets per forward


class QuickGELU(nn.Module):
    """CLIP's GELU approximation x * sigmoid(1.702 x), used throughout VadCLIP."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(1.702 * x)


class EncoderLayer(nn.Module):
    """Pre-norm Transformer encoder layer; attention global (window=None) or per window."""

    def __init__(self, width: int = WIDTH, heads: int = HEADS, window: int | None = None):
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

    def __init__(self, width: int = WIDTH, layers: int = LAYERS, heads: int = HEADS):
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

    def __init__(
        self, width: int = WIDTH, layers: int = LAYERS, heads: int = HEADS, window: int = WINDOW
    ):
        super().__init__()
        self.local = nn.Sequential(*[EncoderLayer(width, heads, window) for _ in range(layers)])
        half = width // 2
        self.sim_1, self.sim_2 = GraphConvolution(width, half), GraphConvolution(half, half)
        self.dis_1, self.dis_2 = GraphConvolution(width, half), GraphConvolution(half, half)
        self.gelu = QuickGELU()
        self.project = nn.Linear(width, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.local(x)
        sim = similarity_adjacency(x)
        dis = distance_adjacency(x.shape[1], x.device)
        a = self.gelu(self.sim_2(self.gelu(self.sim_1(x, sim)), sim))
        b = self.gelu(self.dis_2(self.gelu(self.dis_1(x, dis)), dis))
        return self.project(torch.cat([a, b], dim=-1))


class VadCLIPTemporalHead(nn.Module):
    """VadCLIP's temporal model and C-branch: position embedding, LGT-Adapter, FFN + classifier.

    Input `features` (1, VISUAL_LENGTH, 512) CLIP snippet features -> `scores` (1, VISUAL_LENGTH).
    """

    def __init__(self, width: int = WIDTH, length: int = VISUAL_LENGTH):
        super().__init__()
        self.position = nn.Parameter(torch.randn(1, length, width) * 0.01)
        self.adapter = LocalTransformerGCN(width)
        self.ffn = nn.Sequential(nn.Linear(width, 4 * width), QuickGELU(), nn.Linear(4 * width, width))
        self.classifier = nn.Linear(width, 1)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        x = self.adapter(features + self.position[:, : features.shape[1]])
        return torch.sigmoid(self.classifier(x + self.ffn(x)).squeeze(-1))


def export_onnx(
    module: nn.Module,
    inputs: dict[str, torch.Tensor],
    output_names: list[str],
    path: str,
    dynamic_axes: dict | None = None,
) -> float:
    """Export a baseline to ONNX the way the project's exporter does (TorchScript exporter, opset
    17) and return the max |onnxruntime - torch| on `inputs`, so a bad export cannot go unseen."""
    import warnings

    import numpy as np
    import onnxruntime as ort

    from tcvads_ros.training.export import OPSET

    module = module.eval()
    args = tuple(inputs.values())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module, args, path, input_names=list(inputs), output_names=output_names,
            dynamic_axes=dynamic_axes or {}, opset_version=OPSET, dynamo=False,
        )
    with torch.no_grad():
        want = module(*args)
    want = want if isinstance(want, tuple) else (want,)
    session = ort.InferenceSession(path, cpu_session_options(), providers=["CPUExecutionProvider"])
    got = session.run(output_names, {k: v.numpy() for k, v in inputs.items()})
    return max(float(np.max(np.abs(g - w.numpy()))) for g, w in zip(got, want))
