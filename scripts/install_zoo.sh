#!/usr/bin/env bash
# Creates .venv-zoo (if missing): the zoo extra (open_clip, timm) beside a torch and torchvision that
# import together. The main .venv keeps the small CPU torch 2.13.0, beside which PyPI's torchvision does
# not import; the pairs here do, and lie on this workplace's local disk (x86_64: a CUDA build that runs
# on the CPU, about 5.6 GB; aarch64: a CPU build). On your own machine, any torch with its own
# torchvision serves: pip install -e ".[zoo]" picks the torchvision that fits the torch you have.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
case "$(uname -m)" in
  x86_64) PAIR="torch==2.14.1 torchvision==0.29.1" ;;
  aarch64|arm64) PAIR="torch==2.9.1 torchvision==0.24.1" ;;
  *) echo "install_zoo.sh: no known torch/torchvision pair for $(uname -m); install one into .venv-zoo yourself" >&2; exit 1 ;;
esac
[ -x .venv-zoo/bin/python ] || "$PY" -m venv .venv-zoo
. .venv-zoo/bin/activate
python -m pip install -q --upgrade pip >/dev/null
python -c "import torch, torchvision" 2>/dev/null || python -m pip install -q $PAIR
python -m pip install -q -e ".[zoo,dev,app]"  # app: the page lists the zoo's scorers, and its test modules collect here without a skip
