# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""`tcvads bundle`: classes and captions added, removed and renamed on an exported bundle.

The bundle comes from a real (untrained, tiny) training run, so its text table is the real fine
stage's (open_clip text encoder + learned context); added rows are compared with what that
FineStage computes itself, and the edited bundle is loaded and run like any other.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch
from recordings import write_recording
from tiny_bundle import CAPTIONS, CLASSES, make_tiny_run

from tcvads_ros.cli import main
from tcvads_ros.configuration import to_mapping
from tcvads_ros.models.registry import create_model
from tcvads_ros.runtime.backends.onnxruntime import OnnxRuntimeBackend
from tcvads_ros.runtime.bundle import MANIFEST, TEXT_TABLE, Bundle
from tcvads_ros.runtime.fine import class_text, classify_clip
from tcvads_ros.runtime.frames import Frame
from tcvads_ros.training import bundle_edit
from tcvads_ros.training.export import export_bundle, load_run
from tcvads_ros.training.run_folder import RunFolder


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """(run folder, pristine bundle folder) of a tiny real run."""
    root = tmp_path_factory.mktemp("edit")
    run = make_tiny_run(root / "run")
    graphs, table, manifest = load_run(run)
    export_bundle(graphs, table, manifest, root / "bundle")
    return run, root / "bundle"


@pytest.fixture
def bundle_dir(exported, tmp_path):
    target = tmp_path / "bundle"
    shutil.copytree(exported[1], target)
    return target


def fine_stage(run, class_names, captions):
    """The run's FineStage with other class names / captions, built as training builds it."""
    info = RunFolder(run, writable=False).info("fine")
    model = create_model(info.model, **info.config, class_names=class_names, captions=captions)
    model.load_state_dict(RunFolder(run, writable=False).load_model_state("fine"))
    return model.eval()


def edit(*argv, code=0, capsys=None):
    assert main(["bundle", *map(str, argv)]) == code
    return capsys.readouterr() if capsys is not None else None


def files_of(folder):
    return {p.name: p.read_bytes() for p in folder.iterdir()}


def test_added_class_row_is_the_fine_stage_text_side(exported, bundle_dir, capsys):
    run, _ = exported
    before = Bundle.load(bundle_dir)
    mode = bundle_dir.stat().st_mode
    out = edit("add-class", bundle_dir, "Climbing", "--prompt", "person climbing the fence", capsys=capsys).out
    assert "add-class done; 4 classes" in out and "verified" in out
    after = Bundle.load(bundle_dir)
    assert bundle_dir.stat().st_mode == mode  # the folder keeps its permissions
    assert after.class_names == [*CLASSES, "Climbing"]
    assert after.manifest.class_prompts == {"Climbing": "person climbing the fence"}
    table = after.text_table["class_caption"]
    np.testing.assert_array_equal(table[:3], before.text_table["class_caption"])  # old rows untouched
    np.testing.assert_array_equal(after.text_table["captions"], before.text_table["captions"])
    # independently: the FineStage trained with that label computes, by its own edge rule
    # (FineStage.text_features, the training-time path), what the runtime reads from the table
    model = fine_stage(run, [*CLASSES, "person climbing the fence"], CAPTIONS)
    with torch.no_grad():
        for picked in ([0], [3], [1, 4]):
            want = model.text_features(torch.tensor(picked))[-1].numpy()
            got = class_text(table, np.array(picked))[-1]
            np.testing.assert_allclose(got, want, atol=1e-5)
    record = after.manifest.edits[-1]
    assert record["command"] == "add-class" and record["class"] == "Climbing"
    assert record["run"] == str(run.resolve()) and record["rows_check"] < 1e-5


def test_added_class_appears_in_explanations(exported, bundle_dir, tmp_path, capsys):
    # A class whose prompt is Fighting's has Fighting's rows: its score equals Fighting's, and once
    # Fighting is removed it takes Fighting's place, whatever the (untrained) model prefers.
    edit("add-class", bundle_dir, "Brawl", "--prompt", "Fighting")
    bundle = Bundle.load(bundle_dir)
    np.testing.assert_array_equal(bundle.text_table["class_caption"][-1], bundle.text_table["class_caption"][1])
    rng = np.random.default_rng(0)
    frames = [Frame(rng.integers(0, 256, (48, 64, 3), dtype=np.uint8), i / 25, i * 16) for i in range(4)]
    backend = OnnxRuntimeBackend(bundle)
    result = classify_clip(bundle, backend, frames)
    assert set(result.class_scores) == {*CLASSES, "Brawl"}
    assert result.class_scores["Brawl"] == pytest.approx(result.class_scores["Fighting"], abs=1e-6)
    assert sum(result.class_scores.values()) == pytest.approx(1.0, abs=1e-4)

    # every class but Normal and Brawl removed: a detect run names Brawl or Normal, with both scored
    edit("remove-class", bundle_dir, "Fighting")
    edit("remove-class", bundle_dir, "Explosion")
    video = write_recording(tmp_path / "v.avi", "mjpeg", 25.0, (96, 128), 160, bright=[(40, 120)])
    events = tmp_path / "events.jsonl"
    assert main(["detect", str(video), "--bundle", str(bundle_dir), "--backend", "onnxruntime",
                 "--events", str(events), "--threshold", "0", "--quiet"]) == 0
    explanation = next(json.loads(line) for line in events.read_text().splitlines()
                       if json.loads(line)["record_type"] == "explanation")
    assert set(explanation["class_scores"]) == {"Normal", "Brawl"}
    assert explanation["category"] == max(explanation["class_scores"], key=explanation["class_scores"].get)


