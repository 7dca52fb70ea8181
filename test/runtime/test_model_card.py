# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""Model cards: what `tcvads export` writes, what `Bundle.load` refuses, what `tcvads detect` says
about a bundle and the footage it is pointed at."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from tiny_bundle import (
    make_tiny_bundle,
    tiny_graphs,
    tiny_manifest,
    tiny_text_table,
    write_red_video,
)

from tcvads_ros.data.synthetic import GENERATOR_VERSION, SynthConfig, generate
from tcvads_ros.errors import BundleError
from tcvads_ros.runtime.bundle import MANIFEST, TEXT_TABLE, Bundle, write_manifest
from tcvads_ros.runtime.model_card import describe, footage_warning, is_synthetic_video
from tcvads_ros.training.export import export_bundle

CARD = {
    "trained_on": {"dataset": "tcvads synth", "synthetic": True, "generator_version": 2, "videos": 10,
                   "width": 128, "height": 96, "cameras": 4},
    "metrics": {"split": "test", "AP": 50.0, "AUC": 75.0},
    "intended_use": "demos on synthetic videos",
    "limitations": ["synthetic drawings; not for camera footage"],
    "made_by": {"command": "tcvads demo --train", "commit": "abc", "versions": {}},
}


@pytest.fixture(scope="module")
def carded(tmp_path_factory) -> Path:
    """A tiny bundle with a model card, written the way export writes one (write_manifest)."""
    bundle = make_tiny_bundle(tmp_path_factory.mktemp("carded") / "b")[0]
    manifest = bundle.manifest
    manifest.model_card = json.loads(json.dumps(CARD))
    write_manifest(bundle.root, manifest, vouch_card=True)
    return bundle.root


@pytest.fixture
def copy(carded, tmp_path) -> Path:
    shutil.copytree(carded, tmp_path / "copy")
    return tmp_path / "copy"


def test_the_writer_makes_the_card_describe_the_files_it_wrote(carded):
    bundle = Bundle.load(carded)
    assert bundle.card is not None and bundle.card.synthetic
    assert bundle.card.graphs == {name: bundle.manifest.files[name] for name in bundle.card.graphs}
    assert TEXT_TABLE in bundle.card.graphs and "coarse_qacm.onnx" in bundle.card.graphs


def test_a_card_that_lies_about_the_graphs_hashes_is_refused(copy):
    data = json.loads((copy / MANIFEST).read_text())
    data["model_card"]["graphs"]["coarse_qacm.onnx"] = "0" * 64
    (copy / MANIFEST).write_text(json.dumps(data))
    with pytest.raises(BundleError, match="model card describes other graphs.*coarse_qacm.onnx"):
        Bundle.load(copy)


def test_graphs_swapped_under_a_card_are_refused_even_with_fresh_file_hashes(copy, tmp_path):
    """Someone replaces a graph and re-hashes `files` by hand: the card still names the old graph."""
    manifest = tiny_manifest()
    other = export_bundle(tiny_graphs(manifest, seed=7), tiny_text_table(manifest), manifest, tmp_path / "other")
    shutil.copy(other.root / "coarse_backbone.onnx", copy / "coarse_backbone.onnx")
    data = json.loads((copy / MANIFEST).read_text())
    data["files"]["coarse_backbone.onnx"] = other.manifest.files["coarse_backbone.onnx"]
    (copy / MANIFEST).write_text(json.dumps(data))
    with pytest.raises(BundleError, match="model card describes other graphs.*coarse_backbone.onnx"):
        Bundle.load(copy)


def test_a_malformed_card_is_refused_with_its_key(copy):
    data = json.loads((copy / MANIFEST).read_text())
    data["model_card"]["trained_onn"] = data["model_card"].pop("trained_on")
    (copy / MANIFEST).write_text(json.dumps(data))
    with pytest.raises(BundleError, match="trained_onn"):
        Bundle.load(copy)


def test_a_bundle_without_a_card_loads_and_says_it_has_none(tmp_path):
    """Bundles exported before cards existed (format 2, no `model_card`) keep working."""
    bundle = make_tiny_bundle(tmp_path / "old")[0]
    data = json.loads((bundle.root / MANIFEST).read_text())
    data.pop("model_card")
    data["format_version"] = 2
    (bundle.root / MANIFEST).write_text(json.dumps(data))
    old = Bundle.load(bundle.root)
    assert old.card is None
    assert "no model card" in describe(old.card, old.root)
    assert footage_warning(old.card, "camera topic /image", source_is_synthetic=False) is None


def test_describe_and_the_footage_warning(carded):
    card = Bundle.load(carded).card
    line = describe(card, carded)
    assert "tcvads synth version 2" in line and "10 videos of 128x96" in line and "synthetic drawings" in line
    assert "AP 50.0 / AUC 75.0" in line
    warning = footage_warning(card, "camera topic /camera/image_raw", source_is_synthetic=False)
    assert "/camera/image_raw" in warning and "tcvads calibrate" in warning
    assert "docs/calibration.md" in warning and "docs/training.md" in warning
    assert footage_warning(card, "a synthetic video", source_is_synthetic=True) is None
    filmed = Bundle.load(carded).card
    filmed.trained_on = {"dataset": "xd", "synthetic": False}
    assert footage_warning(filmed, "camera topic /image", source_is_synthetic=False) is None


