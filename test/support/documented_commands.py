# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""The shell commands the README and docs/ show, as a reader would copy them.

`commands(path)` yields every command line of the fenced code blocks of a Markdown file
(continuation lines joined, output lines left out); `ros2_commands(path)` its ros2 and colcon
lines (test/nodes/test_ros_commands.py types them); `readme_flow()` the README's
train -> export -> synth -> detect block.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DOCUMENTS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
# The nodes' console scripts run as `.venv/bin/NAME` where ROS 2 comes from the registry's wheels.
NODES = ("coarse_node", "fine_node", "camera_player")
PROGRAMS = ("tcvads", "python", "bash", "torchrun", "ros2", "colcon", "pip", "mkdocs",
            *NODES, *(f".venv/bin/{name}" for name in NODES))
FENCE = re.compile(r"^```")
ENVIRONMENT = re.compile(r"^(?:[A-Z_][A-Z0-9_]*=\S*\s+)+")  # leading VAR=value assignments


def blocks(path: Path) -> Iterator[list[str]]:
    """The lines of each fenced code block of a Markdown file."""
    lines, inside = [], False
    for line in path.read_text(encoding="utf-8").splitlines():
        if FENCE.match(line.strip()):
            if inside:
                yield lines
            lines, inside = [], not inside
        elif inside:
            lines.append(line)


def block_commands(block: list[str]) -> list[str]:
    """Command lines (``tcvads ...``, ``python ...`` ...) of one code block, continuations
    joined; lines such as ``tcvads detect: ...`` (a command's output) are not commands."""
    joined: list[str] = []
    for line in block:
        if joined and joined[-1].endswith("\\"):
            joined[-1] = joined[-1][:-1] + " " + line.strip()
        else:
            joined.append(line.strip())
    joined = [ENVIRONMENT.sub("", line) for line in joined]  # `OMP_NUM_THREADS=1 tcvads ...`
    return [line for line in joined
            if (words := line.split()) and words[0] in PROGRAMS and not (len(words) > 1 and words[1].endswith(":"))]


def commands(path: Path) -> Iterator[str]:
    """Every command line of a Markdown file's code blocks."""
    for block in blocks(path):
        yield from block_commands(block)


def ros2_commands(path: Path) -> list[str]:
    """The `ros2 ...` and `colcon ...` command lines of a Markdown file, single-spaced (as a
    continuation line joins them)."""
    return [" ".join(line.split()) for line in commands(path) if line.split()[0] in ("ros2", "colcon")]


def readme_flow() -> list[str]:
    """The README's block that trains, exports, synthesises a video and detects on it."""
    for block in blocks(REPO / "README.md"):
        lines = block_commands(block)
        if any(line.startswith("tcvads export") for line in lines):
            return lines
    raise AssertionError("README.md: no code block with `tcvads export`")
