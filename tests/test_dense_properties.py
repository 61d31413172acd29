"""Hypothesis property tests of the dense optimizers.

Hyper-parameters are drawn from each optimizer's whole valid range (not just the table's rows),
shapes from sizes around the work-block boundary, gradients over forty decades of magnitude
(float32 overflows to inf included).  Data arrays come from a NumPy generator seeded by
hypothesis, so examples stay cheap and reproducible.
"""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import fastlr  # noqa: E402
from fastlr.optim._base import BLOCK_ELEMENTS  # noqa: E402
from conftest import (NAMES, assert_bitwise, assert_matches_reference, copies, make,
                      make_reference)  # noqa: E402

#: example counts come from the profile loaded in conftest.py (HYPOTHESIS_PROFILE=thorough
#: for a long run); only the health check is relaxed here
SETTINGS = settings(suppress_health_check=[HealthCheck.too_slow])

unit = st.floats(0.0, 1.0)
below_one = st.floats(0.0, 0.999)
small = st.one_of(st.just(0.0), st.floats(0.0, 0.2))
eps = st.sampled_from([0.0, 1e-12, 1e-8, 1e-6, 1e-3, 0.1])
flag = st.booleans()


@st.composite
def sgd_kwargs(draw):
    momentum = draw(st.one_of(st.just(0.0), below_one))
    dampening = draw(st.one_of(st.just(0.0), unit))
    nesterov = momentum > 0 and dampening == 0 and draw(flag)
    return dict(lr=draw(unit), momentum=momentum, dampening=dampening,
                weight_decay=draw(small), nesterov=nesterov, maximize=draw(flag))


def adam_kwargs(default_wd):
    return st.fixed_dictionaries(dict(
        lr=st.floats(0.0, 0.1), betas=st.tuples(below_one, below_one), eps=eps,
        weight_decay=st.one_of(st.just(default_wd), small), amsgrad=flag, maximize=flag))


KWARGS = {
    "SGD": sgd_kwargs(),
    "Adam": adam_kwargs(0.0),
    "AdamW": adam_kwargs(1e-2),
    "RMSprop": st.fixed_dictionaries(dict(
        lr=st.floats(0.0, 0.1), alpha=unit, eps=eps, weight_decay=small,
        momentum=st.one_of(st.just(0.0), below_one), centered=flag, maximize=flag)),
    "Adagrad": st.fixed_dictionaries(dict(
        lr=st.floats(0.0, 0.5), lr_decay=st.one_of(st.just(0.0), unit), weight_decay=small,
        initial_accumulator_value=st.one_of(st.just(0.0), unit), eps=eps, maximize=flag)),
    "Adadelta": st.fixed_dictionaries(dict(
        lr=st.floats(0.0, 2.0), rho=unit, eps=eps, weight_decay=small, maximize=flag)),
}

sizes = st.one_of(st.integers(0, 40), st.sampled_from(
    [BLOCK_ELEMENTS - 1, BLOCK_ELEMENTS, BLOCK_ELEMENTS + 1, 2 * BLOCK_ELEMENTS + 3]))
dtypes = st.sampled_from([np.float32, np.float64])


@st.composite
def configs(draw):
    name = draw(st.sampled_from(NAMES))
    return name, draw(KWARGS[name])


def make_data(seed, n_params_sizes, dtype, steps, log_scale, skip_rate):
    rng = np.random.default_rng(seed)
    params = [rng.standard_normal(n).astype(dtype) for n in n_params_sizes]
    grads = []
    for _ in range(steps):
        gs = []
        for n in n_params_sizes:
            if rng.random() < skip_rate:
                gs.append(None)
                continue
            scale = 10.0 ** (log_scale + rng.uniform(-1, 1))
            with np.errstate(over="ignore"):
                gs.append((rng.standard_normal(n) * scale).astype(dtype))
        grads.append(gs)
    return params, grads


@SETTINGS
@given(config=configs(), shapes=st.lists(sizes, min_size=1, max_size=4), dtype=dtypes,
       steps=st.integers(1, 8), seed=st.integers(0, 2**32 - 1),
       log_scale=st.integers(-20, 20), skip_rate=st.sampled_from([0.0, 0.3]),
       threads=st.sampled_from([1, 2]))
def test_any_hyper_parameters_match_reference(config, shapes, dtype, steps, seed, log_scale,
                                              skip_rate, threads):
    name, kwargs = config
    fastlr.set_num_threads(threads)
    params, grads = make_data(seed, shapes, dtype, steps, log_scale, skip_rate)
    ref_params = copies(params)
    opt = make(name, params, kwargs)
    ref = make_reference(name, ref_params, kwargs)
    for t, gs in enumerate(grads):
        opt.step(gs)
        with np.errstate(all="ignore"):
            ref.step(gs)
        assert_matches_reference(opt, ref, params, ref_params, where=f"step {t + 1}: ")


