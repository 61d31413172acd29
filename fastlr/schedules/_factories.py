"""Schedule factories: validate once, compile once, return an immutable :class:`Schedule`.

Every factory states the library convention it follows.  Inside a schedule's span the values are
the closed form of that anchor (PyTorch where PyTorch has the schedule, Hugging Face / optax
otherwise); past the span every schedule holds its final value.  ``docs/schedules.md`` lists every
deliberate difference from the anchors.
"""

from __future__ import annotations

import math
from typing import Any, Iterable, List, Sequence, Tuple

import numpy as np

from fastlr.schedules._base import (
    INT64_MAX,
    REBUILD,
    Builder,
    Schedule,
    check_choice,
    check_int,
    check_real,
    check_schedule,
)

__all__ = [
    "constant", "step", "multistep", "exponential", "linear", "polynomial", "cosine",
    "cosine_restarts", "one_cycle", "cyclic", "inverse_sqrt", "warmup_stable_decay", "join",
    "warmup",
]

_HALF_PI = math.pi / 2.0


def _check_gamma(gamma: Any) -> float:
    return check_real("gamma", gamma, lo=0.0, lo_open=True)


# =============================================================================================
# closed forms

class _Constant(Schedule):
    __slots__ = ()

    def _emit(self, b: Builder) -> int:
        return b.node("constant", (), (self._params["lr"],))


def constant(lr: float) -> Schedule:
    r"""A constant learning rate.

    .. math:: s(t) = \mathrm{lr}

    Convention: PyTorch (no scheduler), optax ``constant_schedule``, Hugging Face ``constant``.

    Parameters
    ----------
    lr : float
        The learning rate, finite and >= 0.

    Returns
    -------
    Schedule

    Examples
    --------
    >>> from fastlr.schedules import constant
    >>> s = constant(0.01)
    >>> s(0), s(10**12)
    (0.01, 0.01)
    """
    return _Constant("constant", {"lr": check_real("lr", lr, lo=0.0)})


class _Step(Schedule):
    __slots__ = ()

    def _emit(self, b: Builder) -> int:
        p = self._params
        return b.node("step", (p["step_size"],), (p["lr"], p["gamma"]))


def step(lr: float, step_size: int, gamma: float = 0.1) -> Schedule:
    r"""Decay by ``gamma`` every ``step_size`` steps.

    .. math:: s(t) = \mathrm{lr}\;\gamma^{\lfloor t / \mathrm{step\_size} \rfloor}

    Convention: PyTorch ``StepLR`` closed form: the decay takes effect **at** ``t = k * step_size``.
    The exponent is an exact integer division (no float rounding for any ``t``).

    Parameters
    ----------
    lr : float
        Initial learning rate, finite and >= 0.
    step_size : int
        Period of the decay, >= 1.
    gamma : float, default 0.1
        Multiplicative factor, finite and > 0.

    Returns
    -------
    Schedule

    Examples
    --------
    >>> from fastlr.schedules import step
    >>> s = step(1.0, step_size=10, gamma=0.5)
    >>> s(9), s(10), s(25)
    (1.0, 0.5, 0.25)
    """
    return _Step("step", {"lr": check_real("lr", lr, lo=0.0),
                          "step_size": check_int("step_size", step_size),
                          "gamma": _check_gamma(gamma)})


class _MultiStep(Schedule):
    __slots__ = ()

    def _emit(self, b: Builder) -> int:
        p = self._params
        ms: List[int] = p["milestones"]
        # values[i] = lr * gamma ** i: the same Python float arithmetic as PyTorch's closed form
        values = [p["lr"] * p["gamma"] ** i for i in range(len(ms) + 1)]
        return b.node("multistep", (b.ints(ms), len(ms), b.reals(values)))


