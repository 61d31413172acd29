"""Build fastlr's Cython kernels.

Every ``fastlr/_kernels/*.pyx`` becomes the extension ``fastlr._kernels.<name>``.  A file
``<name>_avx2.pyx`` includes ``<name>.pyx`` and is compiled with ``-mavx2`` (x86 only): the
package picks it at run time when the CPU has AVX2 (``fastlr._simd``), so the default build
stays portable while running at native speed.

Flags are portable by default: ``-O3 -fno-math-errno -fno-trapping-math -ffp-contract=off``.
``-fno-math-errno`` lets gcc vectorize ``sqrt`` (it changes no result: the kernels never read
``errno``); ``-ffp-contract=off`` keeps ``a*b + c`` as two roundings, so kernels agree bit for bit
with the NumPy reference on every machine.  No ``-ffast-math`` (it folds away NaN handling).

Environment switches:
  FASTLR_NATIVE=1        add ``-march=native`` (local benchmarking only)
  FASTLR_CYTHON_DEBUG=1  turn Cython bounds/wraparound/initialized checks on
  FASTLR_NO_OPENMP=1     build without OpenMP
"""
import glob
import os
import platform
import shutil
import sys
import tempfile
import textwrap
import warnings

import numpy as np
from Cython.Build import cythonize
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext


def _env_flag(name):
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


DEBUG = _env_flag("FASTLR_CYTHON_DEBUG")

DIRECTIVES = {
    "language_level": 3,
    "boundscheck": DEBUG,
    "wraparound": DEBUG,
    "initializedcheck": DEBUG,
    "nonecheck": False,
    "cdivision": True,
    "embedsignature": True,
}


def _compiles_with(compiler, flags):
    """True when a small OpenMP program compiles and links with ``flags``."""
    source = textwrap.dedent(
        """
        #include <omp.h>
        int main(void) {
            int n = 0;
            #pragma omp parallel reduction(+:n)
            n += 1;
            return n > 0 ? 0 : 1;
        }
        """
    )
    tmp = tempfile.mkdtemp()
    try:
        path = os.path.join(tmp, "omp_probe.c")
        with open(path, "w") as f:
            f.write(source)
        objects = compiler.compile([path], output_dir=tmp, extra_postargs=flags)
        compiler.link_executable(objects, "omp_probe", output_dir=tmp, extra_postargs=flags)
        return True
    except Exception:  # any compiler or linker failure means "no OpenMP"
        return False
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


class BuildExt(build_ext):
    """Pick flags by compiler type and find OpenMP by trying to compile with it."""

    def build_extensions(self):
        msvc = self.compiler.compiler_type == "msvc"
        compile_args = ["/O2", "/fp:precise"] if msvc else [
            "-O3", "-fno-math-errno", "-fno-trapping-math", "-ffp-contract=off",
        ]
        link_args = []
        if _env_flag("FASTLR_NATIVE") and not msvc:
            compile_args.append("-march=native")
        if _env_flag("FASTLR_NO_OPENMP"):
            warnings.warn("FASTLR_NO_OPENMP=1: building fastlr without OpenMP (serial kernels).")
        else:
            omp = ["/openmp"] if msvc else ["-fopenmp"]
            if _compiles_with(self.compiler, omp):
                compile_args += omp
                link_args += [] if msvc else omp
            else:
                warnings.warn(
                    "OpenMP was not found: fastlr is built serial "
                    "(fastlr.openmp_enabled() will return False)."
                )
        for ext in self.extensions:
            ext.extra_compile_args = compile_args + list(ext.extra_compile_args)
            ext.extra_link_args = link_args + list(ext.extra_link_args)
            if ext.name.endswith("_avx2"):
                ext.extra_compile_args.append("/arch:AVX2" if msvc else "-mavx2")
        super().build_extensions()


def _x86():
    return platform.machine().lower() in ("x86_64", "amd64", "i386", "i686", "x86")


def _extensions():
    """One extension per .pyx; ``*_avx2.pyx`` (AVX2 builds, chosen at run time) on x86 only."""
    exts = []
    for pyx in sorted(glob.glob(os.path.join("fastlr", "_kernels", "*.pyx"))):
        name = os.path.splitext(pyx)[0].replace(os.sep, ".")
        if name.endswith("_avx2") and not _x86():
            continue
        exts.append(
            Extension(
                name,
                [pyx],
                include_dirs=[np.get_include()],
                define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_9_API_VERSION")],
            )
        )
    return cythonize(exts, compiler_directives=DIRECTIVES, nthreads=os.cpu_count() or 1)


setup(ext_modules=_extensions(), cmdclass={"build_ext": BuildExt})
