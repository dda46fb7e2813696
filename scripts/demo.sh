#!/usr/bin/env bash
# One command: install, then run the offline demo (outputs under runs/demo).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
. .venv/bin/activate
python cli.py fit --config configs/demo.yaml "$@"
echo "final image: $(ls -t runs/demo/lightning_logs/*/final.png | head -1)"
