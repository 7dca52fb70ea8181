# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""ONNX Runtime backend: the default where TensorRT is absent. CPU, or CUDA where present.

Each graph's session is created once, on its first use or at `load`, and its interface checked
then (`Bundle.check_interface`), so a detector that never triggers the fine stage never loads the
CLIP image encoder, while a node loads the graphs it runs before it takes frames.
"""

from __future__ import annotations

import logging
import os
import threading

import numpy as np
import onnxruntime as ort

from tcvads_ros.errors import BundleError
from tcvads_ros.runtime.backends.base import Backend
from tcvads_ros.runtime.bundle import Bundle

log = logging.getLogger(__name__)


class OnnxRuntimeBackend(Backend):
    name = "onnxruntime"

    def __init__(self, bundle: Bundle, device: str = "cpu", threads: int | None = None,
                 fine_threads: int = 1):
        """Args:
        device: "cpu" or "cuda" ("cuda" falls back to CPU, with a warning, where ONNX Runtime
            has no CUDAExecutionProvider).
        threads: intra-op threads of the coarse sessions; default: the CPUs this process may
            use, at most 4 (the coarse graph is small, more threads only add synchronisation).
        fine_threads: intra-op threads of the fine-stage sessions. One, without spin-waiting,
            by default: the fine stage runs beside the always-on coarse stage and must leave
            it the other cores (benchmarks/overload.py measures the effect).
        """
        super().__init__(bundle)
        available = ort.get_available_providers()
        self._providers = ["CPUExecutionProvider"]
        if device.startswith("cuda"):
            if "CUDAExecutionProvider" in available:
                self._providers = ["CUDAExecutionProvider", "CPUExecutionProvider"]
            else:
                log.warning("ONNX Runtime has no CUDAExecutionProvider here; running on CPU")
        self._options = cpu_session_options(threads, spin=True)
        self._fine_options = cpu_session_options(fine_threads, spin=False)
        self._sessions: dict[str, ort.InferenceSession] = {}
        self._lock = threading.Lock()

    @property
    def providers(self) -> list[str]:
        return list(self._providers)

    def session(self, graph_name: str) -> ort.InferenceSession:
        with self._lock:
            if graph_name not in self._sessions:
                options = self._fine_options if graph_name.startswith("fine") else self._options
                path = self.bundle.path(graph_name)
                try:
                    session = ort.InferenceSession(str(path), options, providers=self._providers)
                except Exception as exc:  # onnxruntime raises its own unexported exception types
                    raise BundleError(f"{path}: not a loadable ONNX graph ({exc}); re-export the bundle") from exc
                self.bundle.check_interface(graph_name, {a.name: a.shape for a in session.get_inputs()},
                                            {a.name: a.shape for a in session.get_outputs()})
                self._sessions[graph_name] = session
            return self._sessions[graph_name]

    def load(self, graph_names) -> None:
        for name in graph_names:
            self.session(name)

    def run(self, graph_name: str, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        self.check_inputs(graph_name, inputs)
        session = self.session(graph_name)
        names = [o.name for o in session.get_outputs()]
        return dict(zip(names, session.run(names, inputs)))

    def close(self) -> None:
        with self._lock:
            self._sessions.clear()


def usable_cores() -> int:
    """The cores this process may run on (its affinity mask: taskset, a container's cpuset)."""
    return len(os.sched_getaffinity(0))


def cpu_session_options(threads: int | None = None, spin: bool = True) -> ort.SessionOptions:
    """Session options for every ONNX Runtime session the package opens. ONNX Runtime's own
    default sizes its pool by the machine's cores, not the affinity mask, so a process pinned
    to fewer cores would run more threads than it may use; `threads` defaults to the usable
    cores, at most 4 (the graphs are small: more threads only add synchronisation)."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = min(threads or 4, usable_cores())
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # Idle pool threads spin-wait for the next run by default: good for the coarse stage's
    # latency, wasted cores for the rarely-run fine stage.
    options.add_session_config_entry("session.intra_op.allow_spinning", "1" if spin else "0")
    return options
