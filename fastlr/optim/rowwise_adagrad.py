"""Row-wise Adagrad: one accumulator per embedding row."""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from fastlr.optim import _rows
from fastlr.optim._base import _Bucket, _row_kernels
from fastlr.optim.adagrad import Adagrad


class RowwiseAdagrad(Adagrad):
    r"""Adagrad with one accumulator per row, for large embedding tables.

    For a table :math:`\Theta` of shape ``(n_rows, dim)`` and a gradient row :math:`g_r`
    (negated when ``maximize``) at the parameter's step :math:`t`:

    .. math::

        g_r &\leftarrow g_r + \lambda\,\theta_r \quad(\text{weight decay } \lambda \ne 0)\\
        s_r &\leftarrow s_r + \frac{1}{\mathrm{dim}} \sum_j g_{rj}^2, \qquad
        \tilde\gamma = \frac{\gamma}{1 + (t - 1)\eta}\\
        \theta_r &\leftarrow \theta_r - \tilde\gamma\, \frac{g_r}{\sqrt{s_r} + \epsilon}

    This is the row-wise Adagrad of large-scale recommender systems (e.g. DLRM / FBGEMM's
    ``rowwise_adagrad``): the state costs one number per row instead of one per element
    (``state["sum"]`` has shape ``(n_rows,)``), a 1/dim saving that matters when the table is
    most of the model.  It is not a PyTorch optimizer; arguments follow ``torch.optim.Adagrad``.

    Arithmetic: the squares are summed in double precision in a fixed order (element ``j``
    into lane ``j % 8``, lanes left to right, then the 8 lanes pairwise), divided by
    ``dim`` and rounded to the parameter's dtype once; everything else is computed in the
    parameter's dtype with PyTorch's Adagrad operation order, ``p + (-clr * g) / (sqrt(s) +
    eps)``.  A parameter of any shape works: rows are along axis 0 (a 1-D bias vector has one
    accumulator per element, i.e. plain Adagrad).

    Gradients may be dense arrays or, for 2-D tables, :class:`fastlr.RowGrad` /
    ``scipy.sparse`` matrices.  A row gradient is *exact* without weight decay -- an untouched
    row would get ``s_r + 0`` and ``theta_r + 0`` from the dense step, so skipping it changes
    nothing (corner cases as for :class:`fastlr.Adagrad`: ``eps = 0`` with ``s_r = 0``, or a
    NaN accumulator, where the dense step would write NaN) -- and *lazy* with it (weight decay
    reaches the touched rows only).

    Parameters
    ----------
    params : iterable of ndarray or of dicts
        Parameters or param groups, as for every fastlr optimizer.
    lr : float or schedule, default 1e-2
    lr_decay : float, default 0
    weight_decay : float, default 0
    initial_accumulator_value : float, default 0
    eps : float, default 1e-10
    maximize : bool, default False

    Examples
    --------
    >>> import numpy as np, fastlr
    >>> table = np.zeros((1000, 4))
    >>> opt = fastlr.RowwiseAdagrad([table], lr=0.1)
    >>> opt.step([fastlr.RowGrad([7, 7], np.array([[1.0, -1, 1, -1], [1.0, -1, 1, -1]]))])
    >>> table[7]
    array([-0.1,  0.1, -0.1,  0.1])
    >>> opt.state[0]["sum"].shape, float(opt.state[0]["sum"][7])
    ((1000,), 4.0)

    References
    ----------
    Duchi, Hazan & Singer, "Adaptive Subgradient Methods for Online Learning and Stochastic
    Optimization", JMLR 2011.  Naumov et al., "Deep Learning Recommendation Model for
    Personalization and Recommendation Systems" (DLRM), 2019.
    """

    _kind = -1  # no dense multi-tensor kernel: every tensor is updated by the row kernels
    _row_kind = _row_kernels.ROWWISE

    _grads: Sequence[Any] | None = None  # this step's gradients, read back in _apply_bucket

    def _check_group(self, group: dict[str, Any]) -> None:
        super()._check_group(group)
        for p in group["params"]:
            if p.ndim == 0:
                raise ValueError("RowwiseAdagrad needs parameters with at least one dimension "
                                 "(rows are along axis 0)")

    def _state_shape(self, p: np.ndarray) -> tuple[int, ...]:
        return (p.shape[0],)

    def step(self, grads: Sequence[Any]) -> None:
        """Update every parameter in place; see :meth:`fastlr.optim.Optimizer.step`."""
        self._grads = grads  # the dense gradients, read back in _apply_bucket
        try:
            super().step(grads)
        finally:
            self._grads = None

    def _apply_bucket(self, b: _Bucket, n_none: int, rows: list) -> None:
        active = np.flatnonzero(b.kind != 0)
        if active.size == 0:
            return
        group = self.param_groups[b.group_index]
        lr = self._lr(group)
        spec = self._state_spec(group)
        if (not b.ready or spec != b.spec) and self._prepare_state(b, spec, active):
            self._refresh_owned()
        steps = b.steps.copy()
        steps[active] += 1
        b.set_steps(steps)
        flags, hp = self._hyper(group, lr)
        converted = {j: (plan, copy) for j, plan, copy in rows}
        todo = []
        for j in active:
            i = int(b.index[j])
            plan, copy = converted.get(j, (None, None))
            if plan is not None:
                todo.append((j, plan, int(steps[j]), False))
            else:
                # copy: a contiguous copy of a non-contiguous dense gradient, else the user's
                grad = copy if copy is not None else self._grads[i]
                _rows.rowwise_adagrad_dense(b.params[j], self.state[i], grad, group, lr,
                                            int(steps[j]))
        self._row_steps(b, todo, group, lr, flags, hp)
