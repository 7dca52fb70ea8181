# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""Enhanced RWKV (paper §IV.A, Exp. (8)-(9)): two TimeMix blocks, no ChannelMix.

The paper's Exp. (8) ``T = σ(V·Kᵀ + R)`` is a loose sketch; following docs/models.md we implement the
real RWKV-4 TimeMix:

- token shift: ``x'_t = μ ⊙ x_t + (1 − μ) ⊙ x_{t−1}`` with learned per-channel μ for K, V and R;
- bias-free projections ``k = W_k x'``, ``v = W_v x'``, ``r = W_r x'``;
- per-channel decay ``w = −exp(time_decay)`` (log-decay per step) and bonus ``u = time_first``;
- WKV (RWKV-4's, our reading of Exp. (8), docs/models.md):
  ``wkv_t = (Σ_{i<t} e^{(t−1−i)w + k_i} v_i + e^{u + k_t} v_t) /
  (Σ_{i<t} e^{(t−1−i)w + k_i} + e^{u + k_t})``, evaluated in a numerically stable form (every
  sum kept relative to a detached reference exponent, as RWKV-4's running maximum), so keys of
  ±80 neither overflow nor underflow;
- output ``W_o(σ(r) ⊙ wkv)``.

Each block is followed by LayerNorm (Exp. (9)) and a residual: ``x ← x + LN(TimeMix(x))``
(our reading of "LayerNorm + residual"; the residual keeps an identity path for training).

Two forms share one set of weights and agree to float precision:

- ``forward(x)`` over a whole (B, T, D) sequence, with no Python loop over time: the sequence
  is cut into chunks of ``chunk_size`` steps; inside every chunk the WKV sums are one batched
  (chunk × chunk) product per channel against the decay matrix ``e^{(t−1−i)w}``, and the states
  entering the chunks are the same sum one level up (decay ``chunk·w``), evaluated recursively
  (log_chunk T levels; see ``_past_means``). Cost O(T · chunk · D); 16 measured fastest on CPU.
  The WKV runs channel-first (B, D, T), which the K/V/R products give without a transpose.
- ``step(x_t, state)`` one step at a time with an explicit state (streaming; causal only).

``bidirectional=True`` gives the Vision-RWKV Bi-WKV for offline use: the sum runs over all
``i ≠ t`` with decay ``(|t − i| − 1)·w`` plus the bonus at ``i = t``, and the token shift mixes
the mean of both neighbours. It has no recurrent form.

``window`` (paper §V.B: "the window length in the RWKV module is 256 for XD-Violence and 32 for
UCF-Crime") cuts the sequence into consecutive windows of ``window`` snippets, each run as a
sequence of its own (state and token shift start afresh at every window start), as VadCLIP's
local Transformer limits attention to windows with "no information exchange among windows".
The whole stack is windowed, not each block, so an output never depends on an input ``window``
or more snippets before it (a per-block sliding window would compound over the two blocks).
``window=None`` (the default): one window, the whole sequence. ``chunk_size`` only says how a
window is computed, never what it sees.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from tcvads_ros.errors import ConfigError
from tcvads_ros.models.shapes import check_shape

# Sentinel exponent for an empty sum: finite, so max() and subtraction stay NaN-free.
_EMPTY = -1e30
# Largest key above its chunk's first key that the float64 chunk product holds exactly:
# e^{600}·chunk·|v| stays far below the float64 maximum (e^{709}).
_SPAN = 600.0


def _combine(parts: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]):
    """Add sums kept as (a, b, p) = (numerator, denominator) · e^{−p}, with a shared new max.

    The max is detached: each sum is a·e^p, so its gradient does not depend on the shift p.
    """
    p = parts[0][2]
    for _, _, pi in parts[1:]:
        p = torch.maximum(p, pi)
    p = p.detach()
    a = sum(ai * torch.exp(pi - p) for ai, _, pi in parts)
    b = sum(bi * torch.exp(pi - p) for _, bi, pi in parts)
    return a, b, p


def _logaddexp_mean(m1, p1, m2, p2, with_log: bool = True):
    """Merge two sums kept as (mean, log-denominator), ``Σ e^{k_i} v_i = mean · e^p`` over
    ``Σ e^{k_i} = e^p``.

    The shift is detached (the value does not depend on it); the merged denominator is ≥ 1 ·
    e^{shift}, so its log is finite even when both parts are the empty sentinel.
    ``with_log=False`` skips the log-denominator (returned as None) when only the mean is needed.
    """
    shift = torch.maximum(p1, p2).detach()
    e1, e2 = torch.exp(p1 - shift), torch.exp(p2 - shift)
    den = e1 + e2
    return (m1 * e1 + m2 * e2) / den, (shift + torch.log(den)) if with_log else None


def _past_means(log_decay: torch.Tensor, k: torch.Tensor, v: torch.Tensor, chunk: int,
                bonus: torch.Tensor | None = None, with_log: bool = True):
    """``Σ_{i<t} e^{(t−1−i)·w + k_i} v_i`` over ``Σ_{i<t} e^{(t−1−i)·w + k_i}`` for every t;
    with ``bonus`` u, both sums also hold the current step's ``e^{u + k_t} (v_t | 1)``.

    Channel-first: k, v are (B, D, T), ``log_decay`` w and ``bonus`` u are (D,) (or scalars).
    The sequence is cut into chunks of ``chunk`` steps, all evaluated at once (no Python loop
    over chunks):

    1. Inside a chunk, ``e^{(t−1−i)w + k_i} = L[t, i] · e^{k_i − m} · e^m`` with
       ``L[t, i] = e^{(t−1−i)w}`` (i < t; ``e^u`` for i = t with a bonus; else 0) and m the
       chunk's first key (causal: every row sees it, so no output depends on a later input);
       rows t = 0…chunk are then one batched matrix product per channel. It runs in float64, whose exponent range
       (±708) holds ``e^{k_i − m}`` exactly while a chunk's keys stay within ``_SPAN`` above
       its first key (±80 keys differ by at most 160; further up they are clipped: finite,
       not exact); a term lost to underflow in L is below e^{−708 + k_i − k_{t−1}} of the
       row's latest term (L[t, t−1] = 1), negligible for such keys. Row ``chunk`` is the
       chunk's summary, its contribution to the position just after it.
    2. The state entering chunk n is ``Σ_{j<n} e^{(n−1−j)·chunk·w} summary_j``: the same sum
       one level up, with keys = the summaries' log-denominators, values = their means and
       decay ``chunk·w``, so it is evaluated by this function recursively (log_chunk T levels).
    3. The entering state, decayed s more steps, is merged into position s of each chunk.

    Means are weighted averages of values and log-denominators are finite, so everything
    outside step 1 stays in the input dtype. Work: one batched product of O(T · chunk · D)
    multiply-adds plus O(T · D) elementwise.

    Returns:
        (mean, p), each (B, D, T): the numerator is ``mean · e^p``, the denominator ``e^p``;
        an empty sum (t = 0 without a bonus) is mean 0, p = the sentinel ``_EMPTY``. p is None
        when ``with_log`` is false and there is more than one chunk (only the mean is needed).
    """
    bsz, dim, length = k.shape
    n_chunks = (length + chunk - 1) // chunk  # (positive operands: traced exports truncate)
    pad = n_chunks * chunk - length  # padding at the end only reaches padded positions
    if pad:
        k, v = torch.nn.functional.pad(k, (0, pad)), torch.nn.functional.pad(v, (0, pad))
    k, v = k.reshape(bsz, dim, n_chunks, chunk), v.reshape(bsz, dim, n_chunks, chunk)
    w = log_decay.reshape(-1, 1, 1)
    wide = torch.float64
    rows = torch.arange(chunk + 1, device=k.device, dtype=wide)  # t = 0…chunk
    cols = torch.arange(chunk, device=k.device, dtype=wide)  # i
    # L transposed: decay[d, i, t] = e^{(t − 1 − i)·w_d} for i < t (e^{u_d} at i = t with a
    # bonus), else 0.
    gap = (rows[None, :] - 1 - cols[:, None]) * w.to(wide)  # (D, chunk, chunk + 1)
    gap = gap.masked_fill(cols[:, None] >= rows[None, :], float("-inf"))
    if bonus is not None:  # the current step t = i < chunk, weighted e^u (RWKV-4's bonus)
        diagonal = cols[:, None] == rows[None, :]
        gap = torch.where(diagonal, bonus.reshape(-1, 1, 1).to(wide), gap)
    decay = torch.exp(gap)
    top = k[..., :1].detach()  # m: each chunk's first key
    weight = torch.exp((k - top).clamp_max(_SPAN).to(wide))  # (B, D, N, chunk)
    # (B, D, N, chunk + 1): numerators and denominators of rows t = 0…chunk.
    num = torch.matmul(weight * v, decay)
    den = torch.matmul(weight, decay).clamp_min(torch.finfo(wide).tiny)
    mean = (num / den).to(k.dtype)
    p = top + torch.log(den).to(k.dtype)
    if bonus is None:
        p = p.masked_fill(rows == 0, _EMPTY)  # row 0 holds no term
    mean_out, p_out = mean[..., :chunk], p[..., :chunk]
    if n_chunks > 1:
        mean_st, p_st = _past_means(chunk * log_decay, p[..., chunk], mean[..., chunk], chunk)
        # Position s of chunk n sees the entering state decayed s steps.
        p_st = p_st[..., None] + cols.to(k.dtype) * w
        mean_out, p_out = _logaddexp_mean(mean_out, p_out, mean_st[..., None], p_st, with_log)
    shape = (bsz, dim, n_chunks * chunk)
    if p_out is not None:
        p_out = p_out.reshape(shape)[..., :length]
    return mean_out.reshape(shape)[..., :length], p_out


def _wkv_dtype(dtype: torch.dtype) -> torch.dtype:
    """WKV sums run in float32 at least (as RWKV-4's kernel): half precision would turn the
    empty-sum sentinel into -inf and lose the small decayed terms."""
    return torch.promote_types(dtype, torch.float32)


def _with_bonus(past: list, bonus_exp: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """wkv = (Σ past + e^{u+k} v) / (Σ past + e^{u+k}), all in the stable form."""
    a, b, _ = _combine(past + [(v, torch.ones_like(v), bonus_exp)])
    return a / b


def wkv_channels_first(log_decay: torch.Tensor, bonus: torch.Tensor, k: torch.Tensor,
                       v: torch.Tensor, chunk_size: int = 16,
                       bidirectional: bool = False) -> torch.Tensor:
    """The WKV of every position, channel-first (B, D, T): the past (and, bidirectional, the
    future) sums plus the bonus ``e^{u + k_t} v_t``, normalised, all in the stable form (see
    ``_past_means``)."""
    chunk = max(chunk_size, 2)  # a one-step chunk would recurse on an equally long sequence
    out, p = _past_means(log_decay, k, v, chunk, bonus, with_log=bidirectional)
    if bidirectional:  # Bi-WKV: the future is the past of the reversed sequence
        future, p_future = _past_means(log_decay, k.flip(2), v.flip(2), chunk)
        out, _ = _logaddexp_mean(out, p, future.flip(2), p_future.flip(2), with_log=False)
    return out


def wkv(log_decay: torch.Tensor, bonus: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
        chunk_size: int = 16, bidirectional: bool = False) -> torch.Tensor:
    """``wkv_channels_first`` for (B, T, D) keys and values."""
    return wkv_channels_first(log_decay, bonus, k.transpose(1, 2), v.transpose(1, 2),
                              chunk_size, bidirectional).transpose(1, 2)


class TimeMix(nn.Module):
    """One RWKV-4 TimeMix block (token shift, K/V/R, decay and bonus, stable WKV, σ(r) gate).

    Args:
        dim: channel width D.
        bidirectional: Vision-RWKV Bi-WKV (offline only; ``step`` is then unavailable).
        chunk_size: steps per chunk of the sequence form.
        layer_id, n_layers: position in the stack, used only for the RWKV-4 initialisation.
    """

    def __init__(self, dim: int, bidirectional: bool = False, chunk_size: int = 16,
                 layer_id: int = 0, n_layers: int = 1):
        super().__init__()
        if dim < 1 or chunk_size < 1:
            raise ConfigError(f"TimeMix: dim and chunk_size must be >= 1, got {dim}, {chunk_size}")
        self.dim, self.bidirectional, self.chunk_size = dim, bidirectional, chunk_size
        # RWKV-4 initialisation: decay speeds spread over channels, zig-zag bonus, μ ramps.
        ratio_0_to_1 = layer_id / max(n_layers - 1, 1)
        ratio_1_to_almost0 = 1.0 - layer_id / n_layers
        h = torch.arange(dim, dtype=torch.float32) / max(dim - 1, 1)
        self.time_decay = nn.Parameter(-5 + 8 * h ** (0.7 + 1.3 * ratio_0_to_1))
        zigzag = torch.tensor([(i + 1) % 3 - 1 for i in range(dim)], dtype=torch.float32) * 0.5
        self.time_first = nn.Parameter(torch.full((dim,), math.log(0.3)) + zigzag)
        ramp = torch.arange(dim, dtype=torch.float32) / dim
        self.time_mix_k = nn.Parameter(ramp ** ratio_1_to_almost0)
        self.time_mix_v = nn.Parameter(ramp ** ratio_1_to_almost0 + 0.3 * ratio_0_to_1)
        self.time_mix_r = nn.Parameter(ramp ** (0.5 * ratio_1_to_almost0))
        self.key = nn.Linear(dim, dim, bias=False)
        self.value = nn.Linear(dim, dim, bias=False)
        self.receptance = nn.Linear(dim, dim, bias=False)
        self.output = nn.Linear(dim, dim, bias=False)

    def log_decay(self) -> torch.Tensor:
        """w = −exp(time_decay): the per-channel log-decay per step."""
        return -torch.exp(self.time_decay)

    def _krv(self, x: torch.Tensor, shifted: torch.Tensor, channels_first: bool = False):
        def project(linear: nn.Linear, mu: torch.Tensor) -> torch.Tensor:
            mixed = x * mu + shifted * (1 - mu)
            if channels_first:  # W · mixedᵀ gives (B, D, T) straight from the product
                return torch.matmul(linear.weight, mixed.transpose(-1, -2))
            return linear(mixed)
        return (project(self.key, self.time_mix_k), project(self.receptance, self.time_mix_r),
                project(self.value, self.time_mix_v))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Sequence form: x (B, T, D) -> (B, T, D). The WKV runs channel-first (B, D, T)."""
        pad = x.new_zeros(x.shape[0], 1, x.shape[2])
        previous = torch.cat([pad, x[:, :-1]], dim=1)
        if self.bidirectional:
            following = torch.cat([x[:, 1:], pad], dim=1)
            previous = 0.5 * (previous + following)
        k, r, v = self._krv(x, previous, channels_first=True)
        dtype = _wkv_dtype(k.dtype)
        with torch.autocast(k.device.type, enabled=False):
            k, v, w = k.to(dtype), v.to(dtype), self.log_decay().to(dtype)
            out = wkv_channels_first(w, self.time_first.to(dtype), k, v, self.chunk_size,
                                     self.bidirectional)
        return self.output((torch.sigmoid(r) * out.to(r.dtype)).transpose(1, 2))

    def init_state(self, batch: int, dtype=None, device=None) -> torch.Tensor:
        """Zero state (4, B, D): previous input, a, b, p (p = the empty-sum sentinel); in the
        weights' dtype unless ``dtype`` says otherwise, float32 at least."""
        dtype = _wkv_dtype(dtype or self.time_decay.dtype)
        state = torch.zeros(4, batch, self.dim, dtype=dtype, device=device)
        state[3] = _EMPTY
        return state

    def step(self, x: torch.Tensor, state: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Recurrent form: x (B, D), state (4, B, D) -> (y (B, D), new state)."""
        if self.bidirectional:
            raise ConfigError("a bidirectional TimeMix has no recurrent step; use forward()")
        x_prev, a, b, p = state.unbind(0)
        k, r, v = self._krv(x, x_prev.to(x.dtype))
        # The sums run in the wider of state and input: a float32 state must not round a
        # float64 step (the two forms then agree to ~1e-12, test_rwkv.py).
        dtype = _wkv_dtype(torch.promote_types(state.dtype, x.dtype))
        with torch.autocast(k.device.type, enabled=False):
            k, v = k.to(dtype), v.to(dtype)
            wkv = _with_bonus([(a, b, p)], self.time_first.to(dtype) + k, v)
            # RWKV-4 update: state ← e^{w}·state + e^{k}·v, with a new running maximum.
            w = self.log_decay().to(dtype)
            a, b, p = _combine([(a, b, p + w), (v, torch.ones_like(v), k)])
        y = self.output(torch.sigmoid(r) * wkv.to(r.dtype))
        return y, torch.stack([x.to(dtype), a, b, p])


@dataclass
class RWKVConfig:
    """Args: see ``EnhancedRWKV``."""

    dim: int = 512
    n_blocks: int = 2
    bidirectional: bool = False
    chunk_size: int = 16
    window: int | None = None


class EnhancedRWKV(nn.Module):
    """Enhanced RWKV (paper §IV.A): ``n_blocks`` TimeMix blocks, each ``x ← x + LN(TimeMix(x))``.

    Args:
        dim: feature width D.
        n_blocks: TimeMix blocks (the paper uses two).
        bidirectional: Vision-RWKV style Bi-WKV, for offline use only.
        chunk_size: steps per chunk of the sequence form (how it is computed, not what it sees).
        window: snippets per window (paper §V.B; see the module docstring); None: the whole
            sequence is one window.
    """

    def __init__(self, dim: int, n_blocks: int = 2, bidirectional: bool = False,
                 chunk_size: int = 16, window: int | None = None):
        super().__init__()
        if n_blocks < 1:
            raise ConfigError(f"EnhancedRWKV: n_blocks must be >= 1, got {n_blocks}")
        if window is not None and window < 1:
            raise ConfigError(f"EnhancedRWKV: window must be >= 1 or null, got {window}")
        self.dim, self.bidirectional, self.window = dim, bidirectional, window
        self.blocks = nn.ModuleList(
            TimeMix(dim, bidirectional, chunk_size, layer_id=i, n_layers=n_blocks)
            for i in range(n_blocks)
        )
        self.norms = nn.ModuleList(nn.LayerNorm(dim) for _ in range(n_blocks))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Sequence form: x (B, T, D) -> (B, T, D), window by window."""
        check_shape(x, ("B", "T", self.dim), "EnhancedRWKV")
        bsz, length, dim = x.shape
        w = self.window
        if w is None or length <= w:
            return self._stack(x)
        full = length // w * w  # whole windows folded into the batch; the rest run on their own
        out = self._stack(x[:, :full].reshape(bsz * (full // w), w, dim)).reshape(bsz, full, dim)
        if full < length:  # not padded: a bidirectional window would see the padding
            out = torch.cat([out, self._stack(x[:, full:])], dim=1)
        return out

    def _stack(self, x: torch.Tensor) -> torch.Tensor:
        for block, norm in zip(self.blocks, self.norms):
            x = x + norm(block(x))
        return x

    def init_state(self, batch: int, dtype=None, device=None) -> torch.Tensor:
        """Zero state (n_blocks, 4, B, D) for ``step``."""
        return torch.stack([b.init_state(batch, dtype, device) for b in self.blocks])

    def step(self, x: torch.Tensor, state: torch.Tensor,
             position: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Recurrent form (causal only): x_t (B, D), state -> (y_t (B, D), new state).

        With a ``window``, ``position`` (t, counted from the sequence's start) is required: the
        state starts afresh at every window start (t % window == 0), as the sequence form.
        """
        if self.window is not None:
            if position is None:
                raise ConfigError("EnhancedRWKV.step: a windowed RWKV needs the step's position")
            if position % self.window == 0:
                state = self.init_state(x.shape[0], state.dtype, state.device)
        new_states = []
        for block, norm, s in zip(self.blocks, self.norms, state.unbind(0)):
            y, s = block.step(x, s)
            x = x + norm(y)
            new_states.append(s)
        return x, torch.stack(new_states)
