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

The layers live in `tcvads_ros/models/temporal.py` (the fine stage trains the same LGT-Adapter
for paper Table VII); this file sizes them as VadCLIP does. `GlobalTransformer` is the plain (global attention) Transformer encoder of the same width that
the paper's Fig. 4 compares against. `VadCLIPTemporalHead` is the LGT-Adapter plus VadCLIP's
position embedding and binary classifier (C-branch), exported to ONNX for the per-snippet
detector baseline; its image encoder is the bundle's own `fine_image` graph (open_clip ViT-B/16,
preprocessing in the graph), so both detectors see the same CLIP export.
"""

from __future__ import annotations

import torch
from torch import nn

from tcvads_ros.models.temporal import (  # noqa: F401  (re-exported for benchmarks/run.py)
    EncoderLayer,
    GlobalTransformer,
    GraphConvolution,
    LocalTransformerGCN,
    QuickGELU,
    distance_adjacency,
    similarity_adjacency,
)
from tcvads_ros.runtime.backends.onnxruntime import cpu_session_options

WIDTH = 512  # VadCLIP visual_width; also the width of the paper's Fig. 4
LAYERS = 2  # VadCLIP visual_layers (UCF-Crime)
HEADS = 1  # VadCLIP visual_head
WINDOW = 8  # VadCLIP attn_window (UCF-Crime)
GCN_WIDTH = WIDTH // 2
VISUAL_LENGTH = 256  # VadCLIP visual_length: snippets per forward


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
