# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""docs/ARCHITECTURE.md stays true: its layout lists every module, script and launch file of the
repository, and nothing that does not exist."""

from __future__ import annotations

import ast
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


# Each package and what it must never import: the floors of the layout. The runtime (with its
# backends) runs on the edge without the training side; models and data are below both.
NEVER_IMPORTS = {
    "tcvads_ros/runtime": ("tcvads_ros.training", "tcvads_ros.nodes"),
    "tcvads_ros/models": ("tcvads_ros.training", "tcvads_ros.runtime", "tcvads_ros.nodes"),
    "tcvads_ros/data": ("tcvads_ros.training", "tcvads_ros.nodes"),
}


def imported_modules(path: Path) -> set[str]:
    """Every module a file imports, at its top or inside a function."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def upward_imports(package: str, forbidden: tuple[str, ...]) -> list[str]:
    return sorted(f"{path.relative_to(REPO)} imports {name}"
                  for path in (REPO / package).rglob("*.py") for name in imported_modules(path)
                  if any(name == f or name.startswith(f + ".") for f in forbidden))


def test_no_import_runs_up_a_floor():
    found = [line for package, forbidden in NEVER_IMPORTS.items() for line in upward_imports(package, forbidden)]
    assert not found, "imports that run up a floor:\n" + "\n".join(found)


def test_the_floor_check_sees_an_import_inside_a_function(tmp_path):
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "backend.py").write_text(
        "def load():\n    from tcvads_ros.training.export import load_run\n    return load_run\n")
    found = sorted(name for name in imported_modules(tmp_path / "pkg" / "backend.py")
                   if name.startswith("tcvads_ros.training"))
    assert found == ["tcvads_ros.training.export", "tcvads_ros.training.export.load_run"]