def multistep(lr: float, milestones: Iterable[int], gamma: float = 0.1) -> Schedule:
    r"""Decay by ``gamma`` at each milestone.

    .. math:: s(t) = \mathrm{lr}\;\gamma^{\#\{m \in \mathrm{milestones} : m \le t\}}

    Convention: PyTorch ``MultiStepLR`` closed form (decay **at** ``t == milestone``, like optax
    ``piecewise_constant_schedule``; Keras switches one step later, old timm one step earlier).

    Parameters
    ----------
    lr : float
        Initial learning rate, finite and >= 0.
    milestones : sequence of int
        Strictly increasing steps >= 1 (may be empty: a constant schedule).  PyTorch counts a
        repeated milestone twice; fastlr rejects repeats as a likely mistake.
    gamma : float, default 0.1
        Multiplicative factor, finite and > 0.

    Returns
    -------
    Schedule

    Examples
    --------
    >>> from fastlr.schedules import multistep
    >>> s = multistep(1.0, [3, 5], gamma=0.5)
    >>> [s(t) for t in range(7)]
    [1.0, 1.0, 1.0, 0.5, 0.5, 0.25, 0.25]
    """
    if isinstance(milestones, (str, bytes)) or not hasattr(milestones, "__iter__"):
        raise TypeError(f"milestones must be a sequence of integers, got "
                        f"{type(milestones).__name__}")
    ms = [check_int(f"milestones[{i}]", m) for i, m in enumerate(milestones)]
    for i in range(1, len(ms)):
        if ms[i] <= ms[i - 1]:
            raise ValueError(f"milestones must be strictly increasing, got {ms}")
    return _MultiStep("multistep", {"lr": check_real("lr", lr, lo=0.0), "milestones": ms,
                                    "gamma": _check_gamma(gamma)})


class _Exponential(Schedule):
    __slots__ = ()

    def _emit(self, b: Builder) -> int:
        p = self._params
        return b.node("exponential", (), (p["lr"], p["gamma"]))


def exponential(lr: float, gamma: float) -> Schedule:
    r"""Decay by ``gamma`` every step.

    .. math:: s(t) = \mathrm{lr}\;\gamma^{t}

    Convention: PyTorch ``ExponentialLR`` closed form (optax ``exponential_decay`` with
    ``transition_steps=1``).  ``gamma > 1`` is allowed (learning-rate range tests); the value then
    overflows to ``inf`` for very large ``t``, as in PyTorch.

    Parameters
    ----------
    lr : float
        Initial learning rate, finite and >= 0.
    gamma : float
        Multiplicative factor per step, finite and > 0.

    Returns
    -------
    Schedule

    Examples
    --------
    >>> from fastlr.schedules import exponential
    >>> s = exponential(1.0, gamma=0.5)
    >>> s(0), s(3)
    (1.0, 0.125)
    """
    return _Exponential("exponential", {"lr": check_real("lr", lr, lo=0.0),
                                        "gamma": _check_gamma(gamma)})


class _Linear(Schedule):
    __slots__ = ()

    def _emit(self, b: Builder) -> int:
        p = self._params
        return b.node("linear", (p["total_iters"],),
                      (p["lr"], p["start_factor"], p["end_factor"]))


def linear(lr: float, start_factor: float, end_factor: float, total_iters: int) -> Schedule:
    r"""Linear interpolation of a multiplicative factor, then held.

    .. math::

        s(t) = \mathrm{lr}\left(f_0 + (f_1 - f_0)\,\frac{\min(t, T)}{T}\right)

    Convention: PyTorch ``LinearLR`` closed form, same operation order.  PyTorch requires
    ``start_factor > 0`` (its recursive form divides by it); fastlr's closed form allows 0.

    Parameters
    ----------
    lr : float
        Base learning rate, finite and >= 0.
    start_factor : float
        Factor at ``t = 0``, in ``[0, 1]``.
    end_factor : float
        Factor at ``t >= total_iters``, in ``[0, 1]``.
    total_iters : int
        Length of the ramp, >= 1.

    Returns
    -------
    Schedule

    Examples
    --------
    >>> from fastlr.schedules import linear
    >>> s = linear(1.0, start_factor=0.5, end_factor=1.0, total_iters=4)
    >>> [s(t) for t in range(6)]
    [0.5, 0.625, 0.75, 0.875, 1.0, 1.0]
    """
    return _Linear("linear", {
        "lr": check_real("lr", lr, lo=0.0),
        "start_factor": check_real("start_factor", start_factor, lo=0.0, hi=1.0),
        "end_factor": check_real("end_factor", end_factor, lo=0.0, hi=1.0),
        "total_iters": check_int("total_iters", total_iters)})


class _Polynomial(Schedule):
    __slots__ = ()

    def _emit(self, b: Builder) -> int:
        p = self._params
        return b.node("polynomial", (p["total_iters"],),
                      (p["lr"], p["power"], p["end_lr"], p["lr"] - p["end_lr"]))


