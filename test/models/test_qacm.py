# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""QACM, its streaming form, QACMStudent and the AFED teacher: shapes, gradients, causality."""

from __future__ import annotations

import pytest
import torch

from tcvads_ros.errors import ConfigError
from tcvads_ros.models.afed import AFEDConfig, AFEDTeacher
from tcvads_ros.models.mobilenet import MobileNetConfig
from tcvads_ros.models.qacm import QACM, QACMConfig, QACMStudent

torch.set_num_threads(1)

TINY_BACKBONE = MobileNetConfig(width_mult=0.25, input_size=64, feature_dim=16)


@pytest.mark.parametrize("kernel,layers,base", [(3, 3, 2), (3, 3, 1), (5, 2, 3), (1, 3, 2)])
def test_receptive_field_and_causality(kernel, layers, base):
    torch.manual_seed(0)
    qacm = QACM(8, hidden=12, kernel_size=kernel, n_layers=layers, dilation_base=base).eval()
    assert qacm.receptive_field == 1 + (kernel - 1) * sum(base ** i for i in range(layers))
    x = torch.randn(1, 40, 8)
    t = 30
    x2 = x.clone()
    x2[:, t + 1:] += 5  # the future
    x3 = x.clone()
    x3[:, t - qacm.receptive_field + 1] += 5  # the oldest step inside the receptive field
    x4 = x.clone()
    x4[:, t - qacm.receptive_field] += 5  # just outside it
    with torch.no_grad():
        y, y2, y3, y4 = (qacm(v)[0, t] for v in (x, x2, x3, x4))
    assert y == y2 and y == y4 and y != y3


@pytest.mark.parametrize("padding", ["replicate", "zeros"])
@pytest.mark.parametrize("length", [1, 5, 23])
def test_stream_equals_windowed(length, padding):
    torch.manual_seed(length)
    qacm = QACM(8, hidden=12, padding=padding).eval()
    x = torch.randn(1, length, 8)
    with torch.no_grad():
        windowed = qacm(x)[0]
    stream = qacm.stream()
    streamed = torch.tensor([stream.push(x[0, t]) for t in range(length)])
    assert torch.allclose(streamed, windowed, atol=1e-5)
    stream.reset()
    assert abs(stream.push(x[0, 0].numpy()) - windowed[0].item()) < 1e-5
    with pytest.raises(ValueError):
        stream.push(torch.zeros(7))


def test_a_start_in_a_steady_scene_scores_as_the_steady_state():
    # Replicate padding: a constant input gets the same logit at every position, the first
    # ones included, so a stream that starts in a static scene sees no onset. Zero padding
    # gives the first receptive field other logits (the jump from nothing to the scene).
    torch.manual_seed(0)
    x = torch.randn(1, 1, 8).abs().repeat(1, 30, 1)
    model = QACM(8, hidden=12).eval()
    same_weights = QACM(8, hidden=12, padding="zeros").eval()
    same_weights.load_state_dict(model.state_dict())
    with torch.no_grad():
        replicate, zeros = model(x)[0], same_weights(x)[0]
    assert torch.allclose(replicate, replicate[-1].expand_as(replicate), atol=1e-6)
    assert torch.allclose(zeros[14:], replicate[14:], atol=1e-6)  # the receptive field is 15
    assert not torch.allclose(zeros[:14], replicate[:14], atol=1e-3)
    with pytest.raises(ConfigError, match="padding"):
        QACM(8, padding="reflect")


def _check_grads(model, x):
    logits = model(x)
    assert logits.shape == x.shape[:2]
    logits.sum().backward()
    for name, p in model.named_parameters():
        assert p.grad is not None, name


@pytest.mark.parametrize("mode", ["frames", "features"])
def test_student_shapes_and_gradients(mode):
    model = QACMStudent(QACMConfig(input=mode, input_dim=24, backbone=TINY_BACKBONE, hidden=8))
    assert (model.backbone is None) == (mode == "features")
    x = torch.randn(2, 5, 3, 64, 64) if mode == "frames" else torch.randn(2, 5, 24)
    assert model.encode(x).shape == (2, 5, 16 if mode == "frames" else 24)
    _check_grads(model, x)


@pytest.mark.parametrize("mode", ["frames", "features"])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_teacher_shapes_and_gradients(mode, bidirectional):
    cfg = AFEDConfig(input=mode, input_dim=512, backbone=TINY_BACKBONE, rwkv_dim=16,
                     bidirectional=bidirectional)
    model = AFEDTeacher(cfg)
    x = torch.randn(2, 4, 3, 64, 64) if mode == "frames" else torch.randn(2, 9, 512)
    _check_grads(model, x)
    if mode == "features":
        assert torch.equal(model.encode(x), x)
        with pytest.raises(ValueError, match="512"):
            model(torch.randn(1, 3, 256))


def test_default_student_is_paper_sized():
    n = sum(p.numel() for p in QACMStudent().parameters())
    assert 3.0e6 <= n <= 4.5e6  # paper Table X: 3.6 M


@pytest.mark.parametrize("name", ["teacher", "student"])
def test_learns_a_toy_temporal_task(name):
    """Snippets whose feature 0 is high are anomalous; a few Adam steps must fit it."""
    torch.manual_seed(0)
    x = torch.randn(8, 24, 6)
    y = (x[..., 0] > 0.5).float()
    if name == "teacher":
        model = AFEDTeacher(AFEDConfig(input="features", input_dim=6, rwkv_dim=16, dropout=0.0))
    else:
        model = QACMStudent(QACMConfig(input="features", input_dim=6, hidden=16, dropout=0.0))
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    first = loss_fn(model(x), y).item()
    for _ in range(60):
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
    assert loss.item() < 0.5 * first
    assert ((model(x) > 0).float() == y).float().mean() > 0.9
