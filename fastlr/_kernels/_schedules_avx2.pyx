# The AVX2 build of the schedule evaluators: the same source as _schedules.pyx, compiled with
# -mavx2 (setup.py) and chosen at run time by fastlr._simd.  AVX2 has the 64-bit integer compare
# the step clamping needs, so the cosine loops vectorize; results are bit-identical.
include "_schedules.pyx"
