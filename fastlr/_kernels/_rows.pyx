"""Sparse row updates for embedding tables: coalescing and fused per-row optimizer kernels.

Three tiers, as everywhere in fastlr:

* ``cdef ... noexcept nogil`` functions on raw pointers that sort / sum index arrays, and
  the optimizers' range functions of ``_updates.pxd``, called once per touched row;
* ``def`` wrappers over typed memoryviews that check shapes and the row list, pack the
  optimizer's scalars, and hand over to one shared driver (``_run_rows``), which releases the
  GIL and runs a ``prange`` over the touched rows;
* the Python layer (``fastlr.optim._rowgrad``, ``fastlr.optim._rows``) validates the user's
  input, computes the per-step scalars at double precision and owns the state.

Every row kernel takes ``rows``: unique, strictly increasing ``int64`` row ids, and ``values``:
the coalesced gradient rows, ``values[k]`` belonging to ``param[rows[k]]``.  Because the rows
are unique, each row is updated by exactly one thread with the same sequential arithmetic, so
the result is bitwise identical for any thread count.

The per-element arithmetic is the dense kernels' own (``_updates.pxd``: PyTorch's dense
single-tensor formula in the parameter's dtype, ``floating``), applied to a row of ``n_cols``
consecutive elements; each wrapper packs its scalar arguments into the ``hp`` / ``pt`` arrays and
``flags`` of that interface once per call.  The build uses ``-ffp-contract=off``, so no fused
multiply-add changes a rounding and the NumPy twins in ``fastlr.reference.rows`` agree bit for
bit.
"""

from cython.parallel cimport prange
from libc.stdint cimport int32_t, int64_t
from libc.string cimport memcpy

from fastlr._kernels._common cimport floating
from fastlr._kernels._updates cimport (
    F_AMSGRAD, F_CENTERED, F_DECOUPLED, F_MAXIMIZE, F_MOMENTUM, F_NESTEROV, F_WD,
    _adadelta, _adagrad, _adam, _rmsprop, _sgd, _sqrt,
)

import numpy as np

ctypedef fused index_t:
    int32_t
    int64_t

cdef extern from *:
    """
    #if defined(__GNUC__) || defined(__clang__)
    #define FASTLR_PREFETCH_W(addr) __builtin_prefetch((addr), 1, 1)
    #else
    #define FASTLR_PREFETCH_W(addr) ((void)(addr))
    #endif
    """
    void _prefetch_w "FASTLR_PREFETCH_W"(const void* addr) noexcept nogil

# Touched rows are scattered over a table far larger than the caches, and the hardware
# prefetcher cannot guess the next row: ask for the rows this many positions ahead.
cdef Py_ssize_t PREFETCH_AHEAD = 4


cdef inline void _prefetch_row(const void* row, Py_ssize_t nbytes) noexcept nogil:
    """Prefetch (for writing) every cache line of one row."""
    cdef Py_ssize_t off = 0
    while off < nbytes:
        _prefetch_w(<const char*>row + off)
        off += 64


# Radix digit width of the index sort: 2**11 counters (16 KiB) stay in L1 and a 24-bit row
# id (16M rows) needs three passes.
cdef int RADIX_MAX_BITS = 11


cdef int _team_size(Py_ssize_t n_rows, int n_threads) noexcept nogil:
    """Threads for ``n_rows`` independent rows: ``n_threads`` (the Python layer applies the
    serial threshold, ``fastlr._threads.threads_for``), at least 1 and at most one per row."""
    if n_threads < 1:
        return 1
    if n_threads > n_rows:
        return <int>n_rows if n_rows > 0 else 1
    return n_threads


# --------------------------------------------------------------------------------------
# Index scanning, sorting and coalescing
# --------------------------------------------------------------------------------------

