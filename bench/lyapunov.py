"""Benchmark: Lorenz-63 Lyapunov spectra over 256 values of rho — one batched dynbook call vs a numba single-system loop.

What is measured (one run, side by side, float64, same scheme everywhere):
  Lorenz-63 (sigma=10, beta=8/3), the full spectrum (k=3) by Benettin's method: classical RK4 on the joint
  system x' = f(x), Q' = J(x) Q with the same stages for both, dt=0.01, T=200 time units (20000 steps) after a
  transient of 2000 steps (dynbook's default n_steps // 10), re-orthonormalisation (QR) every --renorm steps
  (default 10; dynbook's own default is 1), for 256 values of rho = linspace(20, 200), from x0 = (1, 1, 1).
  (a) dynbook `lyapunov_spectrum(..., params={"rho": rho}, compile=False)`: one call for the whole batch;
  (b) the same with compile=True (torch.compile of a piece of 2 tangent steps and of the Gram-Schmidt
      re-orthonormalisation, called from a Python loop): the first call, which compiles, is timed apart, in fresh
      processes with an empty inductor cache (cold; a temporary TORCHINDUCTOR_CACHE_DIR unless --cache) and again
      with the cache it filled (warm); then the steady state in this process (best of --repeat runs, alternated
      with numba's, since a shared machine's load drifts);
  (c) numba: an @njit single-system loop (the same RK4 tangent scheme, the same steps, modified Gram-Schmidt
      every --renorm steps) called once per rho value; JIT time (first call on a short run) reported apart;
      best of --repeat runs.
Threads: OMP_NUM_THREADS=1, MKL/OPENBLAS 1, NUMBA_NUM_THREADS=1 (set before the imports), torch.set_num_threads(1).

Agreement: the exponents of dynbook and numba are compared (max |difference| over rho and exponent). Over
T=200 the orbits of the two implementations separate (round-off amplified by the chaos, both Gram-Schmidt but
summed in different orders), so for chaotic rho the difference is the finite-time statistical error, not round-off; the
script therefore also runs a short horizon (T=2, no transient) where both must agree to round-off, and
checks the identity sum(lambda) = -(sigma + 1 + beta) for both.

--profile splits one eager renorm block into its tangent steps and its QR, counts the torch ops per step
(torch.profiler), and times a compiled block's parts.

Run:  .venv/bin/python bench/lyapunov.py --quick           # smoke run: 32 values of rho, T=20
      .venv/bin/python bench/lyapunov.py --json out.json   # full size (256 x T=200): ~2-3 min on CPU (eager ~80 s)
      .venv/bin/python bench/lyapunov.py --no-compile      # without the torch.compile row (its first compile
                                                           # can take minutes on a cold cache and a busy machine)
"""
import os
for v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ[v] = "1"                     # before numpy / torch / numba are imported
import argparse, json, math, platform, sys, tempfile, time
cold = "--cache" not in sys.argv    # --cache: keep the user's inductor cache; default: a fresh empty one (cold compile)
if cold: os.environ["TORCHINDUCTOR_CACHE_DIR"] = tempfile.mkdtemp(prefix="dynbook-bench-inductor-")

import numpy as np
import torch
torch.set_num_threads(1)

from _common import cpu_model, sync
from dynbook import kernels
from dynbook.invariants import lyapunov_spectrum
from dynbook.kernels import tangent_step_flow, orthonormalise, to_rows
from dynbook.systems import get

SIGMA, BETA = 10.0, 8.0 / 3.0


