"""Dense optimizer benchmarks: fastlr against pure NumPy, PyTorch and this machine's bandwidth.

Run (about 10 minutes; see bench/README.md)::

    python -m pytest bench/bench_dense.py --benchmark-only --benchmark-enable \
        --benchmark-json=/tmp/dense.json
    python bench/report.py /tmp/dense.json

Every pytest-benchmark group is one case, named ``<optimizer>-<dtype>-<size>-t<threads>``, and
holds every implementation timed on it in the same run, so ratios come from one run:

``fastlr``                 the public API, a whole ``opt.step([g])`` (Python layer included),
                           with the kernel build ``fastlr._simd`` picks (AVX2 here)
``fastlr-portable``        the same with the portable (SSE2) kernel build (Adam, float32)
``numpy-naive``            :mod:`fastlr.reference`: readable NumPy that allocates temporaries
``numpy-inplace``          Adam in place with one preallocated temporary (no allocation per step)
``numpy-inplace-blocked``  the same over L2-sized chunks, the chunks spread over the group's
                           threads (NumPy releases the GIL inside ufuncs)
``torch-fused``            ``torch.optim.Adam(fused=True)`` sharing the arrays' memory,
                           ``torch.set_num_threads`` matched (Adam groups, when torch imports)
``probe``                  :func:`fastlr._kernels._bandwidth.probe` with the optimizer's access
                           pattern: the memory-bound ceiling for that pattern, size and threads
                           (built at the SIMD level of the ``fastlr`` row)

Each benchmark records in ``extra_info`` the bytes an optimizer step must move (every stream
read once, every state/param stream written once), so ``report.py`` derives GB/s and the
fraction of the probe's ceiling.  Arrays are built outside the timed region; the first call
(state allocation, page faults) is a warm-up.
"""
from __future__ import annotations

import dataclasses
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Callable

import numpy as np
import pytest

import fastlr
import fastlr._simd
import fastlr.optim._base
from fastlr._kernels import _bandwidth, _dense
from fastlr._threads import threads_for
from fastlr.reference import optim as reference

try:
    import torch
except ImportError:  # torch is optional: its rows are skipped
    torch = None

#: the probe built like the dense kernels fastlr runs (AVX2 when fastlr._simd picked it)
SIMD = fastlr._simd.simd_level()
if SIMD == "avx2":
    from fastlr._kernels import _bandwidth_avx2 as _probe_module
else:
    _probe_module = _bandwidth

# ----------------------------------------------------------------------------- the grid

#: name -> (fastlr class, reference class, keyword arguments, (read-only, read-write) streams)
OPTIMIZERS = {
    "sgd": (fastlr.SGD, reference.SGD, {}, (1, 1)),
    "sgd_momentum": (fastlr.SGD, reference.SGD, {"momentum": 0.9}, (1, 2)),
    "adam": (fastlr.Adam, reference.Adam, {}, (1, 3)),
    "adamw": (fastlr.AdamW, reference.AdamW, {}, (1, 3)),
    "amsgrad": (fastlr.Adam, reference.Adam, {"amsgrad": True}, (1, 4)),
    "rmsprop": (fastlr.RMSprop, reference.RMSprop, {}, (1, 2)),
    "adagrad": (fastlr.Adagrad, reference.Adagrad, {}, (1, 2)),
    "adadelta": (fastlr.Adadelta, reference.Adadelta, {}, (1, 3)),
}
SIZES = {"1e3": 1_000, "1e4": 10_000, "1e5": 100_000, "1e6": 1_000_000,
         "1e7": 10_000_000, "3e7": 30_000_000}
DTYPES = ("float32", "float64")
THREADS = (1, 2)
#: the many-tensor case: 200 tensors of 1e4 against one tensor of the same total size
MANY = (200, 10_000)
#: the naive reference allocates ~10 temporaries per step; above this it is skipped
NAIVE_MAX = 10_000_000

