# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""User-facing errors.

Every error a user can cause (a bad file, a bad option, a corrupt bundle) is a `TcvadsError`
whose message says what is wrong and what to do. The `tcvads` command prints it without a
traceback and exits with status 2; anything else is a bug and keeps its traceback.
"""


class TcvadsError(Exception):
    """An error caused by the user's input, with a message that says how to fix it."""


class ConfigError(TcvadsError):
    """A configuration file or option is wrong: names the key and what was expected."""


class DataError(TcvadsError):
    """A data or annotation file is wrong: names the file and the line."""


class BundleError(TcvadsError):
    """A model bundle is missing, corrupt or incompatible."""


class SourceError(TcvadsError):
    """A video source (file, folder, camera, rosbag) cannot be opened or read."""
