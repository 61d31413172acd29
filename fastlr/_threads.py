"""Thread-count control for the compiled kernels.

``set_num_threads(n)`` fixes the number of OpenMP threads fastlr uses; by default it is
``min(omp_get_max_threads(), os.cpu_count())``, so ``OMP_NUM_THREADS`` is respected.  Work below
``PARALLEL_MIN_ELEMENTS`` runs serially: on small tensors, starting a thread team costs more than
it saves.  Results never depend on the thread count.
"""
from __future__ import annotations

import os

from fastlr._kernels import _openmp

#: Below this many elements per call, kernels run on one thread (measured in bench/).
PARALLEL_MIN_ELEMENTS = 32768

_num_threads: int | None = None


def openmp_enabled() -> bool:
    """True when fastlr's kernels were compiled with OpenMP."""
    return _openmp.openmp_enabled()


def _default_threads() -> int:
    return max(1, min(_openmp.max_threads(), os.cpu_count() or 1))


def set_num_threads(n: int | None) -> None:
    """Use ``n`` threads in fastlr's kernels (``None`` restores the default).

    Without OpenMP the kernels are serial whatever ``n`` is.
    """
    global _num_threads
    if n is None:
        _num_threads = None
        return
    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError(f"n must be an int or None, got {type(n).__name__}")
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    _num_threads = n


def get_num_threads() -> int:
    """The number of threads fastlr's kernels use for large work."""
    if not _openmp.openmp_enabled():
        return 1
    return _num_threads if _num_threads is not None else _default_threads()


def threads_for(n_elements: int) -> int:
    """Threads to use for a call touching ``n_elements`` elements."""
    if n_elements < PARALLEL_MIN_ELEMENTS:
        return 1
    return get_num_threads()
