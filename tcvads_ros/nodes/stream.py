"""Flow control of the nodes, as plain classes (no ROS import): tested without rclpy.

- `LatestSlot`: the camera callback puts each frame the model needs here and returns at once;
  the single inference thread takes the newest. A frame replaced before it was taken is a
  dropped frame, counted, so stale frames drop and the drop is visible in /diagnostics.
- `StreamStats`: counters and per-window rates and latency for /diagnostics.
- `ClipCache`: fine_node's own bounded, time-indexed buffer of camera frames, from which it cuts
  an event's clip (frames before and after the start), so the clip never crosses the network.
- `ClipCollector`: cuts an event's clip from the cache (pre-roll before the start, the rest
  after), coalescing starts that arrive while a clip is collected; the finished clips go to the
  pipeline's `FineWorker`, whose bounded queue drops (and counts) clips it cannot take.
"""

from __future__ import annotations

import math
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from tcvads_ros.runtime.pipeline import pad_clip

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


# Counters reported per window besides frames in, dropped and rejected: frames lost in transport
# (gaps in the stamp-derived frame numbers), frames not needed by the model, camera stalls (gaps
# over a second) and the frames they skipped, and snippets for which no frame arrived at all.
WINDOW_COUNTS = ("lost", "skipped", "stalls", "stalled", "snippets_missed")


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
        self._model: list[float] = []
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

    def processed(self, latency_s: float, model_s: float = math.nan) -> None:
        """A frame went through the model; `latency_s` from its arrival to its results, of which
        `model_s` in the model and its outputs (the rest is the node's: hand-over, conversion)."""
        with self._lock:
            self._totals["processed"] += 1
            self._window["processed"] += 1
            if math.isfinite(latency_s):
                self._latencies.append(latency_s)
            if math.isfinite(model_s):
                self._model.append(model_s)

    def window(self) -> dict[str, Any]:
        with self._lock:
            now = self._clock()
            span = max(now - self._window_start, 1e-9)
            counts, latencies, model = self._window, self._latencies, self._model
            self._window, self._latencies, self._model, self._window_start = Counter(), [], [], now
        latencies.sort()
        return {
            "window_s": span,
            "frames_in": counts["frames_in"],
            "input_rate_hz": counts["frames_in"] / span,
            "processing_rate_hz": counts["processed"] / span,
            "latency_mean_ms": 1e3 * sum(latencies) / len(latencies) if latencies else math.nan,
            "model_mean_ms": 1e3 * sum(model) / len(model) if model else math.nan,
            "latency_max_ms": 1e3 * latencies[-1] if latencies else math.nan,
            "dropped": counts["dropped"],
            "rejected": counts["rejected"],
            **{key: counts[key] for key in WINDOW_COUNTS},
        }

    def totals(self) -> dict[str, Any]:
        with self._lock:
            totals = dict(self._totals)
            rejected = dict(sorted(self._rejected.items()))
        out = {f"total_{k}": totals.get(k, 0)
               for k in ("frames_in", "lost", "stalled", "skipped", "processed", "dropped", "rejected",
                         "snippets_missed")}
        out["rejected_by_reason"] = rejected
        out.update({f"total_{k}": v for k, v in sorted(totals.items()) if f"total_{k}" not in out})
        return out


class ClipCache:
    """Frames (anything with `.stamp` and `.index`) of the last `seconds` of stream time.

    Memory is bounded twice: by stream time and by `max_frames`, whatever the camera's rate.
    """

    def __init__(self, seconds: float, max_frames: int) -> None:
        if seconds <= 0 or max_frames < 1:
            raise ValueError("ClipCache needs seconds > 0 and max_frames >= 1")
        self.seconds = float(seconds)
        self._frames: deque = deque(maxlen=int(max_frames))
        self._lock = threading.Lock()

    def push(self, frame: Any) -> None:
        """Keep `frame` (one the fine stage sampled)."""
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


# A clip with no frame from before its event's start must begin within this many seconds of it.
COVER_S = 1.0


@dataclass
class Clip:
    """A finished clip for the fine stage: `length` frames around an event start."""

    event: Any  # the event's latest announcement (its peak frame, for the explanation)
    header: Any  # the header of the frame that announced the start (copied onto the category)
    frames: list[Any]
    coalesced: list[str] = field(default_factory=list)  # starts folded into this clip


@dataclass
class _Collecting:
    event: Any
    header: Any
    split: float  # stream time of the start announcement: frames up to it are pre-roll
    deadline: float  # stream time after which the clip is cut with what has arrived
    ended: bool = False
    coalesced: list[str] = field(default_factory=list)


class ClipCollector:
    """fine_node's clips: an event start opens a clip of `length` cached frames, `pre_roll` of
    them up to the start and the rest after it, as TwoStagePipeline does in-process.

    A start while a clip is still being collected is coalesced into that clip (one fine-stage
    run covers both; its id is listed), so a burst of events cannot queue unbounded work. A
    clip is cut when its frames have arrived, when its event ends, or when the camera's time
    passes `timeout_s` after the start (a camera that stops does not hold the clip forever).
    """

    def __init__(self, cache: ClipCache, length: int, pre_roll: int, timeout_s: float) -> None:
        if length < 1 or not 1 <= pre_roll <= length or timeout_s < 0:
            raise ValueError("ClipCollector needs length >= 1, 1 <= pre_roll <= length, timeout_s >= 0")
        self.cache, self.length, self.pre_roll, self.timeout_s = cache, length, pre_roll, timeout_s
        self._open: _Collecting | None = None
        self._lock = threading.Lock()
        self.stats: Counter = Counter()

    def announce(self, event: Any, header: Any = None, split: float | None = None) -> None:
        """An /anomaly announcement; `split` is the exact stamp of its frame (its header's)."""
        with self._lock:
            clip = self._open
            if event.kind == "start":
                self.stats["triggers"] += 1
                if clip is not None:
                    clip.coalesced.append(event.event_id)
                    self.stats["triggers_coalesced"] += 1
                    return
                split = event.stamp if split is None else split
                self._open = _Collecting(event, header, split, split + self.timeout_s)
            elif clip is not None and event.event_id == clip.event.event_id:
                clip.event = event
                clip.ended = clip.ended or event.kind == "end"

    def ready(self, flush: bool = False) -> Clip | None:
        """The open clip once complete (or ended, or timed out, or `flush`: the node is shutting
        down and classifies what arrived); None while it is collecting."""
        with self._lock:
            clip = self._open
            if clip is None:
                return None
            pre = self.cache.clip(-math.inf, clip.split)[-self.pre_roll :]
            # Frames after the deadline belong to other moments (a start replayed to a late
            # joiner by transient-local QoS, or a camera that came back much later).
            post = self.cache.clip(math.nextafter(clip.split, math.inf), clip.deadline)
            newest = self.cache.newest_stamp()
            complete = len(pre) + len(post) >= self.length
            timed_out = newest is not None and newest >= clip.deadline
            if not (complete or clip.ended or timed_out or flush):
                return None
            self._open = None
            frames = pre + post
            if not frames:
                self.stats["empty_clips"] += 1
                return None
            if not pre and post[0].stamp > clip.split + COVER_S:
                # The cache began after the event did (a fine_node started late, or a start
                # replayed to it): these frames show another moment, not the event.
                self.stats["clips_not_covered"] += 1
                return None
            self.stats["clips"] += 1
            return Clip(clip.event, clip.header, pad_clip(frames, self.length, self.pre_roll, len(pre)),
                        clip.coalesced)
