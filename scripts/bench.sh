#!/usr/bin/env bash
# The main job: set up, then run the forecasting benchmark's quick preset (every registered method on
# at least 8 catalog systems) and print the leaderboard. Extra arguments go to `dynbook bench`
# (e.g. --preset standard, --scheduler local, --out DIR).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
.venv/bin/dynbook bench --preset quick --out out/bench "$@"
