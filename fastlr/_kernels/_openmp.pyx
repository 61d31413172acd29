"""OpenMP facts about this build, for fastlr._threads."""

from fastlr._kernels._common cimport FASTLR_OPENMP, omp_get_max_threads


def openmp_enabled():
    """True when the kernels were compiled with OpenMP."""
    return bool(FASTLR_OPENMP)


def max_threads():
    """omp_get_max_threads(): honours OMP_NUM_THREADS; 1 without OpenMP."""
    return int(omp_get_max_threads())
