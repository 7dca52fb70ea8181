# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""Bundles: export writes a bundle that loads, and every kind of damage is refused clearly."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import onnx
import pytest
from tiny_bundle import make_tiny_bundle, tiny_graphs, tiny_manifest, tiny_text_table

from tcvads_ros.configuration import from_mapping
from tcvads_ros.errors import BundleError
from tcvads_ros.runtime.backends.onnxruntime import OnnxRuntimeBackend
from tcvads_ros.runtime.bundle import (
    FORMAT_VERSION,
    GRAPH_FILES,
    MANIFEST,
    TEXT_TABLE,
    Bundle,
    Manifest,
    sha256,
    write_manifest,
)
from tcvads_ros.training.export import ATOL, RTOL, export_bundle, sample_inputs, tolerance


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    return make_tiny_bundle(tmp_path_factory.mktemp("bundle") / "b")[0]


@pytest.fixture
def copy(bundle, tmp_path):
    target = tmp_path / "copy"
    shutil.copytree(bundle.root, target)
    return target


def _manifest(path):
    return json.loads((path / MANIFEST).read_text())


def _rewrite(path, **changes):
    data = _manifest(path)
    data.update(changes)
    (path / MANIFEST).write_text(json.dumps(data))


def test_export_writes_a_verified_bundle(bundle):
    names = {p.name for p in bundle.root.iterdir()}
    assert names == set(GRAPH_FILES.values()) | {TEXT_TABLE, MANIFEST}
    m = bundle.manifest
    assert m.format_version == FORMAT_VERSION
    assert set(m.files) == names - {MANIFEST}
    assert all(m.files[n] == sha256(bundle.root / n) for n in m.files)
    assert m.versions["opset"] >= 17 and "onnxruntime" in m.versions and "tcvads_ros" in m.versions
    assert set(m.export_check) == set(GRAPH_FILES)
    assert max(m.export_check.values()) <= 1e-3
    assert bundle.text_table["class_caption"].shape == (3, 5, 12)
    assert bundle.class_names == ["Normal", "Fighting", "Explosion"]
    assert Bundle.load(bundle.root).manifest == m


def test_graph_tensor_names_follow_the_architecture(bundle):
    model = onnx.load(str(bundle.path("coarse_backbone")))
    assert [i.name for i in model.graph.input] == ["frames"]
    assert [o.name for o in model.graph.output] == ["features", "cam"]
    assert model.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.UINT8


def test_missing_folder_and_manifest(tmp_path):
    with pytest.raises(BundleError, match="bundle folder not found"):
        Bundle.load(tmp_path / "nope")
    with pytest.raises(BundleError, match="manifest missing.*tcvads export"):
        Bundle.load(tmp_path)


def test_missing_file(copy):
    (copy / "fine_image.onnx").unlink()
    with pytest.raises(BundleError, match=r"fine_image\.onnx: file missing"):
        Bundle.load(copy)


def test_hash_mismatch(copy):
    with open(copy / "coarse_qacm.onnx", "ab") as f:
        f.write(b"\0")
    with pytest.raises(BundleError, match=r"coarse_qacm\.onnx: sha256 does not match"):
        Bundle.load(copy)


def test_newer_format_version(copy):
    _rewrite(copy, format_version=FORMAT_VERSION + 1)
    with pytest.raises(BundleError, match="newer than this tcvads_ros reads.*upgrade"):
        Bundle.load(copy)


def test_broken_manifest(copy):
    (copy / MANIFEST).write_text("{not json")
    with pytest.raises(BundleError, match="not valid JSON"):
        Bundle.load(copy)
    (copy / MANIFEST).write_text(json.dumps({"format_version": 1, "window": "eight"}))
    with pytest.raises(BundleError, match="window"):
        Bundle.load(copy)


def test_unlisted_graph(copy):
    data = _manifest(copy)
    del data["files"]["fine_temporal.onnx"]
    (copy / MANIFEST).write_text(json.dumps(data))
    with pytest.raises(BundleError, match="fine_temporal.onnx not listed"):
        Bundle.load(copy)


