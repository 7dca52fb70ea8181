# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""The training configuration: `config/train/*.yaml` as dataclasses (built by `from_mapping`).

Model sections (``teacher.model``, ``student.model``, ``fine.model``) are passed as keyword
arguments to `tcvads_ros.models.create_model`, which validates them against the model's own
config dataclass; everything else is validated here, key by key.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from tcvads_ros.configuration import apply_overrides, from_mapping, load_yaml, to_mapping
from tcvads_ros.data.synthetic import SynthConfig
from tcvads_ros.errors import ConfigError
from tcvads_ros.training.augment import AugmentConfig
from tcvads_ros.training.run_folder import DEFAULT_CLIP_SNIPPETS
from tcvads_ros.training.temperature_search import TemperatureSearchConfig


@dataclass
class DataConfig:
    """Where the data is and how it is read.

    Relative paths in a config file are relative to that file's folder; in a command-line
    override, relative to the current directory.
    """

    kind: Literal["features", "videos", "synthetic"] = "features"
    dataset: Literal["xd", "ucf"] = "xd"  # label map and annotation format; synthetic data is XD-format
    train_list: Path = Path("train.csv")  # CSV path,label (features: .npy files; videos: video files)
    test_list: Path = Path("test.csv")
    feature_root: Path | None = None  # replaces the folder shared by the train list's absolute paths
    test_feature_root: Path | None = None  # the same for the test list (VadCLIP's lists are absolute)
    annotations: Path | None = None  # XD annotations.txt / UCF Temporal_Anomaly_Annotation.txt
    multiclass_annotations: Path | None = None  # XD annotations_multiclasses.txt
    train_annotations: Path | None = None  # class segments of training videos (validation), if any
    cache_dir: Path | None = None  # raw videos: frame / feature cache (default RUN_DIR/cache)
    synth: SynthConfig = field(default_factory=SynthConfig)  # `tcvads synth` options (kind synthetic)
    max_length: int = 256  # training length (uniform bins), test chunk length (docs/evaluation.md)
    # Raw videos: frames cached per snippet. K > 1 turns on temporal jitter: each training epoch
    # reads one of a snippet's K evenly spaced frames at random (K times the distinct images for
    # the backbone); validation, test and the deployed detector read the snippet's first frame.
    frames_per_snippet: int = 1
    # Sound (docs/audio.md): true, or a mapping of `runtime.audio_features.AudioSpec`'s feature
    # rule (rate, window_s, lead_s, n_fft, hop, n_mels, fmin, fmax) to change it. The videos' WAV
    # tracks are cached as log-mel patches per snippet (training/audio_cache.py) for the models
    # with an audio branch (teacher.model.audio, student.model.audio). Synthetic data needs
    # data.synth.audio: true (`tcvads synth --audio`).
    audio: bool | dict[str, Any] = False
    val_fraction: float = 0.2  # held out from train: temperature search and threshold calibration
    num_workers: int = 0

    def __post_init__(self) -> None:
        if not 0.0 <= self.val_fraction < 1.0:
            raise ValueError(f"data.val_fraction must be in [0, 1), got {self.val_fraction}")
        if self.max_length < 1:
            raise ValueError("data.max_length must be >= 1")
        if not 1 <= self.frames_per_snippet <= 16:
            raise ValueError(f"data.frames_per_snippet must be between 1 and 16, got {self.frames_per_snippet}")


@dataclass
class OptimConfig:
    """AdamW (paper §V.B) with a cosine schedule."""

    epochs: int = 10
    batch_size: int = 16
    lr: float = 3e-4
    weight_decay: float = 0.01
    grad_clip: float = 5.0
    keep_best: bool = True  # end with the weights of the best validation epoch (if validated)

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1 or self.lr <= 0:
            raise ValueError("epochs >= 1, batch_size >= 1 and lr > 0 are required")