def polynomial(lr: float, total_iters: int, power: float = 1.0, end_lr: float = 0.0) -> Schedule:
    r"""Polynomial decay from ``lr`` to ``end_lr`` over ``total_iters`` steps, then held.

    .. math::

        s(t) = (\mathrm{lr} - \mathrm{end\_lr})\left(1 - \frac{\min(t, T)}{T}\right)^{p}
               + \mathrm{end\_lr}

    Convention: PyTorch ``PolynomialLR`` closed form (which has ``end_lr = 0``; bit-identical then),
    extended with optax's ``end_value`` (``polynomial_schedule``).

    Parameters
    ----------
    lr : float
        Initial learning rate, finite and >= 0.
    total_iters : int
        Length of the decay, >= 1.
    power : float, default 1.0
        Exponent, finite and > 0.
    end_lr : float, default 0.0
        Final learning rate, finite and >= 0.

    Returns
    -------
    Schedule

    Examples
    --------
    >>> from fastlr.schedules import polynomial
    >>> s = polynomial(1.0, total_iters=4, power=2.0)
    >>> [s(t) for t in range(6)]
    [1.0, 0.5625, 0.25, 0.0625, 0.0, 0.0]
    """
    return _Polynomial("polynomial", {
        "lr": check_real("lr", lr, lo=0.0),
        "total_iters": check_int("total_iters", total_iters),
        "power": check_real("power", power, lo=0.0, lo_open=True),
        "end_lr": check_real("end_lr", end_lr, lo=0.0)})


class _Cosine(Schedule):
    __slots__ = ()

    def _emit(self, b: Builder) -> int:
        p = self._params
        T = p["T_max"]
        return b.node("cosine", (T,), (p["eta_min"], p["lr"] - p["eta_min"], _HALF_PI / T))


def cosine(lr: float, T_max: int, eta_min: float = 0.0) -> Schedule:
    r"""Cosine annealing from ``lr`` to ``eta_min`` over ``T_max`` steps, then held.

    .. math::

        s(t) = \eta_{min} + (\mathrm{lr} - \eta_{min})\,
               \frac{1 + \cos(\pi \min(t, T)/T)}{2}

    Convention: PyTorch ``CosineAnnealingLR`` closed form for ``t <= T_max``.

    Parameters
    ----------
    lr : float
        Initial learning rate, finite and >= 0.
    T_max : int
        Length of the half cosine, >= 1.
    eta_min : float, default 0.0
        Final learning rate, finite and >= 0.

    Returns
    -------
    Schedule

    Notes
    -----
    Computed as ``eta_min + (lr - eta_min) * sin(pi (T - u) / (2T))**2`` with ``u = min(t, T)``:
    the same number, accurate to a few ulps everywhere, while ``1 + cos`` loses relative precision
    near the trough (9.5e-12 at ``t = T - 1`` for ``T = 1e3``, 1e-3 for ``T = 1e7``).

    Warnings
    --------
    Past ``T_max`` PyTorch's ``CosineAnnealingLR`` is periodic (it climbs back to ``lr`` at
    ``2 T_max``); fastlr holds ``eta_min`` like optax, Keras and timm.

    Examples
    --------
    >>> from fastlr.schedules import cosine
    >>> s = cosine(0.1, T_max=100, eta_min=0.001)
    >>> s(0), s(100), s(200)
    (0.1, 0.001, 0.001)
    >>> round(s(50), 12)
    0.0505
    """
    return _Cosine("cosine", {"lr": check_real("lr", lr, lo=0.0),
                              "T_max": check_int("T_max", T_max),
                              "eta_min": check_real("eta_min", eta_min, lo=0.0)})


class _CosineRestarts(Schedule):
    __slots__ = ()

    def _emit(self, b: Builder) -> int:
        p = self._params
        T0, mult = p["T_0"], p["T_mult"]
        amp = p["lr"] - p["eta_min"]
        if mult == 1:
            return b.node("cosine_restarts", (T0, 1, 0, 0, 0),
                          (p["eta_min"], amp, _HALF_PI / T0, p["decay"], float(T0)))
        # Every cycle start S_i = T0 (mult**i - 1) / (mult - 1) that fits in int64, in exact
        # Python integers; the kernel finds a step's cycle by binary search over them.
        starts, halfpi_over_len = [0], [_HALF_PI / T0]
        length = T0
        while starts[-1] + length <= INT64_MAX:
            starts.append(starts[-1] + length)
            length *= mult
            halfpi_over_len.append(_HALF_PI / float(length))
        return b.node("cosine_restarts",
                      (T0, mult, b.ints(starts), len(starts), b.reals(halfpi_over_len)),
                      (p["eta_min"], amp, 0.0, p["decay"], float(length)))


