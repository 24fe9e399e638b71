__version__ = "0.1.0"

from . import core, systems, kernels
from .core import DynbookError, BadInputError, IntegrationError, NonConvergenceError, cite
from .simulate import simulate, Trajectory
from . import invariants
from .invariants import lyapunov_spectrum
from . import bifurcations
