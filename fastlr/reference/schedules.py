"""Pure-NumPy learning-rate schedules: the readable twin of ``fastlr.schedules``.

Each function takes an int64 array of steps ``t >= 0`` and the factory's arguments and returns a
float64 array, written straight from the formulas in ``fastlr.schedules`` (and
``docs/schedules.md``).  No validation: these are the test oracle and the "pure NumPy" baseline
of the benchmarks, not a user API.  Composition takes callables ``f(t) -> array``.

Examples
--------
>>> import numpy as np
>>> from fastlr.reference import schedules as R
>>> R.cosine(np.arange(0, 5), lr=1.0, T_max=4).round(4)
array([1.    , 0.8536, 0.5   , 0.1464, 0.    ])
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

Fn = Callable[[np.ndarray], np.ndarray]

__all__ = [
    "constant", "step", "multistep", "exponential", "linear", "polynomial", "cosine",
    "cosine_restarts", "one_cycle", "cyclic", "inverse_sqrt", "warmup_stable_decay", "join",
    "warmup", "half_cosine",
]


def _t(t: np.ndarray) -> np.ndarray:
    return np.asarray(t, dtype=np.int64)


def half_cosine(remaining: np.ndarray, length) -> np.ndarray:
    """``(1 + cos(pi (L - r) / L)) / 2`` for ``r = remaining`` steps left of ``L``.

    Written as ``sin(pi r / (2L))**2``: the same number without the cancellation of ``1 + cos``
    near the trough.
    """
    return np.sin(remaining * (np.pi / 2 / length)) ** 2


def constant(t, lr):
    return np.full(_t(t).shape, float(lr))


def step(t, lr, step_size, gamma=0.1):
    return lr * gamma ** (_t(t) // step_size).astype(np.float64)


def multistep(t, lr, milestones, gamma=0.1):
    k = np.searchsorted(np.asarray(milestones, dtype=np.int64), _t(t), side="right")
    return lr * gamma ** k.astype(np.float64)


def exponential(t, lr, gamma):
    return lr * gamma ** _t(t).astype(np.float64)


def linear(t, lr, start_factor, end_factor, total_iters):
    u = np.minimum(_t(t), total_iters).astype(np.float64)
    return lr * (start_factor + (end_factor - start_factor) * u / total_iters)


def polynomial(t, lr, total_iters, power=1.0, end_lr=0.0):
    u = np.minimum(_t(t), total_iters).astype(np.float64)
    return (lr - end_lr) * (1.0 - u / total_iters) ** power + end_lr


def cosine(t, lr, T_max, eta_min=0.0):
    remaining = T_max - np.minimum(_t(t), T_max)
    return eta_min + (lr - eta_min) * half_cosine(remaining, T_max)


def cosine_restarts(t, lr, T_0, T_mult=1, eta_min=0.0, decay=1.0):
    t = _t(t)
    if T_mult == 1:
        cycle = t // T_0
        start = cycle * T_0
        length = np.full(t.shape, T_0, dtype=np.int64)
    else:
        # integer cycle starts S_i = T_0 (T_mult**i - 1) / (T_mult - 1), all that fit in int64
        starts = [0]
        while starts[-1] + T_0 * T_mult ** (len(starts) - 1) < 2**63:
            starts.append(starts[-1] + T_0 * T_mult ** (len(starts) - 1))
        starts_arr = np.array(starts, dtype=np.int64)
        cycle = np.searchsorted(starts_arr, t, side="right") - 1
        start = starts_arr[cycle]
        length = T_0 * np.float64(T_mult) ** cycle
    remaining = (length - (t - start)).astype(np.float64)
    amp = (lr - eta_min) * decay ** cycle.astype(np.float64)
    return eta_min + amp * half_cosine(remaining, length.astype(np.float64))


def one_cycle(t, max_lr, total_steps, pct_start=0.3, anneal_strategy="cos", div_factor=25.0,
              final_div_factor=1e4, three_phase=False):
    initial = max_lr / div_factor
    min_lr = initial / final_div_factor
    if three_phase:
        phases = [(pct_start * total_steps - 1, initial, max_lr),
                  (2 * pct_start * total_steps - 2, max_lr, initial),
                  (total_steps - 1.0, initial, min_lr)]
    else:
        phases = [(pct_start * total_steps - 1, initial, max_lr),
                  (total_steps - 1.0, max_lr, min_lr)]
    x = np.minimum(_t(t), total_steps - 1).astype(np.float64)
    out = np.empty(x.shape)
    start = 0.0
    taken = np.zeros(x.shape, dtype=bool)
    for i, (end, a, b) in enumerate(phases):
        here = ~taken & ((x <= end) | (i == len(phases) - 1))
        if anneal_strategy == "cos":
            out[here] = b + (a - b) * np.sin(np.pi / 2 * ((end - x[here]) / (end - start))) ** 2
        else:
            out[here] = (b - a) * ((x[here] - start) / (end - start)) + a
        taken |= here
        start = end
    return out


def cyclic(t, base_lr, max_lr, step_size_up=2000, step_size_down=None, mode="triangular",
           gamma=1.0):
    t = _t(t)
    up = step_size_up
    down = up if step_size_down is None else step_size_down
    cycle, r = np.divmod(t, up + down)
    h = np.where(r <= up, r / up, (up + down - r) / down)
    if mode == "triangular":
        scale = 1.0
    elif mode == "triangular2":
        with np.errstate(over="ignore"):  # 2**cycle -> inf -> scale 0 after ~1000 cycles
            scale = 1.0 / 2.0 ** cycle.astype(np.float64)
    else:
        scale = gamma ** t.astype(np.float64)
    return base_lr + (max_lr - base_lr) * h * scale


def inverse_sqrt(t, lr, warmup_steps):
    x = _t(t).astype(np.float64)
    with np.errstate(divide="ignore"):
        decay = 1.0 / np.sqrt(x / warmup_steps)
    return lr * np.where(x < warmup_steps, x / warmup_steps, decay)


def warmup_stable_decay(t, lr, warmup_steps, stable_steps, decay_steps, min_lr=0.0,
                        decay="cosine"):
    t = _t(t)
    W, S, D = warmup_steps, stable_steps, decay_steps
    d = np.clip(t - W - S, 0, D)
    if decay == "cosine":
        h = half_cosine((D - d).astype(np.float64), D)
    elif decay == "linear":
        h = (D - d) / D
    else:
        h = 1.0 - np.sqrt(d / D)
    f = np.where(t < W, t / max(W, 1), np.where(t < W + S, 1.0, h))
    return np.where((t >= W) & (t < W + S), lr, min_lr + (lr - min_lr) * f)


def join(t, fns: Sequence[Fn], boundaries: Sequence[int]):
    t = _t(t)
    out = fns[0](t)
    for b, fn in zip(boundaries, fns[1:]):
        later = t >= b
        out[later] = fn(t[later] - b)
    return out


def warmup(t, fn: Fn, warmup_steps, start_factor):
    t = _t(t)
    peak = fn(np.zeros(1, dtype=np.int64))[0]
    ramp = linear(t, peak, start_factor, 1.0, warmup_steps)
    return np.where(t < warmup_steps, ramp, fn(np.maximum(t - warmup_steps, 0)))
