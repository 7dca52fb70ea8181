# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""confirm_with_fine: an event's announcements held until the fine stage's verdict on it.

A stream whose pipeline confirms with the fine stage (`PipelineConfig.confirm_with_fine`) hands
every announcement (start, updates, end) to a `VerdictGate` instead of announcing it. A start
and everything after it wait until the fine stage decides on that event (`decide`, from the fine
stage's thread), or until `timeout_s` of wall time passed; then they go out in their order, each
with the verdict (``confirmed``, ``disputed``) and the fine anomaly score, or with none ("")
where none came in time or the clip failed (counted ``verdicts_timed_out``). A disputed alarm is
announced too: it is never hidden (docs/explanation.md, "The second opinion").
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

from tcvads_ros.runtime.events import AnomalyEvent
from tcvads_ros.runtime.stats import Counters


class VerdictGate:
    """Announcements held, in order, until their event's verdict (see the module docstring)."""

    def __init__(self, timeout_s: float, stats: Counters, clock: Callable[[], float] = time.monotonic) -> None:
        self.timeout_s = timeout_s
        self.stats = stats
        self.clock = clock  # wall time of the time-out (tests replace it)
        self._held: deque[tuple[AnomalyEvent, float]] = deque()
        self._waiting: set[str] = set()  # events whose start is held for a verdict
        self._lock = threading.Lock()  # `_verdicts` is written by the fine stage's thread
        self._verdicts: dict[str, tuple[str, float | None]] = {}
        self._given: dict[str, tuple[str, float | None]] = {}  # an event's verdict, until its end

    @property
    def held(self) -> int:
        """Announcements waiting."""
        return len(self._held)

    def decide(self, event_ids: list[str], verdict: str, score: float | None) -> None:
        """The fine stage's verdict (or "" where its clip failed) on these events (any thread)."""
        with self._lock:
            for event_id in event_ids:
                self._verdicts[event_id] = (verdict, score)

    def hold(self, events: list[AnomalyEvent]) -> list[AnomalyEvent]:
        """Take `events`; return the announcements whose turn has come, in order, each with its
        verdict set."""
        now = self.clock()
        for event in events:
            if event.kind == "start":
                self._waiting.add(event.event_id)
            self._held.append((event, now))
        out = []
        while self._held:
            event, since = self._held[0]
            if event.event_id in self._waiting:
                with self._lock:
                    decided = self._verdicts.get(event.event_id)
                if decided is None and now - since < self.timeout_s:
                    break
                if decided is None:
                    self.stats.add("verdicts_timed_out")
                self._waiting.discard(event.event_id)
                self._given[event.event_id] = decided or ("", None)
            self._held.popleft()
            event.verdict, event.fine_anomaly_score = self._given.get(event.event_id, ("", None))
            if event.kind == "end":
                self._given.pop(event.event_id, None)
                with self._lock:
                    self._verdicts.pop(event.event_id, None)
            out.append(event)
        return out

    def flush(self, events: list[AnomalyEvent]) -> list[AnomalyEvent]:
        """`events` and every held announcement, in order; what has no verdict yet gets none (a
        paused or ended stream must not keep an alarm back)."""
        out = self.hold(events)
        while self._held:
            event, _ = self._held[0]
            with self._lock:
                self._verdicts.setdefault(event.event_id, ("", None))
            out += self.hold([])
        return out
