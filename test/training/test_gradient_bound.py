# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""Exp. (7) measured (training/gradient_bound.py): the Hutchinson estimate is the Jacobian's
squared Frobenius norm, every stage is measured, and W_D is read with its BatchNorm folded."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from tcvads_ros.models.mobilenet import InterpretableMobileNet, MobileNetConfig
from tcvads_ros.training import gradient_bound

torch.set_num_threads(1)


def _tiny(seed: int = 0) -> InterpretableMobileNet:
    torch.manual_seed(seed)
    model = InterpretableMobileNet(MobileNetConfig(width_mult=0.25, input_size=32, feature_dim=32))
    with torch.no_grad():  # trained-looking BatchNorm statistics instead of the identity
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_var.uniform_(0.5, 2.0)
                m.running_mean.uniform_(-0.2, 0.2)
                m.weight.uniform_(0.5, 1.5)
    return model.eval()


def test_hutchinson_estimate_is_the_squared_frobenius_norm_of_a_linear_map():
    torch.manual_seed(0)
    a = torch.randn(2, 30, 12)  # two "frames", each its own linear map
    image = torch.randn(2, 12, requires_grad=True)
    out = torch.einsum("noi,ni->no", a, image)
    got = gradient_bound._squared_jacobian_norms(out, image, 400, torch.Generator().manual_seed(1))
    want = a.pow(2).sum((1, 2)).double()
    assert torch.allclose(got, want, rtol=0.1)


def test_first_stage_norms_match_the_full_jacobian():
    model = _tiny()
    images = torch.randn(1, 3, 32, 32)
    rows = gradient_bound.measure(model, images, probes=48, seed=0)

    def conv_map(x):
        return model.stages[0](model.stem(x))

    def deconv_map(x):
        return model.deconvs[0](conv_map(x))

    for key, fn in (("conv_sq", conv_map), ("deconv_sq", deconv_map)):
        jac = torch.autograd.functional.jacobian(fn, images)
        exact = float(jac.double().pow(2).sum())
        assert abs(rows[0][key] - exact) / exact < 0.25, (key, rows[0][key], exact)


def test_every_stage_is_measured_and_w_d_has_its_batchnorm_folded():
    model = _tiny(1)
    frames = np.random.default_rng(0).integers(0, 256, (3, 40, 50, 3), dtype=np.uint8)
    result = gradient_bound.measure_frames(model, frames, probes=2)
    assert result["frames"] == 3 and result["of_stages"] == len(model.deconvs) == 7
    assert 0 <= result["holds_at_stages"] <= 7
    for row in result["stages"]:
        assert row["conv_sq"] > 0 and row["deconv_sq"] >= 0
        assert np.isclose(row["ratio"], row["deconv_sq"] / row["conv_sq"])
        assert 0 <= row["holds_share"] <= 1 and 0 <= row["relu6_pass_share"] <= 1
    deconv = model.deconvs[2]
    bn = deconv[1]
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    folded = gradient_bound.folded_deconv_weight(deconv).detach()
    assert torch.allclose(folded[:, 3], deconv[0].weight[:, 3] * scale[3])
    assert np.isclose(result["stages"][2]["w_d_sq_frobenius"], float(folded.double().pow(2).sum()))
