# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""The fine stage (paper §IV.B): a triggered clip in, a stored explanation out (no torch, no ROS).

One module serves both deployments. The in-process pipeline (`TwoStagePipeline`) hands it the
clips it cuts from the coarse stage's scored snippets, each frame with its CAM and score;
fine_node hands it the clips it cuts from its own camera cache, frames alone. Both cut them by
the same rule (`clips.ClipCollector`), and both only publish what `FineStage` hands back.

For each clip (`FineJob`), on its own thread (`FineStage`):

1. classify (`classify_clip`): encode the clip with `fine_image`, retrieve the top-m captions by
   cosine similarity of the mean clip feature with the caption embeddings, build each class's
   text feature as the mean of its class x caption table rows over those captions (the edge rule
   of docs/ARCHITECTURE.md, `retrieve_captions` and `class_text`), run `fine_temporal`;
2. the peak frame (`peak_position`): the event's peak where the clip holds it, else the clip's
   best-scored frame where coarse scores came with it;
3. the heat map of the peak frame, where its CAM came with the clip and an output folder is set;
4. the evidence clip (`write_clip`), where asked;
5. the explanation document (`explain_clip`) with its second opinion on the coarse alarm: the
   fine anomaly score (`explanation.fine_anomaly_score`, 1 - p(Normal)) and the verdict at
   `fine_threshold`, ``confirmed`` or ``disputed``; appended to the store (durable) and only then
   handed to `on_explanation` with the header of the frame that announced the event's start.

Frame numbers: an explanation names frames in the coarse stage's numbering, so that the event
and its explanation name the same frames. In process the clip's frames carry those numbers
already; fine_node numbers frames from its own first frame, and shifts them by the difference
the start announcement tells (`coarse_numbering`).

A slow fine stage never slows the coarse one: the queue is bounded, and a clip that finds it
full is dropped and counted (`triggers_dropped`).
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from tcvads_ros.errors import ConfigError, TcvadsError
from tcvads_ros.runtime.backends.base import Backend
from tcvads_ros.runtime.bundle import Bundle
from tcvads_ros.runtime.event_store import RecordStore
from tcvads_ros.runtime.events import AnomalyEvent
from tcvads_ros.runtime.explanation import (
    DEFAULT_FINE_THRESHOLD,
    Explanation,
    SoundEvidence,
    fine_anomaly_score,
    verdict_of,
)
from tcvads_ros.runtime.frames import Frame, resize_rgb
from tcvads_ros.runtime.heatmap import save_heatmap
from tcvads_ros.runtime.stats import Counters, LatencyStats

log = logging.getLogger(__name__)


@dataclass
class ClipResult:
    """What the fine graphs say about a clip."""

    class_scores: dict[str, float]
    category: str
    probability: float
    captions: list[tuple[str, float]]

    @property
    def fine_anomaly_score(self) -> float:
        """1 - p(Normal) (`explanation.fine_anomaly_score`)."""
        return fine_anomaly_score(self.class_scores)


# The fine stage's text side in NumPy (paper §IV.B, "CLIP native text"; docs/ARCHITECTURE.md, "Edge
# rule for the fine stage"): the clip's captions are the `top_m` of the caption bank most similar
# (cosine) to the mean of its normalised snippet image features; a class's text feature is the mean
# over those captions of the table's class x caption prompt features, re-normalised. Training
# computes the same in torch (`FineStage.retrieve_captions` and `FineStage.text_features`, which
# also train the prompts); test/models/test_fine.py checks that the two agree.


def _normalise(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


def retrieve_captions(captions: np.ndarray, clip_features: np.ndarray, top_m: int) -> tuple[np.ndarray, np.ndarray]:
    """(indices (m,), cosine similarities (m,)), best first, of the captions (K, D) closest to
    the clip's snippet features (T, D)."""
    query = _normalise(_normalise(clip_features).mean(axis=0))
    similarity = captions @ query
    top = np.argsort(-similarity, kind="stable")[: min(top_m, len(captions))]
    return top, similarity[top]


def class_text(class_caption: np.ndarray, indices: np.ndarray) -> np.ndarray:
    """Class text features (C, D) of a clip: the table's (C, K, D) rows for its captions, averaged
    and re-normalised."""
    return _normalise(class_caption[:, indices, :].mean(axis=1))


def classify_clip(bundle: Bundle, backend: Backend, frames: list[Frame]) -> ClipResult:
    """The fine graphs on a clip of one frame per snippet (paper §IV.B; the text rule below)."""
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
                 peak_frame: int | None = None, fine_threshold: float | None = None,
                 sound: SoundEvidence | None = None) -> Explanation:
    """The explanation document of a classified clip; with `fine_threshold`, its verdict; with
    `sound` (a bundle that listens), what the sound did."""
    score = fine_anomaly_score(result.class_scores)
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
        fine_anomaly_score=score,
        verdict="" if fine_threshold is None else verdict_of(score, fine_threshold),
        fine_threshold=fine_threshold,
        sound=sound,
    )


