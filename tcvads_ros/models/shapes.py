# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""Input shape checks with readable messages, silent while a graph is being traced for export."""

from __future__ import annotations

import torch


def check_shape(x: torch.Tensor, pattern: tuple[int | str, ...], what: str) -> None:
    """Raise ValueError unless ``x`` matches ``pattern`` (ints fixed, strings any size).

    Skipped under ``torch.jit`` tracing (the ONNX exporter), where sizes are traced values and a
    Python comparison would only emit TracerWarnings.
    """
    if torch.jit.is_tracing():
        return
    if x.dim() != len(pattern) or any(
        isinstance(p, int) and s != p for s, p in zip(x.shape, pattern)
    ):
        expected = "(" + ", ".join(str(p) for p in pattern) + ")"
        raise ValueError(f"{what} expects {expected}, got {tuple(x.shape)}")
