# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""Backends: ONNX Runtime agrees with the torch reference; TensorRT's engine cache logic."""

from __future__ import annotations

import numpy as np
import pytest
from tiny_bundle import make_tiny_bundle

from tcvads_ros.errors import BundleError, ConfigError
from tcvads_ros.runtime.backends import create_backend, resolve_kind
from tcvads_ros.runtime.backends.onnxruntime import OnnxRuntimeBackend
from tcvads_ros.runtime.backends.tensorrt import EngineCache, gpu_available, profile_shapes
from tcvads_ros.runtime.backends.torch import TorchBackend
from tcvads_ros.runtime.bundle import GRAPH_FILES, GRAPH_OUTPUTS
from tcvads_ros.training.export import sample_inputs


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return make_tiny_bundle(tmp_path_factory.mktemp("bundle") / "b")


@pytest.mark.parametrize("graph", list(GRAPH_FILES))
def test_onnxruntime_matches_torch(tiny, graph):
    bundle, graphs = tiny
    inputs = sample_inputs(bundle.manifest, seed=7)[graph]  # not the inputs export checked on
    if graph == "coarse_backbone":
        inputs = {"frames": np.concatenate([inputs["frames"]] * 2)}  # another batch size
    ort_out = create_backend("onnxruntime", bundle, threads=1).run(graph, inputs)
    torch_out = TorchBackend(bundle, modules=graphs).run(graph, inputs)
    assert set(ort_out) == set(torch_out) == set(GRAPH_OUTPUTS[graph])
    for name in ort_out:
        assert ort_out[name].shape == torch_out[name].shape
        assert np.std(torch_out[name]) > 1e-4, f"{graph}/{name} is constant: the comparison would be empty"
        np.testing.assert_allclose(ort_out[name], torch_out[name], rtol=0, atol=1e-4)


def test_qacm_window_grows_from_one(tiny):
    bundle, _ = tiny
    backend = OnnxRuntimeBackend(bundle, threads=1)
    features = np.random.default_rng(0).standard_normal((1, 5, bundle.manifest.feature_dim)).astype(np.float32)
    full = backend.run("coarse_qacm", {"features": features})["scores"]
    # causal: the scores of a prefix do not depend on what comes later
    prefix = backend.run("coarse_qacm", {"features": features[:, :3]})["scores"]
    np.testing.assert_allclose(prefix, full[:, :3], atol=1e-6)
    assert ((full > 0) & (full < 1)).all()


def test_backend_checks_names(tiny):
    backend = OnnxRuntimeBackend(tiny[0], threads=1)
    with pytest.raises(BundleError, match="unknown graph 'coarse'"):
        backend.run("coarse", {})
    with pytest.raises(BundleError, match=r"takes inputs \['features'\], got \['x'\]"):
        backend.run("coarse_qacm", {"x": np.zeros((1, 2, 16), np.float32)})


def test_onnxruntime_settings(tiny):
    backend = create_backend("onnxruntime", tiny[0], threads=2)
    assert backend.name == "onnxruntime"
    assert backend.providers == ["CPUExecutionProvider"]
    backend.run("coarse_qacm", sample_inputs(tiny[0].manifest)["coarse_qacm"])
    assert backend.session("coarse_qacm").get_session_options().intra_op_num_threads == 2
    cuda = OnnxRuntimeBackend(tiny[0], device="cuda")  # no CUDA provider here: CPU, not a crash
    assert cuda.providers[-1] == "CPUExecutionProvider"


def test_auto_and_unknown_kinds(tiny):
    expected = "tensorrt" if gpu_available() else "onnxruntime"
    assert resolve_kind("auto") == expected
    with pytest.raises(ConfigError, match="backend must be one of"):
        create_backend("openvino", tiny[0])


@pytest.mark.skipif(gpu_available(), reason="this machine has TensorRT and a GPU")
def test_tensorrt_missing_is_a_clear_error(tiny):
    with pytest.raises(ConfigError, match="needs TensorRT.*--backend onnxruntime"):
        create_backend("tensorrt", tiny[0])


