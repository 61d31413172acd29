# The AVX2 build of the row kernels: the same source as _rows.pyx, compiled with -mavx2
# (setup.py) and chosen at run time by fastlr._simd when the CPU has AVX2.  Contraction into FMA
# stays off (-ffp-contract=off), so both builds give bit-identical results.
include "_rows.pyx"
