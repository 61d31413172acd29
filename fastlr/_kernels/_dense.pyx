"""Fused dense optimizer updates: one pass over param, grad and state per step.

Design
------
* One ``noexcept nogil`` range function per optimizer applies PyTorch's single-tensor update to
  ``n`` consecutive elements.  Scalars arrive as ``double`` and are cast to the element type
  first, exactly as PyTorch casts a Python scalar to the tensor's dtype, so a float32 update is
  computed in float32 with PyTorch's order of operations (``-ffp-contract=off`` keeps every
  product and sum separately rounded).  Per-step scalars (bias corrections, step sizes) are
  computed once per step in Python.
* Multi-tensor dispatch: a whole bucket of tensors (one param group, one dtype) is updated in one
  call from a pointer table ``ptrs[t] = (param, grad, state1, state2, state3)`` (0 = absent) and
  a block table ``blocks[b] = (tensor, lo, hi)``.  Blocks are spread over threads with a static
  schedule; each element is computed by the same code whatever the thread count, so results are
  bitwise identical for any number of threads.
* ``gather_grads`` validates a step's gradients (dtype, shape, contiguity, aliasing) and writes
  their addresses into the pointer table before any kernel runs.
"""

from cython.parallel cimport prange
from libc.math cimport sqrt, sqrtf, fabs
from libc.stdint cimport int64_t, intptr_t, uint8_t

cimport numpy as cnp

from fastlr._kernels._common cimport floating, nan_max

cnp.import_array()

# Optimizer kinds (the Python layer uses the same numbers).
SGD = 0
ADAM = 1
RMSPROP = 2
ADAGRAD = 3
ADADELTA = 4

# Flags.
MAXIMIZE = 1
WEIGHT_DECAY = 2      # L2 penalty added to the gradient
DECOUPLED = 4         # AdamW: param *= 1 - lr * weight_decay
AMSGRAD = 8
NESTEROV = 16
CENTERED = 32
MOMENTUM = 64

cdef int F_MAXIMIZE = 1, F_WD = 2, F_DECOUPLED = 4, F_AMSGRAD = 8
cdef int F_NESTEROV = 16, F_CENTERED = 32, F_MOMENTUM = 64

cdef inline floating _sqrt(floating x) noexcept nogil:
    if floating is float:
        return sqrtf(x)
    else:
        return sqrt(x)


cdef inline void _sgd_loop(floating* p, const floating* g, floating* buf, Py_ssize_t n,
                           const double* hp, const double* pt, int flags,
                           const bint use_mom) noexcept nogil:
    # hp = (lr, momentum, dampening, weight_decay); pt[0] = 1.0 on the buffer's first step
    cdef floating neg_lr = <floating>(-hp[0])
    cdef floating mom = <floating>hp[1]
    cdef floating omd = <floating>(1.0 - hp[2])
    cdef floating wd = <floating>hp[3]
    cdef floating sign = -1 if flags & F_MAXIMIZE else 1
    cdef bint use_wd = flags & F_WD, nesterov = flags & F_NESTEROV
    cdef bint first = pt[0] != 0.0
    cdef floating gi, b
    cdef Py_ssize_t i
    for i in range(n):
        gi = sign * g[i]
        gi = gi + wd * p[i] if use_wd else gi
        if use_mom:
            b = gi if first else buf[i] * mom + omd * gi
            buf[i] = b
            gi = gi + mom * b if nesterov else b
        p[i] = p[i] + neg_lr * gi


cdef void _sgd(floating* p, const floating* g, floating* buf, Py_ssize_t n,
               const double* hp, const double* pt, int flags) noexcept nogil:
    if flags & F_MOMENTUM:
        _sgd_loop(p, g, buf, n, hp, pt, flags, True)
    else:
        _sgd_loop(p, g, buf, n, hp, pt, flags, False)


