"""Shared fixtures and the one table of optimizer configurations every dense check runs over.

The table (``OPTIMIZERS``) follows optax's test layout: each row is a named configuration
``(id, class name, kwargs)`` and every cross-cutting test (reference parity, torch parity,
state dicts, thread determinism, validation of gradients, properties) is parametrized over it.
Together the rows switch on every option of every optimizer at least once.

Helpers here are imported by the test modules (``from conftest import ...``): ``tests/`` has no
``__init__.py``, so pytest puts this directory on ``sys.path`` and ``import fastlr`` resolves to
the installed package.
"""
from __future__ import annotations

import copy
import os
from typing import Any, Sequence

import numpy as np
import pytest

import fastlr
import fastlr.reference.optim as reference
from fastlr._threads import PARALLEL_MIN_ELEMENTS
from fastlr.optim._base import BLOCK_ELEMENTS

# ---------------------------------------------------------------------------------- the table
#: (id, optimizer class name, constructor kwargs).  Learning rates are larger than the defaults
#: so that 100 steps move the parameters visibly.
OPTIMIZERS: list[tuple[str, str, dict[str, Any]]] = [
    # SGD: momentum 0 / 0.9, dampening, nesterov, weight decay, maximize
    ("sgd", "SGD", dict(lr=0.05)),
    ("sgd-wd", "SGD", dict(lr=0.05, weight_decay=0.01)),
    ("sgd-maximize", "SGD", dict(lr=0.05, maximize=True)),
    ("sgd-momentum", "SGD", dict(lr=0.05, momentum=0.9)),
    ("sgd-dampening", "SGD", dict(lr=0.05, momentum=0.9, dampening=0.3)),
    ("sgd-nesterov", "SGD", dict(lr=0.05, momentum=0.9, nesterov=True)),
    ("sgd-nesterov-wd-maximize", "SGD",
     dict(lr=0.02, momentum=0.5, nesterov=True, weight_decay=0.1, maximize=True)),
    ("sgd-momentum-wd-dampening-maximize", "SGD",
     dict(lr=0.02, momentum=0.7, dampening=0.5, weight_decay=0.05, maximize=True)),
    # Adam: amsgrad, L2 weight decay, maximize, beta1 >= 0.5 and < 0.5 (torch's two lerp forms)
    ("adam", "Adam", dict(lr=1e-2)),
    ("adam-amsgrad", "Adam", dict(lr=1e-2, amsgrad=True)),
    ("adam-wd", "Adam", dict(lr=1e-2, weight_decay=0.1)),
    ("adam-maximize", "Adam", dict(lr=1e-2, maximize=True)),
    ("adam-beta1-0.5", "Adam", dict(lr=1e-2, betas=(0.5, 0.99))),
    ("adam-beta1-small", "Adam", dict(lr=1e-2, betas=(0.2, 0.9), eps=1e-6)),
    ("adam-beta1-0", "Adam", dict(lr=1e-2, betas=(0.0, 0.99))),
    ("adam-amsgrad-wd-maximize", "Adam",
     dict(lr=3e-3, betas=(0.8, 0.95), weight_decay=0.05, amsgrad=True, maximize=True)),
    ("adam-decoupled", "Adam", dict(lr=1e-2, weight_decay=0.1, decoupled_weight_decay=True)),
    # AdamW: default decay, amsgrad, larger decay, maximize, small beta1
    ("adamw", "AdamW", dict(lr=1e-2)),
    ("adamw-amsgrad", "AdamW", dict(lr=1e-2, weight_decay=0.1, amsgrad=True)),
    ("adamw-wd0-maximize", "AdamW", dict(lr=1e-2, weight_decay=0.0, maximize=True)),
    ("adamw-beta1-small-amsgrad", "AdamW",
     dict(lr=1e-2, betas=(0.3, 0.9), weight_decay=0.05, amsgrad=True)),
    # RMSprop: centered, momentum, weight decay, maximize, alpha (incl. alpha < 0.5: lerp form)
    ("rmsprop", "RMSprop", dict(lr=1e-2)),
    ("rmsprop-centered", "RMSprop", dict(lr=1e-2, centered=True)),
    ("rmsprop-momentum", "RMSprop", dict(lr=1e-2, momentum=0.9)),
    ("rmsprop-centered-momentum", "RMSprop", dict(lr=1e-3, centered=True, momentum=0.5)),
    ("rmsprop-wd-maximize", "RMSprop", dict(lr=1e-2, weight_decay=0.1, maximize=True)),
    ("rmsprop-alpha-small-centered", "RMSprop",
     dict(lr=1e-3, alpha=0.3, eps=1e-6, centered=True)),
    ("rmsprop-all", "RMSprop",
     dict(lr=1e-3, alpha=0.9, weight_decay=0.01, momentum=0.3, centered=True, maximize=True)),
    # Adagrad: lr_decay, initial accumulator, weight decay, eps, maximize
    ("adagrad", "Adagrad", dict(lr=0.05)),
    ("adagrad-lr-decay", "Adagrad", dict(lr=0.05, lr_decay=0.01)),
    ("adagrad-init-acc", "Adagrad", dict(lr=0.05, initial_accumulator_value=0.1)),
    ("adagrad-wd", "Adagrad", dict(lr=0.05, weight_decay=0.1)),
    ("adagrad-eps-maximize", "Adagrad", dict(lr=0.05, eps=1e-4, maximize=True)),
    ("adagrad-all", "Adagrad",
     dict(lr=0.05, lr_decay=0.1, weight_decay=0.01, initial_accumulator_value=0.5,
          eps=1e-6, maximize=True)),
    # Adadelta: rho, weight decay, maximize, lr, eps
    ("adadelta", "Adadelta", dict()),
    ("adadelta-rho-lr", "Adadelta", dict(lr=0.5, rho=0.5)),
    ("adadelta-wd-maximize", "Adadelta", dict(lr=1.0, weight_decay=0.1, maximize=True)),
    ("adadelta-eps", "Adadelta", dict(lr=2.0, rho=0.95, eps=1e-4)),
]

