# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""create_model builds every network by name from plain mappings; shapes and gradients for each."""

from __future__ import annotations

import pytest
import torch

from tcvads_ros.errors import ConfigError
from tcvads_ros.models.registry import MODEL_REGISTRY, create_model

torch.set_num_threads(1)

TINY_BACKBONE = {"width_mult": 0.25, "input_size": 64, "feature_dim": 16}


def _cases(tiny_clip):
    """name -> (config mapping, input builder, output check)."""
    frames = torch.randn(2, 3, 3, 64, 64)
    return {
        "mobilenet": (TINY_BACKBONE, torch.randn(2, 3, 64, 64), (2, 16)),
        "enhanced_rwkv": ({"dim": 8, "chunk_size": 4}, torch.randn(2, 9, 8), (2, 9, 8)),
        "afed": ({"backbone": TINY_BACKBONE, "rwkv_dim": 8}, frames, (2, 3)),
        "audio_encoder": ({"n_mels": 8, "embedding_dim": 5, "channels": 4}, torch.randn(3, 8, 20), (3, 5)),
        "qacm": ({"input_dim": 12, "hidden": 6}, torch.randn(2, 7, 12), (2, 7)),
        "qacm_student": ({"backbone": TINY_BACKBONE, "hidden": 6}, frames, (2, 3)),
        "fine": ({"clip_model": tiny_clip, "n_ctx": 4, "class_names": ["normal", "fight"],
                  "captions": ["a street", "a fight"]}, torch.randn(2, 5, 32), (2, 5, 2)),
    }


@pytest.mark.parametrize("name", sorted(MODEL_REGISTRY))
def test_every_model_builds_runs_and_trains(name, tiny_clip):
    cfg, x, out_shape = _cases(tiny_clip)[name]
    model = create_model(name, **dict(cfg))
    if name == "fine":
        out = model(x, model.text_features(torch.tensor([1])))
        y = out["logits"]
        assert out["video_scores"].shape == (2, 2)
    else:
        y = model(x)
    assert y.shape == out_shape
    y.float().square().mean().backward()
    trainable = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    assert trainable
    for n, p in trainable:
        assert p.grad is not None, n


def test_wrong_names_and_keys_are_config_errors(tiny_clip):
    with pytest.raises(ConfigError, match="did you mean 'qacm'"):
        create_model("qcam")
    with pytest.raises(ConfigError, match="qacm_student.backbone.width"):
        create_model("qacm_student", backbone={"width": 1.0})
    with pytest.raises(ConfigError, match="class_names"):
        create_model("fine", clip_model=tiny_clip)
    with pytest.raises(ConfigError, match="afed.input"):
        create_model("afed", input="video")


def test_backbone_presets_are_named_settings():
    from tcvads_ros.models.presets import BACKBONES

    by_name = create_model("qacm_student", input="frames", backbone="tiny", hidden=8)
    assert by_name.backbone.cfg.input_size == BACKBONES["tiny"]["input_size"]
    changed = create_model("afed", input="frames", backbone={"preset": "tiny", "input_size": 64}, rwkv_dim=8)
    assert changed.backbone.cfg.input_size == 64
    assert changed.backbone.cfg.feature_dim == BACKBONES["tiny"]["feature_dim"]
    with pytest.raises(ConfigError, match="unknown backbone preset 'tinny'; did you mean 'tiny'"):
        create_model("afed", input="frames", backbone="tinny")
