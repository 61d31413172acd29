"""Row gradients for embedding tables: the public :class:`RowGrad` and its validation.

The optimizer base class calls :func:`plan_rows` on every gradient entry that is not a dense
array, during its validation phase, before any parameter or state is written.  ``plan_rows``
checks everything and sorts the indices into a coalescing plan; the row kernel sums repeated
rows while it updates them.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from fastlr._simd import best

__all__ = ["RowGrad", "plan_rows"]

_kernels = best("_rows")

_FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
_KERNEL_INDEX_DTYPES = (np.dtype(np.int32), np.dtype(np.int64))


def _index_array(indices: Any) -> np.ndarray:
    """``indices`` as a 1-D integer array (no copy when it already is one)."""
    arr = np.asarray(indices)
    if arr.dtype.kind not in "iu":
        # An empty Python sequence has no dtype to speak of: treat it as "no rows".
        if arr.size == 0 and not isinstance(indices, np.ndarray):
            arr = np.empty(0, np.int64)
        else:
            raise TypeError(
                f"RowGrad indices must be an integer array, got dtype {arr.dtype}"
            )
    if arr.ndim != 1:
        raise ValueError(f"RowGrad indices must be 1-D, got shape {arr.shape}")
    return arr


class RowGrad:
    """A gradient that is non-zero only on some rows of a 2-D parameter.

    ``RowGrad(indices, values)`` stands for the dense gradient ``G`` with
    ``G[r] = sum(values[i] for i where indices[i] == r)`` and ``G[r] = 0`` for every row that
    is not listed, without ever building ``G``: an optimizer step then costs time proportional
    to ``len(indices)``, not to the table size.  Duplicate indices are summed; their order is
    irrelevant.

    Each optimizer documents whether its row step is *exact* (equal to a dense step with
    ``G``) or *lazy* (only the listed rows' parameters and state change); see
    ``fastlr.optim._rows``.

    Parameters
    ----------
    indices : array_like of int, shape (n,)
        Row ids.  Any integer dtype; negative ids are an error (no wrap-around), checked with
        the table's row count when the gradient is used.
    values : ndarray of float32 or float64, shape (n, dim)
        ``values[i]`` is the gradient of row ``indices[i]``; it must have the table's dtype
        (no silent casts) and may be read-only or non-contiguous.

    Notes
    -----
    The arrays are kept by reference and never written to.  Changing them before the step
    that consumes the gradient changes the gradient.

    Examples
    --------
    >>> import numpy as np
    >>> g = RowGrad(np.array([4, 1, 4]), np.ones((3, 8), np.float32))
    >>> g
    RowGrad(n=3, dim=8, dtype=float32)
    """

    __slots__ = ("indices", "values")

    def __init__(self, indices: Any, values: Any) -> None:
        idx = _index_array(indices)
        vals = np.asarray(values)
        if vals.dtype not in _FLOAT_DTYPES:
            raise TypeError(f"RowGrad values must be float32 or float64, got {vals.dtype}")
        if vals.ndim != 2 or vals.shape[0] != idx.shape[0]:
            raise ValueError(
                f"RowGrad values must have shape (len(indices), dim) = ({idx.shape[0]}, dim), "
                f"got {vals.shape}"
            )
        self.indices: np.ndarray = idx
        self.values: np.ndarray = vals

    @property
    def dim(self) -> int:
        """Row length (the table's number of columns)."""
        return self.values.shape[1]

    @property
    def dtype(self) -> np.dtype:
        return self.values.dtype

    def __len__(self) -> int:
        return self.indices.shape[0]

    def __repr__(self) -> str:
        return f"RowGrad(n={len(self)}, dim={self.dim}, dtype={self.dtype})"


def _check_param(param: Any) -> None:
    if not isinstance(param, np.ndarray):
        raise TypeError(f"parameter must be a NumPy array, got {type(param).__name__}")
    if param.ndim != 2:
        raise ValueError(
            f"a row gradient needs a 2-D parameter (an embedding table), got shape {param.shape}"
        )
    if param.dtype not in _FLOAT_DTYPES:
        raise TypeError(f"parameter must be float32 or float64, got {param.dtype}")
    if not param.flags.c_contiguous:
        raise ValueError("parameter must be C-contiguous for a row update")
    if not param.flags.writeable:
        raise ValueError("parameter must be writable")


def _kernel_indices(idx: np.ndarray, n_rows: int) -> np.ndarray:
    """Contiguous int32/int64 ids; other integer dtypes are converted without wrap-around."""
    if idx.dtype in _KERNEL_INDEX_DTYPES:
        return idx if idx.flags.c_contiguous else np.ascontiguousarray(idx)
    if idx.dtype == np.uint64 and idx.size:
        # uint64 -> int64 would wrap huge ids into negative ones: range-check first.
        top = int(idx.max())
        if top >= n_rows:
            pos = int(np.argmax(idx))
            raise IndexError(
                f"RowGrad index {top} at position {pos} is out of range for {n_rows} rows"
            )
    return idx.astype(np.int64)  # every other integer dtype fits in int64


def _sparse_matrix_rows(grad: Any, param: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Touched rows and dense row values of a ``scipy.sparse`` gradient.

    A row is touched when it stores at least one entry (explicit zeros included), like a
    materialized row of a PyTorch sparse gradient.  Duplicate entries are summed in storage
    order.  Cost O(nnz log nnz) (plus O(n_rows) when the format itself stores one offset
    per row, as CSR does).
    """
    if grad.shape != param.shape:
        raise ValueError(
            f"sparse gradient has shape {grad.shape}, the parameter has shape {param.shape}"
        )
    if grad.dtype != param.dtype:
        raise TypeError(
            f"sparse gradient has dtype {grad.dtype}, the parameter has dtype {param.dtype} "
            "(no silent casts)"
        )
    coo = grad.tocoo()  # a new object: the caller's matrix is never modified
    row = np.asarray(coo.row, dtype=np.int64)
    col = np.asarray(coo.col, dtype=np.int64)
    rows, inverse = np.unique(row, return_inverse=True)
    values = np.zeros((rows.shape[0], param.shape[1]), param.dtype)
    np.add.at(values, (inverse, col), np.asarray(coo.data))
    return rows, values


def _out_of_range(indices: np.ndarray, bad: int, n_rows: int) -> IndexError:
    return IndexError(
        f"RowGrad index {int(indices[bad])} at position {bad} is out of range for a table "
        f"of {n_rows} rows (valid: 0 <= index < {n_rows}; negative ids do not wrap)"
    )


def plan_rows(grad: Any, param: np.ndarray, shared: dict | None = None) -> tuple:
    """Validate a row gradient against its parameter and plan its coalescing.

    Called by the optimizer in its validation phase, for a parameter it has already checked
    (float32/float64, C-contiguous, writable): it raises before anything is written and never
    modifies the caller's arrays.

    Parameters
    ----------
    grad : RowGrad or scipy.sparse matrix / array
        A :class:`RowGrad`, or a ``scipy.sparse`` matrix of the parameter's shape and dtype.
    param : ndarray, shape (n_rows, dim)
    shared : dict, optional
        Plans already made in this step, by index array: row gradients that share one index
        array (an item table and its bias column) are sorted once.

    Returns
    -------
    rows, starts, order, values
        What ``fastlr._kernels._rows.step_rows`` takes: the unique touched rows (int64; see
        ``fastlr._kernels._rows.plan_rows`` for their order) and either one gradient row per row (``starts``, ``order`` None) or a
        ``plan_rows`` run plan over ``values``, the caller's C-contiguous array when it is one
        (the optimizer copies it when it overlaps a parameter or state buffer).

    Raises
    ------
    TypeError
        Non-integer indices, values of another dtype than the parameter, or a gradient that
        is neither a RowGrad nor scipy.sparse.
    IndexError
        An index outside ``[0, n_rows)``; negative ids never wrap around.
    ValueError
        Wrong shapes, or a parameter that is not 2-D.
    """
    if type(grad) is not RowGrad and not isinstance(grad, RowGrad):
        if not _is_scipy_sparse(grad):
            raise TypeError(
                f"a gradient must be None, a numpy.ndarray, a fastlr.RowGrad or a scipy.sparse "
                f"matrix, got {type(grad).__name__}"
            )
        _check_param(param)
        rows, values = _sparse_matrix_rows(grad, param)
        return rows, None, None, values
    if param.ndim != 2:
        _check_param(param)
    n_rows, dim = param.shape
    idx = grad.indices
    vals = grad.values
    if vals.dtype != param.dtype:
        raise TypeError(
            f"RowGrad values have dtype {vals.dtype}, the parameter has dtype {param.dtype} "
            "(no silent casts)"
        )
    if vals.shape[1] != dim:
        raise ValueError(
            f"RowGrad values have {vals.shape[1]} columns, the parameter has {dim}"
        )
    known = shared.get(id(idx)) if shared is not None else None
    if known is not None and known[0] is idx:
        rows, starts, order = known[1]
        if rows.shape[0] and rows.max() >= n_rows:     # the plan was made for a larger table
            bad = _kernels.plan_rows(_kernel_indices(idx, n_rows), n_rows)[0]
            raise _out_of_range(idx, bad, n_rows)
    else:
        bad, rows, starts, order = _kernels.plan_rows(_kernel_indices(idx, n_rows), n_rows)
        if bad >= 0:
            raise _out_of_range(idx, bad, n_rows)
        if shared is not None:
            shared[id(idx)] = (idx, (rows, starts, order))  # idx kept alive: its id stays unique
    if not vals.flags.c_contiguous:
        vals = np.ascontiguousarray(vals)
    return rows, starts, order, vals


def _is_scipy_sparse(obj: Any) -> bool:
    try:
        import scipy.sparse
    except ImportError:  # scipy is a dependency, but a RowGrad must not need it
        return False
    return scipy.sparse.issparse(obj)
