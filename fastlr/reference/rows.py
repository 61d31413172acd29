"""Pure-NumPy sparse row updates: the oracle for ``fastlr._kernels._rows`` and its baseline.

Each function is the twin of one optimizer's row step (``fastlr._kernels._rows.step_rows`` with
that optimizer's kind) and is written the plain NumPy way: gather the touched rows with fancy
indexing, apply PyTorch's dense per-element formula to the gathered block, scatter it back.
Operations happen in the parameter's dtype with every scalar cast to that dtype, in the same
order as the kernel, so the two agree bit for bit (``tests/test_rows_optim.py``).

``rows`` are the coalesced row ids (unique, increasing, ``int64``) and ``values[k]`` is the
summed gradient of row ``rows[k]``; :func:`coalesce_rows` produces them from raw
``(indices, values)`` pairs.  Only the listed rows are read or written ("lazy" updates); see
``fastlr.optim._rows`` for when that equals a dense step.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "coalesce_rows",
    "sgd_rows",
    "adam_rows",
    "adagrad_rows",
    "rmsprop_rows",
    "adadelta_rows",
    "rowwise_adagrad_rows",
    "rowwise_adagrad_dense",
]


def coalesce_rows(indices: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sum the gradient rows of duplicate indices.

    Parameters
    ----------
    indices : ndarray of int, shape (n,)
        Row ids, any order, duplicates allowed.
    values : ndarray, shape (n, d)
        ``values[i]`` is the gradient of row ``indices[i]``.

    Returns
    -------
    rows : ndarray of int64, shape (u,)
        The unique row ids in increasing order.
    summed : ndarray, shape (u, d)
        ``summed[k] = values[i_1] + values[i_2] + ...`` over the occurrences ``i_1 < i_2 < ...``
        of ``rows[k]``, added left to right in the values' dtype, starting from the first
        occurrence (so a row seen once is passed through unchanged).

    Examples
    --------
    >>> rows, summed = coalesce_rows(np.array([3, 1, 3]), np.array([[1.0], [2.0], [4.0]]))
    >>> rows.tolist(), summed.ravel().tolist()
    ([1, 3], [2.0, 5.0])
    """
    indices = np.asarray(indices)
    values = np.asarray(values)
    if indices.size == 0:
        return np.empty(0, np.int64), np.empty((0, values.shape[1]), values.dtype)
    order = np.argsort(indices, kind="stable")  # stable: equal ids keep their occurrence order
    sorted_ids = indices[order].astype(np.int64)
    is_first = np.r_[True, sorted_ids[1:] != sorted_ids[:-1]]
    segment = np.cumsum(is_first) - 1            # output row of each sorted position
    summed = values[order[is_first]].copy()      # start from the first occurrence
    # np.add.at applies the later occurrences one at a time, in occurrence order
    np.add.at(summed, segment[~is_first], values[order[~is_first]])
    return sorted_ids[is_first], summed


def _scalar(param: np.ndarray, x: float):
    """Cast a double-precision scalar to the parameter's dtype (as PyTorch does)."""
    return param.dtype.type(x)


def _lerp(start: np.ndarray, end: np.ndarray, weight: float, param: np.ndarray) -> np.ndarray:
    """PyTorch's ``lerp`` with a scalar weight (the formula switches at 0.5)."""
    w = _scalar(param, weight)
    if abs(w) < 0.5:  # torch tests the weight after the cast to the tensor's dtype
        return start + w * (end - start)
    return end - (end - start) * (_scalar(param, 1.0) - w)


def _effective_grad(p, g, weight_decay, maximize, param):
    g = -g if maximize else g
    if weight_decay != 0:
        g = g + _scalar(param, weight_decay) * p
    return g


