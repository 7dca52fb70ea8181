# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""A bundle with sound whose coarse score is known: it alarms exactly on loud bangs.

Its audio graph gives how far the loudest log-mel cell of a snippet's window stands above
`LOUD` (0 for quiet noise, a few units for a bang of `audio_files.bangs`); its QACM's score is
sigmoid(8 (audio feature - 1)), so a heard bang scores near 1 and quiet sound, or no sound (the
all-zero audio feature), near 0. The backbone is the redness backbone of tiny_bundle: vision
does not move the score. For the runtime's tests of the audio path: events where the sound is,
and "sound drove the score" in the explanation.
"""

from __future__ import annotations

from pathlib import Path

from tiny_bundle import TINY_AUDIO, RednessBackbone, tiny_graphs, tiny_manifest, tiny_text_table
from torch import nn

from tcvads_ros.models.mobilenet import FramePreprocess
from tcvads_ros.runtime.bundle import AUDIO_GRAPH
from tcvads_ros.training.export import CoarseBackboneGraph, CoarseQACMGraph, export_bundle

LOUD = 2.0  # log-mel level between quiet noise (about 0.5) and a bang (about 6)


class LoudnessAudio(nn.Module):
    """mel (N, n_mels, frames) -> (N, E): relu(max log-mel - LOUD) in every column."""

    def __init__(self, embedding_dim: int):
        super().__init__()
        self.embedding_dim = embedding_dim

    def forward(self, mel):
        loud = (mel.amax(dim=(1, 2)) - LOUD).relu()
        return loud[:, None].repeat(1, self.embedding_dim)


class HearingQACM(nn.Module):
    """Logit 8 (audio feature - 1) at every window position (the audio part starts at `first`)."""

    receptive_field = 1

    def __init__(self, first: int):
        super().__init__()
        self.first = first

    def forward(self, features):
        return 8.0 * (features[..., self.first] - 1.0)


def make_hearing_bundle(out: Path, **overrides):
    manifest = tiny_manifest(**{"window": 4, "fine_clip_snippets": 4, "audio": TINY_AUDIO.to_dict(), **overrides})
    graphs = tiny_graphs(manifest)
    graphs["coarse_backbone"] = CoarseBackboneGraph(
        FramePreprocess(manifest.coarse_mean, manifest.coarse_std), RednessBackbone(manifest.feature_dim))
    graphs["coarse_qacm"] = CoarseQACMGraph(HearingQACM(manifest.feature_dim))
    graphs[AUDIO_GRAPH] = LoudnessAudio(manifest.audio_spec.embedding_dim)
    return export_bundle(graphs, tiny_text_table(manifest), manifest, out)
