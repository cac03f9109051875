#!/usr/bin/env bash
# `pip install .` from a clean venv gives a working `affectrl` (not editable, not the repo's
# .venv). Usage: scripts/check-install.sh [VENV_DIR]   (default: a temporary folder)
# The constraints file keeps this machine's CPU torch; on a GPU machine with a CUDA torch
# already in the venv, leave it out.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=${1:-$(mktemp -d)/venv}
python3.11 -m venv "$venv"
start=$(date +%s)
"$venv/bin/pip" install --quiet --disable-pip-version-check -c constraints.txt . 2>&1 \
  | grep -v "is ignored" || true
echo "installed in $(( $(date +%s) - start )) s into $venv"
cd "$(mktemp -d)"  # away from the checkout: the installed package, not the source tree
"$venv/bin/affectrl" --version
"$venv/bin/affectrl" --help > /dev/null && echo "affectrl --help: ok"
"$venv/bin/affectrl" data list
"$venv/bin/python" -c "import affectrl, torch; print('torch', torch.__version__); \
print('affectrl from', affectrl.__file__)"
