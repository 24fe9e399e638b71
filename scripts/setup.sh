#!/usr/bin/env bash
# Create .venv (if needed) and install dynbook with its dev extra.
# torch==2.13.0 goes in FIRST: with no torch present, any `torch>=` requirement would pull a
# multi-GB CUDA build; with it present, pip keeps it.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "==> creating .venv"
  "$PY" -m venv .venv
fi
if ! .venv/bin/python -c "import torch" 2>/dev/null; then
  echo "==> installing torch==2.13.0 (CPU)"
  .venv/bin/pip install -qq torch==2.13.0
fi
echo "==> installing dynbook[dev] (editable)"
.venv/bin/pip install -qq -e '.[dev]'
.venv/bin/python -c "import dynbook, torch; print('dynbook', dynbook.__version__, '| torch', torch.__version__)"
