# The AVX2 build of _schedules: the same API.
from fastlr._kernels._schedules import *  # noqa: F401,F403
