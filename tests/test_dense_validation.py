"""Bad input raises a clear exception and modifies nothing.

One test per rejected input: parameters (dtype, layout, writability, duplicates and overlaps),
hyper-parameters (range, finiteness, type; at construction, in added groups and when edited
between steps), and gradients (list length, dtype, shape, aliasing of parameters and state,
unsupported objects).  A rejected step leaves every parameter, every state buffer and every step
count untouched, and the optimizer then continues exactly like an untouched twin.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

import fastlr
from conftest import (TABLE, TABLE_SMALL, assert_bitwise, assert_unchanged, copies, make,
                      random_grads, snapshot)

# --------------------------------------------------------------------------- parameters


@pytest.mark.parametrize("dtype", [np.float16, np.int32, np.int64, np.complex128, np.bool_,
                                   np.longdouble, object])
@pytest.mark.parametrize("name", ["SGD", "Adam", "Adadelta"])
def test_unsupported_parameter_dtype(name, dtype):
    p = np.ones(4, dtype=dtype)
    with pytest.raises(TypeError, match="dtype"):
        make(name, [p], {})


@pytest.mark.parametrize("bad", [[1.0, 2.0], 3.0, "abc", None])
def test_parameter_that_is_not_an_array(bad):
    with pytest.raises(TypeError):
        fastlr.SGD([np.zeros(2), bad])


@pytest.mark.parametrize("params, error", [
    (np.zeros(3), TypeError),                 # a bare array, not a list of arrays
    ([], ValueError),                         # nothing to optimize
    ({np.zeros(3).tobytes()}, TypeError),     # a set (unordered)
    ([{"params": []}], ValueError),           # an empty group
    ([{"lr": 0.1}], TypeError),               # a group without params
], ids=["bare-array", "empty", "set", "empty-group", "group-without-params"])
def test_bad_params_argument(params, error):
    with pytest.raises(error):
        fastlr.Adam(params)


@pytest.mark.parametrize("make_view", [
    lambda: np.zeros(10)[::2],
    lambda: np.asfortranarray(np.zeros((3, 4))),
    lambda: np.zeros((4, 6))[:, :3],
], ids=["strided", "fortran", "column-slice"])
def test_non_contiguous_parameter(make_view):
    p = make_view()
    assert not p.flags.c_contiguous
    with pytest.raises(ValueError, match="contiguous"):
        fastlr.Adam([np.zeros(2), p])


def test_read_only_parameter():
    p = np.zeros(5)
    p.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        fastlr.SGD([p])


def test_memory_mapped_read_only_parameter(tmp_path):
    path = tmp_path / "p.bin"
    np.zeros(8).tofile(path)
    p = np.memmap(path, dtype=np.float64, mode="r", shape=(8,))
    with pytest.raises(ValueError, match="read-only"):
        fastlr.SGD([p])


def test_same_array_twice():
    p = np.zeros(5)
    with pytest.raises(ValueError, match="share memory"):
        fastlr.Adam([p, np.zeros(2), p])


def test_same_array_in_two_groups():
    p = np.zeros(5)
    with pytest.raises(ValueError, match="share memory"):
        fastlr.Adam([{"params": [p]}, {"params": [np.zeros(3), p], "lr": 0.1}])


def test_overlapping_views():
    base = np.zeros(20)
    with pytest.raises(ValueError, match="share memory"):
        fastlr.SGD([base[:12], base[8:]])


def test_adjacent_views_are_fine(rng):
    """Disjoint slices of one buffer are separate parameters (no false overlap)."""
    base = rng.standard_normal(20)
    a, b = base[:10], base[10:]
    ref = [a.copy(), b.copy()]
    opt = fastlr.SGD([a, b], lr=0.1)
    opt.step([np.ones(10), np.full(10, 2.0)])
    np.testing.assert_array_equal(a, ref[0] - 0.1)
    np.testing.assert_array_equal(b, ref[1] + np.float64(-0.1) * 2.0)


def test_add_param_group_rejects_a_known_parameter_and_changes_nothing(rng):
    p, q = rng.standard_normal(4), rng.standard_normal(3)
    opt = fastlr.Adam([p])
    opt.step([rng.standard_normal(4)])
    snap = snapshot(opt, [p])
    with pytest.raises(ValueError, match="share memory"):
        opt.add_param_group({"params": [q, p]})
    assert len(opt.param_groups) == 1
    assert_unchanged(opt, [p], snap)
    opt.step([rng.standard_normal(4)])        # still usable, with one parameter


def test_add_param_group_rejects_bad_values(rng):
    opt = fastlr.Adam([rng.standard_normal(4)])
    with pytest.raises(ValueError):
        opt.add_param_group({"params": [rng.standard_normal(3)], "lr": -1.0})
    with pytest.raises(TypeError, match="unknown"):
        opt.add_param_group({"params": [rng.standard_normal(3)], "momentum": 0.9})
    assert len(opt.param_groups) == 1
    with pytest.raises(ValueError):
        opt.step([rng.standard_normal(4), rng.standard_normal(3)])


@pytest.mark.parametrize("name, key", [("SGD", "betas"), ("Adam", "momentum"),
                                       ("Adagrad", "rho"), ("RMSprop", "nesterov")])
def test_unknown_hyper_parameter(name, key):
    with pytest.raises(TypeError, match="unknown"):
        make(name, [{"params": [np.zeros(2)], key: 0.5}], {})


# --------------------------------------------------------------------------- hyper-parameters
#: every numeric hyper-parameter of every optimizer (betas as ("betas", index))
NUMERIC = {
    "SGD": ["lr", "momentum", "dampening", "weight_decay"],
    "Adam": ["lr", "eps", "weight_decay", ("betas", 0), ("betas", 1)],
    "AdamW": ["lr", "eps", "weight_decay", ("betas", 0), ("betas", 1)],
    "RMSprop": ["lr", "alpha", "eps", "weight_decay", "momentum"],
    "Adagrad": ["lr", "lr_decay", "weight_decay", "initial_accumulator_value", "eps"],
    "Adadelta": ["lr", "rho", "eps", "weight_decay"],
}
FLAGS = {
    "SGD": ["nesterov", "maximize"], "Adam": ["amsgrad", "maximize"],
    "AdamW": ["amsgrad", "maximize"], "RMSprop": ["centered", "maximize"],
    "Adagrad": ["maximize"], "Adadelta": ["maximize"],
}
BAD_VALUES = [(-1e-3, ValueError), (math.nan, ValueError), (math.inf, ValueError),
              (-math.inf, ValueError), ("0.1", TypeError), (None, TypeError),
              (True, TypeError), (1 + 0j, TypeError)]
#: range limits beyond "non-negative": betas in [0, 1), rho in [0, 1]
UPPER = [("Adam", ("betas", 0), 1.0), ("Adam", ("betas", 1), 1.0), ("AdamW", ("betas", 0), 1.5),
         ("AdamW", ("betas", 1), 1.0), ("Adadelta", "rho", 1.0 + 1e-9)]


def with_value(name, key, value):
    if isinstance(key, tuple):
        betas = [0.9, 0.999]
        betas[key[1]] = value
        return {"betas": tuple(betas)}
    return {key: value}


HYPER_CASES = [(name, key, value, err) for name, keys in NUMERIC.items() for key in keys
               for value, err in BAD_VALUES]
HYPER_CASES += [(name, key, value, ValueError) for name, key, value in UPPER]
HYPER_CASES += [(name, key, value, TypeError) for name, keys in FLAGS.items() for key in keys
                for value in (1, "yes", None)]


def _case_id(case):
    name, key, value, _ = case
    key = f"{key[0]}{key[1]}" if isinstance(key, tuple) else key
    return f"{name}-{key}={value!r}"


@pytest.mark.parametrize("name, key, value, error", HYPER_CASES, ids=map(_case_id, HYPER_CASES))
def test_bad_hyper_parameter_at_construction(name, key, value, error):
    with pytest.raises(error):
        make(name, [np.zeros(3)], with_value(name, key, value))


@pytest.mark.parametrize("name, key, value, error", HYPER_CASES[::3],
                         ids=map(_case_id, HYPER_CASES[::3]))
def test_bad_hyper_parameter_in_an_added_group(name, key, value, error, rng):
    opt = make(name, [rng.standard_normal(3)], {})
    with pytest.raises(error):
        opt.add_param_group({"params": [rng.standard_normal(2)], **with_value(name, key, value)})
    assert len(opt.param_groups) == 1


@pytest.mark.parametrize("name, key, value, error", HYPER_CASES[1::3],
                         ids=map(_case_id, HYPER_CASES[1::3]))
def test_bad_hyper_parameter_edited_between_steps(name, key, value, error, rng):
    """param_groups are editable; an invalid edit is caught before the next step writes."""
    params = [rng.standard_normal(3), rng.standard_normal((2, 2))]
    opt = make(name, params, {})
    opt.step(random_grads(rng, params))
    opt.param_groups[0].update(with_value(name, key, value))
    snap = snapshot(opt, params)
    with pytest.raises(error):
        opt.step(random_grads(rng, params))
    assert_unchanged(opt, params, snap)


def test_sgd_nesterov_needs_momentum_and_no_dampening():
    with pytest.raises(ValueError, match="Nesterov"):
        fastlr.SGD([np.zeros(2)], nesterov=True)
    with pytest.raises(ValueError, match="Nesterov"):
        fastlr.SGD([np.zeros(2)], nesterov=True, momentum=0.9, dampening=0.5)
    fastlr.SGD([np.zeros(2)], nesterov=True, momentum=0.9)


@pytest.mark.parametrize("betas", [0.9, (0.9,), (0.9, 0.99, 0.999), "ab"])
def test_betas_must_be_a_pair(betas):
    with pytest.raises(TypeError, match="betas"):
        fastlr.Adam([np.zeros(2)], betas=betas)


def test_replacing_the_params_of_a_group_is_rejected(rng):
    params = [rng.standard_normal(3)]
    opt = fastlr.SGD(params, lr=0.1)
    opt.param_groups[0]["params"] = [rng.standard_normal(3)]
    snap = snapshot(opt, params)
    with pytest.raises(ValueError, match="params"):
        opt.step([rng.standard_normal(3)])
    assert_unchanged(opt, params, snap)


# --------------------------------------------------------------------------- gradients
def setup_optimizer(name, kwargs, rng):
    """Two groups, float32 and float64 in each (four buckets), two steps taken."""
    params = [rng.standard_normal(s).astype(dt) for s, dt in
              [((5,), np.float32), ((4,), np.float64), ((2, 3), np.float64), ((3,), np.float32)]]
    opt = make(name, [{"params": params[:2]}, {"params": params[2:], "weight_decay": 0.01}],
               kwargs)
    for _ in range(2):
        opt.step(random_grads(rng, params))
    return opt, params


def assert_rejected(name, kwargs, rng, make_grads, error, match=None):
    """``make_grads(opt, params, good_grads)`` returns the bad list; the step must raise and
    change nothing, and the optimizer must then train like an untouched twin."""
    opt, params = setup_optimizer(name, kwargs, np.random.default_rng(5))
    twin, twin_params = setup_optimizer(name, kwargs, np.random.default_rng(5))
    good = random_grads(rng, params)
    bad = make_grads(opt, params, [g.copy() for g in good])
    snap = snapshot(opt, params)
    with pytest.raises(error, match=match):
        opt.step(bad)
    assert_unchanged(opt, params, snap)
    for _ in range(2):
        g = random_grads(rng, params)
        opt.step(g)
        twin.step(g)
    for p, q in zip(params, twin_params):
        assert_bitwise(p, q, "param after a rejected step and two good ones")


def _replace(i, value):
    def f(opt, params, grads):
        grads[i] = value(opt, params, grads) if callable(value) else value
        return grads
    return f


GRAD_CASES = {
    # list shape
    "too-few": (lambda o, p, g: g[:-1], ValueError, "expected 4"),
    "too-many": (lambda o, p, g: g + [None], ValueError, "expected 4"),
    "empty-list": (lambda o, p, g: [], ValueError, "expected 4"),
    "array-not-list": (lambda o, p, g: np.zeros(4), TypeError, "list"),
    "none-not-list": (lambda o, p, g: None, TypeError, "list"),
    "generator": (lambda o, p, g: (x for x in g), TypeError, "list"),
    # dtype
    "float32-for-float64": (_replace(2, lambda o, p, g: g[2].astype(np.float32)), TypeError,
                            "dtype"),
    "float64-for-float32": (_replace(3, lambda o, p, g: g[3].astype(np.float64)), TypeError,
                            "dtype"),
    "float16": (_replace(3, lambda o, p, g: g[3].astype(np.float16)), TypeError, "dtype"),
    "int64": (_replace(2, lambda o, p, g: np.ones((2, 3), np.int64)), TypeError, "dtype"),
    "complex": (_replace(2, lambda o, p, g: g[2].astype(np.complex128)), TypeError, "dtype"),
    "byte-swapped": (_replace(2, lambda o, p, g: g[2].astype(">f8")), TypeError, "dtype"),
    # shape
    "shorter": (_replace(3, lambda o, p, g: g[3][:2].copy()), ValueError, "shape"),
    "longer": (_replace(1, lambda o, p, g: np.zeros(5)), ValueError, "shape"),
    "transposed": (_replace(2, lambda o, p, g: np.ascontiguousarray(g[2].T)), ValueError,
                   "shape"),
    "flattened": (_replace(2, lambda o, p, g: g[2].ravel()), ValueError, "shape"),
    "extra-axis": (_replace(3, lambda o, p, g: g[3][:, None].copy()), ValueError, "shape"),
    "scalar-array": (_replace(3, lambda o, p, g: np.float32(1.0) * np.ones((), np.float32)),
                     ValueError, "shape"),
    # aliasing
    "grad-is-its-param": (_replace(3, lambda o, p, g: p[3]), ValueError, "shares memory"),
    "grad-is-a-view-of-another-param": (_replace(1, lambda o, p, g: p[2].reshape(-1)[:4]),
                                        ValueError, "shares memory"),
    "grad-views-a-param": (_replace(2, lambda o, p, g: p[2][:, :].reshape(2, 3)), ValueError,
                           "shares memory"),
}


@pytest.mark.parametrize("case", list(GRAD_CASES))
@pytest.mark.parametrize("name, kwargs", TABLE_SMALL)
def test_rejected_gradients_change_nothing(name, kwargs, case, rng):
    make_grads, error, match = GRAD_CASES[case]
    assert_rejected(name, kwargs, rng, make_grads, error, match)


@pytest.mark.parametrize("name, kwargs", TABLE)
def test_gradient_aliasing_a_state_buffer(name, kwargs, rng):
    """Every state buffer of every configuration is protected."""
    opt, params = setup_optimizer(name, kwargs, rng)
    names = sorted(opt.state[2])
    if not names:
        pytest.skip("this configuration keeps no state buffer")
    for buf in names:
        def bad(o, p, g, buf=buf):
            g[2] = o.state[2][buf]
            return g
        assert_rejected(name, kwargs, rng, bad, ValueError, "shares memory")


@pytest.mark.parametrize("name, kwargs", TABLE_SMALL)
def test_gradient_aliasing_another_parameters_state(name, kwargs, rng):
    def bad(o, p, g):
        buf = sorted(o.state[2])[0]
        g[1] = o.state[2][buf].reshape(-1)[2:]    # (4,) float64 inside the state of param 2
        return g
    opt, _ = setup_optimizer(name, kwargs, rng)
    if not opt.state[2]:
        pytest.skip("no state buffer")
    assert_rejected(name, kwargs, rng, bad, ValueError, "shares memory")


def test_partially_overlapping_gradient(rng):
    base = rng.standard_normal(30)
    p = base[:10]
    opt = fastlr.SGD([p], lr=0.1)
    snap = snapshot(opt, [p])
    with pytest.raises(ValueError, match="shares memory"):
        opt.step([base[5:15]])
    assert_unchanged(opt, [p], snap)
    opt.step([base[10:20]])                  # adjacent, not overlapping: accepted


UNSUPPORTED = [[1.0, 2.0, 3.0], "abc", 3.0, {"values": 1}, object()]


@pytest.mark.parametrize("bad", UNSUPPORTED, ids=["list", "str", "float", "dict", "object"])
def test_unsupported_gradient_object_for_a_2d_parameter(bad, rng):
    assert_rejected("Adam", dict(lr=1e-2), rng, _replace(2, bad), TypeError)


@pytest.mark.xfail(strict=True, reason="BUG (minor): for a 1-D parameter an unsupported "
                   "gradient object (list, str, ...) raises ValueError('a row gradient needs a "
                   "2-D parameter') instead of TypeError")
@pytest.mark.parametrize("bad", UNSUPPORTED, ids=["list", "str", "float", "dict", "object"])
def test_unsupported_gradient_object_for_a_1d_parameter(bad, rng):
    assert_rejected("Adam", dict(lr=1e-2), rng, _replace(3, bad), TypeError)


@pytest.mark.parametrize("bad", UNSUPPORTED, ids=["list", "str", "float", "dict", "object"])
def test_unsupported_gradient_object_for_a_1d_parameter_is_rejected(bad, rng):
    """Whatever the exception class, the step is refused and nothing changes."""
    assert_rejected("Adam", dict(lr=1e-2), rng, _replace(3, bad), (TypeError, ValueError))


@pytest.mark.parametrize("name, kwargs", TABLE_SMALL)
def test_bad_gradient_in_the_last_bucket_leaves_the_first_untouched(name, kwargs, rng):
    """Two-phase step: the first buckets are not updated when a later gradient is bad."""
    def bad(o, p, g):
        g[3] = g[3].astype(np.float64)
        return g
    assert_rejected(name, kwargs, rng, bad, TypeError)


def test_grads_may_be_a_tuple(rng):
    params = [rng.standard_normal(3), rng.standard_normal(2)]
    twin = copies(params)
    a, b = fastlr.Adam(params), fastlr.Adam(twin)
    g = random_grads(rng, params)
    a.step(tuple(g))
    b.step(list(g))
    for p, q in zip(params, twin):
        assert_bitwise(p, q, "param")
