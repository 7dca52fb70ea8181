# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""torch backend: the reference. Runs the same graph modules that export writes to ONNX.

The runtime reads no training run: the modules are handed over by whoever loaded them, the
training side (`tcvads_ros.training.export.source_run_modules`: the training run the bundle was
exported from, for `tcvads detect --backend torch`), a benchmark or a test. Imports torch;
never used on the coarse edge path.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping

import numpy as np
import torch
from torch import nn

from tcvads_ros.errors import BundleError
from tcvads_ros.runtime.backends.base import Backend
from tcvads_ros.runtime.bundle import GRAPH_INPUTS, GRAPH_OUTPUTS, Bundle


def run_graph_module(module: nn.Module, graph: str, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Run one graph module on numpy inputs -> numpy outputs keyed by the bundle's tensor names."""
    device = next(module.parameters(), torch.empty(0)).device
    args = [torch.from_numpy(np.ascontiguousarray(inputs[name])).to(device) for name in GRAPH_INPUTS[graph]]
    with torch.no_grad():
        out = module(*args)
    out = out if isinstance(out, tuple) else (out,)
    return {name: o.detach().float().cpu().numpy() for name, o in zip(GRAPH_OUTPUTS[graph], out)}


class TorchBackend(Backend):
    name = "torch"

    def __init__(self, bundle: Bundle, device: str = "cpu", modules: Mapping[str, nn.Module] | None = None):
        super().__init__(bundle)
        if modules is None:
            raise BundleError(
                f"{bundle.root}: the torch backend runs the training run the bundle came from, and no "
                "caller handed its graph modules over (tcvads detect and tcvads calibrate load them from "
                f"the manifest's source_run, '{bundle.manifest.source_run}'); use --backend onnxruntime"
            )
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
            return run_graph_module(self._modules[graph_name], graph_name, inputs)
