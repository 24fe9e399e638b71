"""GPU check for dynbook.simulate: CUDA-vs-CPU agreement, then Lorenz-63 throughput on the card.

1. Prints the card (torch.cuda.get_device_name), torch and CUDA versions, the CPU model.
2. Agreement, float64, CPU eager result vs CUDA result (max |cuda - cpu| / max |cpu| <= rtol):
     lorenz63 RK4, batch 256 x 500 steps (CUDA eager and CUDA compiled), rtol 1e-10;
     henon (default solver: map iteration), batch 256 x 30 iterates, rtol 1e-10;
     lorenz63 Dopri5(rtol=atol=1e-10) adaptive, batch 256, 5 outputs at dt=1.0, rtol 1e-8
       (step acceptance may flip on round-off, so agreement is to the tolerance, not to round-off);
     kuramoto_sivashinsky (default solver: ETDRK4), batch 8 x 200 steps, rtol 1e-10.
   Chaos amplifies round-off, hence the short horizons.
3. (section [2]) Throughput of Lorenz-63 RK4 float32, 2000 steps, save_every=10 (201 states kept), at batch
   4096, 65536, 1048576: compiled (compile time = first call minus steady time, reported apart) and
   eager, in trajectory-steps per second (batch * steps / seconds).

4. (section [3]) Batched Lyapunov spectra: Lorenz-63, k=3, rho = linspace(20, 200, B), T=--lyap-time (20),
   QR every 10 steps, float64, one call per row: CPU eager at B=256 (the reference), CUDA eager and compiled at
   B = 256, 4096, 65536; spectra per second and the speed-up per spectrum over CPU eager (and at B=256 the
   max |difference| from the CPU exponents; round-off grows with T on chaotic orbits). bench/lyapunov.py has the
   CPU comparison with numba.

Without CUDA it says so, runs the CPU halves (references, and throughput at batch 4096) and exits 0.
It never hangs: sections are skipped once --budget seconds have passed, and faulthandler kills the
process (printing tracebacks) at --budget + 40 s. Exit status 1 if an agreement check fails.

Run:  .venv/bin/python bench/gpu_check.py [--budget 270] [--save-every 10] [--json FILE]
"""
import argparse, faulthandler, json, os, platform, sys, time

T0 = time.perf_counter()
import numpy as np
import torch

from _common import cpu_model, sync
from dynbook import kernels
from dynbook.simulate import RK4, Dopri5, simulate
from dynbook.invariants import lyapunov_spectrum
from dynbook.systems import get


def elapsed(): return time.perf_counter() - T0






def timed(fn, dev):
    sync(dev); t0 = time.perf_counter(); out = fn(); sync(dev)
    return time.perf_counter() - t0, out