def cosine_restarts(lr: float, T_0: int, T_mult: int = 1, eta_min: float = 0.0,
                    decay: float = 1.0) -> Schedule:
    r"""Cosine annealing with warm restarts (SGDR), optional per-cycle decay.

    Cycle ``i`` (``i = 0, 1, ...``) starts at :math:`S_i = T_0 (T_{mult}^i - 1)/(T_{mult} - 1)`
    (:math:`S_i = i T_0` when ``T_mult == 1``) and lasts :math:`T_i = T_0 T_{mult}^i` steps; with
    :math:`\tau = t - S_i` inside it,

    .. math::

        s(t) = \eta_{min} + (\mathrm{lr} - \eta_{min})\,d^{\,i}\,
               \frac{1 + \cos(\pi \tau / T_i)}{2}

    Convention: PyTorch ``CosineAnnealingWarmRestarts`` stepped one step at a time (its exact
    integer bookkeeping; fastlr never uses its ``step(epoch)`` float-log formula, which is off by
    one at some restarts).  ``decay`` (``d``, not in PyTorch) scales the amplitude above
    ``eta_min`` like Keras ``CosineDecayRestarts(m_mul=d)``; with ``eta_min = 0`` it equals timm's
    ``cycle_decay``.  The schedule restarts forever (it has no end).

    Parameters
    ----------
    lr : float
        Peak learning rate of the first cycle, finite and >= 0.
    T_0 : int
        Length of the first cycle, >= 1.
    T_mult : int, default 1
        Growth factor of the cycle length, an integer >= 1.
    eta_min : float, default 0.0
        Floor, finite and >= 0.
    decay : float, default 1.0
        Amplitude factor per cycle, in ``(0, 1]``.

    Returns
    -------
    Schedule

    Examples
    --------
    >>> from fastlr.schedules import cosine_restarts
    >>> s = cosine_restarts(1.0, T_0=2, T_mult=2, decay=0.5)
    >>> [round(s(t), 6) for t in range(8)]
    [1.0, 0.5, 0.5, 0.426777, 0.25, 0.073223, 0.25, 0.240485]
    """
    return _CosineRestarts("cosine_restarts", {
        "lr": check_real("lr", lr, lo=0.0),
        "T_0": check_int("T_0", T_0),
        "T_mult": check_int("T_mult", T_mult),
        "eta_min": check_real("eta_min", eta_min, lo=0.0),
        "decay": check_real("decay", decay, lo=0.0, hi=1.0, lo_open=True)})


class _OneCycle(Schedule):
    __slots__ = ()

    def _emit(self, b: Builder) -> int:
        phases, _ = _one_cycle_phases(self._params)
        table = [x for phase in phases for x in phase]
        anneal = 0 if self._params["anneal_strategy"] == "cos" else 1
        N = self._params["total_steps"]
        return b.node("one_cycle", (len(phases), anneal, N - 1, b.reals(table)))


def _one_cycle_phases(p: dict) -> Tuple[List[Tuple[float, float, float]], float]:
    """PyTorch OneCycleLR phases as ``(end_step, start_lr, end_lr)``, same float arithmetic."""
    N, pct, max_lr = p["total_steps"], p["pct_start"], p["max_lr"]
    initial = max_lr / p["div_factor"]
    min_lr = initial / p["final_div_factor"]
    if p["three_phase"]:
        phases = [(float(pct * N) - 1, initial, max_lr),
                  (float(2 * pct * N) - 2, max_lr, initial),
                  (float(N - 1), initial, min_lr)]
    else:
        phases = [(float(pct * N) - 1, initial, max_lr), (float(N - 1), max_lr, min_lr)]
    return phases, min_lr


