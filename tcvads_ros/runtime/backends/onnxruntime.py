"""ONNX Runtime backend: the default where TensorRT is absent. CPU, or CUDA where present.

Sessions are created on first use of a graph, so a detector that never triggers the fine stage
never loads the CLIP image encoder.
"""

from __future__ import annotations

import logging
import os
import threading

import numpy as np
import onnxruntime as ort

from tcvads_ros.runtime.backends.base import Backend
from tcvads_ros.runtime.bundle import Bundle

log = logging.getLogger(__name__)


class OnnxRuntimeBackend(Backend):
    name = "onnxruntime"

    def __init__(self, bundle: Bundle, device: str = "cpu", threads: int | None = None):
        """Args:
        device: "cpu" or "cuda" ("cuda" falls back to CPU, with a warning, where ONNX Runtime
            has no CUDAExecutionProvider).
        threads: intra-op threads per session; default: the CPUs this process may use, at
            most 4 (the coarse graph is small, more threads only add synchronisation).
        """
        super().__init__(bundle)
        available = ort.get_available_providers()
        self._providers = ["CPUExecutionProvider"]
        if device.startswith("cuda"):
            if "CUDAExecutionProvider" in available:
                self._providers = ["CUDAExecutionProvider", "CPUExecutionProvider"]
            else:
                log.warning("ONNX Runtime has no CUDAExecutionProvider here; running on CPU")
        self._options = ort.SessionOptions()
        self._options.intra_op_num_threads = threads or min(4, len(os.sched_getaffinity(0)))
        self._options.inter_op_num_threads = 1
        self._options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self._sessions: dict[str, ort.InferenceSession] = {}
        self._lock = threading.Lock()

    @property
    def providers(self) -> list[str]:
        return list(self._providers)

    def session(self, graph_name: str) -> ort.InferenceSession:
        with self._lock:
            if graph_name not in self._sessions:
                self._sessions[graph_name] = ort.InferenceSession(
                    str(self.bundle.path(graph_name)), self._options, providers=self._providers
                )
            return self._sessions[graph_name]

    def run(self, graph_name: str, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        self.check_inputs(graph_name, inputs)
        session = self.session(graph_name)
        names = [o.name for o in session.get_outputs()]
        return dict(zip(names, session.run(names, inputs)))

    def close(self) -> None:
        with self._lock:
            self._sessions.clear()
