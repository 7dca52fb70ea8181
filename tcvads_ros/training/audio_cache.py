# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""Raw videos' sound, per snippet: log-mel patches by the runtime's one feature rule, cached.

Beside the frame cache (`frame_cache`), each video of a list gets ``name__0.npy``: float32
(T, n_mels, mel_frames), the patches `runtime.audio_features.snippet_log_mels` makes of its
sound for its T snippets, and ``name__0.coverage.npy``: float32 (T,), the share of each
snippet's window the track covers. Snippet s is represented by its first frame, stamp
``16 s / fps`` (docs/ARCHITECTURE.md, the stamps `tcvads detect` gives a file's frames), so the
patches are those the deployed detector computes for the same file. T is the number of complete
snippets the video's header announces; the datasets fit it to the cached frames.

The sound of a video is the mono 16-bit WAV beside it with the same stem (what `tcvads synth
--audio` writes, `synthetic_audio.read_wav`), resampled to the feature rule's rate where it has
another. A video without one is cached as unheard (coverage 0): its snippets get the all-zero
audio feature, "no sound", as at the edge. A snippet whose coverage is 0 is unheard
(`heard`): the first snippet of every video is, since its window ends at the video's start.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np

from tcvads_ros.data import annotations as ann
from tcvads_ros.errors import ConfigError, DataError
from tcvads_ros.runtime.audio_features import AudioSpec, snippet_log_mels
from tcvads_ros.training.frame_cache import (
    ExtractionSummary,
    is_complete,
    save_atomic,
    video_entries,
)

COVERAGE = ".coverage.npy"  # the coverage file beside each patch file


def audio_spec(rule: bool | dict[str, Any], embedding_dim: int = AudioSpec.embedding_dim) -> AudioSpec:
    """The `AudioSpec` of ``data.audio`` (true: the default rule; a mapping: the rule's fields
    changed) with the student's audio feature size; `ConfigError` naming a wrong key or value."""
    fields = {} if rule is True else dict(rule or {})
    allowed = set(AudioSpec.__dataclass_fields__) - {"embedding_dim"}
    unknown = sorted(set(fields) - allowed)
    if unknown:
        raise ConfigError(f"unknown configuration key 'data.audio.{unknown[0]}' (valid keys: "
                          f"{', '.join(sorted(allowed))}; the audio feature size is student.model.audio.embedding_dim)")
    try:
        return AudioSpec(**fields, embedding_dim=embedding_dim)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"data.audio: {exc}") from exc


def rule_tag(spec: AudioSpec) -> str:
    """A short name of the feature rule (the cache folder's): specs that differ only in the
    audio feature size share patches."""
    rule = {k: v for k, v in spec.to_dict().items() if k != "embedding_dim"}
    return hashlib.sha1(json.dumps(rule, sort_keys=True).encode()).hexdigest()[:10]


def sound_file(video: Path) -> Path | None:
    """The WAV beside `video` with its stem, or None."""
    wav = video.with_suffix(".wav")
    return wav if wav.is_file() else None


def snippet_stamps(snippets: int, fps: float, snippet_frames: int = ann.SNIPPET_FRAMES) -> np.ndarray:
    """The stamps (s) of the frames that stand for each snippet: ``s * snippet_frames / fps``."""
    return np.arange(snippets, dtype=np.float64) * snippet_frames / fps


