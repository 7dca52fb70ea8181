# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""Enhanced RWKV: sequence form == recurrent form == naive O(T²) WKV; stable for large keys."""

from __future__ import annotations

import pytest
import torch

from tcvads_ros.errors import ConfigError
from tcvads_ros.models.rwkv import EnhancedRWKV, TimeMix, wkv

torch.set_num_threads(1)


def naive_wkv(log_decay, u, k, v, bidirectional=False):
    """Direct O(T²) evaluation of the RWKV-4 WKV sum with plain exponentials (float64)."""
    _, length, _ = k.shape
    out = torch.empty_like(v)
    for t in range(length):
        num = torch.exp(u + k[:, t]) * v[:, t]
        den = torch.exp(u + k[:, t])
        for i in range(length):
            if i < t or (bidirectional and i > t):
                weight = torch.exp((abs(t - i) - 1) * log_decay + k[:, i])
                num = num + weight * v[:, i]
                den = den + weight
        out[:, t] = num / den
    return out


def _run_steps(model, x):
    state = model.init_state(x.shape[0], dtype=x.dtype)
    ys = []
    for t in range(x.shape[1]):
        y, state = model.step(x[:, t], state)
        ys.append(y)
    return torch.stack(ys, 1)


@pytest.mark.parametrize("length", [1, 2, 7, 16, 33])
@pytest.mark.parametrize("dtype,tol", [(torch.float64, 1e-9), (torch.float32, 1e-4)])
def test_step_by_step_equals_sequence_form(length, dtype, tol):
    torch.manual_seed(length)
    model = EnhancedRWKV(8, chunk_size=5).to(dtype)
    x = torch.randn(2, length, 8, dtype=dtype)
    with torch.no_grad():
        diff = (model(x) - _run_steps(model, x)).abs().max().item()
    assert diff <= tol


@pytest.mark.parametrize("weights", ["initial", "tripled", "random"])
def test_forms_agree_exactly_for_trained_looking_weights(weights):
    """300 steps in float64, the state from init_state's defaults: the sequence form is exact,
    so the two forms agree to rounding (~1e-12) with the initial weights, every weight tripled
    (keys ~3x larger, decays e^3 faster) or all weights drawn at random."""
    torch.manual_seed(11)
    model = EnhancedRWKV(16).double()
    with torch.no_grad():
        for p in model.parameters():
            p.copy_({"initial": p, "tripled": 3 * p, "random": torch.randn_like(p)}[weights])
    x = torch.randn(1, 300, 16, dtype=torch.float64)
    with torch.no_grad():
        state = model.init_state(1)
        assert state.dtype == torch.float64  # the weights' dtype, not the default float32
        steps = []
        for t in range(x.shape[1]):
            y, state = model.step(x[:, t], state)
            steps.append(y)
        diff = (model(x) - torch.stack(steps, 1)).abs().max().item()
    assert diff <= 1e-9


@pytest.mark.parametrize("length,chunk", [(1, 4), (9, 4), (12, 4), (20, 32)])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_sequence_wkv_equals_naive(length, chunk, bidirectional):
    torch.manual_seed(0)
    mix = TimeMix(6, bidirectional=bidirectional, chunk_size=chunk).double()
    with torch.no_grad():
        mix.time_decay.copy_(torch.linspace(-3, 1.5, 6))
        mix.time_first.copy_(torch.linspace(-1, 1, 6))
    k = torch.randn(3, length, 6, dtype=torch.float64) * 3
    v = torch.randn(3, length, 6, dtype=torch.float64)
    w = mix.log_decay().detach()
    fast = wkv(w, mix.time_first.detach(), k, v, chunk, bidirectional)
    slow = naive_wkv(w, mix.time_first.detach(), k, v, bidirectional)
    assert torch.allclose(fast, slow, atol=1e-10, rtol=1e-9)


