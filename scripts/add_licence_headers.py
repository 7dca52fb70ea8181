#!/usr/bin/env python
# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""Put the copyright and SPDX licence lines at the top of every source file that lacks them
(after a shebang line), as test/test_licence_headers.py checks: ``python scripts/add_licence_headers.py``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
HEADER = ("# SPDX-FileCopyrightText: 2026 The tcvads_ros authors", "# SPDX-License-Identifier: Apache-2.0")
SUFFIXES = (".py", ".sh", ".cmake")
NAMES = ("CMakeLists.txt",)


def source_files(repo: Path = REPO) -> list[Path]:
    """The tracked source files: Python, shell and CMake."""
    listed = subprocess.run(["git", "ls-files"], cwd=repo, capture_output=True, text=True, check=True).stdout
    return [repo / name for name in listed.splitlines()
            if name.endswith(SUFFIXES) or Path(name).name in NAMES]


def has_header(text: str) -> bool:
    head = text.splitlines()[:4]
    return all(any(line.strip() == h for line in head) for h in HEADER)


def with_header(text: str) -> str:
    lines = text.splitlines(keepends=True)
    at = 1 if lines and lines[0].startswith("#!") else 0
    return "".join(lines[:at]) + "".join(h + "\n" for h in HEADER) + "".join(lines[at:])


def main() -> int:
    changed = 0
    for path in source_files():
        text = path.read_text(encoding="utf-8")
        if not has_header(text):
            path.write_text(with_header(text), encoding="utf-8")
            changed += 1
    print(f"{changed} file(s) given the licence header", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
