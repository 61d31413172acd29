"""Fused dense optimizer updates: one pass over param, grad and state per step.

Design
------
* The per-element updates are the ``noexcept nogil`` range functions of ``_updates.pxd``
  (shared with the sparse row kernels of ``_rows.pyx``): one per optimizer, applying PyTorch's
  single-tensor update to ``n`` consecutive elements in the element type.  Per-step scalars
  (bias corrections, step sizes) are computed once per step in Python.
* Multi-tensor dispatch: a whole bucket of tensors (one param group, one dtype) is updated in one
  call from a pointer table ``ptrs[t] = (param, grad, state1, state2, state3)`` (0 = absent) and
  a block table ``blocks[b] = (tensor, lo, hi)``.  Blocks are spread over threads with a static
  schedule; each element is computed by the same code whatever the thread count, so results are
  bitwise identical for any number of threads.
* ``gather_grads`` validates a step's gradients (dtype, shape, contiguity, aliasing) and writes
  their addresses into the pointer table before any kernel runs.
"""

from cython.parallel cimport prange
from libc.stdint cimport int64_t, intptr_t, uint8_t

cimport numpy as cnp

from fastlr._kernels._common cimport floating
from fastlr._kernels._updates cimport (
    F_AMSGRAD, F_CENTERED, F_DECOUPLED, F_MAXIMIZE, F_MOMENTUM, F_NESTEROV, F_WD,
    _adadelta, _adagrad, _adam, _rmsprop, _sgd,
)

cnp.import_array()

# Optimizer kinds (the Python layer uses the same numbers).
SGD = 0
ADAM = 1
RMSPROP = 2
ADAGRAD = 3
ADADELTA = 4

# Flags (their meaning: fastlr/_kernels/_updates.pxd).
MAXIMIZE = F_MAXIMIZE
WEIGHT_DECAY = F_WD
DECOUPLED = F_DECOUPLED
AMSGRAD = F_AMSGRAD
NESTEROV = F_NESTEROV
CENTERED = F_CENTERED
MOMENTUM = F_MOMENTUM


cdef inline floating* _at(floating* tag, int64_t addr, Py_ssize_t lo) noexcept nogil:
    if addr == 0:
        return NULL
    return (<floating*><intptr_t>addr) + lo


cdef void _block(floating* tag, int kind, const int64_t* row, Py_ssize_t lo, Py_ssize_t n,
                 const double* hp, const double* pt, int flags) noexcept nogil:
    cdef floating* p = _at(tag, row[0], lo)
    cdef floating* g = _at(tag, row[1], lo)
    cdef floating* s1 = _at(tag, row[2], lo)
    cdef floating* s2 = _at(tag, row[3], lo)
    cdef floating* s3 = _at(tag, row[4], lo)
    if kind == 1:
        _adam(p, g, s1, s2, s3, n, hp, pt, flags)
    elif kind == 0:
        _sgd(p, g, s1, n, hp, pt, flags)
    elif kind == 2:
        _rmsprop(p, g, s1, s2, s3, n, hp, flags)
    elif kind == 3:
        _adagrad(p, g, s1, n, hp, pt, flags)
    elif kind == 4:
        _adadelta(p, g, s1, s2, n, hp, flags)


cdef void _run(floating* tag, int kind, const int64_t* ptrs, const int64_t* blocks,
               Py_ssize_t n_blocks, const double* pt, Py_ssize_t pt_stride, const double* hp,
               int flags, int n_threads) noexcept nogil:
    cdef Py_ssize_t b, t
    if n_threads <= 1:
        for b in range(n_blocks):
            t = blocks[3 * b]
            _block(tag, kind, ptrs + 5 * t, blocks[3 * b + 1],
                   blocks[3 * b + 2] - blocks[3 * b + 1], hp, pt + pt_stride * t, flags)
    else:
        for b in prange(n_blocks, schedule="static", num_threads=n_threads):
            t = blocks[3 * b]
            _block(tag, kind, ptrs + 5 * t, blocks[3 * b + 1],
                   blocks[3 * b + 2] - blocks[3 * b + 1], hp, pt + pt_stride * t, flags)


cdef inline bint _is_table(cnp.ndarray a, int typenum, Py_ssize_t cols) noexcept:
    return (cnp.PyArray_TYPE(a) == typenum and cnp.PyArray_NDIM(a) == 2
            and cnp.PyArray_DIM(a, 1) == cols and cnp.PyArray_IS_C_CONTIGUOUS(a))


