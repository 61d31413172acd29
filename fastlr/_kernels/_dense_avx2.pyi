# The AVX2 build of _dense: the same API.
from fastlr._kernels._dense import *  # noqa: F401,F403
from fastlr._kernels._dense import dense_step as dense_step, gather_grads as gather_grads
