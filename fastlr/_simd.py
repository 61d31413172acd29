"""Pick the fastest build of a kernel module this CPU can run.

setup.py compiles ``_dense.pyx``, ``_rows.pyx`` and ``_schedules.pyx`` twice on x86-64: a
portable build and ``<name>_avx2`` with ``-mavx2``.  Both compute bit-identical results (no FMA contraction); AVX2
doubles the SIMD width (sqrt/div-heavy optimizers, cache-resident tensors) and adds the 64-bit
integer compare that lets the schedule loops vectorize.  ``FASTLR_SIMD=portable`` forces the
portable builds (for testing and comparison).
"""
from __future__ import annotations

import importlib
import importlib.util
import os
from types import ModuleType

from fastlr._kernels import _cpu, _dense


def best(name: str) -> ModuleType:
    """``fastlr._kernels.<name>_avx2`` when this CPU has AVX2 and it was built, else ``<name>``."""
    portable = importlib.import_module(f"fastlr._kernels.{name}")
    if os.environ.get("FASTLR_SIMD", "").strip().lower() in ("portable", "0", "off", "none"):
        return portable
    variant = f"fastlr._kernels.{name}_avx2"
    if _cpu.has_avx2() and importlib.util.find_spec(variant) is not None:
        return importlib.import_module(variant)
    return portable


#: The dense-kernel module in use.
dense = best("_dense")


def simd_level() -> str:
    """``"avx2"`` or ``"portable"``: which build of the dense kernels fastlr uses."""
    return "avx2" if dense is not _dense else "portable"