def one_cycle(max_lr: float, total_steps: int, pct_start: float = 0.3,
              anneal_strategy: str = "cos", div_factor: float = 25.0,
              final_div_factor: float = 1e4, three_phase: bool = False) -> Schedule:
    r"""The 1cycle policy: warm up to ``max_lr``, anneal to a tiny final value, then hold it.

    With ``initial = max_lr / div_factor`` and ``min = initial / final_div_factor``, phases end at
    the (float) steps :math:`e_1 = p N - 1`, :math:`e_2 = N - 1` (two phases: initial -> max ->
    min) or :math:`e_1 = pN - 1`, :math:`e_2 = 2pN - 2`, :math:`e_3 = N - 1` (three phases:
    initial -> max -> initial -> min).  Inside a phase from step :math:`a` (value :math:`v_0`) to
    :math:`e` (value :math:`v_1`), with :math:`q = (t - a)/(e - a)`:

    .. math::

        \text{cos: } v_1 + (v_0 - v_1)\frac{1 + \cos(\pi q)}{2} \qquad
        \text{linear: } (v_1 - v_0)\,q + v_0

    Convention: PyTorch ``OneCycleLR`` for ``t <= N - 1`` (learning rate only; PyTorch also cycles
    momentum, which you can drive with a separate schedule).

    Parameters
    ----------
    max_lr : float
        Peak learning rate, finite and >= 0.
    total_steps : int
        Number of steps in the cycle, >= 1; ``N - 1`` is the last step of the span.
    pct_start : float, default 0.3
        Fraction of the cycle spent increasing, in ``(0, 1)``; every phase must have a positive
        length (``pct_start * total_steps > 1``, ...), else ValueError.
    anneal_strategy : {"cos", "linear"}, default "cos"
    div_factor : float, default 25.0
        ``initial = max_lr / div_factor``; finite and > 0.
    final_div_factor : float, default 1e4
        ``min = initial / final_div_factor``; finite and > 0.
    three_phase : bool, default False

    Returns
    -------
    Schedule

    Warnings
    --------
    PyTorch evaluates step ``N`` by extrapolating the last phase (the cosine bounces back up,
    ``linear`` goes negative) and raises past it.  fastlr holds the final value ``min`` for every
    ``t >= N - 1``.

    Examples
    --------
    >>> from fastlr.schedules import one_cycle
    >>> s = one_cycle(1.0, total_steps=11, pct_start=0.5, anneal_strategy="linear",
    ...               div_factor=10.0, final_div_factor=10.0)
    >>> [round(s(t), 4) for t in (0, 2, 4, 5, 10, 11, 10**12)]
    [0.1, 0.5, 0.9, 0.91, 0.01, 0.01, 0.01]
    """
    if not isinstance(three_phase, (bool, np.bool_)):
        raise TypeError(f"three_phase must be a bool, got {type(three_phase).__name__}")
    p = {
        "max_lr": check_real("max_lr", max_lr, lo=0.0),
        "total_steps": check_int("total_steps", total_steps),
        "pct_start": check_real("pct_start", pct_start, lo=0.0, hi=1.0, lo_open=True,
                                hi_open=True),
        "anneal_strategy": check_choice("anneal_strategy", anneal_strategy, ("cos", "linear")),
        "div_factor": check_real("div_factor", div_factor, lo=0.0, lo_open=True),
        "final_div_factor": check_real("final_div_factor", final_div_factor, lo=0.0,
                                       lo_open=True),
        "three_phase": bool(three_phase),
    }
    phases, _ = _one_cycle_phases(p)
    start = 0.0
    for i, (end, _, _) in enumerate(phases):
        if not end > start:
            raise ValueError(
                f"pct_start={p['pct_start']!r} with total_steps={p['total_steps']} gives phase "
                f"{i + 1} of {len(phases)} a length <= 0 (it would end at step {end!r}, starting "
                f"at {start!r}); use a longer total_steps or another pct_start")
        start = end
    return _OneCycle("one_cycle", p)


class _Cyclic(Schedule):
    __slots__ = ()

    def _emit(self, b: Builder) -> int:
        p = self._params
        up = p["step_size_up"]
        down = up if p["step_size_down"] is None else p["step_size_down"]
        mode = ("triangular", "triangular2", "exp_range").index(p["mode"])
        return b.node("cyclic", (up, down, mode),
                      (p["base_lr"], p["max_lr"] - p["base_lr"], p["gamma"]))


def cyclic(base_lr: float, max_lr: float, step_size_up: int = 2000,
           step_size_down: int | None = None, mode: str = "triangular",
           gamma: float = 1.0) -> Schedule:
    r"""Cyclical learning rate (CLR): triangles between ``base_lr`` and ``max_lr``.

    With :math:`u` = ``step_size_up``, :math:`d` = ``step_size_down`` (default :math:`u`), cycle
    :math:`c = \lfloor t/(u+d) \rfloor` and :math:`r = t - c(u+d)`:

    .. math::

        h = \begin{cases} r/u & r \le u \\ (u + d - r)/d & r > u \end{cases}, \qquad
        s(t) = \mathrm{base} + (\mathrm{max} - \mathrm{base})\,h\,S

    with :math:`S = 1` (``"triangular"``), :math:`S = 1/2^{c}` (``"triangular2"``) or
    :math:`S = \gamma^t` (``"exp_range"``).

    Convention: PyTorch ``CyclicLR`` (learning rate only; momentum cycling is a separate schedule).
    fastlr computes the cycle and the position in it with exact integers, where PyTorch's
    ``1 + t/(u+d) - cycle`` loses bits for large ``t``; the values agree to 1e-12 relative (or to
    ``1e-15 * max_lr`` absolute where ``h`` is tiny and ``base_lr = 0``).  The schedule has no end.

    Parameters
    ----------
    base_lr : float
        Lower bound, finite and >= 0.
    max_lr : float
        Upper bound, finite and >= ``base_lr``.
    step_size_up : int, default 2000
        Steps from ``base_lr`` up to ``max_lr``, >= 1 (PyTorch also accepts floats; fastlr needs
        integers for exact cycle arithmetic).
    step_size_down : int, optional
        Steps back down, >= 1; defaults to ``step_size_up``.
    mode : {"triangular", "triangular2", "exp_range"}, default "triangular"
    gamma : float, default 1.0
        Per-step factor of ``"exp_range"``, in ``(0, 1]``.

    Returns
    -------
    Schedule

    Examples
    --------
    >>> from fastlr.schedules import cyclic
    >>> s = cyclic(0.0, 1.0, step_size_up=2, mode="triangular2")
    >>> [s(t) for t in range(9)]
    [0.0, 0.5, 1.0, 0.5, 0.0, 0.25, 0.5, 0.25, 0.0]
    """
    base = check_real("base_lr", base_lr, lo=0.0)
    top = check_real("max_lr", max_lr, lo=0.0)
    if top < base:
        raise ValueError(f"max_lr must be >= base_lr, got max_lr={top!r} < base_lr={base!r}")
    return _Cyclic("cyclic", {
        "base_lr": base, "max_lr": top,
        "step_size_up": check_int("step_size_up", step_size_up),
        "step_size_down": (None if step_size_down is None
                           else check_int("step_size_down", step_size_down)),
        "mode": check_choice("mode", mode, ("triangular", "triangular2", "exp_range")),
        "gamma": check_real("gamma", gamma, lo=0.0, hi=1.0, lo_open=True)})