#: the six optimizer classes (by name)
NAMES = ("SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "Adadelta")

#: one parametrization entry per row of the table: (name, kwargs) with a readable id
TABLE = [pytest.param(name, kwargs, id=cid) for cid, name, kwargs in OPTIMIZERS]
#: a few rows, one per optimizer class with its options on, for the more expensive checks
TABLE_SMALL = [pytest.param(name, kwargs, id=cid) for cid, name, kwargs in OPTIMIZERS
               if cid in ("sgd-momentum-wd-dampening-maximize", "sgd-nesterov",
                          "adam-amsgrad-wd-maximize", "adamw-beta1-small-amsgrad",
                          "rmsprop-all", "adagrad-all", "adadelta-wd-maximize")]

DTYPES = [pytest.param(np.float32, id="f32"), pytest.param(np.float64, id="f64")]

#: a size above both the serial threshold and one work block, and not a multiple of a block
LARGE = 40001
assert LARGE > PARALLEL_MIN_ELEMENTS and LARGE > 2 * BLOCK_ELEMENTS and LARGE % BLOCK_ELEMENTS

#: parameter shapes of one optimizer: empty, one element, odd, n-d (mixed in one optimizer)
SMALL_SHAPES = [(0,), (1,), (37,), (3, 5, 7), (2, 0, 3)]


# ---------------------------------------------------------------------------------- hypothesis
try:
    from hypothesis import HealthCheck, settings

    # "fastlr" (default): quick enough for CI; HYPOTHESIS_PROFILE=thorough for a long bug hunt.
    settings.register_profile("fastlr", max_examples=40, deadline=None,
                              suppress_health_check=[HealthCheck.too_slow])
    settings.register_profile("thorough", max_examples=2000, deadline=None,
                              suppress_health_check=[HealthCheck.too_slow])
    settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "fastlr"))