cdef Py_ssize_t _first_out_of_range(const index_t* indices, Py_ssize_t n, int64_t n_rows,
                                    bint* increasing) noexcept nogil:
    """Position of the first index outside ``[0, n_rows)``, or -1.

    ``increasing`` (OUT) is set to whether the indices are strictly increasing (which means
    unique and sorted: nothing to coalesce).
    """
    cdef Py_ssize_t i
    cdef int64_t cur, prev = -1
    increasing[0] = True
    for i in range(n):
        cur = <int64_t>indices[i]
        if cur < 0 or cur >= n_rows:
            return i
        if cur <= prev:
            increasing[0] = False
        prev = cur
    return -1


cdef void _radix_argsort(const index_t* keys, Py_ssize_t n, int key_bits,
                         int64_t* sorted_keys, int64_t* order,
                         int64_t* key_tmp, int64_t* order_tmp) noexcept nogil:
    """Stable LSD radix sort of non-negative keys below ``2**key_bits``.

    ``sorted_keys``, ``order`` (OUT, length n): the keys in increasing order and the original
    position of each, equal keys keeping their original order.  ``key_tmp``, ``order_tmp``:
    scratch of length n.  Cost O(n * passes + 2**digit), independent of the table size
    except through ``key_bits`` (at most three passes below 2**33 rows).
    """
    cdef Py_ssize_t counts[2048]
    cdef Py_ssize_t i, total, c
    cdef int passes, bits, shift, p
    cdef int64_t mask, d
    cdef int64_t* src_k = sorted_keys
    cdef int64_t* src_o = order
    cdef int64_t* dst_k = key_tmp
    cdef int64_t* dst_o = order_tmp
    cdef int64_t* swap

    for i in range(n):
        sorted_keys[i] = <int64_t>keys[i]
        order[i] = i
    if key_bits <= 0 or n < 2:
        return
    passes = (key_bits + RADIX_MAX_BITS - 1) // RADIX_MAX_BITS
    bits = (key_bits + passes - 1) // passes          # balanced digits, each <= 11 bits
    mask = ((<int64_t>1) << bits) - 1
    for p in range(passes):
        shift = p * bits
        for i in range(mask + 1):
            counts[i] = 0
        for i in range(n):
            counts[(src_k[i] >> shift) & mask] += 1
        total = 0
        for i in range(mask + 1):
            c = counts[i]
            counts[i] = total
            total += c
        for i in range(n):
            d = (src_k[i] >> shift) & mask
            dst_k[counts[d]] = src_k[i]
            dst_o[counts[d]] = src_o[i]
            counts[d] += 1
        swap = src_k; src_k = dst_k; dst_k = swap
        swap = src_o; src_o = dst_o; dst_o = swap
    if src_k != sorted_keys:
        memcpy(sorted_keys, src_k, n * sizeof(int64_t))
        memcpy(order, src_o, n * sizeof(int64_t))


cdef Py_ssize_t _segments(const int64_t* sorted_keys, Py_ssize_t n,
                          int64_t* rows, int64_t* starts) noexcept nogil:
    """Run-length split of sorted keys; returns the number of unique keys ``u``.

    ``rows`` (OUT, >= u): the unique keys.  ``starts`` (OUT, >= u + 1): run k is
    ``sorted_keys[starts[k]:starts[k + 1]]``.
    """
    cdef Py_ssize_t i, u = 0
    for i in range(n):
        if i == 0 or sorted_keys[i] != sorted_keys[i - 1]:
            rows[u] = sorted_keys[i]
            starts[u] = i
            u += 1
    starts[u] = n
    return u


cdef inline void _sum_segment(const floating* values, Py_ssize_t n_cols, const int64_t* order,
                              int64_t start, int64_t stop, floating* out) noexcept nogil:
    """``out = values[order[start]] + values[order[start + 1]] + ...`` left to right."""
    cdef Py_ssize_t j
    cdef int64_t i
    cdef const floating* src = values + order[start] * n_cols
    for j in range(n_cols):
        out[j] = src[j]
    for i in range(start + 1, stop):
        src = values + order[i] * n_cols
        for j in range(n_cols):
            out[j] = out[j] + src[j]


