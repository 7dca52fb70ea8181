# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""The streaming two-stage detector: frames in, events and explanations out (no torch, no ROS).

- `CoarseDetector` (paper §IV.A, always on): one frame per snippet (`SnippetSampler`: the
  first frame at or after each multiple of `sample_every`, 16 by default, so snippet s is
  represented by frame 16·s as in training) is resized to the backbone's input and run once
  through `coarse_backbone`; its feature row goes into a fixed-size ring buffer; every
  `score_every` new snippets the QACM scores the buffered window (a causal CNN, so the newest
  positions' scores are the streaming scores) and each new snippet's probability drives the
  `EventStateMachine`.
- The fine stage (paper §IV.B, on demand; `fine.FineStage`): an event start opens a clip of
  `fine_clip_snippets` scored snippets, `pre_roll` of them up to the start and the rest after it
  (the rule of `clips.ClipCollector`, which fine_node uses too); the finished clip, with each
  frame's CAM and score, goes to the fine stage's bounded queue, which classifies, explains and
  stores it on its own thread.
- A slow fine stage never slows the coarse one: a start while a clip is still being collected
  is coalesced into that clip; a finished clip that finds the queue full is dropped. Both are
  counted.
- Every event and explanation is appended to each store (durable) before it is returned or
  handed to the `on_explanation` callback.
- The second opinion (docs/explanation.md): every explanation carries the fine anomaly score and
  a verdict, ``confirmed`` or ``disputed``, at the fine threshold (`site_profile.verdict_settings`).
  With ``confirm_with_fine`` the pipeline holds each event's start (and what follows it) until its
  verdict and returns it then, with `AnomalyEvent.verdict` set; a disputed alarm is returned too,
  never dropped. A clip the fine stage could not classify (its queue full, an error) releases its
  events with no verdict (""), and so does `confirm_timeout_s` of waiting; the events are stored
  when they happen, held or not.

- Sound (docs/audio.md), for a bundle with an audio branch (`Bundle.audio`): the stream's sound
  arrives through `push_audio` (any thread) into an `audio.AudioBuffer`; each snippet's window of
  sound (`audio_features.snippet_window`) goes through `log_mel` and the ``coarse_audio`` graph,
  and its audio feature is written after the visual one in the ring buffer the QACM reads; a
  snippet nothing was heard for gets the all-zero audio feature (scored from vision). A snippet
  whose sound has not all arrived yet waits for it, in order, until the sound covers its window
  or the stream's frames are `audio_wait_s` past the window's end (stamps, never the wall clock);
  a stream that has had no sound at all never waits. One-time notices for the user (the bundle
  listens but the stream is silent, or the other way round) come back in `StreamUpdate.notices`.
  A bundle without sound takes the same path as before; pushed sound is counted and ignored.

A stream's one way in is `TwoStagePipeline.feed(frames) -> StreamUpdate` (events, finished
explanations, counters, notices) and `end()`; `MultiStreamPipeline.feed` hands back the same per stream.
`push`, `select`/`process` and `take`/`model_input`/`accept` are the steps `feed` is made of,
for callers that must decide before they decode (coarse_node) or batch the backbone.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tcvads_ros.runtime.audio import SILENT_DBFS, AudioBuffer, AudioWindow, Impulse
from tcvads_ros.runtime.audio_convert import AudioChunk
from tcvads_ros.runtime.audio_features import log_mel, snippet_window
from tcvads_ros.runtime.backends.base import Backend
from tcvads_ros.runtime.bundle import AUDIO_GRAPH, Bundle
from tcvads_ros.runtime.clips import ClipCache, ClipCollector
from tcvads_ros.runtime.event_store import RecordStore, RecordStores
from tcvads_ros.runtime.events import AnomalyEvent, EventConfig, EventStateMachine
from tcvads_ros.runtime.explanation import Explanation, SoundEvidence
from tcvads_ros.runtime.fine import FineJob, FineStage, make_output_dir
from tcvads_ros.runtime.frames import Frame, resize_rgb
from tcvads_ros.runtime.ring_buffer import ArrayRingBuffer, RingBuffer
from tcvads_ros.runtime.sampling import RESET_S, SnippetSampler
from tcvads_ros.runtime.site_profile import (
    SecondOpinion,
    SiteProfile,
    bundle_events,
    bundle_fine_threshold,
    verdict_settings,
)
from tcvads_ros.runtime.stats import Counters, LatencyStats
from tcvads_ros.runtime.verdict_gate import VerdictGate

