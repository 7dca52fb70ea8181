"""Many cameras in one process: one detector per stream, backbone calls batched across streams.

The paper's setting is city surveillance, many fixed cameras per edge box. Each stream keeps
everything that is its own: frame sampling, the QACM window and scores, the event state machine,
the fine stage and its event records (a `TwoStagePipeline` per stream). What streams share is
the backbone: the frames of one `push` that their streams sample (`CoarseDetector.take`) are
stacked into one `coarse_backbone` call (the graph's batch axis is dynamic) and each row goes
back to its own stream (`CoarseDetector.accept`), in the order the frames came. A stream's
events are therefore those it would produce alone (test/runtime/test_multi_stream.py), and
one model call serves every camera that has a sample due, as DeepStream-style pipelines batch.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable, Iterable, Sequence
from typing import Any

import numpy as np

from tcvads_ros.runtime.backends.base import Backend
from tcvads_ros.runtime.bundle import Bundle
from tcvads_ros.runtime.events import AnomalyEvent
from tcvads_ros.runtime.explanation import Explanation
from tcvads_ros.runtime.frames import Frame
from tcvads_ros.runtime.pipeline import PipelineConfig, RecordStore, TwoStagePipeline


class StreamRecords:
    """A store wrapper that adds `"stream": name` to every record it appends."""

    def __init__(self, store: RecordStore, stream: Hashable):
        self.store, self.stream = store, stream

    def append(self, record: dict) -> Any:
        return self.store.append({**record, "stream": str(self.stream)})


class MultiStreamPipeline:
    """`TwoStagePipeline`s for named streams whose backbone calls are batched together.

    Drive with `push([(stream, frame), ...])` — any number of frames of any streams, each
    stream's in its own order — and `close()`.

    Args:
        streams: the stream names (camera ids, source paths).
        cfg: the settings every stream's pipeline gets.
        stores: every event and explanation, tagged with its stream, is appended to each.
        on_explanation: called (from the stream's fine worker thread) with (stream, explanation).
        fps: each stream's frame rate, for its evidence clips (default: the bundle's).
        max_batch: most frames per backbone call (larger pushes are split).
    """

    def __init__(self, bundle: Bundle, backend: Backend, streams: Sequence[Hashable],
                 cfg: PipelineConfig | None = None, stores: list[RecordStore] | None = None,
                 on_explanation: Callable[[Hashable, Explanation], None] | None = None,
                 fps: dict[Hashable, float] | None = None, max_batch: int = 32):
        if len(set(streams)) != len(streams) or not streams:
            raise ValueError(f"stream names must be distinct and at least one, got {list(streams)}")
        self.backend, self.max_batch = backend, max(1, max_batch)
        self.pipelines = {
            name: TwoStagePipeline(
                bundle, backend, cfg, [StreamRecords(s, name) for s in stores or []],
                on_explanation=None if on_explanation is None else (lambda e, n=name: on_explanation(n, e)),
                fps=(fps or {}).get(name),
            )
            for name in streams
        }
        self.batches = 0  # backbone calls made (diagnostics, benchmarks)

    def push(self, frames: Iterable[tuple[Hashable, Frame]]) -> list[tuple[Hashable, AnomalyEvent]]:
        """Frames in; the (stream, event) pairs they caused, in the order of the frames."""
        taken = [(name, frame) for name, frame in frames if self.pipelines[name].coarse.take(frame)]
        events: list[tuple[Hashable, AnomalyEvent]] = []
        for first in range(0, len(taken), self.max_batch):
            batch = taken[first:first + self.max_batch]
            start = time.perf_counter()
            inputs = np.stack([self.pipelines[name].coarse.model_input(frame) for name, frame in batch])
            out = self.backend.run("coarse_backbone", {"frames": inputs})
            self.batches += 1
            for row, (name, frame) in enumerate(batch):
                pipeline = self.pipelines[name]
                result = pipeline.coarse.accept(frame, out["features"][row], out["cam"][row], start)
                events += [(name, event) for event in pipeline.handle(*result)]
        return events

    def close(self, timeout: float | None = None) -> list[tuple[Hashable, AnomalyEvent]]:
        """End every stream (see `TwoStagePipeline.close`)."""
        return [(name, event) for name, p in self.pipelines.items() for event in p.close(timeout)]

    @property
    def explanations_written(self) -> int:
        return sum(p.explanations_written for p in self.pipelines.values())

    def summary(self) -> dict[str, Any]:
        """Each stream's `TwoStagePipeline.summary()`, and the backbone calls made."""
        return {"streams": {str(n): p.summary() for n, p in self.pipelines.items()},
                "backbone_batches": self.batches}
