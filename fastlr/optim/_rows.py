"""Row steps: one function per optimizer, called by its ``_row_step`` in the apply phase.

Every function takes the parameter, its state dict (PyTorch's keys, already allocated), the
coalesced ``rows`` / ``values`` from :func:`fastlr.optim._rowgrad.as_rows`, the param group,
the effective learning rate and the parameter's step count *after* its increment.  Per-step
scalars (bias corrections, decayed learning rates) are computed here once, in double
precision; the per-element work is one fused pass over the touched rows in
``fastlr._kernels._rows``.

Semantics
---------
*Exact* means: identical to the dense step with a gradient that is zero on every row not
listed.  *Lazy* means: the listed rows get exactly the dense per-element update (with the
row's summed gradient), every other row's parameter and state are left as they are, where a
dense step with a zero gradient would still decay the state or apply weight decay.

==============================  =====================================================
optimizer                       row step
==============================  =====================================================
SGD, momentum 0, wd 0           exact
SGD with momentum or wd         lazy (momentum decay / weight decay on touched rows)
Adagrad, wd 0                   exact (finite state, ``eps > 0``; see :func:`adagrad`)
Adagrad with wd                 lazy (PyTorch rejects this combination outright)
Adam, AdamW, AMSGrad            lazy; Adam without wd / amsgrad equals ``SparseAdam``
RMSprop, Adadelta               lazy
RowwiseAdagrad, wd 0            exact with respect to its own dense step
==============================  =====================================================
"""

from __future__ import annotations

from typing import Any, Mapping, MutableMapping

import numpy as np

from fastlr._kernels import _rows as _k
from fastlr._threads import threads_for

__all__ = ["sgd", "adam", "adagrad", "rmsprop", "adadelta", "rowwise_adagrad"]


def _threads(rows: np.ndarray, param: np.ndarray) -> int:
    """Threads for a row step: serial below ``fastlr._threads.PARALLEL_MIN_ELEMENTS``."""
    return threads_for(rows.shape[0] * param.shape[1])


def sgd(param: np.ndarray, state: MutableMapping[str, Any], rows: np.ndarray,
        values: np.ndarray, group: Mapping[str, Any], lr: float, step: int,
        momentum: float | None = None) -> None:
    """SGD on the touched rows.

    Exact without momentum and weight decay: ``p[r] = p[r] + (-lr) * g[r]`` on the listed rows
    and ``p + (-lr) * 0 == p`` bit for bit everywhere else.  Lazy otherwise: weight decay
    ``g + wd * p`` and the momentum buffer ``b = b * momentum + (1 - dampening) * g`` (``b =
    g`` on the parameter's first step, as PyTorch) are applied to the touched rows only, so an
    untouched row neither decays nor coasts on its momentum.  A row touched for the first time
    after step 1 starts from a zero buffer: ``b = (1 - dampening) * g``.

    ``momentum`` is this step's value when the group holds a schedule.
    """
    momentum = float(group.get("momentum", 0.0) if momentum is None else momentum)
    buf = state.get("momentum_buffer") if momentum != 0.0 else None
    _k.sgd_rows(param, param if buf is None else buf, rows, values, float(lr),
                float(group.get("weight_decay", 0.0)), momentum,
                float(group.get("dampening", 0.0)), bool(group.get("nesterov", False)),
                bool(group.get("maximize", False)), step == 1, _threads(rows, param))


def adam(param: np.ndarray, state: MutableMapping[str, Any], rows: np.ndarray,
         values: np.ndarray, group: Mapping[str, Any], lr: float, step: int,
         betas: tuple[float, float] | None = None, decoupled: bool | None = None) -> None:
    """Lazy Adam / AdamW / AMSGrad on the touched rows.

    For each touched row, PyTorch's dense single-tensor update::

        m = lerp(m, g, 1 - beta1);   v = v * beta2 + ((1 - beta2) * g) * g
        p = p + (-lr / bc1 * m) / (sqrt(v) / sqrt(bc2) + eps)

    with ``bc_i = 1 - beta_i**step`` from the parameter's step count (not a per-row count).
    Untouched rows keep their moments: they are not decayed as a dense step would.

    Without weight decay, AMSGrad and ``maximize`` this is ``torch.optim.SparseAdam``'s update
    up to rounding: SparseAdam folds ``sqrt(bc2)`` into the step size and adds ``eps`` to the
    unscaled ``sqrt(v)``, i.e. it uses ``eps * sqrt(bc2)`` where Adam uses ``eps`` -- a
    difference of relative size ``eps / sqrt(v)``, visible only when ``v`` is tiny.  We keep
    Adam's placement so that a RowGrad listing every row equals a dense ``Adam`` step.
    SparseAdam has no weight decay or AMSGrad; here L2 weight decay (Adam) and decoupled
    decay ``p *= 1 - lr * wd`` (AdamW) apply to the touched rows only.

    ``betas`` are this step's values when the group holds a schedule; ``decoupled`` defaults
    to the group's ``decoupled_weight_decay``.
    """
    beta1, beta2 = (float(b) for b in (group["betas"] if betas is None else betas))
    if decoupled is None:
        decoupled = bool(group.get("decoupled_weight_decay", False))
    bias_correction1 = 1.0 - beta1 ** step
    bias_correction2 = 1.0 - beta2 ** step
    weight_decay = float(group.get("weight_decay", 0.0))
    amsgrad = bool(group.get("amsgrad", False))
    exp_avg_sq = state["exp_avg_sq"]
    _k.adam_rows(param, state["exp_avg"], exp_avg_sq,
                 state["max_exp_avg_sq"] if amsgrad else exp_avg_sq, rows, values,
                 beta1, beta2, float(group["eps"]), -(lr / bias_correction1),
                 bias_correction2 ** 0.5, weight_decay, 1.0 - lr * weight_decay, decoupled,
                 amsgrad, bool(group.get("maximize", False)), _threads(rows, param))


