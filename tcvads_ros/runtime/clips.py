# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""The fine stage's clips (paper §IV.B): which sampled frames an event is classified on.

One rule, used in-process by `TwoStagePipeline` (items: the coarse stage's scored snippets) and by
fine_node (items: camera frames from its own cache), keyed by the camera's time stamps:

- `ClipCache`: a bounded, time-indexed buffer of sampled frames (anything with ``.stamp``).
- `ClipCollector`: an event start opens a clip of `length` items, `pre_roll` of them up to and
  including the start's stamp and the rest after it. A start while a clip is still being
  collected is coalesced into that clip (one fine-stage run covers both; its id is listed), so a
  burst of events cannot queue unbounded work. The clip is cut when its items have arrived, when
  its event has ended and the stream has reached the end's stamp (a short event is classified on
  its own frames, not the normal ones after it), when the stream's time passes `timeout_s` after
  the start (a camera that stops does not hold the clip forever), or on `ready(flush=True)`
  (shutdown: classify what arrived). The fine temporal graph takes a fixed clip length, so a
  stream that began or ended inside the clip repeats its edge items (`pad_clip`).
"""

from __future__ import annotations

import logging
import math
import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from tcvads_ros.runtime.sampling import RESET_S
from tcvads_ros.runtime.stats import Counters

log = logging.getLogger(__name__)

# A clip with no item from before its event's start must begin within this many seconds of it
# (fine_node started late, or a start replayed to it by transient-local QoS: later frames show
# another moment, not the event).
COVER_S = 1.0
# fine_node's defaults for its `clip_cache_seconds` and `clip_timeout_s` parameters.
CLIP_CACHE_SECONDS = 30.0
CLIP_TIMEOUT_S = 10.0


def default_pre_roll(length: int) -> int:
    """Items of a clip up to and including the start: half the clip."""
    return max(1, length // 2)


def pad_clip(items: list[Any], length: int, pre_roll: int, before: int) -> list[Any]:
    """Exactly `length` items: a stream that starts or ends inside the clip repeats its edge
    items, at the front when fewer than `pre_roll` items preceded the event start (`before`
    did), at the back otherwise."""
    items = items[:length]
    missing = length - len(items)
    front = min(max(0, pre_roll - before), missing)
    return [items[0]] * front + items + [items[-1]] * (missing - front)


class ClipCache:
    """Items (anything with ``.stamp``) of the last `seconds` of stream time, oldest first.

    Memory is bounded twice: by stream time and by `max_frames`, whatever the camera's rate. A
    jump back in time of more than `sampling.RESET_S` starts a new timeline: the old items go.
    """

    def __init__(self, seconds: float, max_frames: int) -> None:
        if not seconds > 0 or max_frames < 1:
            raise ValueError("ClipCache needs seconds > 0 and max_frames >= 1")
        self.seconds = float(seconds)
        self._items: deque = deque(maxlen=int(max_frames))
        self._lock = threading.Lock()

    def push(self, item: Any) -> None:
        with self._lock:
            if self._items and item.stamp < self._items[-1].stamp - RESET_S:
                self._items.clear()
            self._items.append(item)
            while self._items and self._items[0].stamp < item.stamp - self.seconds:
                self._items.popleft()

    def newest_stamp(self) -> float | None:
        with self._lock:
            return self._items[-1].stamp if self._items else None

    def clip(self, start: float, end: float) -> list[Any]:
        """The kept items with start <= stamp <= end, oldest first."""
        with self._lock:
            return [item for item in self._items if start <= item.stamp <= end]

    def __len__(self) -> int:
        return len(self._items)


@dataclass
class Clip:
    """A finished clip for the fine stage: `length` items around an event start."""

    event: Any  # the event's latest announcement (its peak frame, for the explanation)
    header: Any  # the header of the frame that announced the start (copied onto the category)
    items: list[Any]
    coalesced: list[str] = field(default_factory=list)  # starts folded into this clip


@dataclass
class _Collecting:
    event: Any
    header: Any
    split: float  # stream time of the start announcement: items up to it are pre-roll
    deadline: float  # stream time after which the clip is cut with what has arrived
    end: float = math.inf  # stream time of the event's end, once announced
    coalesced: list[str] = field(default_factory=list)


class ClipCollector:
    """Cuts each event's clip from a `ClipCache` (see the module's docstring for the rule)."""

    def __init__(self, cache: ClipCache, length: int, pre_roll: int | None = None,
                 timeout_s: float = CLIP_TIMEOUT_S, stats: Counters | None = None) -> None:
        pre_roll = default_pre_roll(length) if pre_roll is None else pre_roll
        if length < 1 or not 1 <= pre_roll <= length or not timeout_s >= 0:
            raise ValueError("ClipCollector needs length >= 1, 1 <= pre_roll <= length, timeout_s >= 0")
        self.cache, self.length, self.pre_roll, self.timeout_s = cache, length, pre_roll, timeout_s
        self._open: _Collecting | None = None
        self._lock = threading.Lock()
        self.stats = Counters() if stats is None else stats

    def announce(self, event: Any, header: Any = None, split: float | None = None) -> None:
        """An event announcement (start, update or end); `split` is the exact stamp of the frame
        that announced a start (default: the event's stamp)."""
        with self._lock:
            clip = self._open
            if event.kind == "start":
                self.stats.add("triggers")
                if clip is not None:
                    clip.coalesced.append(event.event_id)
                    self.stats.add("triggers_coalesced")
                    return
                split = event.stamp if split is None else split
                self._open = _Collecting(event, header, split, split + self.timeout_s)
            elif clip is not None and event.event_id == clip.event.event_id:
                clip.event = event
                if event.kind == "end":  # its last frame in the event, if the event says
                    end = getattr(event, "end_stamp", None)
                    clip.end = max(event.stamp if end is None else end, clip.split)

    def ready(self, flush: bool = False) -> Clip | None:
        """The open clip once it is to be cut (see the module's docstring); None while it is
        collecting, or when it had no usable item (counted)."""
        with self._lock:
            clip = self._open
            if clip is None:
                return None
            pre = self.cache.clip(-math.inf, clip.split)[-self.pre_roll:]
            # Items after the deadline belong to other moments (a start replayed to a late
            # joiner, or a camera that came back much later); items after the end, to normal ones.
            post = self.cache.clip(math.nextafter(clip.split, math.inf), min(clip.deadline, clip.end))
            newest = self.cache.newest_stamp()
            complete = len(pre) + len(post) >= self.length
            timed_out = newest is not None and newest >= clip.deadline
            ended = clip.end < math.inf and (newest is None or newest >= clip.end)
            if not (complete or ended or timed_out or flush):
                return None
            self._open = None
            items = pre + post
            if not items or (not pre and post[0].stamp > clip.split + COVER_S):
                # The cache holds none of the clip's moments: a start replayed to a fine_node
                # restarted after it (killed while collecting), or a camera that had stopped.
                self.stats.add("clips_not_covered")
                log.warning("event %s: no explanation, its clip's frames are not in the cache (%s); "
                            "counted as clips_not_covered", str(clip.event.event_id)[:8],
                            "none at all" if not items else "all from after the event started")
                return None
            self.stats.add("clips")
            return Clip(clip.event, clip.header, pad_clip(items, self.length, self.pre_roll, len(pre)),
                        clip.coalesced)
