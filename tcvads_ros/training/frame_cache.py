# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""Raw videos: decoded with OpenCV, one frame per 16-frame snippet, cached.

`extract_features` and `cache_frames` take the first frame of each snippet (``s * 16``,
docs/ARCHITECTURE.md), resized with the detector's own `resize_rgb`, and cache each video as
``name__0.npy`` beside a CSV list of the layout `training.feature_datasets` reads; resumable,
atomic writes.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tcvads_ros.data import annotations as ann
from tcvads_ros.errors import ConfigError, DataError


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


def save_atomic(path: Path, array: np.ndarray) -> None:
    """Write a .npy so that an interrupted run leaves either the old state or the whole file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    with open(partial, "wb") as f:
        np.save(f, array, allow_pickle=False)
        f.flush()
        os.fsync(f.fileno())
    os.replace(partial, path)


def is_complete(path: Path, source: Path) -> bool:
    """An earlier run's output is complete if it exists, is not older than the video it was made
    from (a regenerated or replaced video is cached again), and its .npy header reads."""
    if not path.is_file() or (source.is_file() and path.stat().st_mtime < source.stat().st_mtime):
        return False
    try:
        np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError, EOFError):
        return False
    return True


def video_entries(video_list: str | Path) -> list[tuple[Path, str, Path]]:
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
    videos = video_entries(video_list)
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
        if is_complete(target, video):
            summary.skipped += 1
        else:
            try:
                save_atomic(target, convert(video))
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
