"Helpers shared by the benchmark scripts."
import platform
import time

import torch


def cpu_model() -> str:
    "The CPU's model name (from /proc/cpuinfo where there is one)."
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"): return line.split(":", 1)[1].strip()
    except OSError: pass
    return platform.processor() or "unknown"


def sync(device) -> None:
    "Wait for queued CUDA work, so a timer reads the work and not its launch."
    if str(device).startswith("cuda"): torch.cuda.synchronize()


def best_time(fn, repeats, device="cpu", warmup=True):
    "Best wall time of `repeats` calls of fn() (after one untimed warm-up call unless `warmup=False`) and the last result."
    if warmup: fn(); sync(device)
    best, out = float("inf"), None
    for _ in range(repeats):
        sync(device); t0 = time.perf_counter()
        out = fn(); sync(device)
        best = min(best, time.perf_counter() - t0)
    return best, out


def alternate(fns, repeats, device="cpu", warmup=True):
    """Time several functions in turn, `repeats` rounds of one call each (after one untimed warm-up call each unless
    `warmup=False`), so that a shared machine's drifting load hits all of them alike. Returns two lists per function:
    its wall times and its CPU times (this process's `time.process_time`, the steadier figure on a shared machine)."""
    if warmup:
        for f in fns: f(); sync(device)
    wall, cpu = [[] for _ in fns], [[] for _ in fns]
    for _ in range(repeats):
        for i, f in enumerate(fns):
            c0 = time.process_time()
            wall[i].append(best_time(f, 1, device, warmup=False)[0])
            cpu[i].append(time.process_time() - c0)
    return wall, cpu
