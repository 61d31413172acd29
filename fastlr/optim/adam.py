"""Adam, AdamW and AMSGrad (PyTorch's ``torch.optim.Adam`` / ``torch.optim.AdamW``)."""
from __future__ import annotations

from typing import Any, Iterable


from fastlr._simd import dense as _dense
from fastlr.optim._base import Optimizer, _is_schedule, check_flag, check_number


class Adam(Optimizer):
    r"""Adam (Kingma & Ba, 2015), with optional AMSGrad and decoupled weight decay.

    For each element at step :math:`t` (per parameter), :math:`g` negated when ``maximize``:

    .. math::

        g &\leftarrow g + \lambda\theta \quad\text{(L2; or } \theta \leftarrow
             \theta(1 - \gamma\lambda) \text{ when decoupled)}\\
        m &\leftarrow \operatorname{lerp}(m, g, 1 - \beta_1), \qquad
        v \leftarrow \beta_2 v + (1 - \beta_2) g^2\\
        \hat v &= \max(\hat v, v) \text{ (amsgrad) or } v\\
        \theta &\leftarrow \theta - \frac{\gamma}{1 - \beta_1^t}\,
            \frac{m}{\sqrt{\hat v}/\sqrt{1 - \beta_2^t} + \epsilon}

    This is PyTorch's single-tensor algorithm operation for operation (``eps`` is added after
    the bias correction of :math:`\sqrt{v}`); float32 parameters are updated in float32.
    ``lr`` and the first beta accept a schedule.  Sparse rows (:class:`fastlr.RowGrad`) are
    lazy, as ``torch.optim.SparseAdam``: only the touched rows and their moments change.

    Examples
    --------
    >>> import numpy as np, fastlr
    >>> w = np.array([1.0, -1.0])
    >>> opt = fastlr.Adam([w], lr=0.1)
    >>> opt.step([np.array([0.5, -2.0])])
    >>> w.round(6)
    array([ 0.9, -0.9])
    """

    _kind = _dense.ADAM
    _schedulable = ("lr", "betas")

    def __init__(self, params: Iterable[Any], lr: Any = 1e-3,
                 betas: tuple[Any, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, amsgrad: bool = False, *, maximize: bool = False,
                 decoupled_weight_decay: bool = False):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                                      amsgrad=amsgrad, maximize=maximize,
                                      decoupled_weight_decay=decoupled_weight_decay))

    def _check_group(self, group: dict[str, Any]) -> None:
        check_number(group["lr"], "learning rate", schedule_ok=True)
        check_number(group["eps"], "epsilon value")
        betas = group["betas"]
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise TypeError("betas must be a pair (beta1, beta2)")
        group["betas"] = tuple(betas)
        check_number(betas[0], "beta parameter at index 0", 0.0, 1.0, high_open=True,
                     schedule_ok=True)
        check_number(betas[1], "beta parameter at index 1", 0.0, 1.0, high_open=True)
        check_number(group["weight_decay"], "weight_decay value")
        check_flag(group["amsgrad"], "amsgrad")
        check_flag(group["maximize"], "maximize")
        check_flag(group["decoupled_weight_decay"], "decoupled_weight_decay")

    def _state_spec(self, group: dict[str, Any]) -> tuple:
        return (("exp_avg", 0.0), ("exp_avg_sq", 0.0),
                ("max_exp_avg_sq", 0.0) if group["amsgrad"] else None)

    def _betas(self, group: dict[str, Any]) -> tuple[float, float]:
        b1, b2 = group["betas"]
        if type(b1) is not float:
            b1 = float(b1(self.step_count)) if _is_schedule(b1) else float(b1)
        return b1, float(b2)

    def _hyper(self, group: dict[str, Any], lr: float) -> tuple[int, tuple[float, ...]]:
        b1, b2 = self._betas(group)
        wd = group["weight_decay"]
        hp = (b1, b2, float(group["eps"]), float(wd), 1 - lr * wd)
        flags = _dense.MAXIMIZE if group["maximize"] else 0
        if group["amsgrad"]:
            flags |= _dense.AMSGRAD
        if wd != 0:
            flags |= _dense.DECOUPLED if group["decoupled_weight_decay"] else _dense.WEIGHT_DECAY
        return flags, hp

    def _step_scalars(self, group: dict[str, Any], lr: float, step: int,
                      fresh: bool) -> tuple[float, float]:
        b1, b2 = self._betas(group)
        bias_correction1 = 1 - b1 ** step
        bias_correction2 = 1 - b2 ** step
        return lr / bias_correction1, bias_correction2 ** 0.5


class AdamW(Adam):
    r"""Adam with decoupled weight decay (Loshchilov & Hutter, 2019): ``torch.optim.AdamW``.

    Before the Adam update each element is decayed, :math:`\theta \leftarrow \theta(1 -
    \gamma\lambda)`; the default ``weight_decay`` is ``1e-2``.  See :class:`Adam` for the rest.

    Examples
    --------
    >>> import numpy as np, fastlr
    >>> w = np.array([1.0, -1.0])
    >>> opt = fastlr.AdamW([w], lr=0.1, weight_decay=0.1)
    >>> opt.step([np.array([0.5, -2.0])])
    >>> w.round(6)
    array([ 0.89, -0.89])
    """

    def __init__(self, params: Iterable[Any], lr: Any = 1e-3,
                 betas: tuple[Any, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 1e-2, amsgrad: bool = False, *, maximize: bool = False):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                         amsgrad=amsgrad, maximize=maximize, decoupled_weight_decay=True)

    def _check_group(self, group: dict[str, Any]) -> None:
        super()._check_group(group)
        if not group["decoupled_weight_decay"]:
            raise ValueError("AdamW always decouples weight decay; use Adam for an L2 penalty")