def test_wrong_class_count_vs_table(copy):
    _rewrite(copy, class_names=["Normal", "Fighting", "Explosion", "Riot"])
    with pytest.raises(BundleError, match=r"class_caption.*\(3, 5, 12\).*4 class names"):
        Bundle.load(copy)


def test_wrong_tensor_name(copy):
    model = onnx.load(str(copy / "coarse_qacm.onnx"))
    old = model.graph.output[0].name
    model.graph.output[0].name = "logits"
    for node in model.graph.node:
        node.output[:] = ["logits" if o == old else o for o in node.output]
    onnx.save(model, str(copy / "coarse_qacm.onnx"))
    write_manifest(copy, from_mapping(Manifest, _manifest(copy)))  # hashes fit again
    # Graphs are checked when a backend first opens them, not by Bundle.load (which opens none).
    backend = OnnxRuntimeBackend(Bundle.load(copy), threads=1)
    with pytest.raises(BundleError, match=r"coarse_qacm\.onnx: output tensors are \['logits'\].*\['scores'\]"):
        backend.session("coarse_qacm")


def test_wrong_input_size(copy):
    _rewrite(copy, coarse_input_size=[64, 64])
    backend = OnnxRuntimeBackend(Bundle.load(copy), threads=1)
    with pytest.raises(BundleError, match=r"coarse_backbone\.onnx: input 'frames' axis 1 is 32, the manifest needs 64"):
        backend.run("coarse_backbone", {"frames": np.zeros((1, 64, 64, 3), np.uint8)})


def test_unloadable_graph_is_refused_at_first_use(copy):
    (copy / "fine_image.onnx").write_bytes(b"not a graph")
    write_manifest(copy, from_mapping(Manifest, _manifest(copy)))
    backend = OnnxRuntimeBackend(Bundle.load(copy), threads=1)
    backend.session("coarse_backbone")  # the other graphs still open
    with pytest.raises(BundleError, match=r"fine_image\.onnx: not a loadable ONNX graph.*re-export"):
        backend.session("fine_image")


def test_each_graph_is_opened_once_and_only_when_used(bundle, monkeypatch):
    import onnxruntime as ort

    opened = []
    real = ort.InferenceSession

    def counting(path, *args, **kwargs):
        opened.append(Path(path).name)
        return real(path, *args, **kwargs)

    monkeypatch.setattr(ort, "InferenceSession", counting)
    loaded = Bundle.load(bundle.root)
    assert opened == []  # loading verifies hashes and the text table, and opens no graph
    backend = OnnxRuntimeBackend(loaded, threads=1)
    inputs = sample_inputs(loaded.manifest)
    for _ in range(3):
        backend.run("coarse_backbone", inputs["coarse_backbone"])
        backend.run("coarse_qacm", inputs["coarse_qacm"])
    assert opened == ["coarse_backbone.onnx", "coarse_qacm.onnx"]


def test_tolerance_scales_with_the_outputs():
    # float32 rounding grows with the values: features of magnitude 5 may differ by more than
    # probabilities in [0, 1] may (the smoke run's backbone: 8.5e-4 between two float32 runs)
    assert tolerance({"p": np.array([0.2, 1.0])}) == pytest.approx(ATOL + RTOL)
    assert tolerance({"f": np.array([[-5.0, 2.0]]), "cam": np.zeros((1, 2, 2))}) == pytest.approx(ATOL + 5 * RTOL)
    assert 8.47e-4 <= tolerance({"f": np.array([5.0])}) and tolerance({"p": np.array([1.0])}) < 2e-3