def scan_indices(const index_t[::1] indices, Py_ssize_t n_rows):
    """Check row ids against a table of ``n_rows`` rows.

    Returns
    -------
    first_bad : int
        Position of the first index outside ``[0, n_rows)`` (negative ids included), or -1.
    increasing : bool
        Whether the indices are strictly increasing (unique and sorted).  Only meaningful
        when ``first_bad == -1``.
    """
    cdef bint increasing = True
    cdef Py_ssize_t bad
    with nogil:
        bad = _first_out_of_range(&indices[0] if indices.shape[0] else NULL,
                                  indices.shape[0], n_rows, &increasing)
    return bad, bool(increasing)


def coalesce(const index_t[::1] indices, const floating[:, ::1] values, Py_ssize_t n_rows,
             int n_threads=1):
    """Sum the gradient rows of duplicate indices.

    ``indices`` must already be known to lie in ``[0, n_rows)`` (see ``scan_indices``); this
    is re-checked and an ``IndexError`` raised before anything is computed.

    Rows are sorted with a stable radix sort, so each output row is the sum of its input rows
    in their original order of occurrence, accumulated in the values' dtype and starting from
    the first occurrence (a single occurrence is passed through bit for bit, ``-0.0``
    included).  Each output row is summed by one thread: the result does not depend on
    ``n_threads``.

    Returns
    -------
    rows : ndarray of int64, shape (u,)
        The unique row ids, increasing.
    summed : ndarray, shape (u, n_cols), dtype of ``values``
        ``summed[k]`` is the sum of ``values[i]`` over ``indices[i] == rows[k]``.
    """
    cdef Py_ssize_t n = indices.shape[0]
    cdef Py_ssize_t n_cols = values.shape[1]
    cdef Py_ssize_t u, k, bad
    cdef bint increasing
    cdef int key_bits, team
    if values.shape[0] != n:
        raise ValueError(f"values has {values.shape[0]} rows for {n} indices")
    if n == 0:
        return np.empty(0, np.int64), np.empty((0, n_cols), np.float32 if floating is float else np.float64)
    with nogil:
        bad = _first_out_of_range(&indices[0], n, n_rows, &increasing)
    if bad >= 0:
        raise IndexError(f"index {indices[bad]} at position {bad} is out of range for {n_rows} rows")

    key_bits = int(n_rows - 1).bit_length()
    # One scratch allocation: sorted keys, order, two sort buffers, run starts.
    work = np.empty(5 * n + 1, np.int64)
    cdef int64_t[::1] w = work
    cdef int64_t* sk = &w[0]
    cdef int64_t* od = sk + n
    cdef int64_t* kt = od + n        # sort scratch; then the unique rows
    cdef int64_t* ot = kt + n
    cdef int64_t* st = ot + n
    with nogil:
        _radix_argsort(&indices[0], n, key_bits, sk, od, kt, ot)
        u = _segments(sk, n, kt, st)

    summed = np.empty((u, n_cols), dtype=np.float32 if floating is float else np.float64)
    cdef floating[:, ::1] out = summed
    team = _team_size(n, n_threads)
    if n_cols > 0 and team == 1:
        with nogil:                     # no thread team for serial work: it costs microseconds
            for k in range(u):
                _sum_segment(&values[0, 0], n_cols, od, st[k], st[k + 1], &out[k, 0])
    elif n_cols > 0:
        with nogil:
            # Runs are ragged (a popular row can repeat hundreds of times): dynamic schedule.
            for k in prange(u, schedule="dynamic", chunksize=16, num_threads=team):
                _sum_segment(&values[0, 0], n_cols, od, st[k], st[k + 1], &out[k, 0])
    return work[2 * n:2 * n + u].copy(), summed


# --------------------------------------------------------------------------------------
# Row-list checks shared by the update wrappers
# --------------------------------------------------------------------------------------

