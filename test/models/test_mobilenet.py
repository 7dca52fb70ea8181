# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""Interpretable MobileNet and FramePreprocess: shapes, gradients, heat maps, normalisation."""

from __future__ import annotations

import pytest
import torch

from tcvads_ros.configuration import from_mapping
from tcvads_ros.errors import ConfigError
from tcvads_ros.models.mobilenet import FramePreprocess, InterpretableMobileNet, MobileNetConfig

torch.set_num_threads(1)

TINY = MobileNetConfig(width_mult=0.25, input_size=64, feature_dim=32)


@pytest.mark.parametrize("size", [64, 96])
def test_shapes_maps_and_gradients(size):
    model = InterpretableMobileNet(TINY)
    images = torch.randn(2, 3, size, size, requires_grad=True)
    features, maps = model.forward_with_maps(images)
    assert features.shape == (2, 32) and model.feature_dim == 32
    assert len(maps) == 7  # one deconvolution map per inverted-residual stage
    assert maps[-1].shape[-1] == size // 32 and maps[0].shape[-1] == size // 2
    features.sum().backward()
    assert images.grad is not None and images.grad.abs().sum() > 0
    for name, p in model.named_parameters():
        assert p.grad is not None, name


def test_deconvolution_is_on_the_main_path():
    """f = σ(W_D·σ(W_C·x+b_C)+b_D): changing W_D of a stage changes the features."""
    model = InterpretableMobileNet(TINY).eval()
    images = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        before = model(images)
        model.deconvs[2][0].weight.mul_(-1)
        after = model(images)
    assert not torch.allclose(before, after)


def test_activation_map_non_negative_and_follows_the_image():
    model = InterpretableMobileNet(TINY).eval()
    images = torch.randn(3, 3, 64, 64)
    with torch.no_grad():
        cam = model.activation_map(images)
    maps = model.forward_with_maps(images)[1]
    assert cam.shape == (3, *maps[-TINY.cam_stages].shape[-2:])
    assert (cam >= 0).all()
    assert not torch.allclose(cam[0], cam[1])


def test_default_backbone_is_paper_sized():
    n = sum(p.numel() for p in InterpretableMobileNet().parameters())
    assert 3.0e6 <= n <= 4.0e6


def test_frame_preprocess_normalises_uint8_nhwc():
    pre = FramePreprocess(mean=(0.5, 0.5, 0.5), std=(0.25, 0.5, 1.0))
    frames = torch.zeros(1, 4, 5, 3, dtype=torch.uint8)
    frames[..., 0] = 255
    out = pre(frames)
    assert out.shape == (1, 3, 4, 5) and out.dtype == torch.float32
    assert torch.allclose(out[0, 0], torch.full((4, 5), 2.0))  # (1 - .5) / .25
    assert torch.allclose(out[0, 1], torch.full((4, 5), -1.0))  # (0 - .5) / .5
    assert FramePreprocess(size=8)(frames).shape == (1, 3, 8, 8)
    with pytest.raises(ValueError):
        pre(torch.zeros(1, 3, 4, 5, dtype=torch.uint8))


def test_config_errors_name_the_key():
    with pytest.raises(ConfigError, match="deconv_kernel"):
        from_mapping(MobileNetConfig, {"deconv_kernel": 2})
    with pytest.raises(ConfigError, match="width_mul"):
        from_mapping(MobileNetConfig, {"width_mul": 1.0})
    assert from_mapping(MobileNetConfig, {"mean": [0.1, 0.2, 0.3]}).mean == (0.1, 0.2, 0.3)
