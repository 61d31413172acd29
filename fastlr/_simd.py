"""Pick the fastest build of the dense kernels this CPU can run.

setup.py compiles ``_dense.pyx`` twice on x86-64: a portable build and ``_dense_avx2`` with
``-mavx2``.  Both compute bit-identical results (no FMA contraction); AVX2 only doubles the SIMD
width, which matters for cache-resident tensors and for the sqrt/div-heavy optimizers.
``FASTLR_SIMD=portable`` forces the portable build (for testing and comparison).
"""
from __future__ import annotations

import importlib
import importlib.util
import os
from types import ModuleType

from fastlr._kernels import _cpu, _dense


def _choose() -> ModuleType:
    if os.environ.get("FASTLR_SIMD", "").strip().lower() in ("portable", "0", "off", "none"):
        return _dense
    if _cpu.has_avx2() and importlib.util.find_spec("fastlr._kernels._dense_avx2") is not None:
        return importlib.import_module("fastlr._kernels._dense_avx2")
    return _dense


#: The dense-kernel module in use.
dense = _choose()


def simd_level() -> str:
    """``"avx2"`` or ``"portable"``: which build of the dense kernels fastlr uses."""
    return "avx2" if dense is not _dense else "portable"