def adagrad(param: np.ndarray, state: MutableMapping[str, Any], rows: np.ndarray,
            values: np.ndarray, group: Mapping[str, Any], lr: float, step: int) -> None:
    """Adagrad on the touched rows: exact without weight decay, lazy with it.

    ``s = s + g * g``; ``p = p + (-clr * g) / (sqrt(s) + eps)`` with ``clr = lr / (1 + (step
    - 1) * lr_decay)``.  For an untouched row a dense step computes ``s + 0 == s`` and ``p +
    (-clr * 0) / (sqrt(s) + eps) == p``, so skipping it is exact as long as ``sqrt(s) + eps``
    is neither zero nor NaN.  The corner cases where the dense step would differ: ``eps = 0``
    with ``s = 0`` (dense: ``0 / 0`` makes the row NaN), a NaN accumulator (dense: the row
    becomes NaN), and ``s = -0.0`` (dense: becomes ``+0.0``; no effect on any parameter).

    PyTorch rejects weight decay with sparse gradients; here it is lazy (``g + wd * p`` on the
    touched rows only).  PyTorch's sparse path computes ``(g / std) * -clr`` where its dense
    path computes ``(-clr * g) / std``; we use the dense order throughout, so a row step is
    bitwise a dense step.
    """
    clr = lr / (1.0 + (step - 1) * float(group.get("lr_decay", 0.0)))
    _k.adagrad_rows(param, state["sum"], rows, values, clr,
                    float(group.get("weight_decay", 0.0)), float(group["eps"]),
                    bool(group.get("maximize", False)), _threads(rows, param))


def rmsprop(param: np.ndarray, state: MutableMapping[str, Any], rows: np.ndarray,
            values: np.ndarray, group: Mapping[str, Any], lr: float, step: int) -> None:
    """Lazy RMSprop: PyTorch's dense update on the touched rows; untouched rows' averages and
    momentum buffers are not decayed."""
    centered = bool(group.get("centered", False))
    momentum = float(group.get("momentum", 0.0))
    _k.rmsprop_rows(param, state["square_avg"], state["grad_avg"] if centered else param,
                    state["momentum_buffer"] if momentum > 0 else param, rows, values,
                    float(lr), float(group["alpha"]), float(group["eps"]),
                    float(group.get("weight_decay", 0.0)), momentum, centered,
                    bool(group.get("maximize", False)), _threads(rows, param))


def adadelta(param: np.ndarray, state: MutableMapping[str, Any], rows: np.ndarray,
             values: np.ndarray, group: Mapping[str, Any], lr: float, step: int) -> None:
    """Lazy Adadelta: PyTorch's dense update on the touched rows; untouched rows' running
    averages are not decayed."""
    _k.adadelta_rows(param, state["square_avg"], state["acc_delta"], rows, values, float(lr),
                     float(group["rho"]), float(group["eps"]),
                     float(group.get("weight_decay", 0.0)), bool(group.get("maximize", False)),
                     _threads(rows, param))


def rowwise_adagrad(param: np.ndarray, state: MutableMapping[str, Any], rows: np.ndarray,
                    values: np.ndarray, group: Mapping[str, Any], lr: float,
                    step: int) -> None:
    """Row-wise Adagrad on the touched rows (exact without weight decay, lazy with it)."""
    clr = lr / (1.0 + (step - 1) * float(group.get("lr_decay", 0.0)))
    _k.rowwise_adagrad_rows(param, state["sum"], rows, values, clr,
                            float(group.get("weight_decay", 0.0)), float(group["eps"]),
                            bool(group.get("maximize", False)), _threads(rows, param))


def rowwise_adagrad_dense(param: np.ndarray, state: MutableMapping[str, Any],
                          grad: np.ndarray, group: Mapping[str, Any], lr: float,
                          step: int) -> None:
    """Row-wise Adagrad with a dense gradient: every row of ``param`` (axis 0) is updated."""
    n_rows = param.shape[0]
    dim = int(np.prod(param.shape[1:], dtype=np.int64))
    clr = lr / (1.0 + (step - 1) * float(group.get("lr_decay", 0.0)))
    _k.rowwise_adagrad_dense(param.reshape(n_rows, dim), state["sum"], grad.reshape(n_rows, dim),
                             clr, float(group.get("weight_decay", 0.0)), float(group["eps"]),
                             bool(group.get("maximize", False)), threads_for(param.size))
