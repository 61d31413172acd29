"""fastlr: Cython-compiled, PyTorch-exact optimizers and vectorized learning-rate schedules for NumPy."""

__version__ = "0.1.0"
