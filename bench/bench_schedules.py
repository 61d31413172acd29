"""Benchmarks for fastlr.schedules (pytest-benchmark).

Run:
    python -m pytest bench/bench_schedules.py --benchmark-only --benchmark-enable \
        --benchmark-columns=median,mean,min --benchmark-sort=name

Groups:
  * ``<schedule> 1e7``: one call over 10,000,000 steps -- fastlr (default threads and 1 thread),
    the best hand-written NumPy expression of the same formula (preallocated buffers, in-place
    ufuncs, valid for any step array, not only ``arange``), and the readable NumPy reference.
  * ``<schedule> 1e4 vs torch``: 10,000 steps -- fastlr's array call vs stepping the PyTorch
    scheduler 10,000 times (only when torch is importable).  Divide by 1e4 for per-step cost.
  * ``scalar x1000``: 1000 scalar calls ``s(t)`` (divide by 1000 for one call), the contract's
    per-step effective-lr snippet inside ``opt.step`` (schedule vs float), and 1000 torch
    ``sched.step()`` calls.
"""

import math
import warnings

import numpy as np
import pytest

import fastlr.schedules as S
from fastlr.reference import schedules as R

N_BIG = 10_000_000
N_TORCH = 10_000

# warmup(cosine): 5% linear warmup from 1% of the peak, then cosine to 0 over the rest
W, T, LR, SF = N_BIG // 20, N_BIG - N_BIG // 20, 0.1, 0.01
WARMUP_COSINE = S.warmup(S.cosine(LR, T), W, SF)
ONE_CYCLE = S.one_cycle(LR, N_BIG)


@pytest.fixture(scope="module")
def steps():
    return np.arange(N_BIG, dtype=np.int64)


@pytest.fixture(scope="module")
def buffers():
    return {"i": np.empty(N_BIG, np.int64), "f": np.empty(N_BIG), "g": np.empty(N_BIG),
            "out": np.empty(N_BIG), "mask": np.empty(N_BIG, bool)}


# ---------------------------------------------------------------------------------------------
# best hand-written NumPy expressions (the same formulas as the compiled kernels)

def numpy_best_warmup_cosine(t, b):
    i, out, mask = b["i"], b["out"], b["mask"]
    # cosine part, evaluated for every step at u = clip(t - W, 0, T): LR * sin((T - u) pi/2T)^2
    np.subtract(t, W, out=i)
    np.clip(i, 0, T, out=i)
    np.subtract(T, i, out=i)
    np.multiply(i, math.pi / 2 / T, out=out)
    np.sin(out, out=out)
    np.square(out, out=out)
    out *= LR
    # warmup part on the steps t < W: LR * (SF + (1 - SF) * t / W)
    np.less(t, W, out=mask)
    tw = t[mask]
    out[mask] = LR * (SF + (1.0 - SF) * tw / W)
    return out


PH1_END = float(0.3 * N_BIG) - 1
PH2_END = float(N_BIG - 1)
INIT, MIN = LR / 25.0, LR / 25.0 / 1e4


def numpy_best_one_cycle(t, b):
    i, x, arg, out, mask = b["i"], b["f"], b["g"], b["out"], b["mask"]
    np.minimum(t, N_BIG - 1, out=i)
    np.copyto(x, i, casting="same_kind")
    np.less_equal(x, PH1_END, out=mask)
    # phase 2 everywhere, then phase 1 where mask: v1 + (v0 - v1) sin(pi/2 (e - x)/(e - s))^2
    np.subtract(PH2_END, x, out=arg)
    arg *= (math.pi / 2) / (PH2_END - PH1_END)
    np.subtract(PH1_END, x, out=out)
    out *= (math.pi / 2) / PH1_END
    np.copyto(arg, out, where=mask)
    np.sin(arg, out=arg)
    np.square(arg, out=arg)
    np.multiply(arg, LR - MIN, out=out)
    out += MIN
    arg *= INIT - LR
    arg += LR
    np.copyto(out, arg, where=mask)
    return out


def test_numpy_best_equals_fastlr(steps, buffers):
    """The baselines compute the same numbers (not timed)."""
    np.testing.assert_allclose(numpy_best_warmup_cosine(steps, buffers), WARMUP_COSINE(steps),
                               rtol=1e-12, atol=1e-18)
    np.testing.assert_allclose(numpy_best_one_cycle(steps, buffers), ONE_CYCLE(steps),
                               rtol=1e-12, atol=1e-18)


def _pedantic(benchmark, fn, *args):
    return benchmark.pedantic(fn, args=args, rounds=5, iterations=1, warmup_rounds=1)


def _one_thread(sched):
    def run(t):
        out = np.empty(t.shape)
        sched._program.evaluate(t, out, 1)
        return out
    return run


# ---------------------------------------------------------------------------------------------
# 1e7 steps

@pytest.mark.benchmark(group="warmup(cosine) 1e7")
def test_warmup_cosine_fastlr(benchmark, steps):
    _pedantic(benchmark, WARMUP_COSINE, steps)


@pytest.mark.benchmark(group="warmup(cosine) 1e7")
def test_warmup_cosine_fastlr_1thread(benchmark, steps):
    _pedantic(benchmark, _one_thread(WARMUP_COSINE), steps)


