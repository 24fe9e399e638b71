"""Benchmark: exact DMD (rank 20) of a 2048-dimensional, 1000-snapshot travelling-wave field — dynbook vs PyDMD.

Both compute the thin SVD of the snapshot matrix, the rank-r projected operator and the exact modes (Tu et al. 2014);
the eigenvalues agree to round-off. Single thread: OMP_NUM_THREADS=1 is set before numpy/torch are imported.
Prints the largest eigenvalue difference and the best of --repeats runs of each (after one warm-up call).
"""
import os
os.environ["OMP_NUM_THREADS"] = "1"
import argparse
import time

import numpy as np
import torch

from _common import best_time, cpu_model
from dynbook.koopman import dmd


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--d", type=int, default=2048)
    ap.add_argument("--m", type=int, default=1000)
    ap.add_argument("--rank", type=int, default=20)
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args()
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    s, t = np.linspace(0, 2 * np.pi, a.d), np.arange(a.m) * 0.05
    x = sum(np.exp(-0.01 * k * t)[:, None] * np.cos(k * (s[None] - (0.3 + 0.2 * k) * t[:, None])) for k in range(1, 11))
    x = x + 1e-6 * rng.standard_normal(x.shape)                # (m, d), rows are snapshots
    xt = torch.from_numpy(x)
    print(f"CPU: {cpu_model()}, d = {a.d}, m = {a.m}, rank = {a.rank}, best of {a.repeats}")
    ours = dmd(xt, rank=a.rank, dt=0.05)
    print(f"dynbook dmd: {best_time(lambda: dmd(xt, rank=a.rank, dt=0.05), a.repeats)[0]:.3f} s")
    try:
        import pydmd
    except ImportError:
        print("pydmd not installed"); return
    f = lambda: pydmd.DMD(svd_rank=a.rank, exact=True).fit(x.T)
    ref = f()
    D = np.abs(ours.eigenvalues.numpy()[:, None] - np.asarray(ref.eigs)[None])
    print(f"pydmd DMD:   {best_time(f, a.repeats)[0]:.3f} s   max eigenvalue difference {max(D.min(0).max(), D.min(1).max()):.2e}")


if __name__ == "__main__":
    main()
