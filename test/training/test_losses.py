# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""Losses against independent formulations: VadCLIP's per-video loop, torch.distributions."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch.distributions import Bernoulli, kl_divergence

from tcvads_ros.training import losses


def _vadclip_clas2(logits, labels, lengths):
    """VadCLIP's CLAS2 written as it is there: a Python loop with torch.topk per video."""
    probs = torch.sigmoid(logits)
    video = []
    for i in range(len(lengths)):
        n = int(lengths[i])
        top, _ = torch.topk(probs[i, :n], k=n // 16 + 1, largest=True)
        video.append(top.mean())
    video = torch.stack(video)
    return F.binary_cross_entropy(video, labels.to(video.dtype))


def test_mil_topk_bce_matches_vadclip_loop():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(4, 70, generator=g, dtype=torch.float64)
    lengths = torch.tensor([70, 33, 16, 1])
    labels = torch.tensor([1, 0, 1, 0])
    got = losses.mil_topk_bce(logits, labels, lengths)
    assert torch.allclose(got, _vadclip_clas2(logits, labels, lengths), atol=1e-10)


def test_mil_topk_ignores_padding():
    logits = torch.zeros(1, 40)
    logits[0, 30:] = 50.0  # huge scores in the padding must not count
    lengths = torch.tensor([20])
    assert losses.topk_mean(torch.sigmoid(logits), lengths).item() == pytest.approx(0.5)


def test_topk_mean_per_class_equals_per_column():
    g = torch.Generator().manual_seed(1)
    x = torch.randn(3, 50, 4, generator=g)
    lengths = torch.tensor([50, 17, 5])
    got = losses.topk_mean(x, lengths)
    for c in range(4):
        assert torch.allclose(got[:, c], losses.topk_mean(x[:, :, c], lengths))
    k = 17 // 16 + 1
    assert got[1, 2].item() == pytest.approx(x[1, :17, 2].topk(k).values.mean().item(), rel=1e-6)


def test_bernoulli_kl_matches_torch_distributions_and_is_stable():
    g = torch.Generator().manual_seed(2)
    zt, zs = torch.randn(200, generator=g, dtype=torch.float64) * 4, torch.randn(200, generator=g, dtype=torch.float64) * 4
    ref = kl_divergence(Bernoulli(logits=zt), Bernoulli(logits=zs))
    assert torch.allclose(losses.bernoulli_kl(zt, zs), ref, atol=1e-10)
    big = losses.bernoulli_kl(torch.tensor([200.0, -200.0]), torch.tensor([-200.0, 200.0]))
    assert torch.isfinite(big).all() and (big > 100).all()


def test_soft_loss_scales_with_t_squared_and_masks():
    zt = torch.tensor([[2.0, -1.0, 9.0]])
    zs = torch.tensor([[0.5, 0.0, -9.0]])
    lengths = torch.tensor([2])  # the third snippet is padding
    for t in (0.5, 1.0, 2.5):
        ref = kl_divergence(Bernoulli(logits=zt[0, :2] / t), Bernoulli(logits=zs[0, :2] / t)).mean() * t * t
        assert losses.soft_loss(zs, zt, lengths, t).item() == pytest.approx(ref.item(), rel=1e-5)
    assert losses.soft_loss(zt, zt, lengths, 2.0).item() == pytest.approx(0.0, abs=1e-7)


def test_distillation_detaches_teacher_and_lambda_zero_is_hard_only():
    teacher = torch.randn(2, 20, requires_grad=True)
    student = torch.randn(2, 20, requires_grad=True)
    labels, lengths = torch.tensor([1, 0]), torch.tensor([20, 12])
    out = losses.distillation_loss(student, teacher, labels, lengths, temperature=2.0, weight=1.0)
    out["loss"].backward()
    assert teacher.grad is None and student.grad is not None
    plain = losses.distillation_loss(student, teacher, labels, lengths, temperature=2.0, weight=0.0)
    assert plain["loss"].item() == pytest.approx(losses.mil_topk_bce(student, labels, lengths).item())
    assert out["loss"].item() == pytest.approx((out["hard"] + out["soft"]).item())


def test_mil_align_loss_equals_cross_entropy_for_one_hot_and_soft_targets():
    g = torch.Generator().manual_seed(3)
    scores = torch.randn(5, 7, generator=g)
    y = torch.tensor([0, 3, 6, 2, 2])
    assert losses.mil_align_loss(scores, F.one_hot(y, 7)).item() == pytest.approx(
        F.cross_entropy(scores, y).item(), rel=1e-6)
    multi = torch.zeros(1, 7)
    multi[0, [1, 4]] = 1  # XD multi-hot: half the target mass on each label
    expected = -0.5 * (F.log_softmax(scores[:1], 1)[0, 1] + F.log_softmax(scores[:1], 1)[0, 4])
    assert losses.mil_align_loss(scores[:1], multi).item() == pytest.approx(expected.item(), rel=1e-6)


def test_contrastive_hinge_by_hand():
    # normal = e0; abnormal at 0 deg (cos 1), 60 deg (cos .5), 90 deg (cos 0), 180 (cos -1)
    a = math.radians(60)
    feats = torch.tensor([[1.0, 0.0], [2.0, 0.0], [math.cos(a), math.sin(a)], [0.0, 3.0], [-1.0, 0.0]])
    # only the first abnormal class exceeds δ = 0.5: contributes 1 - 0.5
    assert losses.contrastive_loss(feats, 0, 0.5).item() == pytest.approx(0.5, abs=1e-6)
    assert losses.contrastive_loss(feats, 0, 0.2).item() == pytest.approx(0.8 + 0.3, abs=1e-6)
    batch = torch.stack([feats, feats])
    assert losses.contrastive_loss(batch, 0, 0.5).item() == pytest.approx(0.5, abs=1e-6)


def test_l2_penalty_counts_only_trainable():
    a = torch.nn.Parameter(torch.full((2, 2), 2.0))
    b = torch.nn.Parameter(torch.ones(3), requires_grad=False)
    assert losses.l2_penalty([a, b]).item() == pytest.approx(16.0)


def test_snippet_bce_is_the_mean_log_loss_over_valid_snippets():
    g = torch.Generator().manual_seed(1)
    logits = torch.randn(3, 9, generator=g, dtype=torch.float64) * 3
    labels = torch.rand(3, 9, generator=g, dtype=torch.float64).round()
    lengths = torch.tensor([9, 4, 1])
    terms = []
    for i, n in enumerate(lengths.tolist()):
        for t in range(n):  # -[y log p + (1 - y) log(1 - p)], written out with math
            p = 1.0 / (1.0 + math.exp(-float(logits[i, t])))
            y = float(labels[i, t])
            terms.append(-(y * math.log(p) + (1 - y) * math.log(1 - p)))
    expected = sum(terms) / len(terms)
    assert float(losses.snippet_bce(logits, labels, lengths)) == pytest.approx(expected, rel=1e-10)
    logits[0, :] = 0.0  # padding rows never count
    padded = logits.clone()
    padded[1, 4:] = 1e3
    assert float(losses.snippet_bce(padded, labels, lengths)) == pytest.approx(
        float(losses.snippet_bce(logits, labels, lengths)))