except ImportError:  # the property tests skip themselves
    pass


# ---------------------------------------------------------------------------------- fixtures
@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(20240607)


@pytest.fixture(autouse=True)
def _restore_threads():
    """Every test starts and ends with fastlr's default thread count."""
    fastlr.set_num_threads(None)
    yield
    fastlr.set_num_threads(None)


def pytest_report_header(config):
    """Say which fastlr is under test (CI tests the installed package, not the source tree)."""
    from fastlr._simd import simd_level
    where = os.path.dirname(fastlr.__file__)
    return [f"fastlr {fastlr.__version__} from {where} (openmp={fastlr.openmp_enabled()}, "
            f"threads={fastlr.get_num_threads()}, simd={simd_level()})"]


# ---------------------------------------------------------------------------------- helpers
def make(name: str, params: Any, kwargs: dict[str, Any]) -> fastlr.Optimizer:
    return getattr(fastlr, name)(params, **kwargs)


def make_reference(name: str, params: Any, kwargs: dict[str, Any]):
    return getattr(reference, name)(params, **kwargs)


def random_params(rng: np.random.Generator, shapes: Sequence[tuple[int, ...]],
                  dtype: Any) -> list[np.ndarray]:
    return [rng.standard_normal(s).astype(dtype) for s in shapes]


def random_grad(rng: np.random.Generator, shape: tuple[int, ...], dtype: Any) -> np.ndarray:
    """Normal entries times a per-call scale over three decades, with ~5% exact zeros."""
    scale = 10.0 ** rng.uniform(-2, 1)
    g = rng.standard_normal(shape) * scale
    g[rng.random(shape) < 0.05] = 0.0
    return g.astype(dtype)


def random_grads(rng: np.random.Generator, params: Sequence[np.ndarray]) -> list[np.ndarray]:
    return [random_grad(rng, p.shape, p.dtype) for p in params]


class GradStream:
    """Cheap random gradients for big parameters: a small pool of random arrays, each step one
    of them times a fresh scale over three decades (so no two steps repeat)."""

    def __init__(self, rng: np.random.Generator, params: Sequence[np.ndarray], pool: int = 3):
        self.rng = rng
        self.pools = [[random_grad(rng, p.shape, p.dtype) for _ in range(pool)] for p in params]

    def __call__(self, t: int) -> list[np.ndarray]:
        out = []
        for pool in self.pools:
            g = pool[t % len(pool)]
            out.append(g * g.dtype.type(10.0 ** self.rng.uniform(-1, 1)))
        return out


def copies(arrays: Sequence[np.ndarray]) -> list[np.ndarray]:
    return [a.copy() for a in arrays]


def assert_bitwise(actual: np.ndarray, desired: np.ndarray, what: str) -> None:
    """Equal bit for bit (same dtype and shape; -0.0 differs from 0.0; NaNs in the same places,
    whatever their payload, which neither NumPy nor the kernels promise)."""
    assert actual.dtype == desired.dtype, f"{what}: dtype {actual.dtype} != {desired.dtype}"
    assert actual.shape == desired.shape, f"{what}: shape {actual.shape} != {desired.shape}"
    uint = np.uint32 if actual.dtype == np.float32 else np.uint64
    a = np.ascontiguousarray(actual).view(uint)
    d = np.ascontiguousarray(desired).view(uint)
    if np.array_equal(a, d):
        return
    nan = np.isnan(actual)
    np.testing.assert_array_equal(nan, np.isnan(desired), err_msg=f"{what}: NaN pattern")
    bad = np.flatnonzero((a != d).ravel() & ~nan.ravel())
    if bad.size:
        k = int(bad[0])
        raise AssertionError(
            f"{what}: {bad.size} of {a.size} elements differ; first at flat index {k}: "
            f"{actual.ravel()[k]!r} != {desired.ravel()[k]!r}")


