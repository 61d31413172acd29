"""Tests for fastlr.schedules: PyTorch parity, hand-computed values, NumPy reference parity,
vectorized == scalar, boundaries, far past the end, huge steps, and every invalid argument."""

import math
import pickle
import warnings
from fractions import Fraction

import numpy as np
import pytest

import fastlr.schedules as S
from fastlr.reference import schedules as R

INT64_MAX = 2**63 - 1


# ---------------------------------------------------------------------------------------------
# PyTorch, stepped one step at a time

def torch_lrs(lr, make, n):
    """lr used by update k = 0 .. n-1 of a torch optimizer driven by scheduler ``make(opt)``."""
    torch = pytest.importorskip("torch")
    param = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([param], lr=lr, momentum=0.9)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sched = make(opt)
        out = []
        for _ in range(n):
            out.append(opt.param_groups[0]["lr"])
            opt.step()
            sched.step()
    return np.array(out)


def _L():
    torch = pytest.importorskip("torch")
    return torch.optim.lr_scheduler


# (id, fastlr schedule, base lr given to torch, torch scheduler factory, steps, atol/peak)
# atol is 0 except where PyTorch's ``(1 + cos)/2`` cancels near a zero trough (see
# docs/schedules.md, "Accuracy"): there fastlr's half-angle form is the accurate one.
TORCH_CASES = [
    ("step", lambda: S.step(0.1, 7, 0.5), 0.1, lambda L, o: L.StepLR(o, 7, 0.5), 60, 0),
    ("multistep", lambda: S.multistep(0.1, [5, 12, 30], 0.3), 0.1,
     lambda L, o: L.MultiStepLR(o, [5, 12, 30], 0.3), 60, 0),
    ("exponential", lambda: S.exponential(0.1, 0.97), 0.1,
     lambda L, o: L.ExponentialLR(o, 0.97), 300, 0),
    ("linear_up", lambda: S.linear(0.1, 0.25, 1.0, 20), 0.1,
     lambda L, o: L.LinearLR(o, 0.25, 1.0, 20), 40, 0),
    ("linear_down", lambda: S.linear(0.1, 1.0, 0.1, 20), 0.1,
     lambda L, o: L.LinearLR(o, 1.0, 0.1, 20), 40, 0),
    ("polynomial", lambda: S.polynomial(0.1, 30, 2.0), 0.1,
     lambda L, o: L.PolynomialLR(o, 30, 2.0), 40, 0),
    ("cosine", lambda: S.cosine(0.1, 50, 1e-3), 0.1,
     lambda L, o: L.CosineAnnealingLR(o, 50, 1e-3), 51, 0),
    ("cosine_T1000", lambda: S.cosine(0.1, 1000), 0.1,
     lambda L, o: L.CosineAnnealingLR(o, 1000), 1001, 1e-15),
    ("one_cycle_cos", lambda: S.one_cycle(0.1, 100), 0.1,
     lambda L, o: L.OneCycleLR(o, 0.1, 100, cycle_momentum=False), 100, 0),
    ("one_cycle_linear", lambda: S.one_cycle(0.1, 100, anneal_strategy="linear"), 0.1,
     lambda L, o: L.OneCycleLR(o, 0.1, 100, anneal_strategy="linear", cycle_momentum=False),
     100, 0),
    ("one_cycle_3phase", lambda: S.one_cycle(0.1, 97, 0.25, three_phase=True, div_factor=10.0),
     0.1, lambda L, o: L.OneCycleLR(o, 0.1, 97, pct_start=0.25, three_phase=True, div_factor=10.0,
                                    cycle_momentum=False), 97, 0),
    ("one_cycle_3phase_linear",
     lambda: S.one_cycle(0.1, 50, 0.3, "linear", 5.0, 100.0, True), 0.1,
     lambda L, o: L.OneCycleLR(o, 0.1, 50, pct_start=0.3, anneal_strategy="linear",
                               cycle_momentum=False, div_factor=5.0, final_div_factor=100.0,
                               three_phase=True), 50, 0),
    ("warmup_cosine", lambda: S.warmup(S.cosine(0.1, 50), 10, 0.1), 0.1,
     lambda L, o: L.SequentialLR(o, [L.LinearLR(o, 0.1, 1.0, 10), L.CosineAnnealingLR(o, 50)],
                                 [10]), 61, 0),
    ("join", lambda: S.join([S.exponential(0.1, 0.9), S.step(0.1, 5, 0.5),
                             S.multistep(0.1, [3], 0.5)], [12, 30]), 0.1,
     lambda L, o: L.SequentialLR(o, [L.ExponentialLR(o, 0.9), L.StepLR(o, 5, 0.5),
                                     L.MultiStepLR(o, [3], 0.5)], [12, 30]), 45, 0),
    ("product", lambda: S.exponential(0.1, 0.99) * S.step(1.0, 10, 0.5), 0.1,
     lambda L, o: L.ChainedScheduler([L.ExponentialLR(o, 0.99), L.StepLR(o, 10, 0.5)]), 60, 0),
    ("scale", lambda: 0.5 * S.cosine(0.2, 40, 0.02), 0.1,
     lambda L, o: L.CosineAnnealingLR(o, 40, 0.01), 41, 0),
]
for _m in ("triangular", "triangular2", "exp_range"):
    for _base in (0.01, 0.0):
        TORCH_CASES.append((
            f"cyclic_{_m}_base{_base}",
            (lambda m=_m, b=_base: S.cyclic(b, 0.1, 5, 3, m, 0.99)), 0.1,
            (lambda L, o, m=_m, b=_base: L.CyclicLR(o, b, 0.1, 5, 3, m, 0.99,
                                                    cycle_momentum=False)), 200, 0))