@dataclass
class FineJob:
    """A finished clip for the fine stage.

    Args:
        event: the latest announcement of the event when the clip was cut (its peak frame).
        frames: the clip, one frame per snippet, numbered as the coarse stage numbers them.
        coalesced: ids of events whose starts were folded into this clip.
        header: the header of the frame that announced the start, handed back with the result.
        cams: each frame's CAM from the coarse stage, where it ran in this process.
        scores: each frame's coarse probability, likewise.
        stats: the counts of the clip's stream, where one stage serves several (a node's
            cameras); default: the stage's own.
        fps: the stream's frame rate for the evidence clip; default: the stage's `fps`.
        on_explanation, on_error: the stream's callbacks, where one stage serves several;
            default: the stage's.
        fine_threshold: the stream's verdict threshold (its site profile's); default: the stage's.
        sound: what the sound did for the event (a bundle with sound; `pipeline.sound_evidence`).
    """

    event: AnomalyEvent
    frames: list[Frame]
    coalesced: list[str] = field(default_factory=list)
    header: Any = None
    cams: list[np.ndarray] | None = None
    scores: list[float] | None = None
    stats: Counters | None = None
    fps: float | None = None
    on_explanation: Callable[[Explanation, Any], None] | None = None
    on_error: Callable[[FineJob, Exception], None] | None = None
    fine_threshold: float | None = None
    sound: SoundEvidence | None = None


def coarse_numbering(frames: list[Frame], offset: int) -> list[Frame]:
    """`frames` renumbered into the coarse stage's numbering: `offset` is the coarse number minus
    this process's number for the same stamp. A frame from before the coarse stage's first frame
    (this process saw the camera first) takes its first number, as a clip's edge frames repeat
    where a stream began: never a negative one."""
    if offset == 0:
        return list(frames)
    return [dataclasses.replace(f, index=max(0, f.index + offset)) for f in frames]


def peak_position(job: FineJob) -> int | None:
    """Where in the clip the peak frame is: the event's peak frame where the clip holds it, else
    the best-scored frame where coarse scores came with the clip; None where neither."""
    for i, frame in enumerate(job.frames):
        if frame.index == job.event.peak_frame:
            return i
    if job.scores:
        return max(range(len(job.scores)),
                   key=lambda i: job.scores[i] if math.isfinite(job.scores[i]) else -1.0)
    return None


def write_clip(path: Path, frames: list[Frame], fps: float) -> Path:
    """Encode RGB frames as an MJPEG AVI (OpenCV writes it everywhere, no licence questions);
    `TcvadsError` when the file cannot be opened for writing."""
    height, width = frames[0].rgb.shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), float(fps), (width, height))
    if not writer.isOpened():
        raise TcvadsError(f"{path}: OpenCV cannot write the evidence clip there")
    try:
        for frame in frames:
            writer.write(cv2.cvtColor(resize_rgb(frame.rgb, (height, width)), cv2.COLOR_RGB2BGR))
    finally:
        writer.release()
    return path