def test_exported_and_edited_bundles_are_ordinary_folders(exported, tmp_path):
    import os

    umask = os.umask(0)
    os.umask(umask)
    assert exported[1].stat().st_mode & 0o777 == 0o777 & ~umask  # not mkdtemp's private 0700


def test_remove_and_rename_round_trip(exported, bundle_dir):
    original = Bundle.load(bundle_dir)
    edit("add-class", bundle_dir, "Climbing")
    edit("remove-class", bundle_dir, "Climbing")
    back = Bundle.load(bundle_dir)
    assert back.class_names == original.class_names and back.manifest.class_prompts == {}
    for key in ("class_caption", "captions"):
        np.testing.assert_array_equal(back.text_table[key], original.text_table[key])
    assert [e["command"] for e in back.manifest.edits] == ["add-class", "remove-class"]

    # rename recomputes the rows from the new name; renaming back gives the exported rows again
    edit("rename-class", bundle_dir, "Explosion", "Blast")
    renamed = Bundle.load(bundle_dir)
    assert renamed.class_names == ["Normal", "Fighting", "Blast"]
    assert np.abs(renamed.text_table["class_caption"][2] - original.text_table["class_caption"][2]).max() > 1e-3
    edit("rename-class", bundle_dir, "Blast", "Explosion")
    np.testing.assert_allclose(Bundle.load(bundle_dir).text_table["class_caption"],
                               original.text_table["class_caption"], atol=1e-5)

    # --keep-rows changes only the name shown, and records the text the rows were made from
    rows = Bundle.load(bundle_dir).text_table["class_caption"]
    edit("rename-class", bundle_dir, "Fighting", "Fight", "--keep-rows")
    kept = Bundle.load(bundle_dir)
    assert kept.class_names == ["Normal", "Fight", "Explosion"]
    assert kept.manifest.class_prompts == {"Fight": "Fighting"}
    np.testing.assert_array_equal(kept.text_table["class_caption"], rows)
    edit("rename-class", bundle_dir, "Fight", "Fighting", "--keep-rows")
    assert Bundle.load(bundle_dir).manifest.class_prompts == {}


def test_added_captions_are_retrievable_and_rowed(exported, bundle_dir):
    run, _ = exported
    edit("add-caption", bundle_dir, "a person climbing over a fence", "a  ladder against a wall")
    bundle = Bundle.load(bundle_dir)
    captions = [*CAPTIONS, "a person climbing over a fence", "a ladder against a wall"]
    assert bundle.captions == captions
    model = fine_stage(run, CLASSES, captions)
    with torch.no_grad():
        np.testing.assert_allclose(bundle.text_table["captions"], model.caption_embeddings().numpy(), atol=1e-5)
        np.testing.assert_allclose(bundle.text_table["class_caption"], model.class_caption_table().numpy(),
                                   atol=1e-5)


@pytest.mark.parametrize(("argv", "message"), [
    (["add-class", "{b}", "fighting"], "already has a class 'Fighting'"),
    (["add-class", "{b}", "   "], "must not be empty"),
    (["add-class", "{b}", "Climbing", "--prompt", ""], "--prompt must not be empty"),
    (["remove-class", "{b}", "Climbing"], "no class 'Climbing'"),
    (["remove-class", "{b}", "Normal"], "the first class is the normal class"),
    (["rename-class", "{b}", "Riot", "Crowd"], "no class 'Riot'"),
    (["rename-class", "{b}", "Fighting", "explosion"], "already has a class 'Explosion'"),
    (["add-caption", "{b}", "People fighting"], "repeats an earlier one"),
    (["add-class", "{b}", "Climbing", "--run", "{missing}"], "training run folder not found"),
])
def test_bad_edits_are_refused_and_change_nothing(bundle_dir, tmp_path, capsys, argv, message):
    before = files_of(bundle_dir)
    argv = [a.format(b=bundle_dir, missing=tmp_path / "nowhere") for a in argv]
    err = edit(*argv, code=2, capsys=capsys).err
    assert message in err and err.startswith("tcvads bundle: error:")
    assert files_of(bundle_dir) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bundle"]  # no temporary folders left


def test_a_run_that_did_not_make_the_bundle_is_refused(bundle_dir, tmp_path, capsys):
    torch.manual_seed(1234)
    other = make_tiny_run(tmp_path / "other")  # same configuration, other random context and CLIP
    before = files_of(bundle_dir)
    err = edit("add-class", bundle_dir, "Climbing", "--run", other, code=2, capsys=capsys).err
    assert "does not reproduce the text table" in err and "source_run" in err
    assert files_of(bundle_dir) == before


