"""Which camera frames the detector uses, decided from frame numbers and time stamps alone.

- `SnippetSampler`: one frame per snippet of `every` frames (paper §IV.A: the backbone sees one
  frame of each 16-frame snippet, as in training): the first frame at or after each multiple of
  `every`. Counts frames missing from the numbering and snippets that got no frame at all (the
  input was too sparse for the model). The coarse detector and fine_node both sample with it.
- `FrameClock`: camera frame numbers from capture stamps, for live sources whose messages
  carry a stamp but no frame counter (ROS topics). Frame ``n`` is the one captured ``n``
  periods after the first, so a frame lost in transport leaves a gap in the numbers instead of
  shifting every later snippet, and two processes that see the same stamps agree on the time.
  The period is given, or estimated from the stamps (robust to lost frames and jitter).

Neither touches pixels, so callers decide before they decode a frame.
"""

from __future__ import annotations

import math
from collections import Counter, deque

import numpy as np


class SnippetSampler:
    """Picks the frame that represents each snippet of `every` frames.

    Args:
        every: frames per snippet (the bundle's ``snippet_frames``, 16).
        stats: the counter to count into (``frames``, ``missing_frames``, ``snippets_missed``,
            ``restarts``); a new one when None.
    """

    def __init__(self, every: int, stats: Counter | None = None) -> None:
        if every < 1:
            raise ValueError(f"every must be >= 1, got {every}")
        self.every = int(every)
        self.stats = Counter() if stats is None else stats
        self._next_due = 0
        self._last_index = -1
        self._last_selected: int | None = None

    def select(self, index: int) -> bool:
        """Whether frame `index` is the one to use for its snippet; counts it either way."""
        self.stats["frames"] += 1
        if index < self._last_index:  # the source restarted (a new file, a reset camera)
            self.stats["restarts"] += 1
            self._next_due, self._last_selected = 0, None
        elif index > self._last_index + 1 and self._last_index >= 0:
            # Gaps in the numbers: frames a live source lost, or that a file source skipped on
            # purpose (it decodes only the frames it will use); the caller knows which.
            self.stats["missing_frames"] += index - self._last_index - 1
        self._last_index = index
        if index < self._next_due:
            return False
        snippet = index // self.every
        if self._last_selected is not None:
            self.stats["snippets_missed"] += max(0, snippet - self._last_selected // self.every - 1)
        self._last_selected = index
        self._next_due = (snippet + 1) * self.every
        return True


# A jump back in stream time longer than this (seconds) starts a new timeline: a bag replayed,
# a simulator restarted. Shorter steps back are jitter.
RESET_S = 1.0


class FrameClock:
    """Frame numbers from capture stamps (seconds).

    Each interval between received frames is read as a whole number of frame periods, so the
    numbering never drifts however long the stream runs, also when the real rate differs a little
    from the nominal one; only each stamp's own jitter matters (under a quarter of a period).

    Args:
        fps: the camera's frame rate; None (or 0) estimates it from the recent intervals
            (`estimate_period`), provisional until `calibration_frames` intervals were seen.
        calibration_frames: intervals needed before the estimate counts as calibrated.
        stall_s: a gap longer than this is the camera stopping (counted in ``stalls``), not
            frames lost in transport.
        reset_s: a jump back in time longer than this starts a new timeline (a bag replayed, a
            simulator restarted): numbering restarts at 0 (``resets``); a smaller step back is
            jitter and keeps the previous number.

    ``stats``: ``frames``, ``lost`` (frames missing between consecutive numbers, gaps up to
    `stall_s`), ``stalls``, ``stalled_s`` and ``stalled`` (the frame numbers a stall skipped:
    frames the camera did not send, or that a long outage of the link lost), ``repeated`` (a
    frame with the previous frame's number: a repeated stamp or jitter), ``resets``. Frames
    received + lost + stalled = the frames the camera would have sent over the numbered span.
    """

    def __init__(self, fps: float | None = None, calibration_frames: int = 24,
                 stall_s: float = 1.0, reset_s: float = RESET_S, history: int = 240) -> None:
        if fps is not None and fps != 0 and not (math.isfinite(fps) and fps > 0):
            raise ValueError(f"fps must be a positive number (or 0/None to estimate), got {fps!r}")
        if calibration_frames < 2:
            raise ValueError("calibration_frames must be >= 2")
        self.given_fps = float(fps) if fps else None
        self.calibration_frames = int(calibration_frames)
        self.stall_s, self.reset_s = float(stall_s), float(reset_s)
        self.stats: Counter = Counter()
        self._intervals: deque[float] = deque(maxlen=max(history, calibration_frames))
        self._seen_intervals = 0
        self._period = 1.0 / self.given_fps if self.given_fps else None
        self._last: tuple[float, int] | None = None  # (stamp, number) of the newest frame

    @property
    def fps(self) -> float | None:
        """The frame rate in use (given or estimated so far); None before two stamps."""
        return None if self._period is None else 1.0 / self._period

    @property
    def calibrated(self) -> bool:
        return self.given_fps is not None or self._seen_intervals >= self.calibration_frames

    def number_at(self, stamp: float) -> int | None:
        """The number a frame captured at `stamp` has on the current timeline (no counting)."""
        if self._last is None or self._period is None:
            return None
        last_stamp, last_number = self._last
        return last_number + int(round((stamp - last_stamp) / self._period))

    def number(self, stamp: float) -> int:
        """Number the frame captured at `stamp` and count what its gap says."""
        stamp = float(stamp)
        self.stats["frames"] += 1
        if self._last is None:
            return self._restart(stamp)
        last_stamp, last_number = self._last
        if not math.isfinite(stamp):
            return last_number
        step = stamp - last_stamp
        if step < -self.reset_s:
            self.stats["resets"] += 1
            return self._restart(stamp)
        if step > self.stall_s:
            self.stats["stalls"] += 1
            self.stats["stalled_s"] += step
        elif step > 0 and self.given_fps is None:
            self._intervals.append(step)
            self._seen_intervals += 1
            # Every interval until calibrated, then once per second or so (it runs per frame).
            if not self.calibrated or self._seen_intervals % self.calibration_frames == 0:
                self._period = estimate_period(self._intervals)
        number = last_number + 1 if self._period is None else max(last_number, self.number_at(stamp))
        if number == last_number:  # the numbering stays anchored at the earlier frame
            self.stats["repeated"] += 1
            return number
        self.stats["lost" if step <= self.stall_s else "stalled"] += number - last_number - 1
        self._last = (stamp, number)
        return number

    def _restart(self, stamp: float) -> int:
        self._last = (stamp, 0)
        return 0


def estimate_period(intervals) -> float:
    """The frame period behind `intervals` between received frames, some of which span lost
    frames (whole multiples of the period) and all of which jitter a little.

    A low percentile of the intervals is one period give or take the jitter (lost frames only
    lengthen intervals); each interval is then read as a whole number of periods, and the period
    is the total time over the total count, which averages the jitter out (repeated a few times).
    """
    values = np.asarray([v for v in intervals if v > 0], dtype=float)
    if values.size == 0:
        raise ValueError("no positive interval to estimate a period from")
    period = float(np.percentile(values, 5))
    for _ in range(3):  # each pass reads the intervals against a better period
        counts = np.maximum(1, np.round(values / period))
        period = float(values.sum() / counts.sum())
    return period
