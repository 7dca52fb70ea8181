# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""training/train.py and training/evaluate.py end to end on the smoke config (tiny sizes).

The README's smoke run (every stage, trained by the documented command in a subprocess) is
checked here; evaluation, resumption, determinism and config errors run in-process on cheaper
teacher-only runs that share one synthetic data cache.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from tcvads_ros.training import evaluate, train

REPO = Path(__file__).resolve().parents[2]
SMOKE = REPO / "config" / "train" / "smoke.yaml"
# The smoke config already is tiny; these make the CLI test a few seconds of compute.
TINY = ["teacher.optim.epochs=1", "student.optim.epochs=1", "fine.optim.epochs=1",
        "student.temperature_search.initial=[1.0,4.0]", "student.temperature_search.iterations=1"]


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="module")
def full_run(readme_run) -> Path:
    """The README's smoke run, trained by the documented command as written (conftest.py)."""
    return readme_run / "runs" / "smoke"


def test_every_stage_writes_the_run_folder(full_run):
    for name in ("config.yaml", "metrics.jsonl", "calibration.json", "temperature_search.json",
                 "temperature_search.png", "captions.yaml"):
        assert (full_run / name).is_file(), name
    for stage, model in (("teacher", "afed"), ("student", "qacm_student"), ("fine", "fine")):
        info = json.loads((full_run / f"{stage}.json").read_text())
        assert info["model"] == model and isinstance(info["config"], dict)
        weights = load_file(str(full_run / f"{stage}.safetensors"))
        assert weights and all(torch.isfinite(v.float()).all() for v in weights.values())
    assert any((full_run / "tensorboard").iterdir())
    student = json.loads((full_run / "student.json").read_text())
    assert {"input_size", "mean", "std", "snippet_frames", "window", "temperature"} <= set(student)
    search = json.loads((full_run / "temperature_search.json").read_text())
    assert len(search["trials"]) == 3 and student["temperature"] == search["chosen"]
    fine = json.loads((full_run / "fine.json").read_text())
    assert fine["model_args"]["class_names"][0] == "Normal" and fine["model_args"]["captions"]
    calibration = json.loads((full_run / "calibration.json").read_text())
    assert 0.0 <= calibration["threshold"] <= 1.0 and calibration["level"] == "frame"
    records = [json.loads(line) for line in (full_run / "metrics.jsonl").read_text().splitlines()]
    assert [(r["stage"], r["epoch"]) for r in records] == [(s, e) for s in ("teacher", "student", "fine")
                                                           for e in (1, 2)]
    assert "val_AP" in records[0] and "train_soft" in records[2] and "train_contrast" in records[4]
    assert fine["clip_snippets"] == 16 and fine["fps"] == 24.0  # the synthetic benchmark's frame rate


def test_evaluate_writes_metrics_with_every_key(full_run, tmp_path):
    assert evaluate.main([str(full_run), "--out", str(tmp_path / "eval"), "--no-progress",
                          "--mode", "corrected", "--timelines", "1"]) == 0
    result = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    keys = {"AP", "AUC", "AnoAUC", "mAP@0.1", "mAP@0.2", "mAP@0.3", "mAP@0.4", "mAP@0.5", "mAP_avg", "mode"}
    assert keys <= set(result) and result["mode"] == "corrected"
    assert all(isinstance(result[k], float) for k in keys - {"mode"})
    assert set(result["teacher"]) == {"AP", "AUC", "AnoAUC"} and result["coarse_model"] == "student"
    assert (tmp_path / "eval" / "roc.png").is_file() and (tmp_path / "eval" / "pr.png").is_file()
    # a single checkpoint evaluates that model alone
    assert evaluate.main([str(full_run / "teacher.safetensors"), "--out", str(tmp_path / "t"),
                          "--no-progress", "--timelines", "0"]) == 0
    alone = json.loads((tmp_path / "t" / "metrics.json").read_text())
    assert alone["AP"] == pytest.approx(result["teacher"]["AP"]) and alone["mAP_avg"] is None


def _teacher(out: Path, cache: Path, *extra: str, resume: bool = False) -> int:
    args = ["--config", str(SMOKE), "--out", str(out), "--stage", "teacher", "--no-progress",
            f"data.cache_dir={cache}", *extra]
    return train.main(args + (["--resume"] if resume else []))


def test_same_seed_same_numbers_and_resume_continues_exactly(tmp_path, cache):
    assert _teacher(tmp_path / "a", cache, "teacher.optim.epochs=2") == 0
    assert _teacher(tmp_path / "b", cache, "teacher.optim.epochs=2") == 0
    a = load_file(str(tmp_path / "a" / "teacher.safetensors"))
    b = load_file(str(tmp_path / "b" / "teacher.safetensors"))
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert (tmp_path / "a" / "metrics.jsonl").read_text() == (tmp_path / "b" / "metrics.jsonl").read_text()

    # interrupted after epoch 1 of 2: only the last-epoch state is there, no final checkpoint
    c = tmp_path / "c"
    assert _teacher(c, cache, "teacher.optim.epochs=2") == 0
    (c / "teacher.safetensors").unlink()
    assert _teacher(tmp_path / "d", cache, "teacher.optim.epochs=1") == 0  # the state after epoch 1
    for name in ("teacher.last.safetensors", "teacher.last.json", "teacher.best.safetensors"):
        (c / name).write_bytes((tmp_path / "d" / name).read_bytes())
    (c / "metrics.jsonl").write_text((c / "metrics.jsonl").read_text().splitlines()[0] + "\n")
    assert _teacher(c, cache, "teacher.optim.epochs=2", resume=True) == 0
    resumed = load_file(str(c / "teacher.safetensors"))
    assert all(torch.allclose(a[k], resumed[k], atol=1e-6) for k in a)
    epochs = [json.loads(line)["epoch"] for line in (c / "metrics.jsonl").read_text().splitlines()]
    assert epochs == [1, 2]


