# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""False alarms per hour of a threshold on a site's normal footage, and the threshold that keeps
them within a budget (used by `tcvads calibrate`; no torch).

The coarse scores of normal footage do not depend on the thresholds, so the footage is scored
once (`score_source`: the detector's own `CoarseDetector`, so sampling, resizing and the QACM's
warm-up are those of `tcvads detect` and the nodes) and each candidate threshold is then tried by
replaying the scores through the detector's `EventStateMachine` (`count_alarms`): the counted
alarms are the event starts the detector would announce, after its minimum duration, merge gap
and cool-down.

Limited footage: `k` alarms in `T` hours of normal footage estimate the rate `k / T`, but a
threshold chosen on the same footage is optimistic, and `k = 0` does not mean a rate of 0. The
alarm starts of a stationary scene are treated as a Poisson process and the threshold must meet
the budget with the one-sided upper confidence bound of its rate (Garwood's exact interval:
the rate `mu / T` for which seeing at most `k` alarms has probability `1 - confidence`), not with
the rate seen. `T` hours with no alarm at all certify a rate of at most ``-ln(1 - confidence) /
T``: 3.0 / T at 95 %, so a budget of one alarm per hour needs three hours of normal footage.

The second opinion (`calibrate_fine`): the fine stage classifies the clip of every alarm the chosen
settings raise on the footage (`alarm_clips`: the clips `TwoStagePipeline` would cut, by the same
`clips.ClipCollector` rule), and the fine threshold is the lowest one whose *confirmed* false
alarms per hour stay within their own budget at the same confidence, by the same bound.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from tcvads_ros.runtime.clips import ClipCache, ClipCollector
from tcvads_ros.runtime.events import AnomalyEvent, EventConfig, EventStateMachine
from tcvads_ros.runtime.frames import Frame, resize_rgb
from tcvads_ros.runtime.pipeline import CoarseDetector, Snippet

# The share of the site's normal scores below the hysteresis threshold (see `off_threshold`).
NORMAL_QUANTILE = 0.99


@dataclass
class ScoreTrace:
    """The coarse scores of one recording: one row per scored snippet, and its length in time."""

    name: str
    scores: np.ndarray  # (n,) anomaly probabilities
    stamps: np.ndarray  # (n,) stream seconds
    frames: np.ndarray  # (n,) source frame numbers
    seconds: float  # stream time covered (first sample to one snippet past the last)
    # The scored snippets' frames (at the fine stage's input size), one per row, where kept for
    # the fine stage (`score_source`'s `keep_size`).
    samples: list[Frame] | None = None


def score_source(detector: CoarseDetector, frames: Iterable[Frame], name: str, fps: float,
                 on_frame: Callable[[], None] | None = None,
                 keep_size: tuple[int, int] | None = None) -> ScoreTrace:
    """Run `detector` (a fresh one per recording) over `frames`; every scored snippet's score,
    and with `keep_size` its frame resized to that (height, width) for the fine stage."""
    rows: dict[int, tuple[float, float]] = {}
    kept: dict[int, Frame] = {}
    for frame in frames:
        for snippet in detector.push(frame)[0]:
            rows[snippet.frame.index] = (snippet.score, snippet.frame.stamp)
            if keep_size is not None:
                f = snippet.frame
                kept[f.index] = Frame(resize_rgb(f.rgb, keep_size), f.stamp, f.index)
        if on_frame is not None:
            on_frame()
    for snippet in detector.close()[0]:  # what a stride > 1 left pending
        if math.isfinite(snippet.score):
            rows.setdefault(snippet.frame.index, (snippet.score, snippet.frame.stamp))
            if keep_size is not None and snippet.frame.index not in kept:
                f = snippet.frame
                kept[f.index] = Frame(resize_rgb(f.rgb, keep_size), f.stamp, f.index)
    index = np.array(sorted(rows), dtype=np.int64)
    scores = np.array([rows[i][0] for i in index], dtype=np.float64)
    stamps = np.array([rows[i][1] for i in index], dtype=np.float64)
    finite = np.isfinite(scores)
    index, scores, stamps = index[finite], scores[finite], stamps[finite]
    seconds = float(stamps[-1] - stamps[0]) + detector.sample_every / fps if len(stamps) else 0.0
    samples = None if keep_size is None else [kept[int(i)] for i in index]
    return ScoreTrace(name, scores, stamps, index, seconds, samples)


def replay(trace: ScoreTrace, cfg: EventConfig) -> list[AnomalyEvent]:
    """Every announcement the detector's event state machine makes on `trace` with `cfg`,
    the end at the close of the stream included."""
    machine = EventStateMachine(cfg)
    out = []
    for score, stamp, frame in zip(trace.scores, trace.stamps, trace.frames):
        out += machine.update(score, stamp, frame)
    return out + machine.close()