@SETTINGS
@given(config=configs(), n=sizes, dtype=dtypes, steps=st.integers(1, 6),
       seed=st.integers(0, 2**32 - 1), log_scale=st.integers(-5, 5))
def test_maximize_equals_minimizing_the_negated_gradient(config, n, dtype, steps, seed,
                                                         log_scale):
    name, kwargs = config
    params, grads = make_data(seed, [n], dtype, steps, log_scale, 0.0)
    twin = copies(params)
    up = make(name, params, {**kwargs, "maximize": True})
    down = make(name, twin, {**kwargs, "maximize": False})
    for gs in grads:
        up.step(gs)
        down.step([-g for g in gs])
    assert_bitwise(params[0], twin[0], "param")
    for k, v in down.state[0].items():
        assert_bitwise(up.state[0][k], v, k)


@SETTINGS
@given(config=configs(), shapes=st.lists(sizes, min_size=2, max_size=5), dtype=dtypes,
       steps=st.integers(1, 5), seed=st.integers(0, 2**32 - 1))
def test_one_optimizer_equals_one_per_tensor(config, shapes, dtype, steps, seed):
    """Multi-tensor dispatch changes nothing: tensors stepped together or one by one agree."""
    name, kwargs = config
    params, grads = make_data(seed, shapes, dtype, steps, 0, 0.2)
    singles = copies(params)
    opt = make(name, params, kwargs)
    opts = [make(name, [q], kwargs) for q in singles]
    for gs in grads:
        opt.step(gs)
        for o, g in zip(opts, gs):
            o.step([g])
    for i, (p, q) in enumerate(zip(params, singles)):
        assert_bitwise(p, q, f"param {i}")
        assert set(opt.state.get(i, {})) == set(opts[i].state.get(0, {}))
        for k, v in opts[i].state.get(0, {}).items():
            assert_bitwise(opt.state[i][k], v, f"state[{i}][{k!r}]")


@SETTINGS
@given(config=configs(), shapes=st.lists(st.integers(0, 50), min_size=1, max_size=4),
       dtype=dtypes, seed=st.integers(0, 2**32 - 1), skip=st.data())
def test_grads_are_never_written_and_skipped_params_never_move(config, shapes, dtype, seed,
                                                              skip):
    name, kwargs = config
    params, (gs,) = make_data(seed, shapes, dtype, 1, 0, 0.0)
    opt = make(name, params, kwargs)
    opt.step([g.copy() for g in gs])
    mask = skip.draw(st.lists(st.booleans(), min_size=len(shapes), max_size=len(shapes)))
    gs = [None if m else g for m, g in zip(mask, gs)]
    keep_g = [None if g is None else g.copy() for g in gs]
    keep_p = copies(params)
    keep_s = {i: {k: v.copy() for k, v in s.items()} for i, s in opt.state.items()}
    opt.step(gs)
    for i, g in enumerate(gs):
        if g is not None:
            assert_bitwise(g, keep_g[i], f"grad {i}")
        else:
            assert_bitwise(params[i], keep_p[i], f"skipped param {i}")
            for k, v in keep_s.get(i, {}).items():
                assert_bitwise(opt.state[i][k], v, f"skipped state[{i}][{k!r}]")


@SETTINGS
@given(config=configs(), n=st.integers(1, 50), dtype=dtypes, steps=st.integers(1, 5),
       seed=st.integers(0, 2**32 - 1))
def test_zero_learning_rate_leaves_params_in_place(config, n, dtype, steps, seed):
    name, kwargs = config
    params, grads = make_data(seed, [n], dtype, steps, 0, 0.0)
    start = copies(params)
    opt = make(name, params, {**kwargs, "lr": 0.0})
    with np.errstate(all="ignore"):
        for gs in grads:
            opt.step(gs)
    finite = np.isfinite(params[0])
    # lr = 0 moves nothing, except where the update itself is NaN (0 * inf, 0 / 0 with eps=0)
    np.testing.assert_array_equal(params[0][finite], start[0][finite])
    for k, v in opt.state[0].items():
        assert v.dtype == params[0].dtype and v.shape == params[0].shape


@pytest.mark.parametrize("name", NAMES)
@SETTINGS
@given(data=st.data())
def test_valid_hyper_parameters_are_accepted_and_kept(name, data):
    kwargs = data.draw(KWARGS[name])
    opt = make(name, [np.zeros(3)], kwargs)
    group = opt.param_groups[0]
    for k, v in kwargs.items():
        assert group[k] == (tuple(v) if isinstance(v, list) else v)
