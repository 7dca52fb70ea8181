# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""`python training/train.py --help`: the documented entry point; the same as `tcvads train`.

The tool is `tcvads_ros.training.train` (installed with the package: pip install -e ".[train]").
"""

import sys

from tcvads_ros.training.train import main

if __name__ == "__main__":
    sys.exit(main())
