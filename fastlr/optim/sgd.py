"""Stochastic gradient descent with momentum (PyTorch's ``torch.optim.SGD``)."""
from __future__ import annotations

from typing import Any, Iterable


from fastlr._simd import dense as _dense
from fastlr.optim._base import Optimizer, check_flag, check_number


class SGD(Optimizer):
    r"""Stochastic gradient descent, optionally with (Nesterov) momentum.

    For each element, with :math:`g` the gradient (negated when ``maximize``):

    .. math::

        g &\leftarrow g + \lambda\,\theta \quad(\text{weight decay } \lambda \ne 0)\\
        b &\leftarrow g \text{ at the first step, else } \mu\, b + (1 - \tau)\, g\\
        g &\leftarrow g + \mu\, b \text{ (nesterov) or } b \quad(\mu \ne 0)\\
        \theta &\leftarrow \theta - \gamma\, g

    Same arguments, defaults and per-element arithmetic as ``torch.optim.SGD``.  ``lr`` and
    ``momentum`` accept a schedule.  Sparse rows (:class:`fastlr.RowGrad`): exact without
    momentum and weight decay, lazy otherwise (only the touched rows and their buffers change).

    Examples
    --------
    >>> import numpy as np, fastlr
    >>> w = np.array([1.0, 2.0])
    >>> opt = fastlr.SGD([w], lr=0.1, momentum=0.9)
    >>> opt.step([np.array([1.0, -1.0])])
    >>> w
    array([0.9, 2.1])
    """

    _kind = _dense.SGD
    _schedulable = ("lr", "momentum")

    def __init__(self, params: Iterable[Any], lr: Any = 1e-3, momentum: Any = 0.0,
                 dampening: float = 0.0, weight_decay: float = 0.0, nesterov: bool = False,
                 *, maximize: bool = False):
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening,
                                      weight_decay=weight_decay, nesterov=nesterov,
                                      maximize=maximize))

    def _check_group(self, group: dict[str, Any]) -> None:
        check_number(group["lr"], "learning rate", schedule_ok=True)
        check_number(group["momentum"], "momentum value", schedule_ok=True)
        check_number(group["dampening"], "dampening")
        check_number(group["weight_decay"], "weight_decay value")
        check_flag(group["nesterov"], "nesterov")
        check_flag(group["maximize"], "maximize")
        if group["nesterov"] and (self._is_zero(group["momentum"]) or group["dampening"] != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")

    @staticmethod
    def _is_zero(v: Any) -> bool:
        return not callable(v) and v == 0

    def _state_spec(self, group: dict[str, Any]) -> tuple:
        if self._is_zero(group["momentum"]):
            return (None, None, None)
        return (("momentum_buffer", 0.0), None, None)

    def _hyper(self, group: dict[str, Any], lr: float) -> tuple[int, tuple[float, ...]]:
        hp = (lr, float(self._value(group, "momentum")), float(group["dampening"]),
              float(group["weight_decay"]))
        flags = _dense.MAXIMIZE if group["maximize"] else 0
        if group["weight_decay"] != 0:
            flags |= _dense.WEIGHT_DECAY
        if not self._is_zero(group["momentum"]):
            flags |= _dense.MOMENTUM
            if group["nesterov"]:
                flags |= _dense.NESTEROV
        return flags, hp

    def _step_scalars(self, group: dict[str, Any], lr: float, step: int,
                      fresh: bool) -> tuple[float, float]:
        # PyTorch starts the momentum buffer as a copy of the gradient when it has none yet
        return (1.0 if fresh else 0.0), 0.0
