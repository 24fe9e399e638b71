#!/usr/bin/env bash
# The test command (CI runs exactly this): set up; check notebooks and dynbook/ are in sync and the
# notebooks clean; run every notebook's tests (nbdev-test, reduced configuration); build the docs
# offline; run pytest last.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export OMP_NUM_THREADS=1 MPLBACKEND=Agg PYTHONHASHSEED=0

echo "==> sync check: nbdev-export + nbdev-clean must change nothing"
state() { git status --porcelain --untracked-files=all; git diff; }
before=$(state | md5sum)
.venv/bin/nbdev-export
.venv/bin/nbdev-clean
after=$(state | md5sum)
if [ "$before" != "$after" ]; then
  echo "FAIL: notebooks and dynbook/ out of sync, or notebooks not clean. Changed:"; git status --porcelain; exit 1
fi

echo "==> nbdev-test (every notebook)"
out=$(.venv/bin/nbdev-test --n-workers 2 --timing 2>&1) || { echo "$out"; exit 1; }
echo "$out" | tail -n 20
echo "$out" | grep -q "^Success\." || { echo "FAIL: nbdev-test ran no notebook"; exit 1; }

echo "==> docs build"
bash scripts/docs.sh
if [ -n "$(git status --porcelain README.md nbs/sidebar.yml nbs/nbdev.yml)" ]; then
  echo "FAIL: README.md or the docs config is not what the notebooks generate; run bash scripts/docs.sh and commit"; git diff --stat; exit 1
fi

echo "==> pytest"
.venv/bin/python -m pytest -q -p no:cacheprovider tests
