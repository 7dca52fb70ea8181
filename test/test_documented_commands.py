# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""Every command the README and docs/ show runs in CI as shown, so the documentation cannot
drift from the code.

- The README's train -> export -> synth -> detect block runs for real, line by line in bash,
  exactly as written (`readme_run` in conftest.py).
- Every other command line of a code block is checked against the code it names: `tcvads` and
  `python training/*.py` lines are parsed by the command's own parser, and a training config
  with its ``key.path=value`` overrides is loaded and validated; `python -c` imports resolve;
  benchmark and script lines name files that exist and options those scripts define; launch
  lines name launch files and arguments that exist. (Running the long ones, a real training on
  UCF-Crime for instance, is what the rest of the suite does at small sizes.)
"""

from __future__ import annotations

import argparse
import ast
import importlib
import itertools
import json
import shlex
from pathlib import Path

import pytest
import yaml
from documented_commands import DOCUMENTS, NODES, REPO, commands

from tcvads_ros import cli

LINES = [(path, line) for path in DOCUMENTS for line in commands(path)]


def test_readme_flow_runs_as_written(readme_run):
    bundle = readme_run / "bundles" / "smoke"
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert manifest["fine_clip_snippets"] == 16 and manifest["source_run"].endswith("runs/smoke")
    assert (readme_run / "events.jsonl").is_file()
    assert not [p.name for p in (readme_run / "bundles").iterdir() if p.name != "smoke"]  # no partial folders


def test_documents_show_commands():
    shown = {path.name for path, _ in LINES}
    assert {"README.md", "training.md", "runtime.md", "performance.md", "ros2.md"} <= shown


def _parse(configure, argv: list[str], line: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog=line.split()[0])
    configure(parser)
    try:
        return parser.parse_args(argv)
    except SystemExit as exc:
        raise AssertionError(f"{line!r}: the command's parser refuses these arguments") from exc


def _check_training(script: str, argv: list[str], line: str) -> None:
    path = REPO / script
    assert path.is_file(), f"{line!r}: {script} does not exist"
    module = importlib.import_module(f"tcvads_ros.training.{path.stem}")
    args = _parse(module.configure_parser, argv, line)
    if path.stem == "train" and args.config is not None:
        from tcvads_ros.training.train_config import load_config

        load_config(REPO / args.config, args.overrides)  # every key exists and every value fits


def _check_tcvads(argv: list[str], line: str) -> None:
    command = argv[0]
    assert command in cli.COMMANDS, f"{line!r}: no command '{command}'"
    module = importlib.import_module(cli.COMMANDS[command][0])
    args = _parse(module.configure_parser, argv[1:], line)
    if command == "train" and args.config is not None:
        from tcvads_ros.training.train_config import load_config

        load_config(REPO / args.config, args.overrides)


def _check_python_c(code: str, line: str) -> None:
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.ImportFrom):
            module = importlib.import_module(node.module)
            for alias in node.names:
                assert hasattr(module, alias.name), f"{line!r}: {node.module} has no {alias.name}"


def _check_script(script: str, argv: list[str], line: str) -> None:
    path = REPO / script
    assert path.is_file(), f"{line!r}: {script} does not exist"
    text = path.read_text(encoding="utf-8")
    for word in argv:
        if word.startswith("--"):
            option = word.split("=")[0]
            assert f'"{option}"' in text, f"{line!r}: {script} has no option {option}"


def _check_launch(argv: list[str], line: str) -> None:
    package, launch_file, *rest = argv
    assert package == "tcvads_ros"
    text = (REPO / "launch" / launch_file).read_text(encoding="utf-8")
    # an included launch file's arguments are the including one's too
    text += "".join(p.read_text(encoding="utf-8") for p in (REPO / "launch").glob("*.launch.py")
                    if p.name != launch_file and p.name in text)
    for word in rest:
        if ":=" in word:
            name = word.split(":=")[0]
            assert f'"{name}"' in text, f"{line!r}: {launch_file} declares no argument '{name}'"


def _check_node(program: str, argv: list[str], line: str) -> None:
    """`coarse_node` / `fine_node` ``--ros-args`` lines: every ``-p name:=value`` a parameter of
    that node with an acceptable value, every params file present; `camera_player` lines parsed
    by its own parser."""
    name = program.rsplit("/", 1)[-1]
    if name == "camera_player":
        from tcvads_ros.nodes.camera_player import parse_args

        try:
            parse_args(argv)
        except SystemExit as exc:
            raise AssertionError(f"{line!r}: camera_player refuses these arguments") from exc
        return
    from tcvads_ros.nodes import parameters

    assert argv[0] == "--ros-args", f"{line!r}: node arguments start with --ros-args"
    specs = {spec.name: spec for spec in parameters.specs_for(name)}
    for flag, value in zip(argv[1:], argv[2:]):
        if flag == "--params-file":
            assert (REPO / value).is_file(), f"{line!r}: no {value}"
        elif flag == "-p":
            key, _, text = value.partition(":=")
            if key.startswith(parameters.QOS_OVERRIDES):
                problem = parameters.check_qos_override(key, yaml.safe_load(text))
                assert problem is None, f"{line!r}: {problem}"
                continue
            assert key in specs, f"{line!r}: {name} has no parameter {key}"
            if specs[key].type == "string":
                continue
            parsed = yaml.safe_load(text)
            assert parameters.check_value(specs[key], parsed) is None, f"{line!r}: {key}:={text} is refused"


def _check_ros2_param(argv: list[str], line: str) -> None:
    """`ros2 param get|set /node name [value]`: a parameter of that node (or a QoS override),
    and a value it accepts; test/nodes/test_ros_commands.py types them against running nodes."""
    from tcvads_ros.nodes import parameters

    verb, node, name, *value = argv
    assert verb in ("get", "set") and len(value) == (verb == "set"), line
    if name.startswith(parameters.QOS_OVERRIDES):
        return
    specs = {spec.name: spec for spec in parameters.specs_for(node.rsplit("/", 1)[-1])}
    assert name in specs, f"{line!r}: {node} has no parameter {name}"
    if value:
        assert parameters.check_value(specs[name], yaml.safe_load(value[0])) is None, f"{line!r}: refused"


def _check_colcon(argv: list[str], line: str) -> None:
    """`colcon build` in a workspace whose src/tcvads_ros is this clone: its base paths are src
    and the clone's folder of interface packages, which holds tcvads_msgs (colcon does not look
    inside the tcvads_ros package it finds in src)."""
    assert argv[0] == "build" and "--base-paths" in argv, line
    paths = list(itertools.takewhile(lambda word: not word.startswith("-"), argv[argv.index("--base-paths") + 1:]))
    assert "src" in paths, line
    clone = [Path(p).relative_to("src/tcvads_ros") for p in paths if p != "src"]
    assert any((REPO / folder / "tcvads_msgs" / "package.xml").is_file() for folder in clone), line


@pytest.mark.parametrize(("path", "line"), LINES, ids=[f"{p.name}:{i}" for i, (p, _) in enumerate(LINES)])
def test_documented_command_matches_the_code(path: Path, line: str):
    words = shlex.split(line, comments=True)
    program, argv = words[0], words[1:]
    if program == "tcvads":
        _check_tcvads(argv, line)
    elif program == "torchrun":
        script = next(w for w in argv if w.endswith(".py"))
        _check_training(script, argv[argv.index(script) + 1:], line)
    elif program == "python" and argv[0] == "-c":
        _check_python_c(argv[1], line)
    elif program == "python" and argv[0] == "-m":
        module = argv[1]
        assert module.startswith("benchmarks."), f"{line!r}: python -m {module} is not a project module"
        _check_script(module.replace(".", "/") + ".py", argv[2:], line)
    elif program == "python" and argv[0].startswith("training/"):
        _check_training(argv[0], argv[1:], line)
    elif program in ("python", "bash"):
        _check_script(argv[0], argv[1:], line)
    elif program == "ros2" and argv[0] == "launch":
        _check_launch(argv[1:], line)
    elif program == "ros2" and argv[0] == "topic":
        assert argv[1] in ("echo", "list", "hz", "info") and argv[2:3] and argv[2].startswith("/")
    elif program == "ros2" and argv[0] == "param":
        _check_ros2_param(argv[1:], line)
    elif program == "ros2" and argv[0] in ("node", "run"):
        assert argv[1:] == ["list"] or argv[1:3] == ["tcvads_ros", "camera_player"], line
        if argv[0] == "run":
            _check_node("camera_player", argv[3:], line)
    elif program == "colcon":
        _check_colcon(argv, line)
    elif program.rsplit("/", 1)[-1] in NODES:
        _check_node(program, argv, line)
    elif program == "mkdocs":
        assert argv[0] in ("build", "serve") and (REPO / "mkdocs.yml").is_file()
    else:
        pytest.fail(f"{path.name}: {line!r}: a command this test does not know how to check")