# How long (wall clock) a start held for its verdict waits at most (`PipelineConfig.confirm_timeout_s`):
# a clip is complete half a clip after the start (about 5 s of stream at the defaults) and the
# fine stage takes well under a second; a stalled stream or worker must not hold an alarm forever.
CONFIRM_TIMEOUT_S = 30.0
# How far (stream seconds) the frames may run past the end of a snippet's window of sound before
# the snippet is scored with the sound that has come (`PipelineConfig.audio_wait_s`): a live
# microphone's chunks (0.02-0.1 s each) arrive a little after the frames they belong to.
AUDIO_WAIT_S = 0.5
# Consecutive windows with no sound, or silent ones, after which the user is told (once each):
# the first window of a stream lies before its first frame, and a microphone's first chunk may
# come a moment after the first frame.
QUIET_NOTICE_SNIPPETS = 8


@dataclass
class PipelineConfig:
    """Args:
        sample_every: frames per backbone run (default: the bundle's snippet_frames, 16; 1 runs
            every frame, for benchmarks).
        score_every: QACM run every this many new snippets (default: the bundle's stride).
        events: the event state machine's thresholds and timings (default: `bundle_events`,
            the bundle's calibrated threshold with the default timings; `site_profile.event_settings`).
        fine: run the fine stage on event starts.
        pre_roll: snippets of the fine clip up to and including the start (default:
            `clips.default_pre_roll`, half the clip).
        fine_queue: finished clips waiting for the fine worker; more are dropped.
        output_dir: where heat maps and evidence clips go (none are written when None).
        heatmap: write the heat map of each event's peak frame (needs output_dir).
        evidence_clip: write each fine clip as a video next to the event (needs output_dir).
        fine_threshold: the verdict's threshold on the fine anomaly score (None: the site
            profile's, else the bundle's; `site_profile.verdict_settings`).
        confirm_with_fine: hold each event's announcements until its verdict (None: the site
            profile's, else off); no effect without the fine stage.
        site_profile: the stream's site profile (a path, read for this bundle, or loaded), for
            its second opinion; the event settings come through `events`.
        confirm_timeout_s: wall-clock seconds a held start waits for its verdict at most.
        stream: the camera topic or source the frames come from, named in every event.
        audio_wait_s: how far the frames may run past a snippet's window of sound (stream
            seconds) before it is scored with the sound that has come (a bundle with sound).
    """

    sample_every: int | None = None
    score_every: int | None = None
    events: EventConfig | None = None
    fine: bool = True
    pre_roll: int | None = None
    fine_queue: int = 2
    output_dir: Path | None = None
    heatmap: bool = True
    evidence_clip: bool = False
    fine_threshold: float | None = None
    confirm_with_fine: bool | None = None
    site_profile: str | Path | SiteProfile | None = None
    confirm_timeout_s: float = CONFIRM_TIMEOUT_S
    stream: str = ""
    audio_wait_s: float = AUDIO_WAIT_S

    @classmethod
    def for_coarse_node(cls, values: Mapping[str, Any], events: EventConfig,
                        output_dir: Path | None) -> PipelineConfig:
        """coarse_node's configuration from its parameter values (nodes/parameters.py): heat maps
        wherever there is an output folder, evidence clips where asked too; the second opinion
        from `confirm_with_fine` (on where true, else the site profile's) and the site profile."""
        return cls(events=events, fine=values["fine_stage_in_process"], fine_queue=values["max_pending_clips"],
                   output_dir=output_dir, heatmap=output_dir is not None,
                   evidence_clip=output_dir is not None and values["evidence_clip"],
                   confirm_with_fine=True if values.get("confirm_with_fine") else None,
                   site_profile=str(values.get("site_profile") or "").strip() or None,
                   stream=values["image_topic"])

    def second_opinion(self, bundle: Bundle) -> SecondOpinion:
        """The resolved verdict settings for `bundle` (`site_profile.verdict_settings`)."""
        profile = self.site_profile
        if profile is not None and not isinstance(profile, SiteProfile):
            profile = SiteProfile.load_for(profile, bundle)
        return verdict_settings(bundle_fine_threshold(bundle), profile, fine_threshold=self.fine_threshold,
                                confirm_with_fine=self.confirm_with_fine)


@dataclass
class Snippet:
    """A sampled frame with its coarse outputs: its CAM, and its anomaly probability once the
    QACM has scored it (NaN before). The fine clip is cut from these, and the heat map drawn."""

    frame: Frame
    cam: np.ndarray
    score: float = math.nan
    # A bundle with sound: what the snippet's window heard (None before it was taken), and its
    # score with the audio part of the QACM's window zeroed (computed where the score reached the
    # event's off-threshold, for the explanation; NaN elsewhere).
    sound: HeardSound | None = None
    silent_score: float = math.nan

    @property
    def stamp(self) -> float:
        return self.frame.stamp


@dataclass(frozen=True)
class HeardSound:
    """What a snippet's window of sound held: the share heard, its level and loudest impulse
    (`audio.AudioWindow` without its samples)."""

    coverage: float
    level_dbfs: float
    impulse: Impulse | None

    @classmethod
    def of(cls, window: AudioWindow, impulse: Impulse | None = None) -> HeardSound:
        return cls(window.coverage, window.level_dbfs, impulse)


