#!/usr/bin/env bash
# The README's second command: set up, lint, and run the whole test suite. CI runs this script.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
bash "$root/scripts/setup_venv.sh" test
cd "$root"
echo "==> ruff"
.venv/bin/ruff check .
echo "==> pytest"
exec .venv/bin/python -m pytest "$@"
