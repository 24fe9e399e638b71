"""Benchmark: echo state network on Lorenz-63 — dynbook.reservoir.ESN vs reservoirpy, same size, data and budget, same run.

Data: Lorenz-63 (sigma=10, rho=28, beta=8/3) from dynbook.simulate (RK4 at 0.01, sampled every dt = 0.02) after a transient
of 2000 steps; three trajectories from seeded random initial conditions: train (--n-train samples, default 6000), validation
(5 segments) and test (20 segments); each segment is a 200-sample context (the warm-up) and a 1000-sample horizon (20 time
units, about 18 Lyapunov times). Normalised by the training mean/std. The same float64 arrays go to both libraries.
Model (both): 500 tanh units, leak rate 1, recurrent density 10/N, dense input weights, bias in U[-0.5, 0.5], readout
fitted by ridge regression with an intercept on the warmed-up states (washout 100), teacher forcing, then autonomous
closed-loop prediction after a warm-up on each context. Each library keeps its own weight distributions (reservoirpy:
normal W, Bernoulli ±1 W_in; dynbook: uniform W and W_in) and its own readout features (reservoirpy: the states;
dynbook: input + states with every second unit squared, Pathak et al. 2018; the same number of readout features ±3).
Budget (both): the same 8-point grid spectral radius {0.9, 1.2} x input scaling {0.2, 0.5} x ridge {1e-6, 1e-4}
(absolute ridge penalty; dynbook's `alpha` is per training row, so alpha = ridge / n_rows), each fitted once and
scored by the median valid prediction time (VPT, normalised error 0.4, lambda_1 = 0.9056) on the validation segments;
the best point is refitted --repeats times (timed, single thread) and scored on the 20 test segments.
Training time: the fit (reservoir draw + states + readout) at the chosen point, median of --repeats fits, the two libraries
alternated in the same run (the same machine load for both), OMP_NUM_THREADS=1.

Run:  .venv/bin/python bench/reservoir.py            # ~2 min on one core
      .venv/bin/python bench/reservoir.py --quick    # 4-point grid, 1 repeat
"""
import os
os.environ["OMP_NUM_THREADS"] = "1"          # before numpy / torch are imported
os.environ["MKL_NUM_THREADS"] = "1"
os.environ["OPENBLAS_NUM_THREADS"] = "1"
import argparse, itertools, json, warnings

import numpy as np
import torch
torch.set_num_threads(1)
warnings.filterwarnings("ignore")

from _common import alternate, cpu_model
from dynbook.systems import get
from dynbook.simulate import simulate
from dynbook.forecast import valid_prediction_time
from dynbook.reservoir import ESN

DT, CTX, HOR, UNITS, WASHOUT = 0.02, 200, 1000, 500, 100


def data(n_train, seed=0):
    lor = get("lorenz63")
    lam = float(lor.references["lyapunov_spectrum"].value[0])
    g = torch.Generator().manual_seed(seed)
    x0 = torch.tensor([0.0, 0.0, 25.0], dtype=torch.float64) + 8 * torch.randn(3, 3, generator=g, dtype=torch.float64)
    n = max(n_train, 20 * (CTX + HOR) + 100)
    x = simulate(lor, 2 * n, dt=DT / 2, x0=x0, transient=2000, save_every=2, compile=False).x
    mu, sd = x[0, :n_train].mean(0), x[0, :n_train].std(0)
    z = ((x - mu) / sd).numpy()
    seg = lambda tr, k: (np.stack([tr[i * (CTX + HOR):i * (CTX + HOR) + CTX] for i in range(k)]),
                         np.stack([tr[i * (CTX + HOR) + CTX:(i + 1) * (CTX + HOR)] for i in range(k)]))
    return lam, z[0, :n_train], seg(z[1], 5), seg(z[2], 20)


def vpts(pred, true, lam):
    return [valid_prediction_time(p, t, DT, lam) for p, t in zip(pred, true)]