for _mult in (1, 2, 3):
    for _eta in (1e-4, 0.0):
        TORCH_CASES.append((
            f"cosine_restarts_Tmult{_mult}_eta{_eta}",
            (lambda m=_mult, e=_eta: S.cosine_restarts(0.1, 5, m, e)), 0.1,
            (lambda L, o, m=_mult, e=_eta: L.CosineAnnealingWarmRestarts(o, 5, m, e)), 400, 0))


@pytest.mark.torch
@pytest.mark.parametrize("case", TORCH_CASES, ids=[c[0] for c in TORCH_CASES])
def test_matches_pytorch_stepped(case):
    _, make_ours, lr, make_torch, n, atol = case
    L = _L()
    expected = torch_lrs(lr, lambda o: make_torch(L, o), n)
    ours = make_ours()(np.arange(n))
    np.testing.assert_allclose(ours, expected, rtol=1e-12, atol=atol * expected.max())
    # and the scalar path gives the same
    assert [make_ours()(k) for k in range(n)] == ours.tolist()


@pytest.mark.torch
def test_pytorch_cosine_diverges_only_past_the_end():
    """Documented difference: PyTorch's cosine is periodic past T_max, fastlr holds eta_min."""
    L = _L()
    expected = torch_lrs(0.1, lambda o: L.CosineAnnealingLR(o, 20, 0.01), 41)
    ours = S.cosine(0.1, 20, 0.01)(np.arange(41))
    np.testing.assert_allclose(ours[:21], expected[:21], rtol=1e-12)
    assert np.all(ours[20:] == 0.01)
    assert expected[40] == pytest.approx(0.1)  # PyTorch climbs back to the base lr at 2 T_max


@pytest.mark.torch
def test_pytorch_one_cycle_misbehaves_at_the_end_fastlr_holds():
    L = _L()
    torch = pytest.importorskip("torch")
    for anneal in ("cos", "linear"):
        opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
        sched = L.OneCycleLR(opt, 1.0, 100, anneal_strategy=anneal, cycle_momentum=False)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for _ in range(100):
                opt.step()
                sched.step()
            at_end = opt.param_groups[0]["lr"]  # PyTorch extrapolates at t == N
            with pytest.raises(ValueError):
                sched.step()
        s = S.one_cycle(1.0, 100, anneal_strategy=anneal)
        final = s(99)
        assert at_end != final and (at_end < 0 or at_end > 10 * final)
        assert s(100) == s(101) == s(10**12) == final > 0


# ---------------------------------------------------------------------------------------------
# values written out by hand from the formulas (reference/schedules.md)

def _hc(x):
    """(1 + cos(pi x)) / 2"""
    return (1 + math.cos(math.pi * x)) / 2