cdef Py_ssize_t _first_bad_row(const int64_t* rows, Py_ssize_t n, int64_t n_rows) noexcept nogil:
    """Position of the first row id out of range or not above its predecessor, or -1."""
    cdef Py_ssize_t i
    cdef int64_t prev = -1
    for i in range(n):
        if rows[i] <= prev or rows[i] >= n_rows:
            return i
        prev = rows[i]
    return -1


cdef _check_rows(const int64_t[::1] rows, Py_ssize_t n_values, Py_ssize_t n_cols_values,
                 tuple shape):
    """Raise unless ``rows`` are unique, increasing, in range and match ``values``."""
    cdef Py_ssize_t bad
    cdef int64_t n_rows = shape[0]
    if rows.shape[0] != n_values:
        raise ValueError(f"values has {n_values} rows for {rows.shape[0]} row ids")
    if n_cols_values != shape[1]:
        raise ValueError(f"values has {n_cols_values} columns, the table has {shape[1]}")
    with nogil:
        bad = _first_bad_row(&rows[0] if rows.shape[0] else NULL, rows.shape[0], n_rows)
    if bad >= 0:
        raise IndexError(
            f"rows must be unique, increasing and in [0, {shape[0]}); row {rows[bad]} at "
            f"position {bad} is not"
        )


cdef _check_same_shape(str name, tuple shape, tuple expected):
    if shape != expected:
        raise ValueError(f"{name} has shape {shape}, expected {expected}")


cdef inline tuple _shape2(Py_ssize_t a, Py_ssize_t b):
    return (a, b)


cdef floating* _state(str name, floating[:, ::1] buf, tuple shape, bint used) except? NULL:
    """First element of a state table after checking it has ``shape``; NULL when not ``used``
    (then ``buf`` is a placeholder and neither checked nor touched)."""
    if not used:
        return NULL
    _check_same_shape(name, _shape2(buf.shape[0], buf.shape[1]), shape)
    return &buf[0, 0] if buf.shape[0] and buf.shape[1] else NULL


# --------------------------------------------------------------------------------------
# The shared row driver
# --------------------------------------------------------------------------------------

# Optimizer kinds, as in fastlr._kernels._dense.
cdef enum:
    K_SGD = 0
    K_ADAM = 1
    K_RMSPROP = 2
    K_ADAGRAD = 3
    K_ADADELTA = 4


cdef inline floating* _row_at(floating* base, Py_ssize_t off) noexcept nogil:
    """``base + off``, or NULL for an unused (NULL) state table."""
    if base == NULL:
        return NULL
    return base + off


cdef inline void _prefetch_rows(floating* param, floating* s1, floating* s2, floating* s3,
                                Py_ssize_t off, Py_ssize_t nbytes) noexcept nogil:
    """Prefetch one row of the parameter and of every state table in use."""
    _prefetch_row(param + off, nbytes)
    if s1 != NULL:
        _prefetch_row(s1 + off, nbytes)
    if s2 != NULL:
        _prefetch_row(s2 + off, nbytes)
    if s3 != NULL:
        _prefetch_row(s3 + off, nbytes)


cdef inline void _update_row(int kind, floating* p, const floating* g, floating* s1,
                             floating* s2, floating* s3, Py_ssize_t n, const double* hp,
                             const double* pt, int flags) noexcept nogil:
    """One row through the range function of ``kind`` (state layout as ``_dense._block``)."""
    if kind == K_ADAM:
        _adam(p, g, s1, s2, s3, n, hp, pt, flags)
    elif kind == K_SGD:
        _sgd(p, g, s1, n, hp, pt, flags)
    elif kind == K_RMSPROP:
        _rmsprop(p, g, s1, s2, s3, n, hp, flags)
    elif kind == K_ADAGRAD:
        _adagrad(p, g, s1, n, hp, pt, flags)
    elif kind == K_ADADELTA:
        _adadelta(p, g, s1, s2, n, hp, flags)