def read_sound(path: Path, rate: int) -> np.ndarray:
    """A WAV's mono samples at `rate` (resampled by scipy's polyphase filter where it has another)."""
    from math import gcd

    from tcvads_ros.data.synthetic_audio import read_wav

    try:
        samples, have = read_wav(path)
    except (OSError, ValueError, EOFError) as exc:
        raise DataError(f"{path}: cannot read this WAV ({exc}); the audio cache reads mono 16-bit PCM") from exc
    if have != rate:
        from scipy.signal import resample_poly

        g = gcd(have, rate)
        samples = resample_poly(samples, rate // g, have // g).astype(np.float32)
    return samples


def video_timing(video: Path) -> tuple[int, float]:
    """(complete snippets, frames per second) from the video's header."""
    import cv2

    capture = cv2.VideoCapture(str(video))
    try:
        if not capture.isOpened():
            raise DataError(f"{video}: OpenCV cannot open this video")
        frames, fps = int(capture.get(cv2.CAP_PROP_FRAME_COUNT) or 0), float(capture.get(cv2.CAP_PROP_FPS) or 0)
    finally:
        capture.release()
    if frames < ann.SNIPPET_FRAMES or not 0 < fps < 1000:
        raise DataError(f"{video}: its header gives {frames} frames at {fps:g} fps; the audio cache needs both")
    return frames // ann.SNIPPET_FRAMES, fps


def video_patches(video: Path, spec: AudioSpec) -> tuple[np.ndarray, np.ndarray]:
    """(patches (T, n_mels, mel_frames), coverage (T,)) of one video's sound."""
    snippets, fps = video_timing(video)
    wav = sound_file(video)
    samples = read_sound(wav, spec.rate) if wav is not None else np.zeros(0, np.float32)
    return snippet_log_mels(samples, snippet_stamps(snippets, fps), spec)


def coverage_path(patches: Path) -> Path:
    return patches.with_name(patches.name[: -len(".npy")] + COVERAGE)


def cache_audio(video_list: str | Path, out_dir: str | Path, spec: AudioSpec,
                progress: bool = True) -> ExtractionSummary:
    """Cache every listed video's patches and coverage under `out_dir` (resumable, atomic: the
    coverage is written first, so a complete patch file has its coverage), with a list of the
    patch files named like `video_list`. A video is cached again when its video or WAV is newer."""
    from tcvads_ros.progress import progress_bar

    out_dir = Path(out_dir)
    summary = ExtractionSummary(out_dir / Path(video_list).name)
    if summary.list_path.resolve() == Path(video_list).resolve():
        raise DataError(f"{video_list}: writing the audio list to {out_dir} would replace this video list; "
                        "choose another output folder")
    listed = []
    for video, label, stem in progress_bar(video_entries(video_list), desc=f"audio {Path(video_list).name}",
                                           unit="video", show=progress):
        target = out_dir / stem.parent / f"{stem.name}__0.npy"
        sources = [video, *filter(None, [sound_file(video)])]
        if all(is_complete(target, s) for s in sources) and coverage_path(target).is_file():
            summary.skipped += 1
        else:
            patches, coverage = video_patches(video, spec)
            save_atomic(coverage_path(target), coverage)
            save_atomic(target, patches)
            summary.written += 1
        listed.append(ann.ListEntry(target.relative_to(out_dir).as_posix(), label))
    partial = summary.list_path.with_name(summary.list_path.name + ".partial")
    ann.write_feature_list(partial, listed)
    partial.replace(summary.list_path)
    return summary


def load_patches(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """One video's cached (patches (T, n_mels, mel_frames), coverage (T,)); DataError naming the file."""
    try:
        patches = np.load(path, allow_pickle=False)
        coverage = np.load(coverage_path(path), allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        raise DataError(f"{path}: cannot read the cached sound ({exc}); delete the audio cache to rebuild it") from exc
    if patches.ndim != 3 or coverage.shape != patches.shape[:1]:
        raise DataError(f"{path}: cached sound of shape {patches.shape} with coverage {coverage.shape}; "
                        "delete the audio cache to rebuild it")
    return patches.astype(np.float32, copy=False), coverage.astype(np.float32, copy=False)


def fit_snippets(patches: np.ndarray, coverage: np.ndarray, snippets: int) -> tuple[np.ndarray, np.ndarray]:
    """Patches and heard flags (0/1 float32) of exactly `snippets` snippets: cut, or padded with
    unheard ones (a header that announced other frames than could be decoded)."""
    heard = (coverage > 0).astype(np.float32)
    if len(patches) >= snippets:
        return patches[:snippets], heard[:snippets]
    missing = snippets - len(patches)
    pad = np.zeros((missing, *patches.shape[1:]), np.float32)
    return np.concatenate([patches, pad]), np.concatenate([heard, np.zeros(missing, np.float32)])