HAND = [
    (S.constant(0.3), {0: 0.3, 7: 0.3, 10**12: 0.3}),
    (S.step(1.0, 3, 0.5), {0: 1.0, 2: 1.0, 3: 0.5, 5: 0.5, 6: 0.25, 30: 0.5**10}),
    (S.multistep(2.0, [2, 4, 9], 0.1),
     {0: 2.0, 1: 2.0, 2: 0.2, 3: 0.2, 4: 0.02, 8: 0.02, 9: 0.002, 10**12: 0.002}),
    (S.exponential(2.0, 0.5), {0: 2.0, 1: 1.0, 4: 0.125}),
    (S.linear(1.0, 0.2, 0.6, 4), {0: 0.2, 1: 0.3, 2: 0.4, 3: 0.5, 4: 0.6, 99: 0.6}),
    (S.polynomial(1.0, 4, 2.0, 0.2), {0: 1.0, 1: 0.2 + 0.8 * 0.5625, 2: 0.4, 4: 0.2, 9: 0.2}),
    (S.cosine(1.0, 8, 0.2), {0: 1.0, 2: 0.2 + 0.8 * _hc(0.25), 4: 0.6, 6: 0.2 + 0.8 * _hc(0.75),
                             8: 0.2, 9: 0.2}),
    # T_0 = 2, T_mult = 2: cycles [0, 2), [2, 6), [6, 14); decay 0.5 per cycle
    (S.cosine_restarts(1.0, 2, 2, 0.0, 0.5),
     {0: 1.0, 1: 0.5, 2: 0.5, 3: 0.5 * _hc(0.25), 4: 0.25, 6: 0.25, 10: 0.125, 13: 0.25 * _hc(7 / 8),
      14: 0.125}),
    (S.cosine_restarts(1.0, 4, 1, 0.1), {0: 1.0, 2: 0.55, 3: 0.1 + 0.9 * _hc(0.75), 4: 1.0, 6: 0.55}),
    # one_cycle N = 11, pct 0.5 -> e1 = 4.5, e2 = 10; initial 0.1, min 0.01
    (S.one_cycle(1.0, 11, 0.5, "linear", 10.0, 10.0),
     {0: 0.1, 2: 0.1 + 0.9 * (2 / 4.5), 4: 0.1 + 0.9 * (4 / 4.5),
      5: 1.0 + (0.01 - 1.0) * (0.5 / 5.5), 10: 0.01, 11: 0.01, 10**12: 0.01}),
    (S.one_cycle(1.0, 11, 0.5, "cos", 10.0, 10.0),
     {0: 0.1, 3: 1.0 + (0.1 - 1.0) * _hc(3 / 4.5), 7: 0.01 + 0.99 * _hc(2.5 / 5.5), 10: 0.01,
      500: 0.01}),
    (S.cyclic(0.0, 1.0, 2, 4, "triangular"),
     {0: 0.0, 1: 0.5, 2: 1.0, 3: 0.75, 5: 0.25, 6: 0.0, 8: 1.0}),
    (S.cyclic(1.0, 3.0, 2, None, "triangular2"), {2: 3.0, 6: 2.0, 10: 1.5, 11: 1.25}),
    (S.cyclic(0.0, 1.0, 2, None, "exp_range", 0.5), {1: 0.5 * 0.5, 2: 0.25, 3: 0.5 * 0.125}),
    (S.inverse_sqrt(2.0, 4), {0: 0.0, 1: 0.5, 4: 2.0, 9: 2.0 / 1.5, 16: 1.0, 400: 0.2}),
    (S.warmup_stable_decay(1.0, 4, 3, 4, 0.2, "cosine"),
     {0: 0.2, 2: 0.6, 4: 1.0, 6: 1.0, 7: 1.0, 8: 0.2 + 0.8 * _hc(0.25), 9: 0.6, 11: 0.2,
      10**12: 0.2}),
    (S.warmup_stable_decay(1.0, 0, 0, 4, 0.0, "1-sqrt"), {0: 1.0, 1: 0.5, 4: 0.0, 5: 0.0}),
    (S.warmup_stable_decay(1.0, 2, 0, 4, 0.0, "linear"), {0: 0.0, 1: 0.5, 2: 1.0, 3: 0.75}),
    (S.join([S.constant(1.0), S.linear(1.0, 0.5, 1.0, 2), S.step(4.0, 1, 0.5)], [2, 5]),
     {0: 1.0, 1: 1.0, 2: 0.5, 3: 0.75, 4: 1.0, 5: 4.0, 6: 2.0, 8: 0.5}),
    (S.warmup(S.step(2.0, 2, 0.5), 4, 0.25),
     {0: 0.5, 1: 0.875, 2: 1.25, 3: 1.625, 4: 2.0, 5: 2.0, 6: 1.0}),
    (S.linear(1.0, 0.5, 1.0, 2) * S.step(1.0, 2, 0.1), {0: 0.5, 1: 0.75, 2: 0.1, 4: 0.01}),
    (3.0 * S.constant(0.5), {0: 1.5, 10**12: 1.5}),
]


@pytest.mark.parametrize("sched,values", HAND, ids=[repr(h[0])[:40] for h in HAND])
def test_hand_computed_values(sched, values):
    for t, v in values.items():
        assert sched(t) == pytest.approx(v, rel=1e-13, abs=1e-15), t


# ---------------------------------------------------------------------------------------------
# NumPy reference parity, scalar vs array, shapes and dtypes

REF_CASES = [
    (S.constant(0.3), lambda t: R.constant(t, 0.3)),
    (S.step(0.1, 7, 0.5), lambda t: R.step(t, 0.1, 7, 0.5)),
    (S.multistep(0.1, [5, 12, 30], 0.3), lambda t: R.multistep(t, 0.1, [5, 12, 30], 0.3)),
    (S.exponential(0.1, 0.999), lambda t: R.exponential(t, 0.1, 0.999)),
    (S.linear(0.1, 0.25, 0.75, 20), lambda t: R.linear(t, 0.1, 0.25, 0.75, 20)),
    (S.polynomial(0.1, 300, 0.5, 1e-3), lambda t: R.polynomial(t, 0.1, 300, 0.5, 1e-3)),
    (S.cosine(0.1, 777, 1e-3), lambda t: R.cosine(t, 0.1, 777, 1e-3)),
    (S.cosine_restarts(0.1, 7, 1, 1e-3, 0.9), lambda t: R.cosine_restarts(t, 0.1, 7, 1, 1e-3, 0.9)),
    (S.cosine_restarts(0.1, 7, 3, 1e-3, 0.9), lambda t: R.cosine_restarts(t, 0.1, 7, 3, 1e-3, 0.9)),
    (S.one_cycle(0.1, 1000), lambda t: R.one_cycle(t, 0.1, 1000)),
    (S.one_cycle(0.1, 999, 0.2, "linear", three_phase=True),
     lambda t: R.one_cycle(t, 0.1, 999, 0.2, "linear", three_phase=True)),
    (S.cyclic(0.01, 0.1, 50, 30, "triangular2"),
     lambda t: R.cyclic(t, 0.01, 0.1, 50, 30, "triangular2")),
    (S.cyclic(0.01, 0.1, 50, None, "exp_range", 0.999),
     lambda t: R.cyclic(t, 0.01, 0.1, 50, None, "exp_range", 0.999)),
    (S.inverse_sqrt(0.1, 100), lambda t: R.inverse_sqrt(t, 0.1, 100)),
    (S.warmup_stable_decay(0.1, 100, 300, 200, 1e-3, "cosine"),
     lambda t: R.warmup_stable_decay(t, 0.1, 100, 300, 200, 1e-3, "cosine")),
    (S.warmup_stable_decay(0.1, 100, 300, 200, 1e-3, "1-sqrt"),
     lambda t: R.warmup_stable_decay(t, 0.1, 100, 300, 200, 1e-3, "1-sqrt")),
    (S.warmup(S.cosine(0.1, 900), 100, 0.01),
     lambda t: R.warmup(t, lambda u: R.cosine(u, 0.1, 900), 100, 0.01)),
    (S.join([S.linear(0.1, 0.1, 1.0, 50), S.cosine(0.1, 500)], [50]),
     lambda t: R.join(t, [lambda u: R.linear(u, 0.1, 0.1, 1.0, 50),
                          lambda u: R.cosine(u, 0.1, 500)], [50])),
    (S.cosine(0.1, 500) * S.step(1.0, 100, 0.5),
     lambda t: R.cosine(t, 0.1, 500) * R.step(t, 1.0, 100, 0.5)),
]
STEPS = np.concatenate([np.arange(2000), np.array([10**6, 10**9 + 7, 10**12, 2**40 + 3])])


