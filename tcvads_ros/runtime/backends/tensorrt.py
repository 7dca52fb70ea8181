# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""TensorRT backend (TensorRT 10 Python API, cuda-python for memory and streams).

Engines are built from the bundle's ONNX graphs with an explicit precision and cached under a
key of (ONNX sha256, TensorRT version, GPU name, precision): a cached plan is reused while the
key holds; a new key builds a new plan; a plan that TensorRT cannot deserialize (e.g. written by
another TensorRT build under the same version string, or truncated) is rebuilt instead of crashing.
All TensorRT and CUDA calls run on one dedicated thread, whichever thread calls `run`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from tcvads_ros.errors import BundleError
from tcvads_ros.runtime.backends.base import Backend
from tcvads_ros.runtime.bundle import AUDIO_GRAPH, GRAPH_INPUTS, Bundle, Manifest

log = logging.getLogger(__name__)

PRECISIONS = ("fp32", "fp16")
AUDIO_BATCH = 8  # the most log-mel patches one coarse_audio call takes


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "tcvads_ros" / "tensorrt"


class EngineCache:
    """Plans on disk under a key; `load_or_build` reuses, rebuilds on key change or bad plan.

    `build(onnx_path) -> bytes` and `deserialize(plan) -> engine | None` are injected, so the
    cache logic is tested without TensorRT.
    """

    def __init__(self, folder: Path, trt_version: str, gpu_name: str, precision: str):
        if precision not in PRECISIONS:
            raise BundleError(f"TensorRT precision must be one of {PRECISIONS}, got '{precision}'")
        self.folder = Path(folder)
        self.trt_version, self.gpu_name, self.precision = trt_version, gpu_name, precision
        self.built = 0  # plans built by this cache object (diagnostics, tests)

    def key(self, onnx_sha256: str, profile: str = "") -> str:
        """`profile`: the optimisation profile's shapes; they come from the manifest, which an edit
        (`tcvads bundle add-class`) changes while the graph stays the same."""
        parts = [onnx_sha256, self.trt_version, self.gpu_name, self.precision] + ([profile] if profile else [])
        return hashlib.sha256("|".join(parts).encode()).hexdigest()[:24]

    def plan_path(self, graph: str, onnx_sha256: str, profile: str = "") -> Path:
        return self.folder / f"{graph}-{self.key(onnx_sha256, profile)}.plan"

    def load_or_build(
        self,
        graph: str,
        onnx_path: Path,
        onnx_sha256: str,
        build: Callable[[Path], bytes],
        deserialize: Callable[[bytes], Any],
        profile: str = "",
    ) -> Any:
        path = self.plan_path(graph, onnx_sha256, profile)
        if path.is_file():
            engine = _try_deserialize(deserialize, path.read_bytes())
            if engine is not None:
                return engine
            log.warning("%s: cached TensorRT plan does not deserialize here; rebuilding", path)
        log.info("building TensorRT engine for %s (%s); this takes a while once", graph, self.precision)
        plan = build(onnx_path)
        self.built += 1
        engine = _try_deserialize(deserialize, plan)
        if engine is None:
            raise BundleError(f"{onnx_path}: TensorRT built a plan it cannot load; check the TensorRT install")
        self.folder.mkdir(parents=True, exist_ok=True)
        for old in self.folder.glob(f"{graph}-*.plan"):  # plans under older keys are dead weight
            old.unlink(missing_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(plan)
        os.replace(tmp, path)
        info = {"onnx_sha256": onnx_sha256, "tensorrt": self.trt_version, "gpu": self.gpu_name,
                "precision": self.precision}
        path.with_suffix(".json").write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
        return engine


def _try_deserialize(deserialize: Callable[[bytes], Any], plan: bytes) -> Any:
    try:
        return deserialize(plan)
    except Exception as exc:  # TensorRT raises plain RuntimeError/TypeError on foreign plans
        log.warning("TensorRT could not deserialize the plan: %s", exc)
        return None


def profile_shapes(graph: str, manifest: Manifest) -> dict[str, tuple[tuple, tuple, tuple]]:
    """(min, opt, max) shapes of each input for the engine's optimisation profile."""
    h, w = manifest.coarse_input_size
    hc, wc = manifest.fine_input_size
    sizes = manifest.sizes()
    d, dc, c, win = sizes["qacm_dim"], manifest.fine_feature_dim, len(manifest.class_names), manifest.window
    t = manifest.fine_clip_snippets
    shapes = {
        "coarse_backbone": {"frames": ((1, h, w, 3),) * 3},
        "coarse_qacm": {"features": ((1, 1, d), (1, win, d), (1, win, d))},
        "fine_image": {"frames": ((1, hc, wc, 3), (t, hc, wc, 3), (t, hc, wc, 3))},
        "fine_temporal": {"features": ((1, t, dc),) * 3, "text": ((c, dc),) * 3},
    }
    if manifest.audio:  # one snippet's patch at a time (the pipeline), a few at most
        mel = (sizes["n_mels"], sizes["mel_frames"])
        shapes[AUDIO_GRAPH] = {"mel": ((1, *mel), (1, *mel), (AUDIO_BATCH, *mel))}
    return shapes[graph]


def _check(result: tuple) -> Any:
    """cuda-python calls return (error, value...); raise on an error."""
    err, *values = result
    if int(err) != 0:
        raise RuntimeError(f"CUDA error {err}")
    return values[0] if len(values) == 1 else tuple(values)


def _cudart():
    try:
        from cuda.bindings import runtime as cudart  # cuda-python >= 12.6
    except ImportError:
        from cuda import cudart  # older cuda-python
    return cudart


def gpu_available() -> bool:
    """TensorRT and cuda-python importable and at least one CUDA device visible."""
    import importlib.util

    if importlib.util.find_spec("tensorrt") is None:
        return False
    try:
        return _check(_cudart().cudaGetDeviceCount()) > 0
    except Exception:  # no cuda-python, no driver: no GPU for us
        return False


class TensorRTBackend(Backend):
    name = "tensorrt"

    def __init__(self, bundle: Bundle, device: str = "cuda", precision: str = "fp16",
                 cache_dir: Path | None = None, workspace_mb: int = 1024):
        super().__init__(bundle)
        self._precision = precision
        self._workspace = workspace_mb << 20
        # One thread owns every TensorRT and CUDA call (CUDA context, stream, engines).
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tensorrt")
        self._engines: dict[str, tuple[Any, Any]] = {}
        self._buffers: dict[str, tuple[int, int]] = {}  # tensor key -> (device pointer, bytes)
        self._thread.submit(self._init, device, cache_dir or default_cache_dir()).result()

    @property
    def providers(self) -> list[str]:
        return [f"TensorRT {self._trt.__version__} {self._precision} on {self._gpu}"]

    def _init(self, device: str, cache_dir: Path) -> None:
        import tensorrt as trt

        self._trt, self._cuda = trt, _cudart()
        index = int(device.split(":")[1]) if ":" in device else 0
        _check(self._cuda.cudaSetDevice(index))
        props = _check(self._cuda.cudaGetDeviceProperties(index))
        name = props.name
        self._gpu = (name.decode() if isinstance(name, bytes) else str(name)).strip("\x00 ")
        self._stream = _check(self._cuda.cudaStreamCreate())
        self._logger = trt.Logger(trt.Logger.WARNING)
        self._runtime = trt.Runtime(self._logger)
        self._cache = EngineCache(cache_dir, trt.__version__, self._gpu, self._precision)

    def load(self, graph_names) -> None:
        for name in graph_names:  # on the backend's own thread, as every CUDA call here
            self._thread.submit(self._engine, name).result()

    def _engine(self, graph: str) -> tuple[Any, Any]:
        if graph not in self._engines:
            engine = self._cache.load_or_build(
                graph, self.bundle.path(graph), self.bundle.sha256(graph),
                lambda path: self._build(graph, path), self._runtime.deserialize_cuda_engine,
                profile=repr(profile_shapes(graph, self.bundle.manifest)),
            )
            shapes = {"input": {}, "output": {}}
            for i in range(engine.num_io_tensors):
                name = engine.get_tensor_name(i)
                kind = "input" if engine.get_tensor_mode(name) == self._trt.TensorIOMode.INPUT else "output"
                shapes[kind][name] = tuple(engine.get_tensor_shape(name))  # -1: dynamic
            self.bundle.check_interface(graph, shapes["input"], shapes["output"])
            self._engines[graph] = (engine, engine.create_execution_context())
        return self._engines[graph]

    def _build(self, graph: str, onnx_path: Path) -> bytes:
        trt = self._trt
        builder = trt.Builder(self._logger)
        network = builder.create_network(0)  # explicit batch is the only mode in TensorRT 10
        parser = trt.OnnxParser(network, self._logger)
        if not parser.parse(onnx_path.read_bytes(), str(onnx_path)):
            errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
            raise BundleError(f"{onnx_path}: TensorRT cannot parse the graph: {errors}")
        config = builder.create_builder_config()
        config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, self._workspace)
        if self._precision == "fp16":
            config.set_flag(trt.BuilderFlag.FP16)
        profile = builder.create_optimization_profile()
        for name, (lo, opt, hi) in profile_shapes(graph, self.bundle.manifest).items():
            profile.set_shape(name, lo, opt, hi)
        config.add_optimization_profile(profile)
        plan = builder.build_serialized_network(network, config)
        if plan is None:
            raise BundleError(f"{onnx_path}: TensorRT failed to build an engine (see its log above)")
        return bytes(plan)

    def _device_buffer(self, key: str, nbytes: int) -> int:
        ptr, size = self._buffers.get(key, (0, 0))
        if size < nbytes:
            if ptr:
                _check(self._cuda.cudaFree(ptr))
            ptr = _check(self._cuda.cudaMalloc(max(nbytes, 1)))
            self._buffers[key] = (int(ptr), nbytes)
        return int(self._buffers[key][0])

    def _run(self, graph: str, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        trt, cuda = self._trt, self._cuda
        engine, context = self._engine(graph)
        h2d = cuda.cudaMemcpyKind.cudaMemcpyHostToDevice
        d2h = cuda.cudaMemcpyKind.cudaMemcpyDeviceToHost
        host = {}  # keeps the host arrays alive until the stream is synchronised
        for name in GRAPH_INPUTS[graph]:
            array = np.ascontiguousarray(inputs[name], dtype=trt.nptype(engine.get_tensor_dtype(name)))
            host[name] = array
            if not context.set_input_shape(name, array.shape):
                raise BundleError(f"{graph}: input '{name}' of shape {array.shape} is outside the engine's profile")
            ptr = self._device_buffer(f"{graph}/{name}", array.nbytes)
            _check(cuda.cudaMemcpyAsync(ptr, array.ctypes.data, array.nbytes, h2d, self._stream))
            context.set_tensor_address(name, ptr)
        outputs = {}
        for i in range(engine.num_io_tensors):
            name = engine.get_tensor_name(i)
            if engine.get_tensor_mode(name) != trt.TensorIOMode.OUTPUT:
                continue
            shape = tuple(context.get_tensor_shape(name))
            outputs[name] = np.empty(shape, dtype=trt.nptype(engine.get_tensor_dtype(name)))
            context.set_tensor_address(name, self._device_buffer(f"{graph}/{name}", outputs[name].nbytes))
        if not context.execute_async_v3(self._stream):
            raise RuntimeError(f"TensorRT execution of {graph} failed")
        for name, array in outputs.items():
            ptr = self._buffers[f"{graph}/{name}"][0]
            _check(cuda.cudaMemcpyAsync(array.ctypes.data, ptr, array.nbytes, d2h, self._stream))
        _check(cuda.cudaStreamSynchronize(self._stream))
        return {name: array.astype(np.float32, copy=False) for name, array in outputs.items()}

    def run(self, graph_name: str, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        self.check_inputs(graph_name, inputs)
        return self._thread.submit(self._run, graph_name, inputs).result()

    def _release(self) -> None:
        for ptr, _ in self._buffers.values():
            self._cuda.cudaFree(ptr)
        self._buffers.clear()
        self._engines.clear()
        self._cuda.cudaStreamDestroy(self._stream)

    def close(self) -> None:
        self._thread.submit(self._release).result()
        self._thread.shutdown()