class _InverseSqrt(Schedule):
    __slots__ = ()

    def _emit(self, b: Builder) -> int:
        p = self._params
        return b.node("inverse_sqrt", (p["warmup_steps"],), (p["lr"],))


def inverse_sqrt(lr: float, warmup_steps: int) -> Schedule:
    r"""Linear warmup from 0, then decay proportional to :math:`1/\sqrt{t}`.

    .. math::

        s(t) = \begin{cases} \mathrm{lr}\; t / W & t < W \\
                             \mathrm{lr} / \sqrt{t / W} & t \ge W \end{cases}

    Convention: Hugging Face ``get_inverse_sqrt_schedule`` with ``timescale = num_warmup_steps``
    (its default); like Hugging Face the first value is 0 (wrap it in :func:`warmup` or use a
    :func:`join` if you want a non-zero first step).  PyTorch has no such scheduler.

    Parameters
    ----------
    lr : float
        Peak learning rate (reached at ``t = W``), finite and >= 0.
    warmup_steps : int
        ``W``, >= 1.

    Returns
    -------
    Schedule

    Examples
    --------
    >>> from fastlr.schedules import inverse_sqrt
    >>> s = inverse_sqrt(1.0, warmup_steps=4)
    >>> s(0), s(2), s(4), s(16)
    (0.0, 0.5, 1.0, 0.5)
    """
    return _InverseSqrt("inverse_sqrt", {"lr": check_real("lr", lr, lo=0.0),
                                         "warmup_steps": check_int("warmup_steps",
                                                                   warmup_steps)})


class _WSD(Schedule):
    __slots__ = ()

    def _emit(self, b: Builder) -> int:
        p = self._params
        D = p["decay_steps"]
        kind = ("cosine", "linear", "1-sqrt").index(p["decay"])
        return b.node("warmup_stable_decay",
                      (p["warmup_steps"], p["stable_steps"], D, kind),
                      (p["lr"], p["min_lr"], _HALF_PI / D, p["lr"] - p["min_lr"]))