@dataclass
class StreamUpdate:
    """What a stream did in one `feed`: the events its frames caused and the explanations its fine
    stage finished since the last call (each with the header of the frame that announced its
    event's start), all stored already; and the stream's counters (live, thread-safe)."""

    events: list[AnomalyEvent] = field(default_factory=list)
    explanations: list[tuple[Explanation, Any]] = field(default_factory=list)
    stats: Counters = field(default_factory=Counters)
    notices: list[str] = field(default_factory=list)  # one-time messages for the user, since the last call


class CoarseDetector:
    """Frames (and, for a bundle with sound, the stream's sound) -> per-snippet anomaly
    probabilities -> `AnomalyEvent`s."""

    def __init__(self, bundle: Bundle, backend: Backend, cfg: PipelineConfig | None = None,
                 stats: Counters | None = None):
        cfg = cfg or PipelineConfig()
        m = bundle.manifest
        self.backend = backend
        self.size = tuple(m.coarse_input_size)
        self.stream = cfg.stream
        self.sample_every = int(cfg.sample_every or m.snippet_frames)
        self.score_every = int(cfg.score_every or m.stride)
        if self.sample_every < 1 or self.score_every < 1:
            raise ValueError("sample_every and score_every must be >= 1")
        if not cfg.audio_wait_s >= 0:
            raise ValueError("audio_wait_s must be >= 0")
        # The stream's one statistics object: the sampler, this detector, the event state machine
        # (its names under events_), the sound (under audio.) and, in a TwoStagePipeline, the clip
        # collector and fine stage; a node passes its stream's, which also holds the camera's counts.
        self.stats = Counters() if stats is None else stats
        self.events = EventStateMachine(cfg.events or bundle_events(bundle), self.stats.scoped("events_"))
        # The sound, where the bundle listens: the QACM reads [visual feature, audio feature].
        self.audio_spec = bundle.audio
        self.audio = None if self.audio_spec is None else AudioBuffer(self.audio_spec, self.stats.scoped("audio."))
        self.feature_dim = m.feature_dim
        self.features = ArrayRingBuffer(m.window, m.sizes()["qacm_dim"])
        # The snippets of the scored window and those not yet scored (for headers and heat maps;
        # the fine clip keeps its own, `TwoStagePipeline.clips`).
        self.snippets: RingBuffer[Snippet] = RingBuffer(m.window + self.score_every)
        self._unscored = 0
        self.sampler = SnippetSampler(self.sample_every, self.stats)
        self.latency = LatencyStats()
        self.audio_latency = LatencyStats()  # windowing + log-mel + the audio graph, per snippet
        self.audio_wait_s = float(cfg.audio_wait_s)
        # Snippets through the backbone whose sound may still come (visual feature kept), in order.
        self._pending: deque[tuple[Snippet, np.ndarray]] = deque()
        self.clock = -math.inf  # the newest frame stamp seen: how far the stream has come
        self._soundless = ""  # why the stream is known to have no sound ("": it may have)
        self._sound_over = False  # the source said its sound has ended
        self._silent_run = 0  # consecutive silent windows, since `_silent_since`
        self._silent_since = math.nan
        self._missing_run = 0  # consecutive windows with no sound at all
        self._heard_any = False
        self._notices: deque[str] = deque()
        self._noticed: set[str] = set()
        self._notice_lock = threading.Lock()

    # -- notices ----------------------------------------------------------------------------------
    @property
    def stream_name(self) -> str:
        return self.stream or "the stream"

    def notice(self, key: str, text: str) -> None:
        """Say `text` to the user once per stream (`key` names the kind)."""
        with self._notice_lock:
            if key not in self._noticed:
                self._noticed.add(key)
                self._notices.append(text)

    def pop_notices(self) -> list[str]:
        """The notices not yet handed out (any thread)."""
        with self._notice_lock:
            out = list(self._notices)
            self._notices.clear()
        return out

    # -- sound ------------------------------------------------------------------------------------
    def push_audio(self, chunk: AudioChunk) -> None:
        """A chunk of the stream's sound (any thread; `audio.AudioBuffer.push`); a bundle without
        sound counts it ``audio.chunks_ignored`` and says once that it does not listen."""
        if self.audio is None:
            self.stats.add("audio.chunks_ignored")
            self.notice("ignored", f"{self.stream_name} has sound but the bundle has no audio branch: "
                                   "its sound is ignored (export a bundle trained with sound to use it)")
            return
        self._sound_over = False
        self.audio.push(chunk)

    def audio_refused(self, reason: str) -> None:
        """A chunk of sound that could not be read before it got here (`audio_convert`'s reason,
        e.g. a PCM format not read): counted as the buffer counts its refusals."""
        if self.audio is None:
            self.stats.add("audio.chunks_ignored")
            return
        self.audio.refuse(reason)

    def no_sound(self, why: str = "") -> None:
        """The source has no sound (a file without an audio track): score from vision at once
        and, for a bundle with sound, say so once."""
        self._soundless = why or "it has no sound"
        if self.audio is not None:
            self.notice("no_sound", f"the bundle listens but {self.stream_name} has no sound ({self._soundless}): "
                                    "scoring from vision only")

    def audio_paused(self) -> None:
        """The stream stops listening for a while (coarse_node deactivated): the gap until its
        sound comes again is not counted lost."""
        if self.audio is not None:
            self.audio.pause()

    def audio_ended(self) -> None:
        """The source's sound has ended (a file's track is all fed): nothing more is waited for."""
        self._sound_over = True
        if self.audio is not None:
            self.audio.flush()

    def _sound_ready(self, stamp: float) -> bool:
        """Whether the snippet at `stamp` may be scored now: its window's sound has all come, or
        the frames are `audio_wait_s` past it, or no sound is to be waited for."""
        if self._soundless or self._sound_over or not self.audio.received or self.audio.covered(stamp):
            return True
        return self.clock >= snippet_window(stamp, self.audio_spec)[1] + self.audio_wait_s

    def _audio_feature(self, snippet: Snippet) -> np.ndarray:
        """The snippet's audio feature: the audio graph on its window's log-mel, or zeros where
        nothing was heard (the missing-sound convention the bundle was trained with)."""
        start = time.perf_counter()
        window = self.audio.window(snippet.stamp)
        snippet.sound = HeardSound.of(window)
        feature = np.zeros(self.audio_spec.embedding_dim, np.float32)
        if not window.heard:
            self._missing_run += 1
            if self._missing_run == QUIET_NOTICE_SNIPPETS and not self._soundless:
                if self._heard_any:
                    self.notice("sound_lost", f"{self.stream_name}: no sound since {window.end:.2f} s or earlier "
                                              "(its sound stopped, or comes too late): scoring from vision while "
                                              "it is missing")
                elif self.audio.received:
                    self.notice("no_sound", f"{self.stream_name}: sound arrives but none of it falls in the snippets' "
                                            f"windows (its newest sound ends {self.audio.end - window.end:+.1f} s from "
                                            "the latest window): are sound and frames stamped on one clock? Scoring "
                                            "from vision only")
                else:
                    self.notice("no_sound", f"the bundle listens but {self.stream_name} has had no sound so far: "
                                            "scoring from vision only")
        else:
            self._missing_run, self._heard_any = 0, True
            if window.level_dbfs >= SILENT_DBFS:
                self._silent_run = 0
            else:
                self._silent_run += 1
                self._silent_since = window.start if self._silent_run == 1 else self._silent_since
                if self._silent_run == QUIET_NOTICE_SNIPPETS:
                    self.notice("silent", f"{self.stream_name}: its sound has been silent since "
                                          f"{self._silent_since:.2f} s (a muted or disconnected microphone?); "
                                          "scoring goes on with the silence it hears")
            mel = log_mel(window.samples, self.audio_spec)[None]
            out = self.backend.run(AUDIO_GRAPH, {"mel": mel})["features"][0]
            if np.isfinite(out).all():
                feature = out.astype(np.float32, copy=False)
            else:
                self.stats.add("audio.nonfinite_features")
        self.audio_latency.add(time.perf_counter() - start)
        return feature

    # -- frames -----------------------------------------------------------------------------------
    def select(self, index: int) -> bool:
        """Whether frame `index` of the source is the one to run for its snippet (`SnippetSampler`).
        Cheap and pixel-free, so a caller can decide before it decodes a frame; `push` calls it."""
        return self.sampler.select(index)

    def push(self, frame: Frame) -> tuple[list[Snippet], list[AnomalyEvent]]:
        """One frame in; returns the snippets scored by this call and the events they caused."""
        if not self.select(frame.index):
            return self.advance(frame.stamp)
        return self.process(frame)

    def take(self, frame: Frame) -> bool:
        """Count a frame in; True when it is its snippet's sample and must go through the
        backbone. `push` then runs it alone (`process`); `MultiStreamPipeline` batches the samples
        of many streams into one backbone call and hands each row back through `accept`."""
        return self.select(frame.index) and self.usable(frame)

    def usable(self, frame: Frame) -> bool:
        """Whether a selected frame has pixels to run (an empty one is counted ``rejected``)."""
        if frame.height == 0 or frame.width == 0:
            self.stats.add("rejected")
            return False
        return True

    def process(self, frame: Frame) -> tuple[list[Snippet], list[AnomalyEvent]]:
        """Run a frame that `select` chose, alone: backbone, ring buffer, and the QACM when due."""
        if not self.usable(frame):
            return [], []
        start = time.perf_counter()
        out = self.backend.run("coarse_backbone", {"frames": self.model_input(frame)[None]})
        return self.accept(frame, out["features"][0], out["cam"][0], start)

    def model_input(self, frame: Frame) -> np.ndarray:
        """The backbone's input for a taken frame: (H, W, 3) uint8 at the bundle's size."""
        return resize_rgb(frame.rgb, self.size)

    def accept(self, frame: Frame, features: np.ndarray, cam: np.ndarray,
               start: float) -> tuple[list[Snippet], list[AnomalyEvent]]:
        """The backbone's outputs for a taken frame (`start`: perf_counter() before its
        backbone call) -> ring buffers, QACM, events; as `push` returns."""
        if not np.isfinite(features).all():
            # A non-finite feature would poison every window it stays in (the QACM's receptive
            # field); drop the sample before it enters the ring buffer.
            self.stats.add("nonfinite_features")
            return [], []
        snippet = Snippet(frame, cam)
        self.stats.add("processed")
        if self.audio is None:
            self.features.push(features)
            self.snippets.push(snippet)
            self._unscored += 1
            scored, events = [], []
            if self._unscored >= self.score_every:
                scored, events = self._score()
        else:
            self._tick(frame.stamp)
            self._pending.append((snippet, np.asarray(features, np.float32)))
            scored, events = self.drain()
        self.latency.add(time.perf_counter() - start)
        return scored, events

    def _tick(self, stamp: float) -> None:
        if math.isfinite(stamp):
            # a jump back in time is a new timeline (a bag replayed): the clock follows it
            self.clock = stamp if stamp < self.clock - RESET_S else max(self.clock, stamp)

    def advance(self, stamp: float) -> tuple[list[Snippet], list[AnomalyEvent]]:
        """A frame the detector does not run has come (the stream's clock moves on): score the
        snippets whose sound is ready by now; as `push` returns."""
        if self.audio is None:
            return [], []
        self._tick(stamp)
        return self.drain()

    @property
    def pending(self) -> int:
        """Snippets through the backbone still waiting for their sound."""
        return len(self._pending)

    def drain(self, force: bool = False) -> tuple[list[Snippet], list[AnomalyEvent]]:
        """Score, in order, the waiting snippets whose sound is ready (all of them with `force`)."""
        scored: list[Snippet] = []
        events: list[AnomalyEvent] = []
        while self._pending and (force or self._sound_ready(self._pending[0][0].stamp)):
            snippet, visual = self._pending.popleft()
            self.features.push(np.concatenate([visual, self._audio_feature(snippet)]))
            self.snippets.push(snippet)
            self._unscored += 1
            if self._unscored >= self.score_every:
                more, caused = self._score()
                scored += more
                events += caused
        return scored, events

    def _score(self) -> tuple[list[Snippet], list[AnomalyEvent]]:
        window = self.features.latest()[None]
        scores = self.backend.run("coarse_qacm", {"features": window})["scores"][0]
        new = min(self._unscored, len(scores))
        self._unscored = 0
        scored = self.snippets.latest(new)
        if self.audio is not None and np.nanmax(scores[-new:], initial=-1.0) >= self.events.cfg.threshold_off:
            # what the QACM says with the sound taken away (the explanation's "sound drove it")
            window[..., self.feature_dim:] = 0.0
            silent = self.backend.run("coarse_qacm", {"features": window})["scores"][0]
            for snippet, score in zip(scored, silent[-new:]):
                snippet.silent_score = float(score)
                if snippet.sound is not None and snippet.sound.coverage > 0:  # its loudest impulse, again
                    heard = self.audio.window(snippet.stamp, count=False)  # from the buffer (kept KEEP_S)
                    snippet.sound = HeardSound.of(heard, heard.impulse(self.audio_spec.rate))
        events = []
        for snippet, score in zip(scored, scores[-new:]):
            snippet.score = float(score)
            if not math.isfinite(snippet.score):
                self.stats.add("nonfinite_scores")
                continue
            for event in self.events.update(snippet.score, snippet.frame.stamp, snippet.frame.index):
                event.source_header, event.stream = snippet.frame.header, self.stream
                events.append(event)
        return scored, events

    def close(self, reason: str = "shutdown") -> tuple[list[Snippet], list[AnomalyEvent]]:
        """Score what is pending and end the open event (the source ended, or paused: `reason`):
        the snippets scored last and the events, as `process` returns them."""
        scored, events = [], []
        if self._pending:
            self.audio.flush()
            scored, events = self.drain(force=True)
        if self._unscored and len(self.features):
            more, caused = self._score()
            scored, events = scored + more, events + caused
        headers = {s.frame.index: s.frame.header for s in self.snippets}
        for event in (ended := self.events.close(reason=reason)):
            event.source_header = headers.get(event.frame)  # its last scored frame, if still held
            event.stream = self.stream
        return scored, events + ended