def test_torch_backend_needs_its_training_run(tiny):
    with pytest.raises(BundleError, match="torch backend runs the training run"):
        create_backend("torch", tiny[0])


class FakeTensorRT:
    """Stands in for TensorRT's builder and runtime: plans are bytes naming the ONNX file."""

    def __init__(self, loadable: bool = True):
        self.builds = 0
        self.loadable = loadable

    def build(self, onnx_path):
        self.builds += 1
        return b"plan:" + onnx_path.name.encode()

    def deserialize(self, plan):
        if plan.startswith(b"plan:") and self.loadable:
            return ("engine", plan)
        return None


def _cache(tmp_path, version="10.3.0", gpu="Orin", precision="fp16"):
    return EngineCache(tmp_path / "engines", version, gpu, precision)


def test_engine_cache_reuses_a_plan(tmp_path):
    trt, onnx_path = FakeTensorRT(), tmp_path / "coarse_qacm.onnx"
    first = _cache(tmp_path).load_or_build("coarse_qacm", onnx_path, "aa" * 32, trt.build, trt.deserialize)
    again = _cache(tmp_path).load_or_build("coarse_qacm", onnx_path, "aa" * 32, trt.build, trt.deserialize)
    assert first == again == ("engine", b"plan:coarse_qacm.onnx")
    assert trt.builds == 1
    info = (tmp_path / "engines").glob("coarse_qacm-*.json")
    assert '"precision": "fp16"' in next(info).read_text()


@pytest.mark.parametrize("change", [
    {"version": "10.4.0"}, {"gpu": "RTX 4090"}, {"precision": "fp32"}, {"sha": "bb" * 32},
])
def test_engine_cache_rebuilds_on_a_key_change(tmp_path, change):
    trt, onnx_path = FakeTensorRT(), tmp_path / "g.onnx"
    _cache(tmp_path).load_or_build("g", onnx_path, "aa" * 32, trt.build, trt.deserialize)
    sha = change.pop("sha", "aa" * 32)
    _cache(tmp_path, **change).load_or_build("g", onnx_path, sha, trt.build, trt.deserialize)
    assert trt.builds == 2
    assert len(list((tmp_path / "engines").glob("g-*.plan"))) == 1  # the stale plan is removed


def test_engine_cache_rebuilds_for_another_profile(tmp_path):
    # the same graph, a bundle edited to another class count: a plan per optimisation profile
    trt, onnx_path = FakeTensorRT(), tmp_path / "fine_temporal.onnx"
    for profile in ("text (3, 12)", "text (4, 12)", "text (4, 12)"):
        _cache(tmp_path).load_or_build("fine_temporal", onnx_path, "aa" * 32, trt.build, trt.deserialize,
                                       profile=profile)
    assert trt.builds == 2


@pytest.mark.parametrize("damage", ["foreign", "raises"])
def test_engine_cache_rebuilds_a_plan_it_cannot_load(tmp_path, damage):
    trt, onnx_path = FakeTensorRT(), tmp_path / "g.onnx"
    cache = _cache(tmp_path)
    cache.load_or_build("g", onnx_path, "aa" * 32, trt.build, trt.deserialize)
    cache.plan_path("g", "aa" * 32).write_bytes(b"a plan from another TensorRT build")

    def deserialize(plan):
        if damage == "raises" and not plan.startswith(b"plan:"):
            raise RuntimeError("Serialization assertion failed: magic tag mismatch")
        return trt.deserialize(plan)

    engine = cache.load_or_build("g", onnx_path, "aa" * 32, trt.build, deserialize)
    assert engine == ("engine", b"plan:g.onnx") and trt.builds == 2
    assert cache.plan_path("g", "aa" * 32).read_bytes() == b"plan:g.onnx"


