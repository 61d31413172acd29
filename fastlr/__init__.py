"""fastlr: Cython-compiled, PyTorch-exact optimizers and vectorized learning-rate schedules for NumPy."""
try:
    from fastlr._kernels import _dense as _probe  # noqa: F401
except ImportError as exc:  # importing an unbuilt source tree, e.g. `python -m` from the repo
    raise ImportError(
        "fastlr's compiled kernels are missing. You are probably importing the source tree "
        f"({__path__[0]}) instead of the installed package: run from another directory, or "
        "build in place with `pip install -e .`."
    ) from exc
from fastlr._threads import get_num_threads, openmp_enabled, set_num_threads
from fastlr import schedules
from fastlr.optim import SGD, Adadelta, Adagrad, Adam, AdamW, Optimizer, RMSprop
from fastlr.optim import RowGrad, RowwiseAdagrad

__version__ = "0.1.0"

__all__ = [
    "SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "Adadelta", "Optimizer",
    "RowGrad", "RowwiseAdagrad",
    "set_num_threads", "get_num_threads", "openmp_enabled", "schedules",
]
