"""Benchmark: Lorenz-63, classical RK4, full trajectory kept — dynbook vs numpy vs torchdiffeq (vs diffrax).

What is measured (one run, side by side, same seeded initial conditions on the attractor):
  (a) dynbook `simulate(..., compile=True)`: compile/warm-up time (first call, a 2-chunk run at the full
      batch; and first full call minus steady state), then the best of --repeats steady-state runs;
  (b) dynbook `simulate(..., compile=False)` (eager torch), the reference for the accuracy columns;
  (c) numpy: hand-written vectorised RK4 over the batch (float32, structure-of-arrays, in-place ufuncs,
      preallocated (T, 3, B) output — the same 2001*B*3 floats as the others);
  (d) torchdiffeq `odeint(f, y0, t, method="rk4", options=dict(step_size=dt))` with a plain torch rhs.
      NB torchdiffeq's "rk4" is the 3/8-rule RK4 (rk4_alt_step_func), not the classical tableau, so it
      differs from the others by truncation error (~dt^4), not only round-off;
  (e) diffrax (JAX) with a classical-RK4 Butcher tableau, if jax/diffrax import (never installed here).
Every result keeps all `steps+1` states, float32, dt=0.01. The table gives seconds, trajectory-steps per
second (batch*steps/seconds), time relative to dynbook compiled, and the max |difference| vs dynbook eager
at step 100 and at the final step (chaos amplifies round-off over 20 time units: that column is O(10) and only
informative). The float64 dynbook row gives the float32 round-off scale (about 2e-3 at step 100, max over 4096).
Threads: OMP_NUM_THREADS=1 (set before numpy/torch are imported) and torch.set_num_threads(1).
--breakdown times the parts of a compiled call (fused chunks, output allocation);
--chunks 8,16,32 additionally times `dynbook.kernels.run_steps` directly for each `chunk_steps` (each new
chunk length compiles anew: ~0.7 s per unrolled step, so 128 takes ~90 s).

Run:  .venv/bin/python bench/simulate.py --quick          # smoke run (batch 256, 200 steps)
      .venv/bin/python bench/simulate.py --json out.json  # full size (4096 x 2000), ~20 s on CPU (warm cache)
      .venv/bin/python bench/simulate.py --breakdown --chunks 4,8,16,32,64,128
"""
import os
os.environ["OMP_NUM_THREADS"] = "1"          # before numpy / torch are imported
os.environ["MKL_NUM_THREADS"] = "1"
os.environ["OPENBLAS_NUM_THREADS"] = "1"
import argparse, json, platform, sys, time

import numpy as np
import torch
torch.set_num_threads(1)

from _common import best_time, cpu_model, sync
from dynbook import kernels
from dynbook.simulate import RK4, simulate
from dynbook.systems import get

SIGMA, RHO, BETA = 10.0, 28.0, 8.0 / 3.0






def best_of(fn, repeats, device="cpu"):
    "Best wall time of `repeats` calls of fn() (no warm-up) and the last result."
    return best_time(fn, repeats, device, warmup=False)


def initial_conditions(batch, seed, settle=500, h=0.02):
    "Seeded points on the Lorenz attractor: normal samples around it, settled for t=10 (float64 RK4)."
    rng = np.random.default_rng(seed)
    x = rng.normal(0.0, [8.0, 9.0, 8.0], size=(batch, 3)) + [0.0, 0.0, 24.0]
    f = lambda u: np.stack((SIGMA * (u[:, 1] - u[:, 0]), u[:, 0] * (RHO - u[:, 2]) - u[:, 1], u[:, 0] * u[:, 1] - BETA * u[:, 2]), 1)
    for _ in range(settle):
        k1 = f(x); k2 = f(x + h / 2 * k1); k3 = f(x + h / 2 * k2); k4 = f(x + h * k3)
        x = x + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
    return x.astype(np.float32)


