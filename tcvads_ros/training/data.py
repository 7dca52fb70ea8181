"""Training and test data: VadCLIP feature lists, 256-length resampling, ground truth, raw videos.

Feature lists (docs/evaluation.md): a CSV ``path,label``, one ``.npy`` per video and crop, shape
(T, D) with one row per 16-frame snippet. Train lists hold every crop (``__0`` … ``__9``) of a
video as a separate sample; a test list is read with one crop per video (``__5`` for UCF-Crime,
``__0`` for XD-Violence, `TEST_CROP`). Paths may be absolute or relative to the list's folder;
VadCLIP's released lists carry the authors' absolute paths, which ``feature_root`` remaps.

Lengths (VadCLIP ``src/utils/tools.py``): for training a video longer than 256 snippets is
averaged into 256 uniform bins (``uniform_extract``), a shorter one zero-padded with its true
length kept (``process_feat``), see `fit_length`; for testing a video is split into 256-long
chunks, the last one padded (``process_split``), see `chunk`, and the outputs are concatenated
and cut back to T by `unchunk`.

Ground truth (`build_ground_truth`): a 0/1 vector of 16·T frames per test video (frames past
16·T dropped) for the coarse metrics and per-class segments for `training.metrics.detection_map`,
from the real annotation formats (UCF ``Temporal_Anomaly_Annotation.txt``; XD
``annotations_multiclasses.txt`` and optionally ``annotations.txt``). The synthetic benchmark
(``tcvads synth``) writes the XD formats and is read the same way.

Raw videos (`extract_features`, `cache_frames`): decoded with OpenCV, one frame per 16-frame
snippet (its first frame, ``s * 16``, docs/ARCHITECTURE.md), cached per video as ``name__0.npy``
beside a CSV list of the same layout; resumable, atomic writes.

Torch is imported only by the collate functions, so the list, ground-truth and extraction code
runs without it. The datasets return NumPy arrays; `collate_train` / `collate_test` make tensors.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tcvads_ros.data import annotations as ann
from tcvads_ros.errors import ConfigError, DataError
from tcvads_ros.runtime.sources import VIDEO_SUFFIXES

TRAIN_LENGTH = 256  # VadCLIP's visual_length
TEST_CROP = {"ucf": 5, "xd": 0}  # the crop VadCLIP tests on
DATASETS = ("ucf", "xd")  # annotation formats; the synthetic benchmark uses "xd"
NORMAL = "Normal"
# Label of normal test videos in VadCLIP's mAP ground truth (list/make_gt_mAP_{ucf,xd}.py).
VADCLIP_NORMAL_LABEL = "A"
VIDEO_EXTENSIONS = VIDEO_SUFFIXES  # runtime/sources.py: one list for training and the runtime

_CROP = re.compile(r"^(?P<name>.+)__(?P<crop>\d+)$")


# ---------------------------------------------------------------------------------------------
# Feature lists
# ---------------------------------------------------------------------------------------------


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


# ---------------------------------------------------------------------------------------------
# Length handling: 256 uniform bins / zero padding for training, 256-chunks for testing
# ---------------------------------------------------------------------------------------------


def uniform_average(x: np.ndarray, length: int = TRAIN_LENGTH) -> np.ndarray:
    """Average T rows into `length` uniform bins (VadCLIP ``uniform_extract(avg=True)``).

    Bin i covers rows ``[r_i, r_{i+1})`` with ``r = int(linspace(0, T, length + 1))``; an empty
    bin (only when T < length) takes row r_i.
    """
    edges = np.linspace(0, len(x), length + 1).astype(np.int64)
    out = np.empty((length, *x.shape[1:]), dtype=np.float32)
    for i in range(length):
        lo, hi = edges[i], edges[i + 1]
        out[i] = x[lo:hi].mean(axis=0) if hi > lo else x[lo]
    return out


def uniform_sample(x: np.ndarray, length: int = TRAIN_LENGTH) -> np.ndarray:
    """Pick `length` rows at uniform positions (VadCLIP ``uniform_extract(avg=False)``).

    Used for cached frames, where averaging images would blur them.
    """
    return x[np.linspace(0, len(x) - 1, length).astype(np.int64)]


def pad_to(x: np.ndarray, length: int) -> np.ndarray:
    """Zero-pad the first axis up to `length` rows (VadCLIP ``pad``)."""
    if len(x) >= length:
        return x
    padding = np.zeros((length - len(x), *x.shape[1:]), dtype=x.dtype)
    return np.concatenate([x, padding], axis=0)


def fit_length(
    x: np.ndarray, length: int = TRAIN_LENGTH, resample: str = "average"
) -> tuple[np.ndarray, int]:
    """Training length (VadCLIP ``process_feat``): -> ``(x of exactly length rows, true length)``.

    Longer inputs are resampled (``"average"``: `uniform_average`, for features;
    ``"sample"``: `uniform_sample`, for frames) and their true length is `length`; shorter ones
    are zero-padded and keep their own length.
    """
    if len(x) > length:
        if resample == "average":
            return uniform_average(x, length), length
        if resample == "sample":
            return uniform_sample(x, length), length
        raise ValueError(f"resample must be 'average' or 'sample', got '{resample}'")
    return pad_to(x, length), len(x)


def chunk(x: np.ndarray, length: int = TRAIN_LENGTH) -> tuple[np.ndarray, np.ndarray]:
    """Test-time split (VadCLIP ``process_split``): ``(chunks (n, length, ...), lengths (n,))``.

    n = ⌈T/length⌉ chunks, the last zero-padded; `lengths` holds each chunk's valid rows.
    (VadCLIP adds one all-padding chunk when T is a multiple of `length`; dropping it changes
    nothing after `unchunk`.)
    """
    n = max(1, -(-len(x) // length))
    padded = pad_to(x, n * length)
    lengths = np.full(n, length, dtype=np.int64)
    lengths[-1] = len(x) - (n - 1) * length
    return padded.reshape(n, length, *x.shape[1:]), lengths


def unchunk(outputs: np.ndarray, true_length: int) -> np.ndarray:
    """Concatenate per-chunk outputs (n, length, ...) and cut back to the true length."""
    outputs = np.asarray(outputs)
    return outputs.reshape(-1, *outputs.shape[2:])[:true_length]


# ---------------------------------------------------------------------------------------------
# Labels
# ---------------------------------------------------------------------------------------------


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


# ---------------------------------------------------------------------------------------------
# Datasets (NumPy items; collate functions make torch tensors)
# ---------------------------------------------------------------------------------------------


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

    An item is a dict: ``x`` (length, ...) array, ``length`` (true length), ``target`` (C,)
    multi-hot, ``anomaly`` (0./1.), ``label``, ``name``.
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
    (true T), ``target``, ``anomaly``, ``label``, ``name``. `unchunk` restores (T, ...) outputs.
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
    ) -> None:
        if dataset not in DATASETS:
            raise ValueError(f"dataset must be one of {DATASETS}, got '{dataset}'")
        super().__init__(list_path, class_names, length, feature_root, None, arrays)
        self.entries = select_crop(self.entries, TEST_CROP[dataset] if crop is None else crop)
        self.targets = _checked_targets(self.entries, class_names)

    def __getitem__(self, index: int) -> dict:
        entry = self.entries[index]
        x = self.load(index)
        chunks, chunk_lengths = chunk(x, self.length)
        return {
            "chunks": chunks,
            "chunk_lengths": chunk_lengths,
            "length": len(x),
            "target": self.targets[index],
            "anomaly": 0.0 if is_normal(entry.label) else 1.0,
            "label": entry.label,
            "name": entry.name,
        }


def collate_train(batch: Sequence[dict]) -> dict:
    """Stack training items: ``x`` (B, L, ...), ``lengths`` (B,), ``targets`` (B, C),
    ``anomaly`` (B,), and ``snippet_labels`` (B, L) where items carry them, as tensors;
    ``labels`` and ``names`` as lists."""
    import torch

    out = {
        "x": torch.from_numpy(np.stack([b["x"] for b in batch])),
        "lengths": torch.tensor([b["length"] for b in batch], dtype=torch.long),
        "targets": torch.from_numpy(np.stack([b["target"] for b in batch])),
        "anomaly": torch.tensor([b["anomaly"] for b in batch], dtype=torch.float32),
        "labels": [b["label"] for b in batch],
        "names": [b["name"] for b in batch],
    }
    if "snippet_labels" in batch[0]:
        out["snippet_labels"] = torch.from_numpy(np.stack([b["snippet_labels"] for b in batch]))
    return out


def collate_test(batch: Sequence[dict]) -> dict:
    """One test video per batch (its chunks are the batch): ``chunks`` (n, L, ...) and
    ``chunk_lengths`` (n,) tensors, ``length`` int, ``target`` (C,), ``label``, ``name``."""
    import torch

    if len(batch) != 1:
        raise ValueError(
            "collate_test takes one video per batch (batch_size=1); its chunks form the batch"
        )
    item = batch[0]
    return {
        "chunks": torch.from_numpy(item["chunks"]),
        "chunk_lengths": torch.from_numpy(item["chunk_lengths"]),
        "length": item["length"],
        "target": torch.from_numpy(item["target"]),
        "anomaly": item["anomaly"],
        "label": item["label"],
        "name": item["name"],
    }


# ---------------------------------------------------------------------------------------------
# Ground truth
# ---------------------------------------------------------------------------------------------


@dataclass
class GroundTruth:
    """Per test video, in list order: what `training.metrics` takes.

    ``frame_gt[i]`` is the 0/1 vector of 16·T frames; ``segments[i]`` / ``labels[i]`` the
    detection ground truth (`metrics.detection_map`'s ``gt_segments`` / ``gt_labels``);
    ``abnormal[i]`` the video-level flag (`metrics.coarse_metrics`' ``abnormal_mask``).
    """

    names: list[str] = field(default_factory=list)
    frame_gt: list[np.ndarray] = field(default_factory=list)
    segments: list[list[tuple[int, int]]] = field(default_factory=list)
    labels: list[list[str]] = field(default_factory=list)
    abnormal: list[bool] = field(default_factory=list)


def read_segments(path: str | Path, dataset: str) -> dict[str, list[ann.Segment]]:
    """Class segments by video name: UCF ``Temporal_Anomaly_Annotation.txt`` (``dataset="ucf"``)
    or XD ``annotations_multiclasses.txt`` (``"xd"``, also the synthetic benchmark's).

    Names are keyed without a video extension (some XD lines carry ``.mp4``); segment labels
    are class names (XD codes translated with `annotations.XD_CODES`).
    """
    if dataset == "ucf":
        raw = ann.read_ucf_temporal(path)
    elif dataset == "xd":
        raw = {
            name: [ann.Segment(ann.XD_CODES[s.label], s.start, s.end) for s in segs]
            for name, segs in ann.read_xd_multiclass(path).items()
        }
    else:
        raise ValueError(f"dataset must be one of {DATASETS}, got '{dataset}'")
    return {video_name(name)[0]: segs for name, segs in raw.items()}


def build_ground_truth(
    videos: Sequence[tuple[str, str, int]],
    segments_path: str | Path,
    dataset: str,
    frame_segments_path: str | Path | None = None,
    snippet_frames: int = ann.SNIPPET_FRAMES,
) -> GroundTruth:
    """Ground truth of the test videos, as VadCLIP's ``list/make_gt*.py`` builds it.

    Args:
        videos: ``(name, list label, T snippets)`` per test video, in evaluation order.
        segments_path: the class-segment file (see `read_segments`).
        dataset: ``"ucf"`` or ``"xd"`` (the synthetic benchmark is ``"xd"``).
        frame_segments_path: XD ``annotations.txt``, VadCLIP's source of the frame-level
            vectors (its union differs from the multiclass file's in 5 real videos); by default
            the frame vectors are the union of the class segments.
        snippet_frames: frames per snippet (16).

    Frame vectors have 16·T frames; segment frames past that are dropped there (not from the
    detection segments: `detection_map` handles those per its mode). A normal video's
    detection ground truth is one segment ``[0, 16·T)`` labelled ``Normal`` for XD and ``A``
    for UCF, as VadCLIP's ``make_gt_mAP_*.py`` writes it (its UCF class list has no ``A``;
    `detection_map(mode="corrected")` reads it as ``Normal``). An abnormal video without an
    annotation line is an error naming the file.
    """
    segments_by_name = read_segments(segments_path, dataset)
    frame_pairs = None
    if frame_segments_path is not None:
        frame_pairs = {
            video_name(n)[0]: p for n, p in ann.read_xd_annotations(frame_segments_path).items()
        }
    gt = GroundTruth()
    for name, label, n_snippets in videos:
        n_frames = int(n_snippets) * snippet_frames
        normal = is_normal(label)
        if normal:
            segments = [(0, n_frames)]
            labels = [NORMAL if dataset == "xd" else VADCLIP_NORMAL_LABEL]
            frame_gt = np.zeros(n_frames, dtype=np.uint8)
        else:
            if name not in segments_by_name:
                raise DataError(
                    f"{segments_path}: no annotation line for the abnormal test video '{name}'"
                )
            segs = segments_by_name[name]
            segments = [(s.start, s.end) for s in segs]
            labels = [s.label for s in segs]
            if frame_pairs is not None:
                if name not in frame_pairs:
                    raise DataError(
                        f"{frame_segments_path}: no annotation line for the abnormal "
                        f"test video '{name}'"
                    )
                frame_gt = ann.frame_labels(frame_pairs[name], n_frames)
            else:
                frame_gt = ann.frame_labels(segs, n_frames)
        gt.names.append(name)
        gt.frame_gt.append(frame_gt)
        gt.segments.append(segments)
        gt.labels.append(labels)
        gt.abnormal.append(not normal)
    return gt


# ---------------------------------------------------------------------------------------------
# Raw videos: decode, sample one frame per snippet, cache
# ---------------------------------------------------------------------------------------------


def snippet_offsets(per_snippet: int, snippet_frames: int = ann.SNIPPET_FRAMES) -> list[int]:
    """Frames kept from each snippet: `per_snippet` evenly spaced offsets, the first one 0."""
    if not 1 <= per_snippet <= snippet_frames:
        raise ConfigError(f"data.frames_per_snippet must be between 1 and {snippet_frames}, got {per_snippet}")
    return [j * snippet_frames // per_snippet for j in range(per_snippet)]


def sample_snippet_frames(
    video_path: str | Path,
    snippet_frames: int = ann.SNIPPET_FRAMES,
    size: tuple[int, int] | None = None,
    per_snippet: int = 1,
) -> Iterator[np.ndarray]:
    """Yield the first frame of every complete snippet, RGB uint8 (H, W, 3).

    Frame ``s * snippet_frames`` stands for snippet s (docs/ARCHITECTURE.md); a trailing
    incomplete snippet is dropped, as the 16·T ground truth drops its frames. `size` is
    (height, width) to resize to, with the detector's own `resize_rgb`, so that training sees
    exactly the pixels the deployed model will. With ``per_snippet`` K > 1 each item is
    (K, H, W, 3): the frames at `snippet_offsets` (K evenly spaced, the first frame first), for
    the temporal jitter of `FeatureTrainDataset`. Raises DataError naming the file when it
    cannot be opened, a frame cannot be decoded, it is shorter than one snippet, or it ends
    more than a snippet before the frame count its header announces (truncated).
    """
    import cv2

    from tcvads_ros.runtime.frames import resize_rgb

    path = Path(video_path)
    if not path.is_file():
        raise DataError(f"{path}: video file not found")
    capture = cv2.VideoCapture(str(path))
    try:
        if not capture.isOpened():
            raise DataError(f"{path}: OpenCV cannot open this video")
        announced = int(capture.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        offsets = set(snippet_offsets(per_snippet, snippet_frames))
        index, pending = 0, []
        while capture.grab():
            if index % snippet_frames in offsets:
                ok, bgr = capture.retrieve()
                if not ok or bgr is None:
                    raise DataError(f"{path}: frame {index} cannot be decoded")
                rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
                if size is not None:
                    rgb = resize_rgb(rgb, size)
                pending.append(rgb)
            if index % snippet_frames == snippet_frames - 1:
                yield pending[0] if per_snippet == 1 else np.stack(pending)
                pending = []
            index += 1
        if index < snippet_frames:
            raise DataError(
                f"{path}: {index} decodable frames, shorter than one {snippet_frames}-frame snippet"
            )
        if announced > 0 and index < announced - snippet_frames:
            raise DataError(
                f"{path}: decoding stopped at frame {index} of the {announced} its header "
                "announces (truncated file?)"
            )
    finally:
        capture.release()


@dataclass
class ExtractionSummary:
    """What an extraction run did: files written, complete outputs skipped, failures (messages)."""

    list_path: Path
    written: int = 0
    skipped: int = 0
    failures: list[str] = field(default_factory=list)


def _save_atomic(path: Path, array: np.ndarray) -> None:
    """Write a .npy so that an interrupted run leaves either the old state or the whole file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    with open(partial, "wb") as f:
        np.save(f, array, allow_pickle=False)
        f.flush()
        os.fsync(f.fileno())
    os.replace(partial, path)


def _complete(path: Path, source: Path) -> bool:
    """An earlier run's output is complete if it exists, is not older than the video it was made
    from (a regenerated or replaced video is cached again), and its .npy header reads."""
    if not path.is_file() or (source.is_file() and path.stat().st_mtime < source.stat().st_mtime):
        return False
    try:
        np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError, EOFError):
        return False
    return True


def _video_entries(video_list: str | Path) -> list[tuple[Path, str, Path]]:
    """(video path, label, output path relative to out_dir without crop/extension)."""
    list_path = Path(video_list)
    out = []
    for row in ann.read_feature_list(list_path):
        rel = Path(row.path)
        video = rel if rel.is_absolute() else list_path.parent / rel
        stem = Path(rel.name) if rel.is_absolute() else rel
        out.append((video, row.label, stem.with_suffix("")))
    return out


def _cache_videos(
    video_list: str | Path,
    out_dir: str | Path,
    convert: Callable[[Path], np.ndarray],
    skip_errors: bool,
    progress: bool,
    what: str,
) -> ExtractionSummary:
    """Shared loop of `extract_features` and `cache_frames`: resumable, atomic, listed."""
    from tcvads_ros.progress import progress_bar

    out_dir = Path(out_dir)
    videos = _video_entries(video_list)
    summary = ExtractionSummary(out_dir / Path(video_list).name)
    if summary.list_path.resolve() == Path(video_list).resolve():
        raise DataError(
            f"{video_list}: writing the {what} list to {out_dir} would replace this video list; "
            "choose another output folder"
        )
    out_dir.mkdir(parents=True, exist_ok=True)
    listed = []
    bar = progress_bar(videos, desc=f"{what} {Path(video_list).name}", unit="video", show=progress)
    for video, label, stem in bar:
        target = out_dir / stem.parent / f"{stem.name}__0.npy"
        if _complete(target, video):
            summary.skipped += 1
        else:
            try:
                _save_atomic(target, convert(video))
                summary.written += 1
            except DataError as exc:
                if not skip_errors:
                    raise
                summary.failures.append(str(exc))
                bar.set_postfix(failed=len(summary.failures))
                continue
        listed.append(ann.ListEntry(target.relative_to(out_dir).as_posix(), label))
    partial = summary.list_path.with_name(summary.list_path.name + ".partial")
    ann.write_feature_list(partial, listed)
    os.replace(partial, summary.list_path)
    return summary


def extract_features(
    video_list: str | Path,
    out_dir: str | Path,
    extractor: Callable[[np.ndarray], np.ndarray],
    snippet_frames: int = ann.SNIPPET_FRAMES,
    size: tuple[int, int] | None = None,
    batch_size: int = 64,
    skip_errors: bool = False,
    progress: bool = True,
) -> ExtractionSummary:
    """Extract and cache per-video snippet features in VadCLIP's layout.

    Args:
        video_list: CSV ``path,label`` of video files (paths relative to the list's folder or
            absolute), e.g. ``tcvads synth``'s ``train.csv`` / ``test.csv``.
        out_dir: where ``<relative path without extension>__0.npy`` (float32 (T, D)) and a list
            of the same name as `video_list` (paths relative to `out_dir`) are written.
        extractor: ``frames uint8 (N, H, W, 3) RGB -> (N, D)`` features, called in batches of at
            most `batch_size` frames (e.g. a frozen CLIP image encoder or the coarse backbone).
        snippet_frames, size: see `sample_snippet_frames`.
        skip_errors: count a video that cannot be read (a DataError) and go on; by default the
            first one is raised.
        progress: show a tqdm bar.

    Re-running skips videos whose output is complete, so an interrupted extraction resumes;
    every file is written to a ``.partial`` file and renamed, so none is left half-written.
    Outputs are recognised by path only: give each extractor (model, input size) its own
    `out_dir`.
    Returns an `ExtractionSummary`; the list names only the videos that have features.
    """

    def convert(video: Path) -> np.ndarray:
        rows = []
        batch: list[np.ndarray] = []

        def flush() -> None:
            out = np.asarray(extractor(np.stack(batch)))
            if out.ndim != 2 or out.shape[0] != len(batch):
                raise ValueError(
                    f"extractor returned shape {out.shape} for {len(batch)} frames; expected (N, D)"
                )
            if not np.all(np.isfinite(out)):
                raise DataError(f"{video}: the extractor returned NaN or infinite features")
            rows.append(out.astype(np.float32))
            batch.clear()

        for frame in sample_snippet_frames(video, snippet_frames, size):
            batch.append(frame)
            if len(batch) == batch_size:
                flush()
        if batch:
            flush()
        return np.concatenate(rows, axis=0)

    return _cache_videos(video_list, out_dir, convert, skip_errors, progress, "features")


def cache_frames(
    video_list: str | Path,
    out_dir: str | Path,
    size: tuple[int, int] | None = None,
    snippet_frames: int = ann.SNIPPET_FRAMES,
    skip_errors: bool = False,
    progress: bool = True,
    per_snippet: int = 1,
) -> ExtractionSummary:
    """Cache the sampled snippet frames themselves, uint8 (T, H, W, 3) per video.

    For end-to-end training of the coarse backbone (read back with
    ``FeatureTrainDataset(..., arrays="frames")``). Same layout, list, resumption, atomic writes
    and error handling as `extract_features`; `size` (height, width) keeps the cache small.
    ``per_snippet`` K > 1 caches (T, K, H, W, 3): K frames of each snippet for temporal jitter.
    """

    def convert(video: Path) -> np.ndarray:
        return np.stack(list(sample_snippet_frames(video, snippet_frames, size, per_snippet)))

    return _cache_videos(video_list, out_dir, convert, skip_errors, progress, "frames")
