"""CPU feature detection for choosing a kernel build at run time."""

cdef extern from *:
    """
    #if (defined(__GNUC__) || defined(__clang__)) && (defined(__x86_64__) || defined(__i386__))
    static int fastlr_has_avx2(void) {
        __builtin_cpu_init();
        return __builtin_cpu_supports("avx2");
    }
    #else
    static int fastlr_has_avx2(void) { return 0; }
    #endif
    """
    int fastlr_has_avx2() noexcept nogil


def has_avx2():
    """True when this CPU (and OS) can run AVX2 code."""
    return bool(fastlr_has_avx2())
