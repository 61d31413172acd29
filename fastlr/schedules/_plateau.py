"""``ReduceLROnPlateau``: PyTorch's metric-driven learning-rate reduction, on top of schedules."""

from __future__ import annotations

import math
import numbers
from typing import Any, Dict, List, Sequence, Union

import numpy as np

from fastlr.schedules._base import check_int, check_real

__all__ = ["ReduceLROnPlateau"]

_STATE_KEYS = ("factor", "default_min_lr", "min_lrs", "patience", "cooldown", "eps",
               "last_epoch", "_last_lr", "mode_worse", "mode", "threshold", "threshold_mode",
               "best", "cooldown_counter", "num_bad_epochs")


def effective_lr(group: Dict[str, Any], k: int) -> float:
    """The learning rate the optimizer uses for ``group`` at update ``k`` (the optimizer contract).

    ``base = lr(k)`` for a schedule (any callable of the update count), else ``lr``; with ``scale = group.get("lr_scale", 1.0)`` the
    effective value is ``base`` when ``scale == 1`` and otherwise
    ``max(base * scale, min(base, group.get("lr_min", 0.0)))``.
    """
    lr = group["lr"]
    base = lr if type(lr) is float else (float(lr(k)) if callable(lr) else float(lr))
    scale = group.get("lr_scale", 1.0)
    if scale == 1.0:
        return base
    return max(base * scale, min(base, group.get("lr_min", 0.0)))


