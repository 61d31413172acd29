# The AVX2 build of the bandwidth probe (setup.py compiles *_avx2.pyx with -mavx2), so the probe
# runs at the SIMD width of the dense kernels fastlr picks at run time (fastlr._simd).
include "_bandwidth.pyx"
