"""Vectorized learning-rate schedules, compiled.

A schedule is an immutable function of the step count: ``s(t)`` takes an ``int`` (returns a
``float``) or an integer array of any shape (returns a float64 array), evaluated by a compiled
loop.  Closed forms only: the value at step ``t`` never depends on having evaluated ``t - 1``, so
resuming, plotting and precomputing tables are exact.

Factories (PyTorch argument names where PyTorch has the schedule): :func:`constant`,
:func:`step`, :func:`multistep`, :func:`exponential`, :func:`linear`, :func:`polynomial`,
:func:`cosine`, :func:`cosine_restarts`, :func:`one_cycle`, :func:`cyclic`, :func:`inverse_sqrt`,
:func:`warmup_stable_decay`; composition with :func:`join`, :func:`warmup`, ``s1 * s2`` and
``c * s``.  Metric-driven reduction: :class:`ReduceLROnPlateau`.  Pictures: :func:`plot` and
``python -m fastlr.schedules``.

Every schedule follows one anchor library's closed form inside its span and holds its final value
past it; ``docs/schedules.md`` maps the names of PyTorch, optax, Keras, Hugging Face and timm to
fastlr and lists each deliberate difference.

Examples
--------
>>> import numpy as np
>>> from fastlr import schedules as S
>>> s = S.warmup(S.cosine(0.1, T_max=1000), warmup_steps=100, start_factor=0.01)
>>> s(0), s(100), s(1100)
(0.001, 0.1, 0.0)
>>> s(np.arange(0, 1200, 300)).round(6)
array([0.001   , 0.090451, 0.05    , 0.009549])
"""

from fastlr.schedules._base import Schedule
from fastlr.schedules._factories import (
    constant,
    cosine,
    cosine_restarts,
    cyclic,
    exponential,
    inverse_sqrt,
    join,
    linear,
    multistep,
    one_cycle,
    polynomial,
    step,
    warmup,
    warmup_stable_decay,
)
from fastlr.schedules._plateau import ReduceLROnPlateau
from fastlr.schedules._plot import plot

__all__ = [
    "Schedule",
    "constant",
    "step",
    "multistep",
    "exponential",
    "linear",
    "polynomial",
    "cosine",
    "cosine_restarts",
    "one_cycle",
    "cyclic",
    "inverse_sqrt",
    "warmup_stable_decay",
    "join",
    "warmup",
    "ReduceLROnPlateau",
    "plot",
]