def agreement(name, run, rtol, cuda, results):
    "run(device) -> Trajectory; compares CUDA with CPU (or only runs the CPU half)."
    t_cpu, ref = timed(lambda: run("cpu"), "cpu")
    ref = ref.x.double()
    if not cuda:
        print(f"  {name:44s} cpu {t_cpu:6.2f} s, finite={bool(torch.isfinite(ref).all())} (no CUDA to compare)")
        results.append(dict(check=name, cpu_s=t_cpu, ok=None)); return True
    t_gpu, tr = timed(lambda: run("cuda"), "cuda")
    x = tr.x.double().cpu()
    diff = float((x - ref).abs().max()) if x.shape == ref.shape else float("inf")
    rel = diff / max(float(ref.abs().max()), 1e-300)
    ok = rel <= rtol
    print(f"  {name:44s} cpu {t_cpu:6.2f} s  cuda {t_gpu:6.2f} s  max|diff| {diff:.2e}  rel {rel:.2e}  "
          f"(rtol {rtol:g})  {'PASS' if ok else 'FAIL'}")
    results.append(dict(check=name, cpu_s=t_cpu, cuda_s=t_gpu, max_abs_diff=diff, rel_diff=rel, rtol=rtol, ok=ok))
    return ok


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--budget", type=float, default=270.0, help="seconds after which sections are skipped")
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--save-every", type=int, default=10)
    ap.add_argument("--batches", default="4096,65536,1048576")
    ap.add_argument("--lyap-time", type=float, default=20.0, help="averaging time of the batched Lyapunov spectra")
    ap.add_argument("--lyap-batches", default="256,4096,65536")
    ap.add_argument("--json", metavar="FILE")
    a = ap.parse_args(argv)
    faulthandler.dump_traceback_later(a.budget + 40, exit=True)   # hard stop, even inside C/CUDA calls

    cuda = torch.cuda.is_available()
    if not cuda: torch.set_num_threads(1)   # stable CPU timings (OpenMP barriers suffer badly on a shared machine)
    print(f"torch {torch.__version__}, CUDA build {torch.version.cuda}, python {platform.python_version()}")
    print(f"CPU: {cpu_model()}; torch threads {torch.get_num_threads()}")
    if cuda:
        props = torch.cuda.get_device_properties(0)
        print(f"GPU: {torch.cuda.get_device_name()} ({props.total_memory / 2**30:.0f} GiB), "
              f"driver-visible CUDA devices: {torch.cuda.device_count()}")
    else:
        print("NO CUDA DEVICE AVAILABLE: running the CPU parts only (references and CPU throughput at batch 4096,"
              " 1 torch thread).")
    g = torch.Generator().manual_seed(0)
    out = dict(torch=torch.__version__, cuda=torch.version.cuda, gpu=torch.cuda.get_device_name() if cuda else None,
               cpu=cpu_model(), agreement=[], throughput=[])

    print("\n[1] agreement, float64 (CPU eager is the reference)")
    lor, hen, ks = get("lorenz63"), get("henon"), get("kuramoto_sivashinsky")
    xl = (torch.randn(256, 3, generator=g, dtype=torch.float64) * torch.tensor([8.0, 9.0, 8.0])
          + torch.tensor([0.0, 0.0, 25.0]))
    xh = hen.x0.double() + 1e-3 * torch.randn(256, 2, generator=g, dtype=torch.float64)
    xk = ks.x0.double() + 1e-2 * torch.randn(8, ks.dim, generator=g, dtype=torch.float64)
    checks = [
        ("lorenz63 rk4 256x500 (cuda eager)", 1e-10,
         lambda d: simulate(lor, 500, dt=0.01, x0=xl, device=d, compile=False, progress=False)),
        ("lorenz63 rk4 256x500 (cuda compiled)", 1e-10,
         lambda d: simulate(lor, 500, dt=0.01, x0=xl, device=d, compile=(d != "cpu"), progress=False)),
        ("henon map 256x30", 1e-10,
         lambda d: simulate(hen, 30, x0=xh, device=d, compile=False, progress=False)),
        ("lorenz63 dopri5(1e-10) 256 x t=0..5", 1e-8,
         lambda d: simulate(lor, 5, dt=1.0, x0=xl, solver=Dopri5(rtol=1e-10, atol=1e-10), device=d, progress=False)),
        ("kuramoto_sivashinsky etdrk4 8x200", 1e-10,
         lambda d: simulate(ks, 200, x0=xk, device=d, progress=False)),
    ]
    ok = True
    for name, rtol, run in checks:
        if not cuda and "compiled" in name: continue
        if elapsed() > a.budget * 0.5:
            print(f"  {name}: skipped (time budget)"); continue
        try: ok &= agreement(name, run, rtol, cuda, out["agreement"])
        except Exception as e:  # noqa: BLE001 — report and go on
            ok = False; print(f"  {name}: ERROR {type(e).__name__}: {e}")
            out["agreement"].append(dict(check=name, error=f"{type(e).__name__}: {e}"))
    if cuda: print(f"  compiler_ok={kernels._STATE['compiler_ok']}")

    dev = "cuda" if cuda else "cpu"
    N, se = a.steps, a.save_every
    print(f"\n[2] throughput on {dev}: lorenz63 rk4 float32, {N} steps, save_every={se}")
    batches = [int(b) for b in a.batches.split(",")] if cuda else [4096]
    configs = [("compiled", se, True), ("eager", se, False)]
    for B in batches:
        if elapsed() > a.budget:
            print(f"  batch {B}: skipped (time budget {a.budget:.0f} s reached)"); continue
        x0 = (torch.randn(B, 3, generator=g) * torch.tensor([8.0, 9.0, 8.0]) + torch.tensor([0.0, 0.0, 25.0])).to(dev)
        for label, k, comp in configs:
            if elapsed() > a.budget:
                print(f"  batch {B:8d} {label:24s} skipped (time budget)"); continue
            sim = lambda: simulate(lor, N, dt=0.01, x0=x0, compile=comp, save_every=k, progress=False)
            try:
                first, _ = timed(sim, dev)
                best = min(timed(sim, dev)[0] for _ in range(2))
            except torch.OutOfMemoryError as e:
                print(f"  batch {B:8d} {label:24s} out of memory ({str(e)[:80]})"); continue
            out["throughput"].append(dict(batch=B, steps=N, save_every=k, compiled=comp, seconds=best,
                                          first_call_s=first, traj_steps_per_s=B * N / best))
            extra = f"   first call {first:7.3f} s (compile ~{first - best:.2f} s)" if comp else ""
            print(f"  batch {B:8d} {label:24s} {best:8.4f} s  {B * N / best:.3e} traj-steps/s{extra}")
        del x0
        if cuda: torch.cuda.empty_cache()
    if cuda: print(f"  peak CUDA memory {torch.cuda.max_memory_allocated() / 2**30:.2f} GiB")

    print(f"\n[3] batched Lyapunov spectra: lorenz63 k=3, rho = linspace(20, 200, B), RK4 dt=0.01, T={a.lyap_time:g} "
          f"(+10% transient), QR every 10 steps, float64; one lyapunov_spectrum call per row")
    out["lyapunov"] = []
    nl = int(round(a.lyap_time / 0.01)); nl -= nl % 10
    def spectra(B, d, comp):
        rho = torch.linspace(20, 200, B, dtype=torch.float64, device=d)
        return lyapunov_spectrum(lor, nl, dt=0.01, x0=torch.ones(3, dtype=torch.float64, device=d), params={"rho": rho},
                                 renorm_every=10, compile=comp).exponents
    if elapsed() > a.budget + 10:
        print("  skipped (time budget)"); t_cpu = None
    else: t_cpu, e_cpu = timed(lambda: spectra(256, "cpu", False), "cpu")
    if t_cpu is None: cuda_l = False
    else: cuda_l = cuda
    if t_cpu is not None:
        print(f"  cpu eager  batch {256:8d}  {t_cpu:8.3f} s  {256 / t_cpu:10.1f} spectra/s  (reference)")
        out["lyapunov"].append(dict(device="cpu", batch=256, compiled=False, seconds=t_cpu, spectra_per_s=256 / t_cpu))
    for B in ([int(b) for b in a.lyap_batches.split(",")] if cuda_l else []):
        for comp in (False, True):
            if elapsed() > a.budget:
                print(f"  cuda {'compiled' if comp else 'eager':8s} batch {B:8d}  skipped (time budget)"); continue
            try:
                first = timed(lambda: spectra(B, "cuda", comp), "cuda")[0] if comp else None
                t, e = timed(lambda: spectra(B, "cuda", comp), "cuda")
            except Exception as err:  # noqa: BLE001 — report and go on
                print(f"  cuda batch {B}: ERROR {type(err).__name__}: {str(err)[:120]}"); continue
            diff = float((e[:256].cpu() - e_cpu).abs().max()) if B == 256 else None
            out["lyapunov"].append(dict(device="cuda", batch=B, compiled=comp, seconds=t, first_call_s=first, spectra_per_s=B / t,
                                        speedup_vs_cpu_eager_per_spectrum=(B / t) / (256 / t_cpu), maxdiff_vs_cpu=diff))
            print(f"  cuda {'compiled' if comp else 'eager':8s} batch {B:8d}  {t:8.3f} s  {B / t:10.1f} spectra/s  "
                  f"speed-up per spectrum vs cpu eager x{(B / t) / (256 / t_cpu):.1f}"
                  + (f"  max|dλ| vs cpu {diff:.1e}" if diff is not None else "") + (f"  (first call {first:.1f} s)" if comp else ""))
        if cuda: torch.cuda.empty_cache()

    faulthandler.cancel_dump_traceback_later()
    print(f"\ntotal {elapsed():.1f} s; agreement: {'ALL PASS' if ok and cuda else ('no CUDA, not compared' if not cuda else 'FAILURES')}")
    if a.json:
        json.dump(out, open(a.json, "w"), indent=1); print(f"wrote {a.json}")
    return 0 if (ok or not cuda) else 1


if __name__ == "__main__":
    sys.exit(main())