def count_alarms(traces: Sequence[ScoreTrace], cfg: EventConfig) -> int:
    """Event starts the detector would announce on `traces` with settings `cfg` (each recording
    a stream of its own, as `tcvads detect` runs it)."""
    return sum(e.kind == "start" for trace in traces for e in replay(trace, cfg))


def poisson_upper_rate(count: int, hours: float, confidence: float) -> float:
    """One-sided upper confidence bound (Garwood, exact) of a Poisson rate per hour with `count`
    events seen in `hours`: the mean `mu` with P(N <= count | mu) = 1 - confidence, over `hours`.

    P(N <= k | mu) falls monotonically in mu, so `mu` is found by bisection (equal to
    ``scipy.stats.chi2.ppf(confidence, 2 * (count + 1)) / 2``; a test checks it).
    """
    if hours <= 0:
        raise ValueError(f"hours must be > 0, got {hours}")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    k, alpha = int(count), 1.0 - confidence

    def cdf(mu: float) -> float:  # P(N <= k | mu), summed in log space
        terms = [i * math.log(mu) - mu - math.lgamma(i + 1) for i in range(k + 1)]
        top = max(terms)
        return math.exp(top) * sum(math.exp(t - top) for t in terms)

    low, high = 0.0, max(1.0, 2.0 * (k + 1))
    while cdf(high) > alpha:
        high *= 2.0
    for _ in range(100):
        mid = 0.5 * (low + high)
        low, high = (mid, high) if cdf(mid) > alpha else (low, mid)
    return high / hours


def off_threshold(on: float, normal_level: float) -> float:
    """Hysteresis for `on`: an event ends once the score is back at the site's normal level
    (`normal_level`, the `NORMAL_QUANTILE` of its normal scores), but never lower than the default
    band (`EventConfig.with_threshold`'s, `events.HYSTERESIS` x on) and never above `on`."""
    return min(on, max(EventConfig().with_threshold(on).threshold_off, normal_level))


def candidate_thresholds(traces: Sequence[ScoreTrace], limit: int = 300) -> np.ndarray:
    """Alarm thresholds worth trying, ascending: just above observed scores (the alarm count
    changes only there), the highest scores all taken and the rest thinned to `limit` values."""
    scores = np.unique(np.concatenate([t.scores for t in traces]))
    if len(scores) > limit:
        # Every one of the top half of `limit`, geometrically thinner below: a budget of a few
        # alarms an hour puts the threshold among the highest scores.
        top = limit // 2
        offsets = np.concatenate([np.arange(1, top + 1),
                                  np.geomspace(top + 1, len(scores), limit - top).astype(np.int64)])
        scores = np.sort(scores[len(scores) - np.unique(offsets)])
    return np.nextafter(scores, np.inf)


@dataclass
class BudgetPoint:
    """One candidate's settings and its false alarms on the footage."""

    threshold_on: float
    threshold_off: float
    alarms: int
    rate_per_hour: float  # alarms / hours
    upper_per_hour: float  # the Poisson upper confidence bound of the rate


def sweep(traces: Sequence[ScoreTrace], base: EventConfig, confidence: float,
          thresholds: np.ndarray | None = None) -> list[BudgetPoint]:
    """Alarms and their rate bound at each candidate threshold (ascending), `base`'s timings."""
    hours = sum(t.seconds for t in traces) / 3600.0
    if hours <= 0:
        raise ValueError("the footage holds no scored snippet")
    level = float(np.quantile(np.concatenate([t.scores for t in traces]), NORMAL_QUANTILE))
    points = []
    for on in (candidate_thresholds(traces) if thresholds is None else thresholds):
        on = float(min(on, 1.0))
        cfg = base.with_threshold(on, off_threshold(on, level))
        alarms = count_alarms(traces, cfg)
        points.append(BudgetPoint(on, cfg.threshold_off, alarms, alarms / hours,
                                  poisson_upper_rate(alarms, hours, confidence)))
    return points


def choose(points: Sequence[BudgetPoint], budget: float) -> BudgetPoint | None:
    """The lowest threshold whose bound, and that of every higher candidate, is within `budget`
    (so a lucky dip of the count below the budget is not taken); None when none is."""
    chosen = None
    for point in sorted(points, key=lambda p: p.threshold_on, reverse=True):
        if point.upper_per_hour > budget:
            break
        chosen = point
    return chosen


@dataclass
class Calibration:
    """What `calibrate` found: every candidate, the chosen one (None when the footage cannot
    certify the budget) and its event settings."""

    hours: float
    points: list[BudgetPoint]
    chosen: BudgetPoint | None
    events: EventConfig | None