@pytest.mark.parametrize("sched,ref", REF_CASES, ids=[repr(c[0])[:40] for c in REF_CASES])
def test_matches_numpy_reference(sched, ref):
    np.testing.assert_allclose(sched(STEPS), ref(STEPS), rtol=1e-13, atol=1e-300)


ALL_SCHEDULES = [c[0] for c in REF_CASES] + [h[0] for h in HAND]


@pytest.mark.parametrize("sched", ALL_SCHEDULES, ids=[repr(s)[:40] for s in ALL_SCHEDULES])
def test_vectorized_equals_scalar_bit_for_bit(sched):
    t = np.concatenate([STEPS[::7], [0, 1, INT64_MAX, INT64_MAX - 1]])
    arr = sched(t)
    scalars = [sched(int(x)) for x in t]
    assert all(type(v) is float for v in scalars)
    assert arr.dtype == np.float64
    np.testing.assert_array_equal(arr, np.array(scalars))
    assert arr.tobytes() == np.array(scalars).tobytes()


def test_large_arrays_multithreaded_equal_scalar():
    s = S.warmup(S.cosine_restarts(0.1, 1000, 2, 1e-4, 0.8), 500, 0.0) * S.step(1.0, 10**5, 0.5)
    t = np.arange(300_000, dtype=np.int64) * 13
    out = s(t)
    idx = np.random.default_rng(0).integers(0, t.size, 300)
    assert [out[i] for i in idx] == [s(int(t[i])) for i in idx]


def test_shapes_and_dtypes():
    s = S.cosine(1.0, 10)
    assert type(s(3)) is float
    assert type(s(np.int32(3))) is float and s(np.int32(3)) == s(3)
    assert s(np.uint64(3)) == s(3)
    zero_d = s(np.array(4))
    assert isinstance(zero_d, np.ndarray) and zero_d.shape == () and zero_d == s(4)
    grid = np.arange(24).reshape(2, 3, 4)
    out = s(grid)
    assert out.shape == (2, 3, 4) and out.dtype == np.float64
    np.testing.assert_array_equal(out.ravel(), s(np.arange(24)))
    for dt in (np.int8, np.int16, np.int32, np.uint8, np.uint16, np.uint32, np.uint64):
        np.testing.assert_array_equal(s(np.arange(11).astype(dt)), s(np.arange(11)))
    np.testing.assert_array_equal(s(grid.T), s(np.ascontiguousarray(grid.T)))  # non-contiguous
    np.testing.assert_array_equal(s(np.arange(20)[::3]), s(np.arange(0, 20, 3)))
    ro = np.arange(11)
    ro.flags.writeable = False
    np.testing.assert_array_equal(s(ro), s(np.arange(11)))
    assert s([0, 5, 10]).tolist() == [1.0, s(5), 0.0]
    assert s((0, 10)).tolist() == [1.0, 0.0]
    empty = s([])
    assert empty.shape == (0,) and empty.dtype == np.float64
    assert s(np.zeros((0, 3), np.int64)).shape == (0, 3)


@pytest.mark.parametrize("bad", [-1, np.int64(-5), -(2**70)])
def test_negative_scalar_step_raises(bad):
    with pytest.raises(ValueError, match="step"):
        S.cosine(1.0, 10)(bad)


def test_negative_array_step_raises():
    s = S.cosine(1.0, 10)
    with pytest.raises(ValueError, match="negative"):
        s(np.array([3, -2, 5]))
    with pytest.raises(ValueError, match="negative"):
        s(np.arange(-5, 100_000))  # the multithreaded path too


@pytest.mark.parametrize("bad", [1.0, 2.5, np.float64(3.0), True, np.bool_(False), "3", b"3",
                                 None, 1 + 2j, np.array([1.0, 2.0]), np.array([True, False]),
                                 [1.5], [True], np.array(["a"]), object()])
