#!/usr/bin/env bash
# The README's first command: set up, then run the detector end to end on an embedded default
# (a synthetic surveillance video and a model trained on the spot). Extra arguments go to `tcvads demo`.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
bash "$root/scripts/setup_venv.sh" train
exec "$root/.venv/bin/tcvads" demo "$@"
