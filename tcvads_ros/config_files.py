"""Where the configuration files the project ships (`config/`) are, in a checkout or installed.

In a checkout they are in ``config/`` beside the package (and the stand-in CLIP the demo stands
on in ``models/``). pip and colcon install the same files into ``<prefix>/share/tcvads_ros``
(setup.py's ``data_files``), so a wheel installed outside the checkout (``tcvads demo``, the
caption bank's default) finds them there.
"""

from __future__ import annotations

import sys
import sysconfig
from pathlib import Path

from tcvads_ros.errors import ConfigError

PACKAGE = "tcvads_ros"


def package_roots() -> list[Path]:
    """Where the shipped files are: the checkout first, then ``<prefix>/share/tcvads_ros``."""
    roots = [Path(__file__).resolve().parent.parent]
    for prefix in (sysconfig.get_paths()["data"], sys.prefix):
        roots.append(Path(prefix) / "share" / PACKAGE)
    return roots


def config_dirs() -> list[Path]:
    """Candidate ``config`` folders, the checkout's first."""
    return [root / "config" for root in package_roots()]


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
