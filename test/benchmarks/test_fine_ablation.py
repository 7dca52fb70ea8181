# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""benchmarks/fine_ablation.py's category accuracy: the top anomaly class of the video-level
scores must be one of the video's kinds; Normal competes only in the second figure."""

from __future__ import annotations

import numpy as np

from benchmarks.fine_ablation import VARIANTS, category_accuracy
from tcvads_ros.data.annotations import XD_CLASSES


def _video(best: str, normal: float = 0.0) -> np.ndarray:
    p = np.full((64, len(XD_CLASSES)), 0.01)
    p[:, 0] = normal
    p[16:32, XD_CLASSES.index(best)] = 0.9
    return p


def test_category_accuracy_counts_the_abnormal_videos_only():
    probs = [_video("Riot"), _video("Fighting", normal=0.95), _video("Explosion"), _video("Riot")]
    labels = ["B4-0-0", "B2-B1-0", "B6-0-0", "A"]
    result = category_accuracy(probs, labels, XD_CLASSES)
    assert result["abnormal_videos"] == 3
    assert np.isclose(result["accuracy"], 200 / 3)  # riot right, fighting is the 2nd kind, explosion wrong
    assert np.isclose(result["accuracy_with_normal"], 100 / 3)  # Normal wins the second video
    assert result["named_per_kind"] == {"Car accident": "0/1", "Riot": "1/1", "Shooting": "1/1"}


def test_every_variant_changes_something_the_fine_stage_reads():
    overrides = [tuple(v[1]) for v in VARIANTS.values()]
    assert len(set(overrides)) == len(overrides)


def test_results_of_another_standin_are_not_mixed_into_the_table(tmp_path, capsys):
    import json

    import pytest

    from benchmarks import fine_ablation

    standin = tmp_path / "standin"
    standin.mkdir()
    (standin / "open_clip_model.safetensors").write_bytes(b"these weights")
    out = tmp_path / "out"
    out.mkdir()
    (out / "results.json").write_text(json.dumps({"c_standin_full": {"standin_sha256": "another"}}))
    with pytest.raises(SystemExit):
        fine_ablation.main(["--out", str(out), "--standin", str(standin), "--only", "c_standin_full"])
    assert "another stand-in CLIP" in capsys.readouterr().err
