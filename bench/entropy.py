"""Benchmark: sample entropy (m=2, r=0.2 std) of a 2e4-sample Gaussian series — dynbook vs antropy.

Both count the same template pairs (antropy >= 5000 samples: sklearn KDTree query_radius; dynbook:
scipy cKDTree dual-tree counts on slabs), so the values agree to round-off. Single thread: OMP_NUM_THREADS=1
is set before numpy/torch are imported. Prints the best of --repeats runs of each (after one warm-up call).
"""
import os
os.environ["OMP_NUM_THREADS"] = "1"
import argparse
import time

import numpy as np
import torch

from _common import best_time, cpu_model
from dynbook.invariants import sample_entropy


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=20000)
    ap.add_argument("--repeats", type=int, default=5)
    a = ap.parse_args()
    torch.set_num_threads(1)
    x = np.random.default_rng(0).standard_normal(a.n)
    xt = torch.from_numpy(x)
    print(f"CPU: {cpu_model()}, n = {a.n}, best of {a.repeats}")
    print(f"dynbook sample_entropy: {sample_entropy(xt):.12f}  {best_time(lambda: sample_entropy(xt), a.repeats)[0]:.4f} s")
    try:
        import antropy
    except ImportError:
        print("antropy not installed"); return
    print(f"antropy sample_entropy: {antropy.sample_entropy(x):.12f}  {best_time(lambda: antropy.sample_entropy(x), a.repeats)[0]:.4f} s")


if __name__ == "__main__":
    main()