# ---- (c) numba ------------------------------------------------------------------------------------
def make_numba():
    "The @njit single-system spectrum, or (None, why) if numba is missing."
    try:
        import numba
    except ImportError as e:
        return None, f"{type(e).__name__}: {e}"

    @numba.njit(cache=False)
    def deriv(x, Q, s, r, b, kx, KQ):
        "kx = f(x), KQ = J(x) Q, written as dynbook's sympy rule writes them."
        kx[0] = s * (-x[0] + x[1]); kx[1] = x[0] * (r - x[2]) - x[1]; kx[2] = -b * x[2] + x[0] * x[1]
        for j in range(Q.shape[1]):
            q0, q1, q2 = Q[0, j], Q[1, j], Q[2, j]
            KQ[0, j] = -s * q0 + s * q1
            KQ[1, j] = (r - x[2]) * q0 - q1 - x[0] * q2
            KQ[2, j] = x[1] * q0 + x[0] * q1 - b * q2

    @numba.njit(cache=False)
    def spectrum(x0, s, r, b, dt, n_transient, n_steps, m):
        "Benettin/QR for one Lorenz system: RK4 on (x, Q), modified Gram-Schmidt every m steps; exponents (3,)."
        x = x0.copy(); Q = np.eye(3)
        k = np.empty((4, 3)); K = np.empty((4, 3, 3)); xs = np.empty(3); Qs = np.empty((3, 3))
        acc = np.zeros(3)
        h2, h6 = 0.5 * dt, dt / 6
        for phase in range(2):
            n = n_transient if phase == 0 else n_steps
            for blk in range(n // m):
                for _ in range(m):
                    deriv(x, Q, s, r, b, k[0], K[0])
                    xs[:] = x + h2 * k[0]; Qs[:, :] = Q + h2 * K[0]; deriv(xs, Qs, s, r, b, k[1], K[1])
                    xs[:] = x + h2 * k[1]; Qs[:, :] = Q + h2 * K[1]; deriv(xs, Qs, s, r, b, k[2], K[2])
                    xs[:] = x + dt * k[2]; Qs[:, :] = Q + dt * K[2]; deriv(xs, Qs, s, r, b, k[3], K[3])
                    x = x + h6 * (k[0] + 2 * k[1] + 2 * k[2] + k[3])
                    Q = Q + h6 * (K[0] + 2 * K[1] + 2 * K[2] + K[3])
                for j in range(3):                       # modified Gram-Schmidt: Q R, log |R_jj|
                    for i in range(j):
                        rij = Q[0, i] * Q[0, j] + Q[1, i] * Q[1, j] + Q[2, i] * Q[2, j]
                        for d in range(3): Q[d, j] -= rij * Q[d, i]
                    rjj = math.sqrt(Q[0, j] ** 2 + Q[1, j] ** 2 + Q[2, j] ** 2)
                    for d in range(3): Q[d, j] /= rjj
                    if phase == 1: acc[j] += math.log(rjj)
        return acc / (n_steps * dt)

    def run(rho, x0, dt, n_transient, n_steps, m):
        return np.stack([spectrum(x0, SIGMA, float(r), BETA, dt, n_transient, n_steps, m) for r in rho])
    return run, numba.__version__


def timed(fn, dev="cpu"):
    sync(dev); t0 = time.perf_counter(); out = fn(); sync(dev)
    return time.perf_counter() - t0, out


def profile(system, rho, dt, m, x0, compiled_ok):
    "Where one renorm block of the batched eager call spends its time."
    out = {}
    p = system.param_tensor({"rho": rho}, dtype=torch.float64)
    x, V = to_rows(x0.expand(len(rho), 3), torch.eye(3, dtype=torch.float64).expand(len(rho), 3, 3))
    tan = system.tangent_rule
    for _ in range(50): x, V = tangent_step_flow(tan, x, V, p, dt)       # warm-up
    reps = 200
    t0 = time.perf_counter()
    for _ in range(reps): x, V = tangent_step_flow(tan, x, V, p, dt)
    out["eager tangent step (ms)"] = (time.perf_counter() - t0) / reps * 1e3
    t0 = time.perf_counter()
    for _ in range(reps): tan(x, V, p)
    out["  of which one tangent_rule (f, J v) (ms)"] = (time.perf_counter() - t0) / reps * 1e3
    t0 = time.perf_counter()
    for _ in range(reps): orthonormalise(V)
    out["eager Gram-Schmidt of the batch (ms)"] = (time.perf_counter() - t0) / reps * 1e3
    from torch.profiler import profile as tprof, ProfilerActivity
    with tprof(activities=[ProfilerActivity.CPU]) as prof:
        x, V = tangent_step_flow(tan, x, V, p, dt)
    ev = [e for e in prof.events() if e.cpu_parent is None]
    out["torch ops per eager tangent step (top level)"] = len(ev)
    out["  time per top-level op (us)"] = out["eager tangent step (ms)"] * 1e3 / max(1, len(ev))
    for key, v in out.items(): print(f"  {key:46s} {v:10.4g}")
    per_block = out["eager tangent step (ms)"] * m + out["eager Gram-Schmidt of the batch (ms)"]
    print(f"  -> eager block of {m} steps ~ {per_block:.3f} ms: steps {out['eager tangent step (ms)'] * m / per_block:.0%}, QR "
          f"{out['eager Gram-Schmidt of the batch (ms)'] / per_block:.0%}")
    return out


_FIRST_CALL = """
import os, sys, time
import torch; torch.set_num_threads(1)
from dynbook.invariants import lyapunov_spectrum
rho = torch.linspace(20, 200, {n}, dtype=torch.float64)
t0 = time.perf_counter()
lyapunov_spectrum("lorenz63", {steps}, dt={dt}, x0=torch.ones(3, dtype=torch.float64), params={{"rho": rho}}, transient=0,
                  renorm_every={m}, compile=True)
print(time.perf_counter() - t0)
"""

def first_call(n, m, dt):
    "Seconds of the first compiled call in a fresh process (what a user waits for), with the current inductor cache."
    import subprocess
    r = subprocess.run([sys.executable, "-c", _FIRST_CALL.format(n=n, steps=2 * m, dt=dt, m=m)], capture_output=True, text=True)
    if r.returncode: print(r.stderr[-2000:]); return float("nan")
    return float(r.stdout.strip().splitlines()[-1])


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-rho", type=int, default=256)
    ap.add_argument("--time", type=float, default=200.0, help="averaging time T (time units)")
    ap.add_argument("--dt", type=float, default=0.01)
    ap.add_argument("--renorm", type=int, default=10, help="steps between QR re-orthonormalisations")
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--no-compile", action="store_true", help="skip the torch.compile row")
    ap.add_argument("--profile", action="store_true", help="where the time of the eager call goes")
    ap.add_argument("--quick", action="store_true", help="smoke run: 32 values of rho, T=20")
    ap.add_argument("--json", metavar="FILE", help="write the results as JSON")
    ap.add_argument("--repeat", type=int, default=3, help="alternating steady-state runs of compiled and numba; the best of each is reported")
    ap.add_argument("--cache", action="store_true", help="use the inductor cache as found (default: a fresh, empty one: cold compile)")
    a = ap.parse_args(argv)
    if a.quick: a.n_rho, a.time = 32, 20.0
    if a.device == "cuda" and not torch.cuda.is_available(): sys.exit("--device cuda: no CUDA device available")
    dev, dt, m = a.device, a.dt, a.renorm
    n_steps = int(round(a.time / dt)); n_steps -= n_steps % m
    n_tr = n_steps // 10; n_tr -= n_tr % m
    rho_np = np.linspace(20.0, 200.0, a.n_rho)
    rho = torch.tensor(rho_np, dtype=torch.float64, device=dev)
    x0n = np.array([1.0, 1.0, 1.0]); x0 = torch.tensor(x0n, dtype=torch.float64, device=dev)
    lor = get("lorenz63")

    print(f"dynbook Lyapunov benchmark: Lorenz-63 spectra (k=3), {a.n_rho} values of rho in [20, 200], RK4 dt={dt}, "
          f"T={n_steps * dt:g} ({n_steps} steps) after {n_tr} transient steps, QR every {m} steps, float64")
    print(f"torch {torch.__version__}, numpy {np.__version__}, python {platform.python_version()}, device {dev}")
    print(f"CPU: {cpu_model()} ({os.cpu_count()} logical CPUs visible); load average {os.getloadavg()[0]:.2f} "
          f"(other processes share the machine if this exceeds ~1)")
    print(f"threads: OMP/MKL/OPENBLAS/NUMBA_NUM_THREADS=1 before the imports; torch.get_num_threads()={torch.get_num_threads()}")

    spec = lambda n, ntr, comp: lyapunov_spectrum(lor, n, dt=dt, x0=x0, params={"rho": rho}, transient=ntr,
                                                   renorm_every=m, compile=comp).exponents.cpu().numpy()
    res, meta = {}, {}
    # (a) eager
    t_e, ex_e = timed(lambda: spec(n_steps, n_tr, False), dev)
    res["dynbook eager (1 batched call)"] = (t_e, ex_e)
    print(f"dynbook eager: {t_e:.3f} s")
    # (b) compiled
    if not a.no_compile:
        if dev == "cpu":     # the compile, in fresh processes: cold (empty inductor cache, see --cache) and warm (cache filled by the first)
            t_cold = first_call(a.n_rho, m, dt); t_warm = first_call(a.n_rho, m, dt)
            meta.update(compile_cold_s=t_cold, compile_warm_s=t_warm)
            print(f"dynbook compiled: first call in a fresh process ({2 * m} steps, compiles): cache {'cold' if cold else 'as found'} "
                  f"{t_cold:.1f} s, warm {t_warm:.1f} s")
        t_first, _ = timed(lambda: spec(2 * m, 0, True), dev)
        ok = kernels._STATE["compiler_ok"]
        meta.update(compile_first_call_s=t_first, compiler_ok=ok)
        print(f"dynbook compiled: first call in this process {t_first:.2f} s (compiler_ok={ok})")
    # (c) numba
    run_nb, ver = make_numba()
    if run_nb is None: print(f"numba: skipped ({ver})")
    else:
        t_jit, _ = timed(lambda: run_nb(rho_np[:1], x0n, dt, 0, m, m))
        meta.update(numba=ver, numba_jit_s=t_jit)
        print(f"numba: JIT compile + first tiny call {t_jit:.2f} s")
    # steady state of (b) and (c), alternated --repeat times (a shared machine's load drifts): the best of each
    runs = {}
    for r in range(a.repeat):
        if not a.no_compile:
            t, ex = timed(lambda: spec(n_steps, n_tr, True), dev); runs.setdefault("dynbook compiled (1 batched call)", []).append((t, ex))
        if run_nb is not None:
            t, ex = timed(lambda: run_nb(rho_np, x0n, dt, n_tr, n_steps, m)); runs.setdefault(f"numba {ver} (loop over rho)", []).append((t, ex))
    for name, rs in runs.items():
        res[name] = min(rs, key=lambda r: r[0])
        meta[name + " runs (s)"] = [r[0] for r in rs]
        print(f"{name}: {', '.join(f'{r[0]:.3f}' for r in rs)} s (best {res[name][0]:.3f})")

    base_name = next((k for k in res if k.startswith("numba")), "dynbook eager (1 batched call)")
    base = res[base_name][0]
    ref = res["dynbook eager (1 batched call)"][1]
    target = -(SIGMA + 1 + BETA)
    print(f"\n{'implementation':36s} {'seconds':>9s} {'spectra/s':>10s} {'vs numba':>9s} {'max|dλ| vs eager':>17s} {'max|Σλ+σ+1+β|':>15s}")
    rows = []
    for name, (sec, ex) in res.items():
        d = float(np.abs(ex - ref).max()); s = float(np.abs(ex.sum(-1) - target).max())
        rows.append(dict(name=name, seconds=sec, spectra_per_s=a.n_rho / sec, ratio_vs_numba=sec / base, maxdiff_vs_eager=d, sum_identity=s))
        print(f"{name:36s} {sec:9.3f} {a.n_rho / sec:10.1f} {sec / base:9.2f} {d:17.2e} {s:15.2e}")
    print("vs numba = seconds / numba seconds (< 1: faster than numba)")
    i28 = int(np.abs(rho_np - 28).argmin())
    print(f"rho={rho_np[i28]:.2f}: " + "; ".join(f"{n.split(' (')[0]} {np.array2string(e[i28], precision=4)}" for n, (s, e) in res.items())
          + "  (literature at rho=28: 0.9056, 0, -14.5723)")

    # short horizon: the two implementations must agree to round-off before the chaos separates the orbits
    short = {}
    if run_nb is not None:
        ns = int(round(2.0 / dt)); ns -= ns % m
        e_s = spec(ns, 0, False); n_s = run_nb(rho_np, x0n, dt, 0, ns, m)
        short = dict(T=ns * dt, maxdiff=float(np.abs(e_s - n_s).max()))
        print(f"scheme check, T={ns * dt:g} without transient: max |dynbook eager - numba| = {short['maxdiff']:.2e} (round-off level)")
        dn = float(np.abs(res[base_name][1] - ref).max())
        big = np.abs(res[base_name][1] - ref).max(-1)
        reg = ref[:, 0] < 0.02
        print(f"T={n_steps * dt:g}: max |dλ| numba vs dynbook eager {dn:.2e}; over the {int(reg.sum())} non-chaotic rho (λ1 < 0.02) "
              f"{float(big[reg].max()) if reg.any() else float('nan'):.2e}, over the chaotic ones {float(big[~reg].max()) if (~reg).any() else float('nan'):.2e}")

    if not a.no_compile and "dynbook compiled (1 batched call)" in res:
        tc = res["dynbook compiled (1 batched call)"][0]
        verdict = tc <= base
        print(f"\ntarget: batched dynbook at least as fast as numba: compiled {tc:.3f} s vs numba {base:.3f} s -> {'MET' if verdict else 'MISSED'}"
              f" (eager {t_e / base:.1f}x numba)")
    else:
        print(f"\ntarget: batched dynbook (eager) at least as fast as numba: {t_e:.3f} s vs {base:.3f} s -> {'MET' if t_e <= base else 'MISSED'}")

    prof = {}
    if a.profile:
        print(f"\nprofile of the eager batched call (batch {a.n_rho}):")
        prof = profile(lor, rho.cpu(), dt, m, x0.cpu(), kernels._STATE["compiler_ok"])
        nb = (n_steps + n_tr) // m
        print(f"  -> {nb} blocks x that = {nb * (prof['eager tangent step (ms)'] * m + prof['eager Gram-Schmidt of the batch (ms)']) / 1e3:.2f} s "
              f"predicted for the eager call (measured {t_e:.2f} s)")

    if a.json:
        meta.update(n_rho=a.n_rho, T=n_steps * dt, dt=dt, n_steps=n_steps, transient=n_tr, renorm=m, device=dev,
                    torch=torch.__version__, numpy=np.__version__, cpu=cpu_model(), load=os.getloadavg()[0])
        json.dump(dict(meta=meta, results=rows, short_horizon=short, profile=prof), open(a.json, "w"), indent=1)
        print(f"wrote {a.json}")


if __name__ == "__main__":
    main()
