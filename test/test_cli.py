# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
import subprocess
import sys

from tcvads_ros import cli


def test_help_lists_every_command(capsys):
    assert cli.main([]) == 2
    out = capsys.readouterr().out
    for name in cli.COMMANDS:
        assert name in out


def test_unknown_command_is_a_clear_error():
    proc = subprocess.run(
        [sys.executable, "-m", "tcvads_ros.cli", "nonsense"], capture_output=True, text=True
    )
    assert proc.returncode == 2
    assert "unknown command 'nonsense'" in proc.stderr