cdef void _run_rows(int kind, floating* param, floating* s1, floating* s2, floating* s3,
                    const int64_t* rows, const floating* values, Py_ssize_t n,
                    Py_ssize_t n_cols, const double* hp, const double* pt, int flags,
                    int team) noexcept nogil:
    """Update rows ``rows[:n]`` of ``param`` and the state tables ``s1..s3`` (NULL: unused)
    with the gradient rows ``values[k]``, a static ``prange`` over the rows.

    Tables are C-contiguous with ``n_cols`` columns; the state order per kind is that of
    ``_dense._block`` (SGD: buf; Adam: m, v, vmax; RMSprop: sq, buf, grad_avg; Adagrad: sum;
    Adadelta: sq, acc_delta).
    """
    cdef Py_ssize_t k, off
    cdef Py_ssize_t nbytes = n_cols * sizeof(floating)
    for k in prange(n, schedule="static", num_threads=team):
        if k + PREFETCH_AHEAD < n:
            _prefetch_rows(param, s1, s2, s3, rows[k + PREFETCH_AHEAD] * n_cols, nbytes)
        off = rows[k] * n_cols
        _update_row(kind, param + off, values + k * n_cols, _row_at(s1, off), _row_at(s2, off),
                    _row_at(s3, off), n_cols, hp, pt, flags)


cdef _rows_step(int kind, floating[:, ::1] param, floating* s1, floating* s2, floating* s3,
                const int64_t[::1] rows, const floating[:, ::1] values, const double* hp,
                const double* pt, int flags, int n_threads):
    """Run ``_run_rows`` without the GIL on checked tables (``_check_rows``, ``_state``);
    nothing to do for no rows or no columns."""
    cdef Py_ssize_t n = rows.shape[0], n_cols = param.shape[1]
    if n == 0 or n_cols == 0:
        return
    cdef int team = _team_size(n, n_threads)
    with nogil:
        _run_rows(kind, &param[0, 0], s1, s2, s3, &rows[0], &values[0, 0], n, n_cols, hp, pt,
                  flags, team)


# --------------------------------------------------------------------------------------
# SGD
# --------------------------------------------------------------------------------------

def sgd_rows(floating[:, ::1] param, floating[:, ::1] momentum_buffer,
             const int64_t[::1] rows, const floating[:, ::1] values,
             double lr, double weight_decay=0.0, double momentum=0.0, double dampening=0.0,
             bint nesterov=False, bint maximize=False, bint first_step=False, int n_threads=1):
    """SGD on the listed rows of ``param`` (and ``momentum_buffer`` when ``momentum != 0``).

    Exact (a dense step with zero rows elsewhere) without momentum and weight decay; lazy
    otherwise: untouched rows neither decay nor move with their momentum.

    For each touched row, PyTorch's dense rule::

        g = -g if maximize;  g = g + weight_decay * p
        b = g                                   (first_step)
        b = b * momentum + (1 - dampening) * g  (later steps)
        g = g + momentum * b  (nesterov)  or  g = b
        p = p + (-lr) * g

    ``momentum_buffer`` is only read and written when ``momentum != 0`` (pass ``param`` as a
    placeholder otherwise).
    """
    cdef tuple shape = _shape2(param.shape[0], param.shape[1])
    cdef bint use_mom = momentum != 0.0
    cdef double hp[4]
    cdef double pt[1]
    cdef int flags = ((F_MAXIMIZE if maximize else 0) | (F_WD if weight_decay != 0.0 else 0)
                      | (F_MOMENTUM if use_mom else 0) | (F_NESTEROV if nesterov else 0))
    hp[:] = [lr, momentum, dampening, weight_decay]
    pt[0] = 1.0 if first_step else 0.0
    _check_rows(rows, values.shape[0], values.shape[1], shape)
    cdef floating* buf = _state("momentum_buffer", momentum_buffer, shape, use_mom)
    _rows_step(K_SGD, param, buf, NULL, NULL, rows, values, hp, pt, flags, n_threads)


# --------------------------------------------------------------------------------------
# Adam / AdamW / AMSGrad
# --------------------------------------------------------------------------------------

