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


def test_every_variant_is_a_valid_fine_configuration():
    """Each variant's overrides (Tables VII and VIII, Fig. 3's text branch included) load and
    validate as a fine stage configuration, and say what they claim."""
    from benchmarks.fine_ablation import variant_overrides
    from tcvads_ros.config_files import config_file
    from tcvads_ros.models.registry import model_config
    from tcvads_ros.training import standin_clip
    from tcvads_ros.training.train_config import load_config

    built = {}
    for name in VARIANTS:
        overrides = variant_overrides(name, standin_clip.shipped_standin(), ["device=cpu"])
        built[name] = model_config("fine", load_config(config_file("train/synthetic.yaml"), overrides).fine.model)
    assert built["c_standin_full"].temporal == "enhanced_rwkv" and not built["c_standin_full"].text_temporal
    assert built["e_text_rwkv"].text_temporal
    assert {built[f"f_{k}"].temporal for k in ("rwkv_channelmix", "lgt_adapter", "no_temporal")} == {
        "rwkv_channelmix", "lgt_adapter", "none"}
    assert not built["d_hand_crafted"].learn_ctx and built["d_hand_crafted"].n_ctx == 4
    assert built["d_anomaly_focus"].visual_prompt == "anomaly_focus"
    assert built["d_average_frame"].visual_prompt == "average_frame"


def test_paper_tables_name_existing_variants_and_average_over_seeds():
    from benchmarks.paper_ablations import TABLES, aggregate, markdown

    assert all(variant in VARIANTS for rows in TABLES.values() for _, variant, _, _ in rows)
    vii = {label: (ap, avg) for label, _, ap, avg in TABLES["table-vii"]}
    assert vii["Enhanced RWKV (two TimeMix blocks)"] == (85.58, 26.95)
    assert vii["no temporal model"] == (73.25, 16.68)
    assert [avg for *_, avg in TABLES["table-viii"]] == [18.46, 25.31, 21.53, 25.26, 26.95]
    runs = {"c_standin_full": {s: {"AP": 50.0 + s, "mAP_avg": 40.0 + 2 * s} for s in (0, 1, 2)}}
    entries = aggregate(runs, "text-branch")
    assert entries[0]["seeds"] == [0, 1, 2]
    assert np.isclose(entries[0]["AP"], 51.0) and np.isclose(entries[0]["AP_sd"], 1.0)
    assert np.isclose(entries[0]["mAP_avg_sd"], 2.0)
    assert "seeds" not in entries[1] or entries[1]["seeds"] == []
    assert "51.00 ± 1.00" in markdown(entries, "text-branch")
