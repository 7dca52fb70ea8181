"""torch backend: the reference. Runs the same graph modules that export writes to ONNX.

The modules come from the training run the bundle was exported from (`manifest.source_run`), or
are passed in directly (tests, development). Imports torch; never used on the coarse edge path.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import torch
from torch import nn

from tcvads_ros.errors import BundleError
from tcvads_ros.runtime.backends.base import Backend
from tcvads_ros.runtime.bundle import Bundle


class TorchBackend(Backend):
    name = "torch"

    def __init__(self, bundle: Bundle, device: str = "cpu", modules: Mapping[str, nn.Module] | None = None):
        super().__init__(bundle)
        from tcvads_ros.training.export import load_run, run_graph_module

        self._run_module = run_graph_module
        if modules is None:
            run_dir = Path(bundle.manifest.source_run)
            if not bundle.manifest.source_run or not run_dir.is_dir():
                raise BundleError(
                    f"{bundle.root}: the torch backend runs the training run the bundle came from, "
                    f"but '{bundle.manifest.source_run}' is not there; use --backend onnxruntime"
                )
            modules = load_run(run_dir)[0]
        self._device = torch.device(device)
        self._modules = {name: m.to(self._device).eval() for name, m in modules.items()}
        self._lock = threading.Lock()

    @property
    def providers(self) -> list[str]:
        return [f"torch {torch.__version__} on {self._device}"]

    @property
    def modules(self) -> Mapping[str, nn.Module]:
        """The graph modules it runs, by graph name (benchmarks count their FLOPs)."""
        return dict(self._modules)

    def run(self, graph_name: str, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        self.check_inputs(graph_name, inputs)
        with self._lock:
            return self._run_module(self._modules[graph_name], graph_name, inputs)