def test_engine_cache_refuses_a_fresh_plan_it_cannot_load(tmp_path):
    trt = FakeTensorRT(loadable=False)
    with pytest.raises(BundleError, match="built a plan it cannot load"):
        _cache(tmp_path).load_or_build("g", tmp_path / "g.onnx", "aa" * 32, trt.build, trt.deserialize)
    assert not list((tmp_path / "engines").glob("*.plan")) if (tmp_path / "engines").exists() else True


def test_engine_cache_refuses_an_unknown_precision(tmp_path):
    with pytest.raises(BundleError, match="precision must be one of"):
        _cache(tmp_path, precision="int4")


def test_profile_shapes_cover_the_pipeline(tiny):
    m = tiny[0].manifest
    qacm = profile_shapes("coarse_qacm", m)["features"]
    assert qacm[0] == (1, 1, m.feature_dim) and qacm[2] == (1, m.window, m.feature_dim)
    temporal = profile_shapes("fine_temporal", m)
    assert temporal["features"][0] == temporal["features"][2] == (1, m.fine_clip_snippets, m.fine_feature_dim)
    with pytest.raises(KeyError):
        profile_shapes("coarse_audio", m)  # no sound, no audio graph


def test_profile_shapes_of_a_bundle_with_sound(tmp_path):
    from tiny_bundle import TINY_AUDIO, tiny_manifest

    m = tiny_manifest(audio=TINY_AUDIO.to_dict())
    width = m.feature_dim + TINY_AUDIO.embedding_dim
    assert profile_shapes("coarse_qacm", m)["features"] == ((1, 1, width), (1, m.window, width), (1, m.window, width))
    mel = profile_shapes("coarse_audio", m)["mel"]
    assert mel[0] == mel[1] == (1, TINY_AUDIO.n_mels, TINY_AUDIO.mel_frames) and mel[2][0] >= 1


@pytest.mark.tensorrt
def test_tensorrt_matches_onnxruntime(tiny, tmp_path):
    bundle, _ = tiny
    trt_backend = create_backend("tensorrt", bundle, precision="fp32", cache_dir=tmp_path)
    ort_backend = OnnxRuntimeBackend(bundle, threads=1)
    for graph, inputs in sample_inputs(bundle.manifest, seed=3).items():
        if graph == "fine_image":
            inputs = {"frames": inputs["frames"][:1]}
        got, want = trt_backend.run(graph, inputs), ort_backend.run(graph, inputs)
        for name in want:
            np.testing.assert_allclose(got[name], want[name], atol=1e-3)
    trt_backend.close()
    again = create_backend("tensorrt", bundle, precision="fp32", cache_dir=tmp_path)
    again.run("coarse_qacm", sample_inputs(bundle.manifest)["coarse_qacm"])
    assert again._cache.built == 0  # the cached plan was reused
    again.close()


def test_no_session_runs_more_threads_than_the_cores_the_process_may_use(tmp_path):
    """Pinned to one core (taskset, a container's cpuset), the backend's coarse and fine sessions
    and export's check session start no thread beyond the caller's: ONNX Runtime's own default
    would size its pool by the machine's cores."""
    import subprocess
    import sys

    from tiny_bundle import make_tiny_bundle

    bundle = make_tiny_bundle(tmp_path / "b")[0]
    code = """
import os, sys
os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
import onnxruntime as ort
from tcvads_ros.runtime.backends.onnxruntime import OnnxRuntimeBackend, cpu_session_options
from tcvads_ros.runtime.bundle import Bundle
threads = lambda: len(os.listdir('/proc/self/task'))
before = threads()
bundle = Bundle.load(sys.argv[1])
backend = OnnxRuntimeBackend(bundle, threads=8)
for graph in ('coarse_backbone', 'coarse_qacm', 'fine_image', 'fine_temporal'):
    backend.session(graph)
check = ort.InferenceSession(str(bundle.path('coarse_qacm')), cpu_session_options())
print(threads() - before)
"""
    proc = subprocess.run([sys.executable, "-c", code, str(bundle.root)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert int(proc.stdout.split()[-1]) == 0, proc.stdout
