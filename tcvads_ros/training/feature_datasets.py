# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""VadCLIP feature lists and the datasets that read them: entries, crops, labels, collate.

Feature lists (docs/evaluation.md): a CSV ``path,label``, one ``.npy`` per video and crop, shape
(T, D) with one row per 16-frame snippet. Train lists hold every crop (``__0`` … ``__9``) of a
video as a separate sample; a test list is read with one crop per video (``__5`` for UCF-Crime,
``__0`` for XD-Violence, `TEST_CROP`). Paths may be absolute or relative to the list's folder;
VadCLIP's released lists carry the authors' absolute paths, which ``feature_root`` remaps.
A list of cached frames (`training.frame_cache`) has the same layout and is read the same way.

Training items are fitted to 256 snippets and test items split into 256-chunks
(`training.resampling`). With an audio list (`training.audio_cache`), items also carry each
snippet's log-mel patch and whether it was heard, resampled and chunked exactly as the snippets
are (the same rows kept, averaged or padded). Torch is imported only by the collate functions, so the list code runs
without it. The datasets return NumPy arrays; `collate_train` / `collate_test` make tensors.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tcvads_ros.data import annotations as ann
from tcvads_ros.errors import DataError
from tcvads_ros.runtime.sources import VIDEO_SUFFIXES
from tcvads_ros.training import audio_cache
from tcvads_ros.training.frame_cache import snippet_offsets
from tcvads_ros.training.resampling import TRAIN_LENGTH, chunk, fit_length

TEST_CROP = {"ucf": 5, "xd": 0}  # the crop VadCLIP tests on
DATASETS = ("ucf", "xd")  # annotation formats; the synthetic benchmark uses "xd"
NORMAL = "Normal"
# Label of normal test videos in VadCLIP's mAP ground truth (list/make_gt_mAP_{ucf,xd}.py).
VADCLIP_NORMAL_LABEL = "A"
VIDEO_EXTENSIONS = VIDEO_SUFFIXES  # runtime/sources.py: one list for training and the runtime

_CROP = re.compile(r"^(?P<name>.+)__(?P<crop>\d+)$")


@dataclass(frozen=True)
class FeatureEntry:
    """One row of a feature list, resolved.

    ``name`` is the video name without crop suffix and extension (the annotation files' key),
    ``crop`` the ``__k`` crop index (None when the file name has none), ``source`` the list
    file and line, for error messages.
    """

    path: Path
    label: str
    name: str
    crop: int | None
    source: str


def video_name(path: str | Path) -> tuple[str, int | None]:
    """``.../Abuse028_x264__5.npy`` -> ``('Abuse028_x264', 5)``; extensions are dropped."""
    stem = Path(str(path)).name
    for ext in (".npy", *VIDEO_EXTENSIONS):
        if stem.lower().endswith(ext):
            stem = stem[: -len(ext)]
            break
    match = _CROP.match(stem)
    return (match["name"], int(match["crop"])) if match else (stem, None)


def read_feature_entries(
    list_path: str | Path, feature_root: str | Path | None = None
) -> list[FeatureEntry]:
    """Read a VadCLIP-style list and resolve its paths.

    Relative paths are relative to the list's folder, or to `feature_root` when given.
    Absolute paths are used as they are, unless `feature_root` is given: then the folder that
    all of the list's absolute paths share is replaced by it (VadCLIP's
    ``/home/xbgydx/Desktop/UCFClipFeatures/Abuse/Abuse028_x264__5.npy`` becomes
    ``FEATURE_ROOT/Abuse/Abuse028_x264__5.npy``).
    """
    list_path = Path(list_path)
    rows = ann.read_feature_list(list_path)
    if not rows:
        raise DataError(f"{list_path}: the list holds no videos")
    absolute = [r.path for r in rows if os.path.isabs(r.path)]
    shared = os.path.commonpath([os.path.dirname(p) for p in absolute]) if absolute else None
    base = Path(feature_root) if feature_root is not None else list_path.parent
    entries = []
    for line, row in enumerate(rows, start=2):  # line 1 is the header
        if os.path.isabs(row.path):
            path = (
                Path(row.path) if feature_root is None else base / os.path.relpath(row.path, shared)
            )
        else:
            path = base / row.path
        name, crop = video_name(row.path)
        entries.append(FeatureEntry(path, row.label, name, crop, f"{list_path}:{line}"))
    return entries


