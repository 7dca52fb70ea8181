#!/usr/bin/env bash
# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
# The README's second command: set up, lint, build the documentation site (a broken link or
# anchor fails), and run the whole test suite. CI runs this script.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
bash "$root/scripts/setup_venv.sh" test
# ROS 2 Jazzy from the registry, so the node tests run under real rclpy (none may skip for it).
bash "$root/scripts/install_ros.sh"
export TCVADS_REQUIRE_ROS=1
cd "$root"
echo "==> ruff"
.venv/bin/ruff check .
echo "==> mkdocs build --strict"
site="$(mktemp -d)"
NO_MKDOCS_2_WARNING=1 .venv/bin/mkdocs build --strict --quiet --site-dir "$site"
rm -rf "$site"
echo "==> pytest"
exec .venv/bin/python -m pytest "$@"