def adam_rows(floating[:, ::1] param, floating[:, ::1] exp_avg, floating[:, ::1] exp_avg_sq,
              floating[:, ::1] max_exp_avg_sq, const int64_t[::1] rows,
              const floating[:, ::1] values, double beta1, double beta2, double eps,
              double neg_step_size, double bias_correction2_sqrt, double weight_decay=0.0,
              double decay=1.0, bint decoupled=False, bint amsgrad=False, bint maximize=False,
              int n_threads=1):
    """Adam / AdamW / AMSGrad on the listed rows (lazy: other rows are not read or written).

    A dense step would also decay the moments of untouched rows and move them with their
    old momentum; this is ``torch.optim.SparseAdam``'s semantics (see ``fastlr.optim._rows``
    for the eps placement difference).

    For each touched row, PyTorch's dense single-tensor rule::

        g = -g if maximize
        p = p * decay                     (decoupled, decay = 1 - lr * weight_decay)
        g = g + weight_decay * p          (not decoupled)
        m = lerp(m, g, 1 - beta1)
        v = v * beta2 + ((1 - beta2) * g) * g
        vmax = maximum(vmax, v); v <- vmax          (amsgrad)
        p = p + (neg_step_size * m) / (sqrt(v) / bias_correction2_sqrt + eps)

    with ``neg_step_size = -lr / (1 - beta1**step)`` and ``bias_correction2_sqrt =
    sqrt(1 - beta2**step)`` computed by the caller in double precision.
    ``max_exp_avg_sq`` is only touched when ``amsgrad`` (pass ``exp_avg_sq`` otherwise).
    """
    cdef tuple shape = _shape2(param.shape[0], param.shape[1])
    cdef bint use_wd = weight_decay != 0.0
    cdef double hp[5]
    cdef double pt[2]
    cdef int flags = ((F_MAXIMIZE if maximize else 0) | (F_AMSGRAD if amsgrad else 0)
                      | (F_WD if use_wd and not decoupled else 0)
                      | (F_DECOUPLED if use_wd and decoupled else 0))
    hp[:] = [beta1, beta2, eps, weight_decay, decay]
    # _adam takes the step size and negates it; -(-x) is exact
    pt[:] = [-neg_step_size, bias_correction2_sqrt]
    _check_rows(rows, values.shape[0], values.shape[1], shape)
    cdef floating* m = _state("exp_avg", exp_avg, shape, True)
    cdef floating* v = _state("exp_avg_sq", exp_avg_sq, shape, True)
    cdef floating* vmax = _state("max_exp_avg_sq", max_exp_avg_sq, shape, amsgrad)
    _rows_step(K_ADAM, param, m, v, vmax, rows, values, hp, pt, flags, n_threads)


# --------------------------------------------------------------------------------------
# Adagrad
# --------------------------------------------------------------------------------------

def adagrad_rows(floating[:, ::1] param, floating[:, ::1] state_sum,
                 const int64_t[::1] rows, const floating[:, ::1] values,
                 double clr, double weight_decay=0.0, double eps=1e-10, bint maximize=False,
                 int n_threads=1):
    """Adagrad on the listed rows.

    Exact without weight decay (an untouched row gets ``s + 0`` and ``p + 0`` from a dense
    step, barring ``eps = 0`` with ``s = 0`` or a NaN ``s``); lazy with it.

    For each touched row, PyTorch's dense rule (``addcmul`` with value 1 is ``g * g``)::

        g = -g if maximize;  g = g + weight_decay * p
        s = s + g * g
        p = p + (-clr * g) / (sqrt(s) + eps)

    with ``clr = lr / (1 + (step - 1) * lr_decay)`` computed by the caller.
    """
    cdef tuple shape = _shape2(param.shape[0], param.shape[1])
    cdef double hp[2]
    cdef double pt[1]
    cdef int flags = (F_MAXIMIZE if maximize else 0) | (F_WD if weight_decay != 0.0 else 0)
    hp[:] = [eps, weight_decay]
    pt[0] = clr
    _check_rows(rows, values.shape[0], values.shape[1], shape)
    cdef floating* acc = _state("sum", state_sum, shape, True)
    _rows_step(K_ADAGRAD, param, acc, NULL, NULL, rows, values, hp, pt, flags, n_threads)


