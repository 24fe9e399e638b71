"""Benchmark: SINDy on Lorenz-63 — dynbook.sindy vs pysindy, same data, same settings, same run.

Data: Lorenz-63 (sigma=10, rho=28, beta=8/3) from dynbook.simulate (RK4, dt=0.002, 10^4 samples after a transient of
5000 steps), float64; noisy copies add Gaussian noise of `level` x each variable's standard deviation (seeded draws, the same
arrays passed to both libraries).
Settings (both): quadratic polynomial library (10 terms), STLSQ(threshold=0.1, alpha=0.05, max_iter=20) with the final
unbiased least-squares refit (pysindy's default `unbias=True`), derivatives by finite differences of order 2 or 4
(pysindy FiniteDifference(order=k); dynbook FiniteDifference(k)), or the weak form (pysindy WeakPDELibrary with K=400
test functions of p=4 on windows of half-width H=100 dt; dynbook WeakLibrary(n_windows=400, window=201, p=4)).
Columns: fit time (best of --repeats fits after a warm-up, single thread: OMP_NUM_THREADS=1 set before numpy/torch are
imported), whether the support is the true 7 terms, the largest relative error over the 7 true coefficients. Then the
noise sweep: per method and library and noise level, --draws seeded noise draws (default 3); the median error and how
many draws keep the exact support; the support "breaks" at the first level where fewer than half the draws keep it.

Run:  .venv/bin/python bench/sindy.py            # ~2 min (most of it pysindy's weak form)
      .venv/bin/python bench/sindy.py --quick    # fewer repeats and noise levels
"""
import os
os.environ["OMP_NUM_THREADS"] = "1"          # before numpy / torch are imported
os.environ["MKL_NUM_THREADS"] = "1"
os.environ["OPENBLAS_NUM_THREADS"] = "1"
import argparse, json, time, warnings

import numpy as np
import torch
torch.set_num_threads(1)

from _common import best_time, cpu_model
from dynbook import sindy as ds
from dynbook.simulate import simulate

TRUE = np.zeros((3, 10))     # columns: 1 x y z x^2 xy xz y^2 yz z^2 (both libraries use this order)
TRUE[0, 1], TRUE[0, 2], TRUE[1, 1], TRUE[1, 2], TRUE[1, 6], TRUE[2, 3], TRUE[2, 5] = -10, 10, 28, -1, -1, -8/3, 1


def score(coef):
    "(support exact, max relative error over the true terms) of a (3, 10) coefficient array."
    coef = np.asarray(coef)
    return bool(((coef != 0) == (TRUE != 0)).all()), float((np.abs(coef - TRUE) / np.abs(np.where(TRUE == 0, 1, TRUE)))[TRUE != 0].max())


def best(f, repeats):
    "Best wall time of `repeats` calls after a warm-up call, and the last result."
    return best_time(f, repeats)


def dynbook_fit(method):
    def fit(x, dt):
        if method == "weak":
            m = ds.SINDy(library=ds.WeakLibrary(n_windows=400, window=201, p=4), optimizer=ds.STLSQ(0.1, 0.05))
        else:
            m = ds.SINDy(ds.FiniteDifference(int(method[-1])), ds.PolynomialLibrary(2), ds.STLSQ(0.1, 0.05))
        return m.fit(torch.from_numpy(x), dt).coefficients()
    return fit


def pysindy_fit(method):
    import pysindy as ps
    def fit(x, dt):
        opt = ps.STLSQ(threshold=0.1, alpha=0.05, max_iter=20)
        if method == "weak":
            t = np.arange(len(x)) * dt
            lib = ps.WeakPDELibrary(function_library=ps.PolynomialLibrary(degree=2), spatiotemporal_grid=t, K=400, p=4, H_xt=[100 * dt])
            m = ps.SINDy(optimizer=opt, feature_library=lib)
        else:
            m = ps.SINDy(optimizer=opt, feature_library=ps.PolynomialLibrary(degree=2), differentiation_method=ps.FiniteDifference(order=int(method[-1])))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            m.fit(x, t=dt)
        return m.coefficients()
    return fit


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--draws", type=int, default=3, help="noise draws per level")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--json", default=None, help="write the results here")
    a = ap.parse_args()
    dt = 0.002
    x = simulate("lorenz63", 10000, dt=dt, transient=5000).x.numpy()
    levels = [0.005, 0.01, 0.02, 0.03, 0.05, 0.1] if not a.quick else [0.01, 0.05]
    repeats = 2 if a.quick else a.repeats
    if a.quick: a.draws = 1
    try:
        import pysindy
        libs = {"dynbook": dynbook_fit, f"pysindy {pysindy.__version__}": pysindy_fit}
    except ImportError:
        print("pysindy not installed (pip install pysindy): dynbook only")
        libs = {"dynbook": dynbook_fit}
    print(f"CPU: {cpu_model()}; Lorenz-63, dt={dt}, {len(x)} samples, quadratic library, STLSQ(0.1, alpha=0.05); single thread, best of {repeats}")
    out = {"clean": {}, "noise": {}}
    print(f"\nclean data{'':22s}{'fit time':>10s}  {'support':>8s}  {'max rel. coef. error':>20s}")
    methods = ["fd2", "fd4", "weak"]
    for method in methods:
        for name, make in libs.items():
            try:
                sec, coef = best(lambda: make(method)(x, dt), repeats)
            except Exception as e:   # a library version without this method
                print(f"  {method:5s} {name:22s} failed: {type(e).__name__}: {e}"); continue
            ok, err = score(coef)
            out["clean"][f"{method} {name}"] = dict(seconds=sec, support=ok, error=err)
            print(f"  {method:5s} {name:22s} {1e3*sec:8.1f} ms  {str(ok):>8s}  {100*err:19.5f} %")
        keys = [k for k in out["clean"] if k.startswith(method)]
        if len(keys) == 2:
            print(f"  {method:5s} time dynbook / pysindy = {out['clean'][keys[0]]['seconds'] / out['clean'][keys[1]]['seconds']:.2f}")
    print(f"\nnoise sweep, {a.draws} noise draws per level: median max rel. coefficient error in %, and (draws with the exact support)")
    print(f"  {'':28s}" + "".join(f"{100*l:>13.1f}%" for l in levels) + "   support breaks at (< half the draws exact)")
    rng = np.random.default_rng(0)
    noisy = {l: [x + l * x.std(0) * rng.standard_normal(x.shape) for _ in range(a.draws)] for l in levels}
    for method in methods:
        for name, make in libs.items():
            row, brk = [], None
            for l in levels:
                res = []
                for xn in noisy[l]:
                    try: res.append(score(make(method)(xn, dt)))
                    except Exception: res.append((False, float("nan")))
                n_ok, med = sum(ok for ok, _ in res), float(np.median([e for _, e in res]))
                row.append((n_ok, med))
                if 2 * n_ok < len(res) and brk is None: brk = l
            out["noise"][f"{method} {name}"] = dict(levels=levels, draws=a.draws, n_exact=[r[0] for r in row], median_error=[r[1] for r in row], breaks_at=brk)
            cells = "".join(f"{100*e:>9.3g} ({k}/{a.draws})" for k, e in row)
            print(f"  {method:5s} {name:22s}{cells}   {'none' if brk is None else f'{100*brk:g} %'}")
    if a.json:
        with open(a.json, "w") as f: json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
