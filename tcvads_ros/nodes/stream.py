"""Flow control of the nodes, as plain classes (no ROS import): tested without rclpy.

- `LatestSlot`: the camera callback puts each message here and returns at once; the single
  inference thread takes the newest. A message replaced before it was taken is a dropped frame,
  counted, so stale frames drop (as RUNTIME.md asks) and the drop is visible in /diagnostics.
- `StreamStats`: counters and per-window rates and latency for /diagnostics.
- `ClipCache`: fine_node's own bounded, time-indexed buffer of camera frames, from which it cuts
  an event's clip (frames before and after the start), so the clip never crosses the network.
- `ClipQueue`: the bounded queue of clips waiting for the (slow, rare) fine stage; when full the
  oldest waiting clip is dropped and counted, and a second trigger of an event already waiting
  is coalesced into it.
"""

from __future__ import annotations

import math
import threading
import time
from collections import Counter, OrderedDict, deque
from collections.abc import Callable
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class LatestSlot(Generic[T]):
    """A one-item mailbox between a producer callback and a consumer thread (newest wins)."""

    def __init__(self) -> None:
        self._item: T | None = None
        self._full = False
        self._closed = False
        self._cond = threading.Condition()
        self.dropped = 0

    def put(self, item: T) -> bool:
        """Offer the newest item; returns True when it replaced one that was never taken."""
        with self._cond:
            replaced = self._full
            self.dropped += replaced
            self._item, self._full = item, True
            self._cond.notify()
            return replaced

    def take(self, timeout: float | None = None) -> T | None:
        """The newest item, waiting up to `timeout` seconds; None on timeout or after close()."""
        with self._cond:
            if not self._cond.wait_for(lambda: self._full or self._closed, timeout):
                return None
            if not self._full:
                return None
            item, self._item, self._full = self._item, None, False
            return item

    def close(self) -> None:
        """Wake the consumer for good (shutdown)."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    @property
    def closed(self) -> bool:
        return self._closed


class StreamStats:
    """Counts frames in, processed, dropped and rejected, and processing latency, per window.

    `window()` returns the figures since the previous call (rates per second over the window's
    wall-clock length) and starts a new window; `totals()` the counts since start. Thread safe:
    the camera callback, the inference thread and the diagnostics timer all touch it.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._totals: Counter = Counter()
        self._window: Counter = Counter()
        self._latencies: list[float] = []
        self._rejected: Counter = Counter()
        self._window_start = clock()

    def count(self, name: str, n: int = 1) -> None:
        """Add to a counter: frames_in, processed, dropped (or any other name)."""
        with self._lock:
            self._totals[name] += n
            self._window[name] += n

    def reject(self, reason: str) -> None:
        """A frame that could not be converted, by `ImageConversionError.reason`."""
        with self._lock:
            self._rejected[reason] += 1
            self._totals["rejected"] += 1
            self._window["rejected"] += 1

    def processed(self, latency_s: float) -> None:
        """A frame went through the model; `latency_s` from its arrival to its results."""
        with self._lock:
            self._totals["processed"] += 1
            self._window["processed"] += 1
            if math.isfinite(latency_s):
                self._latencies.append(latency_s)

    def window(self) -> dict[str, Any]:
        with self._lock:
            now = self._clock()
            span = max(now - self._window_start, 1e-9)
            counts, latencies = self._window, self._latencies
            self._window, self._latencies, self._window_start = Counter(), [], now
        latencies.sort()
        return {
            "window_s": span,
            "frames_in": counts["frames_in"],
            "input_rate_hz": counts["frames_in"] / span,
            "processing_rate_hz": counts["processed"] / span,
            "latency_mean_ms": 1e3 * sum(latencies) / len(latencies) if latencies else math.nan,
            "latency_max_ms": 1e3 * latencies[-1] if latencies else math.nan,
            "dropped": counts["dropped"],
            "rejected": counts["rejected"],
        }

    def totals(self) -> dict[str, Any]:
        with self._lock:
            totals = dict(self._totals)
            rejected = dict(sorted(self._rejected.items()))
        out = {f"total_{k}": totals.get(k, 0) for k in ("frames_in", "processed", "dropped", "rejected")}
        out["rejected_by_reason"] = rejected
        out.update({f"total_{k}": v for k, v in sorted(totals.items()) if f"total_{k}" not in out})
        return out


class ClipCache:
    """Frames (anything with `.stamp` and `.index`) of the last `seconds` of stream time.

    Memory is bounded twice: by stream time and by `max_frames`, whatever the camera's rate.
    Keeps one frame in every `every` pushed (the fine stage samples one frame per snippet).
    """

    def __init__(self, seconds: float, max_frames: int, every: int = 1) -> None:
        if seconds <= 0 or max_frames < 1 or every < 1:
            raise ValueError("ClipCache needs seconds > 0, max_frames >= 1 and every >= 1")
        self.seconds = float(seconds)
        self.every = int(every)
        self._frames: deque = deque(maxlen=int(max_frames))
        self._lock = threading.Lock()
        self.pushed = 0

    def wants(self) -> bool:
        """Whether the next pushed frame will be kept (so callers skip converting the rest)."""
        return self.pushed % self.every == 0

    def push(self, frame: Any) -> None:
        keep = self.wants()
        self.pushed += 1
        if not keep:
            return
        with self._lock:
            if self._frames and frame.stamp < self._frames[-1].stamp - self.seconds:
                self._frames.clear()  # the clock went back (a bag replayed): a new timeline
            self._frames.append(frame)
            while self._frames and self._frames[0].stamp < frame.stamp - self.seconds:
                self._frames.popleft()

    def newest_stamp(self) -> float | None:
        with self._lock:
            return self._frames[-1].stamp if self._frames else None

    def clip(self, start: float, end: float) -> list[Any]:
        """The kept frames with start <= stamp <= end, oldest first."""
        with self._lock:
            return [f for f in self._frames if start <= f.stamp <= end]

    def __len__(self) -> int:
        return len(self._frames)


class ClipQueue(Generic[T]):
    """A bounded FIFO of jobs keyed by event id, for one consumer thread.

    `put` of a key already waiting replaces that job in place (coalesced: one fine-stage run per
    event); `put` into a full queue drops the oldest waiting job (`dropped` counts them), so a
    burst of events can neither grow memory nor delay the newest event without bound.
    """

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError(f"ClipQueue capacity must be >= 1, got {capacity}")
        self.capacity = int(capacity)
        self._jobs: OrderedDict[str, T] = OrderedDict()
        self._cond = threading.Condition()
        self._closed = False
        self.dropped = 0
        self.coalesced = 0

    def put(self, key: str, job: T) -> None:
        with self._cond:
            if key in self._jobs:
                self.coalesced += 1
            elif len(self._jobs) >= self.capacity:
                self._jobs.popitem(last=False)
                self.dropped += 1
            self._jobs[key] = job
            self._cond.notify()

    def take(self, timeout: float | None = None) -> tuple[str, T] | None:
        """The oldest waiting (key, job); None on timeout or after close()."""
        with self._cond:
            if not self._cond.wait_for(lambda: self._jobs or self._closed, timeout):
                return None
            if not self._jobs:
                return None
            return self._jobs.popitem(last=False)

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def __len__(self) -> int:
        return len(self._jobs)