cdef inline void _adam_loop(floating* p, const floating* g, floating* m, floating* v,
                            floating* vmax, Py_ssize_t n, const double* hp, const double* pt,
                            int flags, const bint amsgrad) noexcept nogil:
    # hp = (beta1, beta2, eps, weight_decay, 1 - lr * weight_decay); pt = (step_size, sqrt(bc2))
    cdef floating w = <floating>(1.0 - hp[0])        # lerp weight, as torch casts it
    cdef floating w_rest = 1 - w
    cdef bint small_w = fabs(w) < 0.5                 # torch's lerp picks its formula on this
    cdef floating b2 = <floating>hp[1]
    cdef floating omb2 = <floating>(1.0 - hp[1])
    cdef floating eps = <floating>hp[2]
    cdef floating wd = <floating>hp[3]
    cdef floating decay = <floating>hp[4]
    cdef floating neg_step = <floating>(-pt[0])
    cdef floating bc2_sqrt = <floating>pt[1]
    cdef floating sign = -1 if flags & F_MAXIMIZE else 1
    cdef bint use_wd = flags & F_WD, decoupled = flags & F_DECOUPLED
    cdef floating gi, pi, mi, vi, den
    cdef Py_ssize_t i
    for i in range(n):
        gi = sign * g[i]
        pi = p[i]
        gi = gi + wd * pi if use_wd else gi
        pi = pi * decay if decoupled else pi
        mi = m[i]
        mi = mi + w * (gi - mi) if small_w else gi - (gi - mi) * w_rest
        vi = v[i] * b2 + omb2 * gi * gi
        m[i] = mi
        v[i] = vi
        if amsgrad:
            vi = nan_max(vmax[i], vi)
            vmax[i] = vi
        den = _sqrt(vi) / bc2_sqrt + eps
        p[i] = pi + neg_step * mi / den


cdef void _adam(floating* p, const floating* g, floating* m, floating* v, floating* vmax,
                Py_ssize_t n, const double* hp, const double* pt, int flags) noexcept nogil:
    # amsgrad touches a fourth buffer: a separate loop keeps both loops branch-free
    if flags & F_AMSGRAD:
        _adam_loop(p, g, m, v, vmax, n, hp, pt, flags, True)
    else:
        _adam_loop(p, g, m, v, vmax, n, hp, pt, flags, False)


cdef inline void _rmsprop_loop(floating* p, const floating* g, floating* sq, floating* buf,
                               floating* gavg, Py_ssize_t n, const double* hp, int flags,
                               const bint centered, const bint use_mom) noexcept nogil:
    # hp = (lr, alpha, eps, weight_decay, momentum)
    cdef floating neg_lr = <floating>(-hp[0])
    cdef floating alpha = <floating>hp[1]
    cdef floating w = <floating>(1.0 - hp[1])
    cdef floating w_rest = 1 - w
    cdef bint small_w = fabs(w) < 0.5
    cdef floating eps = <floating>hp[2]
    cdef floating wd = <floating>hp[3]
    cdef floating mom = <floating>hp[4]
    cdef floating sign = -1 if flags & F_MAXIMIZE else 1
    cdef bint use_wd = flags & F_WD
    cdef floating gi, vi, ga, avg, b
    cdef Py_ssize_t i
    for i in range(n):
        gi = sign * g[i]
        gi = gi + wd * p[i] if use_wd else gi
        vi = sq[i] * alpha + w * gi * gi
        sq[i] = vi
        if centered:
            ga = gavg[i]
            ga = ga + w * (gi - ga) if small_w else gi - (gi - ga) * w_rest
            gavg[i] = ga
            avg = _sqrt(vi + (-ga) * ga) + eps
        else:
            avg = _sqrt(vi) + eps
        if use_mom:
            b = buf[i] * mom + gi / avg
            buf[i] = b
            p[i] = p[i] + neg_lr * b
        else:
            p[i] = p[i] + neg_lr * gi / avg


cdef void _rmsprop(floating* p, const floating* g, floating* sq, floating* buf, floating* gavg,
                   Py_ssize_t n, const double* hp, int flags) noexcept nogil:
    # one branch-free loop per combination of the optional state buffers
    cdef bint centered = flags & F_CENTERED, use_mom = flags & F_MOMENTUM
    if centered and use_mom:
        _rmsprop_loop(p, g, sq, buf, gavg, n, hp, flags, True, True)
    elif centered:
        _rmsprop_loop(p, g, sq, buf, gavg, n, hp, flags, True, False)
    elif use_mom:
        _rmsprop_loop(p, g, sq, buf, gavg, n, hp, flags, False, True)
    else:
        _rmsprop_loop(p, g, sq, buf, gavg, n, hp, flags, False, False)


