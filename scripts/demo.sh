#!/usr/bin/env bash
# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
# The README's first command: set up .venv with what the detector needs (ONNX Runtime, NumPy,
# OpenCV; no torch), then run it end to end on the model the project ships (models/demo-bundle):
# a synthetic surveillance video with a known anomaly, detected, explained and compared with the
# ground truth. Extra arguments go to `tcvads demo`; with --train (which trains the model on the
# spot) the train extra, torch included, is installed first.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
extras=""
for arg in "$@"; do
  [ "$arg" = "--train" ] && extras="train"
done
bash "$root/scripts/setup_venv.sh" "$extras"
exec "$root/.venv/bin/tcvads" demo "$@"
