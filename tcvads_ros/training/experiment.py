# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""The data of one run, resolved from `DataConfig`: lists, splits, caches and ground truth.

Three kinds of data reach the same datasets of `training.feature_datasets`:

- ``features``: VadCLIP's released CLIP features (CSV ``path,label`` lists of ``.npy`` files).
  The coarse teacher/student and the fine stage all read them ("features" model input).
- ``videos``: raw videos listed in CSV ``path,label`` lists. The coarse models train end to end
  on cached snippet frames (`frame_cache.cache_frames`, at the backbone's input size); the fine stage on
  CLIP features extracted with its own frozen image encoder (`frame_cache.extract_features`).
- ``synthetic``: `tcvads synth` is run in-process into the cache folder first (unless that
  folder already holds the same benchmark), then it is read as ``videos``; its
  ``train_annotations_multiclasses.txt`` gives frame-level ground truth for validation.

With sound (``data.audio``, for models with an audio branch) the videos' WAV tracks are cached
as per-snippet log-mel patches beside the frames (`audio_cache.cache_audio`), and every dataset
of the split carries them.

The validation split is a seeded, stratified share of the training *videos* (all crops of a
video stay on one side). It is scored at frame level when training annotations exist, else at
video level (the top-k mean snippet score against the video label).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tcvads_ros.configuration import to_mapping
from tcvads_ros.data import annotations as ann
from tcvads_ros.errors import ConfigError, DataError
from tcvads_ros.runtime.audio_features import AudioSpec
from tcvads_ros.training import audio_cache, feature_datasets, frame_cache, ground_truth
from tcvads_ros.training.train_config import DataConfig


def class_names_of(dataset: str) -> list[str]:
    """Column order of the class targets: the normal class first (the contrastive loss needs it)."""
    return list(ann.UCF_CLASSES if dataset == "ucf" else ann.XD_CLASSES)


@dataclass
class Lists:
    """The CSV lists and annotation files the datasets are built from."""

    train: Path
    test: Path
    test_segments: Path | None  # class segments of the test videos (XD multiclass / UCF temporal)
    test_frames: Path | None  # XD annotations.txt (frame-level source), optional
    train_segments: Path | None  # class segments of the training videos (synthetic only)


def prepare_synthetic(cfg: DataConfig, folder: Path, progress: bool) -> Path:
    """Generate the benchmark into `folder` unless the same one, by the same generator version, is
    already there (frames cached from older videos are then cached again: `frame_cache.cache_frames`)."""
    from tcvads_ros.data.synthetic import AUDIO_VERSION, GENERATOR_VERSION, generate, read_meta

    meta = folder / "meta.json"
    wanted = to_mapping(cfg.synth)
    have = read_meta(folder) or {}
    version = AUDIO_VERSION if cfg.synth.audio else GENERATOR_VERSION
    if have.get("synth_config") == wanted and have.get("generator_version") == version:
        return folder
    generate(folder, cfg.synth, progress=progress)
    info = read_meta(folder) or {}
    info["synth_config"] = wanted  # what we generated with, to recognise it next time
    meta.write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    return folder


def source_lists(cfg: DataConfig, cache: Path, progress: bool) -> Lists:
    """The lists of the configured data (generating the synthetic benchmark when asked)."""
    if cfg.kind == "synthetic":
        root = prepare_synthetic(cfg, cache / "synthetic", progress)
        return Lists(root / "train.csv", root / "test.csv", root / "annotations_multiclasses.txt",
                     root / "annotations.txt", root / "train_annotations_multiclasses.txt")
    segments = cfg.annotations if cfg.dataset == "ucf" else cfg.multiclass_annotations
    frames = cfg.annotations if cfg.dataset == "xd" else None
    return Lists(cfg.train_list, cfg.test_list, segments, frames, cfg.train_annotations)


def cached_frames(lists: Lists, cache: Path, size: int, progress: bool,
                  per_snippet: int = 1) -> tuple[Path, Path]:
    """Snippet frames of the train and test videos at `size`² (resumable cache); the training
    videos with `per_snippet` frames per snippet (temporal jitter), the test videos with one."""
    folder = cache / f"frames_{size}"
    train_folder = folder / "train" if per_snippet == 1 else cache / f"frames_{size}x{per_snippet}" / "train"
    train = frame_cache.cache_frames(lists.train, train_folder, size=(size, size), progress=progress,
                              per_snippet=per_snippet)
    test = frame_cache.cache_frames(lists.test, folder / "test", size=(size, size), progress=progress)
    return train.list_path, test.list_path


def cached_audio(lists: Lists, cache: Path, spec: AudioSpec, progress: bool) -> tuple[Path, Path]:
    """Per-snippet log-mel patches of the train and test videos' sound (resumable cache named by
    the feature rule)."""
    folder = cache / f"audio_{audio_cache.rule_tag(spec)}"
    train = audio_cache.cache_audio(lists.train, folder / "train", spec, progress=progress)
    test = audio_cache.cache_audio(lists.test, folder / "test", spec, progress=progress)
    return train.list_path, test.list_path


def cached_features(lists: Lists, cache: Path, tag: str, extractor: Callable[[np.ndarray], np.ndarray],
                    size: tuple[int, int], progress: bool) -> tuple[Path, Path]:
    """Features of the train and test videos from `extractor` (resumable cache named by `tag`)."""
    folder = cache / f"features_{tag}"
    train = frame_cache.extract_features(lists.train, folder / "train", extractor, size=size, progress=progress)
    test = frame_cache.extract_features(lists.test, folder / "test", extractor, size=size, progress=progress)
    return train.list_path, test.list_path


def split_videos(entries: Sequence[feature_datasets.FeatureEntry], fraction: float, seed: int) -> set[str]:
    """Names of the validation videos: `fraction` of the normal and of the abnormal videos."""
    rng = np.random.default_rng(seed)
    chosen: set[str] = set()
    for normal in (True, False):
        names = sorted({e.name for e in entries if feature_datasets.is_normal(e.label) == normal})
        n = int(round(len(names) * fraction))
        if fraction > 0 and len(names) >= 2:
            n = max(n, 1)
        chosen.update(rng.permutation(names)[:n].tolist())
    return chosen


def restrict(dataset: feature_datasets.FeatureTrainDataset, names: set[str], keep: bool) -> feature_datasets.FeatureTrainDataset:
    """Keep (or drop) the entries of the videos in `names`, in place; returns the dataset."""
    pairs = [(e, t) for e, t in zip(dataset.entries, dataset.targets) if (e.name in names) == keep]
    if not pairs:
        raise DataError("the validation split left no videos on one side; change data.val_fraction")
    dataset.entries = [e for e, _ in pairs]
    dataset.targets = [t for _, t in pairs]
    return dataset


@dataclass
class Split:
    """Datasets of one input kind (features or frames) over the same videos."""

    train: feature_datasets.FeatureTrainDataset
    val: feature_datasets.FeatureTestDataset | None
    test: feature_datasets.FeatureTestDataset
    val_truth: ground_truth.GroundTruth | None  # frame-level truth of the validation videos, if known


def build_split(train_list: Path, test_list: Path, cfg: DataConfig, arrays: str, seed: int,
                train_segments: Path | None, length: int | None = None,
                snippet_labels: bool = False, audio: tuple[Path, Path] | None = None) -> Split:
    """Train / validation / test datasets over one pair of lists.

    ``snippet_labels``: the training items carry per-snippet labels from `train_segments`
    (``teacher.supervision: snippet``); an error when there are no training annotations.
    ``audio``: the train and test lists of the videos' cached sound (`cached_audio`); the
    items then carry it.
    """
    names = class_names_of(cfg.dataset)
    length = length or cfg.max_length
    roots = (None, None)  # cached lists (frames, extracted features) hold relative paths
    if cfg.kind == "features":
        roots = (cfg.feature_root, cfg.test_feature_root or cfg.feature_root)
    jitter = seed if arrays == "frames" and cfg.frames_per_snippet > 1 else None
    sound = audio or (None, None)
    train = feature_datasets.FeatureTrainDataset(train_list, names, length, roots[0], arrays=arrays, jitter_seed=jitter,
                                                 audio_list=sound[0])
    test = feature_datasets.FeatureTestDataset(test_list, names, cfg.max_length, roots[1], dataset=cfg.dataset,
                                               arrays=arrays, audio_list=sound[1])
    if snippet_labels:
        if train_segments is None:
            raise ConfigError("teacher.supervision is 'snippet': it needs frame-level annotations of the "
                              "training videos; set data.train_annotations (XD multiclass format) or use "
                              "teacher.supervision=video")
        videos = [(e.name, e.label, _length(train, i)) for i, e in enumerate(train.entries)]
        truth = ground_truth.build_ground_truth(videos, train_segments, cfg.dataset)
        train.frame_labels = dict(zip(truth.names, truth.frame_gt))
    val_names = split_videos(train.entries, cfg.val_fraction, seed)
    if not val_names:
        return Split(train, None, test, None)
    val = feature_datasets.FeatureTestDataset(train_list, names, cfg.max_length, roots[0], dataset=cfg.dataset,
                                              arrays=arrays, audio_list=sound[0])
    restrict(val, val_names, keep=True)
    restrict(train, val_names, keep=False)
    truth = None
    if train_segments is not None:
        videos = [(e.name, e.label, _length(val, i)) for i, e in enumerate(val.entries)]
        truth = ground_truth.build_ground_truth(videos, train_segments, cfg.dataset)
    return Split(train, val, test, truth)


def _length(dataset: feature_datasets.FeatureTrainDataset, index: int) -> int:
    """Snippet count of one entry without loading it (the .npy header)."""
    return int(np.load(dataset.entries[index].path, mmap_mode="r", allow_pickle=False).shape[0])


def test_truth(split: Split, lists: Lists, dataset: str) -> ground_truth.GroundTruth:
    """Ground truth of the test videos, in the test dataset's order."""
    if lists.test_segments is None:
        raise DataError("no test annotations configured (data.annotations / data.multiclass_annotations)")
    videos = [(e.name, e.label, _length(split.test, i)) for i, e in enumerate(split.test.entries)]
    return ground_truth.build_ground_truth(videos, lists.test_segments, dataset, lists.test_frames)