# --------------------------------------------------------------------------------------
# RMSprop
# --------------------------------------------------------------------------------------

def rmsprop_rows(floating[:, ::1] param, floating[:, ::1] square_avg, floating[:, ::1] grad_avg,
                 floating[:, ::1] momentum_buffer, const int64_t[::1] rows,
                 const floating[:, ::1] values, double lr, double alpha=0.99, double eps=1e-8,
                 double weight_decay=0.0, double momentum=0.0, bint centered=False,
                 bint maximize=False, int n_threads=1):
    """RMSprop on the listed rows (lazy: untouched rows' averages and buffers are not decayed).

    For each touched row, PyTorch's dense rule::

        g = -g if maximize;  g = g + weight_decay * p
        sq = sq * alpha + ((1 - alpha) * g) * g
        ga = lerp(ga, g, 1 - alpha);  avg = sqrt(sq + (-ga) * ga)   (centered)
        avg = sqrt(sq)                                              (otherwise)
        avg = avg + eps
        b = b * momentum + g / avg;  p = p + (-lr) * b              (momentum > 0)
        p = p + (-lr * g) / avg                                     (otherwise)

    ``grad_avg`` / ``momentum_buffer`` are only touched when ``centered`` / ``momentum > 0``
    (pass ``param`` as a placeholder otherwise).
    """
    cdef tuple shape = _shape2(param.shape[0], param.shape[1])
    cdef bint use_mom = momentum > 0.0
    cdef double hp[5]
    cdef int flags = ((F_MAXIMIZE if maximize else 0) | (F_WD if weight_decay != 0.0 else 0)
                      | (F_CENTERED if centered else 0) | (F_MOMENTUM if use_mom else 0))
    hp[:] = [lr, alpha, eps, weight_decay, momentum]
    _check_rows(rows, values.shape[0], values.shape[1], shape)
    cdef floating* sq = _state("square_avg", square_avg, shape, True)
    cdef floating* gavg = _state("grad_avg", grad_avg, shape, centered)
    cdef floating* buf = _state("momentum_buffer", momentum_buffer, shape, use_mom)
    _rows_step(K_RMSPROP, param, sq, buf, gavg, rows, values, hp, NULL, flags, n_threads)


# --------------------------------------------------------------------------------------
# Adadelta
# --------------------------------------------------------------------------------------

def adadelta_rows(floating[:, ::1] param, floating[:, ::1] square_avg,
                  floating[:, ::1] acc_delta, const int64_t[::1] rows,
                  const floating[:, ::1] values, double lr, double rho=0.9, double eps=1e-6,
                  double weight_decay=0.0, bint maximize=False, int n_threads=1):
    """Adadelta on the listed rows (lazy: untouched rows' running averages are not decayed).

    For each touched row, PyTorch's dense rule::

        g = -g if maximize;  g = g + weight_decay * p
        sq = sq * rho + ((1 - rho) * g) * g
        delta = (sqrt(acc + eps) / sqrt(sq + eps)) * g
        acc = acc * rho + ((1 - rho) * delta) * delta
        p = p + (-lr) * delta
    """
    cdef tuple shape = _shape2(param.shape[0], param.shape[1])
    cdef double hp[4]
    cdef int flags = (F_MAXIMIZE if maximize else 0) | (F_WD if weight_decay != 0.0 else 0)
    hp[:] = [lr, rho, eps, weight_decay]
    _check_rows(rows, values.shape[0], values.shape[1], shape)
    cdef floating* sq = _state("square_avg", square_avg, shape, True)
    cdef floating* acc = _state("acc_delta", acc_delta, shape, True)
    _rows_step(K_ADADELTA, param, sq, acc, NULL, rows, values, hp, NULL, flags, n_threads)


# --------------------------------------------------------------------------------------
# Row-wise Adagrad: one accumulator per row
# --------------------------------------------------------------------------------------

