"""Thread control: set_num_threads / get_num_threads / openmp_enabled, OMP_NUM_THREADS, and
results that are bitwise identical for any thread count."""
from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

import fastlr
from fastlr._threads import PARALLEL_MIN_ELEMENTS, threads_for
from fastlr.optim._base import BLOCK_ELEMENTS
from conftest import DTYPES, LARGE, TABLE, GradStream, assert_bitwise, make, random_params

needs_openmp = pytest.mark.skipif(not fastlr.openmp_enabled(), reason="built without OpenMP")


def test_openmp_enabled_is_a_bool():
    assert type(fastlr.openmp_enabled()) is bool


def test_default_thread_count_is_positive():
    n = fastlr.get_num_threads()
    assert type(n) is int and n >= 1
    if not fastlr.openmp_enabled():
        assert n == 1


@needs_openmp
@pytest.mark.parametrize("n", [1, 2, 3, 64])
def test_set_num_threads_round_trip(n):
    fastlr.set_num_threads(n)
    assert fastlr.get_num_threads() == n


def test_set_num_threads_none_restores_the_default():
    default = fastlr.get_num_threads()
    fastlr.set_num_threads(1)
    fastlr.set_num_threads(None)
    assert fastlr.get_num_threads() == default


@pytest.mark.parametrize("bad, error", [
    (0, ValueError), (-1, ValueError), (1.5, TypeError), (2.0, TypeError), ("2", TypeError),
    (True, TypeError), (np.float64(2), TypeError), ([2], TypeError),
])
def test_set_num_threads_rejects(bad, error):
    fastlr.set_num_threads(2)
    with pytest.raises(error):
        fastlr.set_num_threads(bad)
    if fastlr.openmp_enabled():
        assert fastlr.get_num_threads() == 2      # unchanged by the rejected call


def test_small_work_is_serial():
    fastlr.set_num_threads(4)
    assert threads_for(0) == 1
    assert threads_for(PARALLEL_MIN_ELEMENTS - 1) == 1
    assert threads_for(PARALLEL_MIN_ELEMENTS) == fastlr.get_num_threads()


@needs_openmp
@pytest.mark.parametrize("env, expected", [("1", 1), ("2", 2)])
def test_omp_num_threads_is_respected(env, expected):
    """The default follows OMP_NUM_THREADS (capped by the number of CPUs)."""
    code = "import fastlr; print(fastlr.get_num_threads())"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={**os.environ, "OMP_NUM_THREADS": env}, check=True,
                         cwd=os.path.dirname(os.path.dirname(fastlr.__file__)))
    assert int(out.stdout) == min(expected, os.cpu_count() or 1)


def train(name, kwargs, dtype, threads, shapes, steps=20, seed=11):
    fastlr.set_num_threads(threads)
    rng = np.random.default_rng(seed)
    params = random_params(rng, shapes, dtype)
    opt = make(name, params, kwargs)
    stream = GradStream(rng, params)
    for t in range(steps):
        grads = stream(t)
        if t % 7 == 3:
            grads[-1] = None                  # the per-tensor (non-uniform step) path too
        opt.step(grads)
    return params, opt.state


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name, kwargs", TABLE)
def test_results_do_not_depend_on_the_thread_count(name, kwargs, dtype):
    """One large tensor (several blocks, ragged end) and many small ones whose total is above
    the threshold: 1, 2 and 3 threads agree bit for bit."""
    shapes = [(LARGE,)] + [(5000,)] * 8 + [(BLOCK_ELEMENTS + 1,)]
    assert sum(s[0] for s in shapes[1:]) > PARALLEL_MIN_ELEMENTS
    runs = [train(name, kwargs, dtype, n, shapes) for n in (1, 2, 3)]
    p1, s1 = runs[0]
    for n, (pn, sn) in zip((2, 3), runs[1:]):
        for i, (a, b) in enumerate(zip(p1, pn)):
            assert_bitwise(b, a, f"param {i} with {n} threads")
        for i in s1:
            for k in s1[i]:
                assert_bitwise(sn[i][k], s1[i][k], f"state[{i}][{k!r}] with {n} threads")
