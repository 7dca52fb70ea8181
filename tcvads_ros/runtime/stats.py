"""Latency figures for diagnostics and the end-of-run summary."""

from __future__ import annotations

from collections import deque

import numpy as np


class LatencyStats:
    """The last `capacity` latencies in seconds: mean / p50 / p95 / max in milliseconds."""

    def __init__(self, capacity: int = 2048):
        self._values: deque[float] = deque(maxlen=capacity)

    def add(self, seconds: float) -> None:
        self._values.append(seconds)

    def summary(self) -> dict[str, float]:
        if not self._values:
            return {"count": 0}
        ms = np.asarray(self._values) * 1000.0
        return {"count": len(ms), "mean_ms": float(ms.mean()), "p50_ms": float(np.percentile(ms, 50)),
                "p95_ms": float(np.percentile(ms, 95)), "max_ms": float(ms.max())}