#: target seconds of timing per benchmark (the whole grid stays under ~10 minutes)
BUDGET_S = 0.4
#: a round lasts at least this long (small cases average many iterations per round)
ROUND_S = 2e-4
MIN_ROUNDS, MAX_ROUNDS = 5, 200


@dataclasses.dataclass(frozen=True)
class Case:
    opt: str
    dtype: str
    size: str           # key of SIZES, or "200x1e4" for the many-tensor case
    threads: int
    impl: str

    @property
    def group(self) -> str:
        return f"{self.opt}-{self.dtype}-{self.size}-t{self.threads}"

    @property
    def id(self) -> str:
        return f"{self.group}:{self.impl}"


def _impls(opt: str, size: str) -> list[str]:
    impls = ["probe", "fastlr"]
    if opt == "adam":
        impls += ["fastlr-portable", "torch-fused", "numpy-inplace-blocked", "numpy-inplace"]
    if SIZES[size] <= NAIVE_MAX:
        impls.append("numpy-naive")
    return impls


def _cases() -> list[Case]:
    cases = []
    for opt in OPTIMIZERS:
        for dtype in DTYPES:
            sizes = list(SIZES) if opt == "adam" else (["1e7"] if dtype == "float32" else [])
            for size in sizes:
                for t in THREADS:
                    cases += [Case(opt, dtype, size, t, impl) for impl in _impls(opt, size)
                              if impl != "fastlr-portable" or dtype == "float32"]
    for t in THREADS:
        cases += [Case("adam", "float32", "200x1e4", t, impl)
                  for impl in ("probe-1x2e6", "fastlr-1x2e6", "torch-fused-1x2e6",
                               "fastlr-200x1e4", "torch-fused-200x1e4")]
    return cases


# ----------------------------------------------------------------------------- data

_cache: dict = {}