class ReduceLROnPlateau:
    r"""Reduce the learning rate when a metric has stopped improving (PyTorch semantics).

    Each :meth:`step` takes the latest value of a monitored metric.  A value is an improvement
    when (``thr`` = ``threshold``)

    ====== ========================== ======================
    mode   ``threshold_mode="rel"``   ``threshold_mode="abs"``
    ====== ========================== ======================
    min    ``a < best * (1 - thr)``   ``a < best - thr``
    max    ``a > best * (1 + thr)``   ``a > best + thr``
    ====== ========================== ======================

    ``best`` starts at ``+inf`` (min) / ``-inf`` (max).  Otherwise ``num_bad_epochs`` grows; during
    a cooldown the counter is decremented and bad epochs are forgotten.  When
    ``num_bad_epochs > patience`` (on the ``patience + 1``-th bad value) every parameter group is
    reduced, the cooldown is armed (``cooldown`` steps, even if the learning rate was already at
    its floor) and the bad count is reset:

    * ``group["lr"]`` a float (PyTorch exactly): ``new = max(old * factor, min_lr)``, written only
      if ``old - new > eps``.
    * ``group["lr"]`` a :class:`~fastlr.schedules.Schedule`: the schedule is left alone and the
      reduction is a multiplier on top of it.  The optimizer uses
      ``max(s(k) * group["lr_scale"], min(s(k), group["lr_min"]))`` at update ``k``.  A reduction
      sets ``lr_scale *= factor`` and ``lr_min = min_lr``, applying PyTorch's ``eps`` rule to the
      *effective* learning rate of the next update ``k = optimizer.step_count``: it happens only
      if that value drops by more than ``eps``.  ``min_lr`` floors the scaled value but never
      raises it above the schedule's own value (during a warmup, say).  ``lr_scale`` and ``lr_min``
      live in the param groups, so the optimizer's ``state_dict`` carries them.

    Non-finite metrics behave as in PyTorch: NaN is never an improvement (it counts as a bad
    epoch); ``+inf`` is never an improvement in ``"min"`` mode; ``-inf`` is an improvement in
    ``"min"`` mode once, after which nothing improves on it (mirror images in ``"max"`` mode).

    Parameters
    ----------
    optimizer
        An object with ``param_groups`` (a list of dicts with key ``"lr"``) and, when some group's
        ``"lr"`` is a schedule, ``step_count`` (number of completed ``opt.step`` calls).
    mode : {"min", "max"}, default "min"
    factor : float, default 0.1
        Multiplier applied at each reduction, in ``(0, 1)`` (PyTorch only checks ``< 1``).
    patience : int, default 10
        Bad epochs tolerated before reducing, >= 0.
    threshold : float, default 1e-4
        Minimum significant change, finite and >= 0.
    threshold_mode : {"rel", "abs"}, default "rel"
    cooldown : int, default 0
        Steps to wait after a reduction before counting bad epochs again, >= 0.
    min_lr : float or sequence of float, default 0
        Floor, one for all groups or one per group; finite and >= 0.
    eps : float, default 1e-8
        Reductions smaller than this are skipped; finite and >= 0.

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> from fastlr.schedules import ReduceLROnPlateau
    >>> opt = SimpleNamespace(param_groups=[{"lr": 0.1}], step_count=0)
    >>> plateau = ReduceLROnPlateau(opt, patience=1)
    >>> for loss in [1.0, 0.5, 0.5, 0.5, 0.5]:
    ...     plateau.step(loss)
    >>> plateau.get_last_lr()
    [0.010000000000000002]
    """

    def __init__(self, optimizer: Any, mode: str = "min", factor: float = 0.1,
                 patience: int = 10, threshold: float = 1e-4, threshold_mode: str = "rel",
                 cooldown: int = 0, min_lr: Union[float, Sequence[float]] = 0,
                 eps: float = 1e-8) -> None:
        groups = getattr(optimizer, "param_groups", None)
        if not isinstance(groups, list) or not all(isinstance(g, dict) and "lr" in g
                                                   for g in groups):
            raise TypeError("optimizer must have param_groups: a list of dicts with key 'lr'")
        self.optimizer = optimizer
        self.factor = check_real("factor", factor, lo=0.0, hi=1.0, lo_open=True, hi_open=True)
        if isinstance(min_lr, (list, tuple, np.ndarray)):
            if len(min_lr) != len(groups):
                raise ValueError(f"min_lr: expected {len(groups)} values (one per param group), "
                                 f"got {len(min_lr)}")
            self.default_min_lr = None
            self.min_lrs = [check_real(f"min_lr[{i}]", m, lo=0.0) for i, m in enumerate(min_lr)]
        else:
            self.default_min_lr = check_real("min_lr", min_lr, lo=0.0)
            self.min_lrs = [self.default_min_lr] * len(groups)
        self.patience = check_int("patience", patience, lo=0)
        self.cooldown = check_int("cooldown", cooldown, lo=0)
        self.eps = check_real("eps", eps, lo=0.0)
        if mode not in ("min", "max"):
            raise ValueError(f"mode must be 'min' or 'max', got {mode!r}")
        if threshold_mode not in ("rel", "abs"):
            raise ValueError(f"threshold_mode must be 'rel' or 'abs', got {threshold_mode!r}")
        self.mode = mode
        self.threshold_mode = threshold_mode
        self.threshold = check_real("threshold", threshold, lo=0.0)
        self.mode_worse = math.inf if mode == "min" else -math.inf
        self.last_epoch = 0
        self.best = self.mode_worse
        self.cooldown_counter = 0
        self.num_bad_epochs = 0
        self._last_lr = self._current_lrs()

    # ------------------------------------------------------------------------------------------
    def _update_index(self) -> int:
        k = getattr(self.optimizer, "step_count", None)
        if k is None:
            raise TypeError("a param group's 'lr' is a schedule, so the optimizer must expose "
                            "step_count (the number of completed opt.step calls)")
        return int(k)

    def _current_lrs(self) -> List[float]:
        groups = self.optimizer.param_groups
        if any(callable(g["lr"]) for g in groups):
            k = self._update_index()
            return [effective_lr(g, k) for g in groups]
        return [float(g["lr"]) for g in groups]

    def is_better(self, a: float, best: float) -> bool:
        """Whether metric value ``a`` improves on ``best`` under the mode and threshold."""
        if self.mode == "min" and self.threshold_mode == "rel":
            return a < best * (1.0 - self.threshold)
        if self.mode == "min":
            return a < best - self.threshold
        if self.threshold_mode == "rel":
            return a > best * (self.threshold + 1.0)
        return a > best + self.threshold

    @property
    def in_cooldown(self) -> bool:
        return self.cooldown_counter > 0

    def step(self, metric: Any) -> None:
        """Record one value of the monitored metric; reduce the learning rate on a plateau."""
        if isinstance(metric, (str, bytes)) or not (
                isinstance(metric, numbers.Real)
                or (hasattr(metric, "__float__") and np.ndim(metric) == 0)):
            raise TypeError(f"metric must be a real number, got {type(metric).__name__}")
        current = float(metric)
        self.last_epoch += 1
        if self.is_better(current, self.best):
            self.best = current
            self.num_bad_epochs = 0
        else:
            self.num_bad_epochs += 1
        if self.in_cooldown:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0  # bad epochs during a cooldown do not count
        if self.num_bad_epochs > self.patience:
            self._reduce_lr()
            self.cooldown_counter = self.cooldown
            self.num_bad_epochs = 0
        self._last_lr = self._current_lrs()

    def _reduce_lr(self) -> None:
        groups = self.optimizer.param_groups
        if len(groups) != len(self.min_lrs):
            if self.default_min_lr is None:
                raise RuntimeError(
                    f"the optimizer has {len(groups)} param groups but min_lr has "
                    f"{len(self.min_lrs)} values; set min_lrs to one value per group")
            self.min_lrs = [self.default_min_lr] * len(groups)
        k = None
        for group, min_lr in zip(groups, self.min_lrs):
            if callable(group["lr"]):
                if k is None:
                    k = self._update_index()
                old = effective_lr(group, k)
                trial = dict(group, lr_scale=group.get("lr_scale", 1.0) * self.factor,
                             lr_min=min_lr)
                if old - effective_lr(trial, k) > self.eps:
                    group["lr_scale"] = trial["lr_scale"]
                    group["lr_min"] = min_lr
            else:
                old = float(group["lr"])
                new = max(old * self.factor, min_lr)
                if old - new > self.eps:
                    group["lr"] = new

    def get_last_lr(self) -> List[float]:
        """The (effective) learning rate of each group after the last :meth:`step`."""
        return list(self._last_lr)

    def state_dict(self) -> Dict[str, Any]:
        """Every counter and setting (PyTorch's keys), without the optimizer."""
        return {k: (list(v) if isinstance(v, list) else v)
                for k, v in ((k, getattr(self, k)) for k in _STATE_KEYS)}

    def load_state_dict(self, state_dict: Dict[str, Any]) -> None:
        """Restore a :meth:`state_dict` (also accepts one saved by PyTorch)."""
        missing = [k for k in _STATE_KEYS if k not in state_dict]
        if missing:
            raise KeyError(f"state_dict is missing {missing}")
        if state_dict["mode"] not in ("min", "max"):
            raise ValueError(f"mode must be 'min' or 'max', got {state_dict['mode']!r}")
        if state_dict["threshold_mode"] not in ("rel", "abs"):
            raise ValueError(f"threshold_mode must be 'rel' or 'abs', got "
                             f"{state_dict['threshold_mode']!r}")
        for k in _STATE_KEYS:
            v = state_dict[k]
            setattr(self, k, list(v) if isinstance(v, (list, tuple)) else v)
        self.mode_worse = math.inf if self.mode == "min" else -math.inf

    def __repr__(self) -> str:
        return (f"ReduceLROnPlateau(mode={self.mode!r}, factor={self.factor!r}, "
                f"patience={self.patience}, threshold={self.threshold!r}, "
                f"threshold_mode={self.threshold_mode!r}, cooldown={self.cooldown}, "
                f"min_lr={self.min_lrs if self.default_min_lr is None else self.default_min_lr!r}"
                f", eps={self.eps!r})")