def test_stable_for_large_keys_where_naive_overflows():
    torch.manual_seed(1)
    length = 40
    k = torch.where(torch.rand(1, length, 4) > 0.5, 80.0, -80.0) + torch.randn(1, length, 4)
    v = torch.randn(1, length, 4)
    w = torch.full((4,), -0.5)
    assert not torch.isfinite(torch.exp(k + 10)).all()  # the naive float32 sum would overflow
    out = wkv(w, torch.tensor(0.3), k, v, 8)
    assert torch.isfinite(out).all()
    # A weighted mean of values: it must stay inside their range.
    assert out.abs().max() <= v.abs().max() + 1e-5
    ref = naive_wkv(w.double(), torch.tensor(0.3, dtype=torch.float64), k.double() - 80, v.double())
    assert torch.allclose(out.double(), ref, atol=1e-4)  # shifting every key by 80 cancels


def test_model_finite_gradients_with_large_activations():
    model = EnhancedRWKV(8, chunk_size=4)
    x = torch.randn(2, 11, 8) * 200
    x.requires_grad_(True)
    model(x).sum().backward()
    assert torch.isfinite(x.grad).all()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters())


@pytest.mark.parametrize("bidirectional", [False, True])
def test_shapes_and_gradients(bidirectional):
    model = EnhancedRWKV(16, bidirectional=bidirectional, chunk_size=8)
    x = torch.randn(3, 21, 16, requires_grad=True)
    y = model(x)
    assert y.shape == x.shape
    y.square().mean().backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_bidirectional_sees_the_future_and_causal_does_not():
    torch.manual_seed(2)
    x = torch.randn(1, 10, 8)
    x2 = x.clone()
    x2[:, 7:] += 1.0
    causal, bidir = EnhancedRWKV(8).eval(), EnhancedRWKV(8, bidirectional=True).eval()
    with torch.no_grad():
        assert torch.equal(causal(x)[:, :7], causal(x2)[:, :7])
        assert not torch.allclose(bidir(x)[:, :7], bidir(x2)[:, :7])
    with pytest.raises(ConfigError):
        bidir.step(x[:, 0], bidir.init_state(1))


def test_long_sequence_runs_in_chunks():
    model = EnhancedRWKV(32)
    with torch.no_grad():
        y = model(torch.randn(1, 2048, 32))
    assert y.shape == (1, 2048, 32) and torch.isfinite(y).all()


@pytest.mark.parametrize("bidirectional", [False, True])
def test_gradients_match_finite_differences(bidirectional):
    """The detached max-shifts must not change the gradient (a·e^p does not depend on p)."""
    torch.manual_seed(4)
    w = (-torch.rand(3, dtype=torch.float64) - 0.1).requires_grad_(True)
    u = torch.randn(3, dtype=torch.float64, requires_grad=True)
    k = (torch.randn(2, 7, 3, dtype=torch.float64) * 3).requires_grad_(True)
    v = torch.randn(2, 7, 3, dtype=torch.float64, requires_grad=True)

    def run(w, u, k, v):
        return wkv(w, u, k, v, 3, bidirectional)

    assert torch.autograd.gradcheck(run, (w, u, k, v))


def test_recurrent_gradients_match_finite_differences():
    torch.manual_seed(5)
    model = TimeMix(3).double()
    x = torch.randn(1, 5, 3, dtype=torch.float64, requires_grad=True)

    def run(x):
        state = model.init_state(1, dtype=torch.float64)
        ys = []
        for t in range(x.shape[1]):
            y, state = model.step(x[:, t], state)
            ys.append(y)
        return torch.stack(ys, 1)

    assert torch.autograd.gradcheck(run, (x,))


def test_half_precision_and_autocast_stay_finite():
    torch.manual_seed(6)
    model = EnhancedRWKV(8, chunk_size=4)
    x = torch.randn(2, 10, 8)
    with torch.no_grad():
        ref = model(x)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            auto = model(x)
        half = model.to(torch.bfloat16)(x.to(torch.bfloat16))
        state = model.init_state(2, dtype=torch.bfloat16)
        y, state = model.step(x[:, 0].to(torch.bfloat16), state)
    assert state.dtype == torch.float32 and torch.isfinite(y).all()
    for out in (auto, half):
        assert torch.isfinite(out).all()
        assert (out.float() - ref).abs().max() < 0.2  # bf16 has ~3 significant digits