def dense_step(int kind, bint is_double,
               cnp.ndarray ptrs,         # IN: int64 (n_tensors, 5) addresses, 0 = absent
               cnp.ndarray blocks,       # IN: int64 (n_blocks, 3) = (tensor, lo, hi)
               cnp.ndarray per_tensor,   # IN: float64 (n_tensors, 2) scalars, or None
               tuple hp,                 # IN: up to 8 hyper-parameters of the kind
               int flags, int n_threads,
               double scalar0=0.0, double scalar1=0.0):
    """Apply one optimizer step to every block; params and state are updated in place.

    Per-tensor scalars come from ``per_tensor[t]``, or, when it is ``None``, are
    ``(scalar0, scalar1)`` for every tensor.  The caller (the Python layer) guarantees valid,
    non-overlapping, correctly sized buffers; this entry point checks only the tables' layout.
    """
    cdef double hpbuf[8]
    cdef double uniform[2]
    cdef const double* pt = uniform
    cdef Py_ssize_t pt_stride = 0, j, n_blocks
    if not (_is_table(ptrs, cnp.NPY_INT64, 5) and _is_table(blocks, cnp.NPY_INT64, 3)):
        raise ValueError("dense_step: malformed pointer or block table")
    if len(hp) > 8:
        raise ValueError("dense_step: at most 8 hyper-parameters")
    for j in range(8):
        hpbuf[j] = hp[j] if j < len(hp) else 0.0
    uniform[0] = scalar0
    uniform[1] = scalar1
    if per_tensor is not None:
        if not (_is_table(per_tensor, cnp.NPY_DOUBLE, 2)
                and cnp.PyArray_DIM(per_tensor, 0) == cnp.PyArray_DIM(ptrs, 0)):
            raise ValueError("dense_step: malformed per-tensor scalar table")
        pt = <const double*>cnp.PyArray_DATA(per_tensor)
        pt_stride = 2
    n_blocks = cnp.PyArray_DIM(blocks, 0)
    if n_blocks == 0:
        return
    cdef const int64_t* ptab = <const int64_t*>cnp.PyArray_DATA(ptrs)
    cdef const int64_t* btab = <const int64_t*>cnp.PyArray_DATA(blocks)
    with nogil:
        if is_double:
            _run(<double*>NULL, kind, ptab, btab, n_blocks, pt, pt_stride, hpbuf, flags,
                 n_threads)
        else:
            _run(<float*>NULL, kind, ptab, btab, n_blocks, pt, pt_stride, hpbuf, flags,
                 n_threads)


cdef bint _overlaps(int64_t start, int64_t stop, const int64_t* olo, const int64_t* ohi,
                    Py_ssize_t n_owned) noexcept nogil:
    """Whether bytes ``[start, stop)`` overlap one of the sorted, disjoint ranges
    ``[olo[i], ohi[i])``: a binary search for the last range starting before ``stop``."""
    cdef Py_ssize_t lo_i = 0, hi_i = n_owned, mid
    if stop <= start:
        return False
    while lo_i < hi_i:
        mid = (lo_i + hi_i) // 2
        if olo[mid] < stop:
            lo_i = mid + 1
        else:
            hi_i = mid
    return lo_i > 0 and ohi[lo_i - 1] > start


cdef inline bint _is_ranges(cnp.ndarray lo, cnp.ndarray hi) noexcept:
    return (cnp.PyArray_TYPE(lo) == cnp.NPY_INT64 and cnp.PyArray_TYPE(hi) == cnp.NPY_INT64
            and cnp.PyArray_SIZE(lo) == cnp.PyArray_SIZE(hi)
            and cnp.PyArray_IS_C_CONTIGUOUS(lo) and cnp.PyArray_IS_C_CONTIGUOUS(hi))


