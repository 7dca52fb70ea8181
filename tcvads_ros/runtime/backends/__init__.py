# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""Inference backends behind one interface; `create_backend` picks and builds one.

`auto` picks TensorRT where it is importable and a GPU is visible, else ONNX Runtime. Each
backend module is imported only when chosen, so the ONNX Runtime path never imports TensorRT or
torch. The torch backend runs graph modules handed to it: the runtime reads no training run.
"""

from __future__ import annotations

import argparse
from typing import Any

from tcvads_ros.errors import ConfigError
from tcvads_ros.runtime.backends.base import Backend
from tcvads_ros.runtime.bundle import Bundle

BACKENDS = ("auto", "onnxruntime", "tensorrt", "torch")


def resolve_kind(kind: str) -> str:
    if kind not in BACKENDS:
        raise ConfigError(f"backend must be one of {', '.join(BACKENDS)}, got '{kind}'")
    if kind == "auto":
        from tcvads_ros.runtime.backends.tensorrt import gpu_available

        return "tensorrt" if gpu_available() else "onnxruntime"
    return kind


def create_backend(kind: str, bundle: Bundle, device: str = "cpu", **options: Any) -> Backend:
    """Build a backend. `options` go to the implementation (threads=, precision=, cache_dir=, ...)."""
    kind = resolve_kind(kind)
    if kind == "onnxruntime":
        from tcvads_ros.runtime.backends.onnxruntime import OnnxRuntimeBackend

        return OnnxRuntimeBackend(bundle, device=device, **options)
    if kind == "tensorrt":
        from tcvads_ros.runtime.backends.tensorrt import TensorRTBackend, gpu_available

        if not gpu_available():
            raise ConfigError(
                "backend 'tensorrt' needs TensorRT, cuda-python and an NVIDIA GPU; none found here "
                "(use --backend onnxruntime, or pip install 'tcvads_ros[tensorrt]' on a GPU machine)"
            )
        return TensorRTBackend(bundle, device="cuda" if device == "cpu" else device, **options)
    from tcvads_ros.runtime.backends.torch import TorchBackend

    return TorchBackend(bundle, device=device, **options)


def command_backend(args: argparse.Namespace, bundle: Bundle) -> Backend:
    """The backend a command's --backend and --device ask for. `torch` runs the graph modules
    that the entry point handed over as ``args.torch_modules(bundle)`` (cli.py loads them from
    the training side)."""
    options: dict[str, Any] = {}
    if args.backend == "torch" and getattr(args, "torch_modules", None) is not None:
        options["modules"] = args.torch_modules(bundle)
    return create_backend(args.backend, bundle, device=args.device, **options)


__all__ = ["BACKENDS", "Backend", "command_backend", "create_backend", "resolve_kind"]