class Dynbook:
    name = "dynbook"
    def fit(self, train, sr, s_in, ridge, seed=0):
        self.m = ESN(UNITS, sr, s_in, 0.5, 1.0, alpha=ridge / (len(train) - 1 - WASHOUT), washout=WASHOUT, seed=seed)
        self.m.fit([torch.from_numpy(train)], DT)
    def predict(self, ctx):
        return self.m.predict(torch.from_numpy(ctx), HOR).numpy()


class Rpy:
    name = "reservoirpy"
    def fit(self, train, sr, s_in, ridge, seed=0):
        from reservoirpy.nodes import Reservoir, Ridge
        from reservoirpy.mat_gen import uniform
        self.res = Reservoir(UNITS, lr=1.0, sr=sr, input_scaling=s_in, input_connectivity=1.0, rc_connectivity=10 / UNITS,
                             bias=uniform(low=-0.5, high=0.5), seed=seed)
        self.esn = self.res >> Ridge(ridge=ridge)
        self.esn.fit(train[:-1], train[1:], warmup=WASHOUT)
    def predict(self, ctx):
        out = []
        for c in ctx:
            self.esn.reset()
            y = self.esn.run(c)[-1]
            p = [y]
            for _ in range(HOR - 1):
                y = self.esn.step(y); p.append(np.asarray(y).reshape(-1))
            out.append(np.stack(p))
        return np.stack(out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--n-train", type=int, default=6000)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--json", default=None)
    a = ap.parse_args()
    import reservoirpy
    lam, train, (vc, vt), (tc, tt) = data(a.n_train)
    grid = list(itertools.product((0.9, 1.2), (0.2, 0.5), (1e-6, 1e-4)))
    if a.quick: grid, a.repeats = grid[::2], 3
    rows, libs, best = {}, (Dynbook(), Rpy()), {}
    for lib in libs:
        val = []
        for sr, s_in, ridge in grid:
            lib.fit(train, sr, s_in, ridge)
            val.append((float(np.median(vpts(lib.predict(vc), vt, lam))), (sr, s_in, ridge)))
        best[lib.name] = max(val, key=lambda v: v[0])
    walls, _ = alternate([lambda lib=lib: lib.fit(train, *best[lib.name][1]) for lib in libs], a.repeats, warmup=False)
    times = {lib.name: w for lib, w in zip(libs, walls)}   # alternated: the same machine load for both libraries
    for lib in libs:
        best_v, b = best[lib.name]
        v = vpts(lib.predict(tc), tt, lam)
        rows[lib.name] = dict(best=b, val_vpt=best_v, test_vpt_median=float(np.median(v)),
                              test_vpt_iqr=[float(np.percentile(v, 25)), float(np.percentile(v, 75))],
                              fit_s=float(np.median(times[lib.name])), fit_s_min=float(np.min(times[lib.name])))
    print(f"# ESN on Lorenz-63, dt={DT}, N={UNITS}, {a.n_train} training samples, {len(grid)}-point grid; "
          f"torch {torch.__version__}, reservoirpy {reservoirpy.__version__}, {cpu_model()}, 1 thread")
    print(f"{'library':12s} {'best (rho, s_in, ridge)':26s} {'val VPT':>8s} {'test VPT median [IQR]':>24s} {'fit median (min) s':>19s}")
    for k, r in rows.items():
        print(f"{k:12s} {str(r['best']):26s} {r['val_vpt']:8.2f} {r['test_vpt_median']:8.2f} [{r['test_vpt_iqr'][0]:.2f}, {r['test_vpt_iqr'][1]:.2f}]"
              f" {r['fit_s']:10.3f} ({r['fit_s_min']:.3f})")
    print(f"fit time ratio dynbook / reservoirpy (medians of {a.repeats} alternated fits): {rows['dynbook']['fit_s'] / rows['reservoirpy']['fit_s']:.2f}")
    if a.json: json.dump(rows, open(a.json, "w"), indent=1)


if __name__ == "__main__":
    main()
