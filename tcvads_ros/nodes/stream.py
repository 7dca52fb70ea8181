# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""Flow control of the nodes, as plain classes (no ROS import): tested without rclpy.

- `LatestSlot`: the camera callback puts each frame the model needs here and returns at once;
  the single inference thread takes the newest. A frame replaced before it was taken is a
  dropped frame, counted, so stale frames drop and the drop is visible in /diagnostics. A node
  with several cameras has a slot per camera, all on one condition, and its one inference
  thread takes the newest frame of every camera that has one at once (`take_each`).
- `StreamStats`: a node's frame counts in its stream's one `Counters`, and per-window rates and
  latency for /diagnostics.
- `CameraWatchdog`: what to do about a camera that went silent while its publisher is matched.

fine_node's clips are cut by the runtime's own rule (`runtime.clips`), the one the in-process
pipeline uses.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from tcvads_ros.runtime.stats import Counters

T = TypeVar("T")


class LatestSlot(Generic[T]):
    """A one-item mailbox between a producer callback and a consumer thread (newest wins).
    Slots made with one `condition` wake one consumer that waits on all of them (`take_each`)."""

    def __init__(self, condition: threading.Condition | None = None) -> None:
        self._item: T | None = None
        self._full = False
        self._closed = False
        self._cond = threading.Condition() if condition is None else condition
        self.dropped = 0

    def put(self, item: T) -> bool:
        """Offer the newest item; returns True when an item is dropped: the one it replaced (never
        taken), or this one when the slot is closed."""
        with self._cond:
            if self._closed:
                self.dropped += 1
                return True
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
            return self._pop()

    def _pop(self) -> T | None:  # (with the condition held)
        if not self._full:
            return None
        item, self._item, self._full = self._item, None, False
        return item

    def close(self) -> bool:
        """Wake the consumer for good (shutdown); returns True when it held an item never taken,
        which is dropped."""
        with self._cond:
            left = self._full
            self.dropped += left
            self._closed, self._item, self._full = True, None, False
            self._cond.notify_all()
            return left

    @property
    def closed(self) -> bool:
        return self._closed


def take_each(slots: list[LatestSlot[T]], timeout: float | None = None) -> list[T | None]:
    """The newest item of every slot that holds one (None for the others), waiting up to
    `timeout` seconds for any; all None on timeout or once every slot is closed. The slots must
    share one condition (`LatestSlot(condition)`)."""
    condition = slots[0]._cond
    if any(slot._cond is not condition for slot in slots):
        raise ValueError("take_each needs slots made with one condition")
    with condition:
        condition.wait_for(lambda: any(slot._full for slot in slots) or all(slot._closed for slot in slots),
                           timeout)
        return [slot._pop() for slot in slots]


# Where a node's counts live in its stream's `Counters`: the camera frames' fates (this module's
# `StreamStats`) under ``camera.``, the frame clock's (`runtime.sampling.FrameClock`) under
# ``clock.``; the pipeline and fine stage count under their own names, without a dot.
CAMERA, CLOCK = "camera.", "clock."
# Reported per window besides frames in, processed, dropped and rejected: frames lost in transport
# (gaps in the stamp-derived frame numbers), frames not needed by the model, camera stalls (gaps
# over a second) and the frames they skipped, snippets for which no frame arrived at all, and
# changes of the camera's frame rate.
WINDOW_COUNTS = {"lost": CLOCK + "lost", "skipped": CAMERA + "skipped", "stalls": CLOCK + "stalls",
                 "stalled": CLOCK + "stalled", "snippets_missed": "snippets_missed",
                 "rate_changes": CLOCK + "rate_changes"}
# The stream's own counts (no dot) reported per window too: the fine stage's failures, whose
# window the level reads (their running totals are reported under their own names).
WINDOW_TOTALS = ("fine_errors", "heatmap_failures", "evidence_clip_failures")
# The sound's counts (`runtime.audio`, and coarse_node's refusals: ``audio.`` in the stream's
# Counters) reported per window as ``audio_<name>``, where the stream has any: the level reads them.
AUDIO, AUDIO_WINDOW = "audio.", ("chunks", "chunks_lost", "chunks_late", "chunks_refused", "snippets_missing")
# The frame clock's counts reported as running totals from the start (0 until they happen).
CLOCK_TOTALS = ("frames", "repeated", "out_of_order", "resets", "stalled_s", "rate_adjusted", "rate_skipped",
                "surplus")
