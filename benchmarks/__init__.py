# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""The project's benchmark scripts. Run them from the checkout as modules, e.g.
``python -m benchmarks.run --quick``; they import each other as ``benchmarks.NAME``
(docs/performance.md)."""