def _arrays(dtype: str, n: int, count: int = 1) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Parameters and gradients (``count`` of ``n`` elements), shared by a group's rows.

    Only the last group's arrays are kept, so memory stays bounded at the 3e7 sizes.
    """
    key = (dtype, n, count)
    if key not in _cache:
        _cache.clear()
        rng = np.random.default_rng(12345)
        params = [rng.standard_normal(n, dtype=np.float32).astype(dtype) for _ in range(count)]
        grads = [rng.standard_normal(n, dtype=np.float32).astype(dtype) for _ in range(count)]
        _cache[key] = (params, grads)
    return _cache[key]


# ----------------------------------------------------------------------------- baselines

class InplaceAdam:
    """Adam in plain NumPy without allocation per step: ``out=`` ufuncs, one temporary.

    PyTorch's single-tensor formulas (``m + (1 - beta1) (g - m)``, ``v beta2 + (1 - beta2) g^2``,
    ``sqrt(v) / sqrt(bc2) + eps``); 13 ufunc passes per step.  With ``block`` the passes run on
    chunks of ``block`` elements so the temporary and the chunk stay in L2; with ``threads > 1``
    the chunks are shared by a thread pool (ufuncs release the GIL).
    """

    def __init__(self, p: np.ndarray, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8,
                 block: int | None = None, threads: int = 1):
        self.p, self.lr, self.betas, self.eps = p, lr, betas, eps
        self.m = np.zeros_like(p)
        self.v = np.zeros_like(p)
        self.block = block or p.size
        n_chunks = -(-p.size // self.block)
        self.threads = max(1, min(threads, n_chunks))
        # one contiguous share of chunks per worker, each with its own temporary
        bounds = np.linspace(0, n_chunks, self.threads + 1).round().astype(int) * self.block
        self.shares = [(int(lo), int(min(hi, p.size))) for lo, hi in zip(bounds, bounds[1:])]
        self.tmp = [np.empty(min(self.block, p.size), p.dtype) for _ in self.shares]
        self.pool = ThreadPoolExecutor(self.threads) if self.threads > 1 else None
        self.t = 0

    def step(self, g: np.ndarray) -> None:
        self.t += 1
        b1, b2 = self.betas
        d = self.p.dtype.type
        # scalars rounded to the array dtype once, as PyTorch does with Python scalars
        s = (d(1 - b1), d(b2), d(1 - b2), d((1 - b2 ** self.t) ** 0.5), d(self.eps),
             d(-self.lr / (1 - b1 ** self.t)))
        if self.pool is None:
            self._share(0, g, s)
        else:
            for f in [self.pool.submit(self._share, k, g, s) for k in range(len(self.shares))]:
                f.result()

    def _share(self, k: int, g: np.ndarray, s: tuple) -> None:
        w1, b2, w2, bc2_sqrt, eps, neg_step = s
        lo, hi = self.shares[k]
        for a in range(lo, hi, self.block):
            b = min(a + self.block, hi)
            p, m, v, gg, t = self.p[a:b], self.m[a:b], self.v[a:b], g[a:b], self.tmp[k][:b - a]
            np.subtract(gg, m, out=t)
            np.multiply(t, w1, out=t)
            np.add(m, t, out=m)
            np.multiply(v, b2, out=v)
            np.multiply(gg, gg, out=t)
            np.multiply(t, w2, out=t)
            np.add(v, t, out=v)
            np.sqrt(v, out=t)
            np.divide(t, bc2_sqrt, out=t)
            np.add(t, eps, out=t)
            np.divide(m, t, out=t)
            np.multiply(t, neg_step, out=t)
            np.add(p, t, out=p)

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown()


def _blocked_elements(dtype: str) -> int:
    """Chunk of the blocked in-place baseline: 128 KiB per stream (5 streams fit a 1 MiB L2)."""
    return (128 * 1024) // np.dtype(dtype).itemsize


# ----------------------------------------------------------------------------- timing

def _calibrate(fn: Callable[[], object]) -> tuple[int, int]:
    """Warm up ``fn`` (state allocation, page faults) and choose (rounds, iterations)."""
    fn()
    t0 = time.perf_counter()
    fn()
    dt = max(time.perf_counter() - t0, 1e-7)
    iterations = max(1, int(ROUND_S / dt))
    rounds = int(min(MAX_ROUNDS, max(MIN_ROUNDS, BUDGET_S / (dt * iterations))))
    if dt > 0.25:                                  # the slowest baselines: fewer rounds
        rounds = 3
    return rounds, iterations


def _run(benchmark, case: Case, fn: Callable[[], object], n_elements: int, n_tensors: int,
         pattern: tuple[int, int]) -> None:
    n_ro, n_rw = pattern
    itemsize = np.dtype(case.dtype).itemsize
    benchmark.group = case.group
    benchmark.extra_info.update(
        impl=case.impl, optimizer=case.opt, dtype=case.dtype, size=case.size,
        threads=case.threads, n_elements=n_elements, n_tensors=n_tensors,
        simd="portable" if case.impl == "fastlr-portable" else SIMD,
        reads=n_ro + n_rw, writes=n_rw,
        bytes=(n_ro + 2 * n_rw) * n_elements * itemsize,
    )
    rounds, iterations = _calibrate(fn)
    benchmark.extra_info.update(rounds=rounds, iterations=iterations)
    benchmark.pedantic(fn, rounds=rounds, iterations=iterations, warmup_rounds=1)


# ----------------------------------------------------------------------------- the benchmark

@pytest.fixture
def threads_restored():
    yield
    fastlr.set_num_threads(None)
    fastlr.optim._base._dense = fastlr._simd.dense
    if torch is not None:
        torch.set_num_threads(_TORCH_DEFAULT_THREADS)


_TORCH_DEFAULT_THREADS = torch.get_num_threads() if torch is not None else 1


def _torch_adam(params: list[np.ndarray], grads: list[np.ndarray]):
    tp = [torch.from_numpy(p) for p in params]          # shares memory with the arrays
    for t, g in zip(tp, grads):
        t.grad = torch.from_numpy(g)
    return torch.optim.Adam(tp, lr=1e-3, fused=True)


def _probe_fn(pattern: tuple[int, int], dtype: str, n: int, threads: int, g: np.ndarray):
    n_ro, n_rw = pattern
    arrays = [g] + [np.zeros(n, dtype) for _ in range(n_rw)]
    nt = threads_for(n)  # the dense kernels' threading policy, after set_num_threads(threads)
    return lambda: _probe_module.probe(n_ro, n_rw, arrays, nt)


@pytest.mark.parametrize("case", _cases(), ids=lambda c: c.id)
def test_dense(benchmark, case: Case, threads_restored):
    if case.impl.startswith("torch") and torch is None:
        pytest.skip("torch is not importable")
    fastlr.set_num_threads(case.threads)
    if torch is not None:
        torch.set_num_threads(case.threads)
    fast_cls, ref_cls, kwargs, pattern = OPTIMIZERS[case.opt]

    if case.size == "200x1e4":
        count, n = MANY
        total = count * n
        if case.impl.endswith("-1x2e6"):
            params, grads = _arrays(case.dtype, total)
        else:
            params, grads = _arrays(case.dtype, n, count)
        if case.impl.startswith("probe"):
            fn = _probe_fn(pattern, case.dtype, total, case.threads, grads[0])
        elif case.impl.startswith("fastlr"):
            opt = fastlr.Adam(params)
            fn = lambda: opt.step(grads)  # noqa: E731
        else:
            fn = _torch_adam(params, grads).step
        _run(benchmark, case, fn, total, len(params), pattern)
        return

    n = SIZES[case.size]
    params, grads = _arrays(case.dtype, n)
    p, g = params[0], grads[0]
    closer = None
    if case.impl == "probe":
        fn = _probe_fn(pattern, case.dtype, n, case.threads, g)
    elif case.impl in ("fastlr", "fastlr-portable"):
        if case.impl == "fastlr-portable":  # restored by the threads_restored fixture
            fastlr.optim._base._dense = _dense
        opt = fast_cls([p], **kwargs)
        fn = lambda: opt.step([g])  # noqa: E731
    elif case.impl == "numpy-naive":
        ref = ref_cls([p], **kwargs)
        fn = lambda: ref.step([g])  # noqa: E731
    elif case.impl == "torch-fused":
        fn = _torch_adam([p], [g]).step
    elif case.impl == "numpy-inplace":
        ip = InplaceAdam(p)
        fn, closer = (lambda: ip.step(g)), ip.close
    elif case.impl == "numpy-inplace-blocked":
        ip = InplaceAdam(p, block=_blocked_elements(case.dtype), threads=case.threads)
        fn, closer = (lambda: ip.step(g)), ip.close
    else:
        raise AssertionError(case.impl)
    try:
        _run(benchmark, case, fn, n, 1, pattern)
    finally:
        if closer is not None:
            closer()


# ----------------------------------------------------------------------------- sanity

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("block,threads", [(None, 1), (1000, 2)])
def test_inplace_adam_matches_reference(dtype, block, threads):
    """The in-place baseline computes Adam (checked, not timed)."""
    rng = np.random.default_rng(0)
    p0 = rng.standard_normal(5003).astype(dtype)
    a, b = p0.copy(), p0.copy()
    ip, ref = InplaceAdam(a, block=block, threads=threads), reference.Adam([b])
    for _ in range(5):
        g = rng.standard_normal(p0.size).astype(dtype)
        ip.step(g)
        ref.step([g])
    ip.close()
    tol = 1e-5 if dtype == "float32" else 1e-12
    np.testing.assert_allclose(a, b, rtol=tol, atol=tol)


@pytest.mark.parametrize("module", [_bandwidth, _probe_module])
def test_probe_writes_every_stream(module):
    """The probe really reads and writes each stream (checked, not timed)."""
    x = [np.ones(40_000) for _ in range(4)]
    assert module.probe(1, 3, x, 2, 0.5) == 7 * 40_000 * 8
    for y in x[1:]:
        np.testing.assert_array_equal(y, 3.0)
    np.testing.assert_array_equal(x[0], 1.0)
