# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""`python training/interpret.py --help`: the documented entry point; the same as `tcvads interpret`.

The tool is `tcvads_ros.training.interpret` (installed with the package: pip install -e ".[train]").
"""

import sys

from tcvads_ros.training.interpret import main

if __name__ == "__main__":
    sys.exit(main())
