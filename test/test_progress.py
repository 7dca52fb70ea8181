# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""Progress bars are drawn on a terminal only: a log file or CI gets no bar updates."""

from __future__ import annotations

import io

from tcvads_ros.progress import progress_bar


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_no_bar_when_the_output_is_not_a_terminal():
    log = io.StringIO()
    assert sum(progress_bar(range(500), file=log, mininterval=0)) == sum(range(500))
    assert log.getvalue() == ""


def test_bar_on_a_terminal_unless_switched_off():
    shown, hidden = Terminal(), Terminal()
    list(progress_bar(range(50), file=shown, mininterval=0))
    list(progress_bar(range(50), file=hidden, mininterval=0, show=False))
    assert "50/50" in shown.getvalue() and hidden.getvalue() == ""