def test_non_integer_steps_raise_type_error(bad):
    with pytest.raises(TypeError):
        S.step(1.0, 2)(bad)


def test_steps_beyond_int64_raise():
    s = S.constant(1.0)
    with pytest.raises(ValueError, match="2\\*\\*63"):
        s(2**63)
    with pytest.raises(ValueError, match="2\\*\\*63"):
        s(np.array([2**63], dtype=np.uint64))
    assert s(np.array([INT64_MAX], dtype=np.uint64))[0] == 1.0


# ---------------------------------------------------------------------------------------------
# boundaries, restarts, far past the end, huge steps

def test_milestone_and_step_boundaries():
    s = S.multistep(1.0, [10, 20], 0.5)
    assert (s(9), s(10), s(19), s(20)) == (1.0, 0.5, 0.5, 0.25)
    s = S.step(1.0, 10, 0.5)
    assert (s(9), s(10), s(20)) == (1.0, 0.5, 0.25)
    s = S.join([S.constant(1.0), S.constant(2.0)], [10])
    assert (s(9), s(10)) == (1.0, 2.0)


@pytest.mark.parametrize("T", [1, 2, 3, 10, 1000, 10**7])
def test_cosine_at_T_max(T):
    s = S.cosine(0.5, T, 0.01)
    assert s(0) == 0.5 and s(T) == 0.01 and s(T + 1) == 0.01
    assert s(T - 1) > 0.01 or T == 1
    # accurate near the trough even for huge T: relative to the exact 0.49 * sin(pi/(2T))**2
    if T > 1:
        exact = 0.49 * math.sin(math.pi / (2 * T)) ** 2
        assert (s(T - 1) - 0.01) == pytest.approx(exact, rel=1e-9)


