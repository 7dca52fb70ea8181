# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""The event state machine: per-frame anomaly scores in, start / update / end events out.

A score above `threshold_on` opens a *candidate*; it becomes an event (a ``start`` is announced)
once the score has stayed above `threshold_off` for `min_duration_s`, so a one-frame blip never
starts an event. While the event is open an ``update`` is announced every `update_interval_s`.
When the score falls below `threshold_off` (hysteresis) the event is *closing*: if it rises above
`threshold_on` again within `merge_gap_s` the same event continues (near events merge), else an
``end`` is announced. After an end, no candidate opens for `cooldown_s`. Every event carries one
id (uuid4 hex) from its start through its updates to its end.

Faults are absorbed, counted in `stats`, and never break the invariants (every announced start
gets exactly one end; ``start_stamp <= end_stamp <= stamp``):

- NaN / infinite scores or stamps: ignored as missing samples (``non_finite_score``, ``bad_stamp``).
- a stamp a little earlier than the last one (jitter, out-of-order delivery): the sample is
  dropped (``time_backwards``); a jump back by more than `gap_timeout_s` is a clock reset (a
  bag replayed, a simulator restarted): the open event ends at its last good stamp and the
  machine starts afresh on the new timeline (``clock_resets``).
- a stamp more than `gap_timeout_s` after the last (the source stopped and came back, or the
  clock leapt forward): the open event ends at its last good stamp (``gaps``), then the new
  sample is processed normally.
- repeated stamps (bursts) are processed; zero durations are allowed.
- at shutdown `close()` ends the open event, so no start is left without an end.

Frame ranges follow the project's half-open convention: the event covers frames
``[start_frame, end_frame)``, where ``end_frame`` is one past the last frame scored in the event;
``end_stamp`` is the stamp of that last frame.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any, Literal

from tcvads_ros.runtime import event_schema
from tcvads_ros.runtime.stats import Counters

EventKind = Literal["start", "update", "end"]

# threshold_off as a share of threshold_on when only the alarm threshold is given (a bundle's
# calibrated one, or `tcvads detect --threshold`): the event ends a little below where it began.
HYSTERESIS = 0.8


def threshold_problem(on: float, off: float, source: str = "") -> str | None:
    """Why (`on`, `off`) cannot drive the state machine (off above on), or None; `source` says
    where `on` came from (the bundle, a site profile)."""
    if off <= on:
        return None
    return (f"threshold_off ({off}) exceeds threshold_on ({on}{', ' + source if source else ''}), "
            "which it must not exceed; lower threshold_off")


def gap_problem(gap_timeout_s: float, sample_interval_s: float) -> str | None:
    """Why `gap_timeout_s` cannot work on a stream scored every `sample_interval_s` (one snippet
    of the camera's frames), or None. A gap is a jump between scored samples longer than
    `gap_timeout_s`; at or below one and a half intervals, the spacing of ordinary samples (a
    snippet, plus the jitter of which frame starts it) reads as a gap and ends every event before
    it could start."""
    least = 1.5 * sample_interval_s
    if gap_timeout_s >= least:
        return None
    return (f"gap_timeout_s ({gap_timeout_s:g} s) is shorter than the stream's scored samples allow: "
            f"one per snippet, {sample_interval_s:.2f} s apart, so every sample would read as a gap "
            f"and no event could start; set it to at least {least:.2f} s")


