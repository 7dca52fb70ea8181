# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""The speed changes made for the benchmarks compute the same numbers as what they replaced.

- `export.deconvolutions_as_convolutions`: the exported coarse backbone's stride-1 deconvolutions
  become convolutions. The export check compares ONNX with the *converted* torch module, so the
  conversion itself is checked here against the original InterpretableMobileNet.
- `pipeline.resize_rgb`: block averaging then bilinear, close to one INTER_AREA resize.
"""

from __future__ import annotations

import copy

import cv2
import numpy as np
import pytest
import torch
from torch import nn

from tcvads_ros.models.mobilenet import InterpretableMobileNet, MobileNetConfig
from tcvads_ros.runtime.frames import resize_rgb
from tcvads_ros.training.export import deconvolutions_as_convolutions


@pytest.mark.parametrize("kernel", [1, 3, 5])
def test_deconvolutions_become_equal_convolutions(kernel):
    torch.manual_seed(kernel)
    net = InterpretableMobileNet(MobileNetConfig(width_mult=0.25, input_size=32, feature_dim=16,
                                                 deconv_kernel=kernel)).eval()
    for module in net.modules():  # random statistics so that no activation dies out
        if isinstance(module, nn.BatchNorm2d):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
    converted = deconvolutions_as_convolutions(copy.deepcopy(net)).eval()
    assert not any(isinstance(m, nn.ConvTranspose2d) for m in converted.modules())
    assert sum(isinstance(m, nn.ConvTranspose2d) for m in net.modules()) == len(net.deconvs)
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        want_features, want_maps = net.forward_with_maps(x)
        got_features, got_maps = converted.forward_with_maps(x)
    assert want_features.abs().max() > 0
    torch.testing.assert_close(got_features, want_features, rtol=1e-5, atol=1e-5)
    for got, want in zip(got_maps, want_maps):
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)


def test_strided_deconvolutions_are_left_alone():
    block = nn.Sequential(nn.ConvTranspose2d(4, 4, 3, stride=2, padding=1))
    assert isinstance(deconvolutions_as_convolutions(block)[0], nn.ConvTranspose2d)


def test_resize_is_close_to_area_interpolation():
    rng = np.random.default_rng(0)
    base = cv2.resize(rng.integers(0, 256, (45, 80, 3), dtype=np.uint8), (1280, 720),
                      interpolation=cv2.INTER_CUBIC)
    out = resize_rgb(base, (224, 224))
    assert out.shape == (224, 224, 3) and out.dtype == np.uint8
    area = cv2.resize(base, (224, 224), interpolation=cv2.INTER_AREA)
    assert np.abs(out.astype(int) - area.astype(int)).mean() < 2.0
