# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""The run folder: the one module that reads and writes what a training run leaves behind.

Layout (``tcvads train`` writes it; ``tcvads export``, ``tcvads evaluate`` and
``tcvads interpret`` read it)::

    RUN_DIR/
      config.yaml                   the resolved configuration (file + overrides), re-used by --resume
      teacher.safetensors           AFED weights
      teacher.json                  `StageInfo`: {"model": "afed", "config": {...}} -> create_model(model, **config)
      student.safetensors           QACM student weights (backbone + QACM, or QACM alone)
      student.json                  `StudentInfo`: StageInfo + input (frames|features), input_size, mean,
                                    std (frames only), snippet_frames, window (QACM receptive field),
                                    temperature, distilled, audio (the feature rule of its sound)
      calibration.json              {"threshold": coarse alarm threshold on the student's probability,
                                     "method": f1|youden, "level": frame|video, ...} (validation split)
      temperature_search.json/.png  GP posterior (grid, mean, 95 % band), trials, chosen T (Fig. 5)
      fine.safetensors              FineStage trainable + frozen weights
      fine.json                     `FineInfo`: StageInfo + model_args (class_names, captions),
                                    captions_file, clip_snippets (the deployed fine clip), fps
      captions.yaml                 the caption bank the fine stage was trained with (a copy)
      <stage>.last.safetensors/.json  last epoch's model + optimiser + RNG state (for --resume)
      <stage>.best.safetensors      weights of the best validation epoch (what <stage>.safetensors holds
                                    when optim.keep_best; "best_epoch" in <stage>.json)
      metrics.jsonl                 one JSON line per stage and epoch (losses, lr, val_AP, val_AUC)
      tensorboard/                  the same scalars for TensorBoard
      cache/                        synthetic benchmark, cached frames and features (data.cache_dir)
      eval/                         written by tcvads evaluate

Only the process of rank 0 writes (under torchrun every process holds a `RunFolder`, the others
are read-only). Checkpoints are safetensors plus the small JSON above, read and written as the
dataclasses `StageInfo`, `StudentInfo` and `FineInfo` (`tcvads_ros.configuration`), so every
default is written once, here. Optimiser state for `--resume` is a second safetensors file.
Nothing is ever unpickled.
"""

from __future__ import annotations

import json
import os
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from tcvads_ros.configuration import from_mapping, to_mapping
from tcvads_ros.data.annotations import SNIPPET_FRAMES
from tcvads_ros.errors import ConfigError, DataError
from tcvads_ros.models.registry import create_model
from tcvads_ros.runtime.sources import DEFAULT_FPS  # a source's frame rate when it does not say

STAGES = ("teacher", "student", "fine")
# The deployed fine clip in snippets: 8 up to the event start, 8 after (the fine temporal graph
# is traced at one length, docs/runtime.md).
DEFAULT_CLIP_SNIPPETS = 16


@dataclass
class StageInfo:
    """``<stage>.json``: what `create_model` rebuilds the stage from, and its best epoch."""

    model: str  # create_model name
    config: dict[str, Any]  # the model's config (create_model keyword arguments)
    best_epoch: int | None = None  # the validation epoch whose weights were kept (optim.keep_best)
    best_metric: str | None = None  # the validation metric that chose it
    best_value: float | None = None


@dataclass
class StudentInfo(StageInfo):
    """``student.json``: the QACM student and the input geometry export needs."""

    input: Literal["frames", "features"] = "frames"
    input_size: int | None = None  # frames only: the backbone's square input
    mean: list[float] | None = None
    std: list[float] | None = None
    snippet_frames: int = SNIPPET_FRAMES
    window: int = 1  # the QACM's receptive field in snippets
    temperature: float | None = None  # distillation temperature (None without distillation)
    distilled: bool = True
    # a student with an audio encoder: `runtime.audio_features.AudioSpec` as plain data (the
    # bundle's manifest ``audio``); {}: vision only
    audio: dict[str, Any] = field(default_factory=dict)


@dataclass
class FineInfo(StageInfo):
    """``fine.json``: the fine stage, its class names and captions, and the deployed clip."""

    model_args: dict[str, list[str]] = field(default_factory=dict)  # class_names, captions
    captions_file: str = "captions.yaml"
    clip_snippets: int = DEFAULT_CLIP_SNIPPETS
    fps: float = DEFAULT_FPS


INFO = {"teacher": StageInfo, "student": StudentInfo, "fine": FineInfo}


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
    if not path.is_file():
        raise DataError(f"{path}: missing")
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
        """``<stage>.safetensors`` (weights) + ``<stage>.json``: the create_model name and config, and
        `extra`, checked against the stage's dataclass (`INFO`) before anything is written."""
        mapping = {"model": model_name, "config": dict(model_config), **(extra or {})}
        info = from_mapping(INFO.get(stage, StageInfo), mapping, where=f"{stage}.json")
        if not self.writable:
            return
        self.save_state(stage, model.state_dict(), {"model": model_name})
        self.write_json(f"{stage}.json", to_mapping(info))

    def info(self, stage: str) -> StageInfo:
        """``<stage>.json`` as its dataclass (`INFO`); a clear error when missing or malformed."""
        path = self.path(f"{stage}.json")
        try:
            return from_mapping(INFO[stage], self.read_json(f"{stage}.json"), where=f"{stage}.json")
        except ConfigError as exc:
            raise DataError(f"{path}: {exc}") from exc

    def finished(self, stage: str) -> bool:
        """Whether the stage's weights and ``<stage>.json`` are both there."""
        return self.path(f"{stage}.safetensors").is_file() and self.path(f"{stage}.json").is_file()

    def load_stage(self, stage: str) -> torch.nn.Module:
        """Rebuild a finished stage's model (eval mode) from ``<stage>.json`` + ``<stage>.safetensors``."""
        info = self.info(stage)
        extra = info.model_args if isinstance(info, FineInfo) else {}
        config = dict(info.config)
        if info.model in ("qacm", "qacm_student"):
            # Runs saved before the QACM had a padding setting were trained with zero padding.
            config.setdefault("padding", "zeros")
        model = create_model(info.model, **config, **extra)
        model.load_state_dict(self.load_model_state(stage))
        return model.eval()

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