def write_local_list(
    list_path: str | Path, feature_root: str | Path, out_path: str | Path
) -> tuple[int, list[Path]]:
    """Rewrite a list with its paths remapped under `feature_root` (see `read_feature_entries`).

    For VadCLIP's released lists: the written list holds absolute local paths, so any tool can
    read it. Returns (rows written, the remapped files that do not exist), so an incomplete
    download shows before training starts.
    """
    entries = read_feature_entries(list_path, Path(feature_root).resolve())
    ann.write_feature_list(out_path, [ann.ListEntry(str(e.path), e.label) for e in entries])
    return len(entries), [e.path for e in entries if not e.path.is_file()]


def select_crop(entries: Sequence[FeatureEntry], crop: int) -> list[FeatureEntry]:
    """One entry per video for testing: the given crop where a video has several.

    Videos listed once are kept whatever their crop; a video listed with several crops but
    without `crop` is an error naming the list.
    """
    by_video: dict[str, list[FeatureEntry]] = {}
    for e in entries:
        by_video.setdefault(e.name, []).append(e)
    chosen = []
    for name, group in by_video.items():
        if len(group) == 1:
            chosen.append(group[0])
            continue
        match = [e for e in group if e.crop == crop]
        if len(match) != 1:
            raise DataError(
                f"{group[0].source}: video '{name}' is listed {len(group)} times but not once with "
                f"crop __{crop}; a test list needs one row per video or the test crop"
            )
        chosen.append(match[0])
    return chosen


def _load_npy(path: Path, what: str) -> np.ndarray:
    if not path.is_file():
        raise DataError(f"{path}: {what} file not found (check the list's paths or --feature-root)")
    try:
        return np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise DataError(f"{path}: not a readable NumPy .npy {what} file ({exc})") from exc


def load_features(path: str | Path) -> np.ndarray:
    """One video's features, float32 (T, D) with T >= 1 and finite values."""
    path = Path(path)
    feat = _load_npy(path, "feature")
    if feat.ndim != 2 or feat.shape[0] == 0 or feat.shape[1] == 0:
        raise DataError(
            f"{path}: expected features of shape (T, D) with T, D >= 1, got {feat.shape}"
        )
    if not np.issubdtype(feat.dtype, np.floating):
        raise DataError(f"{path}: expected floating-point features, got {feat.dtype}")
    if not np.all(np.isfinite(feat)):
        raise DataError(f"{path}: features contain NaN or infinity")
    return feat.astype(np.float32, copy=False)


def load_frames(path: str | Path) -> np.ndarray:
    """One video's cached snippet frames (`cache_frames`): uint8 (T, H, W, 3), or
    (T, K, H, W, 3) when K frames per snippet were cached."""
    path = Path(path)
    frames = _load_npy(path, "frame")
    if (frames.ndim not in (4, 5) or frames.shape[0] == 0 or frames.shape[-1] != 3
            or frames.dtype != np.uint8 or (frames.ndim == 5 and frames.shape[1] == 0)):
        raise DataError(
            f"{path}: expected uint8 frames of shape (T, H, W, 3) or (T, K, H, W, 3), "
            f"got {frames.dtype} {frames.shape}"
        )
    return frames


