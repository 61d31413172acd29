"""The compiled dense kernels agree with the pure-NumPy reference bit for bit.

Every row of the optimizer table x float32/float64, over 100 steps of random gradients:
parameters of size 0, 1, odd and n-d in one optimizer (with an empty parameter alone in its own
group), and a parameter above the threading threshold on 1 and 2 threads.  Params and every
state buffer are compared after every step (every 10th for the large one), so a failure names
the first step that differs.  (Below the threshold the kernels are serial whatever the thread
count, so the small cases run once; ``test_threads.py`` checks 1 == 2 == 3 threads bitwise.)
"""
from __future__ import annotations

import warnings

import numpy as np
import pytest

import fastlr
from fastlr.optim._base import BLOCK_ELEMENTS
from conftest import (DTYPES, LARGE, GradStream, SMALL_SHAPES, TABLE, TABLE_SMALL, assert_bitwise,
                      assert_matches_reference, copies, make, make_reference, random_grad,
                      random_grads, random_params)

STEPS = 100


def run_against_reference(name, kwargs, params, rng, steps=STEPS, grads_fn=None, edit=None,
                          groups=None, check_every=1):
    """Step fastlr and the reference side by side and compare them.

    ``groups(params)`` turns a list of arrays into param groups (the same for both).
    """
    ref_params = copies(params)
    opt = make(name, groups(params) if groups else params, kwargs)
    ref = make_reference(name, groups(ref_params) if groups else ref_params, kwargs)
    for t in range(steps):
        grads = grads_fn(t) if grads_fn else random_grads(rng, params)
        if edit is not None:
            edit(t, opt)
            edit(t, ref)
        keep = [None if g is None else g.copy() for g in grads]
        with warnings.catch_warnings():
            warnings.simplefilter("error")      # the kernels never warn (not even on NaN)
            opt.step(grads)
        with np.errstate(all="ignore"):
            ref.step(grads)
        if (t + 1) % check_every == 0 or t + 1 == steps:
            assert_matches_reference(opt, ref, params, ref_params, where=f"step {t + 1}: ")
        for g, k in zip(grads, keep):   # the gradients are never written
            if g is not None:
                assert_bitwise(g, k, "gradient")
    return opt, ref


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name, kwargs", TABLE)
def test_small_shapes_match_reference(name, kwargs, dtype, rng):
    """Sizes 0, 1, odd and n-d; the first, empty parameter alone in its own group (a bucket
    with nothing to do)."""
    params = random_params(rng, SMALL_SHAPES, dtype)
    assert params[0].size == 0

    def groups(ps):
        return [{"params": ps[:1]}, {"params": ps[1:]}]

    opt, _ = run_against_reference(name, kwargs, params, rng, groups=groups)
    assert opt.state_dict()["state"][0]["step"] == STEPS


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name, kwargs", TABLE)
def test_single_element_matches_reference(name, kwargs, dtype, rng):
    params = random_params(rng, [(1,)], dtype)
    run_against_reference(name, kwargs, params, rng)


