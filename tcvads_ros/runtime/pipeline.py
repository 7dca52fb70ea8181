"""The streaming two-stage detector: frames in, events and explanations out (no torch, no ROS).

- `CoarseDetector` (paper §IV.A, always on): one frame per snippet (`SnippetSampler`: the
  first frame at or after each multiple of `sample_every`, 16 by default, so snippet s is
  represented by frame 16·s as in training) is resized to the backbone's input and run once through `coarse_backbone`; its
  feature row goes into a fixed-size ring buffer; every `score_every` new snippets the QACM
  scores the buffered window (a causal CNN, so the newest positions' scores are the streaming
  scores) and each new snippet's probability drives the `EventStateMachine`.
- `FineWorker` (paper §IV.B, on demand): a thread with a bounded queue. An event start opens a
  clip of `fine_clip_snippets` scored snippets, `pre_roll` of them up to the start and the rest
  after it (the rule of `clips.ClipCollector`, which fine_node uses too); the finished clip is
  queued. The worker encodes the clip with `fine_image`,
  retrieves the top-m captions by cosine similarity of the mean clip feature with the caption
  embeddings, builds each class's text feature as the mean of its class x caption table rows
  over those captions (the edge rule of docs/ARCHITECTURE.md), runs `fine_temporal` and writes
  the explanation, the heat map of the event's peak frame and, optionally, an evidence clip.
- A slow fine stage never slows the coarse one: a start while a clip is still being collected
  is coalesced into that clip; a finished clip that finds the queue full is dropped. Both are
  counted.
- Every event and explanation is appended to each store (durable) before it is returned or
  handed to the `on_explanation` callback.
"""

from __future__ import annotations

import logging
import math
import os
import queue
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import cv2
import numpy as np

from tcvads_ros.runtime.backends.base import Backend
from tcvads_ros.runtime.bundle import Bundle
from tcvads_ros.runtime.clips import ClipCache, ClipCollector
from tcvads_ros.runtime.events import AnomalyEvent, EventConfig, EventStateMachine
from tcvads_ros.runtime.explanation import Explanation
from tcvads_ros.runtime.fine_text import class_text, retrieve_captions
from tcvads_ros.runtime.frames import Frame
from tcvads_ros.runtime.heatmap import save_heatmap
from tcvads_ros.runtime.ring_buffer import ArrayRingBuffer, RingBuffer
from tcvads_ros.runtime.sampling import SnippetSampler

log = logging.getLogger(__name__)


class RecordStore(Protocol):
    """EventStore, or anything else that durably appends a record before returning."""

    def append(self, record: Any) -> Any: ...


@dataclass
class PipelineConfig:
    """Args:
        sample_every: frames per backbone run (default: the bundle's snippet_frames, 16; 1 runs
            every frame, for benchmarks).
        score_every: QACM run every this many new snippets (default: the bundle's stride).
        events: the event state machine's thresholds and timings (default: `bundle_events`,
            the bundle's calibrated threshold with the default timings).
        fine: run the fine stage on event starts.
        pre_roll: snippets of the fine clip up to and including the start (default:
            `clips.default_pre_roll`, half the clip).
        fine_queue: finished clips waiting for the fine worker; more are dropped.
        output_dir: where heat maps and evidence clips go (none are written when None).
        heatmap: write the heat map of each event's peak frame (needs output_dir).
        evidence_clip: write each fine clip as a video next to the event (needs output_dir).
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


def bundle_threshold(bundle: Bundle) -> float:
    """The bundle's calibrated coarse alarm threshold (0.5 where the manifest has none)."""
    return float(bundle.manifest.thresholds.get("coarse", 0.5))


def bundle_events(bundle: Bundle, threshold: float | None = None, base: EventConfig | None = None) -> EventConfig:
    """Event settings for `bundle`: `base`'s timings (default ones when None) with the alarm
    threshold `threshold`, or the bundle's calibrated one when None."""
    on = bundle_threshold(bundle) if threshold is None else threshold
    return (base or EventConfig()).with_threshold(on)


