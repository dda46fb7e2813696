#!/usr/bin/env bash
# One command: install, lint, then run the whole test suite offline on CPU.
# Extra arguments go to pytest, e.g. the fast subset while working: bash scripts/test.sh -m "not slow"
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
. .venv/bin/activate
# The browser test needs Debian's chromium; install it where we may (root), else it skips.
if [ -f .ci/app-deps.sh ]; then PYTHON=python bash .ci/app-deps.sh || echo "note: browser test dependencies not installed"; fi
ruff check .
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
python -m pytest -q -p no:cacheprovider "$@"
