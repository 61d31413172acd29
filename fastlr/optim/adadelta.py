"""Adadelta (PyTorch's ``torch.optim.Adadelta``)."""
from __future__ import annotations

from typing import Any, Iterable


from fastlr._simd import dense as _dense
from fastlr.optim._base import Optimizer, check_flag, check_number


class Adadelta(Optimizer):
    r"""Adadelta (Zeiler, 2012).

    For each element, :math:`g` negated when ``maximize``:

    .. math::

        g &\leftarrow g + \lambda\theta, \qquad v \leftarrow \rho v + (1 - \rho) g^2\\
        \Delta &= \frac{\sqrt{u + \epsilon}}{\sqrt{v + \epsilon}}\, g, \qquad
        u \leftarrow \rho u + (1 - \rho)\Delta^2, \qquad \theta \leftarrow \theta - \gamma\Delta

    Same arguments, defaults and per-element arithmetic as ``torch.optim.Adadelta``.  Sparse rows
    are lazy (only the touched rows and their state change).

    Examples
    --------
    >>> import numpy as np, fastlr
    >>> w = np.array([1.0])
    >>> opt = fastlr.Adadelta([w])
    >>> opt.step([np.array([1.0])])
    >>> float(w[0]) < 1.0
    True
    """

    _kind = _dense.ADADELTA

    def __init__(self, params: Iterable[Any], lr: Any = 1.0, rho: float = 0.9,
                 eps: float = 1e-6, weight_decay: float = 0.0, *, maximize: bool = False):
        super().__init__(params, dict(lr=lr, rho=rho, eps=eps, weight_decay=weight_decay,
                                      maximize=maximize))

    def _check_group(self, group: dict[str, Any]) -> None:
        check_number(group["lr"], "learning rate", schedule_ok=True)
        check_number(group["rho"], "rho value", 0.0, 1.0)
        check_number(group["eps"], "epsilon value")
        check_number(group["weight_decay"], "weight_decay value")
        check_flag(group["maximize"], "maximize")

    def _state_spec(self, group: dict[str, Any]) -> tuple:
        return (("square_avg", 0.0), ("acc_delta", 0.0), None)

    def _hyper(self, group: dict[str, Any], lr: float) -> tuple[int, tuple[float, ...]]:
        hp = (lr, float(group["rho"]), float(group["eps"]), float(group["weight_decay"]))
        flags = _dense.MAXIMIZE if group["maximize"] else 0
        if group["weight_decay"] != 0:
            flags |= _dense.WEIGHT_DECAY
        return flags, hp