def test_a_synthetic_video_is_recognised_by_its_benchmark_folder(tmp_path):
    generate(tmp_path / "bench", SynthConfig(videos=1, frames=32, width=64, height=48), progress=False)
    video = next((tmp_path / "bench" / "videos").iterdir())
    assert is_synthetic_video(video)
    moved = tmp_path / "elsewhere" / video.name
    moved.parent.mkdir()
    shutil.copy(video, moved)
    assert not is_synthetic_video(moved)
    assert not is_synthetic_video("0") and not is_synthetic_video(tmp_path / "nothing.mp4")


def _detect(bundle: Path, video: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tcvads_ros.cli", "detect", str(video), "--bundle", str(bundle),
                           "--backend", "onnxruntime", "--no-fine"], capture_output=True, text=True, timeout=120)


def test_detect_says_what_the_bundle_was_trained_on_and_warns_once_off_synthetic_footage(carded, tmp_path):
    filmed = write_red_video(tmp_path / "street.avi", seconds=2.0, fps=24.0, anomalies=[])
    proc = _detect(carded, filmed)
    assert proc.returncode == 0, proc.stderr
    assert "trained on tcvads synth version 2" in proc.stdout
    assert proc.stderr.count("trained on synthetic drawings") == 1, proc.stderr
    assert "tcvads calibrate" in proc.stderr

    generate(tmp_path / "bench", SynthConfig(videos=1, frames=48, width=64, height=48), progress=False)
    drawn = next((tmp_path / "bench" / "videos").iterdir())
    proc = _detect(carded, drawn)
    assert proc.returncode == 0, proc.stderr
    assert "trained on synthetic drawings" not in proc.stderr


def test_exported_smoke_bundle_carries_its_card(readme_run):
    """`tcvads export` of the README's smoke run: the card says what the run trained on."""
    bundle = Bundle.load(readme_run / "bundles" / "smoke")
    card = bundle.card
    assert card is not None and card.synthetic
    assert card.trained_on["generator_version"] == GENERATOR_VERSION
    assert card.trained_on["videos"] == 12 and card.trained_on["width"] == 64
    assert card.made_by["command"].startswith("tcvads export") and card.made_by["versions"]["onnxruntime"]
    assert any("not evaluated" in limit for limit in card.limitations)  # the README flow does not evaluate
    assert card.graphs == {name: bundle.manifest.files[name] for name in card.graphs}


def test_an_edited_bundle_keeps_a_valid_card_that_says_it_was_edited(copy, capsys):
    """`tcvads bundle` rewrites the text table: the card is made to describe the new table, and
    says that its metrics are of the bundle as exported."""
    from tcvads_ros.cli import main

    assert main(["bundle", "remove-class", str(copy), "Explosion"]) == 0, capsys.readouterr().err
    edited = Bundle.load(copy)
    assert edited.card.graphs[TEXT_TABLE] == edited.manifest.files[TEXT_TABLE]
    assert "edited after training (tcvads bundle remove-class" in edited.card.limitations[-1]
    assert edited.card.metrics == CARD["metrics"]


def test_bundle_show_prints_the_card(copy, capsys):
    from tcvads_ros.cli import main

    assert main(["bundle", "show", str(copy)]) == 0
    out = capsys.readouterr().out
    assert "trained on tcvads synth version 2" in out
    assert "limitation: synthetic drawings; not for camera footage" in out
    assert "made by: tcvads demo --train (commit abc)" in out


def test_rewriting_the_manifest_over_a_changed_graph_does_not_carry_the_card(copy, tmp_path):
    """A tool that swaps a graph and writes the manifest again (fresh `files` hashes) without
    saying so in the card: the card still describes the old graph, and the bundle is refused."""
    manifest = tiny_manifest()
    other = export_bundle(tiny_graphs(manifest, seed=7), tiny_text_table(manifest), manifest, tmp_path / "other")
    shutil.copy(other.root / "coarse_qacm.onnx", copy / "coarse_qacm.onnx")
    write_manifest(copy, _manifest_of(copy))
    with pytest.raises(BundleError, match="model card describes other graphs.*coarse_qacm.onnx"):
        Bundle.load(copy)


def _manifest_of(folder: Path):
    from tcvads_ros.configuration import from_mapping
    from tcvads_ros.runtime.bundle import Manifest

    return from_mapping(Manifest, json.loads((folder / MANIFEST).read_text()))


def test_a_run_whose_benchmark_cache_was_deleted_still_gets_a_card(readme_run, tmp_path):
    """Deleting a run's cache to save space is common: export then describes the benchmark from
    the run's configuration, and says that the generator version is not known."""
    from tcvads_ros.training.export import model_card_for
    from tcvads_ros.training.run_folder import RunFolder

    run = tmp_path / "smoke"
    shutil.copytree(readme_run / "runs" / "smoke", run, ignore=shutil.ignore_patterns("cache"))
    card = model_card_for(RunFolder(run, writable=False))
    assert card["trained_on"]["videos"] == 12 and card["trained_on"]["generator_version"] is None
    assert any("meta.json was gone" in limit for limit in card["limitations"])
    assert card["made_by"]["command"].startswith("called from Python")
