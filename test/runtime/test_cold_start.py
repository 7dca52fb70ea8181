# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""A stream that starts in the middle of a scene must not alarm by itself (the QACM's padding).

The coarse stage here is an onset detector of known behaviour: the redness backbone
(test/support/tiny_bundle.py) and a real QACM whose weights score the change of redness from
one snippet to the next. With zero padding the first snippet of a stream that starts in a red
scene is a jump from nothing to red: an alarm that nothing in the scene caused. With the QACM's
replicate padding it is no jump at all; a red fire that starts during the stream still alarms.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from tiny_bundle import RednessBackbone, red_scene, tiny_graphs, tiny_manifest, tiny_text_table

from tcvads_ros.models.mobilenet import FramePreprocess
from tcvads_ros.models.qacm import QACM
from tcvads_ros.runtime.backends import create_backend
from tcvads_ros.runtime.events import EventConfig
from tcvads_ros.runtime.frames import Frame
from tcvads_ros.runtime.pipeline import CoarseDetector, PipelineConfig
from tcvads_ros.training.export import CoarseBackboneGraph, CoarseQACMGraph, export_bundle

FPS = 24.0


def onset_qacm(dim: int, padding: str, gain: float = 4.0, bias: float = 4.0) -> QACM:
    """logit_t = gain * |red_t - red_(t-1)| - bias, through the three causal layers."""
    qacm = QACM(dim, hidden=2, padding=padding).eval()
    with torch.no_grad():
        for conv in qacm.convs:
            conv.weight.zero_()
            conv.bias.zero_()
        first, *rest = qacm.convs
        first.weight[0, 0, 2], first.weight[0, 0, 1] = 1.0, -1.0  # relu(red_t - red_(t-1))
        first.weight[1, 0, 2], first.weight[1, 0, 1] = -1.0, 1.0  # relu(red_(t-1) - red_t)
        for conv in rest:  # pass the newest step on
            conv.weight[0, 0, 2] = conv.weight[1, 1, 2] = 1.0
        qacm.head.weight.fill_(gain)
        qacm.head.bias.fill_(-bias)
    return qacm


@pytest.fixture(scope="module", params=["replicate", "zeros"])
def bundle(request, tmp_path_factory):
    qacm = onset_qacm(16, request.param)
    manifest = tiny_manifest(window=qacm.receptive_field, fps=FPS)
    graphs = tiny_graphs(manifest)
    graphs["coarse_backbone"] = CoarseBackboneGraph(
        FramePreprocess(manifest.coarse_mean, manifest.coarse_std), RednessBackbone(manifest.feature_dim))
    graphs["coarse_qacm"] = CoarseQACMGraph(qacm)
    out = tmp_path_factory.mktemp(request.param) / "b"
    return request.param, export_bundle(graphs, tiny_text_table(manifest), manifest, out)


def run(bundle, seconds: float, red: list[tuple[float, float]]):
    backend = create_backend("onnxruntime", bundle, threads=1)
    # No minimum duration: a single high snippet is an alarm, the strictest case.
    events = EventConfig(threshold_on=0.5, threshold_off=0.4, min_duration_s=0.0)
    detector = CoarseDetector(bundle, backend, PipelineConfig(events=events, fine=False))
    scores, starts = [], []
    for i in range(0, int(seconds * FPS), 16):
        scored, announced = detector.push(Frame(red_scene(i, FPS, red), i / FPS, i))
        scores += [s.score for s in scored]
        starts += [e.start_frame for e in announced if e.kind == "start"]
    backend.close()
    return np.array(scores), starts


def test_a_stream_that_starts_mid_scene_does_not_alarm_by_itself(bundle):
    padding, bundle = bundle
    scores, starts = run(bundle, 24.0, red=[(0.0, 60.0)])  # a fire already burning at switch-on
    if padding == "replicate":
        assert starts == [] and scores.max() < 0.1
        assert np.allclose(scores[:15], scores[15:30], atol=0.02)  # the start looks like later on
    else:  # what zero padding did: the first window is an onset from nothing
        assert starts == [0] and scores[0] > 0.9 and scores[1:].max() < 0.1


def test_an_onset_during_the_stream_still_alarms(bundle):
    _, bundle = bundle
    scores, starts = run(bundle, 20.0, red=[(10.0, 60.0)])
    onset = int(10.0 * FPS) // 16 * 16
    assert onset in starts or onset + 16 in starts
    assert scores.max() > 0.9