# ---- (c) numpy ------------------------------------------------------------------------------------
def numpy_rk4(x0, steps, dt):
    "Vectorised classical RK4; state as (3, B) rows so every ufunc runs over a contiguous array."
    f32 = np.float32
    s, b, c, h = f32(SIGMA), f32(BETA), f32(RHO), f32(dt)
    h2, h6 = f32(0.5) * h, h / f32(6)   # same float32 roundings (and sum order) as RK4.step, so results match
    B = x0.shape[0]
    out = np.empty((steps + 1, 3, B), np.float32)
    out[0] = x0.T
    k = np.empty((4, 3, B), np.float32); y = np.empty((3, B), np.float32); tmp = np.empty(B, np.float32)

    def rhs(u, d):
        np.subtract(u[1], u[0], out=d[0]); d[0] *= s                              # sigma (y - x)
        np.subtract(c, u[2], out=d[1]); d[1] *= u[0]; d[1] -= u[1]                # x (rho - z) - y
        np.multiply(u[0], u[1], out=d[2]); np.multiply(b, u[2], out=tmp); d[2] -= tmp  # x y - beta z

    for n in range(steps):
        x = out[n]
        rhs(x, k[0])
        np.multiply(k[0], h2, out=y); y += x; rhs(y, k[1])
        np.multiply(k[1], h2, out=y); y += x; rhs(y, k[2])
        np.multiply(k[2], h, out=y); y += x; rhs(y, k[3])
        k[1] *= f32(2); k[1] += k[0]; k[2] *= f32(2); k[1] += k[2]; k[1] += k[3]  # ((k1+2k2)+2k3)+k4
        nxt = out[n + 1]
        np.multiply(k[1], h6, out=nxt); nxt += x
    return out.transpose(2, 0, 1)                                                # (B, T, 3) view


# ---- (d) torchdiffeq ------------------------------------------------------------------------------
def lorenz_torch(t, u):
    x, y, z = u.unbind(-1)
    return torch.stack((SIGMA * (y - x), x * (RHO - z) - y, x * y - BETA * z), -1)


