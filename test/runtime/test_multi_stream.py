# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""Many streams in one process: each stream's events are the events of that stream run alone,
whatever the batching; one backbone call serves every stream with a sample due."""

from __future__ import annotations

import dataclasses
import random

import numpy as np
import pytest
from test_pipeline import FakeBackend, config, frames
from tiny_bundle import make_tiny_bundle

from tcvads_ros.runtime.backends.onnxruntime import OnnxRuntimeBackend
from tcvads_ros.runtime.fine import FineStage
from tcvads_ros.runtime.multi_stream import MultiStreamPipeline
from tcvads_ros.runtime.pipeline import TwoStagePipeline

# Per stream: frame count, bright (anomalous) frame ranges, frame size: different lengths,
# events at different times, one stream without any, different camera resolutions.
STREAMS = {
    "gate": (400, [(80, 200)], (48, 64)),
    "yard": (330, [(20, 60), (150, 300)], (40, 40)),
    "hall": (250, [], (64, 48)),
    "dock": (360, [(240, 360)], (48, 64)),
}


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    return make_tiny_bundle(tmp_path_factory.mktemp("bundle") / "b")[0]


class ListStore:
    def __init__(self):
        self.records = []

    def append(self, record):
        self.records.append(record)


def _comparable(records: list[dict]) -> tuple[list[dict], list[dict]]:
    """Event records in order, explanations by clip start (a fine worker thread writes them
    when it is done), without what differs between runs by design (random event ids and the
    file paths named after them)."""
    keep = [{k: v for k, v in r.items() if k not in ("event_id", "stream") and not k.endswith("_path")}
            for r in records]
    events = [r for r in keep if r["record_type"] == "event"]
    explanations = sorted((r for r in keep if r["record_type"] == "explanation"), key=lambda r: r["start_frame"])
    return events, explanations


def _stream_frames(name):
    n, bright, size = STREAMS[name]
    return list(frames(n, bright=bright, size=size))


def _alone(bundle, backend, name, **cfg):
    store = ListStore()
    pipeline = TwoStagePipeline(bundle, backend, config(**cfg), [store])
    scores = []
    for frame in _stream_frames(name):
        scored, events = pipeline.coarse.push(frame)
        pipeline.handle(scored, events)
        scores += [s.score for s in scored]
    pipeline.close()
    return _comparable(store.records), scores


def _interleaved(seed):
    """Every stream's frames in its own order, the streams shuffled together and cut into
    pushes of 1-9 frames (a push may hold several frames of one stream, or none of some)."""
    rng = random.Random(seed)
    queues = {name: _stream_frames(name) for name in STREAMS}
    order = [name for name, q in queues.items() for _ in q]
    rng.shuffle(order)
    merged = [(name, queues[name].pop(0)) for name in order]
    pushes, i = [], 0
    while i < len(merged):
        size = rng.randint(1, 9)
        pushes.append(merged[i:i + size])
        i += size
    return pushes


@pytest.mark.parametrize("fine", [False, True])
def test_each_stream_gets_the_events_it_would_get_alone(bundle, fine):
    backend = FakeBackend(bundle)
    alone = {name: _alone(bundle, backend, name, fine=fine)[0] for name in STREAMS}
    assert sum(r["kind"] == "start" for events, _ in alone.values() for r in events) >= 4
    assert not alone["hall"][0]  # a quiet stream stays quiet
    assert all(bool(explanations) == fine for name, (_, explanations) in alone.items() if name != "hall")

    stores = {name: ListStore() for name in STREAMS}
    batched = FakeBackend(bundle)
    multi = MultiStreamPipeline(batched, {
        name: TwoStagePipeline(bundle, batched, config(fine=fine), [store]) for name, store in stores.items()
    }, max_batch=3)
    for push in _interleaved(seed=1):
        multi.push(push)
    multi.close()
    for name, store in stores.items():
        assert _comparable(store.records) == alone[name], name
    samples = sum(-(-n // 16) for n, _, _ in STREAMS.values())  # one backbone row per snippet
    assert multi.batches < samples  # rows of several streams shared backbone calls
    assert batched.calls["coarse_backbone"] == multi.batches


def test_batched_onnxruntime_scores_equal_single_stream_scores(bundle):
    """The real graph: a row's features do not depend on the other rows of its batch."""
    backend = OnnxRuntimeBackend(bundle, threads=1)
    alone = {name: _alone(bundle, backend, name)[1] for name in STREAMS}
    multi = MultiStreamPipeline(backend, {name: TwoStagePipeline(bundle, backend, config()) for name in STREAMS})
    for push in _interleaved(seed=2):
        multi.push(push)
    scores = {name: [s.score for s in p.coarse.snippets if np.isfinite(s.score)]
              for name, p in multi.pipelines.items()}
    multi.close()
    for name in STREAMS:
        kept = alone[name][-len(scores[name]):]  # the snippet ring buffer keeps the latest ones
        np.testing.assert_allclose(scores[name], kept, atol=1e-5)


def test_at_least_one_stream(bundle):
    with pytest.raises(ValueError, match="at least one stream"):
        MultiStreamPipeline(FakeBackend(bundle), {})


def test_feed_hands_each_stream_its_own_update(bundle):
    backend = FakeBackend(bundle)
    alone = {name: _alone(bundle, backend, name, fine=True)[0] for name in STREAMS}
    multi = MultiStreamPipeline(backend, {name: TwoStagePipeline(bundle, backend, config(fine=True))
                                          for name in STREAMS}, max_batch=3)
    updates = [multi.feed(push) for push in _interleaved(seed=3)] + [multi.end()]
    for name, p in multi.pipelines.items():
        mine = [update[name] for update in updates]
        events, explanations = alone[name]
        assert [e.kind for u in mine for e in u.events] == [r["kind"] for r in events], name
        assert len([x for u in mine for x in u.explanations]) == len(explanations), name
        assert all(u.stats is p.stats for u in mine)


def test_streams_sharing_one_fine_stage_get_their_own_events_explanations_and_counts(bundle):
    """coarse_node's cameras: each stream names its events, one fine stage (one queue) explains
    every stream's clips, each clip counted in its own stream's counters; `process` takes frames
    their streams selected already (a node decides before it decodes) and batches them."""
    backend = FakeBackend(bundle)
    alone = {name: _alone(bundle, backend, name, fine=True)[0] for name in STREAMS}
    store, explained = ListStore(), []
    batched = FakeBackend(bundle)
    fine = FineStage(bundle, batched, store, 16, queue_size=16)
    pipelines = {name: TwoStagePipeline(bundle, batched, dataclasses.replace(config(fine=True), stream=name), [store],
                                        on_explanation=lambda x, header: explained.append(x), fine_stage=fine)
                 for name in STREAMS}
    multi = MultiStreamPipeline(batched, pipelines, fine_stage=fine)
    for push in _interleaved(seed=4):
        multi.process([(name, frame) for name, frame in push if pipelines[name].select(frame.index)])
    multi.close()
    records = store.records
    for name, (events, explanations) in alone.items():
        mine = [r for r in records if r["record_type"] == "event" and r["stream"] == name]
        assert _comparable(mine)[0] == events, name
        ids = {r["event_id"] for r in mine}
        assert len([r for r in records if r["record_type"] == "explanation" and r["event_id"] in ids]) \
            == len(explanations) == pipelines[name].explanations_written, name
    assert len(explained) == sum(len(x) for _, x in alone.values())
    assert fine.stats["explanations"] == 0  # counted per stream, not in the stage's own counters
    assert not fine._thread.is_alive()  # closed once every stream had ended
