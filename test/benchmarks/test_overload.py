# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""Overload, the mechanism (deterministic): a fine stage that does not return must not hold the
coarse stage up. The stream is pushed to the end while every fine graph call is blocked;
triggers beyond the bounded queue are dropped or coalesced, every one counted; the fine worker
runs at a lower priority and its ONNX Runtime sessions use one thread without spin-waiting.
How much the coarse stage slows under a slow fine stage (timing) is measured by
benchmarks/overload.py, not here."""

from __future__ import annotations

import os
import threading

import numpy as np
import pytest
from tiny_bundle import make_tiny_bundle

from tcvads_ros.runtime.backends import create_backend
from tcvads_ros.runtime.backends.base import Backend
from tcvads_ros.runtime.events import EventConfig
from tcvads_ros.runtime.frames import Frame
from tcvads_ros.runtime.pipeline import PipelineConfig, TwoStagePipeline

PERIOD, LENGTH = 12, 4  # an anomaly of 4 snippets every 12 (benchmarks/overload.py's square wave)


class BlockedFine(Backend):
    """The real graphs; QACM scores replaced by a square wave; fine graph calls wait for `release`."""

    def __init__(self, inner: Backend):
        super().__init__(inner.bundle)
        self.inner, self.name = inner, inner.name
        self.snippet = 0
        self.release, self.entered = threading.Event(), threading.Event()
        self.fine_niceness: list[int] = []

    def run(self, graph_name, inputs):
        out = self.inner.run(graph_name, inputs)
        if graph_name == "coarse_qacm":
            self.snippet += 1
            high = self.snippet % PERIOD < LENGTH
            out = {"scores": np.full_like(out["scores"], 0.95 if high else 0.05)}
        elif graph_name.startswith("fine"):
            self.fine_niceness.append(os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))
            self.entered.set()
            assert self.release.wait(60), "the test never released the fine stage"
        return out


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    return make_tiny_bundle(tmp_path_factory.mktemp("bundle") / "b")[0]


def test_blocked_fine_stage_never_holds_the_coarse_stage(bundle):
    backend = BlockedFine(create_backend("onnxruntime", bundle))
    events = EventConfig(threshold_on=0.5, threshold_off=0.4, min_duration_s=0.0, merge_gap_s=0.0,
                         cooldown_s=0.0, update_interval_s=10.0)
    cfg = PipelineConfig(sample_every=1, score_every=1, events=events, fine=True, fine_queue=2)
    pipeline = TwoStagePipeline(bundle, backend, cfg)
    rng = np.random.default_rng(0)
    n = 240
    for i in range(n):
        pipeline.push(Frame(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8), i / 25.0, i))
        if i == 40:  # the first clip has reached the worker, which now blocks
            assert backend.entered.wait(30)
    stats = pipeline.summary()["stats"]
    # every frame was scored while the fine stage was blocked: the coarse stage never waited
    assert backend.snippet == n and not backend.release.is_set()
    triggers = stats["triggers"]
    assert triggers >= n // PERIOD - 1
    assert stats["triggers_queued"] == cfg.fine_queue + 1  # one in the worker, the queue's two
    assert stats.get("triggers_dropped", 0) > 0  # the overload really happened
    backend.release.set()
    pipeline.close(timeout=30)  # submits the clip still being collected, then drains the queue
    done = pipeline.summary()["stats"]
    assert done["triggers"] == triggers
    assert triggers == (done.get("triggers_queued", 0) + done.get("triggers_dropped", 0)
                        + done.get("triggers_coalesced", 0))  # none lost without being counted
    assert done.get("explanations", 0) + done.get("fine_errors", 0) == done["triggers_queued"]
    base = os.getpriority(os.PRIO_PROCESS, 0)
    assert backend.fine_niceness and all(v == min(19, base + 10) for v in backend.fine_niceness)


def test_fine_sessions_use_one_thread_without_spinning(bundle):
    backend = create_backend("onnxruntime", bundle)
    fine = backend.session("fine_temporal").get_session_options()
    coarse = backend.session("coarse_qacm").get_session_options()
    assert fine.intra_op_num_threads == 1
    assert fine.get_session_config_entry("session.intra_op.allow_spinning") == "0"
    assert coarse.get_session_config_entry("session.intra_op.allow_spinning") == "1"