def warmup_stable_decay(lr: float, warmup_steps: int, stable_steps: int, decay_steps: int,
                        min_lr: float = 0.0, decay: str = "cosine") -> Schedule:
    r"""Warmup-stable-decay (trapezoidal) schedule.

    With :math:`W, S, D` the three lengths and :math:`m` = ``min_lr``:

    .. math::

        s(t) = m + (\mathrm{lr} - m)\,f(t), \qquad
        f(t) = \begin{cases} t/W & t < W \\ 1 & W \le t < W + S \\
               h\big((t - W - S)/D\big) & W + S \le t < W + S + D \\ 0 & t \ge W + S + D
               \end{cases}

    with :math:`h(q) = (1 + \cos \pi q)/2` (``"cosine"``), :math:`1 - q` (``"linear"``) or
    :math:`1 - \sqrt{q}` (``"1-sqrt"``).

    Convention: Hugging Face ``get_wsd_schedule`` (linear warmup, ``num_cycles=0.5``) with an
    absolute ``min_lr`` instead of ``min_lr_ratio`` (``min_lr = min_lr_ratio * lr``).  Like Hugging
    Face, the warmup starts at ``min_lr`` (0 by default).  PyTorch has no such scheduler.

    Parameters
    ----------
    lr : float
        Plateau learning rate, finite and >= 0.
    warmup_steps : int
        ``W`` >= 0 (0: no warmup).
    stable_steps : int
        ``S`` >= 0.
    decay_steps : int
        ``D`` >= 1.
    min_lr : float, default 0.0
        Start and final learning rate, in ``[0, lr]``.
    decay : {"cosine", "linear", "1-sqrt"}, default "cosine"

    Returns
    -------
    Schedule

    Examples
    --------
    >>> from fastlr.schedules import warmup_stable_decay
    >>> s = warmup_stable_decay(1.0, 2, 2, 4, decay="linear")
    >>> [s(t) for t in range(10)]
    [0.0, 0.5, 1.0, 1.0, 1.0, 0.75, 0.5, 0.25, 0.0, 0.0]
    """
    top = check_real("lr", lr, lo=0.0)
    low = check_real("min_lr", min_lr, lo=0.0)
    if low > top:
        raise ValueError(f"min_lr must be <= lr, got min_lr={low!r} > lr={top!r}")
    return _WSD("warmup_stable_decay", {
        "lr": top,
        "warmup_steps": check_int("warmup_steps", warmup_steps, lo=0),
        "stable_steps": check_int("stable_steps", stable_steps, lo=0),
        "decay_steps": check_int("decay_steps", decay_steps),
        "min_lr": low,
        "decay": check_choice("decay", decay, ("cosine", "linear", "1-sqrt"))})


# =============================================================================================
# composition

class _Join(Schedule):
    __slots__ = ()

    def __init__(self, name: str, params: dict):
        super().__init__(name, params, tuple(params["schedules"]))

    def _emit(self, b: Builder) -> int:
        p = self._params
        children = [s._emit(b) for s in p["schedules"]]
        return b.node("join", (len(children), b.ints(p["boundaries"]), b.ints(children)))


def join(schedules: Sequence[Schedule], boundaries: Sequence[int]) -> Schedule:
    r"""Run schedules one after the other; each later piece restarts its own clock.

    With boundaries :math:`b_1 < \dots < b_{n-1}` and :math:`b_0 = 0`:

    .. math:: s(t) = s_j(t - b_j) \quad \text{for } b_j \le t < b_{j+1}

    Convention: optax ``join_schedules`` and PyTorch ``SequentialLR`` (child time is relative; the
    switch happens **at** ``t == boundary``).  Unlike ``SequentialLR`` there is no hidden state:
    resuming at any step gives the same value.

    Parameters
    ----------
    schedules : sequence of Schedule
        The pieces, at least one.
    boundaries : sequence of int
        ``len(schedules) - 1`` strictly increasing steps >= 1.

    Returns
    -------
    Schedule

    Examples
    --------
    >>> from fastlr.schedules import constant, join, linear
    >>> s = join([linear(1.0, 0.5, 1.0, 2), constant(0.1)], [3])
    >>> [s(t) for t in range(5)]
    [0.5, 0.75, 1.0, 0.1, 0.1]
    """
    if isinstance(schedules, Schedule) or not hasattr(schedules, "__iter__"):
        raise TypeError("schedules must be a sequence of schedules")
    pieces = [check_schedule(f"schedules[{i}]", s) for i, s in enumerate(schedules)]
    if not pieces:
        raise ValueError("schedules must contain at least one schedule")
    if isinstance(boundaries, (str, bytes)) or not hasattr(boundaries, "__iter__"):
        raise TypeError(f"boundaries must be a sequence of integers, got "
                        f"{type(boundaries).__name__}")
    bounds = [check_int(f"boundaries[{i}]", x) for i, x in enumerate(boundaries)]
    if len(bounds) != len(pieces) - 1:
        raise ValueError(f"boundaries must have len(schedules) - 1 = {len(pieces) - 1} "
                         f"entries, got {len(bounds)}")
    for i in range(1, len(bounds)):
        if bounds[i] <= bounds[i - 1]:
            raise ValueError(f"boundaries must be strictly increasing, got {bounds}")
    return _Join("join", {"schedules": pieces, "boundaries": bounds})


class _Warmup(Schedule):
    __slots__ = ()

    def __init__(self, name: str, params: dict):
        super().__init__(name, params, (params["schedule"],))

    def _emit(self, b: Builder) -> int:
        p = self._params
        child = p["schedule"]._emit(b)
        sf = p["start_factor"]
        return b.node("warmup", (p["warmup_steps"], child), (p["schedule"](0), sf, 1.0 - sf))