@dataclass
class EventConfig:
    """Thresholds and timings of the event state machine (seconds are stream time).

    Args:
        threshold_on: score at or above which a candidate event opens (or a closing one resumes).
        threshold_off: score below which an open event starts closing (hysteresis; <= threshold_on).
        min_duration_s: how long the score must hold before the start is announced.
        cooldown_s: after an end, how long before a new candidate may open.
        merge_gap_s: how long the score may stay low before the event ends; a return above
            threshold_on within it continues the same event.
        update_interval_s: period of ``update`` announcements while an event is open; 0 = none.
        gap_timeout_s: a jump in stream time larger than this (forward or back) ends the open
            event at its last good stamp.
    """

    threshold_on: float = 0.5
    threshold_off: float = 0.4
    min_duration_s: float = 0.5
    cooldown_s: float = 2.0
    merge_gap_s: float = 1.0
    update_interval_s: float = 1.0
    gap_timeout_s: float = 5.0

    def __post_init__(self) -> None:
        for name in (f.name for f in fields(self)):
            value = getattr(self, name)
            if (
                isinstance(value, bool)
                or not isinstance(value, (int, float))
                or not math.isfinite(value)
            ):
                raise ValueError(f"{name} must be a finite number, got {value!r}")
        problem = threshold_problem(self.threshold_on, self.threshold_off)
        if problem:
            raise ValueError(problem)
        for name in ("min_duration_s", "cooldown_s", "merge_gap_s", "update_interval_s"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.gap_timeout_s <= 0:
            raise ValueError(f"gap_timeout_s must be > 0, got {self.gap_timeout_s}")

    def with_threshold(self, threshold_on: float, threshold_off: float | None = None) -> EventConfig:
        """These timings with the alarm threshold `threshold_on`; `threshold_off` defaults to
        `HYSTERESIS` times it (the one rule that derives one threshold from the other)."""
        on = float(threshold_on)
        return replace(self, threshold_on=on, threshold_off=on * HYSTERESIS if threshold_off is None else float(threshold_off))


@dataclass
class AnomalyEvent:
    """One announcement about an event. `end_stamp` / `end_frame` are set on ``end`` only.

    `reason` says why an event ended: ``score`` (fell below threshold_off), ``gap`` (the source
    stopped or time leapt forward), ``clock_reset`` (time jumped back), ``shutdown``, ``paused``
    (a managed node was deactivated), or
    ``crash`` (left open by a killed process, ended when its successor opened the store:
    `event_store.crash_ends`). `stream` names the camera topic or source it came from.
    Its serialised forms (JSON document, typed message) come from `event_schema.FIELDS`.
    """

    event_id: str
    kind: EventKind
    score: float
    peak_score: float
    start_stamp: float
    stamp: float
    end_stamp: float | None
    start_frame: int
    frame: int
    end_frame: int | None
    peak_frame: int
    peak_stamp: float = 0.0
    reason: str = ""
    stream: str = ""  # the camera topic or source (`PipelineConfig.stream`)
    # The fine stage's second opinion, where the announcement waited for it (confirm_with_fine):
    # "confirmed", "disputed", or "" (not waited for, or none came); its fine anomaly score.
    # Stored records hold "" / None: an event is stored when it happens, before its verdict (which
    # its explanation record holds).
    verdict: str = ""
    fine_anomaly_score: float | None = None
    # The header of the source frame that caused this announcement (a ROS std_msgs/Header, or
    # None for files), so a publisher can copy it; never stored or serialised.
    source_header: Any = field(default=None, repr=False, compare=False)

    @property
    def duration(self) -> float:
        """Seconds from start to end (or to this announcement while the event is open)."""
        return (self.end_stamp if self.end_stamp is not None else self.stamp) - self.start_stamp

    def to_dict(self) -> dict[str, Any]:
        """The event's JSON document (`event_schema.document`: schema ``tcvads.anomaly/2``, with
        ``record_type: event`` and the source header), as the event store, `tcvads detect` and
        ``anomaly/json`` keep it."""
        return event_schema.document(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AnomalyEvent:
        """The event of a document or event store record of any readable schema version
        (`event_schema.read_document`); ValueError naming what is wrong."""
        return cls(**event_schema.read_document(data)[0])


@dataclass
class _OpenEvent:
    event_id: str
    start_stamp: float
    start_frame: int
    peak_score: float
    peak_stamp: float
    peak_frame: int
    last_stamp: float  # last sample scored inside the event (>= threshold_off)
    last_frame: int
    last_update: float
    below_since: float | None = None  # set while closing

    def include(self, score: float, stamp: float, frame: int) -> None:
        if score > self.peak_score:
            self.peak_score, self.peak_stamp, self.peak_frame = score, stamp, frame
        self.last_stamp, self.last_frame = stamp, frame


@dataclass
class EventStateMachine:
    """Turns a stream of (score, stamp, frame_index) into `AnomalyEvent`s; see the module doc."""

    cfg: EventConfig = field(default_factory=EventConfig)
    stats: Counters = field(default_factory=Counters)

    def __post_init__(self) -> None:
        self._candidate: _OpenEvent | None = None  # above threshold, not yet min_duration long
        self._event: _OpenEvent | None = None  # announced, not yet ended
        self._last_stamp: float | None = None
        self._last_frame = 0
        self._last_score = math.nan
        self._cooldown_until = -math.inf

    @property
    def active_event_id(self) -> str | None:
        """The id of the announced, not yet ended event, if any."""
        return self._event.event_id if self._event else None

    def update(self, score: float, stamp: float, frame_index: int) -> list[AnomalyEvent]:
        """Feed one scored frame; returns the announcements it causes (often none)."""
        try:
            stamp, score, frame_index = float(stamp), float(score), int(frame_index)
        except (TypeError, ValueError, OverflowError):
            self.stats.add("bad_input")
            return []
        if not math.isfinite(stamp):
            self.stats.add("bad_stamp")
            return []
        if not math.isfinite(score):
            self.stats.add("non_finite_score")
            return []
        out: list[AnomalyEvent] = []
        if self._last_stamp is not None:
            jump = stamp - self._last_stamp
            if jump < -self.cfg.gap_timeout_s:
                self.stats.add("clock_resets")
                out += self._close_at_last("clock_reset")
                self._cooldown_until = -math.inf
            elif jump < 0:
                self.stats.add("time_backwards")
                return out
            elif jump > self.cfg.gap_timeout_s:
                self.stats.add("gaps")
                out += self._close_at_last("gap")
                self._cooldown_until = -math.inf
            elif jump == 0:
                self.stats.add("repeated_stamps")
        self._last_stamp, self._last_frame, self._last_score = stamp, frame_index, score
        self.stats.add("samples")
        out += self._step(score, stamp, frame_index)
        return out

    def close(self, stamp: float | None = None, reason: str = "shutdown") -> list[AnomalyEvent]:
        """End the open event (at shutdown, when the source ends, or on a pause: `reason`);
        returns its ``end``, if any.

        `stamp` is the time of the announcement (default: the last sample's; never earlier);
        the event itself ends at its last scored frame. The machine stays usable afterwards.
        """
        if self._event is not None and stamp is not None and math.isfinite(stamp):
            self._last_stamp = max(float(stamp), self._last_stamp)
        return self._close_at_last(reason)

    flush = close

    def _step(self, score: float, stamp: float, frame: int) -> list[AnomalyEvent]:
        cfg = self.cfg
        if self._event is not None:
            return self._step_open(score, stamp, frame)
        if self._candidate is None:
            if score < cfg.threshold_on:
                return []
            if stamp < self._cooldown_until:
                self.stats.add("suppressed_in_cooldown")
                return []
            self._candidate = _OpenEvent(
                event_id=uuid.uuid4().hex,
                start_stamp=stamp,
                start_frame=frame,
                peak_score=score,
                peak_stamp=stamp,
                peak_frame=frame,
                last_stamp=stamp,
                last_frame=frame,
                last_update=stamp,
            )
        elif score < cfg.threshold_off:
            self.stats.add("blips")  # fell back before min_duration: never announced
            self._candidate = None
            return []
        candidate = self._candidate
        candidate.include(score, stamp, frame)
        if stamp - candidate.start_stamp < cfg.min_duration_s:
            return []
        self._event, self._candidate = candidate, None
        candidate.last_update = stamp
        self.stats.add("started")
        return [self._announce("start", score, stamp, frame)]

    def _step_open(self, score: float, stamp: float, frame: int) -> list[AnomalyEvent]:
        cfg, event = self.cfg, self._event
        closing = event.below_since is not None
        if score >= (cfg.threshold_on if closing else cfg.threshold_off):
            if closing:
                self.stats.add("merged")
                event.below_since = None
            event.include(score, stamp, frame)
            if cfg.update_interval_s > 0 and stamp - event.last_update >= cfg.update_interval_s:
                event.last_update = stamp
                return [self._announce("update", score, stamp, frame)]
            return []
        if not closing:
            event.below_since = stamp
        if stamp - event.below_since < cfg.merge_gap_s:
            return []
        self._cooldown_until = stamp + cfg.cooldown_s
        return [self._end("score", score, stamp, frame)]

    def _close_at_last(self, reason: str) -> list[AnomalyEvent]:
        """End the open event at its last scored frame, announced at the last good sample."""
        self._candidate = None
        if self._event is None:
            return []
        return [self._end(reason, self._last_score, self._last_stamp, self._last_frame)]

    def _end(self, reason: str, score: float, stamp: float, frame: int) -> AnomalyEvent:
        event, self._event = self._event, None
        self.stats.add("ended")
        self.stats.add(f"ended_by_{reason}")
        announcement = self._announce("end", score, stamp, frame, event)
        announcement.end_stamp = event.last_stamp
        announcement.end_frame = event.last_frame + 1
        announcement.reason = reason
        return announcement

    def _announce(
        self,
        kind: EventKind,
        score: float,
        stamp: float,
        frame: int,
        event: _OpenEvent | None = None,
    ) -> AnomalyEvent:
        event = event or self._event
        return AnomalyEvent(
            event_id=event.event_id,
            kind=kind,
            score=score,
            peak_score=event.peak_score,
            start_stamp=event.start_stamp,
            stamp=stamp,
            end_stamp=None,
            start_frame=event.start_frame,
            frame=frame,
            end_frame=None,
            peak_frame=event.peak_frame,
            peak_stamp=event.peak_stamp,
        )