class TwoStagePipeline:
    """The coarse detector and the fine stage, wired together. Drive with `push` and `close`."""

    def __init__(self, bundle: Bundle, backend: Backend, cfg: PipelineConfig | None = None,
                 stores: list[RecordStore] | None = None,
                 on_explanation: Callable[[Explanation, Any], None] | None = None,
                 fps: float | None = None, stats: Counters | None = None,
                 fine_stage: FineStage | None = None):
        """Args:
            stores: every event and explanation is appended to each before it is announced.
            on_explanation: called (from the fine stage's thread) with each explanation and the
                header of the frame that announced its event's start.
            fps: the source's frame rate, for the evidence clip (default: the bundle's).
            stats: the stream's statistics object to count into (default: a new one).
            fine_stage: a fine stage shared with other streams (one bounded queue for all of a
                node's cameras), owned and closed by the caller; each clip brings this stream's
                counts, callbacks and verdict threshold (`FineJob`). Default, where ``cfg.fine``:
                a fine stage of this stream's own.
        """
        self.cfg = cfg = cfg or PipelineConfig()
        self.bundle, self.backend = bundle, backend
        self.on_explanation = on_explanation
        # Finished explanations kept for `feed` to hand back, from its first call on (a caller
        # that never feeds keeps none).
        self._finished: deque[tuple[Explanation, Any]] | None = None
        self.stores = RecordStores(stores)
        self.fps = fps or bundle.manifest.fps
        self.coarse = CoarseDetector(bundle, backend, cfg, stats)
        clip_len = bundle.manifest.fine_clip_snippets
        pre_roll = None if cfg.pre_roll is None else min(clip_len, cfg.pre_roll)
        # In-process no network lies between the stages: no time-out, and the cache is bounded by
        # the clip's length plus one scoring batch (a clip is cut at the batch that completes it).
        self.stats = self.coarse.stats
        self.clips = ClipCollector(ClipCache(math.inf, max_frames=clip_len + self.coarse.score_every),
                                   clip_len, pre_roll, timeout_s=math.inf, stats=self.stats)
        if cfg.output_dir is not None:
            make_output_dir(Path(cfg.output_dir))
        # the fine stage's settings only where it runs (a profile's fine files checked only then)
        self.second_opinion = cfg.second_opinion(bundle) if cfg.fine else SecondOpinion(bundle_fine_threshold(bundle))
        self._own_fine = cfg.fine and fine_stage is None
        self.fine = fine_stage if fine_stage is not None else FineStage(
            bundle, backend, self.stores, self.coarse.sample_every, on_explanation=self._explained,
            on_error=self._failed, queue_size=cfg.fine_queue, output_dir=cfg.output_dir,
            heatmap=cfg.heatmap, evidence_clip=cfg.evidence_clip, fps=lambda: self.fps,
            stats=self.stats, fine_threshold=self.second_opinion.fine_threshold,
        ) if cfg.fine else None
        # confirm_with_fine: announcements wait at the gate for their event's verdict.
        self.gate = VerdictGate(cfg.confirm_timeout_s, self.stats) \
            if self.fine is not None and self.second_opinion.confirm_with_fine else None
        self._clip_events: dict[str, list[str]] = {}  # a submitted clip's event -> the ids it answers

    def feed(self, frames: Iterable[Frame]) -> StreamUpdate:
        """The stream's way in: source frames, in order -> the events they caused, the
        explanations finished since the last call, and the counters."""
        self.keep_explanations()
        return self.update([event for frame in frames for event in self.push(frame)])

    def end(self, timeout: float | None = None) -> StreamUpdate:
        """End the stream (`close`) -> the last events and every explanation not yet handed back."""
        return self.update(self.close(timeout))

    def keep_explanations(self) -> None:
        """Keep finished explanations for `update` to hand back (`feed` does this itself)."""
        if self._finished is None:
            self._finished = deque()

    def update(self, events: list[AnomalyEvent]) -> StreamUpdate:
        """`events` (and held ones whose verdict has come since: `release`) with the explanations
        finished since the last update, and the counters."""
        events = events + self.release()
        finished = []
        while self._finished:
            finished.append(self._finished.popleft())
        return StreamUpdate(events, finished, self.stats, self.pop_notices())

    # -- sound --------------------------------------------------------------------------------------
    def push_audio(self, chunk: AudioChunk) -> None:
        """A chunk of the stream's sound, stamped on the frames' clock; thread-safe (a node's audio
        callback calls it beside the frame callback). A bundle without sound counts it
        ``audio.chunks_ignored`` and says once that it does not listen (`notices`)."""
        self.coarse.push_audio(chunk)

    def audio_refused(self, reason: str) -> None:
        """A chunk of the stream's sound that could not be read (`audio_convert.AudioConversionError`'s
        reason): counted ``audio.chunks_refused`` and ``audio.refused_<reason>`` (any thread)."""
        self.coarse.audio_refused(reason)

    def no_sound(self, why: str = "") -> None:
        """The source has no sound: score from vision without waiting, and say so once where the
        bundle listens (`tcvads detect` on a file without an audio track)."""
        self.coarse.no_sound(why)

    def audio_paused(self) -> None:
        """The stream stops listening for a while (coarse_node deactivated): the gap until its
        sound comes again is not counted lost."""
        self.coarse.audio_paused()

    def audio_ended(self) -> None:
        """The source's sound has ended (a file's whole track was pushed): the snippets after it
        are scored from vision without waiting for more."""
        self.coarse.audio_ended()

    def pop_notices(self) -> list[str]:
        """One-time notices for the user not yet handed out (`feed` hands them back in
        `StreamUpdate.notices`; a caller of `process` asks here)."""
        return self.coarse.pop_notices()

    def _explained(self, explanation: Explanation, header: Any) -> None:
        """The fine stage's thread: a stored explanation -> `feed`'s outbox and the callback."""
        self._decide(self._clip_events.pop(explanation.event_id, [explanation.event_id]),
                     explanation.verdict, explanation.fine_anomaly_score)
        if self._finished is not None:
            self._finished.append((explanation, header))
        if self.on_explanation is not None:
            self.on_explanation(explanation, header)

    def _failed(self, job: FineJob, exc: Exception) -> None:
        """The fine stage's thread: a clip that could not be explained releases its events."""
        self._decide(self._clip_events.pop(job.event.event_id, [job.event.event_id]), "", None)

    def _decide(self, event_ids: list[str], verdict: str, score: float | None) -> None:
        if self.gate is not None:
            self.gate.decide(event_ids, verdict, score)

    def push(self, frame: Frame) -> list[AnomalyEvent]:
        """One source frame in; the events it caused out (stored before they are returned)."""
        if self.select(frame.index):
            return self.process(frame)
        # a frame the backbone skips still moves the clock snippets waiting for their sound read
        return self.handle(*self.coarse.advance(frame.stamp)) if self.coarse.pending else []

    @property
    def sampler(self) -> SnippetSampler:
        """The rule that picks the frames the detector runs (its counters: frames, gaps, missed
        snippets)."""
        return self.coarse.sampler

    def select(self, index: int) -> bool:
        """Whether source frame `index` is one the detector runs (`CoarseDetector.select`); a live
        source asks before it decodes the frame, then hands the chosen ones to `process`."""
        return self.coarse.select(index)

    def process(self, frame: Frame) -> list[AnomalyEvent]:
        """Run a frame that `select` chose; returns the events it caused."""
        return self.handle(*self.coarse.process(frame))

    def take(self, frame: Frame) -> bool:
        """Count a frame in; True when the backbone must run on it, batched with other streams'
        frames (`MultiStreamPipeline`): its input is `model_input`, its outputs go to `accept`."""
        return self.coarse.take(frame)

    def usable(self, frame: Frame) -> bool:
        """Whether a frame that `select` chose has pixels to run (`CoarseDetector.usable`)."""
        return self.coarse.usable(frame)

    def model_input(self, frame: Frame) -> np.ndarray:
        """The backbone's input for a taken frame."""
        return self.coarse.model_input(frame)

    def accept(self, frame: Frame, features: np.ndarray, cam: np.ndarray, start: float) -> list[AnomalyEvent]:
        """The backbone's outputs for a taken frame (`start`: perf_counter() before the call) ->
        the events they caused, as `push` returns them."""
        return self.handle(*self.coarse.accept(frame, features, cam, start))

    def handle(self, scored: list[Snippet], events: list[AnomalyEvent]) -> list[AnomalyEvent]:
        """What the coarse stage returned for a frame -> stores and fine stage; the events to
        announce (with confirm_with_fine, those whose verdict has come, `_hold`)."""
        for event in events:
            self._record(event)
        if self.fine is not None:
            self._collect(scored, events)
        return self.gate.hold(events) if self.gate is not None else events

    @property
    def held(self) -> int:
        """Announcements held for a verdict (confirm_with_fine)."""
        return self.gate.held if self.gate is not None else 0

    def release(self) -> list[AnomalyEvent]:
        """Without a new frame: the events of snippets whose sound has come since they waited for
        it (a bundle with sound), and with confirm_with_fine the held announcements whose verdict
        has come since (or that waited `confirm_timeout_s`); `feed` and `process` release them too."""
        if self.coarse.pending:
            return self.handle(*self.coarse.drain())
        return self.gate.hold([]) if self.gate is not None else []

    def newest_snippet(self) -> Snippet | None:
        """The newest frame the backbone ran on, with its CAM (for a live heat-map view)."""
        snippets = self.coarse.snippets
        return snippets.newest() if len(snippets) else None

    @property
    def event_config(self) -> EventConfig:
        """The event state machine's current settings."""
        return self.coarse.events.cfg

    def set_event_config(self, cfg: EventConfig) -> None:
        """Change thresholds and timings at run time; they apply from the next scored snippet
        (the state machine reads its settings on every sample)."""
        self.coarse.events.cfg = cfg

    def pause(self) -> list[AnomalyEvent]:
        """The stream stops for a while (a managed node deactivated): score what is pending, end
        the open event with reason ``paused`` (stored) and explain a half-collected clip; the fine
        stage keeps running, and frames may come again later. With confirm_with_fine every held
        announcement goes out now, with its verdict where it has come and none ("") where not (a
        paused stream must not keep an alarm back; its explanation still follows)."""
        events = self._end_stream("paused")
        return self.gate.flush(events) if self.gate is not None else events

    def close(self, timeout: float | None = None) -> list[AnomalyEvent]:
        """End the stream: end the open event, explain a half-collected clip, wait for the worker;
        every held announcement is returned (with its verdict, or "" where none came)."""
        events = self._end_stream("shutdown")
        if self._own_fine:
            self.fine.close(timeout)
        return self.gate.flush(events) if self.gate is not None else events

    def _end_stream(self, reason: str) -> list[AnomalyEvent]:
        scored, events = self.coarse.close(reason)
        for event in events:
            self._record(event)
        if self.fine is not None:
            self._collect(scored, events, flush=True)
        return events

    def _record(self, event: AnomalyEvent) -> None:
        self.stores.append(event.to_dict())

    def _collect(self, scored: list[Snippet], events: list[AnomalyEvent], flush: bool = False) -> None:
        for snippet in scored:
            self.clips.cache.push(snippet)
        for event in events:
            self.clips.announce(event, event.source_header)
        clip = self.clips.ready(flush=flush)
        if clip is not None:
            items = clip.items
            ids = [clip.event.event_id, *clip.coalesced]
            self._clip_events[clip.event.event_id] = ids
            # The clip brings its stream's counts, callbacks and verdict threshold, so that a fine
            # stage shared by several streams answers each in its own terms.
            sound = None if self.coarse.audio is None else sound_evidence(items, clip.event)
            if not self.fine.submit(FineJob(clip.event, [s.frame for s in items], clip.coalesced, clip.header,
                                            cams=[s.cam for s in items], scores=[s.score for s in items],
                                            stats=self.stats, on_explanation=self._explained,
                                            on_error=self._failed,
                                            fine_threshold=self.second_opinion.fine_threshold, sound=sound)):
                self._clip_events.pop(clip.event.event_id, None)
                self._decide(ids, "", None)  # dropped: its alarms go out with no verdict

    @property
    def explanations_written(self) -> int:
        return self.stats["explanations"]

    def summary(self) -> dict[str, Any]:
        """Counters and latencies for diagnostics and the end-of-run summary (safe from any thread)."""
        result = {"stats": self.stats.snapshot(), "coarse_latency": self.coarse.latency.summary(),
                  "backend": self.backend.describe()}
        if self.coarse.audio is not None:
            result["audio_latency"] = self.coarse.audio_latency.summary()
        if self.fine is not None:
            result["fine_latency"] = self.fine.latency_summary()
        return result


