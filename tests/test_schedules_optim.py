"""Schedules driving real fastlr optimizers (skipped until fastlr.SGD / fastlr.Adam exist).

Contract (DESIGN.md §2, §4): ``lr`` (and SGD's ``momentum``, Adam's ``betas[0]``) accept a float or
a schedule; update k (k = 0, 1, ...) uses ``schedule(k)``; ``opt.step_count`` counts completed
steps and is part of ``state_dict()``, so a resumed optimizer continues the schedule exactly.
"""

import pickle

import numpy as np
import pytest

import fastlr
import fastlr.schedules as S

if not (hasattr(fastlr, "SGD") and hasattr(fastlr, "Adam")):
    pytest.skip("fastlr.SGD / fastlr.Adam are not available on this branch yet",
                allow_module_level=True)

N = 40


def _grads(shape, n, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(shape) for _ in range(n)]


def _param(shape=(7, 5), seed=1):
    return np.random.default_rng(seed).standard_normal(shape)


SCHEDULES = [
    S.warmup(S.cosine(0.1, 30, 1e-3), 5, 0.1),
    S.one_cycle(0.2, N),
    S.multistep(0.05, [7, 20], 0.5) * S.linear(1.0, 0.5, 1.0, 10),
]


@pytest.mark.parametrize("sched", SCHEDULES, ids=[repr(s)[:40] for s in SCHEDULES])
def test_sgd_lr_schedule_matches_hand_loop(sched):
    p = _param()
    expected = p.copy()
    grads = _grads(p.shape, N)
    opt = fastlr.SGD([p], lr=sched)
    for k, g in enumerate(grads):
        opt.step([g])
        expected -= sched(k) * g
    assert opt.step_count == N
    np.testing.assert_allclose(p, expected, rtol=1e-14, atol=0)


def test_sgd_momentum_schedule_matches_hand_loop():
    lr, mom = S.cosine(0.05, N), S.linear(0.95, 1.0, 0.85 / 0.95, N)
    p = _param()
    expected = p.copy()
    buf = None
    opt = fastlr.SGD([p], lr=lr, momentum=mom)
    for k, g in enumerate(_grads(p.shape, N, seed=3)):
        opt.step([g])
        buf = g.copy() if buf is None else mom(k) * buf + g
        expected -= lr(k) * buf
    np.testing.assert_allclose(p, expected, rtol=1e-13, atol=0)


def test_adam_beta1_schedule_matches_torch_with_betas_set_each_step():
    torch = pytest.importorskip("torch")
    lr, beta1 = S.one_cycle(0.01, N), S.cosine(0.95, N, 0.85)
    p = _param()
    tp = torch.nn.Parameter(torch.tensor(p.copy()))
    topt = torch.optim.Adam([tp], lr=0.01)
    opt = fastlr.Adam([p], lr=lr, betas=(beta1, 0.999))
    for k, g in enumerate(_grads(p.shape, N, seed=4)):
        topt.param_groups[0]["lr"] = lr(k)
        topt.param_groups[0]["betas"] = (beta1(k), 0.999)
        tp.grad = torch.tensor(g)
        topt.step()
        opt.step([g])
    np.testing.assert_allclose(p, tp.detach().numpy(), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("make", [
    lambda p, s: fastlr.SGD([p], lr=s, momentum=0.9),
    lambda p, s: fastlr.Adam([p], lr=s),
], ids=["sgd", "adam"])
def test_state_dict_resume_mid_schedule_is_bit_for_bit(make):
    sched = S.warmup(S.cosine_restarts(0.05, 8, 2, 1e-4), 4, 0.0)
    grads = _grads((6, 3), N, seed=5)

    p_full = _param((6, 3))
    full = make(p_full, sched)
    for g in grads:
        full.step([g])

    p_a = _param((6, 3))
    a = make(p_a, sched)
    for g in grads[:17]:
        a.step([g])
    blob = pickle.dumps((p_a.copy(), a.state_dict()))
    p_saved, state = pickle.loads(blob)
    b = make(p_saved, sched)
    b.load_state_dict(state)
    assert b.step_count == 17
    for g in grads[17:]:
        b.step([g])
    assert p_saved.tobytes() == p_full.tobytes()
    assert b.step_count == full.step_count == N


def test_plateau_scales_a_scheduled_lr_inside_the_optimizer():
    sched = S.cosine(0.1, N)
    p = _param()
    opt = fastlr.SGD([p], lr=sched)
    plateau = S.ReduceLROnPlateau(opt, patience=0, factor=0.5)
    grads = _grads(p.shape, N, seed=6)
    expected = p.copy()
    scale = 1.0
    for k, g in enumerate(grads):
        opt.step([g])
        expected -= sched(k) * scale * g if scale != 1.0 else sched(k) * g
        plateau.step(1.0)  # never improves after the first: a reduction at every step k >= 1
        old, new = sched(k + 1) * scale, sched(k + 1) * scale * 0.5  # PyTorch's eps rule
        if k >= 1 and old - new > 1e-8:
            scale *= 0.5
    np.testing.assert_allclose(p, expected, rtol=1e-13, atol=0)
    assert opt.param_groups[0]["lr"] is sched