def test_cosine_trough_accuracy_against_high_precision():
    mpmath = pytest.importorskip("mpmath")
    mpmath.mp.dps = 40
    T = 10**5
    s = S.cosine(1.0, T)
    for t in (T - 1, T - 2, T - 10, T // 2, 1):
        exact = (1 + mpmath.cos(mpmath.pi * t / T)) / 2
        assert abs(s(t) - float(exact)) <= 4e-16 * float(exact), t
    naive = (1 + math.cos(math.pi * (T - 1) / T)) / 2  # what PyTorch computes
    assert abs(naive - float((1 + mpmath.cos(mpmath.pi * (T - 1) / T)) / 2)) > 1e-9 * naive


def _restart_starts(T0, mult, count):
    starts, length = [0], T0
    for _ in range(count):
        starts.append(starts[-1] + length)
        length *= mult
    return starts


@pytest.mark.parametrize("T_mult", [1, 2, 3, 10])
@pytest.mark.parametrize("T_0", [1, 7, 10])
def test_restart_points_exact(T_0, T_mult):
    eta = 0.001
    s = S.cosine_restarts(0.1, T_0, T_mult, eta)
    starts = _restart_starts(T_0, T_mult, 12 if T_mult > 1 else 40)
    starts = [x for x in starts if x <= 10**15]
    for i, S_i in enumerate(starts):
        assert s(S_i) == pytest.approx(0.1, rel=1e-15), (i, S_i)  # peak at every restart
        if S_i > 0:
            prev_len = S_i - starts[i - 1]
            before = s(S_i - 1)
            assert before == pytest.approx(eta + (0.1 - eta) * math.sin(math.pi / (2 * prev_len))
                                           ** 2, rel=1e-12)
            assert before < 0.1 or prev_len == 1
    # the float-log formula (PyTorch step(epoch), timm) is off by one at these; fastlr is not
    assert S.cosine_restarts(1.0, 10, 3)(1210) == 1.0
    assert S.cosine_restarts(1.0, 10, 10)(1110) == 1.0
    assert S.cosine_restarts(1.0, 1, 7)(8) == 1.0


def test_restarts_match_integer_bookkeeping():
    """Against PyTorch's own step() bookkeeping re-run in exact Python integers."""
    for T_0, mult in [(3, 2), (5, 3), (2, 10), (1, 7)]:
        s = S.cosine_restarts(1.0, T_0, mult, 0.0, 0.7)
        T_cur, T_i, cycle = 0, T_0, 0
        t = np.arange(3000)
        out = s(t)
        for k in range(3000):
            expected = 0.7**cycle * (1 + math.cos(math.pi * T_cur / T_i)) / 2
            assert out[k] == pytest.approx(expected, rel=1e-11, abs=1e-16)
            T_cur += 1
            if T_cur >= T_i:
                T_cur -= T_i
                T_i *= mult
                cycle += 1


FINITE_SPAN = [
    (S.linear(0.1, 0.3, 0.9, 50), 50),
    (S.polynomial(0.1, 50, 3.0, 1e-4), 50),
    (S.cosine(0.1, 50, 1e-4), 50),
    (S.one_cycle(0.1, 100), 99),
    (S.one_cycle(0.1, 100, anneal_strategy="linear"), 99),
    (S.one_cycle(0.1, 100, three_phase=True), 99),
    (S.warmup_stable_decay(0.1, 10, 20, 30, 1e-4), 60),
    (S.multistep(0.1, [10, 20]), 20),
    (S.warmup(S.cosine(0.1, 40), 10, 0.1), 50),
    (S.join([S.constant(0.1), S.cosine(0.1, 40)], [5]), 45),
    (S.cosine(0.1, 40) * S.linear(1.0, 0.5, 1.0, 60), 60),
]


@pytest.mark.parametrize("sched,end", FINITE_SPAN, ids=[repr(c[0])[:40] for c in FINITE_SPAN])
def test_far_past_the_end_holds_final_value(sched, end):
    final = sched(end)
    far = np.array([end + 1, end + 2, end + 1000, 10**9, 10**12, 2**62, INT64_MAX])
    out = sched(far)
    assert np.all(out == final)
    assert final >= 0 and math.isfinite(final)
    assert np.all(sched(np.arange(end + 1)) >= 0)


def test_very_large_steps_no_overflow():
    big = [10**12, 10**15, 2**53 + 1, 2**62, INT64_MAX]
    for t in big:
        assert S.step(1.0, 3, 0.5)(t) == 0.0  # underflows to 0, never negative or NaN
        assert S.step(1.0, 10**12, 0.5)(t) == 0.5 ** (t // 10**12)
        assert S.exponential(1.0, 0.9)(t) == 0.0
        assert S.inverse_sqrt(1.0, 100)(t) == pytest.approx(1 / math.sqrt(t / 100), rel=1e-15)
        v = S.cosine_restarts(1.0, 3, 2, 0.1)(t)
        assert 0.1 <= v <= 1.0
        v = S.cosine_restarts(1.0, 3, 1, 0.1, 0.999)(t)
        assert 0.1 <= v <= 1.0
    # cyclic at 1e12, against exact rational arithmetic
    up, down = 2000, 1500
    s = S.cyclic(0.001, 0.1, up, down)
    for t in (10**12, 10**12 + 1, 10**12 + 2000, 10**15 + 123, INT64_MAX):
        r = t % (up + down)
        h = Fraction(r, up) if r <= up else Fraction(up + down - r, down)
        assert s(t) == pytest.approx(0.001 + 0.099 * float(h), rel=1e-15)
    # cosine_restarts with T_mult=1 at 1e12 against the integer cycle position
    s = S.cosine_restarts(1.0, 999, 1)
    t = 10**12 + 5
    pos = t % 999
    assert s(t) == pytest.approx((1 + math.cos(math.pi * pos / 999)) / 2, rel=1e-12)


# ---------------------------------------------------------------------------------------------
# composition identities

def test_warmup_is_join_of_linear_bit_for_bit():
    inner = S.cosine(0.1, 500, 1e-3)
    a = S.warmup(inner, 37, 0.05)
    b = S.join([S.linear(inner(0), 0.05, 1.0, 37), inner], [37])
    t = np.arange(700)
    assert a(t).tobytes() == b(t).tobytes()


def test_products_and_scaling():
    a, b = S.cosine(0.1, 100), S.step(1.0, 30, 0.5)
    t = np.arange(200)
    np.testing.assert_array_equal((a * b)(t), a(t) * b(t))
    np.testing.assert_array_equal((0.5 * a)(t), 0.5 * a(t))
    np.testing.assert_array_equal((a * 0.5)(t), 0.5 * a(t))
    np.testing.assert_array_equal((np.float64(0.5) * a)(t), 0.5 * a(t))
    np.testing.assert_array_equal((2 * a * b)(t), 2 * a(t) * b(t))
    with pytest.raises(ValueError, match="c"):
        -1.0 * a
    with pytest.raises(ValueError, match="c"):
        a * float("nan")
    with pytest.raises(TypeError):
        a * "2"
    with pytest.raises(TypeError):
        True * a
    with pytest.raises(TypeError):
        a * np.array([1.0, 2.0])


def test_nesting_depth_limited():
    s = S.constant(1.0)
    with pytest.raises(ValueError, match="deeper"):
        for _ in range(100):
            s = 1.0 * s


# ---------------------------------------------------------------------------------------------
# immutability, repr, pickle, docstrings

@pytest.mark.parametrize("sched", ALL_SCHEDULES, ids=[repr(s)[:40] for s in ALL_SCHEDULES])
def test_repr_roundtrip_pickle_and_immutability(sched):
    namespace = {name: getattr(S, name) for name in S.__all__}
    again = eval(repr(sched), namespace)
    t = np.arange(0, 3000, 7)
    assert again == sched and again(t).tobytes() == sched(t).tobytes()
    loaded = pickle.loads(pickle.dumps(sched))
    assert loaded == sched and hash(loaded) == hash(sched)
    assert loaded(t).tobytes() == sched(t).tobytes()
    with pytest.raises(AttributeError):
        sched.lr = 3.0
    with pytest.raises(AttributeError):
        sched._program = None
    assert sched(5) == again(5)


def test_repr_shows_parameters_and_params_copy():
    s = S.cosine(0.1, 1000, 1e-5)
    assert repr(s) == "cosine(lr=0.1, T_max=1000, eta_min=1e-05)"
    p = s.params
    p["lr"] = 5.0
    assert s.params["lr"] == 0.1 and s.name == "cosine"
    assert "0.5 * cosine(" in repr(0.5 * s)
    assert repr(S.warmup(s, 10, 0.1)).startswith("warmup(schedule=cosine(lr=0.1")


@pytest.mark.parametrize("name", [n for n in S.__all__ if n not in ("Schedule",
                                                                    "ReduceLROnPlateau",
                                                                    "plot")])
def test_docstrings_have_formula_convention_and_example(name):
    doc = getattr(S, name).__doc__
    assert ".. math::" in doc and "Convention" in doc and ">>>" in doc


def test_returned_schedule_documents_itself():
    s = S.one_cycle(0.1, 100)
    assert "OneCycleLR" in type(s).__doc__ and ".. math::" in type(s).__doc__


# ---------------------------------------------------------------------------------------------
# every invalid argument

INVALID = [
    (S.constant, (-0.1,), ValueError, "lr"),
    (S.constant, (float("nan"),), ValueError, "lr"),
    (S.constant, (float("inf"),), ValueError, "lr"),
    (S.constant, ("0.1",), TypeError, "lr"),
    (S.constant, (True,), TypeError, "lr"),
    (S.step, (0.1, 0), ValueError, "step_size"),
    (S.step, (0.1, -3), ValueError, "step_size"),
    (S.step, (0.1, 2.0), TypeError, "step_size"),
    (S.step, (0.1, 2**63), ValueError, "step_size"),
    (S.step, (0.1, 10, 0.0), ValueError, "gamma"),
    (S.step, (0.1, 10, -0.5), ValueError, "gamma"),
    (S.step, (0.1, 10, float("nan")), ValueError, "gamma"),
    (S.multistep, (0.1, [5, 3]), ValueError, "increasing"),
    (S.multistep, (0.1, [3, 3]), ValueError, "increasing"),
    (S.multistep, (0.1, [0, 3]), ValueError, "milestones\\[0\\]"),
    (S.multistep, (0.1, [-2]), ValueError, "milestones\\[0\\]"),
    (S.multistep, (0.1, [1.5]), TypeError, "milestones\\[0\\]"),
    (S.multistep, (0.1, 5), TypeError, "milestones"),
    (S.multistep, (0.1, "12"), TypeError, "milestones"),
    (S.multistep, (0.1, [5], 0.0), ValueError, "gamma"),
    (S.exponential, (0.1, 0.0), ValueError, "gamma"),
    (S.exponential, (0.1, float("inf")), ValueError, "gamma"),
    (S.exponential, (-1.0, 0.9), ValueError, "lr"),
    (S.linear, (0.1, -0.1, 1.0, 10), ValueError, "start_factor"),
    (S.linear, (0.1, 1.5, 1.0, 10), ValueError, "start_factor"),
    (S.linear, (0.1, 0.5, 1.1, 10), ValueError, "end_factor"),
    (S.linear, (0.1, 0.5, 1.0, 0), ValueError, "total_iters"),
    (S.polynomial, (0.1, 0), ValueError, "total_iters"),
    (S.polynomial, (0.1, 10, 0.0), ValueError, "power"),
    (S.polynomial, (0.1, 10, -1.0), ValueError, "power"),
    (S.polynomial, (0.1, 10, 1.0, -0.1), ValueError, "end_lr"),
    (S.cosine, (0.1, 0), ValueError, "T_max"),
    (S.cosine, (0.1, -10), ValueError, "T_max"),
    (S.cosine, (0.1, 100.0), TypeError, "T_max"),
    (S.cosine, (0.1, 100, -1e-3), ValueError, "eta_min"),
    (S.cosine, (0.1, 100, float("nan")), ValueError, "eta_min"),
    (S.cosine_restarts, (0.1, 0), ValueError, "T_0"),
    (S.cosine_restarts, (0.1, 10, 0), ValueError, "T_mult"),
    (S.cosine_restarts, (0.1, 10, 1.5), TypeError, "T_mult"),
    (S.cosine_restarts, (0.1, 10, 2, -1.0), ValueError, "eta_min"),
    (S.cosine_restarts, (0.1, 10, 2, 0.0, 0.0), ValueError, "decay"),
    (S.cosine_restarts, (0.1, 10, 2, 0.0, 1.5), ValueError, "decay"),
    (S.one_cycle, (0.1, 0), ValueError, "total_steps"),
    (S.one_cycle, (-0.1, 100), ValueError, "max_lr"),
    (S.one_cycle, (0.1, 100, 0.0), ValueError, "pct_start"),
    (S.one_cycle, (0.1, 100, 1.0), ValueError, "pct_start"),
    (S.one_cycle, (0.1, 100, 1.5), ValueError, "pct_start"),
    (S.one_cycle, (0.1, 2, 0.5), ValueError, "pct_start"),  # zero-length first phase
    (S.one_cycle, (0.1, 100, 0.6, "cos", 25.0, 1e4, True), ValueError, "pct_start"),
    (S.one_cycle, (0.1, 100, 0.3, "cosine"), ValueError, "anneal_strategy"),
    (S.one_cycle, (0.1, 100, 0.3, "cos", 0.0), ValueError, "div_factor"),
    (S.one_cycle, (0.1, 100, 0.3, "cos", 25.0, -1.0), ValueError, "final_div_factor"),
    (S.one_cycle, (0.1, 100, 0.3, "cos", 25.0, 1e4, "yes"), TypeError, "three_phase"),
    (S.cyclic, (0.1, 0.01), ValueError, "max_lr"),
    (S.cyclic, (-0.1, 0.01), ValueError, "base_lr"),
    (S.cyclic, (0.01, 0.1, 0), ValueError, "step_size_up"),
    (S.cyclic, (0.01, 0.1, 10, 0), ValueError, "step_size_down"),
    (S.cyclic, (0.01, 0.1, 10.5), TypeError, "step_size_up"),
    (S.cyclic, (0.01, 0.1, 10, None, "sine"), ValueError, "mode"),
    (S.cyclic, (0.01, 0.1, 10, None, "exp_range", 0.0), ValueError, "gamma"),
    (S.cyclic, (0.01, 0.1, 10, None, "exp_range", 1.5), ValueError, "gamma"),
    (S.inverse_sqrt, (0.1, 0), ValueError, "warmup_steps"),
    (S.inverse_sqrt, (float("nan"), 10), ValueError, "lr"),
    (S.warmup_stable_decay, (0.1, -1, 10, 10), ValueError, "warmup_steps"),
    (S.warmup_stable_decay, (0.1, 10, -1, 10), ValueError, "stable_steps"),
    (S.warmup_stable_decay, (0.1, 10, 10, 0), ValueError, "decay_steps"),
    (S.warmup_stable_decay, (0.1, 10, 10, 10, 0.2), ValueError, "min_lr"),
    (S.warmup_stable_decay, (0.1, 10, 10, 10, 0.0, "exp"), ValueError, "decay"),
    (S.join, ([], []), ValueError, "schedules"),
    (S.join, ([S.constant(1.0), 0.5], [3]), TypeError, "schedules\\[1\\]"),
    (S.join, (S.constant(1.0), []), TypeError, "schedules"),
    (S.join, ([S.constant(1.0), S.constant(2.0)], []), ValueError, "boundaries"),
    (S.join, ([S.constant(1.0), S.constant(2.0)], [0]), ValueError, "boundaries\\[0\\]"),
    (S.join, ([S.constant(1.0)] * 3, [5, 5]), ValueError, "increasing"),
    (S.join, ([S.constant(1.0)] * 3, [6, 5]), ValueError, "increasing"),
    (S.join, ([S.constant(1.0)] * 2, [2.5]), TypeError, "boundaries\\[0\\]"),
    (S.warmup, (0.1, 10, 0.1), TypeError, "schedule"),
    (S.warmup, (S.constant(1.0), 0, 0.1), ValueError, "warmup_steps"),
    (S.warmup, (S.constant(1.0), 10, 1.5), ValueError, "start_factor"),
    (S.warmup, (S.constant(1.0), 10, -0.1), ValueError, "start_factor"),
]


@pytest.mark.parametrize("factory,args,exc,match", INVALID,
                         ids=[f"{f.__name__}{a!r}"[:50] for f, a, _, _ in INVALID])
def test_invalid_arguments(factory, args, exc, match):
    with pytest.raises(exc, match=match):
        factory(*args)


# ---------------------------------------------------------------------------------------------
# plot and command line

def test_plot(tmp_path):
    pytest.importorskip("matplotlib")
    ax = S.plot([S.cosine(0.1, 100), S.one_cycle(0.1, 100)], 150)
    assert len(ax.lines) == 2
    np.testing.assert_array_equal(ax.lines[0].get_ydata(), S.cosine(0.1, 100)(np.arange(150)))
    ax2 = S.plot(S.cosine(0.1, 100), np.array([0, 50, 100]), ax=ax)
    assert ax2 is ax and len(ax.lines) == 3
    with pytest.raises(TypeError):
        S.plot([0.1], 10)
    with pytest.raises(ValueError, match="steps"):
        S.plot(S.constant(0.1), 0)


def test_plot_without_matplotlib_is_a_clear_error(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def fake_import(name, *args, **kwargs):
        if name.startswith("matplotlib"):
            raise ImportError("no matplotlib")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    with pytest.raises(ImportError, match="pip install matplotlib"):
        S.plot(S.constant(0.1), 10)


def test_command_line(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    from fastlr.schedules.__main__ import main

    out = tmp_path / "cosine.png"
    assert main(["cosine", "--lr", "0.1", "--T_max", "1000", "--steps", "1500", "-o",
                 str(out)]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    out2 = tmp_path / "two.png"
    assert main(["warmup(cosine(0.1, 1000), 100, 0.01); one_cycle(0.1, 1000, anneal_strategy="
                 "'linear')", "-o", str(out2)]) == 0
    assert out2.exists()
    capsys.readouterr()
    assert main(["one_cycle", "--max_lr", "0.1", "--total_steps", "100", "--anneal_strategy",
                 "linear", "--print", "0", "99", "500"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1] == f"0\t{S.one_cycle(0.1, 100, anneal_strategy='linear')(0)!r}"
    assert lines[3].startswith("500\t")
    for bad in (["cosine", "--lr", "0.1", "--T_max", "-3"], ["cosine", "--nope", "1"],
                ["__import__('os').system('true')"], ["open('x')"]):
        with pytest.raises(SystemExit):
            main(bad)
