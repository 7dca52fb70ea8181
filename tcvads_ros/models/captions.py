# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""The caption bank: the fine stage's "CLIP native text" (paper §IV.B), read as retrieval.

CLIP cannot generate text, so (docs/models.md) the native text of a clip is the few captions of a fixed
bank of short scene descriptions that best match its frames by CLIP similarity. The bank ships
as ``config/captions.yaml`` and users extend it with their own scenes: a YAML list, a YAML
mapping with a ``captions`` list, or a plain text file with one caption per line (``#`` starts a
comment line).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import yaml

from tcvads_ros.errors import ConfigError


class CaptionBank:
    """An ordered list of distinct, non-empty scene captions."""

    def __init__(self, captions: Iterable[str], source: str = "captions"):
        self.captions: list[str] = []
        seen = set()
        for i, text in enumerate(captions):
            if not isinstance(text, str) or not text.strip():
                raise ConfigError(f"{source}: caption {i + 1} must be a non-empty string, got {text!r}")
            text = " ".join(text.split())
            if text.lower() in seen:
                raise ConfigError(f"{source}: caption {i + 1} repeats an earlier one: {text!r}")
            seen.add(text.lower())
            self.captions.append(text)
        if not self.captions:
            raise ConfigError(f"{source}: the caption bank is empty; add at least one caption")

    @classmethod
    def from_file(cls, path: str | Path) -> CaptionBank:
        """Read a bank from YAML (``.yaml``/``.yml``) or a plain text file."""
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"{path}: caption file not found")
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            raise ConfigError(f"{path}: not UTF-8 text: {exc}") from exc
        if path.suffix.lower() not in (".yaml", ".yml"):
            lines = (line.strip() for line in text.splitlines())
            return cls([line for line in lines if line and not line.startswith("#")], str(path))
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
        if isinstance(data, dict):
            if "captions" not in data:
                raise ConfigError(f"{path}: expected a 'captions' list at the top level")
            data = data["captions"]
        if not isinstance(data, list):
            raise ConfigError(f"{path}: expected a list of captions, got {type(data).__name__}")
        return cls(data, str(path))

    def __len__(self) -> int:
        return len(self.captions)

    def __getitem__(self, index: int) -> str:
        return self.captions[index]
