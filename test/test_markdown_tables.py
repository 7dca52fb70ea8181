# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""Every Markdown table of the README and docs/ renders: its separator row has as many columns
as its header (a table whose separator is short is shown as plain text)."""

from __future__ import annotations

import re

import pytest
from documented_commands import DOCUMENTS

SEPARATOR = re.compile(r"^\|(\s*:?-+:?\s*\|)+$")


def tables(text: str):
    """(line number, header, separator) of each table outside code blocks."""
    lines, inside = text.splitlines(), False
    for i, line in enumerate(lines):
        if line.strip().startswith("```"):
            inside = not inside
        if not inside and i and SEPARATOR.match(line.strip()) and lines[i - 1].lstrip().startswith("|"):
            yield i + 1, lines[i - 1], line


def columns(row: str) -> int:
    return len(re.sub(r"`[^`]*`", "code", row.strip()).strip("|").split("|"))


@pytest.mark.parametrize("path", DOCUMENTS, ids=[p.name for p in DOCUMENTS])
def test_table_separators_match_their_headers(path):
    bad = [(n, columns(h), columns(s)) for n, h, s in tables(path.read_text(encoding="utf-8"))
           if columns(h) != columns(s)]
    assert not bad, f"{path.name}: (line, header columns, separator columns): {bad}"