class FineStage:
    """Runs the fine stage on finished clips in its own thread, from classification to the
    stored explanation (see the module's docstring).

    Args:
        store: every explanation is appended to it before it is handed on.
        frames_per_sample: source frames per clip frame (the last frame's snippet ends that many
            frames after it).
        on_explanation: called on the worker thread with each stored explanation and the header
            of the frame that announced its event's start (`FineJob.header`).
        on_error: called on the worker thread with a clip whose fine stage failed.
        queue_size: finished clips waiting; more are dropped.
        output_dir: where heat maps and evidence clips go (none are written when None).
        heatmap: write the heat map of the peak frame (where the clip came with CAMs).
        evidence_clip: write the clip as a video, `<event id>_clip.avi`.
        fps: the source's frame rate, asked when an evidence clip is written.
        stats: the stream's counts to count into (``triggers_queued``, ``triggers_dropped``,
            ``explanations``, ``fine_errors``, ``verdicts_confirmed``, ``verdicts_disputed``).
        fine_threshold: the verdict's threshold on the fine anomaly score (a site profile's, the
            bundle's ``thresholds.fine``, or `DEFAULT_FINE_THRESHOLD`).
    """

    def __init__(self, bundle: Bundle, backend: Backend, store: RecordStore, frames_per_sample: int, *,
                 on_explanation: Callable[[Explanation, Any], None] | None = None,
                 on_error: Callable[[FineJob, Exception], None] | None = None,
                 queue_size: int = 2, output_dir: Path | None = None, heatmap: bool = True,
                 evidence_clip: bool = False, fps: Callable[[], float] | None = None,
                 stats: Counters | None = None, fine_threshold: float = DEFAULT_FINE_THRESHOLD):
        self.bundle, self.backend, self.store = bundle, backend, store
        if not 0.0 <= fine_threshold <= 1.0:
            raise ConfigError(f"fine_threshold must be in [0, 1], got {fine_threshold}")
        self.fine_threshold = float(fine_threshold)
        self.frames_per_sample = frames_per_sample
        self.on_explanation, self.on_error = on_explanation, on_error
        self.output_dir = None if output_dir is None else Path(output_dir)
        self.heatmap, self.evidence_clip = heatmap, evidence_clip
        self.fps = fps or (lambda: bundle.manifest.fps)
        if self.output_dir is not None:
            make_output_dir(self.output_dir)
        self.queue: queue.Queue[FineJob | None] = queue.Queue(maxsize=max(1, queue_size))
        self.latency = LatencyStats()
        self.stats = Counters() if stats is None else stats
        self._lock = threading.Lock()  # the latency is written on the worker and read elsewhere
        self._thread = threading.Thread(target=self._loop, name="tcvads-fine", daemon=True)
        self._thread.start()

    def submit(self, job: FineJob) -> bool:
        """Queue a clip without waiting; False (and counted) when the queue is full."""
        try:
            self.queue.put_nowait(job)
        except queue.Full:
            self._stats(job).add("triggers_dropped")
            return False
        self._stats(job).add("triggers_queued")
        return True

    def _stats(self, job: FineJob) -> Counters:
        """The counts a clip counts into: its stream's where it brought them, else the stage's."""
        return self.stats if job.stats is None else job.stats

    def latency_summary(self) -> dict[str, float]:
        """The fine stage's latency figures, safe from any thread."""
        with self._lock:
            return self.latency.summary()

    @property
    def explanations_written(self) -> int:
        return self.stats["explanations"]

    def close(self, timeout: float | None = None) -> None:
        """Finish the queued clips, then stop the thread."""
        self.queue.put(None)
        self._thread.join(timeout)

    def _loop(self) -> None:
        _lower_thread_priority()
        while (job := self.queue.get()) is not None:
            start = time.perf_counter()
            try:
                explanation = self.explain(job)
                self.store.append(explanation.to_dict())  # durable before it is announced
                stats = self._stats(job)
                stats.add("explanations")
                stats.add(f"verdicts_{explanation.verdict}")
                on_explanation = job.on_explanation or self.on_explanation
                if on_explanation is not None:
                    on_explanation(explanation, job.header)
            except Exception as exc:  # a failed explanation must not kill the worker
                self._stats(job).add("fine_errors")
                log.exception("fine stage failed for event %s", job.event.event_id)
                on_error = job.on_error or self.on_error
                if on_error is not None:
                    on_error(job, exc)
            with self._lock:
                self.latency.add(time.perf_counter() - start)

    def explain(self, job: FineJob) -> Explanation:
        """Classify a clip and write its files: the explanation (not yet stored)."""
        result = classify_clip(self.bundle, self.backend, job.frames)
        event, frames = job.event, job.frames
        peak = peak_position(job)
        heatmap_path = None
        # The side outputs never cost the explanation: a failure is counted, logged in one line,
        # and the explanation goes on without that file.
        if self.output_dir is not None and self.heatmap and peak is not None and job.cams:
            path = self.output_dir / f"{event.event_id}_heatmap.png"
            try:
                heatmap_path = str(save_heatmap(path, frames[peak].rgb, job.cams[peak]).path)
            except (TcvadsError, OSError, cv2.error) as exc:
                self._side_output_failed("heatmap_failures", job, exc)
        if self.output_dir is not None and self.evidence_clip:
            path = evidence_clip_file(self.output_dir, event.event_id)
            try:
                fps = job.fps or self.fps()
                write_clip(path, frames, fps=max(1.0, fps / self.frames_per_sample))
            except (TcvadsError, OSError, cv2.error) as exc:
                self._side_output_failed("evidence_clip_failures", job, exc)
        return explain_clip(event, frames, result, self.backend.name, str(self.bundle.root),
                            self.frames_per_sample, heatmap_path=heatmap_path,
                            peak_frame=None if peak is None else frames[peak].index,
                            fine_threshold=self.fine_threshold if job.fine_threshold is None else job.fine_threshold,
                            sound=job.sound)


    def _side_output_failed(self, counter: str, job: FineJob, exc: Exception) -> None:
        self._stats(job).add(counter)
        log.warning("event %s: %s (counted as %s; the explanation goes on without it)",
                    job.event.event_id[:8], exc, counter)


def evidence_clip_file(output_dir: Path, event_id: str) -> Path:
    """Where the evidence clip of event `event_id` is written in `output_dir`."""
    return Path(output_dir) / f"{event_id}_clip.avi"


def make_output_dir(path: Path) -> Path:
    """Create the folder of heat maps and evidence clips, or say in one line why it cannot be."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"output_dir {path}: cannot create it ({exc.strerror or exc}); "
                          "choose a writable folder") from exc
    return path


def _lower_thread_priority(niceness: int = 10) -> None:
    """Let the OS prefer the coarse stage over this thread (Linux: niceness is per thread)."""
    if not hasattr(os, "setpriority") or not hasattr(threading, "get_native_id"):
        return
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), niceness)
    except OSError as exc:  # not permitted in some containers: run at normal priority
        log.debug("could not lower the fine worker's priority: %s", exc)
