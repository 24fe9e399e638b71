#!/usr/bin/env bash
# The main job, for now: set up, execute every tutorial (all cells, slow ones included) and build
# the documentation site from the fresh outputs into _docs/, then simulate Lorenz-63 from the CLI.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
EXECUTE=1 bash scripts/docs.sh
mkdir -p out
.venv/bin/dynbook simulate lorenz63 --steps 5000 --batch 16 --out out/lorenz63.npz
echo "==> done: docs in _docs/, trajectory in out/lorenz63.npz"
