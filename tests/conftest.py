import os
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MPLBACKEND", "Agg")
import torch
torch.set_num_threads(1)

# hypothesis: the same examples on every run (CI must not pass or fail by the draw); HYPOTHESIS_PROFILE=explore draws fresh ones
from hypothesis import settings
settings.register_profile("ci", derandomize=True, print_blob=True)
settings.register_profile("explore", derandomize=False)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