def test_jittered_snippet_supervised_teacher_is_reproducible(tmp_path, cache):
    extra = ("teacher.optim.epochs=2", "data.frames_per_snippet=4", "teacher.supervision=snippet")
    assert _teacher(tmp_path / "a", cache, *extra) == 0
    assert _teacher(tmp_path / "b", cache, *extra) == 0
    a = load_file(str(tmp_path / "a" / "teacher.safetensors"))
    b = load_file(str(tmp_path / "b" / "teacher.safetensors"))
    assert all(torch.equal(a[k], b[k]) for k in a)
    frames = next((cache / "frames_32x4" / "train").rglob("*.npy"))
    assert np.load(frames).shape[1] == 4  # (T, 4, H, W, 3): four frames of every snippet
    assert _teacher(tmp_path / "c", cache, "teacher.optim.epochs=2") == 0
    video = load_file(str(tmp_path / "c" / "teacher.safetensors"))
    assert any(not torch.equal(a[k], video[k]) for k in a)  # the options change training


def test_snippet_supervision_without_training_annotations_is_refused(tmp_path, capsys):
    overrides = _vadclip_like(tmp_path)
    code = train.main(["--config", str(SMOKE), "--out", str(tmp_path / "run"), "--no-progress", "--stage",
                       "teacher", *overrides, *TINY, "teacher.supervision=snippet"])
    assert code == 2
    assert "data.train_annotations" in capsys.readouterr().err


def test_existing_run_is_not_overwritten_and_bad_keys_are_named(tmp_path, cache, capsys):
    assert _teacher(tmp_path / "r", cache, "teacher.optim.epochs=1") == 0
    assert _teacher(tmp_path / "r", cache, "teacher.optim.epochs=1") == 2
    assert "--resume" in capsys.readouterr().err
    assert _teacher(tmp_path / "x", cache, "teacher.optim.epoch=3") == 2
    assert "teacher.optim.epoch" in capsys.readouterr().err
    assert _teacher(tmp_path / "y", cache, "teacher.model.rwkv_dimm=3") == 2
    assert "rwkv_dimm" in capsys.readouterr().err


def _vadclip_like(root: Path) -> list[str]:
    """A tiny XD-format feature set as VadCLIP releases it: (T, 32) .npy per video and crop,
    train lists with every crop, a test list with crop __0, the two annotation files."""
    rng = torch.Generator().manual_seed(0)
    feats = root / "feats"
    feats.mkdir()
    rows = {"train": [], "test": []}
    segments = []
    for split, n in (("train", 8), ("test", 4)):
        for i in range(n):
            label = "A" if i % 2 == 0 else "B1-0-0"
            name = f"{split}{i}_label_{label}"
            t = 20 + 3 * i
            x = torch.randn(t, 32, generator=rng) * 0.1
            if label != "A":
                x[5:12] += 1.0  # the anomaly: snippets 5..11 (frames 80..192)
                if split == "test":
                    segments.append((name, 80, 192))
            for crop in (0, 1) if split == "train" else (0,):
                path = feats / f"{name}__{crop}.npy"
                np.save(path, (x + 0.01 * crop).numpy().astype("float32"))
                rows[split].append(f"feats/{path.name},{label}")
    for split in rows:
        (root / f"{split}.csv").write_text("path,label\n" + "\n".join(rows[split]) + "\n")
    (root / "annotations.txt").write_text("".join(f"{n} {s} {e}\n" for n, s, e in segments))
    (root / "multi.txt").write_text("".join(f"{n} B1 {s} {e}\n" for n, s, e in segments))
    return ["data.kind=features", f"data.train_list={root / 'train.csv'}",
            f"data.test_list={root / 'test.csv'}", f"data.annotations={root / 'annotations.txt'}",
            f"data.multiclass_annotations={root / 'multi.txt'}", "data.val_fraction=0.25",
            "teacher.model.input=features", "teacher.model.input_dim=32",
            "student.model.input=features", "student.model.input_dim=32"]


def test_trains_and_evaluates_on_vadclip_style_features(tmp_path):
    overrides = _vadclip_like(tmp_path)
    out = tmp_path / "run"
    assert train.main(["--config", str(SMOKE), "--out", str(out), "--no-progress", *overrides, *TINY]) == 0
    student = json.loads((out / "student.json").read_text())
    assert student["input"] == "features" and student["input_size"] is None
    assert not (out / "cache" / "synthetic").exists()
    assert evaluate.main([str(out), "--no-progress", "--timelines", "0"]) == 0
    result = json.loads((out / "eval" / "metrics.json").read_text())
    assert result["videos"] == 4 and result["data_kind"] == "features"
    assert isinstance(result["AP"], float) and isinstance(result["mAP_avg"], float)
