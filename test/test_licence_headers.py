# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""Every tracked source file carries the copyright line and the SPDX licence identifier of the
package's licence (Apache-2.0, as LICENSE and package.xml say); scripts/add_licence_headers.py
adds them."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("add_licence_headers", REPO / "scripts" / "add_licence_headers.py")
headers = importlib.util.module_from_spec(spec)
spec.loader.exec_module(headers)


def test_every_source_file_has_the_copyright_and_spdx_lines():
    files = headers.source_files(REPO)
    assert len(files) > 100  # the listing works: Python, shell and CMake files are all there
    missing = [str(p.relative_to(REPO)) for p in files if not headers.has_header(p.read_text(encoding="utf-8"))]
    assert not missing, f"no licence header (python scripts/add_licence_headers.py): {missing[:20]}"


def test_the_spdx_identifier_is_the_declared_licence():
    declared = re.search(r"<license>(.*?)</license>", (REPO / "package.xml").read_text()).group(1)
    assert headers.HEADER[1].endswith(declared)
    assert "Apache License" in (REPO / "LICENSE").read_text() and "Version 2.0" in (REPO / "LICENSE").read_text()


def test_the_header_goes_after_a_shebang_and_only_once():
    text = "#!/usr/bin/env python\n\"\"\"Doc.\"\"\"\n"
    once = headers.with_header(text)
    assert once.splitlines()[0] == "#!/usr/bin/env python" and headers.has_header(once)
    assert not headers.has_header(text)