def label_target(label: str, class_names: Sequence[str]) -> np.ndarray:
    """Multi-hot float32 (C,) target of a list label.

    A label is a class name (UCF-Crime: ``Abuse``, ``Normal``) or an XD-Violence label of one to
    three codes (``B1-B2-0``, ``A``; `annotations.XD_CODES` names them). Raises ValueError for a
    label that names no class.
    """
    names = list(class_names)
    target = np.zeros(len(names), dtype=np.float32)
    if label in names:
        target[names.index(label)] = 1.0
        return target
    for code in ann.xd_codes(label):  # ValueError for unknown codes
        name = ann.XD_CODES[code]
        if name not in names:
            raise ValueError(f"label '{label}': class '{name}' ({code}) is not among {names}")
        target[names.index(name)] = 1.0
    return target


def is_normal(label: str) -> bool:
    """True for a normal video's label (``Normal`` in UCF-Crime lists, ``A`` in XD-Violence)."""
    return label in (NORMAL, VADCLIP_NORMAL_LABEL)


def _checked_targets(
    entries: Sequence[FeatureEntry], class_names: Sequence[str]
) -> list[np.ndarray]:
    targets = []
    for e in entries:
        try:
            targets.append(label_target(e.label, class_names))
        except ValueError as exc:
            raise DataError(f"{e.source}: {exc}") from None
    return targets


