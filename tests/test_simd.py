"""The portable and the AVX2 builds of the kernels give bit-identical results."""
import importlib.util

import numpy as np
import pytest

import fastlr
import fastlr.optim._base as base
from fastlr._kernels import _dense as portable

CONFIGS = [
    ("SGD", dict(lr=0.05, momentum=0.9, dampening=0.1, weight_decay=0.01)),
    ("SGD", dict(lr=0.05, momentum=0.9, nesterov=True, maximize=True)),
    ("Adam", dict(lr=0.01, weight_decay=0.1)),
    ("Adam", dict(lr=0.01, amsgrad=True, betas=(0.3, 0.9), maximize=True)),
    ("AdamW", dict(lr=0.01, amsgrad=True)),
    ("RMSprop", dict(lr=0.01, centered=True, momentum=0.5, weight_decay=0.1)),
    ("RMSprop", dict(lr=0.01, alpha=0.3)),
    ("Adagrad", dict(lr=0.1, lr_decay=0.01, initial_accumulator_value=0.1, weight_decay=0.1)),
    ("Adadelta", dict(lr=1.0, rho=0.8, weight_decay=0.1)),
]

avx2_available = (importlib.util.find_spec("fastlr._kernels._dense_avx2") is not None
                  and importlib.import_module("fastlr._kernels._cpu").has_avx2())


def _train(name, kw, dtype, module, monkeypatch, steps=30):
    rng = np.random.default_rng(7)
    params = [rng.standard_normal(n).astype(dtype) for n in (1, 37, 70001)]
    opt = getattr(fastlr, name)(params, **kw)
    monkeypatch.setattr(base, "_dense", module)
    for _ in range(steps):
        opt.step([rng.standard_normal(p.shape).astype(dtype) for p in params])
    return params, opt.state


@pytest.mark.skipif(not avx2_available, reason="no AVX2 build or CPU")
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name,kw", CONFIGS)
def test_avx2_build_is_bitwise_identical(name, kw, dtype, monkeypatch):
    avx2 = importlib.import_module("fastlr._kernels._dense_avx2")
    p1, s1 = _train(name, kw, dtype, portable, monkeypatch)
    p2, s2 = _train(name, kw, dtype, avx2, monkeypatch)
    for a, b in zip(p1, p2):
        np.testing.assert_array_equal(a, b)
    for i in s1:
        for key in s1[i]:
            np.testing.assert_array_equal(s1[i][key], s2[i][key])


def test_simd_level_is_reported():
    from fastlr._simd import simd_level
    assert simd_level() in ("avx2", "portable")


@pytest.mark.skipif(not (importlib.util.find_spec("fastlr._kernels._schedules_avx2") is not None
                         and importlib.import_module("fastlr._kernels._cpu").has_avx2()),
                    reason="no AVX2 build or CPU")
def test_avx2_schedules_are_bitwise_identical(monkeypatch):
    import fastlr.schedules._base as sbase
    from fastlr import schedules as S
    steps = np.concatenate([np.arange(0, 30000), [10**6, 10**9, 10**12]])

    def build():
        return [S.cosine(0.1, 9500, eta_min=1e-4), S.warmup(S.cosine(0.1, 9500), 500, 0.01),
                S.one_cycle(0.1, 20000), S.cosine_restarts(0.1, 10, T_mult=2),
                S.warmup_stable_decay(0.1, 100, 1000, 5000)]

    avx2 = [s(steps) for s in build()]
    monkeypatch.setattr(sbase, "_k", importlib.import_module("fastlr._kernels._schedules"))
    portable = [s(steps) for s in build()]
    for a, b in zip(avx2, portable):
        np.testing.assert_array_equal(a, b)


ROW_CONFIGS = CONFIGS + [("RowwiseAdagrad", dict(lr=0.1, weight_decay=0.1, maximize=True)),
                         ("RowwiseAdagrad", dict(lr=0.1))]


def _train_rows(name, kw, dtype, module, monkeypatch, steps=20):
    rng = np.random.default_rng(8)
    params = [rng.standard_normal(shape).astype(dtype) for shape in ((400, 37), (400, 1))]
    opt = getattr(fastlr, name)(params, **kw)
    monkeypatch.setattr(base, "_row_kernels", module)
    for _ in range(steps):
        idx = (rng.zipf(1.2, 700) - 1) % 400
        opt.step([fastlr.RowGrad(idx, rng.standard_normal((700, p.shape[1])).astype(dtype))
                  for p in params])
    return params, opt.state


@pytest.mark.skipif(not (importlib.util.find_spec("fastlr._kernels._rows_avx2") is not None
                         and importlib.import_module("fastlr._kernels._cpu").has_avx2()),
                    reason="no AVX2 build or CPU")
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name,kw", ROW_CONFIGS)
def test_avx2_row_kernels_are_bitwise_identical(name, kw, dtype, monkeypatch):
    p1, s1 = _train_rows(name, kw, dtype, importlib.import_module("fastlr._kernels._rows"),
                         monkeypatch)
    p2, s2 = _train_rows(name, kw, dtype, importlib.import_module("fastlr._kernels._rows_avx2"),
                         monkeypatch)
    for a, b in zip(p1, p2):
        np.testing.assert_array_equal(a, b)
    for i in s1:
        for key in s1[i]:
            np.testing.assert_array_equal(s1[i][key], s2[i][key])
