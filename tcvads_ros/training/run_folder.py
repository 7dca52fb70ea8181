"""The run folder: checkpoints, logs and metadata of one training run (layout in train.py).

Only the process of rank 0 writes (under torchrun every process holds a `RunFolder`, the others
are read-only). Checkpoints are safetensors plus a small JSON that names the model and its
config so `create_model(name, **config)` rebuilds it (export reads it); optimiser state for
`--resume` is a second safetensors file. Nothing is ever unpickled.
"""

from __future__ import annotations

import json
import os
import random
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from tcvads_ros.errors import DataError


def seed_everything(seed: int) -> None:
    """Same seed on the same CPU -> the same numbers (deterministic algorithms where they exist)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")


def pick_device(name: str) -> torch.device:
    """``auto`` -> this process's CUDA device when available (LOCAL_RANK under torchrun), else CPU."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda":
        if not torch.cuda.is_available():
            raise DataError("device 'cuda' was asked for but CUDA is not available; use device=cpu")
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
    return torch.device(name)


def init_distributed(device: torch.device) -> tuple[int, int]:
    """Join the torchrun process group when WORLD_SIZE > 1; returns (rank, world_size)."""
    world = int(os.environ.get("WORLD_SIZE", 1))
    if world <= 1:
        return 0, 1
    import torch.distributed as dist

    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
        if device.type == "cuda":
            torch.cuda.set_device(device)
    return dist.get_rank(), world


def _json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise DataError(f"{path}: cannot read JSON ({exc})") from exc


def _flatten_state(prefix: str, value: Any, tensors: dict, meta: dict) -> None:
    """Optimizer state dicts hold tensors and plain numbers: tensors go to safetensors, the rest to JSON."""
    if isinstance(value, torch.Tensor):
        tensors[prefix] = value.detach().cpu().contiguous()
    elif isinstance(value, Mapping):
        for k, v in value.items():
            _flatten_state(f"{prefix}/{k}", v, tensors, meta)
    elif isinstance(value, (list, tuple)):
        meta[prefix] = {"list": len(value)}
        for i, v in enumerate(value):
            _flatten_state(f"{prefix}/{i}", v, tensors, meta)
    else:
        meta[prefix] = {"value": value}


def _unflatten_state(tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> Any:
    root: dict = {}
    leaves = {k: ("t", v) for k, v in tensors.items()}
    leaves.update({k: ("v", v["value"]) for k, v in meta.items() if "value" in v})
    lists = {k for k, v in meta.items() if "list" in v}
    for key, (_, value) in leaves.items():
        node = root
        parts = key.split("/")[1:]
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    for key in lists:  # empty lists have no leaves
        node = root
        for part in key.split("/")[1:]:
            node = node.setdefault(part, {})

    def fix(node: Any, key: str) -> Any:
        if not isinstance(node, dict):
            return node
        if key in lists:
            return [fix(node[str(i)], f"{key}/{i}") for i in range(meta[key]["list"])]
        return {_key(k): fix(v, f"{key}/{k}") for k, v in node.items()}

    return fix(root, "optim")


def _key(k: str) -> Any:
    # optimizer state is keyed by parameter index (int); param_groups by name (str)
    return int(k) if k.isdigit() else k


class RunFolder:
    """Paths and writers of one run folder; `writable` is False on ranks other than 0."""

    def __init__(self, root: str | Path, writable: bool = True):
        self.root = Path(root)
        self.writable = writable
        if writable:
            self.root.mkdir(parents=True, exist_ok=True)
        self._tensorboard = None

    def path(self, name: str) -> Path:
        return self.root / name

    # --- metadata -----------------------------------------------------------------------
    def write_json(self, name: str, data: Any) -> None:
        if self.writable:
            tmp = self.path(name + ".tmp")
            tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
            tmp.replace(self.path(name))

    def read_json(self, name: str) -> Any:
        return _json(self.path(name))

    def log_metrics(self, stage: str, epoch: int, metrics: Mapping[str, float]) -> None:
        """One line per epoch in metrics.jsonl, and the same scalars in TensorBoard."""
        if not self.writable:
            return
        record = {"stage": stage, "epoch": epoch, **{k: float(v) for k, v in metrics.items()}}
        with open(self.path("metrics.jsonl"), "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")
        writer = self.tensorboard()
        for key, value in metrics.items():
            writer.add_scalar(f"{stage}/{key}", float(value), epoch)
        writer.flush()

    def tensorboard(self):
        if self._tensorboard is None:
            from torch.utils.tensorboard import SummaryWriter

            self._tensorboard = SummaryWriter(str(self.path("tensorboard")))
        return self._tensorboard

    def close(self) -> None:
        if self._tensorboard is not None:
            self._tensorboard.close()
            self._tensorboard = None

    # --- checkpoints --------------------------------------------------------------------
    def save_model(self, stage: str, model: torch.nn.Module, model_name: str, model_config: Mapping,
                   extra: Mapping[str, Any] | None = None) -> None:
        """``<stage>.safetensors`` (weights) + ``<stage>.json`` (create_model name, config, extra)."""
        if not self.writable:
            return
        self.save_state(stage, model.state_dict(), {"model": model_name})
        self.write_json(f"{stage}.json", {"model": model_name, "config": dict(model_config), **(extra or {})})

    def save_state(self, name: str, state: Mapping[str, torch.Tensor], metadata: dict | None = None) -> None:
        """``<name>.safetensors``, written atomically."""
        if not self.writable:
            return
        tensors = {k: v.detach().cpu().contiguous() for k, v in state.items()}
        tmp = self.path(f"{name}.safetensors.tmp")
        save_file(tensors, str(tmp), metadata=metadata)
        tmp.replace(self.path(f"{name}.safetensors"))

    def load_model_state(self, stage: str) -> dict[str, torch.Tensor]:
        path = self.path(f"{stage}.safetensors")
        if not path.is_file():
            raise DataError(f"{path}: checkpoint not found (train the '{stage}' stage first)")
        return load_file(str(path))

    def save_training_state(self, stage: str, epoch: int, model: torch.nn.Module,
                            optimizer: torch.optim.Optimizer, extra: Mapping[str, Any] | None = None) -> None:
        """The last epoch's model + optimiser + RNG state, for --resume (``<stage>.last.*``)."""
        if not self.writable:
            return
        tensors = {f"model/{k}": v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
        meta: dict[str, Any] = {}
        _flatten_state("optim", optimizer.state_dict(), tensors, meta)
        tensors["rng/torch"] = torch.get_rng_state()
        tmp = self.path(f"{stage}.last.safetensors.tmp")
        save_file(tensors, str(tmp))
        tmp.replace(self.path(f"{stage}.last.safetensors"))
        self.write_json(f"{stage}.last.json", {"epoch": epoch, "optim": meta, **(extra or {})})

    def load_training_state(self, stage: str, model: torch.nn.Module,
                            optimizer: torch.optim.Optimizer) -> dict[str, Any] | None:
        """Restore what `save_training_state` wrote; None when there is nothing to resume."""
        path = self.path(f"{stage}.last.safetensors")
        if not path.is_file():
            return None
        info = self.read_json(f"{stage}.last.json")
        tensors = load_file(str(path))
        model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model/")})
        optim = {k: v for k, v in tensors.items() if k.startswith("optim/")}
        optimizer.load_state_dict(_unflatten_state(optim, info["optim"]))
        torch.set_rng_state(tensors["rng/torch"])
        return info