def resize_rgb(rgb: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """RGB uint8 frame -> (height, width) = `size`: the one resize of the detector's input,
    used by training too (training/data.py `sample_snippet_frames`), so that the deployed
    model sees the pixels it was trained on.

    A large shrink first averages whole blocks (OpenCV's fast integer-factor INTER_AREA path),
    then resizes the rest (a factor below 2) bilinearly: on a 720p frame to 224 px that is
    2-8x faster than one fractional INTER_AREA and within ~2 grey levels of it on average
    (docs/performance.md).
    """
    h, w = size
    if rgb.shape[:2] == (h, w):
        return rgb
    fy, fx = max(rgb.shape[0] // h, 1), max(rgb.shape[1] // w, 1)
    if fy > 1 or fx > 1:
        rgb = cv2.resize(rgb, (rgb.shape[1] // fx, rgb.shape[0] // fy), interpolation=cv2.INTER_AREA)
    return cv2.resize(rgb, (w, h), interpolation=cv2.INTER_LINEAR)


class LatencyStats:
    """The last `capacity` latencies in seconds: mean / p50 / p95 / max in milliseconds."""

    def __init__(self, capacity: int = 2048):
        self._values: deque[float] = deque(maxlen=capacity)

    def add(self, seconds: float) -> None:
        self._values.append(seconds)

    def summary(self) -> dict[str, float]:
        if not self._values:
            return {"count": 0}
        ms = np.asarray(self._values) * 1000.0
        return {"count": len(ms), "mean_ms": float(ms.mean()), "p50_ms": float(np.percentile(ms, 50)),
                "p95_ms": float(np.percentile(ms, 95)), "max_ms": float(ms.max())}


@dataclass
class _Snippet:
    """A sampled frame with its coarse outputs (kept for the fine clip and the heat map)."""

    frame: Frame
    cam: np.ndarray
    score: float = math.nan

    @property
    def stamp(self) -> float:
        return self.frame.stamp


class CoarseDetector:
    """Frames -> per-snippet anomaly probabilities -> `AnomalyEvent`s."""

    def __init__(self, bundle: Bundle, backend: Backend, cfg: PipelineConfig | None = None):
        cfg = cfg or PipelineConfig()
        m = bundle.manifest
        self.backend = backend
        self.size = tuple(m.coarse_input_size)
        self.sample_every = int(cfg.sample_every or m.snippet_frames)
        self.score_every = int(cfg.score_every or m.stride)
        if self.sample_every < 1 or self.score_every < 1:
            raise ValueError("sample_every and score_every must be >= 1")
        self.events = EventStateMachine(cfg.events or bundle_events(bundle))
        self.features = ArrayRingBuffer(m.window, m.feature_dim)
        # The snippets of the scored window and those not yet scored (for headers and heat maps;
        # the fine clip keeps its own, `TwoStagePipeline.clips`).
        self.snippets: RingBuffer[_Snippet] = RingBuffer(m.window + self.score_every)
        self._unscored = 0
        self.stats: Counter = Counter()
        self.sampler = SnippetSampler(self.sample_every, self.stats)
        self.latency = LatencyStats()

    def select(self, index: int) -> bool:
        """Whether frame `index` of the source is the one to run for its snippet (`SnippetSampler`).
        Cheap and pixel-free, so a caller can decide before it decodes a frame; `push` calls it."""
        return self.sampler.select(index)

    def push(self, frame: Frame) -> tuple[list[_Snippet], list[AnomalyEvent]]:
        """One frame in; returns the snippets scored by this call and the events they caused."""
        if not self.select(frame.index):
            return [], []
        return self.process(frame)

    def take(self, frame: Frame) -> bool:
        """Count a frame in; True when it is its snippet's sample and must go through the
        backbone. `push` then runs it alone (`process`); `MultiStreamPipeline` batches the samples
        of many streams into one backbone call and hands each row back through `accept`."""
        return self.select(frame.index) and self._usable(frame)

    def _usable(self, frame: Frame) -> bool:
        if frame.height == 0 or frame.width == 0:
            self.stats["rejected"] += 1
            return False
        return True

    def process(self, frame: Frame) -> tuple[list[_Snippet], list[AnomalyEvent]]:
        """Run a frame that `select` chose, alone: backbone, ring buffer, and the QACM when due."""
        if not self._usable(frame):
            return [], []
        start = time.perf_counter()
        out = self.backend.run("coarse_backbone", {"frames": self.model_input(frame)[None]})
        return self.accept(frame, out["features"][0], out["cam"][0], start)

    def model_input(self, frame: Frame) -> np.ndarray:
        """The backbone's input for a taken frame: (H, W, 3) uint8 at the bundle's size."""
        return resize_rgb(frame.rgb, self.size)

    def accept(self, frame: Frame, features: np.ndarray, cam: np.ndarray,
               start: float) -> tuple[list[_Snippet], list[AnomalyEvent]]:
        """The backbone's outputs for a taken frame (`start`: perf_counter() before its
        backbone call) -> ring buffers, QACM, events; as `push` returns."""
        if not np.isfinite(features).all():
            # A non-finite feature would poison every window it stays in (the QACM's receptive
            # field); drop the sample before it enters the ring buffer.
            self.stats["nonfinite_features"] += 1
            return [], []
        self.features.push(features)
        self.snippets.push(_Snippet(frame, cam))
        self.stats["processed"] += 1
        self._unscored += 1
        scored, events = [], []
        if self._unscored >= self.score_every:
            scored, events = self._score()
        self.latency.add(time.perf_counter() - start)
        return scored, events

    def _score(self) -> tuple[list[_Snippet], list[AnomalyEvent]]:
        window = self.features.latest()[None]
        scores = self.backend.run("coarse_qacm", {"features": window})["scores"][0]
        new = min(self._unscored, len(scores))
        self._unscored = 0
        scored = self.snippets.latest(new)
        events = []
        for snippet, score in zip(scored, scores[-new:]):
            snippet.score = float(score)
            if not math.isfinite(snippet.score):
                self.stats["nonfinite_scores"] += 1
                continue
            for event in self.events.update(snippet.score, snippet.frame.stamp, snippet.frame.index):
                event.source_header = snippet.frame.header
                events.append(event)
        return scored, events

    def close(self) -> tuple[list[_Snippet], list[AnomalyEvent]]:
        """Score what is pending and end the open event (the source ended): the snippets scored
        last and the events, as `process` returns them."""
        scored, events = self._score() if self._unscored and len(self.features) else ([], [])
        headers = {s.frame.index: s.frame.header for s in self.snippets}
        for event in (ended := self.events.close()):
            event.source_header = headers.get(event.frame)  # its last scored frame, if still held
        return scored, events + ended


@dataclass
class FineJob:
    event: AnomalyEvent  # the latest announcement of the event when the clip was finished
    frames: list[Frame]  # the clip: one frame per snippet
    coalesced: list[str] = field(default_factory=list)  # ids of events folded into this clip
    snippets: list[_Snippet] = field(default_factory=list)  # in-process: the frames' coarse outputs


class FineWorker:
    """Runs the fine stage on finished clips in its own thread; results go to `on_result`."""

    def __init__(self, bundle: Bundle, backend: Backend, on_result: Callable[[FineJob, Explanation], None],
                 queue_size: int = 2, on_error: Callable[[FineJob, Exception], None] | None = None):
        self.bundle, self.backend = bundle, backend
        self.on_result, self.on_error = on_result, on_error
        self.queue: queue.Queue[FineJob | None] = queue.Queue(maxsize=max(1, queue_size))
        self.latency = LatencyStats()
        self.stats: Counter = Counter()
        self._lock = threading.Lock()  # stats are written on two threads and read on a third
        self._thread = threading.Thread(target=self._loop, name="tcvads-fine", daemon=True)
        self._thread.start()

    def submit(self, job: FineJob) -> bool:
        """Queue a clip without waiting; False (and counted) when the queue is full."""
        try:
            self.queue.put_nowait(job)
        except queue.Full:
            self._count("triggers_dropped")
            return False
        self._count("triggers_queued")
        return True

    def _count(self, key: str) -> None:
        with self._lock:
            self.stats[key] += 1

    def snapshot(self) -> dict[str, Any]:
        """A consistent copy of the counters and latency, safe from any thread."""
        with self._lock:
            return {"stats": dict(self.stats), "latency": self.latency.summary()}

    def close(self, timeout: float | None = None) -> None:
        """Finish the queued clips, then stop the thread."""
        self.queue.put(None)
        self._thread.join(timeout)

    def _loop(self) -> None:
        _lower_thread_priority()
        while (job := self.queue.get()) is not None:
            start = time.perf_counter()
            try:
                result = classify_clip(self.bundle, self.backend, job.frames)
                self.on_result(job, result)
                self._count("explanations")
            except Exception as exc:  # a failed explanation must not kill the worker
                self._count("fine_errors")
                log.exception("fine stage failed for event %s", job.event.event_id)
                if self.on_error is not None:
                    self.on_error(job, exc)
            with self._lock:
                self.latency.add(time.perf_counter() - start)


def _lower_thread_priority(niceness: int = 10) -> None:
    """Let the OS prefer the coarse stage over this thread (Linux: niceness is per thread)."""
    if not hasattr(os, "setpriority") or not hasattr(threading, "get_native_id"):
        return
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), niceness)
    except OSError as exc:  # not permitted in some containers: run at normal priority
        log.debug("could not lower the fine worker's priority: %s", exc)


@dataclass
class ClipResult:
    class_scores: dict[str, float]
    category: str
    probability: float
    captions: list[tuple[str, float]]


def classify_clip(bundle: Bundle, backend: Backend, frames: list[Frame]) -> ClipResult:
    """The fine stage on a clip of one frame per snippet (paper §IV.B; the text rule: fine_text.py)."""
    m = bundle.manifest
    clip = np.stack([resize_rgb(f.rgb, tuple(m.fine_input_size)) for f in frames])
    features = backend.run("fine_image", {"frames": clip})["features"]  # (T, Dc), normalised
    top, similarity = retrieve_captions(bundle.text_table["captions"], features, m.top_m)
    text = class_text(bundle.text_table["class_caption"], top)
    out = backend.run("fine_temporal", {"features": features[None].astype(np.float32),
                                        "text": text.astype(np.float32)})
    scores = np.clip(out["video_scores"][0], 0.0, 1.0)
    best = int(np.argmax(scores))
    return ClipResult(
        class_scores={name: float(s) for name, s in zip(m.class_names, scores)},
        category=m.class_names[best],
        probability=float(scores[best]),
        captions=[(m.captions[i], float(np.clip(sim, -1, 1))) for i, sim in zip(top, similarity)],
    )


def explain_clip(event: AnomalyEvent, frames: list[Frame], result: ClipResult, backend: str,
                 bundle: str, frames_per_sample: int, heatmap_path: str | None = None,
                 peak_frame: int | None = None) -> Explanation:
    """The explanation document of a classified clip (in-process and in fine_node alike)."""
    return Explanation(
        event_id=event.event_id,
        category=result.category,
        probability=result.probability,
        class_scores=result.class_scores,
        captions=[{"text": t, "similarity": s} for t, s in result.captions],
        start_stamp=min(f.stamp for f in frames),
        end_stamp=max(f.stamp for f in frames),
        start_frame=min(f.index for f in frames),
        end_frame=max(f.index for f in frames) + frames_per_sample,
        backend=backend,
        bundle=bundle,
        heatmap_path=heatmap_path,
        peak_frame=event.peak_frame if peak_frame is None else peak_frame,
        coarse_peak_score=event.peak_score,
    )


class TwoStagePipeline:
    """The coarse detector and the fine worker, wired together. Drive with `push` and `close`."""

    def __init__(self, bundle: Bundle, backend: Backend, cfg: PipelineConfig | None = None,
                 stores: list[RecordStore] | None = None,
                 on_explanation: Callable[[Explanation], None] | None = None,
                 fps: float | None = None):
        """Args:
            stores: every event and explanation is appended to each before it is announced.
            on_explanation: called (from the fine worker's thread) with each explanation.
            fps: the source's frame rate, for the evidence clip (default: the bundle's).
        """
        self.cfg = cfg = cfg or PipelineConfig()
        self.bundle, self.backend = bundle, backend
        self.stores = list(stores or [])
        self.on_explanation = on_explanation
        self.fps = fps or bundle.manifest.fps
        self.coarse = CoarseDetector(bundle, backend, cfg)
        clip_len = bundle.manifest.fine_clip_snippets
        pre_roll = None if cfg.pre_roll is None else min(clip_len, cfg.pre_roll)
        # In-process no network lies between the stages: no time-out, and the cache is bounded by
        # the clip's length plus one scoring batch (a clip is cut at the batch that completes it).
        self.clips = ClipCollector(ClipCache(math.inf, max_frames=clip_len + self.coarse.score_every),
                                   clip_len, pre_roll, timeout_s=math.inf)
        self.fine = FineWorker(bundle, backend, self._explained, cfg.fine_queue) if cfg.fine else None
        self._store_lock = threading.Lock()
        self.explanations_written = 0
        if cfg.output_dir is not None:
            Path(cfg.output_dir).mkdir(parents=True, exist_ok=True)

    def push(self, frame: Frame) -> list[AnomalyEvent]:
        """One source frame in; the events it caused out (stored before they are returned)."""
        return self.process(frame) if self.select(frame.index) else []

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

    def handle(self, scored: list[_Snippet], events: list[AnomalyEvent]) -> list[AnomalyEvent]:
        """What the coarse stage returned for a frame -> stores and fine stage; the events."""
        for event in events:
            self._record(event)
        if self.fine is not None:
            self._collect(scored, events)
        return events

    def newest_snippet(self) -> _Snippet | None:
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

    def close(self, timeout: float | None = None) -> list[AnomalyEvent]:
        """End the stream: end the open event, explain a half-collected clip, wait for the worker."""
        scored, events = self.coarse.close()
        for event in events:
            self._record(event)
        if self.fine is not None:
            self._collect(scored, events, flush=True)
            self.fine.close(timeout)
        return events

    def _record(self, event: AnomalyEvent) -> None:
        self._append(event.to_dict())

    def _append(self, record: dict) -> None:
        with self._store_lock:
            for store in self.stores:
                store.append(record)

    def _collect(self, scored: list[_Snippet], events: list[AnomalyEvent], flush: bool = False) -> None:
        for snippet in scored:
            self.clips.cache.push(snippet)
        for event in events:
            self.clips.announce(event)
        clip = self.clips.ready(flush=flush)
        if clip is not None:
            self.fine.submit(FineJob(clip.event, [s.frame for s in clip.items], clip.coalesced, clip.items))

    def _explained(self, job: FineJob, result: ClipResult) -> None:
        event, frames = job.event, job.frames
        peak = next((s for s in job.snippets if s.frame.index == event.peak_frame), None)
        if peak is None:
            peak = max(job.snippets, key=lambda s: s.score if math.isfinite(s.score) else -1.0)
        heatmap_path = None
        out_dir = self.cfg.output_dir
        if out_dir is not None and self.cfg.heatmap:
            path = Path(out_dir) / f"{event.event_id}_heatmap.png"
            heatmap_path = str(save_heatmap(path, peak.frame.rgb, peak.cam).path)
        if out_dir is not None and self.cfg.evidence_clip:
            write_clip(Path(out_dir) / f"{event.event_id}_clip.avi", frames,
                       fps=max(1.0, self.fps / self.coarse.sample_every))
        explanation = explain_clip(event, frames, result, self.backend.name, str(self.bundle.root),
                                   self.coarse.sample_every, heatmap_path=heatmap_path,
                                   peak_frame=peak.frame.index)
        self._append(explanation.to_dict())
        self.explanations_written += 1
        if self.on_explanation is not None:
            self.on_explanation(explanation)

    def summary(self) -> dict[str, Any]:
        """Counters and latencies for diagnostics and the end-of-run summary."""
        stats = {**self.coarse.stats, **self.clips.stats,
                 **{f"events_{k}": v for k, v in self.coarse.events.stats.items()}}
        result = {"stats": stats, "coarse_latency": self.coarse.latency.summary(),
                  "backend": self.backend.describe()}
        if self.fine is not None:
            fine = self.fine.snapshot()
            result["stats"].update(fine["stats"])
            result["fine_latency"] = fine["latency"]
        return result


def write_clip(path: Path, frames: list[Frame], fps: float) -> Path:
    """Encode RGB frames as an MJPEG AVI (OpenCV writes it everywhere, no licence questions)."""
    height, width = frames[0].rgb.shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), float(fps), (width, height))
    if not writer.isOpened():
        log.warning("%s: OpenCV cannot write the evidence clip", path)
        return path
    try:
        for frame in frames:
            rgb = frame.rgb if frame.rgb.shape[:2] == (height, width) else resize_rgb(frame.rgb, (height, width))
            writer.write(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    finally:
        writer.release()
    return path