class FeatureTrainDataset:
    """Training samples: every row of a list (each crop is a sample), fitted to 256 snippets.

    Args:
        list_path: CSV ``path,label``.
        class_names: class of each target column (``annotations.UCF_CLASSES`` / ``XD_CLASSES``).
        length: training length (VadCLIP: 256).
        feature_root: remap of the list's paths, see `read_feature_entries`.
        subset: ``"normal"``, ``"abnormal"`` or None (all) — VadCLIP's UCF training draws
            normal and abnormal videos from two loaders.
        arrays: ``"features"`` (float (T, D), averaged into bins) or ``"frames"`` (uint8
            (T, H, W, 3) from `cache_frames`, uniformly sampled).
        jitter_seed: with frames cached K per snippet ((T, K, H, W, 3)), draw one of each
            snippet's K frames at random (temporal jitter: K times the distinct training
            images), from a stream fixed by (jitter_seed, epoch, index) so that a resumed run
            replays the same draws; None takes each snippet's first frame.
        audio_list: the list of the videos' cached sound (`audio_cache.cache_audio`), by video
            name; None: no sound.

    An item is a dict: ``x`` (length, ...) array, ``length`` (true length), ``target`` (C,)
    multi-hot, ``anomaly`` (0./1.), ``label``, ``name``; with sound also ``audio`` (length,
    n_mels, mel_frames) and ``heard`` (length,) 0/1.
    """

    def __init__(
        self,
        list_path: str | Path,
        class_names: Sequence[str],
        length: int = TRAIN_LENGTH,
        feature_root: str | Path | None = None,
        subset: str | None = None,
        arrays: str = "features",
        jitter_seed: int | None = None,
        audio_list: str | Path | None = None,
    ) -> None:
        if subset not in (None, "normal", "abnormal"):
            raise ValueError(f"subset must be None, 'normal' or 'abnormal', got '{subset}'")
        if arrays not in ("features", "frames"):
            raise ValueError(f"arrays must be 'features' or 'frames', got '{arrays}'")
        entries = read_feature_entries(list_path, feature_root)
        if subset is not None:
            entries = [e for e in entries if is_normal(e.label) == (subset == "normal")]
            if not entries:
                raise DataError(f"{list_path}: the list holds no {subset} videos")
        self.entries = entries
        self.class_names = list(class_names)
        self.targets = _checked_targets(entries, class_names)
        self.length = length
        self.arrays = arrays
        self.jitter_seed = jitter_seed
        self.epoch = 0
        # name -> 0/1 frame vector of training videos; set (`experiment.build_split`) for
        # snippet-level supervision, which adds ``snippet_labels`` (length,) to every item
        self.frame_labels: dict[str, np.ndarray] | None = None
        self.sound = None if audio_list is None else {e.name: e.path for e in read_feature_entries(audio_list)}

    def __len__(self) -> int:
        return len(self.entries)

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch's jitter draws (called by the training loader, like a sampler's)."""
        self.epoch = epoch

    def load(self, index: int) -> np.ndarray:
        """The whole array of one entry (before length fitting); errors name the list line.

        Frames come back (T, H, W, 3): one frame per snippet, see ``jitter_seed``."""
        return self._read(index)[0]

    def _read(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """(the entry's array, each snippet's frame offset within its 16 frames)."""
        entry = self.entries[index]
        try:
            if self.arrays == "features":
                x = load_features(entry.path)
                return x, np.zeros(len(x), dtype=np.int64)
            frames = load_frames(entry.path)
        except DataError as exc:
            raise DataError(f"{entry.source}: {exc}") from None
        if frames.ndim == 4:
            return frames, np.zeros(len(frames), dtype=np.int64)
        # (T, K, H, W, 3): each snippet's first frame, or one of its K at random (jitter)
        choice = np.zeros(len(frames), dtype=np.int64)
        if self.jitter_seed is not None:
            rng = np.random.default_rng([self.jitter_seed, self.epoch, index])
            choice = rng.integers(0, frames.shape[1], len(frames))
        offsets = np.asarray(snippet_offsets(frames.shape[1]))[choice]
        return frames[np.arange(len(frames)), choice], offsets

    def audio(self, index: int, snippets: int) -> tuple[np.ndarray, np.ndarray] | None:
        """The entry's (patches (snippets, n_mels, mel_frames), heard (snippets,)), or None
        without sound (`audio_cache.fit_snippets` fits the cached rows to the snippets)."""
        if self.sound is None:
            return None
        entry = self.entries[index]
        if entry.name not in self.sound:
            raise DataError(f"{entry.source}: video '{entry.name}' is not in the audio cache; delete the "
                            "cache folder to rebuild it")
        return audio_cache.fit_snippets(*audio_cache.load_patches(self.sound[entry.name]), snippets)

    def __getitem__(self, index: int) -> dict:
        entry = self.entries[index]
        resample = "average" if self.arrays == "features" else "sample"
        array, offsets = self._read(index)
        x, true_length = fit_length(array, self.length, resample)
        item = {
            "x": x,
            "length": true_length,
            "target": self.targets[index],
            "anomaly": 0.0 if is_normal(entry.label) else 1.0,
            "label": entry.label,
            "name": entry.name,
        }
        if self.frame_labels is not None:
            item["snippet_labels"] = fit_length(self._snippet_labels(entry, offsets), self.length, resample)[0]
        sound = self.audio(index, len(array))
        if sound is not None:
            item["audio"] = fit_length(sound[0], self.length, resample)[0]
            item["heard"] = fit_length(sound[1], self.length, resample)[0]
        return item

    def _snippet_labels(self, entry: FeatureEntry, offsets: np.ndarray) -> np.ndarray:
        """Per snippet: 1 when the frame it was read from is annotated abnormal (frames), or the
        abnormal share of its 16 frames (features). A normal video is all 0."""
        n = len(offsets)
        frame_gt = np.zeros(n * ann.SNIPPET_FRAMES, dtype=np.float32)
        if not is_normal(entry.label):
            if entry.name not in self.frame_labels:
                raise DataError(f"{entry.source}: abnormal video '{entry.name}' has no frame-level "
                                "annotation; snippet supervision needs one for every training video")
            known = self.frame_labels[entry.name][: len(frame_gt)]
            frame_gt[: len(known)] = known
        per_snippet = frame_gt.reshape(n, ann.SNIPPET_FRAMES)
        if self.arrays == "features":
            return per_snippet.mean(axis=1)
        return per_snippet[np.arange(n), offsets]


class FeatureTestDataset(FeatureTrainDataset):
    """Test videos: one crop per video (`TEST_CROP`), whole length, split into 256-chunks.

    Args as `FeatureTrainDataset`, plus ``crop``: the crop to keep where a video is listed with
    several (default: `TEST_CROP` of ``dataset``, i.e. 5 for UCF-Crime and 0 otherwise).

    An item is a dict: ``chunks`` (n, length, ...) array, ``chunk_lengths`` (n,), ``length``
    (true T), ``target``, ``anomaly``, ``label``, ``name``; with sound also ``audio_chunks`` (n,
    length, n_mels, mel_frames) and ``heard_chunks`` (n, length). `unchunk` restores (T, ...)
    outputs.
    """

    def __init__(
        self,
        list_path: str | Path,
        class_names: Sequence[str],
        length: int = TRAIN_LENGTH,
        feature_root: str | Path | None = None,
        dataset: str = "xd",
        crop: int | None = None,
        arrays: str = "features",
        audio_list: str | Path | None = None,
    ) -> None:
        if dataset not in DATASETS:
            raise ValueError(f"dataset must be one of {DATASETS}, got '{dataset}'")
        super().__init__(list_path, class_names, length, feature_root, None, arrays, audio_list=audio_list)
        self.entries = select_crop(self.entries, TEST_CROP[dataset] if crop is None else crop)
        self.targets = _checked_targets(self.entries, class_names)

    def __getitem__(self, index: int) -> dict:
        entry = self.entries[index]
        x = self.load(index)
        chunks, chunk_lengths = chunk(x, self.length)
        item = {
            "chunks": chunks,
            "chunk_lengths": chunk_lengths,
            "length": len(x),
            "target": self.targets[index],
            "anomaly": 0.0 if is_normal(entry.label) else 1.0,
            "label": entry.label,
            "name": entry.name,
        }
        sound = self.audio(index, len(x))
        if sound is not None:
            item["audio_chunks"] = chunk(sound[0], self.length)[0]
            item["heard_chunks"] = chunk(sound[1], self.length)[0]
        return item


def collate_train(batch: Sequence[dict]) -> dict:
    """Stack training items: ``x`` (B, L, ...), ``lengths`` (B,), ``targets`` (B, C),
    ``anomaly`` (B,), and ``snippet_labels`` (B, L), ``audio`` (B, L, n_mels, mel_frames) and
    ``heard`` (B, L) where items carry them, as tensors; ``labels`` and ``names`` as lists."""
    import torch

    out = {
        "x": torch.from_numpy(np.stack([b["x"] for b in batch])),
        "lengths": torch.tensor([b["length"] for b in batch], dtype=torch.long),
        "targets": torch.from_numpy(np.stack([b["target"] for b in batch])),
        "anomaly": torch.tensor([b["anomaly"] for b in batch], dtype=torch.float32),
        "labels": [b["label"] for b in batch],
        "names": [b["name"] for b in batch],
    }
    for key in ("snippet_labels", "audio", "heard"):
        if key in batch[0]:
            out[key] = torch.from_numpy(np.stack([b[key] for b in batch]))
    return out


def collate_test(batch: Sequence[dict]) -> dict:
    """One test video per batch (its chunks are the batch): ``chunks`` (n, L, ...) and
    ``chunk_lengths`` (n,) tensors (and ``audio_chunks``, ``heard_chunks`` with sound), ``length``
    int, ``target`` (C,), ``label``, ``name``."""
    import torch

    if len(batch) != 1:
        raise ValueError(
            "collate_test takes one video per batch (batch_size=1); its chunks form the batch"
        )
    item = batch[0]
    out = {
        "chunks": torch.from_numpy(item["chunks"]),
        "chunk_lengths": torch.from_numpy(item["chunk_lengths"]),
        "length": item["length"],
        "target": torch.from_numpy(item["target"]),
        "anomaly": item["anomaly"],
        "label": item["label"],
        "name": item["name"],
    }
    for key in ("audio_chunks", "heard_chunks"):
        if key in item:
            out[key] = torch.from_numpy(item[key])
    return out
