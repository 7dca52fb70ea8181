# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""The models and videos an interpretation reads (training/interpret.py).

Without ``--data``: the run's own validation videos, built exactly as training built them
(`training.experiment`, `training.stages.coarse_split`, `training.fine_stage.feature_lists`, so
the run's caches are reused); its test videos when training held none out. With ``--data``: a
`tcvads synth` folder (its test split and annotations) or a CSV ``path,label`` list of videos
or of ``.npy`` features (``--annotations`` for its class segments), cached under OUT_DIR/cache.
On synthetic data the generator's plan is recovered, so where each anomaly is drawn is known.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tcvads_ros.configuration import from_mapping
from tcvads_ros.data import annotations as ann
from tcvads_ros.data.synthetic import SynthConfig, plan_benchmark
from tcvads_ros.errors import DataError
from tcvads_ros.training import (
    experiment,
    feature_datasets,
    fine_stage,
    frame_cache,
    ground_truth,
    stages,
)
from tcvads_ros.training.run_folder import STAGES, RunFolder
from tcvads_ros.training.train_config import TrainConfig
from tcvads_ros.training.trainer import Context


def load_models(run_dir: Path) -> tuple[dict, dict]:
    """The run's finished stages (eval mode) and their ``<stage>.json``, by stage name."""
    folder = RunFolder(run_dir, writable=False)
    models, infos = {}, {}
    for stage in STAGES:
        if folder.finished(stage):
            infos[stage] = folder.info(stage)
            models[stage] = folder.load_stage(stage)
    if not models:
        raise DataError(f"{run_dir}: no trained stage (teacher/student/fine .safetensors + .json)")
    return models, infos


@dataclass
class Videos:
    """The data to explain, aligned by video name."""

    coarse: feature_datasets.FeatureTestDataset | None  # the coarse models' input: frames or features
    fine: feature_datasets.FeatureTestDataset | None  # CLIP snippet features
    truth: dict[str, tuple[list, list]] = field(default_factory=dict)  # name -> (segments, labels)
    sources: dict[str, Path] = field(default_factory=dict)  # name -> video file
    synthetic: tuple[SynthConfig, dict] | None = None  # config and plans by name: pixels known
    description: str = ""

    def names(self) -> list[str]:
        """Videos present in every dataset there is."""
        sets = [{e.name for e in d.entries} for d in (self.coarse, self.fine) if d is not None]
        return sorted(set.intersection(*sets)) if sets else []

    def labels(self) -> dict[str, str]:
        return {e.name: e.label for d in (self.coarse, self.fine) if d is not None for e in d.entries}

    def index(self, dataset: feature_datasets.FeatureTestDataset, name: str) -> int:
        return next(i for i, e in enumerate(dataset.entries) if e.name == name)


def _truth_map(truth: ground_truth.GroundTruth | None) -> dict[str, tuple[list, list]]:
    if truth is None:
        return {}
    return {n: (s, lab) for n, s, lab in zip(truth.names, truth.segments, truth.labels)}


def _video_files(video_list: Path) -> dict[str, Path]:
    """Video files of a CSV list by video name (paths relative to the list's folder)."""
    out = {}
    for row in ann.read_feature_list(video_list):
        path = Path(row.path)
        path = path if path.is_absolute() else video_list.parent / path
        if path.suffix.lower() in feature_datasets.VIDEO_EXTENSIONS:
            out[feature_datasets.video_name(path)[0]] = path
    return out


def _synthetic(synth_cfg: SynthConfig, names: list[str]) -> tuple[SynthConfig, dict] | None:
    """The generator's plans when they name exactly these videos (else the pixels are unknown)."""
    plans = {p.name: p for p in plan_benchmark(synth_cfg)}
    return (synth_cfg, plans) if names and all(n in plans for n in names) else None


def own_validation_data(cfg: TrainConfig, run_dir: Path, models: dict, ctx: Context) -> Videos:
    """The run's validation videos (else its test videos), as training built them."""
    cache = cfg.data.cache_dir or run_dir / "cache"
    lists = experiment.source_lists(cfg.data, cache, ctx.progress)
    coarse = fine = truth = None
    for stage in ("coarse", "fine"):
        if stage == "coarse" and ("student" in models or "teacher" in models):
            split = stages.coarse_split(cfg, lists, cache, ctx)
        elif stage == "fine" and "fine" in models:
            split = fine_stage.fine_data(cfg, models["fine"], lists, cache, ctx.device, ctx.progress)
        else:
            continue
        chosen = split.val if split.val is not None else split.test
        if truth is None:
            truth = split.val_truth if split.val is not None else (
                experiment.test_truth(split, lists, cfg.data.dataset) if lists.test_segments else None)
        coarse, fine = (chosen, fine) if stage == "coarse" else (coarse, chosen)
    videos = Videos(coarse, fine, _truth_map(truth), description=f"{run_dir}: validation videos")
    if cfg.data.kind in ("videos", "synthetic"):
        videos.sources = {**_video_files(lists.train), **_video_files(lists.test)}
    if cfg.data.kind == "synthetic":
        videos.synthetic = _synthetic(cfg.data.synth, videos.names())
    return videos


def _synth_folder(folder: Path) -> tuple[Path, Path, SynthConfig]:
    """A `tcvads synth` folder -> (test list, its multiclass annotations, its SynthConfig)."""
    from tcvads_ros.data.synthetic import read_meta

    meta_path = folder / "meta.json"
    if not meta_path.is_file():
        raise DataError(f"{folder}: a --data folder must be `tcvads synth` output (no meta.json)")
    meta = read_meta(folder)
    if meta is None:
        raise DataError(f"{meta_path}: not a readable tcvads synth meta.json")
    try:
        options = meta.get("synth_config") or {  # training adds synth_config; tcvads synth does not
            "videos": meta["videos"], "seed": meta["seed"], "width": meta["width"],
            "height": meta["height"], "frames": meta["frames_per_video"], "fps": meta["fps"],
            "codec": meta["codec"], "cameras": meta["cameras"]}
    except KeyError as exc:
        raise DataError(f"{meta_path}: not a readable tcvads synth meta.json (no {exc})") from None
    synth = from_mapping(SynthConfig, options, where=str(meta_path))
    return folder / "test.csv", folder / "annotations_multiclasses.txt", synth


def given_data(path: Path, annotations: Path | None, cfg: TrainConfig, models: dict, out: Path,
               ctx: Context) -> Videos:
    """``--data``: a `tcvads synth` folder (test split) or a CSV list of videos or .npy features."""
    synth = None
    if path.is_dir():
        path, default_annotations, synth = _synth_folder(path)
        annotations = annotations or default_annotations
    if not path.is_file():
        raise DataError(f"{path}: --data list not found")
    rows = feature_datasets.read_feature_entries(path)
    is_video = rows[0].path.suffix.lower() in feature_datasets.VIDEO_EXTENSIONS
    names = experiment.class_names_of(cfg.data.dataset)
    cache = out / "cache"

    def dataset(list_path: Path, arrays: str) -> feature_datasets.FeatureTestDataset:
        return feature_datasets.FeatureTestDataset(list_path, names, cfg.data.max_length,
                                       dataset=cfg.data.dataset, arrays=arrays)

    coarse = fine = None
    coarse_model = models.get("student") or models.get("teacher")
    if coarse_model is not None:
        reads_frames = coarse_model.backbone is not None
        if reads_frames != is_video:
            raise DataError(f"{path}: the run's coarse models read "
                            f"{'frames' if reads_frames else 'features'}, the list holds "
                            f"{'videos' if is_video else 'features'}; pass the matching --data")
        if is_video:
            size = coarse_model.backbone.cfg.input_size
            summary = frame_cache.cache_frames(path, cache / f"frames_{size}", size=(size, size),
                                        progress=ctx.progress)
            coarse = dataset(summary.list_path, "frames")
        else:
            coarse = dataset(path, "features")
    if "fine" in models:
        model = models["fine"]
        if is_video:
            summary = frame_cache.extract_features(path, cache / "features_clip",
                                            fine_stage.image_extractor(model, ctx.device),
                                            size=model.input_size, progress=ctx.progress)
            fine = dataset(summary.list_path, "features")
        else:
            fine = dataset(path, "features")
    truth = None
    reference = coarse if coarse is not None else fine
    if annotations is not None and reference is not None:
        videos = [(e.name, e.label, len(reference.load(i))) for i, e in enumerate(reference.entries)]
        truth = ground_truth.build_ground_truth(videos, annotations, cfg.data.dataset)
    videos = Videos(coarse, fine, _truth_map(truth), description=str(path))
    if is_video:
        videos.sources = _video_files(path)
    if synth is not None:
        videos.synthetic = _synthetic(synth, videos.names())
    return videos


def choose(videos: Videos, count: int, seed: int) -> list[str]:
    """`count` video names drawn with `seed`: abnormal and normal alternately, abnormal first
    (the heat maps need anomalies; the surrogate means see both kinds)."""
    names = videos.names()
    if not names:
        raise DataError(f"{videos.description}: no video is in both the coarse and the fine data")
    labels = videos.labels()
    rng = np.random.default_rng(seed)
    groups = [[n for n in names if not feature_datasets.is_normal(labels[n])], [n for n in names if feature_datasets.is_normal(labels[n])]]
    queues = [[group[i] for i in rng.permutation(len(group))] for group in groups]
    order = [q[i] for i in range(max(map(len, queues))) for q in queues if i < len(q)]
    return order[:count]


def anomalies(videos: Videos, name: str) -> list[tuple[int, int]]:
    """The video's annotated anomaly segments (half-open frame ranges)."""
    segments, labels = videos.truth.get(name, ([], []))
    return [tuple(s) for s, lab in zip(segments, labels) if lab not in (feature_datasets.NORMAL, "A")]


def clip_window(videos: Videos, name: str, length: int, snippets: int) -> tuple[int, int]:
    """[a, b) snippets: at most `snippets` long, centred on the first annotated anomaly."""
    found = anomalies(videos, name)
    centre = (found[0][0] + found[0][1]) / 2 / ann.SNIPPET_FRAMES if found else length / 2
    start = int(np.clip(round(centre - snippets / 2), 0, max(0, length - snippets)))
    return start, min(length, start + snippets)
