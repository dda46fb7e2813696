#!/usr/bin/env bash
# One command: install, then run the offline demo (outputs under runs/demo).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
. .venv/bin/activate
dasag fit --config demo "$@"
echo "final image: $(ls -t runs/demo/lightning_logs/*/final.png | head -1)"