def sample_indices(n: int, rng) -> np.ndarray:
    """Elements around every work-block boundary, both ends, and a random sample."""
    edges = np.arange(0, n + BLOCK_ELEMENTS, BLOCK_ELEMENTS)
    near = (edges[:, None] + np.arange(-40, 40)).ravel()
    idx = np.concatenate([near, rng.choice(n, 1000, replace=False)])
    return np.unique(idx[(idx >= 0) & (idx < n)])


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name, kwargs", TABLE)
def test_large_parameter_matches_reference(name, kwargs, dtype, threads, rng):
    """Above PARALLEL_MIN_ELEMENTS: several work blocks and a ragged last block.

    The updates are elementwise, so the reference run on a subset of the elements (every
    block boundary and a random sample) must reproduce those elements of the full run bit for
    bit; the full reference runs in ``test_large_parameter_full_reference``.
    """
    fastlr.set_num_threads(threads)
    params = random_params(rng, [(LARGE,), (3,)], dtype)
    idx = sample_indices(LARGE, rng)
    ref_params = [params[0][idx], params[1].copy()]
    opt = make(name, params, kwargs)
    ref = make_reference(name, ref_params, kwargs)
    stream = GradStream(rng, params)
    for t in range(STEPS):
        grads = stream(t)
        opt.step(grads)
        ref.step([grads[0][idx], grads[1]])
        if (t + 1) % 10 == 0:
            where = f"step {t + 1}: "
            assert_bitwise(params[0][idx], ref_params[0], where + "param 0 (sampled)")
            assert_bitwise(params[1], ref_params[1], where + "param 1")
            for i in (0, 1):
                for k, v in ref.state[i].items():
                    if k != "step":
                        mine = opt.state[i][k][idx] if i == 0 else opt.state[i][k]
                        assert_bitwise(mine, v, f"{where}state[{i}][{k!r}]")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name, kwargs", TABLE_SMALL)
def test_large_parameter_full_reference(name, kwargs, dtype, rng):
    """Every element of a parameter above the threshold, on 2 threads, against the reference."""
    fastlr.set_num_threads(2)
    params = random_params(rng, [(LARGE,), (3,)], dtype)
    run_against_reference(name, kwargs, params, rng, grads_fn=GradStream(rng, params),
                          check_every=10)


@pytest.mark.parametrize("name, kwargs", TABLE)
def test_param_groups_and_mixed_dtypes_match_reference(name, kwargs, rng):
    """Two groups with different hyper-parameters, float32 and float64 mixed in each group."""
    params = [rng.standard_normal(s).astype(dt) for s, dt in
              [((5,), np.float32), ((4, 3), np.float64), ((7,), np.float64), ((2, 2), np.float32),
               ((1,), np.float32)]]
    other = dict(lr=kwargs.get("lr", 1e-2) * 0.3)
    other["weight_decay"] = 0.02
    if name == "SGD" and kwargs.get("nesterov"):
        other["momentum"] = 0.3
    groups = [{"params": params[:3], **other}, {"params": params[3:]}]
    ref_params = copies(params)
    ref_groups = [{"params": ref_params[:3], **other}, {"params": ref_params[3:]}]
    opt = make(name, groups, kwargs)
    ref = make_reference(name, ref_groups, kwargs)
    assert opt.param_groups[0]["weight_decay"] == 0.02
    for t in range(STEPS):
        grads = random_grads(rng, params)
        opt.step(grads)
        ref.step(grads)
        assert_matches_reference(opt, ref, params, ref_params, where=f"step {t + 1}: ")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name, kwargs", TABLE_SMALL)
def test_many_small_tensors_match_per_tensor_reference(name, kwargs, dtype, rng):
    """Multi-tensor dispatch: 200 tensors of 100 elements in one call, each equal to the
    reference run on that tensor alone."""
    params = random_params(rng, [(100,)] * 200, dtype)
    singles = copies(params)
    opt = make(name, params, kwargs)
    refs = [make_reference(name, [q], kwargs) for q in singles]
    for _ in range(20):
        grads = random_grads(rng, params)
        opt.step(grads)
        for r, g in zip(refs, grads):
            r.step([g])
    for i, (p, q) in enumerate(zip(params, singles)):
        assert_bitwise(p, q, f"tensor {i}")
        for k, v in refs[i].state[0].items():
            if k != "step":
                assert_bitwise(opt.state[i][k], v, f"state[{i}][{k!r}]")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name, kwargs", TABLE)
