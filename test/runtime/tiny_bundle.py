"""A tiny untrained bundle for the runtime tests: real export path, toy-sized graph modules.

The graph modules follow the model interfaces of docs/ARCHITECTURE.md (preprocess + backbone
with `activation_map`; QACM over (B,T,D); a fine stage with `preprocess`, `encode_images` and
`forward(features, text) -> dict(probs, video_scores)` around an EnhancedRWKV), at sizes that
export and run in well under a second.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from tcvads_ros.models.rwkv import EnhancedRWKV
from tcvads_ros.runtime.bundle import Manifest
from tcvads_ros.runtime.export import (
    CoarseBackboneGraph,
    CoarseQACMGraph,
    FineImageGraph,
    FineTemporalGraph,
    export_bundle,
)

CLASSES = ["Normal", "Fighting", "Explosion"]
CAPTIONS = ["an empty street", "people fighting", "a fire", "a car on a road", "a crowd running"]


class Preprocess(nn.Module):
    def __init__(self, mean, std):
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(std).view(1, 3, 1, 1))

    def forward(self, frames):
        return (frames.permute(0, 3, 1, 2).float() / 255.0 - self.mean) / self.std


class Backbone(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.conv = nn.Conv2d(3, dim, 3, stride=2, padding=1)
        self.deconv = nn.ConvTranspose2d(dim, dim, 2, stride=2)

    def maps(self, x):
        return torch.relu(self.deconv(torch.relu(self.conv(x))))

    def forward(self, x):
        return self.maps(x).mean((2, 3))

    def activation_map(self, x):
        return self.maps(x).mean(1)


class QACM(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.conv = nn.Conv1d(dim, 1, 3)

    def forward(self, features):  # causal: left padding only
        x = nn.functional.pad(features.transpose(1, 2), (2, 0))
        return self.conv(x)[:, 0] * 3.0


class Fine(nn.Module):
    def __init__(self, dim, tau=0.07):
        super().__init__()
        self.preprocess = Preprocess((0.48, 0.46, 0.41), (0.27, 0.26, 0.28))
        self.image = nn.Conv2d(3, dim, 4, stride=4)
        self.temporal = EnhancedRWKV(dim, n_blocks=2)
        self.tau = tau

    def encode_images(self, images):
        return nn.functional.normalize(self.image(images).mean((2, 3)), dim=-1)

    def forward(self, features, text):
        video = nn.functional.normalize(self.temporal(features), dim=-1)
        probs = torch.softmax(video @ text.t() / self.tau, dim=-1)  # Exp. 15-16
        k = max(1, probs.shape[1] // 16 + 1)
        return {"probs": probs, "video_scores": probs.topk(k, dim=1).values.mean(1)}


def tiny_manifest(**overrides) -> Manifest:
    fields = dict(
        format_version=0, created="", versions={},
        coarse_input_size=(32, 40), coarse_mean=(0.485, 0.456, 0.406), coarse_std=(0.229, 0.224, 0.225),
        feature_dim=8, fine_input_size=(32, 32), fine_mean=(0.48, 0.46, 0.41), fine_std=(0.27, 0.26, 0.28),
        fine_feature_dim=12, fine_clip_snippets=6, snippet_frames=16, window=8, fps=25.0, stride=1,
        thresholds={"coarse": 0.5}, class_names=list(CLASSES), captions=list(CAPTIONS), tau=0.07, top_m=2,
    )
    fields.update(overrides)
    return Manifest(**fields)


def tiny_graphs(manifest: Manifest, seed: int = 0) -> dict[str, nn.Module]:
    torch.manual_seed(seed)
    fine = Fine(manifest.fine_feature_dim, manifest.tau)
    return {
        "coarse_backbone": CoarseBackboneGraph(
            Preprocess(manifest.coarse_mean, manifest.coarse_std), Backbone(manifest.feature_dim)
        ),
        "coarse_qacm": CoarseQACMGraph(QACM(manifest.feature_dim)),
        "fine_image": FineImageGraph(fine),
        "fine_temporal": FineTemporalGraph(fine),
    }


def tiny_text_table(manifest: Manifest, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    c, k, d = len(manifest.class_names), len(manifest.captions), manifest.fine_feature_dim

    def unit(*shape):
        x = rng.standard_normal(shape).astype(np.float32)
        return x / np.linalg.norm(x, axis=-1, keepdims=True)

    return {"class_caption": unit(c, k, d), "captions": unit(k, d)}


def make_tiny_bundle(out: Path, **overrides):
    """Export the tiny graphs to `out`; returns (bundle, graph modules)."""
    manifest = tiny_manifest(**overrides)
    graphs = tiny_graphs(manifest)
    return export_bundle(graphs, tiny_text_table(manifest), manifest, out), graphs
