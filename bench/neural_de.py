"""Benchmark: forward + backward of a neural ODE — dynbook.neural_de.odeint vs torchdiffeq, same run.

The field is a 2-layer MLP (d → hidden → hidden → d, tanh); a batch of 256 states is integrated over [0, 1] with
1000 fixed RK4 steps and the loss mean(y(1)²) is backpropagated, in both gradient modes: backpropagation through
the solver and the continuous adjoint (torchdiffeq: `odeint(..., method='rk4')` and `odeint_adjoint`, with
`options=dict(step_size=1e-3)`). Both use float32 on the CPU and one thread (OMP_NUM_THREADS=1 is set before torch
is imported); with --device cuda both run on the GPU. Prints the best of --repeats runs of each after one warm-up,
the speed-up, and the gradient difference between the two libraries. dynbook and torchdiffeq are timed alternately
(one call of each per round), so that a change of the machine's load hits both. dynbook runs its fused MLP kernel
(`fused="auto"`, the default); `--generic` adds the generic stepper (`fused=False`) for comparison.
"""
import os
os.environ.setdefault("OMP_NUM_THREADS", "1")
import argparse
import time

import torch

from _common import alternate, cpu_model, sync
from dynbook.neural_de import odeint, MLPField


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--dim", type=int, default=4)
    ap.add_argument("--hidden", type=int, default=64)
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--modes", default="backprop,adjoint")
    ap.add_argument("--generic", action="store_true", help="also time dynbook's generic stepper (fused=False)")
    a = ap.parse_args()
    import torchdiffeq
    torch.set_num_threads(1)
    dev = torch.device(a.device)
    torch.manual_seed(0)
    f = MLPField(a.dim, a.hidden, dtype=torch.float32).to(dev)
    y0 = torch.randn(a.batch, a.dim, device=dev)
    t = torch.tensor([0.0, 1.0], device=dev)
    opts = dict(step_size=1.0 / a.steps)
    print(f"{'GPU: ' + torch.cuda.get_device_name(dev) if dev.type == 'cuda' else 'CPU: ' + cpu_model()}, torch {torch.__version__}, "
          f"torchdiffeq {torchdiffeq.__version__}, batch {a.batch}, d = {a.dim}, hidden {a.hidden}, {a.steps} RK4 steps, best of {a.repeats}")

    def grads(run):
        f.zero_grad(); run().pow(2).mean().backward()
        return torch.cat([p.grad.flatten() for p in f.parameters()])
    ours = {"backprop": lambda: odeint(f, y0, t, substeps=a.steps)[:, -1],
            "adjoint": lambda: odeint(f, y0, t, substeps=a.steps, adjoint=True)[:, -1]}
    generic = {"backprop": lambda: odeint(f, y0, t, substeps=a.steps, fused=False)[:, -1],
               "adjoint": lambda: odeint(f, y0, t, substeps=a.steps, adjoint=True, fused=False)[:, -1]}
    theirs = {"backprop": lambda: torchdiffeq.odeint(f, y0, t, method="rk4", options=opts)[-1],
              "adjoint": lambda: torchdiffeq.odeint_adjoint(f, y0, t, method="rk4", options=opts,
                                                            adjoint_options=opts)[-1]}
    for mode in a.modes.split(","):
        g1, g2 = grads(ours[mode]), grads(theirs[mode])
        diff = float((g1 - g2).norm() / g2.norm())
        fns = [lambda: grads(ours[mode]), lambda: grads(theirs[mode])] + ([lambda: grads(generic[mode])] if a.generic else [])
        ws, cs = alternate(fns, a.repeats, dev)
        ts, cs = [min(w) for w in ws], [min(c) for c in cs]
        t1, t2 = ts[:2]
        print(f"{mode:9s} forward+backward: dynbook {t1 * 1e3:8.1f} ms   torchdiffeq {t2 * 1e3:8.1f} ms   "
              f"speed-up {t2 / t1:4.2f}x (CPU time {cs[0] * 1e3:.0f} vs {cs[1] * 1e3:.0f} ms: {cs[1] / cs[0]:4.2f}x)   relative gradient difference {diff:.1e}"
              + (f"   (generic stepper {ts[2] * 1e3:.1f} ms, {t2 / ts[2]:4.2f}x)" if a.generic else ""))


if __name__ == "__main__":
    main()