def test_none_grads_skip_parameters(name, kwargs, dtype, rng):
    """A None gradient skips its parameter: per-parameter step counts, as in PyTorch."""
    params = random_params(rng, [(6,), (5,), (4,)], dtype)
    # param 1 skips the first two steps, every third step and some more; param 2 starts at 10
    pattern = rng.random((STEPS, 3)) < 0.25
    counts = [0, 0, 0]

    def grads_fn(t):
        gs = random_grads(rng, params)
        if t < 2 or t % 3 == 0 or pattern[t, 1]:
            gs[1] = None
        if t < 10 or pattern[t, 2]:
            gs[2] = None
        for j, g in enumerate(gs):
            counts[j] += g is not None
        return gs

    opt, _ = run_against_reference(name, kwargs, params, rng, grads_fn=grads_fn)
    steps = [e["step"] for _, e in sorted(opt.state_dict()["state"].items())]
    assert steps == counts
    assert counts[0] == STEPS and 0 < counts[1] < STEPS and 0 < counts[2] < counts[0]


@pytest.mark.parametrize("name, kwargs", TABLE)
def test_all_grads_none_is_a_no_op(name, kwargs, rng):
    params = random_params(rng, [(4,), (3,)], np.float64)
    before = copies(params)
    opt = make(name, params, kwargs)
    opt.step([None, None])
    for p, q in zip(params, before):
        assert_bitwise(p, q, "param")
    assert opt.state_dict()["step_count"] == 1
    assert all(e["step"] == 0 for e in opt.state_dict()["state"].values())


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name, kwargs", TABLE)
def test_editing_lr_between_steps(name, kwargs, dtype, rng):
    """param_groups[0]['lr'] is read at every step, as in PyTorch."""
    params = random_params(rng, [(9,), (2, 3)], dtype)
    lrs = kwargs.get("lr", 1.0) * 10.0 ** rng.uniform(-2, 0.5, STEPS)

    def edit(t, o):
        o.param_groups[0]["lr"] = float(lrs[t])

    opt, _ = run_against_reference(name, kwargs, params, rng, edit=edit)
    assert opt.param_groups[0]["lr"] == float(lrs[-1])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name, kwargs, key, values", [
    ("SGD", dict(lr=0.05, momentum=0.5), "momentum", (0.5, 0.9, 0.0, 0.7)),
    ("SGD", dict(lr=0.05, momentum=0.5, dampening=0.2), "dampening", (0.2, 0.0, 0.6, 0.1)),
    ("SGD", dict(lr=0.05), "weight_decay", (0.0, 0.1, 0.0, 0.3)),
    ("Adam", dict(lr=1e-2), "betas", ((0.9, 0.999), (0.3, 0.9), (0.5, 0.99), (0.0, 0.5))),
    ("Adam", dict(lr=1e-2), "eps", (1e-8, 1e-3, 1e-12, 0.1)),
    ("AdamW", dict(lr=1e-2), "weight_decay", (0.01, 0.5, 0.0, 0.1)),
    ("RMSprop", dict(lr=1e-2, momentum=0.5, centered=True), "alpha", (0.99, 0.3, 0.7, 0.9)),
    ("RMSprop", dict(lr=1e-2, momentum=0.5), "momentum", (0.5, 0.1, 0.9, 0.2)),
    ("RMSprop", dict(lr=1e-2), "maximize", (False, True, False, True)),
    ("Adagrad", dict(lr=0.05), "lr_decay", (0.0, 0.1, 0.01, 0.5)),
    ("Adadelta", dict(), "rho", (0.9, 0.5, 0.99, 0.1)),
], ids=lambda v: v if isinstance(v, str) else None)
def test_editing_other_hyper_parameters_between_steps(name, kwargs, key, values, dtype, rng):
    params = random_params(rng, [(11,), (3, 3)], dtype)

    def edit(t, o):
        o.param_groups[0][key] = values[(t // 10) % len(values)]

    run_against_reference(name, kwargs, params, rng, edit=edit, steps=40)


MOMENTUM_SWITCH_BUG = pytest.mark.xfail(
    strict=True, reason="BUG: fastlr.SGD zero-initializes the momentum buffer when momentum is "
    "switched on after step 1, so the first momentum step uses (1 - dampening) * g instead of g "
    "(torch.optim.SGD and fastlr.reference clone the gradient)")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("dampening", [0.0, pytest.param(0.3, marks=MOMENTUM_SWITCH_BUG)])
def test_switching_sgd_momentum_on_later(dampening, dtype, rng):
    """PyTorch creates the momentum buffer from the gradient at the first step *with*
    momentum, also when momentum was 0 for the earlier steps."""
    params = random_params(rng, [(13,)], dtype)

    def edit(t, o):
        o.param_groups[0]["momentum"] = 0.0 if t < 5 else 0.9

    run_against_reference("SGD", dict(lr=0.05, momentum=0.0, dampening=dampening), params, rng,
                          edit=edit, steps=20)


@pytest.mark.parametrize("layout", ["strided", "fortran", "reversed"])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name, kwargs", TABLE_SMALL)
def test_non_contiguous_grads_give_the_same_result(name, kwargs, dtype, layout, rng):
    """Non-contiguous gradients are accepted (copied) and give the contiguous result."""
    shape = (6, 7)
    params = random_params(rng, [shape, (5,)], dtype)
    twin = copies(params)
    opt = make(name, params, kwargs)
    opt2 = make(name, twin, kwargs)
    for _ in range(20):
        g = random_grad(rng, shape, dtype)
        if layout == "strided":
            big = np.zeros((12, 7), dtype)
            big[::2] = g
            ng = big[::2]
        elif layout == "fortran":
            ng = np.asfortranarray(g)
        else:
            ng = g[::-1, ::-1].copy()[::-1, ::-1]
        assert not ng.flags.c_contiguous and np.array_equal(ng, g)
        keep = ng.copy()
        g1 = random_grad(rng, (5,), dtype)
        opt.step([ng, g1])
        opt2.step([g, g1])
        assert_bitwise(ng, keep, "non-contiguous gradient")
    for p, q in zip(params, twin):
        assert_bitwise(p, q, "param")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name, kwargs", TABLE)
def test_read_only_grads_are_accepted_and_not_written(name, kwargs, dtype, rng):
    params = random_params(rng, [(8,), (2, 5)], dtype)

    def grads_fn(t):
        gs = random_grads(rng, params)
        for g in gs:
            g.flags.writeable = False
        return gs

    run_against_reference(name, kwargs, params, rng, grads_fn=grads_fn, steps=10)


@pytest.mark.parametrize("mode", ["r", "r+", "c"])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name, kwargs", TABLE_SMALL)
def test_memmap_grads_are_accepted_and_never_written(name, kwargs, dtype, mode, rng, tmp_path):
    params = random_params(rng, [(40,), (3, 4)], dtype)
    steps = 5
    files = []
    for j, p in enumerate(params):
        data = np.stack([random_grad(rng, p.shape, dtype) for _ in range(steps)])
        path = tmp_path / f"g{j}.bin"
        data.tofile(path)
        files.append((path, data))
    maps = [np.memmap(path, dtype=dtype, mode=mode, shape=data.shape) for path, data in files]

    def grads_fn(t):
        return [m[t] for m in maps]

    run_against_reference(name, kwargs, params, rng, grads_fn=grads_fn, steps=steps)
    for path, data in files:  # the files on disk are untouched
        assert_bitwise(np.fromfile(path, dtype=dtype).reshape(data.shape), data, "file")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name, kwargs", TABLE)
def test_nan_and_inf_in_grads_match_reference(name, kwargs, dtype, rng):
    """NaN and +-Inf gradients propagate (no masking, no clipping) exactly as the reference."""
    params = random_params(rng, [(64,)], dtype)
    special = np.array([np.nan, np.inf, -np.inf], dtype)

    def grads_fn(t):
        g = random_grad(rng, (64,), dtype)
        if t % 4 == 1:
            idx = rng.choice(64, 3, replace=False)
            g[idx] = special
        return [g]

    run_against_reference(name, kwargs, params, rng, grads_fn=grads_fn, steps=20)
    assert not np.isfinite(params[0]).all()


@pytest.mark.parametrize("name, kwargs", TABLE)
def test_float32_close_to_float64(name, kwargs, rng):
    """The float32 kernels track the float64 ones (same data rounded to float32)."""
    p64 = random_params(rng, [(300,)], np.float64)
    p32 = [p.astype(np.float32) for p in p64]
    o64 = make(name, p64, kwargs)
    o32 = make(name, p32, kwargs)
    start = p64[0].copy()
    for _ in range(STEPS):
        g = random_grad(rng, (300,), np.float64)
        o64.step([g])
        o32.step([g.astype(np.float32)])
    assert not np.array_equal(p64[0], start)
    scale = np.abs(p64[0]).max()
    np.testing.assert_allclose(p32[0], p64[0], rtol=1e-3, atol=1e-3 * scale)
    for k, v in o64.state[0].items():
        np.testing.assert_allclose(o32.state[0][k], v, rtol=1e-3,
                                   atol=1e-3 * np.abs(v).max(), err_msg=k)


NUMPY_SCALAR_HYPER = [
    ("SGD", dict(lr=1, momentum=np.float64(0.9), weight_decay=np.float32(0.01))),
    ("Adam", dict(lr=np.float32(1e-2), betas=(np.float64(0.8), 0.99), eps=np.float64(1e-6))),
    ("Adam-list-betas", dict(lr=1e-2, betas=[np.float64(0.8), np.float64(0.99)])),
    ("RMSprop", dict(lr=np.float64(1e-2), alpha=np.float32(0.9), momentum=0)),
    ("Adagrad", dict(lr=np.float64(0.1), lr_decay=np.int64(1), initial_accumulator_value=1)),
    ("Adadelta", dict(lr=2, rho=np.float32(0.5), weight_decay=0)),
]
REFERENCE_LIST_BETAS_BUG = pytest.mark.xfail(
    strict=True, reason="BUG in fastlr.reference (not the kernels): betas given as a *list* of "
    "NumPy float64 scalars are left as NumPy scalars by reference._python_scalars (it converts "
    "tuples only), so under NEP 50 the float32 reference computes its step in float64; "
    "fastlr.Adam turns betas into a tuple of floats")


def _as_python(kwargs):
    return {k: (tuple(float(x) for x in v) if isinstance(v, (list, tuple)) else
                v if isinstance(v, bool) else float(v)) for k, v in kwargs.items()}


@pytest.mark.parametrize("name, kwargs", NUMPY_SCALAR_HYPER, ids=[n for n, _ in NUMPY_SCALAR_HYPER])
@pytest.mark.parametrize("dtype", DTYPES)
def test_integer_and_numpy_scalar_hyper_parameters(name, kwargs, dtype, rng):
    """ints and NumPy scalars are used at their value: the same bits as Python floats."""
    params = random_params(rng, [(10,), (2, 3)], dtype)
    twin = copies(params)
    name = name.split("-")[0]
    a, b = make(name, params, kwargs), make(name, twin, _as_python(kwargs))
    for _ in range(20):
        g = random_grads(rng, params)
        a.step(g)
        b.step(g)
    for p, q in zip(params, twin):
        assert_bitwise(p, q, "param")


@pytest.mark.parametrize("name, kwargs, dtype", [
    pytest.param(name, kwargs, dtype, id=f"{name}-{dt}",
                 marks=REFERENCE_LIST_BETAS_BUG if dt == "f32" and name == "Adam-list-betas"
                 else ())
    for name, kwargs in NUMPY_SCALAR_HYPER for dtype, dt in ((np.float32, "f32"),
                                                             (np.float64, "f64"))])
def test_numpy_scalar_hyper_parameters_match_reference(name, kwargs, dtype, rng):
    name = name.split("-")[0]
    params = random_params(rng, [(10,), (2, 3)], dtype)
    run_against_reference(name, kwargs, params, rng, steps=20)
