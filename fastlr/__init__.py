"""fastlr: Cython-compiled, PyTorch-exact optimizers and vectorized learning-rate schedules for NumPy."""
from fastlr._threads import get_num_threads, openmp_enabled, set_num_threads
from fastlr.optim import SGD, Adadelta, Adagrad, Adam, AdamW, Optimizer, RMSprop
from fastlr.optim import RowGrad, RowwiseAdagrad

__version__ = "0.1.0"

__all__ = [
    "SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "Adadelta", "Optimizer",
    "RowGrad", "RowwiseAdagrad",
    "set_num_threads", "get_num_threads", "openmp_enabled",
]
