# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""What ``python training/<tool>.py`` and ``tcvads <tool>`` share: one parser, one error style.

Each training tool (train, evaluate, interpret) defines ``configure_parser(parser)`` and
``run(args) -> int``, the interface of every `tcvads` subcommand (tcvads_ros/cli.py); the
scripts in the repository's ``training/`` folder call `script_main` with them.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from tcvads_ros.errors import TcvadsError


def script_main(prog: str, doc: str | None, configure: Callable[[argparse.ArgumentParser], None],
                run: Callable[[argparse.Namespace], int], argv: list[str] | None = None) -> int:
    """Parse `argv` with `configure`'s options, run, and turn a TcvadsError into exit status 2."""
    parser = argparse.ArgumentParser(prog=prog, description=(doc or "").split("\n\n")[0])
    configure(parser)
    args = parser.parse_args(argv)
    try:
        return int(run(args) or 0)
    except TcvadsError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 2