@dataclass
class AudioDropoutConfig:
    """Modality dropout of a model with an audio branch (docs/audio.md): in each training batch
    a video loses all its sound with probability `video`, and each other snippet its own with
    probability `snippet`, so that an all-zero audio feature (the runtime's "no sound") means
    "score from vision" and a dropped chunk is nothing new."""

    video: float = 0.25
    snippet: float = 0.1

    def __post_init__(self) -> None:
        if not (0.0 <= self.video < 1.0 and 0.0 <= self.snippet < 1.0):
            raise ValueError(f"audio_dropout.video and .snippet must be in [0, 1), got {self.video}, {self.snippet}")


@dataclass
class TeacherConfig:
    model: dict[str, Any] = field(default_factory=dict)
    optim: OptimConfig = field(default_factory=OptimConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)  # frames input only
    # "video": the paper's weak supervision (MIL top-k BCE on video labels, Exp. 10).
    # "snippet": per-snippet BCE on frame-level training annotations (data.train_annotations;
    # the synthetic benchmark has them), for data that has them and for short runs where MIL
    # from a randomly initialised backbone does not get going. The student still trains on
    # video labels and learns the snippet-level signal from the teacher (distillation).
    supervision: Literal["video", "snippet"] = "video"
    # A torchvision MobileNetV2 checkpoint (ImageNet, or the synthetic benchmark's stand-in from
    # `tcvads pretrain-backbone`) the frames-mode backbone starts from (models/pretrained.py); None: random.
    pretrained_backbone: Path | None = None
    # train only what follows the backbone (projection, Enhanced RWKV, head) on the backbone's
    # features, computed once (as the paper's teacher reads fixed features); frames input only
    freeze_backbone: bool = False
    audio_dropout: AudioDropoutConfig = field(default_factory=AudioDropoutConfig)  # with teacher.model.audio


@dataclass
class StudentConfig:
    model: dict[str, Any] = field(default_factory=dict)
    optim: OptimConfig = field(default_factory=OptimConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)  # end-to-end frames training only
    distill: bool = True  # false: the same budget with L_hard only (the ablation baseline)
    kd_weight: float = 1.0  # λ of Exp. (14); the paper does not give it
    temperature: float = 2.5  # used when the search is disabled (paper's optimum, Fig. 5)
    init_from_teacher: bool = True  # student backbone starts from the trained teacher's
    # the student's backbone stays the teacher's (paper §IV.A: the QACM reads "the same backbone features"):
    # only the QACM trains; false fine-tunes the backbone end to end as well
    freeze_backbone: bool = True
    temperature_search: TemperatureSearchConfig = field(default_factory=TemperatureSearchConfig)
    audio_dropout: AudioDropoutConfig = field(default_factory=AudioDropoutConfig)  # with student.model.audio


@dataclass
class FineTrainConfig:
    model: dict[str, Any] = field(default_factory=dict)
    optim: OptimConfig = field(default_factory=OptimConfig)
    captions: Path | None = None  # caption bank file; None: the model's default bank
    # Captions retrieved per clip: the model's own setting, fine.model.top_m (FineConfig).
    # The deployed fine clip in snippets (written to fine.json; the bundle's fine_clip_snippets).
    clip_snippets: int = DEFAULT_CLIP_SNIPPETS
    alpha: float = 1.2  # Exp. (19)
    beta: float = 0.8
    lambda1: float = 5e-4  # Exp. (17): XD 5e-4, UCF 1e-3
    lambda2: float = 6e-4  # Exp. (18): XD 6e-4, UCF 2e-3
    margin: float = 0.5  # δ of Exp. (18)
    max_length: int | None = None  # training sequence length; None: data.max_length


@dataclass
class CalibrationConfig:
    """How the coarse threshold is chosen on the validation split."""

    method: Literal["f1", "youden"] = "f1"


