# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""A stream's statistics: its named counts (`Counters`) and latency figures (`LatencyStats`).

One `Counters` object serves every part of a stream that counts (the snippet sampler, the
coarse detector, the event state machine, the clip collector, the fine stage), each under its
own names, so diagnostics, `tcvads detect`'s summary and the soak check read one snapshot. The
parts run on different threads (camera callback, inference, fine worker); every `add` and every
read holds the object's one lock, so a copy never meets a count half-made or a name being added.
"""

from __future__ import annotations

import threading
from collections import Counter, deque
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np


class Counters(Mapping):
    """Named counts, safe to add to and read from any thread; a never-counted name reads 0.

    `scoped(prefix)` is a view of the same counts for one part: it adds and reads its names with
    `prefix` in front (the event state machine's ``started`` is the stream's ``events_started``).
    """

    def __init__(self, _shared: Counters | None = None, prefix: str = "") -> None:
        self._lock: threading.Lock = _shared._lock if _shared is not None else threading.Lock()
        self._counts: Counter = _shared._counts if _shared is not None else Counter()
        self._prefix = (_shared._prefix if _shared is not None else "") + prefix

    def scoped(self, prefix: str) -> Counters:
        return Counters(self, prefix)

    def add(self, name: str, n: float = 1) -> None:
        with self._lock:
            self._counts[self._prefix + name] += n

    def add_many(self, changes: Mapping[str, float]) -> None:
        """Several changes at once: no snapshot sees some of them without the others (a frame
        counted in without its fate)."""
        with self._lock:
            for name, n in changes.items():
                self._counts[self._prefix + name] += n

    def snapshot(self) -> dict[str, Any]:
        """A consistent copy of the counts (this view's names)."""
        with self._lock:
            if not self._prefix:
                return dict(self._counts)
            cut = len(self._prefix)
            return {k[cut:]: v for k, v in self._counts.items() if k.startswith(self._prefix)}

    def __getitem__(self, name: str) -> Any:
        with self._lock:
            return self._counts.get(self._prefix + name, 0)

    def get(self, name: str, default: Any = None) -> Any:
        with self._lock:
            return self._counts.get(self._prefix + name, default)

    def __contains__(self, name: object) -> bool:
        with self._lock:
            return isinstance(name, str) and self._prefix + name in self._counts

    def __iter__(self) -> Iterator[str]:
        return iter(self.snapshot())

    def __len__(self) -> int:
        return len(self.snapshot())

    def __repr__(self) -> str:
        return f"Counters({self.snapshot()!r})"


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
