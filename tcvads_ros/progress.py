# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""Progress bars for long work, only on a terminal.

`progress_bar` is tqdm with ``disable=None``: tqdm then draws nothing when its output is not a
TTY (a log file, CI, a pipe), where every refresh would be one more line. ``show=False`` (a
command's ``--no-progress``) turns it off on a terminal too.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from tqdm import tqdm


def progress_bar(iterable: Iterable | None = None, *, show: bool = True, **kwargs: Any) -> tqdm:
    """A tqdm bar over `iterable` (or a manual one with ``total=``), drawn only on a TTY."""
    return tqdm(iterable, disable=None if show else True, **kwargs)
