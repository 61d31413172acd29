"""RMSprop (PyTorch's ``torch.optim.RMSprop``)."""
from __future__ import annotations

from typing import Any, Iterable


from fastlr._simd import dense as _dense
from fastlr.optim._base import Optimizer, check_flag, check_number


class RMSprop(Optimizer):
    r"""RMSprop (Hinton, 2012), optionally centered and with momentum.

    For each element, :math:`g` negated when ``maximize``:

    .. math::

        g &\leftarrow g + \lambda\theta, \qquad v \leftarrow \alpha v + (1 - \alpha) g^2\\
        \bar g &\leftarrow \operatorname{lerp}(\bar g, g, 1 - \alpha), \quad
        d = \sqrt{v - \bar g^2} + \epsilon \text{ (centered) or } \sqrt{v} + \epsilon\\
        b &\leftarrow \mu b + g / d,\ \theta \leftarrow \theta - \gamma b \quad (\mu > 0),
        \qquad\text{else } \theta \leftarrow \theta - \gamma g / d

    Same arguments, defaults and per-element arithmetic as ``torch.optim.RMSprop``.  Sparse rows
    are lazy (only the touched rows and their state change).

    Examples
    --------
    >>> import numpy as np, fastlr
    >>> w = np.array([1.0])
    >>> opt = fastlr.RMSprop([w], lr=0.01)
    >>> opt.step([np.array([1.0])])
    >>> w.round(4)
    array([0.9])
    """

    _kind = _dense.RMSPROP

    def __init__(self, params: Iterable[Any], lr: Any = 1e-2, alpha: float = 0.99,
                 eps: float = 1e-8, weight_decay: float = 0.0, momentum: float = 0.0,
                 centered: bool = False, *, maximize: bool = False):
        super().__init__(params, dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay,
                                      momentum=momentum, centered=centered, maximize=maximize))

    def _check_group(self, group: dict[str, Any]) -> None:
        check_number(group["lr"], "learning rate", schedule_ok=True)
        check_number(group["eps"], "epsilon value")
        check_number(group["momentum"], "momentum value")
        check_number(group["weight_decay"], "weight_decay value")
        check_number(group["alpha"], "alpha value")
        check_flag(group["centered"], "centered")
        check_flag(group["maximize"], "maximize")

    def _state_spec(self, group: dict[str, Any]) -> tuple:
        return (("square_avg", 0.0),
                ("momentum_buffer", 0.0) if group["momentum"] > 0 else None,
                ("grad_avg", 0.0) if group["centered"] else None)

    def _hyper(self, group: dict[str, Any], lr: float) -> tuple[int, tuple[float, ...]]:
        hp = (lr, float(group["alpha"]), float(group["eps"]), float(group["weight_decay"]),
              float(group["momentum"]))
        flags = _dense.MAXIMIZE if group["maximize"] else 0
        if group["weight_decay"] != 0:
            flags |= _dense.WEIGHT_DECAY
        if group["momentum"] > 0:
            flags |= _dense.MOMENTUM
        if group["centered"]:
            flags |= _dense.CENTERED
        return flags, hp
