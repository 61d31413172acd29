# Shared declarations for fastlr's kernel families.
#
# Kernels take raw pointers or contiguous memoryviews of one floating type (float32 or float64),
# scalars as ``double``, and never touch Python objects.  The OpenMP shim lets every module build
# without OpenMP (prange then runs serially).

from libc.stdint cimport int64_t, intptr_t

ctypedef fused floating:
    float
    double

cdef extern from *:
    """
    #ifdef _OPENMP
    #include <omp.h>
    #define FASTLR_OPENMP 1
    #else
    #define FASTLR_OPENMP 0
    static int omp_get_max_threads(void) { return 1; }
    #endif
    """
    int FASTLR_OPENMP
    int omp_get_max_threads() noexcept nogil


cdef inline floating nan_max(floating a, floating b) noexcept nogil:
    """max(a, b) that returns NaN when either is NaN, like numpy.maximum / torch.maximum."""
    # `|`, not `or`: no short-circuit branch, so a loop calling this can be vectorized
    return a if (a != a) | (a > b) else b