cdef void _adagrad(floating* p, const floating* g, floating* acc, Py_ssize_t n,
                   const double* hp, const double* pt, int flags) noexcept nogil:
    # hp = (eps, weight_decay); pt[0] = lr / (1 + (step - 1) * lr_decay)
    cdef floating eps = <floating>hp[0]
    cdef floating wd = <floating>hp[1]
    cdef floating neg_clr = <floating>(-pt[0])
    cdef floating sign = -1 if flags & F_MAXIMIZE else 1
    cdef bint use_wd = flags & F_WD
    cdef floating gi, s
    cdef Py_ssize_t i
    for i in range(n):
        gi = sign * g[i]
        gi = gi + wd * p[i] if use_wd else gi
        s = acc[i] + gi * gi
        acc[i] = s
        p[i] = p[i] + neg_clr * gi / (_sqrt(s) + eps)


cdef void _adadelta(floating* p, const floating* g, floating* sq, floating* acc, Py_ssize_t n,
                    const double* hp, int flags) noexcept nogil:
    # hp = (lr, rho, eps, weight_decay)
    cdef floating neg_lr = <floating>(-hp[0])
    cdef floating rho = <floating>hp[1]
    cdef floating omr = <floating>(1.0 - hp[1])
    cdef floating eps = <floating>hp[2]
    cdef floating wd = <floating>hp[3]
    cdef floating sign = -1 if flags & F_MAXIMIZE else 1
    cdef bint use_wd = flags & F_WD
    cdef floating gi, vi, delta, ai
    cdef Py_ssize_t i
    for i in range(n):
        gi = sign * g[i]
        gi = gi + wd * p[i] if use_wd else gi
        vi = sq[i] * rho + omr * gi * gi
        sq[i] = vi
        ai = acc[i]
        delta = _sqrt(ai + eps) / _sqrt(vi + eps) * gi
        acc[i] = ai * rho + omr * delta * delta
        p[i] = p[i] + neg_lr * delta


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
    cdef Py_ssize_t j, d, k, n = len(index), lo_i, hi_i, mid
    cdef cnp.ndarray g, p
    cdef object obj
    cdef int64_t start, stop
    cdef Py_ssize_t n_none = 0, n_other = 0
    if not (_is_table(ptrs, cnp.NPY_INT64, 5) and cnp.PyArray_DIM(ptrs, 0) == n
            and cnp.PyArray_TYPE(kind) == cnp.NPY_UINT8 and cnp.PyArray_SIZE(kind) == n
            and cnp.PyArray_IS_C_CONTIGUOUS(kind) and len(params) == n
            and cnp.PyArray_TYPE(owned_lo) == cnp.NPY_INT64
            and cnp.PyArray_TYPE(owned_hi) == cnp.NPY_INT64
            and cnp.PyArray_SIZE(owned_lo) == cnp.PyArray_SIZE(owned_hi)
            and cnp.PyArray_IS_C_CONTIGUOUS(owned_lo) and cnp.PyArray_IS_C_CONTIGUOUS(owned_hi)):
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
        if stop > start and n_owned > 0:
            # last owned range starting before `stop`; ranges are disjoint and sorted
            lo_i, hi_i = 0, n_owned
            while lo_i < hi_i:
                mid = (lo_i + hi_i) // 2
                if olo[mid] < stop:
                    lo_i = mid + 1
                else:
                    hi_i = mid
            if lo_i > 0 and ohi[lo_i - 1] > start:
                raise ValueError(
                    f"grads[{k}] shares memory with a parameter or optimizer state buffer; "
                    "pass a separate gradient array"
                )
        ptab[5 * j + 1] = start
        ktab[j] = 1
    return n_none, n_other