# The snippet sampler's counts of frame numbers, which in a node the frame clock makes from the
# camera's stamps (lost, stalled, resets): not reported, so that no loss is reported twice.
SAMPLER_NUMBERS = ("frames", "missing_frames", "restarts")


class StreamStats:
    """A node's frame counts, in its stream's one `Counters`, and what /diagnostics reports of them.

    Every camera frame is counted with its fate under the Counters' one lock, so that every
    snapshot balances: frames_in = skipped + processed + dropped + rejected + queued, where
    `queued` is the frames handed to the model and not yet done (at most three: one being handed
    over, one in the slot, one being run).

    `window()` returns the figures since the previous call (differences of two snapshots; rates
    per second over the window's wall-clock length) and starts a new window; `totals()` the counts
    since start: each camera and clock count as ``total_<name>``, every other count of the stream
    (pipeline, fine stage) under its own name. Thread safe: the camera callback, the inference
    thread and the diagnostics timer all touch it.
    """

    def __init__(self, counts: Counters | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self.counts = Counters() if counts is None else counts
        self.camera = self.counts.scoped(CAMERA)
        self._clock = clock
        self._lock = threading.Lock()  # the latency lists and the window's start
        self._latencies: list[float] = []
        self._model: list[float] = []
        self._window_start = clock()
        self._last: dict[str, Any] = {}  # the snapshot at the start of the window

    def count(self, name: str, n: int = 1) -> None:
        """Add to a camera count (``camera_resubscribed``, or any other name); a camera frame's
        own fate goes through `arrived`, `processed`, `reject` and `drop_queued`."""
        self.camera.add(name, n)

    def arrived(self, queued: bool) -> None:
        """A camera frame came in: handed to the model (`queued`) or not needed by it (skipped).
        Count it before handing it over, so that `queued` never goes below zero."""
        self.camera.add_many({"frames_in": 1, "queued": 1} if queued else {"frames_in": 1, "skipped": 1})

    def reject(self, reason: str, queued: bool = True) -> None:
        """A frame that could not be converted or run, by `ImageConversionError.reason`: one the
        model had been handed (`queued`), or one refused on arrival (counted in with it)."""
        change = {"rejected": 1, f"rejected.{reason}": 1}
        change.update({"queued": -1} if queued else {"frames_in": 1})
        self.camera.add_many(change)

    def drop_queued(self) -> None:
        """A frame handed to the model will never run: replaced by a newer one before the model
        took it (the model is slower than the camera), or the node is shutting down."""
        self.camera.add_many({"dropped": 1, "queued": -1})

    def processed(self, latency_s: float, model_s: float = math.nan) -> None:
        """A frame went through the model; `latency_s` from its arrival to its results, of which
        `model_s` in the model and its outputs (the rest is the node's: hand-over, conversion)."""
        with self._lock:
            if math.isfinite(latency_s):
                self._latencies.append(latency_s)
            if math.isfinite(model_s):
                self._model.append(model_s)
        self.camera.add_many({"processed": 1, "queued": -1})

    def window(self) -> dict[str, Any]:
        """The figures since the previous call: rates, latencies, and the counts of the frames'
        fates, `WINDOW_COUNTS` and `WINDOW_TOTALS` as differences of two snapshots."""
        now_counts = self.counts.snapshot()
        with self._lock:
            now = self._clock()
            span = max(now - self._window_start, 1e-9)
            latencies, model, last = self._latencies, self._model, self._last
            self._latencies, self._model, self._window_start, self._last = [], [], now, now_counts

        def delta(name: str) -> Any:
            return now_counts.get(name, 0) - last.get(name, 0)

        latencies.sort()
        frames_in, processed = delta(CAMERA + "frames_in"), delta(CAMERA + "processed")
        return {
            "window_s": span,
            "frames_in": frames_in,
            "input_rate_hz": frames_in / span,
            "processing_rate_hz": processed / span,
            "latency_mean_ms": 1e3 * sum(latencies) / len(latencies) if latencies else math.nan,
            "model_mean_ms": 1e3 * sum(model) / len(model) if model else math.nan,
            "latency_max_ms": 1e3 * latencies[-1] if latencies else math.nan,
            "dropped": delta(CAMERA + "dropped"),
            "rejected": delta(CAMERA + "rejected"),
            **{key: delta(name) for key, name in WINDOW_COUNTS.items()},
            # The stream's other counts whose window the level reads (the fine stage's failures).
            **{key: delta(key) for key in WINDOW_TOTALS},
            # The sound's, where the stream has any (a camera that listens).
            **({f"audio_{key}": delta(AUDIO + key) for key in AUDIO_WINDOW}
               if any(name.startswith(AUDIO) for name in now_counts) else {}),
        }

    def totals(self) -> dict[str, Any]:
        """Every count since start, from one snapshot: camera and clock counts as
        ``total_<name>`` (with ``rejected_by_reason``), the others under their own names."""
        counts = self.counts.snapshot()
        out = {f"total_{k}": counts.get(CAMERA + k, 0)
               for k in ("frames_in", "skipped", "processed", "dropped", "rejected", "queued")}
        out.update({f"total_{k}": counts.get(name, 0) for k, name in WINDOW_COUNTS.items()})
        out.update({f"total_{k}": counts.get(CLOCK + k, 0) for k in CLOCK_TOTALS})  # 0 until counted
        out["rejected_by_reason"] = {k[len(CAMERA + "rejected."):]: v for k, v in sorted(counts.items())
                                     if k.startswith(CAMERA + "rejected.")}
        for key, value in sorted(counts.items()):
            if key.startswith(CAMERA + "rejected."):
                continue
            if key.startswith((CAMERA, CLOCK)):
                out.setdefault("total_" + key.split(".", 1)[1], value)
            elif key not in SAMPLER_NUMBERS and key not in WINDOW_COUNTS:
                out[key] = value
        return out



class CameraWatchdog:
    """What a node does about a camera that was publishing and went silent while its publisher is
    still matched: a DDS reader can stay blind after its process was stopped for a while
    (SIGSTOP, a long swap), and a blind node that stays alive is never respawned.

    `check(now, publishers)` is called on every diagnostics report (wall time) and returns:

    - ``"resubscribe"`` once the camera has been silent `timeout_s` with a publisher matched: make
      the subscription again (a fresh reader);
    - ``"error"`` when it is still silent `timeout_s` after that (the report goes ERROR);
    - ``"exit"`` `timeout_s` later still, when `exit_when_stuck` (the node exits with status 1,
      so that the launch file's respawn starts a fresh process);
    - None otherwise. A frame (`frame_arrived`) or a camera without publishers (it stopped, or
      was unplugged: STALE, not stuck) starts over. Armed only once a frame has come, so a node
      restarted while the camera is paused waits for it instead of exiting again.
    """

    def __init__(self, timeout_s: float, exit_when_stuck: bool = True) -> None:
        self.timeout_s = float(timeout_s)  # 0: off
        self.exit_when_stuck = exit_when_stuck
        self._last_frame: float | None = None
        self._stage, self._since = 0, 0.0  # 0 watching, 1 resubscribed, 2 error

    def frame_arrived(self, now: float) -> None:
        self._last_frame = now

    def silent_s(self, now: float) -> float:
        """Seconds since the last frame (0 before the first)."""
        return 0.0 if self._last_frame is None else now - self._last_frame

    def check(self, now: float, publishers: int) -> str | None:
        if self.timeout_s <= 0 or self._last_frame is None:
            return None
        if publishers == 0 or now - self._last_frame < self.timeout_s:
            self._stage = 0
            return None
        if self._stage == 0 or now - self._since >= self.timeout_s:
            if self._stage == 2 and not self.exit_when_stuck:
                return "error"
            self._stage, self._since = min(self._stage + 1, 3), now
            return ("resubscribe", "error", "exit")[self._stage - 1]
        return "error" if self._stage >= 2 else None