def sgd_rows(param, momentum_buffer, rows, values, *, lr, weight_decay=0.0, momentum=0.0,
             dampening=0.0, nesterov=False, maximize=False, first_step=False) -> None:
    """SGD on ``param[rows]`` (twin of ``_rows.sgd_rows``).

    ``g = -g`` (maximize); ``g = g + wd * p``; with momentum ``b = g`` on the first step, else
    ``b = b * momentum + (1 - dampening) * g``, then ``g = g + momentum * b`` (Nesterov) or
    ``g = b``; finally ``p = p + (-lr) * g``.
    """
    p = param[rows]
    g = _effective_grad(p, values, weight_decay, maximize, param)
    if momentum != 0:
        if first_step:
            b = g.copy()
        else:
            b = momentum_buffer[rows] * _scalar(param, momentum) + _scalar(param, 1.0 - dampening) * g
        momentum_buffer[rows] = b
        g = g + _scalar(param, momentum) * b if nesterov else b
    param[rows] = p + _scalar(param, -lr) * g


def adam_rows(param, exp_avg, exp_avg_sq, max_exp_avg_sq, rows, values, *, beta1, beta2, eps,
              neg_step_size, bias_correction2_sqrt, weight_decay=0.0, decay=1.0,
              decoupled=False, amsgrad=False, maximize=False) -> None:
    """Adam / AdamW / AMSGrad on ``param[rows]`` (twin of ``_rows.adam_rows``).

    ``p = p * decay`` (decoupled) or ``g = g + wd * p``; ``m = lerp(m, g, 1 - beta1)``;
    ``v = v * beta2 + ((1 - beta2) * g) * g``; ``vmax = maximum(vmax, v)`` (AMSGrad);
    ``p = p + (neg_step_size * m) / (sqrt(v) / bias_correction2_sqrt + eps)``.
    """
    p = param[rows]
    g = -values if maximize else values
    if weight_decay != 0:
        if decoupled:
            p = p * _scalar(param, decay)
        else:
            g = g + _scalar(param, weight_decay) * p
    m = _lerp(exp_avg[rows], g, 1.0 - beta1, param)
    v = exp_avg_sq[rows] * _scalar(param, beta2) + (_scalar(param, 1.0 - beta2) * g) * g
    exp_avg[rows] = m
    exp_avg_sq[rows] = v
    if amsgrad:
        v = np.maximum(max_exp_avg_sq[rows], v)
        max_exp_avg_sq[rows] = v
    denom = np.sqrt(v) / _scalar(param, bias_correction2_sqrt) + _scalar(param, eps)
    param[rows] = p + (_scalar(param, neg_step_size) * m) / denom


def adagrad_rows(param, state_sum, rows, values, *, clr, weight_decay=0.0, eps=1e-10,
                 maximize=False) -> None:
    """Adagrad on ``param[rows]`` (twin of ``_rows.adagrad_rows``).

    ``s = s + g * g``; ``p = p + (-clr * g) / (sqrt(s) + eps)``.
    """
    p = param[rows]
    g = _effective_grad(p, values, weight_decay, maximize, param)
    s = state_sum[rows] + g * g
    state_sum[rows] = s
    param[rows] = p + (_scalar(param, -clr) * g) / (np.sqrt(s) + _scalar(param, eps))


def rmsprop_rows(param, square_avg, grad_avg, momentum_buffer, rows, values, *, lr, alpha=0.99,
                 eps=1e-8, weight_decay=0.0, momentum=0.0, centered=False,
                 maximize=False) -> None:
    """RMSprop on ``param[rows]`` (twin of ``_rows.rmsprop_rows``)."""
    p = param[rows]
    g = _effective_grad(p, values, weight_decay, maximize, param)
    sq = square_avg[rows] * _scalar(param, alpha) + (_scalar(param, 1.0 - alpha) * g) * g
    square_avg[rows] = sq
    if centered:
        ga = _lerp(grad_avg[rows], g, 1.0 - alpha, param)
        grad_avg[rows] = ga
        avg = np.sqrt(sq + (-ga) * ga)
    else:
        avg = np.sqrt(sq)
    avg = avg + _scalar(param, eps)
    if momentum > 0:
        b = momentum_buffer[rows] * _scalar(param, momentum) + g / avg
        momentum_buffer[rows] = b
        param[rows] = p + _scalar(param, -lr) * b
    else:
        param[rows] = p + (_scalar(param, -lr) * g) / avg


