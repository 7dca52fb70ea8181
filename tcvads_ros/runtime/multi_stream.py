# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""Many cameras in one process: one detector per stream, backbone calls batched across streams.

The paper's setting is city surveillance, many fixed cameras per edge box. Each stream keeps
everything that is its own: frame sampling, the QACM window and scores, the event state
machine, the fine stage, its stores and output folder (a `TwoStagePipeline` per stream). What
streams share is the backbone: the frames of one `push` that their streams sample
(`TwoStagePipeline.take`) are stacked into one `coarse_backbone` call (the graph's batch axis is
dynamic) and each row goes back to its own stream (`TwoStagePipeline.accept`), in the order the
frames came. A stream's events are therefore those it would produce alone
(test/runtime/test_multi_stream.py), and one model call serves every camera that has a sample
due, as DeepStream-style pipelines batch (docs/performance.md, "Many cameras in one process").

The streams may also share one fine stage (one bounded queue for all cameras: coarse_node with
several cameras): each pipeline is built with it (`TwoStagePipeline`'s ``fine_stage``), and
`close` closes it once every stream has ended.

Each stream's sound goes to its own pipeline (`push_audio(stream, chunk)`, any thread): sound is
aligned to a stream's frames by stamps, never shared between streams.
"""

from __future__ import annotations

import time
from collections.abc import Hashable, Iterable, Mapping
from typing import Any

import numpy as np

from tcvads_ros.runtime.audio_convert import AudioChunk
from tcvads_ros.runtime.backends.base import Backend
from tcvads_ros.runtime.events import AnomalyEvent
from tcvads_ros.runtime.fine import FineStage
from tcvads_ros.runtime.frames import Frame
from tcvads_ros.runtime.pipeline import StreamUpdate, TwoStagePipeline


class MultiStreamPipeline:
    """Named streams' `TwoStagePipeline`s whose backbone calls are batched together.

    Each pipeline is built by the caller with its own stores, output folder, fps and callbacks
    (so every stream's records stay in the explanation schema). Drive with
    `feed([(stream, frame), ...])` — any number of frames of any streams, each stream's in its
    own order — and `end()`, which hand back each stream's `StreamUpdate`; `push` and `close`
    hand back the (stream, event) pairs alone. A live source that decides before it decodes
    (coarse_node) asks each stream's `select` and hands the chosen frames to `process`.

    Args:
        backend: the backend the pipelines share (it runs the batched backbone calls).
        pipelines: stream name -> its pipeline.
        max_batch: most frames per backbone call (larger pushes are split).
        fine_stage: the fine stage the pipelines share, if they do (closed by `close`).
    """

    def __init__(self, backend: Backend, pipelines: Mapping[Hashable, TwoStagePipeline], max_batch: int = 32,
                 fine_stage: FineStage | None = None):
        if not pipelines:
            raise ValueError("MultiStreamPipeline needs at least one stream")
        self.backend, self.pipelines, self.max_batch = backend, dict(pipelines), max(1, max_batch)
        self.fine_stage = fine_stage
        self.batches = 0  # backbone calls made (diagnostics, benchmarks)

    def push(self, frames: Iterable[tuple[Hashable, Frame]]) -> list[tuple[Hashable, AnomalyEvent]]:
        """Frames in; the (stream, event) pairs they caused, in the order of the frames."""
        return self.process([(name, frame) for name, frame in frames if self.pipelines[name].select(frame.index)])

    def process(self, frames: Iterable[tuple[Hashable, Frame]]) -> list[tuple[Hashable, AnomalyEvent]]:
        """Frames that their streams' `select` chose, in one batched backbone call (or a few, of
        `max_batch`); the (stream, event) pairs they caused, in the order of the frames."""
        taken = [(name, frame) for name, frame in frames if self.pipelines[name].usable(frame)]
        events: list[tuple[Hashable, AnomalyEvent]] = []
        for first in range(0, len(taken), self.max_batch):
            batch = taken[first:first + self.max_batch]
            start = time.perf_counter()
            inputs = np.stack([self.pipelines[name].model_input(frame) for name, frame in batch])
            out = self.backend.run("coarse_backbone", {"frames": inputs})
            self.batches += 1
            for row, (name, frame) in enumerate(batch):
                accepted = self.pipelines[name].accept(frame, out["features"][row], out["cam"][row], start)
                events += [(name, event) for event in accepted]
        return events

    def push_audio(self, stream: Hashable, chunk: AudioChunk) -> None:
        """A chunk of `stream`'s sound (`TwoStagePipeline.push_audio`; thread-safe)."""
        self.pipelines[stream].push_audio(chunk)

    def release(self) -> list[tuple[Hashable, AnomalyEvent]]:
        """Without new frames: each stream's events that have become due (`TwoStagePipeline.release`:
        snippets whose sound has come, verdicts that have come)."""
        return [(name, event) for name, p in self.pipelines.items() for event in p.release()]

    def feed(self, frames: Iterable[tuple[Hashable, Frame]]) -> dict[Hashable, StreamUpdate]:
        """Frames in, any streams' -> each stream's `StreamUpdate`, as its own `feed` returns it
        (events in the order of its frames, explanations finished since the last call)."""
        for pipeline in self.pipelines.values():
            pipeline.keep_explanations()
        events: dict[Hashable, list[AnomalyEvent]] = {name: [] for name in self.pipelines}
        for name, event in self.push(frames):
            events[name].append(event)
        return {name: p.update(events[name]) for name, p in self.pipelines.items()}

    def end(self, timeout: float | None = None) -> dict[Hashable, StreamUpdate]:
        """End every stream -> each one's last `StreamUpdate` (`TwoStagePipeline.end`)."""
        return {name: p.end(timeout) for name, p in self.pipelines.items()}

    def pause(self) -> list[tuple[Hashable, AnomalyEvent]]:
        """Every stream pauses (`TwoStagePipeline.pause`): the open events end, reason ``paused``."""
        return [(name, event) for name, p in self.pipelines.items() for event in p.pause()]

    def close(self, timeout: float | None = None) -> list[tuple[Hashable, AnomalyEvent]]:
        """End every stream (see `TwoStagePipeline.close`), then the shared fine stage finishes
        its queued clips."""
        events = [(name, event) for name, p in self.pipelines.items() for event in p.close(timeout)]
        if self.fine_stage is not None:
            self.fine_stage.close(timeout)
        return events

    @property
    def explanations_written(self) -> int:
        return sum(p.explanations_written for p in self.pipelines.values())

    def summary(self) -> dict[str, Any]:
        """Each stream's `TwoStagePipeline.summary()`, and the backbone calls made."""
        return {"streams": {str(n): p.summary() for n, p in self.pipelines.items()},
                "backbone_batches": self.batches}
