#!/usr/bin/env bash
# One command: install, then run the whole test suite offline on CPU.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
# The browser test needs Debian's chromium; install it where we may (root), else it skips.
. .venv/bin/activate
if [ -f .ci/app-deps.sh ]; then PYTHON=python bash .ci/app-deps.sh || echo "note: browser test dependencies not installed"; fi
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
python -m pytest -q -p no:cacheprovider "$@"
