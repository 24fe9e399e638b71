"Helpers shared by the benchmark scripts."
import platform

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
