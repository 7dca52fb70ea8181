"""docs/ARCHITECTURE.md stays true: its layout lists every module, script and launch file of the
repository, and nothing that does not exist."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
LISTED_FOLDERS = ("tcvads_ros", "training", "benchmarks", "scripts", "launch")


def listed_paths() -> set[str]:
    """Paths of the files in the layout block, rebuilt from its indentation (2 spaces a level)."""
    text = (REPO / "docs" / "ARCHITECTURE.md").read_text(encoding="utf-8")
    block = text.split("## Layout", 1)[1].split("```")[1]
    folders: list[str] = []
    paths = set()
    for line in block.splitlines():
        if not line.strip():
            continue
        depth = (len(line) - len(line.lstrip(" "))) // 2
        name = line.split()[0]
        folders = folders[:depth]
        if name.endswith("/"):
            folders.append(name.rstrip("/"))
        elif re.search(r"\.(py|sh)$", name):
            paths.add("/".join([*folders, name]))
    return paths


def repository_modules() -> set[str]:
    files = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", *LISTED_FOLDERS],
                           cwd=REPO, capture_output=True, text=True, check=True).stdout.split()
    return {f for f in files if re.search(r"\.(py|sh)$", f) and not f.endswith("__init__.py")
            and (REPO / f).is_file()}


def test_every_module_is_in_the_architecture_map():
    missing = sorted(repository_modules() - listed_paths())
    assert not missing, f"docs/ARCHITECTURE.md does not list: {missing}"


def test_everything_the_map_lists_exists():
    stale = sorted(p for p in listed_paths() if not (REPO / p).is_file())
    assert not stale, f"docs/ARCHITECTURE.md lists what does not exist: {stale}"
