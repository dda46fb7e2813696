#!/usr/bin/env bash
# Creates .venv (if missing) and installs dasag with its test and app extras.
# torch is pinned to the CPU build first so pip does not pull a multi-GB CUDA build;
# on a GPU machine install the torch you want before running this.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
. .venv/bin/activate
python -m pip install -q --upgrade pip >/dev/null
python -c "import torch" 2>/dev/null || python -m pip install -q "torch==2.13.0"
python -m pip install -q -e ".[dev,app]"
