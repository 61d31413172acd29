"""Row steps: what a :class:`fastlr.RowGrad` step computes, and row-wise Adagrad's dense step.

A row step (``Optimizer._row_steps``: every row table of a bucket in one call of
``fastlr._kernels._rows.step_rows``) uses the dense step's kernel kind, flags, hyper-parameters
and per-tensor scalars (bias corrections, decayed learning rates, computed once in double
precision by the optimizer): PyTorch's dense per-element update, applied to the touched rows in
one fused pass that also sums repeated rows (:func:`fastlr.optim._rowgrad.plan_rows` plans them
in the validation phase).

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
Adagrad, wd 0                   exact (finite state, ``eps > 0``; see below)
Adagrad with wd                 lazy (PyTorch rejects this combination outright)
Adam, AdamW, AMSGrad            lazy; Adam without wd / amsgrad equals ``SparseAdam``
RMSprop, Adadelta               lazy
RowwiseAdagrad, wd 0            exact with respect to its own dense step
==============================  =====================================================

Notes
-----
* SGD momentum: an untouched row neither decays nor coasts on its buffer.  The buffer starts as
  the gradient on the parameter's first step (as PyTorch); a row first touched later starts from
  a zero buffer, ``b = (1 - dampening) * g``.
* Adam: the bias corrections use the parameter's step count, not a per-row count.  Without
  weight decay, AMSGrad and ``maximize`` this is ``torch.optim.SparseAdam`` up to rounding:
  SparseAdam adds ``eps`` to the unscaled ``sqrt(v)``, i.e. uses ``eps * sqrt(bc2)`` where Adam
  uses ``eps`` -- a relative difference of ``eps / sqrt(v)``.  We keep Adam's placement so that a
  RowGrad listing every row equals a dense ``Adam`` step.  Weight decay (L2 or decoupled) applies
  to the touched rows only.
* Adagrad: for an untouched row a dense step computes ``s + 0 == s`` and
  ``p + (-clr * 0) / (sqrt(s) + eps) == p``, so skipping it is exact unless ``eps = 0`` with
  ``s = 0`` or ``s`` is NaN (the dense step makes the row NaN) or ``s = -0.0`` (becomes
  ``+0.0``).  PyTorch's sparse path computes ``(g / std) * -clr``; we use its dense order
  ``(-clr * g) / std`` throughout, so a row step is bitwise a dense step.
"""

from __future__ import annotations

from typing import Any, Mapping, MutableMapping

import numpy as np

from fastlr._simd import best
from fastlr._threads import threads_for

__all__ = ["rowwise_adagrad_dense"]

_k = best("_rows")


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
