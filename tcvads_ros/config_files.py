# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""Where the configuration files the project ships (`config/`) are, in a checkout or installed.

In a checkout they are in ``config/`` beside the package (and the stand-in CLIP the demo stands
on in ``models/``). pip and colcon install the same files into ``<prefix>/share/tcvads_ros``
(setup.py's ``data_files``; ``pip install --target DIR`` into DIR/share/tcvads_ros), so a wheel
installed outside the checkout (``tcvads demo``, the caption bank's default) finds them there.
"""

from __future__ import annotations

import sys
import sysconfig
from pathlib import Path

from tcvads_ros.errors import ConfigError

PACKAGE = "tcvads_ros"


def package_roots(module: Path | None = None) -> list[Path]:
    """Where the shipped files are: the checkout first, then ``share/tcvads_ros`` beside the
    package (``pip install --target DIR``: DIR/tcvads_ros and DIR/share/tcvads_ros, used with
    PYTHONPATH=DIR), then ``<prefix>/share/tcvads_ros`` of the Python environment (pip), then the
    colcon install prefix this package sits in
    (``install/tcvads_ros/lib/pythonX.Y/site-packages/tcvads_ros`` -> ``install/tcvads_ros/share/tcvads_ros``)."""
    here = (module or Path(__file__)).resolve()
    roots = [here.parent.parent, here.parent.parent / "share" / PACKAGE]
    for prefix in (sysconfig.get_paths()["data"], sys.prefix):
        roots.append(Path(prefix) / "share" / PACKAGE)
    up = here.parents
    if len(up) > 5 and up[1].name in ("site-packages", "dist-packages") and up[3].name == "lib":
        prefix = up[5] if up[4].name == "local" else up[4]  # Debian's local/lib/pythonX.Y/dist-packages
        roots.append(prefix / "share" / PACKAGE)
    return roots


def shipped_dir(relative: str | Path) -> Path:
    """A shipped file or folder by its path in the checkout (``models/clip-standin``), or a ConfigError."""
    for root in package_roots():
        if (root / relative).exists():
            return root / relative
    raise ConfigError(f"{relative}: not found in {', '.join(str(d) for d in package_roots())}; "
                      "is tcvads_ros installed (pip install tcvads_ros) or run from its checkout?")


def config_file(relative: str | Path) -> Path:
    """The shipped file ``config/<relative>`` (e.g. ``train/demo.yaml``), or a ConfigError."""
    return shipped_dir(Path("config") / relative)
