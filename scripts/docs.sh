#!/usr/bin/env bash
# Build the documentation site offline into _docs/ (no Quarto needed):
# nbdev's own notebook processing (show_doc, directives) into _proc/, then smalldocs renders
# _proc/_quarto.yml as a static site. With EXECUTE=1 copies of every notebook are run first (all
# cells, slow ones included) and the site is built from them, so it shows fresh outputs.
set -euo pipefail
cd "$(dirname "$0")/.."
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
unset MPLBACKEND   # executed notebooks need the inline backend for their figures
rm -rf _proc _docs _run
src=nbs
if [ "${EXECUTE:-0}" = "1" ]; then
  # run copies of the notebooks (the committed ones keep their outputs), then build the site from the copies
  mkdir -p _run && cp -r nbs _run/nbs && rm -rf _run/nbs/.authoring
  .venv/bin/python scripts/execute.py _run/nbs/*.ipynb
  src=_run/nbs
fi
.venv/bin/nbdev-proc-nbs --path "$src" --file-re '\.(?:ipynb|qmd|html)$' >/tmp/dynbook-proc.log 2>&1 \
  || { cat /tmp/dynbook-proc.log; echo "FAIL: nbdev-proc-nbs"; exit 1; }   # (it asks for Quarto and carries on without it)
# processing executes cells that mix imports with other code, out of order: keep imports in their own cells
if grep -q "Found cells containing imports and other code" /tmp/dynbook-proc.log; then
  grep -A4 "Found cells containing imports and other code" /tmp/dynbook-proc.log; echo "FAIL: put these imports in a cell of their own"; exit 1
fi
.venv/bin/smalldocs render _proc --quiet
[ -d _proc/_docs ] && mv _proc/_docs _docs
test -f _docs/index.html || { echo "docs build produced no _docs/index.html"; exit 1; }
# LOCAL_KATEX=1: serve KaTeX from the site itself (npm's katex package) so maths renders offline
if [ "${LOCAL_KATEX:-0}" = "1" ]; then
  tmp=$(mktemp -d); (cd "$tmp" && npm pack -s katex@0.16.11 >/dev/null && tar xzf katex-0.16.11.tgz)
  mkdir -p _docs/site_libs/katex && cp -r "$tmp"/package/dist/* _docs/site_libs/katex/
  find _docs -name '*.html' -print0 | xargs -0 sed -i 's#https://cdn.jsdelivr.net/npm/katex@0.16.11/dist#/site_libs/katex#g'
fi
# README.md from the processed index notebook (the README is generated, never edited by hand)
.venv/bin/python scripts/readme.py _proc/index.ipynb README.md
echo "==> docs site in _docs/ ($(find _docs -name '*.html' | wc -l) pages); view with: .venv/bin/python -m http.server -d _docs 8000"
