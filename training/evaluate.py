# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""`python training/evaluate.py --help`: the documented entry point; the same as `tcvads evaluate`.

The tool is `tcvads_ros.training.evaluate` (installed with the package: pip install -e ".[train]").
"""

import sys

from tcvads_ros.training.evaluate import main

if __name__ == "__main__":
    sys.exit(main())
