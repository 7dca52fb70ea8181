# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""The streaming pipeline: sampling, bounded buffers, events near the truth, the fine worker
never slowing the coarse stage, durable records before announcements, heat maps and clips."""

from __future__ import annotations

import threading

import cv2
import numpy as np
import pytest
from tiny_bundle import make_tiny_bundle

from tcvads_ros.errors import ConfigError
from tcvads_ros.runtime.backends.base import Backend
from tcvads_ros.runtime.backends.onnxruntime import OnnxRuntimeBackend
from tcvads_ros.runtime.event_store import EventStore
from tcvads_ros.runtime.events import EventConfig
from tcvads_ros.runtime.frames import Frame, resize_rgb
from tcvads_ros.runtime.pipeline import PipelineConfig, TwoStagePipeline

FPS = 25.0
DARK, BRIGHT = 20, 230


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    return make_tiny_bundle(tmp_path_factory.mktemp("bundle") / "b")[0]


class FakeBackend(Backend):
    """Scores = frame brightness, so the truth is known; the fine graphs can be held back."""

    name = "fake"

    def __init__(self, bundle, nan_every=0, nan_features_every=0):
        super().__init__(bundle)
        self.calls = {"coarse_backbone": 0, "coarse_qacm": 0, "fine_image": 0, "fine_temporal": 0}
        self.fine_gate = threading.Event()
        self.fine_gate.set()
        self.nan_every = nan_every
        self.nan_features_every = nan_features_every
        self.clip_lengths = []

    def run(self, graph_name, inputs):
        self.check_inputs(graph_name, inputs)
        self.calls[graph_name] += 1
        m = self.bundle.manifest
        if graph_name == "coarse_backbone":
            frames = inputs["frames"]
            assert frames.shape[1:3] == tuple(m.coarse_input_size)
            level = frames.mean(axis=(1, 2, 3)) / 255.0
            cam = frames[:, ::4, ::4].mean(-1).astype(np.float32)
            features = np.repeat(level[:, None], m.feature_dim, 1).astype(np.float32)
            if self.nan_features_every and self.calls[graph_name] % self.nan_features_every == 0:
                features[:, 0] = np.nan
            return {"features": features, "cam": cam}
        if graph_name == "coarse_qacm":
            scores = inputs["features"][..., 0].copy()
            if self.nan_every and self.calls["coarse_qacm"] % self.nan_every == 0:
                scores[:, -1] = np.nan
            return {"scores": scores}
        self.fine_gate.wait()
        if graph_name == "fine_image":
            self.clip_lengths.append(len(inputs["frames"]))
            feats = np.ones((len(inputs["frames"]), m.fine_feature_dim), np.float32)
            return {"features": feats / np.linalg.norm(feats, axis=1, keepdims=True)}
        t = inputs["features"].shape[1]
        probs = np.tile(np.array([0.1, 0.8, 0.1], np.float32), (1, t, 1))
        return {"probs": probs, "video_scores": probs[:, 0]}


def frames(n, bright=(), size=(48, 64), start=0):
    for i in range(start, start + n):
        level = BRIGHT if any(a <= i < b for a, b in bright) else DARK
        yield Frame(np.full((*size, 3), level, np.uint8), i / FPS, i)


def collect(explanations):
    """An `on_explanation` callback that keeps the explanations."""
    return lambda explanation, header: explanations.append(explanation)


def config(**kw):
    threshold = kw.pop("threshold", 0.5)
    events = EventConfig(min_duration_s=0.5, merge_gap_s=1.0, cooldown_s=0.0, update_interval_s=2.0)
    return PipelineConfig(events=events.with_threshold(threshold), **kw)


class RecordingStore:
    def __init__(self):
        self.records = []

    def append(self, record):
        self.records.append(record)


def run(pipeline, stream):
    events = []
    for frame in stream:
        events += pipeline.push(frame)
    return events + pipeline.close(timeout=10)


def test_one_backbone_run_per_snippet(bundle):
    backend = FakeBackend(bundle)
    pipeline = TwoStagePipeline(bundle, backend, config(fine=False))
    run(pipeline, frames(400))
    assert backend.calls["coarse_backbone"] == 25  # frames 0, 16, ..., 384
    stats = pipeline.summary()["stats"]
    assert stats["frames"] == 400 and stats["processed"] == 25
    every = FakeBackend(bundle)
    run(TwoStagePipeline(bundle, every, config(fine=False, sample_every=1)), frames(40))
    assert every.calls["coarse_backbone"] == 40


def test_dropped_frames_still_sample_once_per_snippet(bundle):
    backend = FakeBackend(bundle)
    pipeline = TwoStagePipeline(bundle, backend, config(fine=False))
    for frame in frames(320):
        if frame.index % 5 == 0:  # a camera delivering every fifth frame
            pipeline.push(frame)
    assert backend.calls["coarse_backbone"] == 20  # one per 16-frame snippet, none missed
    assert pipeline.summary()["stats"]["missing_frames"] == 320 - 64 - 4  # never delivered


def test_scoring_stride(bundle):
    backend = FakeBackend(bundle)
    run(TwoStagePipeline(bundle, backend, config(fine=False, score_every=4)), frames(16 * 40))
    assert backend.calls["coarse_qacm"] == 10


def test_event_matches_the_anomaly_and_keeps_one_id(bundle):
    store = RecordingStore()
    pipeline = TwoStagePipeline(bundle, FakeBackend(bundle), config(), stores=[store])
    events = run(pipeline, frames(1000, bright=[(320, 640)]))
    assert [e.kind for e in events if e.kind != "update"] == ["start", "end"]
    assert len({e.event_id for e in events}) == 1
    start, end = events[0], events[-1]
    assert start.start_frame == 320 and start.frame == 336  # announced after min_duration
    assert 624 < end.end_frame <= 640 + 16 and end.reason == "score"
    assert abs(start.start_stamp - 320 / FPS) < 1e-9
    kinds = [r.get("kind", r["record_type"]) for r in store.records]
    assert kinds.count("start") == 1 and kinds.count("end") == 1 and kinds.count("explanation") == 1


def test_records_are_stored_before_they_are_announced(bundle, tmp_path):
    store = EventStore(tmp_path / "events.db")
    seen = []

    def on_explanation(explanation, header):  # by now the explanation must already be on disk
        seen.append([r["event_id"] for r in store.explanations()] == [explanation.event_id])

    pipeline = TwoStagePipeline(bundle, FakeBackend(bundle), config(), stores=[store], on_explanation=on_explanation)
    for frame in frames(800, bright=[(160, 480)]):
        for event in pipeline.push(frame):
            assert event.kind in [r["kind"] for r in store.events(event.event_id)]
    pipeline.close(timeout=10)
    assert seen == [True]
    explanation = store.explanations()[0]
    assert explanation["category"] == "Fighting" and explanation["backend"] == "fake"
    assert explanation["class_scores"] == pytest.approx({"Normal": 0.1, "Fighting": 0.8, "Explosion": 0.1})
    assert len(explanation["captions"]) == bundle.manifest.top_m


def test_fine_clip_has_pre_and_post_roll(bundle):
    backend = FakeBackend(bundle)
    explanations = []
    pipeline = TwoStagePipeline(bundle, backend, config(), on_explanation=collect(explanations))
    run(pipeline, frames(1000, bright=[(320, 640)]))
    clip = bundle.manifest.fine_clip_snippets  # 6: 3 up to the start (frame 336), 3 after
    assert backend.clip_lengths == [clip]
    (explanation,) = explanations
    assert explanation.start_frame == 336 - 2 * 16
    assert explanation.end_frame == 336 + 3 * 16 + 16
    assert explanation.start_stamp == pytest.approx(explanation.start_frame / FPS)


def test_slow_fine_stage_never_blocks_the_coarse_stage(bundle):
    backend = FakeBackend(bundle)
    backend.fine_gate.clear()  # the fine stage hangs until released
    pipeline = TwoStagePipeline(bundle, backend, config(fine_queue=1))
    bursts = [(s, s + 96) for s in range(100, 100 + 12 * 300, 300)]  # 12 separate anomalies
    events = []
    for frame in frames(100 + 12 * 300, bright=bursts):
        events += pipeline.push(frame)  # would deadlock here if a trigger waited for the worker
    starts = sum(e.kind == "start" for e in events)
    assert starts == 12
    stats = pipeline.summary()["stats"]
    assert stats["triggers"] == 12
    # one clip in the worker, one in the queue, the rest dropped (none coalesced: clips finish fast)
    assert stats["triggers_dropped"] == 12 - 2 and stats["triggers_queued"] == 2
    backend.fine_gate.set()
    pipeline.close(timeout=10)
    assert pipeline.explanations_written == 2


def test_a_short_event_is_classified_on_its_own_frames(bundle):
    backend = FakeBackend(bundle)
    cfg = config()
    cfg.events.merge_gap_s = 0.0
    explanations = []
    pipeline = TwoStagePipeline(bundle, backend, cfg, on_explanation=collect(explanations))
    # two anomalies close together: the first ends before its clip's post-roll has arrived, so
    # its clip is cut at its end (last frame repeated) and the second gets a clip of its own
    events = run(pipeline, frames(800, bright=[(160, 192), (208, 240)]))
    ends = {e.event_id: e.end_frame for e in events if e.kind == "end"}
    stats = pipeline.summary()["stats"]
    assert stats["triggers"] == 2 and stats.get("triggers_coalesced", 0) == 0
    assert pipeline.explanations_written == 2 and len(ends) == 2
    for explanation in explanations:  # no frame after the event's last one is in its clip
        assert explanation.end_frame - 16 < ends[explanation.event_id]


def test_close_ends_an_open_event_and_explains_a_partial_clip(bundle):
    backend = FakeBackend(bundle)
    pipeline = TwoStagePipeline(bundle, backend, config())
    events = []
    for frame in frames(400, bright=[(320, 1000)]):
        events += pipeline.push(frame)
    assert [e.kind for e in events] == ["start"]
    closing = pipeline.close(timeout=10)
    assert [e.kind for e in closing] == ["end"] and closing[0].reason == "shutdown"
    assert closing[0].event_id == events[0].event_id
    assert backend.clip_lengths == [bundle.manifest.fine_clip_snippets]  # padded to the graph's length
    assert pipeline.explanations_written == 1


def test_nan_scores_are_counted_not_fatal(bundle):
    pipeline = TwoStagePipeline(bundle, FakeBackend(bundle, nan_every=2), config(fine=False))
    run(pipeline, frames(640))
    assert pipeline.summary()["stats"]["nonfinite_scores"] == 20


def test_nonfinite_features_never_enter_the_window(bundle):
    pipeline = TwoStagePipeline(bundle, FakeBackend(bundle, nan_features_every=5), config(fine=False))
    run(pipeline, frames(640))
    stats = pipeline.summary()["stats"]
    assert stats["nonfinite_features"] == 640 // 16 // 5
    assert stats.get("nonfinite_scores", 0) == 0  # the bad samples were dropped, not carried
    assert np.isfinite(pipeline.coarse.features.latest()).all()


def test_memory_is_bounded(bundle):
    pipeline = TwoStagePipeline(bundle, FakeBackend(bundle), config(fine=False, sample_every=1))
    run(pipeline, frames(3000, size=(8, 8)))
    coarse = pipeline.coarse
    assert len(coarse.features) == bundle.manifest.window
    assert len(coarse.snippets) <= coarse.snippets.capacity < 40


def test_heat_map_and_evidence_clip(bundle, tmp_path):
    explanations = []
    cfg = config(output_dir=tmp_path, evidence_clip=True)
    pipeline = TwoStagePipeline(bundle, FakeBackend(bundle), cfg, on_explanation=collect(explanations), fps=FPS)
    run(pipeline, frames(1000, bright=[(320, 640)]))
    (explanation,) = explanations
    image = cv2.imread(explanation.heatmap_path)
    assert image is not None and image.shape[:2] == (48, 64)
    assert explanation.peak_frame in range(320, 640)
    clip = cv2.VideoCapture(str(tmp_path / f"{explanation.event_id}_clip.avi"))
    count = 0
    while clip.read()[0]:
        count += 1
    assert count == bundle.manifest.fine_clip_snippets


def test_an_unwritable_output_folder_costs_no_explanation(bundle, tmp_path):
    """The folder is replaced by a file after the start (as a disk unmounted under it): the heat
    map and the evidence clip fail, each counted and logged in one line; the explanation is
    still stored and announced."""
    explanations, store = [], RecordingStore()
    out = tmp_path / "evidence"
    pipeline = TwoStagePipeline(bundle, FakeBackend(bundle), config(output_dir=out, evidence_clip=True),
                                stores=[store], on_explanation=collect(explanations), fps=FPS)
    out.rmdir()
    out.write_text("not a folder")
    run(pipeline, frames(1000, bright=[(320, 640)]))
    (explanation,) = explanations
    assert explanation.heatmap_path is None and explanation.category
    assert [r["record_type"] for r in store.records].count("explanation") == 1
    stats = pipeline.summary()["stats"]
    assert (stats["heatmap_failures"], stats["evidence_clip_failures"], stats.get("fine_errors", 0)) == (1, 1, 0)


def test_an_output_folder_that_cannot_be_made_is_refused_in_one_line(bundle, tmp_path):
    (tmp_path / "file").write_text("")
    with pytest.raises(ConfigError, match=r"output_dir .*file/evidence: cannot create it"):
        TwoStagePipeline(bundle, FakeBackend(bundle), config(output_dir=tmp_path / "file" / "evidence"))


def test_real_onnx_backend_end_to_end(bundle):
    explanations = []
    pipeline = TwoStagePipeline(bundle, OnnxRuntimeBackend(bundle, threads=1),
                                config(threshold=0.0), on_explanation=collect(explanations))
    events = run(pipeline, frames(300, size=(120, 160)))
    assert events[0].kind == "start" and events[-1].kind == "end"
    (explanation,) = explanations
    assert set(explanation.class_scores) == set(bundle.class_names)
    assert explanation.backend == "onnxruntime" and explanation.bundle == str(bundle.root)
    assert all(-1 <= c.similarity <= 1 for c in explanation.captions)


def test_resize_rgb():
    image = np.zeros((1080, 1920, 3), np.uint8)
    assert resize_rgb(image, (224, 224)).shape == (224, 224, 3)
    assert resize_rgb(image[:10, :10], (32, 40)).shape == (32, 40, 3)


@pytest.mark.parametrize("score_every", [3, 4])
def test_batched_scoring_keeps_the_clips_pre_roll(bundle, score_every):
    """The QACM scoring several snippets at once must not push the pre-roll out of the clip."""
    clips = {}
    for every in (1, score_every):
        explanations = []
        pipeline = TwoStagePipeline(bundle, FakeBackend(bundle), config(score_every=every),
                                    on_explanation=collect(explanations))
        events = run(pipeline, frames(1000, bright=[(480, 1000)]))
        start = next(e for e in events if e.kind == "start")
        assert len(explanations) == 1
        clips[every] = (start.start_frame, explanations[0].start_frame)
    assert clips[score_every] == clips[1]  # same event start, same first frame of the clip


def test_feed_hands_back_events_explanations_and_counters(bundle):
    """The stream's one way in: what `push` returns, the explanations a callback would get (each
    once, by `end` at the latest), and the stream's counters."""
    stream = list(frames(1000, bright=[(320, 640)]))
    by_push = TwoStagePipeline(bundle, FakeBackend(bundle), config())
    pushed = run(by_push, stream) + by_push.close()
    heard = []
    pipeline = TwoStagePipeline(bundle, FakeBackend(bundle), config(), on_explanation=collect(heard))
    updates = [pipeline.feed(stream[i:i + 7]) for i in range(0, len(stream), 7)] + [pipeline.end()]
    fed = [event for update in updates for event in update.events]
    assert [(e.kind, e.start_frame, e.frame) for e in fed] == [(e.kind, e.start_frame, e.frame) for e in pushed]
    explained = [explanation for update in updates for explanation, _header in update.explanations]
    assert len(explained) == 1 and explained == heard
    assert all(update.stats is pipeline.stats for update in updates)
    assert updates[-1].stats.snapshot()["processed"] == -(-len(stream) // 16)  # one per snippet begun


class OpinionBackend(FakeBackend):
    """FakeBackend whose fine stage gives the Normal class probability `normal`."""

    def __init__(self, bundle, normal):
        super().__init__(bundle)
        self.normal = normal

    def run(self, graph_name, inputs):
        out = super().run(graph_name, inputs)
        if graph_name == "fine_temporal":
            t = inputs["features"].shape[1]
            probs = np.tile(np.array([self.normal, 1.0 - self.normal, 0.0], np.float32), (1, t, 1))
            out = {"probs": probs, "video_scores": probs[:, 0]}
        return out


def wait_for(pipeline, events, kind="start"):
    """Release held announcements until one of `kind` comes (the worker is another thread)."""
    for _ in range(1000):
        events += pipeline.release()
        if any(e.kind == kind for e in events):
            return events
        threading.Event().wait(0.01)
    raise AssertionError(f"no {kind} was released")


@pytest.mark.parametrize("normal, verdict", [(0.1, "confirmed"), (0.9, "disputed")])
def test_confirm_with_fine_announces_each_start_with_its_verdict_never_hiding_it(bundle, normal, verdict):
    store = RecordingStore()
    backend = OpinionBackend(bundle, normal)
    backend.fine_gate.clear()  # the verdict cannot come before the gate opens
    pipeline = TwoStagePipeline(bundle, backend, config(confirm_with_fine=True), stores=[store])
    stream = list(frames(1000, bright=[(320, 640)]))
    events = []
    for frame in stream[:700]:
        events += pipeline.push(frame)
    # the event started (frame 336) and ended, both stored at once, neither announced yet
    assert events == [] and pipeline.held >= 2
    assert [r["kind"] for r in store.records if r["record_type"] == "event"][0] == "start"
    backend.fine_gate.set()
    events = wait_for(pipeline, events)
    for frame in stream[700:]:
        events += pipeline.push(frame)
    events += pipeline.close(timeout=10)
    kinds = [e.kind for e in events if e.kind != "update"]
    assert kinds == ["start", "end"] and len({e.event_id for e in events}) == 1  # in order, all of them
    assert all(e.verdict == verdict and e.fine_anomaly_score == pytest.approx(1 - normal) for e in events)
    (explanation,) = [r for r in store.records if r["record_type"] == "explanation"]
    assert explanation["verdict"] == verdict and explanation["fine_threshold"] == 0.5
    assert pipeline.stats[f"verdicts_{verdict}"] == 1


def test_without_confirm_with_fine_the_start_is_announced_at_once_and_the_verdict_follows(bundle):
    explanations = []
    pipeline = TwoStagePipeline(bundle, OpinionBackend(bundle, 0.9), config(fine_threshold=0.05),
                                on_explanation=collect(explanations))
    events = [e for frame in frames(400, bright=[(320, 1000)]) for e in pipeline.push(frame)]
    assert [e.kind for e in events] == ["start"] and events[0].verdict == ""
    pipeline.close(timeout=10)
    (explanation,) = explanations  # 1 - 0.9 = 0.1 >= 0.05
    assert explanation.verdict == "confirmed" and explanation.fine_threshold == 0.05


def test_a_dropped_clip_or_a_verdict_that_never_comes_releases_the_alarm_without_one(bundle):
    backend = OpinionBackend(bundle, 0.1)
    backend.fine_gate.clear()  # the fine stage hangs until released
    pipeline = TwoStagePipeline(bundle, backend, config(fine_queue=1, confirm_with_fine=True))
    bursts = [(s, s + 96) for s in range(100, 100 + 6 * 300, 300)]  # 6 separate anomalies
    events = []
    for frame in frames(100 + 6 * 300, bright=bursts):
        events += pipeline.push(frame)
    # the first two clips wait (worker and queue): everything after the first start waits behind
    # it, in order; the dropped clips' alarms will go out with no verdict
    dropped = pipeline.summary()["stats"]["triggers_dropped"]
    assert events == [] and dropped >= 4  # one or two clips wait (in the worker, the queue)
    now = [0.0]
    pipeline.gate.clock = lambda: now[0]
    pipeline.feed([])  # held from this clock's 0 on ... (the first ones from the real clock's time)
    now[0] = 1e12  # ... far past confirm_timeout_s: no verdict came for the first start
    released = pipeline.release()
    starts = [e for e in released if e.kind == "start"]
    assert len(starts) == 6 and all(e.verdict == "" for e in starts)
    assert pipeline.stats["verdicts_timed_out"] >= 1 and pipeline.held == 0
    backend.fine_gate.set()
    pipeline.close(timeout=10)
    assert pipeline.explanations_written == 6 - dropped  # those still come, with their verdicts


def test_a_pause_lets_every_held_alarm_out(bundle):
    backend = OpinionBackend(bundle, 0.1)
    backend.fine_gate.clear()  # no verdict can come before the pause
    pipeline = TwoStagePipeline(bundle, backend, config(confirm_with_fine=True))
    events = [e for frame in frames(400, bright=[(320, 1000)]) for e in pipeline.push(frame)]
    assert events == [] and pipeline.held == 1
    paused = pipeline.pause()
    assert [(e.kind, e.verdict) for e in paused] == [("start", ""), ("end", "")] and paused[1].reason == "paused"
    assert pipeline.held == 0
    backend.fine_gate.set()
    pipeline.close(timeout=10)
    assert pipeline.explanations_written == 1  # its explanation, with the verdict, still comes