def warmup(schedule: Schedule, warmup_steps: int, start_factor: float) -> Schedule:
    r"""Prefix a linear warmup to a schedule; the schedule then starts its own clock.

    With :math:`W` = ``warmup_steps``, :math:`f_0` = ``start_factor`` and :math:`B = s(0)`:

    .. math::

        w(t) = \begin{cases} B\,\big(f_0 + (1 - f_0)\,t/W\big) & t < W \\ s(t - W) & t \ge W
               \end{cases}

    Convention: the PyTorch idiom
    ``SequentialLR([LinearLR(start_factor=f0, total_iters=W), sched], milestones=[W])``;
    bit-identical to ``join([linear(s(0), f0, 1.0, W), s], [W])``.  The
    warmup is a *prefix* (timm ``warmup_prefix=True``, Keras ``CosineDecay(warmup_steps=...)``):
    the total length is ``W`` plus the schedule's span, not part of it as in optax's
    ``warmup_cosine_decay_schedule`` or Hugging Face's ``num_training_steps``.

    Parameters
    ----------
    schedule : Schedule
        The schedule that follows the warmup.
    warmup_steps : int
        ``W`` >= 1.
    start_factor : float
        Fraction of ``schedule(0)`` at ``t = 0``, in ``[0, 1]``.

    Returns
    -------
    Schedule

    Examples
    --------
    >>> from fastlr.schedules import cosine, warmup
    >>> s = warmup(cosine(1.0, T_max=4), warmup_steps=4, start_factor=0.0)
    >>> [round(s(t), 4) for t in range(10)]
    [0.0, 0.25, 0.5, 0.75, 1.0, 0.8536, 0.5, 0.1464, 0.0, 0.0]
    """
    return _Warmup("warmup", {
        "schedule": check_schedule("schedule", schedule),
        "warmup_steps": check_int("warmup_steps", warmup_steps),
        "start_factor": check_real("start_factor", start_factor, lo=0.0, hi=1.0)})


class _Product(Schedule):
    __slots__ = ()

    def __init__(self, name: str, params: dict):
        super().__init__(name, params, (params["a"], params["b"]))

    def _emit(self, b: Builder) -> int:
        ia = self._params["a"]._emit(b)
        ib = self._params["b"]._emit(b)
        return b.node("product", (ia, ib))

    def __repr__(self) -> str:
        return f"({self._params['a']!r} * {self._params['b']!r})"


def _product(a: Schedule, b: Schedule) -> Schedule:
    """``a * b``: the pointwise product ``a(t) * b(t)`` (e.g. a decay times a warmup factor)."""
    return _Product("product", {"a": check_schedule("a", a), "b": check_schedule("b", b)})


class _Scale(Schedule):
    __slots__ = ()

    def __init__(self, name: str, params: dict):
        super().__init__(name, params, (params["schedule"],))

    def _emit(self, b: Builder) -> int:
        child = self._params["schedule"]._emit(b)
        return b.node("scale", (child,), (self._params["c"],))

    def __repr__(self) -> str:
        return f"{self._params['c']!r} * {self._params['schedule']!r}"


def _scale(c: Any, schedule: Schedule) -> Schedule:
    """``c * s``: the pointwise product ``c * s(t)`` for a finite constant ``c >= 0``."""
    return _Scale("scale", {"c": check_real("c", c, lo=0.0),
                            "schedule": check_schedule("schedule", schedule)})


REBUILD.update({f.__name__: f for f in (
    constant, step, multistep, exponential, linear, polynomial, cosine, cosine_restarts,
    one_cycle, cyclic, inverse_sqrt, warmup_stable_decay, join, warmup)})
REBUILD["product"] = _product
REBUILD["scale"] = _scale

# The object a factory returns documents itself: ``help(cosine(0.1, 100))`` shows the formula.
for _cls, _factory in ((_Constant, constant), (_Step, step), (_MultiStep, multistep),
                       (_Exponential, exponential), (_Linear, linear),
                       (_Polynomial, polynomial), (_Cosine, cosine),
                       (_CosineRestarts, cosine_restarts), (_OneCycle, one_cycle),
                       (_Cyclic, cyclic), (_InverseSqrt, inverse_sqrt),
                       (_WSD, warmup_stable_decay), (_Join, join), (_Warmup, warmup),
                       (_Product, _product), (_Scale, _scale)):
    _cls.__doc__ = _factory.__doc__
    _cls.__name__ = _cls.__qualname__ = _factory.__name__.lstrip("_").title().replace("_", "")
del _cls, _factory