@dataclass
class TrainConfig:
    seed: int = 0
    device: Literal["auto", "cpu", "cuda"] = "auto"
    stage: Literal["teacher", "student", "fine", "all"] = "all"
    data: DataConfig = field(default_factory=DataConfig)
    teacher: TeacherConfig = field(default_factory=TeacherConfig)
    student: StudentConfig = field(default_factory=StudentConfig)
    fine: FineTrainConfig = field(default_factory=FineTrainConfig)
    calibration: CalibrationConfig = field(default_factory=CalibrationConfig)


LOCAL_DIR = "local-dir:"  # open_clip's prefix for a folder holding open_clip_config.json
# Config keys holding a path: a relative one is relative to the YAML file that holds it, or to
# the current directory when typed as an override, and is stored absolute (`_resolved`).
_PATH_KEYS = ("data.train_list", "data.test_list", "data.annotations", "data.multiclass_annotations",
              "data.train_annotations", "data.cache_dir", "data.feature_root", "data.test_feature_root",
              "fine.captions", "teacher.pretrained_backbone", "fine.model.checkpoint")
CLIP_MODEL_KEY = "fine.model.clip_model"  # a path only as "local-dir:FOLDER"


def load_config(path: str | Path, overrides: list[str] | None = None) -> TrainConfig:
    """Read a YAML config, apply ``key.path=value`` overrides, validate, resolve relative paths.

    Relative paths in a file are relative to that file's folder; relative paths given as
    overrides are relative to the current directory (where the user typed them) and are stored
    absolute. A file may
    start from another with ``extends: other.yaml`` (relative to it): its own keys are merged
    over the other's, section by section.
    """
    mapping = _read(Path(path), ())
    apply_overrides(mapping, [_absolute(item) for item in overrides or []])
    return from_mapping(TrainConfig, mapping)


def _resolved(key: str, value: Any, base: Path) -> Any:
    """`value` of the dotted config `key`, a relative path in it made absolute against `base`."""
    if not isinstance(value, str) or not value:
        return value
    if key in _PATH_KEYS:
        path = Path(value).expanduser()
        return value if path.is_absolute() else str((base / path).resolve())
    if key == CLIP_MODEL_KEY and value.startswith(LOCAL_DIR):
        # e.g. an open_clip config folder shipped beside the YAML (config/train/clip-tiny)
        path = Path(value[len(LOCAL_DIR):]).expanduser()
        return value if path.is_absolute() else LOCAL_DIR + str((base / path).resolve())
    return value


def _absolute(override: str) -> str:
    """A path override made absolute against the current directory, so that the run's
    config.yaml (read again by --resume, evaluate, interpret from elsewhere) means the same file."""
    key, sep, raw = override.partition("=")
    try:
        value = yaml.safe_load(raw) if sep else None
    except yaml.YAMLError:
        return override  # apply_overrides names the mistake
    resolved = _resolved(key, value, Path.cwd())
    return override if resolved == value else f"{key}={json.dumps(resolved)}"


def _read(path: Path, seen: tuple[Path, ...]) -> dict:
    """One config file with its relative paths resolved, merged over the file it extends."""
    mapping = load_yaml(path)
    for key in (*_PATH_KEYS, CLIP_MODEL_KEY):
        *sections, name = key.split(".")
        node = mapping
        for section in sections:
            node = node.get(section) if isinstance(node, dict) else None
        if isinstance(node, dict) and name in node:
            node[name] = _resolved(key, node[name], path.parent)
    base = mapping.pop("extends", None)
    if base is None:
        return mapping
    if not isinstance(base, str):
        raise ConfigError(f"{path}: 'extends' must name a YAML file, got {base!r}")
    base_path = (path.parent / base).resolve()
    if base_path in seen:
        raise ConfigError(f"{path}: 'extends' loops back to {base_path}")
    return _merge(_read(base_path, (*seen, path.resolve())), mapping)


def _merge(base: dict, over: dict) -> dict:
    """`over`'s keys over `base`'s; nested mappings merge key by key, anything else replaces."""
    merged = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def config_mapping(cfg: TrainConfig) -> dict:
    """The resolved config as plain data (saved as RUN_DIR/config.yaml)."""
    return to_mapping(cfg)