@pytest.mark.parametrize("bidirectional", [False, True])
def test_several_chunk_levels_with_large_keys_equal_naive(bidirectional):
    """70 steps in chunks of 3: the chunk states recurse four levels deep; ±80 keys and a fast
    decay stress the float64 chunk product and the log-space merges."""
    torch.manual_seed(7)
    length, dim = 70, 5
    k = torch.where(torch.rand(2, length, dim) > 0.5, 80.0, -80.0).double()
    k = k + torch.randn(2, length, dim, dtype=torch.float64)
    v = torch.randn(2, length, dim, dtype=torch.float64)
    w = -torch.tensor([0.001, 0.1, 1.0, 5.0, 30.0], dtype=torch.float64)
    u = torch.linspace(-1, 1, dim, dtype=torch.float64)
    fast = wkv(w, u, k, v, 3, bidirectional)
    slow = naive_wkv(w, u, k - 80, v, bidirectional)  # shifting every key by 80 cancels
    assert torch.allclose(fast, slow, atol=1e-9, rtol=1e-9)


@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("window,length", [(4, 13), (5, 10), (8, 8)])
def test_window_sees_no_snippet_window_or_more_back(window, length, bidirectional):
    """Paper §V.B's RWKV window: perturbing an input ``window`` or more snippets before an
    output leaves it unchanged, for every (output, input) pair; perturbing one inside the
    output's window (its own window start up to itself) changes it."""
    torch.manual_seed(window)
    model = EnhancedRWKV(6, chunk_size=3, bidirectional=bidirectional, window=window).double()
    with torch.no_grad():
        for norm in model.norms:  # non-trivial gains (the default 1 is fine too)
            norm.weight.uniform_(0.5, 1.5)
    x = torch.randn(1, length, 6, dtype=torch.float64)
    with torch.no_grad():
        base = model(x)
        for src in range(length):
            bumped = x.clone()
            bumped[:, src] += 3.0
            moved = (model(bumped) - base).abs().amax(-1)[0]  # (T,): change of each output
            for t in range(length):
                if t - src >= window:
                    assert moved[t] == 0.0, (src, t)
                if t // window == src // window and (bidirectional or src <= t):
                    assert moved[t] > 1e-6, (src, t)


def test_window_none_sees_the_whole_past_and_chunk_size_changes_nothing():
    torch.manual_seed(0)
    x = torch.randn(1, 20, 6, dtype=torch.float64)
    model = EnhancedRWKV(6, chunk_size=4).double()
    with torch.no_grad():
        base = model(x)
        bumped = x.clone()
        bumped[:, 0] += 3.0
        assert (model(bumped) - base)[0, -1].abs().max() > 1e-6  # 19 back still matters
        for chunk in (2, 7, 32):  # how it is computed, not what it sees
            for block in model.blocks:
                block.chunk_size = chunk
            assert torch.allclose(model(x), base, atol=1e-10)


def test_windowed_step_form_equals_sequence_form_and_needs_positions():
    torch.manual_seed(3)
    model = EnhancedRWKV(8, chunk_size=3, window=5).double()
    x = torch.randn(2, 13, 8, dtype=torch.float64)
    state = model.init_state(2, dtype=x.dtype)
    ys = []
    with torch.no_grad():
        for t in range(13):
            y, state = model.step(x[:, t], state, position=t)
            ys.append(y)
        assert torch.allclose(torch.stack(ys, 1), model(x), atol=1e-9)
        with pytest.raises(ConfigError, match="position"):
            model.step(x[:, 0], model.init_state(2, dtype=x.dtype))
    with pytest.raises(ConfigError, match="window"):
        EnhancedRWKV(8, window=0)
