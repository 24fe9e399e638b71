"""Benchmark: the selective scan (Mamba-style) — dynbook.ssm.selective_scan (chunked, torch.compile'd) vs the sequential
reference dynbook.ssm.selective_scan_ref (the loop of Mamba's selective_scan_ref), same inputs, same run.

Sizes (defaults, realistic for a small Mamba layer): batch 8, 64 channels, state 16, sequence length 4096, float32.
Inputs: u ~ N(0, 1); Δ = softplus(z) · Δ_d with Δ_d log-uniform in [1e-3, 1e-1] per channel (Mamba's initialisation)
and z ~ N(0, 1) − softplus⁻¹(1)… i.e. Δ_t,d ≈ Δ_d; A_dn = −(n+1) (S4D-Real); B, C ~ N(0, 1); D ~ N(0, 1).
Timing: single thread (OMP_NUM_THREADS=1), the two functions timed alternately (--repeats rounds of one call each,
best time kept, bench/_common.best_time), after one untimed warm-up call each. The compile time (the first compiled
call, minus one steady-state call) is reported apart. Also reported: the same chunked scan run eagerly (no compile).
Also timed: the same chunk kernel run chunk after chunk (parallel=False: one pass, L/Q sequential calls).
Correctness: max |y_chunked − y_ref| / max |y_ref|.

Run:  .venv/bin/python bench/ssm.py                  # ~1-2 min on one core (compile included)
      .venv/bin/python bench/ssm.py --length 1024 --repeats 3
"""
import os
os.environ["OMP_NUM_THREADS"] = "1"          # before torch is imported
os.environ["MKL_NUM_THREADS"] = "1"
import argparse, json, math, time

import torch
torch.set_num_threads(1)

from _common import alternate, best_time, cpu_model
from dynbook.ssm import selective_scan, selective_scan_ref


def inputs(b, L, d, n, seed=0):
    g = torch.Generator().manual_seed(seed)
    dt = torch.exp(torch.rand(d, generator=g) * (math.log(1e-1) - math.log(1e-3)) + math.log(1e-3))
    z = torch.randn(b, L, d, generator=g)
    delta = torch.nn.functional.softplus(z + torch.log(torch.expm1(dt)))          # softplus(z + softplus⁻¹(Δ_d))
    A = -torch.arange(1, n + 1, dtype=torch.float32).repeat(d, 1)
    return (torch.randn(b, L, d, generator=g), delta, A, torch.randn(b, L, n, generator=g), torch.randn(b, L, n, generator=g),
            torch.randn(d, generator=g))


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--batch", type=int, default=8); p.add_argument("--channels", type=int, default=64)
    p.add_argument("--state", type=int, default=16); p.add_argument("--length", type=int, default=4096)
    p.add_argument("--chunk", type=int, default=16); p.add_argument("--repeats", type=int, default=5)
    a = p.parse_args()
    args = inputs(a.batch, a.length, a.channels, a.state)
    ref = lambda: selective_scan_ref(*args)
    par = lambda: selective_scan(*args, chunk=a.chunk, compile=True, parallel=True)
    eag = lambda: selective_scan(*args, chunk=a.chunk, compile=False)
    ser = lambda: selective_scan(*args, chunk=a.chunk, compile=True, parallel=False)
    with torch.no_grad():
        t0 = time.perf_counter(); y_par = par(); first = time.perf_counter() - t0
        steady, _ = best_time(par, 1, warmup=False)
        y_ser = ser()
        y_ref = ref()
        (t_ref, t_par, t_ser, t_eag), _ = alternate([ref, par, ser, eag], a.repeats, warmup=False)   # load changes hit all
        y_eag = eag()
    err = float((y_par - y_ref).abs().max() / y_ref.abs().max())
    err_e = float((y_eag - y_ref).abs().max() / y_ref.abs().max())
    out = dict(cpu=cpu_model(), torch=torch.__version__, threads=torch.get_num_threads(),
               sizes=dict(batch=a.batch, channels=a.channels, state=a.state, length=a.length, chunk=a.chunk, dtype="float32"),
               sequential_ref_s=min(t_ref), chunked_compiled_s=min(t_par), chunked_eager_s=min(t_eag),
               serial_chunks_compiled_s=min(t_ser),
               speedup_compiled_vs_ref=min(t_ref) / min(t_par), speedup_serial_chunks_vs_ref=min(t_ref) / min(t_ser),
               speedup_eager_chunked_vs_ref=min(t_ref) / min(t_eag),
               rel_err_serial_chunks=float((y_ser - y_ref).abs().max() / y_ref.abs().max()),
               compile_s=first - steady, rel_err_compiled=err, rel_err_eager_chunked=err_e, repeats=a.repeats)
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