# ---- (e) diffrax ----------------------------------------------------------------------------------
def make_diffrax(steps, dt):
    "A jitted callable x0 -> (B, T, 3), or None if jax/diffrax are missing."
    try:
        import jax, jax.numpy as jnp, diffrax
    except Exception as e:  # noqa: BLE001 — any import problem means: skip
        return None, f"{type(e).__name__}: {e}"

    class ClassicRK4(diffrax.AbstractERK):
        tableau = diffrax.ButcherTableau(
            c=np.array([0.5, 0.5, 1.0]), b_sol=np.array([1 / 6, 1 / 3, 1 / 3, 1 / 6]), b_error=np.zeros(4),
            a_lower=(np.array([0.5]), np.array([0.0, 0.5]), np.array([0.0, 0.0, 1.0])))
        interpolation_cls = diffrax.ThirdOrderHermitePolynomialInterpolation.from_k
        def order(self, terms): return 4

    def vf(t, u, args):
        x, y, z = u[..., 0], u[..., 1], u[..., 2]
        return jnp.stack((SIGMA * (y - x), x * (RHO - z) - y, x * y - BETA * z), -1)

    ts = jnp.arange(steps + 1, dtype=jnp.float32) * dt
    @jax.jit
    def run(y0):
        sol = diffrax.diffeqsolve(diffrax.ODETerm(vf), ClassicRK4(), t0=0.0, t1=steps * dt, dt0=dt, y0=y0,
                                  saveat=diffrax.SaveAt(ts=ts), stepsize_controller=diffrax.ConstantStepSize(),
                                  max_steps=steps + 8)
        return jnp.moveaxis(sol.ys, 0, -2)
    return (lambda y0: np.asarray(run(jnp.asarray(y0)).block_until_ready())), None


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=4096)
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--dt", type=float, default=0.01)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--chunks", default="", help="comma list of chunk_steps to time via kernels.run_steps")
    ap.add_argument("--breakdown", action="store_true", help="time the parts of a compiled simulate call")
    ap.add_argument("--quick", action="store_true", help="smoke run: batch 256, steps 200, 2 repeats")
    ap.add_argument("--json", metavar="FILE", help="write the results as JSON")
    a = ap.parse_args(argv)
    if a.quick: a.batch, a.steps, a.repeats = 256, 200, 2
    if a.device == "cuda" and not torch.cuda.is_available(): sys.exit("--device cuda: no CUDA device available")
    dev, B, N, dt, R = a.device, a.batch, a.steps, a.dt, a.repeats
    k100 = min(100, N)

    print(f"dynbook simulate benchmark: Lorenz-63 RK4, batch {B} x {N} steps, dt={dt}, float32, all {N + 1} states kept")
    print(f"torch {torch.__version__}, numpy {np.__version__}, python {platform.python_version()}, device {dev}")
    print(f"THP_MEM_ALLOC_ENABLE={os.environ.get('THP_MEM_ALLOC_ENABLE', '(unset)')} (1 = torch asks for huge pages, as numpy does)")
    print(f"CPU: {cpu_model()} ({os.cpu_count()} logical CPUs visible)")
    print(f"threads: OMP_NUM_THREADS={os.environ['OMP_NUM_THREADS']} set before importing numpy/torch; "
          f"torch.set_num_threads(1) -> torch.get_num_threads()={torch.get_num_threads()}")
    if dev == "cuda": print(f"GPU: {torch.cuda.get_device_name()}")

    sysm = get("lorenz63")
    x0n = initial_conditions(B, a.seed)
    x0 = torch.from_numpy(x0n).to(dev)
    sim = lambda n, comp: simulate(sysm, n, dt=dt, x0=x0, solver=RK4(), compile=comp, progress=False)
    rows, res = [], {}

    # (a) compiled: warm-up on a short run at the full batch (compiles the saving chunk), then the first full call
    t0 = time.perf_counter(); tr = sim(32, True); sync(dev); warm = time.perf_counter() - t0
    ok = kernels._STATE["compiler_ok"]
    t0 = time.perf_counter(); tr = sim(N, True); sync(dev); first = time.perf_counter() - t0
    t_comp, tr = best_of(lambda: sim(N, True), R, dev)
    print(f"compile: compiler_ok={ok}; first call (32 steps, incl. compile) {warm:.3f} s; "
          f"first full call {first:.3f} s = steady {t_comp:.3f} s + {first - t_comp:.3f} s overhead")
    res["dynbook compiled"] = (t_comp, tr.x)
    # (b) eager
    t_eager, tr_e = best_of(lambda: sim(N, False), max(1, min(R, 3)), dev)
    ref = tr_e.x.detach().cpu().numpy()
    res["dynbook eager"] = (t_eager, tr_e.x)
    # float64 eager: not a competitor, it shows the size of float32 round-off (amplified by the chaos)
    res["(dynbook eager float64)"] = best_of(lambda: simulate(sysm, N, dt=dt, x0=x0.double(), solver=RK4(),
                                                             compile=False, progress=False).x, 1, dev)
    # (c) numpy
    res["numpy (vectorised)"] = best_of(lambda: numpy_rk4(x0n, N, dt), max(1, min(R, 3)))
    # (d) torchdiffeq
    try:
        from torchdiffeq import odeint
        tt = torch.arange(N + 1, dtype=torch.float32, device=dev) * dt
        odeint(lorenz_torch, x0, tt[:3], method="rk4", options=dict(step_size=dt))  # warm-up
        t_tde, y = best_of(lambda: odeint(lorenz_torch, x0, tt, method="rk4", options=dict(step_size=dt)),
                           max(1, min(R, 3)), dev)
        res["torchdiffeq rk4 (3/8 rule)"] = (t_tde, y.movedim(0, -2))
    except ImportError as e:
        print(f"torchdiffeq: skipped ({e})")
    # (e) diffrax
    run_dfx, why = make_diffrax(N, dt)
    if run_dfx is None: print(f"diffrax: skipped, jax/diffrax not importable ({why})")
    else:
        t0 = time.perf_counter(); run_dfx(x0n); print(f"diffrax: jit compile + first run {time.perf_counter() - t0:.3f} s")
        res["diffrax (jax, classic rk4)"] = best_of(lambda: run_dfx(x0n), max(1, min(R, 3)))

    base = res["dynbook compiled"][0]
    print(f"\n{'implementation':28s} {'seconds':>9s} {'traj-steps/s':>13s} {'x slower':>9s} "
          f"{'maxdiff@' + str(k100):>12s} {'maxdiff@' + str(N):>12s}")
    for name, (sec, x) in res.items():
        x = x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)
        assert x.shape == ref.shape, (name, x.shape, ref.shape)
        d100 = float(np.abs(x[:, k100].astype(np.float64) - ref[:, k100]).max())
        dN = float(np.abs(x[:, N].astype(np.float64) - ref[:, N]).max())
        rows.append(dict(name=name, seconds=sec, traj_steps_per_s=B * N / sec, ratio_vs_compiled=sec / base,
                         maxdiff_step100=d100, maxdiff_final=dN))
        print(f"{name:28s} {sec:9.4f} {B * N / sec:13.3e} {sec / base:9.2f} {d100:12.3e} {dN:12.3e}")
    r = {x["name"]: x["ratio_vs_compiled"] for x in rows}
    np_r, tde_r = r.get("numpy (vectorised)"), r.get("torchdiffeq rk4 (3/8 rule)")
    print("x slower = seconds / dynbook-compiled seconds; maxdiff = max |x - x_dynbook_eager_float32| over batch and dims")
    print(f"\ntargets: numpy/compiled = {np_r:.2f} (need >= 3) -> {'MET' if np_r >= 3 else 'MISSED'}; "
          + (f"torchdiffeq/compiled = {tde_r:.2f} (need >= 6) -> {'MET' if tde_r >= 6 else 'MISSED'}" if tde_r else ""))

    parts = {}
    if a.breakdown:  # where the compiled call's time goes (chunk_steps=16, the run_steps default)
        p, dtt = sysm.param_tensor(dtype=torch.float32, device=dev), torch.tensor(dt, dtype=torch.float32, device=dev)
        kc = kernels.chunk(RK4.step, sysm.rule_rows, 16, 1, True, True)   # the same cached compiled chunk simulate used
        rows0 = tuple(x0.T.contiguous())
        def chunks():
            x = rows0
            for _ in range(N // 16): x, xs, ok = kc(x, p, dtt)
            return xs
        xs = chunks()
        parts = {"compiled chunks only (no output)": best_of(chunks, R, dev)[0],
                 "alloc + first touch of output": best_of(lambda: torch.empty((N + 1, B, 3), device=dev).fill_(0), R, dev)[0],
                 "numpy: alloc + first touch": best_of(lambda: np.empty((N + 1, 3, B), np.float32).fill(0), R)[0]}
        print(f"\nbreakdown of dynbook compiled ({t_comp:.4f} s):")
        for k, v in parts.items(): print(f"  {k:34s} {v:.4f} s")

    sweep = []
    if a.chunks:  # time kernels.run_steps directly (same work as simulate minus its bookkeeping)
        p, dtt = sysm.param_tensor(dtype=torch.float32, device=dev), torch.tensor(dt, dtype=torch.float32, device=dev)
        print("\nchunk_steps sweep (kernels.run_steps, compiled, save_every=1):")
        for k in [int(c) for c in a.chunks.split(",")]:
            go = lambda: kernels.run_steps(RK4.step, sysm.rule_rows, tuple(x0.T.contiguous()), (p, dtt), N, compile=True, chunk_steps=k)
            t0 = time.perf_counter(); go(); sync(dev); w = time.perf_counter() - t0
            s, _ = best_of(go, R, dev)
            sweep.append(dict(chunk_steps=k, seconds=s, first_call=w))
            print(f"  chunk_steps={k:4d}: {s:.4f} s ({B * N / s:.3e} traj-steps/s; first call incl. compile {w:.2f} s)")

    if a.json:
        meta = dict(batch=B, steps=N, dt=dt, repeats=R, device=dev, torch=torch.__version__, numpy=np.__version__,
                    cpu=cpu_model(), threads=torch.get_num_threads(), compiler_ok=ok, compile_first_call_s=warm,
                    compile_overhead_full_s=first - t_comp)
        json.dump(dict(meta=meta, results=rows, breakdown=parts, chunk_sweep=sweep), open(a.json, "w"), indent=1)
        print(f"wrote {a.json}")


if __name__ == "__main__":
    main()
