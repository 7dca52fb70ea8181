# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""The coarse models export to ONNX (opset 17) and onnxruntime agrees with torch within 1e-4."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest
import torch
from torch import nn

from tcvads_ros.models.mobilenet import FramePreprocess, InterpretableMobileNet, MobileNetConfig
from tcvads_ros.models.qacm import QACM
from tcvads_ros.models.rwkv import EnhancedRWKV

torch.set_num_threads(1)


class _Backbone(nn.Module):
    """uint8 frames -> features, heat map: the shape of the bundle's coarse_backbone graph."""

    def __init__(self, cfg: MobileNetConfig):
        super().__init__()
        self.preprocess = FramePreprocess(cfg.mean, cfg.std)
        self.net = InterpretableMobileNet(cfg)

    def forward(self, frames):
        features, maps = self.net.forward_with_maps(self.preprocess(frames))
        return features, self.net.cam_from_maps(maps)


def _export(module, args, names, outputs, dynamic, path):
    torch.onnx.export(module.eval(), args, str(path), input_names=names, output_names=outputs,
                      dynamic_axes=dynamic, opset_version=17, dynamo=False)
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def test_backbone_with_preprocess_matches_onnxruntime(tmp_path):
    torch.manual_seed(0)
    model = _Backbone(MobileNetConfig(width_mult=0.35, input_size=64, feature_dim=24))
    frames = torch.randint(0, 256, (2, 64, 64, 3), dtype=torch.uint8)
    model.train()
    with torch.no_grad():
        model(frames)  # give BatchNorm non-trivial running statistics
    session = _export(model, (frames,), ["frames"], ["features", "cam"],
                      {"frames": {0: "n"}}, tmp_path / "backbone.onnx")
    other = torch.randint(0, 256, (3, 64, 64, 3), dtype=torch.uint8)  # another batch size
    got = session.run(None, {"frames": other.numpy()})
    with torch.no_grad():
        want = model(other)
    for g, w in zip(got, want):
        assert g.shape == tuple(w.shape)
        assert w.abs().max() > 1e-3  # a real signal, not all zeros
        np.testing.assert_allclose(g, w.numpy(), atol=1e-4, rtol=1e-4)


def test_qacm_matches_onnxruntime(tmp_path):
    torch.manual_seed(0)
    qacm = QACM(16, hidden=8)
    scores = nn.Sequential(qacm, nn.Sigmoid())
    features = torch.randn(1, 12, 16)
    session = _export(scores, (features,), ["features"], ["scores"],
                      {"features": {1: "window"}}, tmp_path / "qacm.onnx")
    other = torch.randn(1, 20, 16)
    got = session.run(None, {"features": other.numpy()})[0]
    with torch.no_grad():
        want = scores(other).numpy()
    np.testing.assert_allclose(got, want, atol=1e-4)


@pytest.mark.parametrize("window", [None, 8])
def test_enhanced_rwkv_matches_onnxruntime_at_a_fixed_length(tmp_path, window):
    """The chunked scan is traced for one length (bundles export the fine clip at a fixed T);
    with a window (§V.B) too, whose windows fold into the batch."""
    torch.manual_seed(0)
    rwkv = EnhancedRWKV(16, chunk_size=8, window=window)
    features = torch.randn(1, 21, 16) * 3
    session = _export(rwkv, (features,), ["features"], ["video"], None, tmp_path / "rwkv.onnx")
    other = torch.randn(1, 21, 16) * 3
    got = session.run(None, {"features": other.numpy()})[0]
    with torch.no_grad():
        want = rwkv(other).numpy()
    np.testing.assert_allclose(got, want, atol=1e-4)