@pytest.mark.benchmark(group="warmup(cosine) 1e7")
def test_warmup_cosine_numpy_best(benchmark, steps, buffers):
    _pedantic(benchmark, numpy_best_warmup_cosine, steps, buffers)


@pytest.mark.benchmark(group="warmup(cosine) 1e7")
def test_warmup_cosine_numpy_reference(benchmark, steps):
    _pedantic(benchmark, lambda t: R.warmup(t, lambda u: R.cosine(u, LR, T), W, SF), steps)


@pytest.mark.benchmark(group="one_cycle 1e7")
def test_one_cycle_fastlr(benchmark, steps):
    _pedantic(benchmark, ONE_CYCLE, steps)


@pytest.mark.benchmark(group="one_cycle 1e7")
def test_one_cycle_fastlr_1thread(benchmark, steps):
    _pedantic(benchmark, _one_thread(ONE_CYCLE), steps)


@pytest.mark.benchmark(group="one_cycle 1e7")
def test_one_cycle_numpy_best(benchmark, steps, buffers):
    _pedantic(benchmark, numpy_best_one_cycle, steps, buffers)


@pytest.mark.benchmark(group="one_cycle 1e7")
def test_one_cycle_numpy_reference(benchmark, steps):
    _pedantic(benchmark, lambda t: R.one_cycle(t, LR, N_BIG), steps)


# ---------------------------------------------------------------------------------------------
# vs stepping the PyTorch scheduler

SMALL_WC = S.warmup(S.cosine(LR, N_TORCH - 500), 500, SF)
SMALL_OC = S.one_cycle(LR, N_TORCH)


def _torch_loop(make):
    torch = pytest.importorskip("torch")

    def setup():
        opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=LR)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sched = make(torch.optim.lr_scheduler, opt)
        return (opt, sched), {}

    def run(opt, sched):
        group = opt.param_groups[0]
        out = np.empty(N_TORCH)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for k in range(N_TORCH):
                out[k] = group["lr"]
                sched.step()
        return out

    return setup, run


@pytest.mark.benchmark(group="warmup(cosine) 1e4 vs torch")
def test_warmup_cosine_small_fastlr(benchmark):
    t = np.arange(N_TORCH)
    benchmark(SMALL_WC, t)


@pytest.mark.benchmark(group="warmup(cosine) 1e4 vs torch")
def test_warmup_cosine_small_torch_loop(benchmark):
    setup, run = _torch_loop(lambda L, o: L.SequentialLR(
        o, [L.LinearLR(o, SF, 1.0, 500), L.CosineAnnealingLR(o, N_TORCH - 500)], [500]))
    out = benchmark.pedantic(run, setup=setup, rounds=3, iterations=1)
    np.testing.assert_allclose(out, SMALL_WC(np.arange(N_TORCH)), rtol=1e-9, atol=1e-16)


@pytest.mark.benchmark(group="one_cycle 1e4 vs torch")
def test_one_cycle_small_fastlr(benchmark):
    t = np.arange(N_TORCH)
    benchmark(SMALL_OC, t)


@pytest.mark.benchmark(group="one_cycle 1e4 vs torch")
def test_one_cycle_small_torch_loop(benchmark):
    setup, run = _torch_loop(lambda L, o: L.OneCycleLR(o, LR, N_TORCH, cycle_momentum=False))
    out = benchmark.pedantic(run, setup=setup, rounds=3, iterations=1)
    np.testing.assert_allclose(out, SMALL_OC(np.arange(N_TORCH)), rtol=1e-9, atol=1e-16)


# ---------------------------------------------------------------------------------------------
# scalar latency (1000 calls per timed round)

SCALAR_STEPS = list(range(0, 10_000_000, 10_000))


@pytest.mark.parametrize("name,sched", [("cosine", S.cosine(LR, 10**6)),
                                        ("warmup(cosine)", WARMUP_COSINE),
                                        ("one_cycle", ONE_CYCLE)])
@pytest.mark.benchmark(group="scalar x1000")
def test_scalar_call(benchmark, name, sched):
    def run():
        for k in SCALAR_STEPS:
            sched(k)
    benchmark(run)


def _effective_lr(group, k, Schedule=S.Schedule):
    # the optimizer contract's per-step snippet (what fastlr.SGD/Adam run once per step)
    lr = group["lr"]
    base = lr(k) if isinstance(lr, Schedule) else lr
    scale = group.get("lr_scale", 1.0)
    return base if scale == 1.0 else max(base * scale, min(base, group.get("lr_min", 0.0)))


@pytest.mark.parametrize("kind", ["float", "schedule"])
@pytest.mark.benchmark(group="scalar x1000")
def test_opt_step_lr_snippet(benchmark, kind):
    group = {"lr": WARMUP_COSINE if kind == "schedule" else 0.1}

    def run():
        for k in SCALAR_STEPS:
            _effective_lr(group, k)
    benchmark(run)


@pytest.mark.benchmark(group="scalar x1000")
def test_scalar_torch_scheduler_step(benchmark):
    setup, _ = _torch_loop(lambda L, o: L.CosineAnnealingLR(o, 10**6))

    def run(opt, sched):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for _ in range(1000):
                sched.step()
    benchmark.pedantic(run, setup=setup, rounds=20, iterations=1)