def test_damaged_inputs_are_clear_errors(exported, bundle_dir, tmp_path, capsys):
    # a corrupt bundle is refused before anything is computed
    table = bundle_dir / TEXT_TABLE
    table.write_bytes(table.read_bytes()[:-8] + b"\0" * 8)
    assert "sha256 does not match" in edit("add-class", bundle_dir, "X", code=2, capsys=capsys).err
    assert "bundle folder not found" in edit("remove-class", tmp_path / "nope", "X", code=2, capsys=capsys).err
    # a run folder without the fine stage's weights
    broken = tmp_path / "run"
    shutil.copytree(exported[0], broken)
    (broken / "fine.safetensors").unlink()
    shutil.copytree(exported[1], tmp_path / "b2")
    err = edit("add-class", tmp_path / "b2", "X", "--run", broken, code=2, capsys=capsys).err
    assert "checkpoint not found" in err


def test_a_fine_stage_with_a_context_per_class_is_refused(exported, bundle_dir, tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(exported[0], run)
    info = json.loads((run / "fine.json").read_text())
    info["config"]["class_ctx"] = True  # the prompt ablation: no learned context for a new label
    (run / "fine.json").write_text(json.dumps(info))
    err = edit("add-class", bundle_dir, "Climbing", "--run", run, code=2, capsys=capsys).err
    assert "context per class" in err


def test_failure_or_ctrl_c_before_the_swap_leaves_the_bundle(bundle_dir, tmp_path, monkeypatch):
    before = files_of(bundle_dir)

    def interrupted(*_):
        raise KeyboardInterrupt

    monkeypatch.setattr(bundle_edit, "_try_temporal", interrupted)
    assert main(["bundle", "add-class", str(bundle_dir), "Climbing"]) == 130
    assert files_of(bundle_dir) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bundle"]


def test_an_edit_cut_off_mid_swap_is_reported(bundle_dir, capsys):
    backup = bundle_edit.backup_path(bundle_dir)
    bundle_dir.rename(backup)  # as if power failed between the two renames
    err = edit("remove-class", bundle_dir, "Explosion", code=2, capsys=capsys).err
    assert "cut off" in err and str(backup) in err


def test_bundles_with_a_fixed_class_count_must_be_re_exported(bundle_dir, capsys):
    import onnx

    path = bundle_dir / "fine_temporal.onnx"
    model = onnx.load(str(path))
    model.graph.input[1].type.tensor_type.shape.dim[0].dim_value = 3  # as exports before format 2
    onnx.save(model, str(path))
    manifest = json.loads((bundle_dir / MANIFEST).read_text())
    from tcvads_ros.runtime.bundle import sha256

    manifest["files"]["fine_temporal.onnx"] = sha256(path)
    (bundle_dir / MANIFEST).write_text(json.dumps(manifest))
    err = edit("add-class", bundle_dir, "Climbing", code=2, capsys=capsys).err
    assert "exported for exactly 3 classes" in err and "re-export" in err
    edit("add-caption", bundle_dir, "a ladder")  # the class count stays: fine


def test_show_lists_classes_and_edits(bundle_dir, capsys):
    edit("add-class", bundle_dir, "Climbing", "--prompt", "person climbing the fence")
    out = edit("show", bundle_dir, capsys=capsys).out
    assert "class Climbing  (prompt: person climbing the fence)" in out and '"command": "add-class"' in out


def test_a_link_to_a_bundle_edits_the_folder_it_points_to(bundle_dir, tmp_path, monkeypatch):
    link = tmp_path / "current"
    link.symlink_to(bundle_dir, target_is_directory=True)
    edit("add-class", link, "Climbing")
    assert link.is_symlink() and link.resolve() == bundle_dir.resolve()  # still the link
    assert "Climbing" in Bundle.load(bundle_dir).class_names
    monkeypatch.chdir(bundle_dir)
    edit("remove-class", ".", "Climbing")  # from inside the bundle
    assert "Climbing" not in Bundle.load(bundle_dir).class_names


def test_a_fine_stage_with_figure_3s_text_branch_is_not_exported(exported, tmp_path):
    """The bundle's fine_temporal graph takes one text per clip; a fine stage trained with
    per-snippet text through a text RWKV (fine.model.text_temporal) is refused, not exported
    into a bundle that would feed it other text than it was trained on."""
    from tcvads_ros.errors import BundleError

    run = tmp_path / "run"
    shutil.copytree(exported[0], run)
    folder = RunFolder(run)
    info = json.loads((run / "fine.json").read_text())
    model = create_model(info["model"], **{**info["config"], "text_temporal": True}, **info["model_args"])
    folder.save_model("fine", model, info["model"], to_mapping(model.cfg),
                      {k: v for k, v in info.items() if k not in ("model", "config")})
    with pytest.raises(BundleError, match="text_temporal"):
        load_run(run)
