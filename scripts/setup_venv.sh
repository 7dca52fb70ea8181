#!/usr/bin/env bash
# Create (or reuse) the project's virtual environment in .venv and install the project into it
# with the extras named in $1 (e.g. "train" or "test"). Sourced by demo.sh and test.sh.
set -euo pipefail
extras="${1:-train}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
python="${PYTHON:-python3}"
if [ ! -x "$root/.venv/bin/python" ]; then
  echo "==> creating virtual environment $root/.venv"
  "$python" -m venv "$root/.venv"
fi
echo "==> installing tcvads_ros[$extras] (first run downloads torch: a few minutes)"
"$root/.venv/bin/python" -m pip install --quiet --upgrade pip
"$root/.venv/bin/python" -m pip install --quiet -e "$root[$extras]"