def adadelta_rows(param, square_avg, acc_delta, rows, values, *, lr, rho=0.9, eps=1e-6,
                  weight_decay=0.0, maximize=False) -> None:
    """Adadelta on ``param[rows]`` (twin of ``_rows.adadelta_rows``)."""
    p = param[rows]
    g = _effective_grad(p, values, weight_decay, maximize, param)
    w = _scalar(param, 1.0 - rho)
    r = _scalar(param, rho)
    e = _scalar(param, eps)
    sq = square_avg[rows] * r + (w * g) * g
    square_avg[rows] = sq
    delta = (np.sqrt(acc_delta[rows] + e) / np.sqrt(sq + e)) * g
    acc_delta[rows] = acc_delta[rows] * r + (w * delta) * delta
    param[rows] = p + _scalar(param, -lr) * delta


ROWWISE_LANES = 8


def _lane_sum_of_squares(g):
    """Per row, the sum of ``double(g) ** 2`` in the kernel's order: element ``j`` is added to
    lane ``j % 8`` (lanes run left to right), then the lanes pairwise,
    ``((l0 + l1) + (l2 + l3)) + ((l4 + l5) + (l6 + l7))``."""
    n_rows, n = g.shape
    padded = np.zeros((n_rows, -(-n // ROWWISE_LANES) * ROWWISE_LANES))
    padded[:, :n] = g                     # + 0.0 leaves a lane's sum unchanged
    sq = padded * padded
    lanes = np.zeros((n_rows, ROWWISE_LANES))
    for c in range(0, sq.shape[1], ROWWISE_LANES):
        lanes += sq[:, c:c + ROWWISE_LANES]
    pairs = lanes[:, 0::2] + lanes[:, 1::2]
    quads = pairs[:, 0::2] + pairs[:, 1::2]
    return quads[:, 0] + quads[:, 1]


def _rowwise_adagrad_block(p, s, g, *, clr, weight_decay, eps, maximize, param):
    """Row-wise Adagrad on a gathered block: returns the new ``(p, s)``."""
    g = _effective_grad(p, g, weight_decay, maximize, param)
    s = s + (_lane_sum_of_squares(g) / g.shape[1]).astype(param.dtype)
    std = np.sqrt(s) + _scalar(param, eps)
    return p + (_scalar(param, -clr) * g) / std[:, None], s


def rowwise_adagrad_rows(param, state_sum, rows, values, *, clr, weight_decay=0.0, eps=1e-10,
                         maximize=False) -> None:
    """Row-wise Adagrad on ``param[rows]``; ``state_sum`` holds one number per table row.

    ``s[r] = s[r] + mean(g**2)`` (sum of squares in double in the kernel's lane order, see
    ``_lane_sum_of_squares``, divided by the row length and rounded to the dtype once); ``p = p + (-clr * g) / (sqrt(s[r]) + eps)``.
    """
    p, s = _rowwise_adagrad_block(param[rows], state_sum[rows], values, clr=clr,
                                  weight_decay=weight_decay, eps=eps, maximize=maximize,
                                  param=param)
    state_sum[rows] = s
    param[rows] = p


def rowwise_adagrad_dense(param, state_sum, grad, *, clr, weight_decay=0.0, eps=1e-10,
                          maximize=False) -> None:
    """Row-wise Adagrad with a dense gradient (every row updated)."""
    p, s = _rowwise_adagrad_block(param, state_sum, grad, clr=clr, weight_decay=weight_decay,
                                  eps=eps, maximize=maximize, param=param)
    state_sum[...] = s
    param[...] = p
