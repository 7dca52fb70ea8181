# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""Readers and writers for the real UCF-Crime and XD-Violence annotation formats.

The formats are those of VadCLIP's released lists (see ``shared/data/vadclip-lists``):

- XD-Violence video names end in ``_label_<c1>-<c2>-<c3>`` (``A`` for normal, ``0`` for an empty
  slot), e.g. ``v=S-7rRLrxnVQ__#1_label_B4-0-0``.
- ``annotations.txt`` (XD test): ``name s1 e1 s2 e2 ...`` frame pairs.
- ``annotations_multiclasses.txt`` (XD test): ``name c1 s1 e1 c2 s2 e2 ...`` triplets.
- ``Temporal_Anomaly_Annotation.txt`` (UCF test): ``name class s1 e1 s2 e2``, ``-1`` for none.
- Feature lists: CSV with a ``path,label`` header.

Frame indices are at the video's original frame rate. A segment is the half-open range
``[start, end)``; every reader and writer here and every metric uses that one convention.
Errors name the file and line at fault.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tcvads_ros.errors import DataError

# XD-Violence codes and the class names used for them (VadCLIP's label map, capitalised).
XD_CODES: dict[str, str] = {
    "A": "Normal",
    "B1": "Fighting",
    "B2": "Shooting",
    "B4": "Riot",
    "B5": "Abuse",
    "B6": "Car accident",
    "G": "Explosion",
}
XD_CLASSES: list[str] = list(XD_CODES.values())

UCF_CLASSES: list[str] = [
    "Normal", "Abuse", "Arrest", "Arson", "Assault", "Burglary", "Explosion", "Fighting",
    "RoadAccidents", "Robbery", "Shooting", "Shoplifting", "Stealing", "Vandalism",
]

SNIPPET_FRAMES = 16  # frames covered by one feature row (VadCLIP; docs/evaluation.md)

_XD_LABEL = re.compile(r"_label_([A-Z0-9]+(?:-[A-Z0-9]+){0,2})$")


@dataclass(frozen=True)
class Segment:
    """One annotated anomaly: class label (a code such as ``B1``, or a UCF class) and ``[start, end)``."""

    label: str
    start: int
    end: int


@dataclass(frozen=True)
class ListEntry:
    """One row of a VadCLIP feature list."""

    path: str
    label: str


def xd_codes(label: str) -> list[str]:
    """``'B1-B2-0'`` -> ``['B1', 'B2']``; ``'A'`` -> ``['A']``. Unknown codes raise ValueError."""
    codes = [c for c in label.split("-") if c != "0"]
    if not codes:
        raise ValueError(f"label '{label}' has no code")
    for code in codes:
        if code not in XD_CODES:
            raise ValueError(f"unknown XD-Violence code '{code}' in label '{label}' (known: {', '.join(XD_CODES)})")
    return codes


def xd_label_of_name(name: str) -> str:
    """The ``_label_...`` part of an XD-Violence video name (without a crop suffix or extension)."""
    stem = re.sub(r"__\d+$", "", Path(name).stem if name.endswith((".npy", ".mp4", ".avi")) else name)
    match = _XD_LABEL.search(stem)
    if not match:
        raise ValueError(f"'{name}' does not end in _label_<codes> as XD-Violence names do")
    return match.group(1)


def xd_label_string(codes: Sequence[str]) -> str:
    """``['B1']`` -> ``'B1-0-0'``; ``['A']`` -> ``'A'`` (XD-Violence's naming)."""
    if list(codes) == ["A"]:
        return "A"
    if not 1 <= len(codes) <= 3:
        raise ValueError(f"an XD-Violence label holds one to three codes, got {list(codes)}")
    return "-".join(list(codes) + ["0"] * (3 - len(codes)))


def _lines(path: Path) -> Iterable[tuple[int, list[str]]]:
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: annotation file not found")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 text ({exc})") from exc
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            yield number, line.split()


def _frame(path: Path, number: int, token: str) -> int:
    try:
        return int(token)
    except ValueError:
        raise DataError(f"{path}:{number}: expected a frame number, got '{token}'") from None


def _check(path: Path, number: int, start: int, end: int) -> None:
    if start < 0 or end <= start:
        raise DataError(f"{path}:{number}: segment [{start}, {end}) is empty or negative")