def calibrate(traces: Sequence[ScoreTrace], base: EventConfig, budget: float,
              confidence: float) -> Calibration:
    """The lowest alarm threshold (and its hysteresis) whose false alarms per hour on the normal
    footage `traces` stay within `budget` at `confidence`; `base`'s timings."""
    points = sweep(traces, base, confidence)
    chosen = choose(points, budget)
    events = None if chosen is None else base.with_threshold(chosen.threshold_on, chosen.threshold_off)
    return Calibration(sum(t.seconds for t in traces) / 3600.0, points, chosen, events)


@dataclass
class AlarmClip:
    """The clip the in-process fine stage classifies for an alarm, and the alarms it answers."""

    event_ids: list[str]  # the event whose start opened the clip, and those coalesced into it
    frames: list[Frame]
    cut_stamp: float  # stream time when the pipeline cuts it (its newest scored snippet then)


def alarm_clips(trace: ScoreTrace, cfg: EventConfig, length: int,
                pre_roll: int | None = None) -> tuple[list[AnomalyEvent], list[AlarmClip]]:
    """Every announcement on `trace` with settings `cfg` (as `replay`), and the fine clips
    `TwoStagePipeline` cuts for them: its cache and `clips.ClipCollector`, fed in its order (a
    scored snippet into the cache, its events announced, then the clip cut when it is ready).
    Needs the trace's `samples`."""
    if trace.samples is None:
        raise ValueError(f"{trace.name}: its frames were not kept (score_source's keep_size)")
    collector = ClipCollector(ClipCache(math.inf, max_frames=length + 1), length, pre_roll,
                              timeout_s=math.inf)
    machine = EventStateMachine(cfg)
    events: list[AnomalyEvent] = []
    clips: list[AlarmClip] = []

    def cut(flush: bool = False) -> None:
        clip = collector.ready(flush=flush)
        if clip is not None:
            clips.append(AlarmClip([clip.event.event_id, *clip.coalesced], [s.frame for s in clip.items],
                                   collector.cache.newest_stamp()))

    for frame, score in zip(trace.samples, trace.scores):
        collector.cache.push(Snippet(frame, None, float(score)))
        for event in machine.update(score, frame.stamp, frame.index):
            collector.announce(event)
            events.append(event)
        cut()
    for event in machine.close():
        collector.announce(event)
        events.append(event)
    cut(flush=True)
    return events, clips


def alarm_fine_scores(traces: Sequence[ScoreTrace], cfg: EventConfig, length: int,
                      classify: Callable[[list[Frame]], float]) -> list[float]:
    """The fine anomaly score of every alarm (event start) on `traces` with settings `cfg`: its
    clip's, `classify(frames)`; an alarm coalesced into another's clip takes that clip's. An alarm
    whose clip was never cut (none in the pipeline's rule) gets 1.0: no verdict disputes it."""
    scores = []
    for trace in traces:
        events, clips = alarm_clips(trace, cfg, length)
        by_event = {}
        for clip in clips:
            score = float(classify(clip.frames))
            by_event.update({event_id: score for event_id in clip.event_ids})
        scores += [by_event.get(e.event_id, 1.0) for e in events if e.kind == "start"]
    return scores


@dataclass
class FinePoint:
    """One candidate fine threshold and the confirmed false alarms on the footage."""

    fine_threshold: float
    confirmed: int
    rate_per_hour: float
    upper_per_hour: float


@dataclass
class FineCalibration:
    """What `calibrate_fine` found: every candidate and the chosen one (None when the footage
    cannot certify the budget even with every alarm disputed)."""

    points: list[FinePoint]
    chosen: FinePoint | None


def calibrate_fine(scores: Sequence[float], hours: float, budget: float, confidence: float,
                   floor: float = 0.0) -> FineCalibration:
    """The lowest fine threshold, not below `floor`, whose confirmed false alarms (alarms of the
    normal footage whose fine anomaly score reaches it) stay within `budget` per hour at
    `confidence` (the Poisson bound of `calibrate`), and stay within it at every higher candidate.
    Candidates: `floor` and just above each alarm's score (the count changes only there)."""
    if hours <= 0:
        raise ValueError("the footage holds no scored snippet")
    values = np.asarray(scores, dtype=np.float64)
    above = np.nextafter(values[values >= floor], np.inf)
    candidates = np.unique(np.concatenate([[floor], np.minimum(above, np.nextafter(1.0, np.inf))]))
    points = []
    for threshold in candidates:
        confirmed = int((values >= threshold).sum())
        points.append(FinePoint(float(threshold), confirmed, confirmed / hours,
                                poisson_upper_rate(confirmed, hours, confidence)))
    chosen = None
    for point in sorted(points, key=lambda p: p.fine_threshold, reverse=True):
        if point.upper_per_hour > budget:
            break
        chosen = point
    if chosen is not None and chosen.fine_threshold > 1.0:
        chosen = None  # only "dispute every alarm" met the budget: no fine threshold in [0, 1] does
    return FineCalibration(points, chosen)
