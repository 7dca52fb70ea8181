"""Where the configuration files the project ships (`config/`) are, in a checkout or installed.

In a checkout they are in ``config/`` beside the package. pip and colcon install the same files
into ``<prefix>/share/tcvads_ros/config`` (setup.py's ``data_files``), so a wheel installed
outside the checkout (``tcvads demo``, the caption bank's default) finds them there.
"""

from __future__ import annotations

import sys
import sysconfig
from pathlib import Path

from tcvads_ros.errors import ConfigError

PACKAGE = "tcvads_ros"


def config_dirs() -> list[Path]:
    """Candidate ``config`` folders, the checkout's first."""
    dirs = [Path(__file__).resolve().parent.parent / "config"]
    for prefix in (sysconfig.get_paths()["data"], sys.prefix):
        dirs.append(Path(prefix) / "share" / PACKAGE / "config")
    return dirs


def config_file(relative: str | Path) -> Path:
    """The shipped file ``config/<relative>`` (e.g. ``train/demo.yaml``), or a ConfigError."""
    for folder in config_dirs():
        if (folder / relative).exists():
            return folder / relative
    raise ConfigError(f"config/{relative}: not found in {', '.join(str(d) for d in config_dirs())}; "
                      "is tcvads_ros installed (pip install tcvads_ros) or run from its checkout?")
