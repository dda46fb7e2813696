#!/usr/bin/env bash
# One command: install, lint, then run the whole test suite offline on CPU, in two venvs:
#   .venv      the CPU torch 2.13.0 (scripts/install.sh): everything, the zoo tests skipping with their reason;
#   .venv-zoo  torch + torchvision that import together, open_clip and timm (scripts/install_zoo.sh): the zoo
#              tests (marked `zoo`), none of which may skip there.
# Extra arguments go to pytest in both, e.g. the fast subset while working: bash scripts/test.sh -m "not slow"
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
bash scripts/install_zoo.sh
. .venv/bin/activate
# The browser test needs Debian's chromium; install it where we may (root), else it skips.
if [ -f .ci/app-deps.sh ]; then PYTHON=python bash .ci/app-deps.sh || echo "note: browser test dependencies not installed"; fi
ruff check .
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
main_status=0
python -m pytest -q -p no:cacheprovider "$@" || main_status=$?  # the zoo tests run whatever this says

# The zoo tests: a marker expression of the caller's (-m EXPR) narrows them further.
args=() marker=""
while [ $# -gt 0 ]; do
  case "$1" in
    -m) marker="$2"; shift 2 ;;
    -m*) marker="${1#-m}"; shift ;;
    *) args+=("$1"); shift ;;
  esac
done
echo "zoo tests in .venv-zoo ($(.venv-zoo/bin/python -c 'import torch, torchvision; print("torch", torch.__version__, "torchvision", torchvision.__version__)')):"
status=0
DASAG_REQUIRE_ZOO=1 .venv-zoo/bin/python -m pytest -q -p no:cacheprovider -m "zoo${marker:+ and ($marker)}" ${args[@]+"${args[@]}"} || status=$?
[ "$status" -eq 5 ] && { echo "no zoo test among the selected ones"; status=0; }  # 5: pytest collected none
[ "$main_status" -ne 0 ] && echo "the main suite (.venv) failed: status $main_status"
[ "$status" -ne 0 ] && echo "the zoo tests (.venv-zoo) failed: status $status"
[ "$main_status" -ne 0 ] && exit "$main_status"
exit "$status"