def assert_matches_reference(opt, ref, params: Sequence[np.ndarray],
                             ref_params: Sequence[np.ndarray], where: str = "") -> None:
    """Parameters and every state buffer of ``opt`` equal the reference's bit for bit."""
    for i, (p, q) in enumerate(zip(params, ref_params)):
        assert_bitwise(p, q, f"{where}param {i}")
    assert set(opt.state) == set(ref.state), f"{where}state keys {set(opt.state)} vs " \
                                              f"{set(ref.state)}"
    for i, st in ref.state.items():
        names = {k for k in st if k != "step"}
        assert set(opt.state[i]) == names, f"{where}state {i}: {set(opt.state[i])} != {names}"
        for k in names:
            assert_bitwise(opt.state[i][k], st[k], f"{where}state[{i}][{k!r}]")
    sd = opt.state_dict()["state"]
    for i, st in ref.state.items():
        assert sd[i]["step"] == st["step"], f"{where}step of param {i}"


def snapshot(opt, params: Sequence[np.ndarray]) -> dict[str, Any]:
    """Deep copy of everything a failed call must leave untouched."""
    return dict(params=copies(params),
                state={i: {k: v.copy() for k, v in st.items()} for i, st in opt.state.items()},
                groups=copy.deepcopy([{k: v for k, v in g.items() if k != "params"}
                                      for g in opt.param_groups]),
                sd=copy.deepcopy(opt.state_dict()))


def assert_unchanged(opt, params: Sequence[np.ndarray], snap: dict[str, Any]) -> None:
    for i, (p, q) in enumerate(zip(params, snap["params"])):
        assert_bitwise(p, q, f"param {i} after a rejected call")
    assert set(opt.state) == set(snap["state"]), "state entries appeared or vanished"
    for i, st in snap["state"].items():
        assert set(opt.state[i]) == set(st)
        for k, v in st.items():
            assert_bitwise(opt.state[i][k], v, f"state[{i}][{k!r}] after a rejected call")
    groups = [{k: v for k, v in g.items() if k != "params"} for g in opt.param_groups]
    assert groups == snap["groups"]
    sd = opt.state_dict()
    assert sd["step_count"] == snap["sd"]["step_count"]
    assert {i: e["step"] for i, e in sd["state"].items()} == \
        {i: e["step"] for i, e in snap["sd"]["state"].items()}


# ---------------------------------------------------------------------------------- torch
def torch_optimizer(torch, name: str, tensors: list, kwargs: dict[str, Any]):
    """The torch.optim twin of a table row, on its single-tensor (for-loop) path."""
    return getattr(torch.optim, name)(tensors, foreach=False, **kwargs)


def torch_step(torch, topt, tensors: list, grads: Sequence[np.ndarray | None]) -> None:
    for t, g in zip(tensors, grads):
        t.grad = None if g is None else torch.from_numpy(np.array(g, copy=True))
    topt.step()


def assert_close_to_torch(actual: np.ndarray, desired: np.ndarray, what: str) -> None:
    """PyTorch parity: rtol 1e-10 (float64) / 1e-5 (float32), atol = rtol x max|desired|."""
    rtol = 1e-10 if actual.dtype == np.float64 else 1e-5
    assert actual.dtype == desired.dtype, what
    finite = np.isfinite(desired)
    np.testing.assert_array_equal(np.isnan(actual), np.isnan(desired), err_msg=f"{what}: NaN")
    np.testing.assert_array_equal(np.isposinf(actual), np.isposinf(desired),
                                  err_msg=f"{what}: +inf")
    np.testing.assert_array_equal(np.isneginf(actual), np.isneginf(desired),
                                  err_msg=f"{what}: -inf")
    if finite.any():
        scale = float(np.abs(desired[finite]).max())
        np.testing.assert_allclose(actual[finite], desired[finite], rtol=rtol, atol=rtol * scale,
                                   err_msg=what)