def read_xd_annotations(path: str | Path) -> dict[str, list[tuple[int, int]]]:
    """``annotations.txt``: name -> list of (start, end) frame pairs."""
    path = Path(path)
    out: dict[str, list[tuple[int, int]]] = {}
    for number, tokens in _lines(path):
        name, rest = tokens[0], tokens[1:]
        if len(rest) % 2:
            raise DataError(f"{path}:{number}: expected start/end pairs after the name, got {len(rest)} numbers")
        pairs = []
        for i in range(0, len(rest), 2):
            start, end = _frame(path, number, rest[i]), _frame(path, number, rest[i + 1])
            _check(path, number, start, end)
            pairs.append((start, end))
        out[name] = pairs
    return out


def read_xd_multiclass(path: str | Path) -> dict[str, list[Segment]]:
    """``annotations_multiclasses.txt``: name -> segments with their XD code."""
    path = Path(path)
    out: dict[str, list[Segment]] = {}
    for number, tokens in _lines(path):
        name, rest = tokens[0], tokens[1:]
        if len(rest) % 3:
            raise DataError(f"{path}:{number}: expected label/start/end triplets after the name")
        segments = []
        for i in range(0, len(rest), 3):
            label = rest[i]
            if label not in XD_CODES:
                raise DataError(f"{path}:{number}: unknown XD-Violence code '{label}'")
            start, end = _frame(path, number, rest[i + 1]), _frame(path, number, rest[i + 2])
            _check(path, number, start, end)
            segments.append(Segment(label, start, end))
        out[name] = segments
    return out


def read_ucf_temporal(path: str | Path) -> dict[str, list[Segment]]:
    """``Temporal_Anomaly_Annotation.txt``: name -> segments (none for normal videos).

    Normal test videos carry the class ``Normal`` and ``-1`` for every frame number.
    """
    path = Path(path)
    out: dict[str, list[Segment]] = {}
    for number, tokens in _lines(path):
        if len(tokens) != 6:
            raise DataError(f"{path}:{number}: expected 6 fields (name class s1 e1 s2 e2), got {len(tokens)}")
        name, label = tokens[0], tokens[1]
        frames = [_frame(path, number, t) for t in tokens[2:]]
        segments = []
        for start, end in (frames[0:2], frames[2:4]):
            if start == -1 and end == -1:
                continue
            _check(path, number, start, end)
            segments.append(Segment(label, start, end))
        out[name] = segments
    return out


def read_feature_list(path: str | Path) -> list[ListEntry]:
    """A VadCLIP feature list (CSV, header ``path,label``)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: feature list not found")
    try:
        rows = list(csv.reader(path.read_text(encoding="utf-8").splitlines()))
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 text ({exc})") from exc
    if not rows or [c.strip() for c in rows[0]] != ["path", "label"]:
        raise DataError(f"{path}:1: expected the header 'path,label'")
    entries = []
    for number, row in enumerate(rows[1:], start=2):
        if not row:
            continue
        if len(row) != 2 or not row[0].strip() or not row[1].strip():
            raise DataError(f"{path}:{number}: expected 'path,label', got {','.join(row)!r}")
        entries.append(ListEntry(row[0].strip(), row[1].strip()))
    return entries


def write_feature_list(path: str | Path, entries: Iterable[ListEntry]) -> None:
    with open(path, "w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(["path", "label"])
        for e in entries:
            writer.writerow([e.path, e.label])


def write_xd_annotations(path: str | Path, segments: Mapping[str, Sequence[Segment]]) -> None:
    """Write ``annotations.txt`` for the videos that have segments (as XD does: abnormal only)."""
    with open(path, "w", encoding="utf-8") as f:
        for name, segs in segments.items():
            if segs:
                f.write(" ".join([name] + [f"{s.start} {s.end}" for s in segs]) + "\n")


def write_xd_multiclass(path: str | Path, segments: Mapping[str, Sequence[Segment]]) -> None:
    """Write ``annotations_multiclasses.txt`` (abnormal videos only)."""
    with open(path, "w", encoding="utf-8") as f:
        for name, segs in segments.items():
            if segs:
                f.write(" ".join([name] + [f"{s.label} {s.start} {s.end}" for s in segs]) + "\n")


def frame_labels(segments: Iterable[Segment | tuple[int, int]], n_frames: int) -> np.ndarray:
    """0/1 vector of `n_frames` frames, 1 inside any segment (half-open, clipped to the video)."""
    gt = np.zeros(n_frames, dtype=np.uint8)
    for seg in segments:
        start, end = (seg.start, seg.end) if isinstance(seg, Segment) else seg
        gt[max(0, start) : min(n_frames, end)] = 1
    return gt