cdef inline void _rowwise_adagrad_row(floating* p, floating* s, const floating* g, Py_ssize_t n,
                                      double clr, double weight_decay, double eps,
                                      bint maximize) noexcept nogil:
    """``s += mean(g**2)`` (sum in double, left to right), then an Adagrad step with ``s``."""
    cdef Py_ssize_t j
    cdef floating gj, std
    cdef double sq_sum = 0.0
    cdef floating neg_clr = <floating>(-clr)
    cdef floating wd = <floating>weight_decay
    cdef floating e = <floating>eps
    cdef bint use_wd = weight_decay != 0.0
    for j in range(n):
        gj = -g[j] if maximize else g[j]
        if use_wd:
            gj = gj + wd * p[j]
        sq_sum = sq_sum + <double>gj * <double>gj
    s[0] = s[0] + <floating>(sq_sum / <double>n)
    std = _sqrt(s[0]) + e
    for j in range(n):
        gj = -g[j] if maximize else g[j]
        if use_wd:
            gj = gj + wd * p[j]
        p[j] = p[j] + (neg_clr * gj) / std


def rowwise_adagrad_rows(floating[:, ::1] param, floating[::1] state_sum,
                         const int64_t[::1] rows, const floating[:, ::1] values,
                         double clr, double weight_decay=0.0, double eps=1e-10,
                         bint maximize=False, int n_threads=1):
    """Row-wise Adagrad on the listed rows; ``state_sum`` has one entry per table row.

    Exact with respect to ``rowwise_adagrad_dense`` without weight decay, lazy with it.

    For each touched row ``r`` with gradient row ``g`` (length ``d``)::

        g = -g if maximize;  g = g + weight_decay * p
        s[r] = s[r] + dtype(sum_j(double(g_j) * double(g_j)) / d)   (sum left to right)
        p = p + (-clr * g) / (sqrt(s[r]) + eps)
    """
    cdef tuple shape = _shape2(param.shape[0], param.shape[1])
    cdef Py_ssize_t k, n_cols = param.shape[1], n = rows.shape[0]
    cdef int team
    _check_rows(rows, values.shape[0], values.shape[1], shape)
    if state_sum.shape[0] != shape[0]:
        raise ValueError(f"sum has {state_sum.shape[0]} entries for {shape[0]} rows")
    if n == 0 or n_cols == 0:
        return
    team = _team_size(n, n_threads)
    with nogil:
        for k in prange(n, schedule="static", num_threads=team):
            if k + PREFETCH_AHEAD < n:
                _prefetch_row(&param[rows[k + PREFETCH_AHEAD], 0], n_cols * sizeof(floating))
                _prefetch_w(&state_sum[rows[k + PREFETCH_AHEAD]])
            _rowwise_adagrad_row(&param[rows[k], 0], &state_sum[rows[k]], &values[k, 0],
                                 n_cols, clr, weight_decay, eps, maximize)


def rowwise_adagrad_dense(floating[:, ::1] param, floating[::1] state_sum,
                          const floating[:, ::1] grad, double clr, double weight_decay=0.0,
                          double eps=1e-10, bint maximize=False, int n_threads=1):
    """Row-wise Adagrad with a dense gradient: every row is updated as in ``*_rows``."""
    cdef Py_ssize_t r, n = param.shape[0], n_cols = param.shape[1]
    cdef int team
    _check_same_shape("grad", _shape2(grad.shape[0], grad.shape[1]), _shape2(n, n_cols))
    if state_sum.shape[0] != n:
        raise ValueError(f"sum has {state_sum.shape[0]} entries for {n} rows")
    if n == 0 or n_cols == 0:
        return
    team = _team_size(n, n_threads)
    with nogil:
        for r in prange(n, schedule="static", num_threads=team):
            _rowwise_adagrad_row(&param[r, 0], &state_sum[r], &grad[r, 0], n_cols, clr,
                                 weight_decay, eps, maximize)
