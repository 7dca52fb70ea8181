#!/usr/bin/env bash
# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
# Create (or reuse) the project's virtual environment in .venv and install the project into it
# with the extras named in $1 ("train", "test"; empty: the detector alone, no torch). Run by
# demo.sh and test.sh.
set -euo pipefail
extras="${1-train}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
python="${PYTHON:-python3}"
if [ ! -x "$root/.venv/bin/python" ]; then
  echo "==> creating virtual environment $root/.venv"
  "$python" -m venv "$root/.venv"
fi
if [ -n "$extras" ]; then
  target="$root[$extras]"
  echo "==> installing tcvads_ros[$extras] (the first run downloads torch: a few minutes)"
else
  target="$root"
  echo "==> installing tcvads_ros (the detector: ONNX Runtime, NumPy, OpenCV; no torch)"
fi
"$root/.venv/bin/python" -m pip install --quiet --disable-pip-version-check -e "$target"