def sound_evidence(snippets: list[Snippet], event: AnomalyEvent) -> SoundEvidence:
    """What the sound did for an event, from its clip's snippets (docs/audio.md, "The
    explanation"): the share of them heard; at the event's peak (else the clip's best-scored
    snippet) the coarse score as heard and with the audio part of the QACM's window zeroed; and
    the loudest impulse heard from the window before the event's start on."""
    heard = [s for s in snippets if s.sound is not None]
    share = sum(s.sound.coverage > 0 for s in heard) / len(snippets) if snippets else 0.0
    peak = next((s for s in snippets if s.frame.index == event.peak_frame), None)
    if peak is None or not math.isfinite(peak.score):
        scored = [s for s in snippets if math.isfinite(s.score)]
        peak = max(scored, key=lambda s: s.score) if scored else None
    during = [s for s in heard if s.stamp >= event.start_stamp] or heard
    impulses = [s.sound.impulse for s in during if s.sound.impulse is not None]
    loudest = max(impulses, key=lambda i: (i.peak_dbfs, i.rise_db)) if impulses else None
    with_sound = peak.score if peak is not None and math.isfinite(peak.score) else None
    without = peak.silent_score if peak is not None and math.isfinite(peak.silent_score) else None
    return SoundEvidence(heard=share, score=with_sound, score_without_sound=without if with_sound is not None else None,
                         impulse=None if loudest is None else {"stamp": loudest.stamp, "peak_dbfs": loudest.peak_dbfs,
                                                               "rise_db": loudest.rise_db})