def overlaps_owned(cnp.ndarray a, cnp.ndarray owned_lo, cnp.ndarray owned_hi):
    """Whether the bytes of the C-contiguous array ``a`` overlap a parameter or state buffer
    (``owned_lo/owned_hi`` as in ``gather_grads``)."""
    if not (_is_ranges(owned_lo, owned_hi) and cnp.PyArray_IS_C_CONTIGUOUS(a)):
        raise ValueError("overlaps_owned: malformed arguments")
    cdef int64_t start = <int64_t><intptr_t>cnp.PyArray_DATA(a)
    return _overlaps(start, start + cnp.PyArray_NBYTES(a),
                     <const int64_t*>cnp.PyArray_DATA(owned_lo),
                     <const int64_t*>cnp.PyArray_DATA(owned_hi), cnp.PyArray_SIZE(owned_lo))


def gather_grads(list grads, list index, list params,
                 cnp.ndarray ptrs,               # OUT: column 1 gets each gradient's address
                 cnp.ndarray kind,               # OUT: uint8, 0 None, 1 dense, 2 other
                 cnp.ndarray owned_lo, cnp.ndarray owned_hi):
    """Validate this step's dense gradients for one bucket and record their addresses.

    ``grads[index[j]]`` belongs to ``params[j]``.  A C-contiguous, aligned, native-byte-order
    ndarray of the parameter's dtype and shape is recorded (kind 1); ``None`` is kind 0; anything
    else (RowGrad, sparse matrix, non-contiguous array) is kind 2 and left to the Python layer.
    ``owned_lo/owned_hi`` are the sorted, disjoint byte ranges of every parameter and state
    buffer: a gradient overlapping one of them is rejected.  Returns ``(n_none, n_other)``.
    """
    cdef Py_ssize_t j, d, k, n = len(index)
    cdef cnp.ndarray g, p
    cdef object obj
    cdef int64_t start, stop
    cdef Py_ssize_t n_none = 0, n_other = 0
    if not (_is_table(ptrs, cnp.NPY_INT64, 5) and cnp.PyArray_DIM(ptrs, 0) == n
            and cnp.PyArray_TYPE(kind) == cnp.NPY_UINT8 and cnp.PyArray_SIZE(kind) == n
            and cnp.PyArray_IS_C_CONTIGUOUS(kind) and len(params) == n
            and _is_ranges(owned_lo, owned_hi)):
        raise ValueError("gather_grads: malformed tables")
    cdef int64_t* ptab = <int64_t*>cnp.PyArray_DATA(ptrs)
    cdef uint8_t* ktab = <uint8_t*>cnp.PyArray_DATA(kind)
    cdef const int64_t* olo = <const int64_t*>cnp.PyArray_DATA(owned_lo)
    cdef const int64_t* ohi = <const int64_t*>cnp.PyArray_DATA(owned_hi)
    cdef Py_ssize_t n_owned = cnp.PyArray_SIZE(owned_lo)
    for j in range(n):
        k = index[j]
        obj = grads[k]
        if obj is None:
            ktab[j] = 0
            ptab[5 * j + 1] = 0
            n_none += 1
            continue
        if not cnp.PyArray_Check(obj):
            ktab[j] = 2
            n_other += 1
            continue
        g = <cnp.ndarray>obj
        p = <cnp.ndarray>params[j]
        if (cnp.PyArray_TYPE(g) != cnp.PyArray_TYPE(p)
                or not cnp.PyArray_ISNOTSWAPPED(g)):
            raise TypeError(
                f"grads[{k}] has dtype {g.dtype}, but its parameter has dtype {p.dtype}"
            )
        if cnp.PyArray_NDIM(g) != cnp.PyArray_NDIM(p):
            raise ValueError(
                f"grads[{k}] has shape {obj.shape}, but its parameter has shape {params[j].shape}"
            )
        for d in range(cnp.PyArray_NDIM(g)):
            if cnp.PyArray_DIM(g, d) != cnp.PyArray_DIM(p, d):
                raise ValueError(
                    f"grads[{k}] has shape {obj.shape}, but its parameter has shape {params[j].shape}"
                )
        if not (cnp.PyArray_IS_C_CONTIGUOUS(g) and cnp.PyArray_ISALIGNED(g)):
            ktab[j] = 2
            n_other += 1
            continue
        start = <int64_t><intptr_t>cnp.PyArray_DATA(g)
        stop = start + cnp.PyArray_NBYTES(g)
        if _overlaps(start, stop, olo, ohi, n_owned):
            raise ValueError(
                f"grads[{k}] shares memory with a parameter or optimizer state buffer; "
                "pass a separate gradient array"
            )
        ptab[5 * j + 1] = start
        ktab[j] = 1
    return n_none, n_other