@pytest.mark.parametrize("existing", [False, True])
def test_export_refuses_a_graph_that_disagrees_with_torch_and_leaves_nothing(tmp_path, monkeypatch, existing):
    import tcvads_ros.training.export as export

    manifest = tiny_manifest()
    real = export.run_graph_module

    def skewed(module, graph, inputs):  # torch's reference off by 1 % of the largest output
        out = real(module, graph, inputs)
        if graph != "coarse_qacm":
            return out
        return {k: v + 0.01 * max(1.0, float(np.abs(v).max())) for k, v in out.items()}

    out = tmp_path / "b"
    if existing:
        out.mkdir()
        (out / "old.txt").write_text("the bundle a failed --overwrite must keep")
    monkeypatch.setattr(export, "run_graph_module", skewed)
    with pytest.raises(BundleError, match=r"b/coarse_qacm\.onnx: ONNX Runtime differs from torch by 1\.0+e-02"):
        export_bundle(tiny_graphs(manifest), tiny_text_table(manifest), manifest, out, overwrite=existing)
    assert sorted(p.name for p in tmp_path.iterdir()) == (["b"] if existing else [])
    if existing:
        assert [p.name for p in out.iterdir()] == ["old.txt"]


def test_export_overwrites_when_asked(bundle, tmp_path):
    manifest = tiny_manifest()
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "notes.txt").write_text("old")
    new = export_bundle(tiny_graphs(manifest), tiny_text_table(manifest), manifest, tmp_path / "b", overwrite=True)
    assert not (tmp_path / "b" / "notes.txt").exists() and new.root == tmp_path / "b"
    assert [p.name for p in tmp_path.iterdir()] == ["b"]


def test_export_will_not_overwrite_by_accident(bundle, tmp_path):
    manifest = tiny_manifest()
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "notes.txt").write_text("mine")
    with pytest.raises(BundleError, match="not empty.*--overwrite"):
        export_bundle(tiny_graphs(manifest), tiny_text_table(manifest), manifest, tmp_path / "b")
    assert (tmp_path / "b" / "notes.txt").read_text() == "mine"


def test_text_table_is_float32_and_read_without_torch(bundle):
    table = bundle.text_table
    assert table["captions"].dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(table["captions"], axis=-1), 1.0, atol=1e-5)


def test_a_bundle_with_sound_holds_the_audio_graph_and_its_qacm_reads_both_features(tmp_path):
    from tiny_bundle import TINY_AUDIO

    from tcvads_ros.runtime.audio_features import AudioSpec
    from tcvads_ros.runtime.backends import create_backend
    from tcvads_ros.runtime.bundle import AUDIO_FILE, AUDIO_GRAPH

    bundle, _ = make_tiny_bundle(tmp_path / "b", audio=TINY_AUDIO.to_dict())
    assert bundle.audio == TINY_AUDIO and isinstance(bundle.audio, AudioSpec)
    assert AUDIO_FILE in bundle.manifest.files and AUDIO_GRAPH in bundle.coarse_graphs
    assert bundle.manifest.model_card == {} or AUDIO_FILE in bundle.manifest.model_card["graphs"]
    backend = create_backend("onnxruntime", bundle)
    mel = np.full((3, TINY_AUDIO.n_mels, TINY_AUDIO.mel_frames), -6.0, np.float32)
    assert backend.run(AUDIO_GRAPH, {"mel": mel})["features"].shape == (3, TINY_AUDIO.embedding_dim)
    width = bundle.manifest.feature_dim + TINY_AUDIO.embedding_dim
    scores = backend.run("coarse_qacm", {"features": np.zeros((1, 5, width), np.float32)})["scores"]
    assert scores.shape == (1, 5)
    # The audio graph is part of what the manifest vouches for: removing it is refused.
    (tmp_path / "b" / AUDIO_FILE).unlink()
    with pytest.raises(BundleError, match="coarse_audio.onnx"):
        Bundle.load(tmp_path / "b")


def test_a_bundle_without_sound_has_no_audio_graph(bundle):
    from tcvads_ros.runtime.bundle import AUDIO_GRAPH, COARSE_GRAPHS

    assert bundle.audio is None and bundle.coarse_graphs == COARSE_GRAPHS
    assert AUDIO_GRAPH not in bundle.graphs
