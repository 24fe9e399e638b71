"""Execute notebooks in place with a Jupyter kernel: every cell, `#| slow` ones included (cells
tagged skip-execution, such as `#| eval: false` ones, are skipped). Stops at the first error."""
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

for path in sys.argv[1:]:
    t0 = time.time()
    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=1800, kernel_name="python3", resources={"metadata": {"path": str(Path(path).parent)}}).execute()
    nbformat.write(nb, path)
    print(f"executed {path} in {time.time() - t0:.0f} s", flush=True)
