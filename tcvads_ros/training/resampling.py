# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""Lengths (VadCLIP ``src/utils/tools.py``): 256 uniform bins or zero padding for training,
256-chunks for testing.

For training a video longer than 256 snippets is averaged into 256 uniform bins
(``uniform_extract``), a shorter one zero-padded with its true length kept (``process_feat``),
see `fit_length`; for testing a video is split into 256-long chunks, the last one padded
(``process_split``), see `chunk`, and the outputs are concatenated and cut back to T by `unchunk`.
"""

from __future__ import annotations

import numpy as np

TRAIN_LENGTH = 256  # VadCLIP's visual_length


def uniform_average(x: np.ndarray, length: int = TRAIN_LENGTH) -> np.ndarray:
    """Average T rows into `length` uniform bins (VadCLIP ``uniform_extract(avg=True)``).

    Bin i covers rows ``[r_i, r_{i+1})`` with ``r = int(linspace(0, T, length + 1))``; an empty
    bin (only when T < length) takes row r_i.
    """
    edges = np.linspace(0, len(x), length + 1).astype(np.int64)
    out = np.empty((length, *x.shape[1:]), dtype=np.float32)
    for i in range(length):
        lo, hi = edges[i], edges[i + 1]
        out[i] = x[lo:hi].mean(axis=0) if hi > lo else x[lo]
    return out


def uniform_sample(x: np.ndarray, length: int = TRAIN_LENGTH) -> np.ndarray:
    """Pick `length` rows at uniform positions (VadCLIP ``uniform_extract(avg=False)``).

    Used for cached frames, where averaging images would blur them.
    """
    return x[np.linspace(0, len(x) - 1, length).astype(np.int64)]


def pad_to(x: np.ndarray, length: int) -> np.ndarray:
    """Zero-pad the first axis up to `length` rows (VadCLIP ``pad``)."""
    if len(x) >= length:
        return x
    padding = np.zeros((length - len(x), *x.shape[1:]), dtype=x.dtype)
    return np.concatenate([x, padding], axis=0)


def fit_length(
    x: np.ndarray, length: int = TRAIN_LENGTH, resample: str = "average"
) -> tuple[np.ndarray, int]:
    """Training length (VadCLIP ``process_feat``): -> ``(x of exactly length rows, true length)``.

    Longer inputs are resampled (``"average"``: `uniform_average`, for features;
    ``"sample"``: `uniform_sample`, for frames) and their true length is `length`; shorter ones
    are zero-padded and keep their own length.
    """
    if len(x) > length:
        if resample == "average":
            return uniform_average(x, length), length
        if resample == "sample":
            return uniform_sample(x, length), length
        raise ValueError(f"resample must be 'average' or 'sample', got '{resample}'")
    return pad_to(x, length), len(x)


def chunk(x: np.ndarray, length: int = TRAIN_LENGTH) -> tuple[np.ndarray, np.ndarray]:
    """Test-time split (VadCLIP ``process_split``): ``(chunks (n, length, ...), lengths (n,))``.

    n = ⌈T/length⌉ chunks, the last zero-padded; `lengths` holds each chunk's valid rows.
    (VadCLIP adds one all-padding chunk when T is a multiple of `length`; dropping it changes
    nothing after `unchunk`.)
    """
    n = max(1, -(-len(x) // length))
    padded = pad_to(x, n * length)
    lengths = np.full(n, length, dtype=np.int64)
    lengths[-1] = len(x) - (n - 1) * length
    return padded.reshape(n, length, *x.shape[1:]), lengths


def unchunk(outputs: np.ndarray, true_length: int) -> np.ndarray:
    """Concatenate per-chunk outputs (n, length, ...) and cut back to the true length."""
    outputs = np.asarray(outputs)
    return outputs.reshape(-1, *outputs.shape[2:])[:true_length]
