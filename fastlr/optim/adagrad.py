"""Adagrad (PyTorch's ``torch.optim.Adagrad``)."""
from __future__ import annotations

from typing import Any, Iterable


from fastlr._simd import dense as _dense
from fastlr.optim._base import Optimizer, check_flag, check_number


class Adagrad(Optimizer):
    r"""Adagrad (Duchi et al., 2011).

    For each element at step :math:`t`, :math:`g` negated when ``maximize``:

    .. math::

        g \leftarrow g + \lambda\theta, \quad
        \tilde\gamma = \frac{\gamma}{1 + (t - 1)\eta}, \quad
        s \leftarrow s + g^2, \quad
        \theta \leftarrow \theta - \tilde\gamma\, \frac{g}{\sqrt{s} + \epsilon}

    with :math:`s` starting at ``initial_accumulator_value``.  Same arguments, defaults and
    per-element arithmetic as ``torch.optim.Adagrad``.  Sparse rows are exact without weight
    decay (a row with zero gradient does not move) and lazy with it.

    Examples
    --------
    >>> import numpy as np, fastlr
    >>> w = np.array([1.0])
    >>> opt = fastlr.Adagrad([w], lr=0.1)
    >>> opt.step([np.array([3.0])])
    >>> w.round(6)
    array([0.9])
    """

    _kind = _dense.ADAGRAD

    def __init__(self, params: Iterable[Any], lr: Any = 1e-2, lr_decay: float = 0.0,
                 weight_decay: float = 0.0, initial_accumulator_value: float = 0.0,
                 eps: float = 1e-10, *, maximize: bool = False):
        super().__init__(params, dict(lr=lr, lr_decay=lr_decay, weight_decay=weight_decay,
                                      initial_accumulator_value=initial_accumulator_value,
                                      eps=eps, maximize=maximize))

    def _check_group(self, group: dict[str, Any]) -> None:
        check_number(group["lr"], "learning rate", schedule_ok=True)
        check_number(group["lr_decay"], "lr_decay value")
        check_number(group["weight_decay"], "weight_decay value")
        check_number(group["initial_accumulator_value"], "initial_accumulator_value")
        check_number(group["eps"], "epsilon value")
        check_flag(group["maximize"], "maximize")

    def _state_spec(self, group: dict[str, Any]) -> tuple:
        return (("sum", float(group["initial_accumulator_value"])), None, None)

    def _hyper(self, group: dict[str, Any], lr: float) -> tuple[int, tuple[float, ...]]:
        hp = (float(group["eps"]), float(group["weight_decay"]))
        flags = _dense.MAXIMIZE if group["maximize"] else 0
        if group["weight_decay"] != 0:
            flags |= _dense.WEIGHT_DECAY
        return flags, hp

    def _step_scalars(self, group: dict[str, Any], lr: float, step: int,
                      fresh: bool) -> tuple[float, float]:
        return lr / (1 + (step - 1) * group["lr_decay"]), 0.0
