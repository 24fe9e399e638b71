"""Benchmark: one FNO training step (forward, backward, Adam) — dynbook vs neuraloperator — and FNO inference vs the spectral solver.

Training step: 1-D Burgers shapes (batch 20, 256 points, 1 input and 1 output channel), the same kept modes,
width and number of Fourier layers for both (neuraloperator's `n_modes=(2m-2,)` keeps m real-FFT modes, like
dynbook's `modes=m`; its channel MLPs are off, so both blocks are spectral conv + linear skip + GELU).
The two are timed alternately in one process (best of --repeats rounds of --steps steps each) and the ratio is
printed; dynbook's compiled step is timed the same way, with its compile time (first call) reported apart.

Inference: a batch of --infer-batch random initial conditions at 1024 points, 1000 ETDRK4 steps of the spine's
solver to t = 1 vs one forward pass of a (width 32, 16 modes) FNO — the tutorial-scale speed-up.
Single thread: OMP_NUM_THREADS=1 is set before torch is imported.
"""
import os
os.environ["OMP_NUM_THREADS"] = "1"
import argparse
import time

import torch

from _common import alternate, best_time, cpu_model
from dynbook.operators import FNO, gaussian_random_field, spectral_conv
from dynbook.simulate import simulate
from dynbook.systems import get


def step_fn(model, x, y, fwd=None):
    "A closure doing one Adam step of `model` on (x, y) with the relative L2 loss."
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    fwd = fwd or model
    def step():
        opt.zero_grad(set_to_none=True)
        p = fwd(x)
        loss = ((p - y).flatten(1).norm(dim=1) / y.flatten(1).norm(dim=1)).mean()
        loss.backward(); opt.step()
        return float(loss.detach())
    return step


def per_step(step, steps):
    def run():
        for _ in range(steps): step()
    return run


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--modes", type=int, default=16)
    ap.add_argument("--width", type=int, default=64)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--batch", type=int, default=20)
    ap.add_argument("--n", type=int, default=256)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--infer-batch", type=int, default=100)
    ap.add_argument("--no-compile", action="store_true")
    a = ap.parse_args()
    torch.set_num_threads(1)
    print(f"CPU: {cpu_model()}, torch {torch.__version__}, threads {torch.get_num_threads()}")
    print(f"training step: modes {a.modes}, width {a.width}, layers {a.layers}, batch {a.batch}, n {a.n}; "
          f"best of {a.repeats} rounds of {a.steps} steps")
    g = torch.Generator().manual_seed(0)
    x = gaussian_random_field(a.n, a.batch, seed=0, dtype=torch.float32)[:, None]
    y = torch.roll(x, 3, -1) * 0.5 + 0.1 * torch.randn(x.shape, generator=g)

    ours = FNO(a.modes, width=a.width, layers=a.layers, compile=False).train()
    s_ours = step_fn(ours, x, y, ours.forward_eager)
    runs = {"dynbook FNO (eager)": s_ours}
    try:
        from neuralop.models import FNO as NFNO
        theirs = NFNO(n_modes=(2 * a.modes - 2,), in_channels=1, out_channels=1, hidden_channels=a.width, n_layers=a.layers,
                      use_channel_mlp=False, fno_skip="linear", lifting_channel_ratio=2, projection_channel_ratio=2).train()
        runs["neuraloperator FNO"] = step_fn(theirs, x, y)
        print(f"parameters: dynbook {sum(p.numel() for p in ours.parameters()):,} real; "
              f"neuraloperator {sum(p.numel() * (2 if p.is_complex() else 1) for p in theirs.parameters()):,} real")
    except Exception as e:
        print(f"neuraloperator not available ({type(e).__name__}: {str(e)[:100]}); reporting dynbook's absolute figures only")
    if not a.no_compile:
        comp = FNO(a.modes, width=a.width, layers=a.layers, compile=True).train()
        s_comp = step_fn(comp, x, y, comp._run)
        t0 = time.perf_counter(); s_comp(); t_first = time.perf_counter() - t0
        runs["dynbook FNO (compiled)"] = s_comp
    walls, _ = alternate([per_step(s, a.steps) for s in runs.values()], a.repeats)   # every round times each once
    best = {k: min(w) / a.steps for k, w in zip(runs, walls)}
    for k, v in best.items(): print(f"  {k:26s} {1e3 * v:8.1f} ms/step")
    if "neuraloperator FNO" in best:
        print(f"  neuraloperator / dynbook eager = {best['neuraloperator FNO'] / best['dynbook FNO (eager)']:.2f}x")
    if not a.no_compile:
        print(f"  compile time (first compiled step minus a step): {t_first - best['dynbook FNO (compiled)']:.1f} s")

    # inference vs solver
    B = a.infer_batch
    u0 = gaussian_random_field(1024, B, seed=1)
    net = FNO(16, width=32, layers=4, compile=False).eval()
    xin = u0[:, None].float()
    solve = lambda: simulate(get("burgers", n=1024), 1000, dt=1e-3, x0=u0, save_every=1000, progress=False)
    t_solver = best_time(solve, 1)[0]
    with torch.no_grad(): t_fno = best_time(lambda: net(xin), 3)[0]
    print(f"inference, batch {B} at 1024 points to t = 1: spectral solver (1000 ETDRK4 steps) {t_solver:.2f} s, "
          f"FNO forward {1e3 * t_fno:.1f} ms, speed-up {t_solver / t_fno:.0f}x")


if __name__ == "__main__":
    main()
