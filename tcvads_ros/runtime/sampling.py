# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""Which camera frames the detector uses, decided from frame numbers and time stamps alone.

- `SnippetSampler`: one frame per snippet of `every` frames (paper §IV.A: the backbone sees one
  frame of each 16-frame snippet, as in training): the first frame at or after each multiple of
  `every`. Counts frames missing from the numbering and snippets that got no frame at all (the
  input was too sparse for the model). The coarse detector and fine_node both sample with it.
- `FrameClock`: camera frame numbers from capture stamps, for live sources whose messages
  carry a stamp but no frame counter (ROS topics). Frame ``n`` is the one captured ``n``
  periods after the first, so a frame lost in transport leaves a gap in the numbers instead of
  shifting every later snippet, and two processes that see the same stamps agree on the time.
  The period is given, or estimated from the stamps (robust to lost frames, receipt jitter,
  bursts after stalls, stamps out of order, duplicated messages and rate changes, small or
  large).

Neither touches pixels, so callers decide before they decode a frame.
"""

from __future__ import annotations

import math
from collections import deque

import numpy as np

from tcvads_ros.runtime.stats import Counters


class SnippetSampler:
    """Picks the frame that represents each snippet of `every` frames.

    Args:
        every: frames per snippet (the bundle's ``snippet_frames``, 16).
        stats: the stream's counts to count into (``frames``, ``missing_frames``, ``snippets_missed``,
            ``restarts``); a new one when None.
    """

    def __init__(self, every: int, stats: Counters | None = None) -> None:
        if every < 1:
            raise ValueError(f"every must be >= 1, got {every}")
        self.every = int(every)
        self.stats = Counters() if stats is None else stats
        self._next_due = 0
        self._last_index = -1
        self._last_selected: int | None = None

    def select(self, index: int) -> bool:
        """Whether frame `index` is the one to use for its snippet; counts it either way."""
        self.stats.add("frames", 1)
        if index < self._last_index:  # the source restarted (a new file, a reset camera)
            self.stats.add("restarts", 1)
            self._next_due, self._last_selected = 0, None
        elif index > self._last_index + 1 and self._last_index >= 0:
            # Gaps in the numbers: frames a live source lost, or that a file source skipped on
            # purpose (it decodes only the frames it will use); the caller knows which.
            self.stats.add("missing_frames", index - self._last_index - 1)
        self._last_index = index
        if index < self._next_due:
            return False
        snippet = index // self.every
        if self._last_selected is not None:
            self.stats.add("snippets_missed", max(0, snippet - self._last_selected // self.every - 1))
        self._last_selected = index
        self._next_due = (snippet + 1) * self.every
        return True


# A jump back in stream time longer than this (seconds) starts a new timeline: a bag replayed,
# a simulator restarted. Shorter steps back are jitter.
RESET_S = 1.0
# `estimate_period` considers up to this many frame slots per received frame (7 of 8 frames lost).
MAX_SLOTS_PER_FRAME = 8
# A re-estimated period this far (relative) from the one in use is a new frame rate
# (``rate_changes``); a smaller difference is the estimate getting better.
RATE_CHANGE = 0.1
# `FrameClock._check_drift` reads the latest stamps in windows of this many calibration lengths
# (24, 48, 96 intervals): a rate off by d drifts a whole period from the grid in 1/d frames.
DRIFT_WINDOWS = (1, 2, 4)
# ... once this many frames that skipped numbers or got none are pending.
DRIFT_PILE = 2
# ... and take a new period when stamps off any lattice would sit on it as closely with one
# chance in this many: the period is fitted to the stamps and asked at every loss, so the bar is
# higher than `_check_rate`'s (at 0.5 period of receipt jitter, 1e4 let 25 stamps read 33 fps).
DRIFT_CHANCE = 1e6


class FrameClock:
    """Frame numbers from capture stamps (seconds).

    Numbering: a frame gets the slot of a grid nearest its stamp, never less than the previous
    frame's number. The grid is the line ``stamp = t0 + number * period`` fitted (least squares)
    through the last `history` frames; reading each stamp against a line through many frames, not
    against the previous stamp, keeps the numbers right under receipt jitter (exact up to about
    0.3 of a period, within one frame up to half a period), and fitting the slope keeps them from
    drifting when the camera's real rate differs a little from the nominal one (29.97 for 30).

    The period: given (`fps`), or estimated (`estimate_period`) from the first
    `calibration_frames` intervals. Until then the estimate is provisional and each frame simply
    takes the next number, so frames lost then are not counted, and a burst of frames delayed by a
    stall gets consecutive numbers, as the camera captured them; then the grid takes over.

    A frame whose stamp equals the previous frame's is the same frame delivered again (a duplicated
    message): it keeps the previous number, even while the estimate is provisional, and its zero
    interval never enters the period estimate (each frame twice is not a 60 fps camera).

    A frame without a number of its own (stamped before the previous one, the tail of a burst, a
    repeated stamp, or jitter) is counted ``repeated`` and stands for one of the numbers skipped
    next to it: a frame that arrived cannot also be lost, and a burst's frames are the frames its
    stall skipped. So skipped numbers and such frames cancel; what is left after `settle_frames`
    numbers is counted: skipped numbers as ``lost`` (gaps up to `stall_s`) or ``stalled``, frames as
    ``surplus``. Lost frames are therefore reported that many numbers late (`pending` holds them).

    Rate changes (estimated rates only): when skipped numbers or frames without one pile up
    (`calibration_frames` // 2 frames), the latest stamps are read as one frame per interval. If
    that rate is `RATE_CHANGE` or more away, and either frames piled up (more frames than numbers,
    which lost frames never explain) or the stamps sit on that rate's grid (a slower camera, not
    every other frame lost), the camera changed rate: ``rate_changes``, `rate_change` = (from, to)
    fps, the grid is rebuilt on those stamps, and the numbers the old rate skipped meanwhile are
    ``rate_skipped``, not lost. Stamps closer than a quarter of that period (a burst after a
    stall) or a rate over `MAX_SLOTS_PER_FRAME` times the current one are not a new rate.
    Otherwise the pile settles as it ages.

    Smaller rate changes (30 -> 28.5 fps) never pile up that much: the grid, fitted to numbers it
    assigned itself, would keep the old slope and skip a number every 1/d frames. So from two
    frames pending (`DRIFT_PILE`), each frame that skips numbers or gets none reads the latest
    24, 48 and 96 stamps as one frame per median interval (several for an interval of several
    medians); when they sit on that period's lattice and less than half as well on the current
    period's (`_check_drift`), the grid is rebuilt on them and the numbers skipped meanwhile are
    ``rate_skipped``. Frames lost at a constant rate (one in ten dropped) leave the stamps on the
    current lattice, their intervals whole periods, so they stay lost and the rate stays. Such a
    re-estimate is counted `settle_frames` numbers later, once the grid has fitted the new rate:
    a change of `RATE_CHANGE` or more as ``rate_changes`` (`rate_change` set), a smaller one as
    ``rate_adjusted``.

    Cost: O(1) per frame on a steady stream (the line is fitted from running sums, the pending
    counts are kept); a frame that skips numbers or gets none while two are pending also pays for
    `_check_drift`'s few small numpy operations.

    Args:
        fps: the camera's frame rate; None (or 0) estimates it from the stamps.
        calibration_frames: intervals needed before the estimate counts as calibrated.
        stall_s: a gap longer than this is the camera stopping (counted in ``stalls``), not
            frames lost in transport.
        reset_s: a jump back in time longer than this starts a new timeline (a bag replayed, a
            simulator restarted): numbering restarts at 0 (``resets``) and the rate is kept; a
            smaller step back is jitter or a stamp out of order.
        history: frames the grid is fitted on.
        stats: where to count (a node passes its stream's `Counters`, scoped ``clock.``); a new
            one when None.

    ``stats``: ``frames`` (received), ``lost``, ``stalls``, ``stalled_s`` and ``stalled`` (the
    numbers a stall skipped: frames the camera did not send, or that a long outage of the link
    lost), ``repeated``, of which ``out_of_order`` (stamped before the previous frame),
    ``surplus`` (duplicated messages, or a camera faster than the rate in use), ``rate_changes``,
    ``rate_adjusted``, ``rate_skipped``, ``resets``. Once settled, frames + lost + stalled +
    rate_skipped - surplus = the numbers spanned (last - first + 1 on each timeline): what the
    camera sent.
    """

    def __init__(self, fps: float | None = None, calibration_frames: int = 24,
                 stall_s: float = 1.0, reset_s: float = RESET_S, history: int = 240,
                 stats: Counters | None = None) -> None:
        if fps is not None and fps != 0 and not (math.isfinite(fps) and fps > 0):
            raise ValueError(f"fps must be a positive number (or 0/None to estimate), got {fps!r}")
        if calibration_frames < 2:
            raise ValueError("calibration_frames must be >= 2")
        self.given_fps = float(fps) if fps else None
        self.calibration_frames = int(calibration_frames)
        # Long enough for a burst to follow its stall and for a rate change to be recognised.
        self.settle_frames = 4 * self.calibration_frames
        self.stall_s, self.reset_s = float(stall_s), float(reset_s)
        self.stats = Counters() if stats is None else stats  # a node passes its stream's (scoped)
        self.rate_change: tuple[float, float] | None = None
        self._drift: tuple[float, int] | None = None  # (period before, number) of a drift refit
        self._period = 1.0 / self.given_fps if self.given_fps else None
        self._seen_intervals = 0
        self._recent: deque[float] = deque(maxlen=self.calibration_frames + 1)  # received stamps
        # The latest received stamps, for `_check_drift`'s windows.
        self._window: deque[float] = deque(maxlen=DRIFT_WINDOWS[-1] * self.calibration_frames + 1)
        self._grid: deque[tuple[int, float]] = deque(maxlen=max(history, calibration_frames))
        # Running sums over the grid's pairs, relative to an anchor pair (stamps are ~1.7e9 s
        # since the epoch: relative values keep the least squares from cancelling), so the fit
        # costs O(1) per frame; recomputed from the pairs every `maxlen` additions.
        self._anchor: tuple[int, float] = (0, 0.0)
        self._sums = [0.0, 0.0, 0.0, 0.0]  # sum of x, y, x*x, x*y (x: number, y: stamp)
        self._added = 0
        self._line: tuple[float, float] | None = None  # (number, stamp) the fitted line goes through
        self._last_number = 0
        # Not settled yet, oldest first: [first number, "lost" | "stalled", count] for skipped
        # numbers, [number, "repeated", [stamps]] for frames without one. They cancel, so the
        # deque holds one sort at a time.
        self._pending: deque[list] = deque()
        self._pending_lost = 0  # "lost" entries in `_pending` (frames that skipped numbers)
        self._waiting = 0  # frames in its "repeated" entries

    @property
    def fps(self) -> float | None:
        """The frame rate in use (given or estimated, as fitted to the stamps); None before two
        stamps."""
        return None if self._period is None else 1.0 / self._period

    @property
    def calibrated(self) -> bool:
        return self.given_fps is not None or self._seen_intervals >= self.calibration_frames

    def number_at(self, stamp: float) -> int | None:
        """The number a frame captured at `stamp` has on the current timeline (no counting)."""
        if self._line is None or self._period is None:
            return None
        number, at = self._line
        return int(round(number + (stamp - at) / self._period))

    def number(self, stamp: float) -> int:
        """Number the frame captured at `stamp` and count what its place says."""
        stamp = float(stamp)
        self.stats.add("frames", 1)
        if not self._recent:
            return self._restart(stamp)
        previous = self._recent[-1]
        step = stamp - previous
        if not math.isfinite(stamp) or step == 0:
            # A repeated stamp is the same frame delivered again (even while provisional), and a
            # zero interval says nothing about the period: kept out of `_recent`.
            return self._repeat(stamp)
        if step < -self.reset_s:
            self.stats.add("resets", 1)
            return self._restart(stamp)
        if step > self.stall_s:
            self.stats.add("stalls", 1)
            self.stats.add("stalled_s", step)
        self._recent.append(stamp)
        self._window.append(stamp)
        provisional = not self.calibrated
        if step <= self.stall_s:
            self._seen_intervals += 1
        on_grid = None if provisional else self.number_at(stamp)
        # Provisional: every frame is the next one (no grid to read stamps against yet).
        number = self._last_number + 1 if on_grid is None else max(self._last_number, on_grid)
        if number == self._last_number:
            self._repeat(stamp, out_of_order=step < 0)
            if step > 0 and not provisional:  # early: a camera a little faster than the rate?
                self._check_drift()
            return self._last_number
        skipped = number - self._last_number - 1
        self._skip(skipped, "lost" if step <= self.stall_s else "stalled", number)
        self._last_number = number
        self._grid_add(number, stamp)
        if provisional and self.calibrated:
            self._rebuild(self._estimate(), self._recent)  # calibrated now: the grid takes over
        else:
            if provisional:
                self._period = self._estimate()
            self._fit()
        self._settle(number - self.settle_frames)
        self._check_rate()
        if skipped and step <= self.stall_s and not provisional:  # late: a little slower?
            self._check_drift()
        if self._drift is not None and number - self._drift[1] >= self.settle_frames:
            self._count_drift()
        return number

    def _restart(self, stamp: float) -> int:
        self._settle(math.inf)
        if self._drift is not None:
            self._count_drift()
        self._recent.clear()
        self._recent.append(stamp)
        self._window.clear()
        self._window.append(stamp)
        self._grid_reset([(0, stamp)])
        self._last_number = 0
        self._line = (0, stamp)
        return 0

    # -- numbers skipped and frames without a number ----------------------------------------
    def _repeat(self, stamp: float, out_of_order: bool = False) -> int:
        """A frame without a number of its own: it stands for the newest number skipped before
        it, else for the next one skipped after it (it waits in `_pending`)."""
        self.stats.add("repeated", 1)
        self.stats.add("out_of_order", out_of_order)
        newest = self._pending[-1] if self._pending else None
        if newest is not None and newest[1] != "repeated":
            newest[2] -= 1
            self._place(newest[0] + newest[2], stamp)
            if not newest[2]:
                self._pending.pop()
                self._pending_lost -= newest[1] == "lost"
        elif newest is not None and newest[0] == self._last_number:
            newest[2].append(stamp)
            self._waiting += 1
        else:
            self._pending.append([self._last_number, "repeated", [stamp]])
            self._waiting += 1
        return self._last_number

    def _skip(self, count: int, kind: str, number: int) -> None:
        """`count` numbers skipped before `number`: frames waiting for one take the first."""
        first = number - count
        while first < number and self._pending and self._pending[0][1] == "repeated":
            waiting = self._pending[0][2]
            self._place(first, waiting.pop(0))
            self._waiting -= 1
            first += 1
            if not waiting:
                self._pending.popleft()
        if first < number:
            self._pending.append([first, kind, number - first])
            self._pending_lost += kind == "lost"

    def _place(self, number: int, stamp: float) -> None:
        """A frame that stood for a skipped number is fitted there when its stamp is next to it:
        leaving those out would leave the grid only the frames whose jitter carried them past
        their slot, and drag it along; the stamps of a burst's frames, further off, tell when
        they arrived, not when they were captured."""
        if math.isfinite(stamp) and abs(self.number_at(stamp) - number) <= 1:
            self._grid_add(number, stamp)

    def _pending_count(self, kind: str, frames: bool = False) -> int:
        """Numbers (or, with `frames`, the frames that skipped them) of one kind pending."""
        return sum(len(n) if k == "repeated" else 1 if frames else n for _, k, n in self._pending if k == kind)

    @property
    def pending(self) -> dict[str, int]:
        """Not settled yet: numbers skipped (``lost``, ``stalled``) that a frame may still stand
        for, and frames without a number (``repeated``) that may still stand for one."""
        return {kind: self._pending_count(kind) for kind in ("lost", "stalled", "repeated")}

    def _settle(self, before: float, numbers_as: str | None = None) -> None:
        """Count what is pending from numbers before `before`: skipped numbers as their kind (or
        `numbers_as`), waiting frames as surplus."""
        while self._pending and self._pending[0][0] < before:
            _, kind, count = self._pending.popleft()
            if kind == "repeated":
                self.stats.add("surplus", len(count))
                self._waiting -= len(count)
            else:
                self.stats.add(numbers_as or kind, count)
                self._pending_lost -= kind == "lost"

    # -- the period -----------------------------------------------------------------------------
    def _estimate(self) -> float | None:
        """`estimate_period` of the latest intervals; the period in use while there is none."""
        intervals = np.diff(np.asarray(self._recent))
        inside = intervals[intervals <= self.stall_s]
        if not (inside > 0).any() or inside.sum() <= 0:
            return self._period
        return estimate_period(intervals, gap=self.stall_s)

    def _grid_add(self, number: int, stamp: float) -> None:
        """A pair into the grid (the oldest leaves it when full), its sums updated."""
        grid, sums = self._grid, self._sums
        if len(grid) == grid.maxlen:
            x, y = grid[0][0] - self._anchor[0], grid[0][1] - self._anchor[1]
            sums[0] -= x
            sums[1] -= y
            sums[2] -= x * x
            sums[3] -= x * y
        grid.append((number, stamp))
        x = number - self._anchor[0]
        self._added += 1
        if self._added >= grid.maxlen or abs(x) > 4 * grid.maxlen:  # re-anchored on the newest
            self._grid_reset(list(grid))
            return
        y = stamp - self._anchor[1]
        sums[0] += x
        sums[1] += y
        sums[2] += x * x
        sums[3] += x * y

    def _grid_reset(self, pairs) -> None:
        """The grid holds `pairs` (number, stamp) only; sums anchored on the last one."""
        self._grid.clear()
        self._grid.extend(pairs)
        self._anchor = self._grid[-1]
        n0, t0 = self._anchor
        xs = [n - n0 for n, _ in self._grid]
        ys = [t - t0 for _, t in self._grid]
        self._sums = [float(sum(xs)), math.fsum(ys), float(sum(x * x for x in xs)),
                      math.fsum(x * y for x, y in zip(xs, ys))]
        self._added = 0

    def _fit(self) -> None:
        """The line through the grid's frames: least squares once there are enough of them, else
        through their centre with the period in use. From running sums: O(1)."""
        count = len(self._grid)
        sx, sy, sxx, sxy = self._sums
        cx, cy = sx / count, sy / count
        if count >= self.calibration_frames and self.calibrated:
            spread = sxx - sx * cx
            if spread > 0:
                self._period = (sxy - sx * cy) / spread
        self._line = (self._anchor[0] + cx, self._anchor[1] + cy)

    def _check_rate(self) -> None:
        """Skipped numbers or frames without one piling up (from `calibration_frames` // 2
        frames) mean the stamps may disagree with the period. The latest stamps, read as one
        frame per interval, give a new rate when it is `RATE_CHANGE` or more away and either
        frames piled up (more frames than numbers: lost frames never explain that) or the stamps
        sit on that rate's grid (a slower camera, not every other frame lost; one chance in ten
        thousand for stamps off it, as this is asked at every frame while the pile lasts),
        unless the stamps are a burst after a stall (closer than a quarter of that period).
        Otherwise the pile settles as it ages."""
        disagreeing = self.calibration_frames // 2
        lost, waiting = self._pending_lost, self._waiting
        if self.given_fps is not None or not self.calibrated or lost + waiting < disagreeing:
            return
        recent = self._recent
        first = recent[-disagreeing - 1] if len(recent) > disagreeing else recent[0]
        period = (recent[-1] - first) / disagreeing
        if abs(period / self._period - 1) < RATE_CHANGE:  # (no numpy: duplicates keep a pile)
            return
        stamps = np.asarray(recent)[-disagreeing - 1:]
        intervals = np.diff(stamps)
        if intervals.max() > self.stall_s:
            return
        if intervals.min() < period / 4 or period < self._period / MAX_SLOTS_PER_FRAME:
            return  # a burst after a stall (frames 1 ms apart), not a faster camera
        chance = math.sqrt(math.log(10_000) / stamps.size)
        if waiting > lost or lattice_strength(stamps, [1 / period])[0] >= chance:
            before = self._period if self._drift is None else self._drift[0]
            self._drift = None
            self.stats.add("rate_changes", 1)
            self.rate_change = (1 / before, 1 / period)
            self._settle(math.inf, numbers_as="rate_skipped")
            self._rebuild(period, stamps)

    def _check_drift(self) -> None:
        """A rate change under `RATE_CHANGE` (30 -> 28.5 fps): the grid, fitted to numbers it
        assigned itself, keeps the old slope and skips a number (or gives none) every 1/d frames,
        which `_check_rate` never sees as a new rate. Asked when a frame skipped numbers or got
        none and `DRIFT_PILE` such frames are pending. In each window of the latest stamps (all
        intervals under `stall_s`), the stamps are read as one frame per median interval (several
        for an interval of several medians: frames really lost at the new rate) and the period
        fitted to them. When the stamps sit on that period's lattice (`lattice_strength` above
        what stamps off it reach once in `DRIFT_CHANCE`) and less than half as well on the
        current period's, the camera changed rate: frames lost at a constant rate sit on the
        current lattice exactly (their intervals are whole periods), so they are never read as a
        slower camera. The grid is rebuilt on the
        window, the numbers skipped meanwhile are ``rate_skipped``, and `_count_drift` counts
        the change later. Windows are tried shortest first; one where the two periods drift less
        than a quarter period apart, or the current lattice fits at least as well, ends the
        search (frames lost, not a new rate). Stamps of a burst or out of order (an interval
        under a quarter period) are left out."""
        if self.given_fps is not None or self._pending_lost + self._waiting < DRIFT_PILE:
            return
        latest = np.fromiter(self._window, float, len(self._window))
        latest -= latest[-1]
        for size in DRIFT_WINDOWS:  # lean numpy: this runs at every frame lost while piled
            count = size * self.calibration_frames
            if latest.size <= count:
                return
            stamps = latest[-count - 1:]
            intervals = stamps[1:] - stamps[:-1]
            if intervals.max() > self.stall_s:
                return
            # Stamps a burst delivered after a stall, or out of order, say when they arrived: left
            # out, and their intervals out of the median.
            on_time = np.concatenate([[True], intervals >= self._period / 4])
            if not on_time[-1] or on_time.sum() <= count // 2:
                return
            usual = intervals[on_time[1:]]
            typical = float(np.partition(usual, usual.size // 2)[usual.size // 2])
            steps = np.rint(intervals * (1 / typical))
            slots = np.zeros(count + 1)
            np.cumsum(np.maximum(steps, 0.0, out=steps), out=slots[1:])
            slots, stamps = slots[on_time], stamps[on_time]
            slots -= slots.sum() / slots.size
            period = float(slots @ stamps) / float(slots @ slots)  # least squares (x centred)
            if not period > 0:
                return
            if abs(period / self._period - 1) * count < 0.25:
                return  # the same lattice over this window (and the longer ones): frames lost
            phasors = np.exp(np.outer([2j * np.pi / period, 2j * np.pi / self._period], stamps))
            new, current = np.abs(phasors.sum(axis=1)) * (1 / stamps.size)
            if current >= new:  # the current lattice explains them better
                return
            if new >= math.sqrt(math.log(DRIFT_CHANCE) / stamps.size) and current < new / 2:
                if self._drift is None:
                    self._drift = (self._period, self._last_number)
                self._settle(math.inf, numbers_as="rate_skipped")
                self._rebuild(period, stamps + self._window[-1])
                return

    def _count_drift(self) -> None:
        """A drift refit, `settle_frames` numbers on (the grid has fitted the new rate by then;
        the window that revealed it may still have held stamps at the old rate): a change of
        `RATE_CHANGE` or more from the rate before is a ``rate_changes`` (`rate_change` set),
        a smaller one ``rate_adjusted``."""
        before, _ = self._drift
        self._drift = None
        if abs(self._period / before - 1) >= RATE_CHANGE:
            self.stats.add("rate_changes", 1)
            self.rate_change = (1 / before, 1 / self._period)
        else:
            self.stats.add("rate_adjusted", 1)

    def _rebuild(self, period: float, stamps) -> None:
        """Grid the latest stamps with `period`: each read as whole periods around the line
        through them, the newest keeping its number (later stamps of one number are repeats)."""
        newest = stamps[-1]
        stamps = np.asarray(stamps) - newest
        offset = 0.0
        for _ in range(2):  # slots read around the first guess, then around their own line
            slots = np.round(stamps / period - offset)
            offset = float(np.mean(stamps / period - slots))
        slots += self._last_number - slots[-1]
        first = np.flatnonzero(slots > np.concatenate([[-np.inf], np.maximum.accumulate(slots)[:-1]]))
        self._grid_reset(zip(slots[first].astype(int).tolist(), (stamps[first] + newest).tolist()))
        self._period = period
        self._fit()


def estimate_period(intervals, gap: float = math.inf) -> float:
    """The frame period behind `intervals` between received frames: their span over the number of
    frame slots in it. Intervals over `gap` (stalls) are left out of the span and separate the
    stamps into runs.

    One slot per interval (every received frame is the next one) unless the stamps sit on a finer
    grid: the smallest slot count N, up to `MAX_SLOTS_PER_FRAME` per interval, whose
    `lattice_strength` is above what stamps off any grid reach among that many candidates (one
    chance in a thousand), so frames lost in transport are found, while frames that simply come at
    half the rate read as a slower camera, not as every other frame lost. Frames delivered in a
    burst after a stall are frames of the stall: the burst's tiny intervals add up to the stall's
    missing time, and their stamps (like those stamped before the previous one) tell when they
    arrived, not when they were captured, so they are left out of the grid test. With more jitter
    than about a quarter period no grid shows (receipt stamps), and the estimate assumes no frame
    was lost. The period is then fitted (least squares) to the stamps against their slots.
    """
    values = np.asarray(intervals, dtype=float)
    values = values[np.isfinite(values)]
    inside = values[values <= gap]
    span = float(inside.sum())
    if not (inside > 0).any() or span <= 0:
        raise ValueError("no positive interval to estimate a period from")
    count = inside.size
    stamps = np.concatenate([[0.0], np.cumsum(np.where(values <= gap, values, 0.0))])
    runs = np.concatenate([[0], 1 + np.flatnonzero(values > gap)])
    arrived_late = np.concatenate([[False], values < span / count / 4])
    stamps[arrived_late] = np.nan
    slots = np.arange(count, MAX_SLOTS_PER_FRAME * count + 1)
    strength = lattice_strength(stamps, slots / span, runs)
    chance = min(0.99, math.sqrt(math.log(1000 * slots.size) / (~arrived_late).sum()))
    lattices = slots[strength >= chance]
    period = span / (int(lattices[0]) if lattices.size else count)
    steps = np.maximum(np.round(values / period), 0) if lattices.size else np.ones(values.size)
    return _fit_slope(stamps, np.concatenate([[0.0], np.cumsum(steps)]), runs, period)


def _fit_slope(stamps, slots, runs, period: float) -> float:
    """The least-squares period of `stamps` (NaN: left out) against their `slots`, each run with
    its own offset; stamps more than 3/4 `period` off the first line are left out of the second
    (the first frame of a burst, stamped when the stall ended). Much less sensitive to jitter
    than the span alone (two stamps). `period` where the stamps cannot tell."""
    run_of = np.zeros(stamps.size, dtype=int)
    run_of[np.asarray(runs[1:], dtype=int)] = 1
    run_of = np.cumsum(run_of)
    used = np.isfinite(stamps)
    for _ in range(2):
        x, y = slots.copy(), stamps.copy()
        for run in np.unique(run_of[used]):
            own = used & (run_of == run)
            x[own] -= x[own].mean()
            y[own] -= y[own].mean()
        spread = float(x[used] @ x[used])
        if spread <= 0:
            return period
        period = float(x[used] @ y[used]) / spread
        used &= np.abs(np.where(used, y - period * x, 0.0)) <= 0.75 * period
    return period


def lattice_strength(stamps, rates, runs=(0,)) -> np.ndarray:
    """How closely `stamps` (NaN: left out) sit on a grid of each frequency in `rates` (grid lines
    per second): the length of their mean phase vector, each run (from each index in `runs`) with
    its own phase. 1 when exactly on the grid; n stamps off it reach about 1/sqrt(n), and more than
    r with probability exp(-n r^2)."""
    stamps = np.asarray(stamps, dtype=float)
    used = np.isfinite(stamps)
    phases = np.outer(np.atleast_1d(rates), np.where(used, stamps - stamps[used][0], 0.0))
    phasors = np.where(used, np.exp(2j * np.pi * phases), 0)
    return np.abs(np.add.reduceat(phasors, list(runs), axis=1)).sum(axis=1) / used.sum()
