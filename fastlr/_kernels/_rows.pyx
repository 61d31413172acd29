"""Sparse row updates for embedding tables: coalescing plans and the fused per-row optimizer step.

Three tiers, as everywhere in fastlr:

* ``cdef ... noexcept nogil`` functions on raw pointers that plan and sum index runs, and the
  optimizers' range functions of ``_updates.pxd``, called once per touched row (or once over a
  gathered narrow table);
* ``def`` entry points that check their tables and hand over to one driver (``_launch``), which
  releases the GIL and runs one ``prange`` over the touched rows of all the tables of a step:
  ``plan_rows`` (validation phase) and ``step_rows`` (the dense kernels' kinds, hyper-parameters
  and pointer tables; repeated rows are summed inside the update pass), plus
  ``rowwise_adagrad_dense``;
* the Python layer (``fastlr.optim._rowgrad``, ``fastlr.optim._base``) validates the user's
  input, computes the per-step scalars at double precision and owns the state.

Rows reach the driver as unique ``int64`` ids in ``plan_rows``'s order, with either one gradient
row each (``values[k]`` belongs to ``param[rows[k]]``) or a run plan (the gradient of
``rows[k]`` is the sum of its run of ``values``, in order of occurrence).  Because the rows are
unique, each row is updated by exactly one thread with the same sequential arithmetic, so the
result is bitwise identical for any thread count.

The per-element arithmetic is the dense kernels' own (``_updates.pxd``: PyTorch's dense
single-tensor formula in the parameter's dtype, ``floating``), applied to a row of ``n_cols``
consecutive elements.  The build uses ``-ffp-contract=off``, so no fused multiply-add changes
a rounding and the NumPy twins in ``fastlr.reference.rows`` agree bit for bit.
"""

from cython.parallel cimport prange, threadid
from cpython.mem cimport PyMem_Free, PyMem_Malloc
from libc.stdint cimport int32_t, int64_t, intptr_t, uint64_t
from libc.string cimport memset

cimport numpy as cnp

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


cdef int _team_size(Py_ssize_t n_rows, int n_threads) noexcept nogil:
    """Threads for ``n_rows`` independent rows: ``n_threads`` (the Python layer applies the
    serial threshold, ``fastlr._threads.threads_for``), at least 1 and at most one per row."""
    if n_threads < 1:
        return 1
    if n_threads > n_rows:
        return <int>n_rows if n_rows > 0 else 1
    return n_threads


# --------------------------------------------------------------------------------------
# Index scanning and summing
# --------------------------------------------------------------------------------------

cdef Py_ssize_t _first_out_of_range(const index_t* indices, Py_ssize_t n, int64_t n_rows,
                                    bint* increasing) noexcept nogil:
    """Position of the first index outside ``[0, n_rows)``, or -1.

    ``increasing`` (OUT) is set to whether the indices are strictly increasing (which means
    unique and sorted: nothing to coalesce).
    """
    cdef Py_ssize_t i
    cdef int64_t cur, prev = -1
    cdef bint descent = False
    for i in range(n):
        cur = <int64_t>indices[i]
        if cur < 0 or cur >= n_rows:
            return i
        descent |= cur <= prev       # branch-free: random ids would mispredict
        prev = cur
    increasing[0] = not descent
    return -1


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
    K_ROWWISE = 5       # row-wise Adagrad: s1 holds one accumulator per table row


# Row-wise Adagrad sums a row's squares in 8 interleaved double lanes (element j goes to lane
# j % 8), then adds the lanes pairwise: a fixed order, so any thread count and either build
# gives the same bits.  Written in C with one variable per lane so gcc's SLP vectorizer turns
# each step into two 4-double vector operations.
cdef extern from *:
    """
    #define FASTLR_SUMSQ_LANES(NAME, T)                                                   \
    static inline double NAME(const T* g, Py_ssize_t n) {                             \
        double a0 = 0, a1 = 0, a2 = 0, a3 = 0, a4 = 0, a5 = 0, a6 = 0, a7 = 0;        \
        double t[8] = {0, 0, 0, 0, 0, 0, 0, 0};                                       \
        Py_ssize_t j = 0, l;                                                          \
        for (; j + 8 <= n; j += 8) {                                                  \
            double x0 = g[j], x1 = g[j + 1], x2 = g[j + 2], x3 = g[j + 3];            \
            double x4 = g[j + 4], x5 = g[j + 5], x6 = g[j + 6], x7 = g[j + 7];        \
            a0 += x0 * x0; a1 += x1 * x1; a2 += x2 * x2; a3 += x3 * x3;               \
            a4 += x4 * x4; a5 += x5 * x5; a6 += x6 * x6; a7 += x7 * x7;               \
        }                                                                             \
        for (l = 0; j + l < n; l++) t[l] = (double)g[j + l] * (double)g[j + l];       \
        a0 += t[0]; a1 += t[1]; a2 += t[2]; a3 += t[3];                               \
        a4 += t[4]; a5 += t[5]; a6 += t[6]; a7 += t[7];                               \
        return ((a0 + a1) + (a2 + a3)) + ((a4 + a5) + (a6 + a7));                     \
    }
    FASTLR_SUMSQ_LANES(fastlr_sumsq_lanes_f, float)
    FASTLR_SUMSQ_LANES(fastlr_sumsq_lanes_d, double)
    """
    double _sumsq_lanes_f "fastlr_sumsq_lanes_f"(const float* g, Py_ssize_t n) noexcept nogil
    double _sumsq_lanes_d "fastlr_sumsq_lanes_d"(const double* g, Py_ssize_t n) noexcept nogil


cdef inline double _sum_sq_lanes(const floating* g, Py_ssize_t n) noexcept nogil:
    if floating is float:
        return _sumsq_lanes_f(g, n)
    else:
        return _sumsq_lanes_d(g, n)


cdef inline void _rowwise_adagrad_row(floating* p, floating* s, const floating* g, Py_ssize_t n,
                                      double clr, double weight_decay, double eps,
                                      bint maximize, floating* tmp) noexcept nogil:
    """``s += mean(e**2)`` of the effective gradient ``e = -g if maximize; e = e + wd * p``
    (squares summed in double by ``_sum_sq_lanes``), then an Adagrad step with ``s``.
    ``tmp``: ``n`` elements of scratch for ``e`` (may be ``g`` itself when that is scratch
    too), used only with weight decay or ``maximize``."""
    cdef Py_ssize_t j
    cdef floating std
    cdef floating neg_clr = <floating>(-clr)
    cdef floating wd = <floating>weight_decay
    cdef floating sign = -1 if maximize else 1
    if maximize or weight_decay != 0.0:
        for j in range(n):
            tmp[j] = sign * g[j]
        if weight_decay != 0.0:
            for j in range(n):
                tmp[j] = tmp[j] + wd * p[j]
        g = tmp
    s[0] = s[0] + <floating>(_sum_sq_lanes(g, n) / <double>n)
    std = _sqrt(s[0]) + <floating>eps
    for j in range(n):
        p[j] = p[j] + (neg_clr * g[j]) / std


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


cdef inline const floating* _row_grad(const int64_t* starts, const int64_t* order,
                                      const floating* values, Py_ssize_t k, Py_ssize_t n_cols,
                                      floating* buf) noexcept nogil:
    """The gradient of the k-th touched row: ``values[k]`` without a plan, else the sum of its
    run of ``values`` -- read in place for a run of one (bit for bit), else built in ``buf``."""
    if starts == NULL:
        return values + k * n_cols
    if starts[k + 1] - starts[k] == 1:
        return values + order[starts[k]] * n_cols
    _sum_segment(values, n_cols, order, starts[k], starts[k + 1], buf)
    return buf


cdef inline void _one_row(int kind, floating* param, floating* s1, floating* s2, floating* s3,
                         const int64_t* rows, const int64_t* starts, const int64_t* order,
                         const floating* values, Py_ssize_t k, Py_ssize_t n, Py_ssize_t n_cols,
                         const double* hp, const double* pt, int flags,
                         floating* buf) noexcept nogil:
    """Update row ``rows[k]`` with its gradient: ``values[k]`` when ``starts`` is NULL, else
    the sum of the run ``values[order[starts[k]:starts[k + 1]]]`` (built in ``buf``, one row
    of scratch owned by the calling thread; a run of one is read in place, bit for bit)."""
    cdef Py_ssize_t i, off = rows[k] * n_cols
    if k + PREFETCH_AHEAD < n:
        _prefetch_rows(param, s1, s2, s3,
                       rows[k + PREFETCH_AHEAD] * n_cols, n_cols * sizeof(floating))
        if starts != NULL:       # the run's gradient rows: scattered over the values
            for i in range(starts[k + PREFETCH_AHEAD], starts[k + PREFETCH_AHEAD + 1]):
                _prefetch_row(values + order[i] * n_cols, n_cols * sizeof(floating))
    _update_row(kind, param + off, _row_grad(starts, order, values, k, n_cols, buf),
                _row_at(s1, off), _row_at(s2, off), _row_at(s3, off), n_cols, hp, pt, flags)


# Tables narrower than this (a bias column) are updated serially by gathering the touched rows
# into contiguous scratch, one vectorized pass, and scattering them back: a per-row call would
# cost more than the row's arithmetic.
cdef Py_ssize_t NARROW_COLS = 8


cdef inline void _copy(floating* dst, const floating* src, Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t j
    for j in range(n):
        dst[j] = src[j]


cdef inline void _move(floating* table, floating* packed, bint scatter) noexcept nogil:
    if scatter:
        table[0] = packed[0]
    else:
        packed[0] = table[0]


cdef void _exchange_column(floating* param, floating* s1, floating* s2, floating* s3,
                           const int64_t* rows, Py_ssize_t n, floating* P, floating* S1,
                           floating* S2, floating* S3, const bint scatter) noexcept nogil:
    """``_run_narrow``'s gather (``scatter`` False) or scatter for one column: scalar moves
    between the tables' touched rows and the packed arrays, no per-row loop set-up."""
    cdef Py_ssize_t k
    cdef int64_t r
    for k in range(n):
        r = rows[k]
        _move(param + r, P + k, scatter)
        if s1 != NULL:
            _move(s1 + r, S1 + k, scatter)
        if s2 != NULL:
            _move(s2 + r, S2 + k, scatter)
        if s3 != NULL:
            _move(s3 + r, S3 + k, scatter)


cdef void _sum_column(const int64_t* starts, const int64_t* order, const floating* values,
                      Py_ssize_t n, floating* G) noexcept nogil:
    """``G[k]``: the gradient of the k-th touched row of a one-column table."""
    cdef Py_ssize_t k, i
    cdef floating x
    for k in range(n):
        if starts == NULL:
            x = values[k]
        else:
            x = values[order[starts[k]]]
            for i in range(starts[k] + 1, starts[k + 1]):
                x = x + values[order[i]]
        G[k] = x


cdef void _run_narrow(int kind, floating* param, floating* s1, floating* s2, floating* s3,
                      const int64_t* rows, const int64_t* starts, const int64_t* order,
                      const floating* values, Py_ssize_t n, Py_ssize_t n_cols, const double* hp,
                      const double* pt, int flags, floating* scratch) noexcept nogil:
    """One narrow table, serially: gather, one range-function pass, scatter.
    ``scratch``: ``5 * n * n_cols`` elements (gradient, parameter, three state tables).  Every
    update is elementwise, so the result is the per-row update's bit for bit."""
    cdef Py_ssize_t k, off, m = n * n_cols
    cdef floating* G = scratch
    cdef floating* P = G + m
    cdef floating* S1 = P + m
    cdef floating* S2 = S1 + m
    cdef floating* S3 = S2 + m
    if n_cols == 1:
        _sum_column(starts, order, values, n, G)
        _exchange_column(param, s1, s2, s3, rows, n, P, S1, S2, S3, False)
    for k in range(n if n_cols > 1 else 0):
        off = rows[k] * n_cols
        if starts == NULL:
            _copy(G + k * n_cols, values + k * n_cols, n_cols)
        elif starts[k + 1] - starts[k] == 1:
            _copy(G + k * n_cols, values + order[starts[k]] * n_cols, n_cols)
        else:
            _sum_segment(values, n_cols, order, starts[k], starts[k + 1], G + k * n_cols)
        _copy(P + k * n_cols, param + off, n_cols)
        if s1 != NULL:
            _copy(S1 + k * n_cols, s1 + off, n_cols)
        if s2 != NULL:
            _copy(S2 + k * n_cols, s2 + off, n_cols)
        if s3 != NULL:
            _copy(S3 + k * n_cols, s3 + off, n_cols)
    _update_row(kind, P, G, S1 if s1 != NULL else NULL, S2 if s2 != NULL else NULL,
                S3 if s3 != NULL else NULL, m, hp, pt, flags)
    if n_cols == 1:
        _exchange_column(param, s1, s2, s3, rows, n, P, S1, S2, S3, True)
    for k in range(n if n_cols > 1 else 0):
        off = rows[k] * n_cols
        _copy(param + off, P + k * n_cols, n_cols)
        if s1 != NULL:
            _copy(s1 + off, S1 + k * n_cols, n_cols)
        if s2 != NULL:
            _copy(s2 + off, S2 + k * n_cols, n_cols)
        if s3 != NULL:
            _copy(s3 + off, S3 + k * n_cols, n_cols)


cdef struct RowTask:
    # One table's row step: the parameter and state tables (NULL: unused), its rows and their
    # gradients (``starts``/``order`` NULL: one gradient row per row, else a plan_rows plan).
    void* p
    void* s1
    void* s2
    void* s3
    const int64_t* rows
    const int64_t* starts
    const int64_t* order
    const void* values
    Py_ssize_t n
    Py_ssize_t n_cols
    double pt[2]
    void* gathered      # narrow tables: _run_narrow's 5 * n * n_cols scratch; else NULL


cdef enum:
    # Rows per work item of a thread team: enough to amortize the scheduling, few enough to
    # balance ragged runs (a popular row can repeat hundreds of times).
    CHUNK_ROWS = 16


cdef void _rowwise_chunk(floating* param, floating* s, const int64_t* rows,
                         const int64_t* starts, const int64_t* order, const floating* values,
                         Py_ssize_t lo, Py_ssize_t hi, Py_ssize_t n, Py_ssize_t n_cols,
                         const double* hp, const double* pt, int flags,
                         floating* buf) noexcept nogil:
    """Row-wise Adagrad on rows ``lo..hi`` (at most ``CHUNK_ROWS``) of a task, in three
    passes -- effective gradients and their sums of squares, the accumulators, the updates --
    so the rows' reduction / sqrt / division chains overlap; the arithmetic of each row is
    ``_rowwise_adagrad_row``'s.  ``buf``: ``CHUNK_ROWS * n_cols`` elements."""
    cdef const floating* gp[CHUNK_ROWS]
    cdef double sq[CHUNK_ROWS]
    cdef floating std[CHUNK_ROWS]
    cdef Py_ssize_t k, i, j
    cdef const floating* g
    cdef floating* row
    cdef floating* p
    cdef floating sign = -1 if flags & F_MAXIMIZE else 1
    cdef floating wd = <floating>hp[1]
    cdef floating eps = <floating>hp[0]
    cdef floating neg_clr = <floating>(-pt[0])
    cdef bint use_wd = flags & F_WD
    cdef bint plain = not (flags & (F_MAXIMIZE | F_WD))
    for k in range(lo, hi):
        i = k - lo
        row = buf + i * n_cols
        if k + PREFETCH_AHEAD < n:
            _prefetch_row(param + rows[k + PREFETCH_AHEAD] * n_cols, n_cols * sizeof(floating))
            _prefetch_w(s + rows[k + PREFETCH_AHEAD])
        g = _row_grad(starts, order, values, k, n_cols, row)
        if not plain:
            p = param + rows[k] * n_cols
            for j in range(n_cols):
                row[j] = sign * g[j]
            if use_wd:
                for j in range(n_cols):
                    row[j] = row[j] + wd * p[j]
            g = row
        gp[i] = g
        sq[i] = _sum_sq_lanes(g, n_cols)
    for k in range(lo, hi):
        i = k - lo
        s[rows[k]] = s[rows[k]] + <floating>(sq[i] / <double>n_cols)
        std[i] = _sqrt(s[rows[k]]) + eps
    for k in range(lo, hi):
        i = k - lo
        p = param + rows[k] * n_cols
        g = gp[i]
        for j in range(n_cols):
            p[j] = p[j] + (neg_clr * g[j]) / std[i]


cdef inline bint _is_narrow(int kind, Py_ssize_t n_cols) noexcept nogil:
    """Whether a table takes the gather-scatter path (``_run_narrow``, one work item).

    Row-wise Adagrad on a single column is elementwise Adagrad bit for bit: ``s + dtype(
    double(g) * double(g) / 1)`` is ``s + g * g`` (the double product of two floats is exact,
    so both round the same), and the update is the same expression."""
    return n_cols < NARROW_COLS and (kind != K_ROWWISE or n_cols == 1)


cdef void _run_chunk(floating* tag, int kind, const RowTask* t, Py_ssize_t lo, Py_ssize_t hi,
                     const double* hp, int flags, floating* buf) noexcept nogil:
    """Rows ``lo..hi`` of task ``t`` (all of it for a narrow table); ``buf``: the calling
    thread's row of scratch.  ``tag`` only selects the element type."""
    cdef Py_ssize_t k
    if t.gathered != NULL:
        _run_narrow(K_ADAGRAD if kind == K_ROWWISE else kind, <floating*>t.p, <floating*>t.s1, <floating*>t.s2, <floating*>t.s3,
                    t.rows, t.starts, t.order, <const floating*>t.values, t.n, t.n_cols, hp,
                    t.pt, flags, <floating*>t.gathered)
        return
    if kind == K_ROWWISE:
        _rowwise_chunk(<floating*>t.p, <floating*>t.s1, t.rows, t.starts, t.order,
                       <const floating*>t.values, lo, hi, t.n, t.n_cols, hp, t.pt, flags, buf)
        return
    for k in range(lo, hi):
        _one_row(kind, <floating*>t.p, <floating*>t.s1, <floating*>t.s2, <floating*>t.s3,
                 t.rows, t.starts, t.order, <const floating*>t.values, k, t.n, t.n_cols, hp,
                 t.pt, flags, buf)


cdef void _run_tasks(floating* tag, int kind, const RowTask* tasks, const int64_t* chunks,
                     Py_ssize_t n_chunks, const double* hp, int flags, int team,
                     floating* scratch, Py_ssize_t stride) noexcept nogil:
    """Every work item ``(task, lo, hi)`` of ``chunks``, over a team of ``team`` threads.

    Tables are C-contiguous with their task's ``n_cols`` columns; the state order per kind is
    that of ``_dense._block`` (SGD: buf; Adam: m, v, vmax; RMSprop: sq, buf, grad_avg;
    Adagrad: sum; Adadelta: sq, acc_delta; row-wise Adagrad: one sum per row).  ``scratch``:
    ``stride`` elements per thread (NULL when no task needs a row of scratch).  Each row is
    updated by one thread with the same arithmetic: the result does not depend on ``team``.
    """
    cdef Py_ssize_t c
    if team <= 1:                       # no thread team for serial work: it costs microseconds
        for c in range(n_chunks):
            _run_chunk(tag, kind, tasks + chunks[3 * c], chunks[3 * c + 1], chunks[3 * c + 2],
                       hp, flags, scratch)
        return
    for c in prange(n_chunks, schedule="dynamic", num_threads=team):
        _run_chunk(tag, kind, tasks + chunks[3 * c], chunks[3 * c + 1], chunks[3 * c + 2], hp,
                   flags, scratch + threadid() * stride if scratch != NULL else NULL)


cdef _launch(int kind, bint is_double, list specs, const double* hp, int flags, int n_threads):
    """Run the row steps ``specs`` (checked by the caller) in one call, releasing the GIL.

    Each spec is ``(p, s1, s2, s3, rows, starts, order, values, n, n_cols, pt0, pt1)``:
    addresses (0 = unused) and sizes as in ``RowTask``.  Narrow tables are one work item
    each and come first, so a thread takes them while the others share the wide tables.
    """
    cdef Py_ssize_t i, c, k, n_tasks = len(specs), n_chunks = 0, max_cols = 0, n, n_cols
    cdef bint row_scratch = False
    cdef RowTask* t
    cdef int64_t* ch
    cdef void* buf
    cdef int team
    dtype = np.float64 if is_double else np.float32
    keep = []
    cdef RowTask* tasks = <RowTask*>PyMem_Malloc(max(n_tasks, 1) * sizeof(RowTask))
    if tasks == NULL:
        raise MemoryError()
    try:
        for i in range(n_tasks):
            spec = specs[i]
            t = tasks + i
            t.p = <void*><intptr_t>spec[0]
            t.s1 = <void*><intptr_t>spec[1]
            t.s2 = <void*><intptr_t>spec[2]
            t.s3 = <void*><intptr_t>spec[3]
            t.rows = <const int64_t*><intptr_t>spec[4]
            t.starts = <const int64_t*><intptr_t>spec[5]
            t.order = <const int64_t*><intptr_t>spec[6]
            t.values = <const void*><intptr_t>spec[7]
            t.n = n = spec[8]
            t.n_cols = n_cols = spec[9]
            t.pt[0] = spec[10]
            t.pt[1] = spec[11]
            t.gathered = NULL
            if n == 0 or n_cols == 0:
                continue
            if _is_narrow(kind, n_cols):
                gathered = np.empty(5 * n * n_cols, dtype)
                keep.append(gathered)
                t.gathered = cnp.PyArray_DATA(<cnp.ndarray>gathered)
                n_chunks += 1
            else:
                n_chunks += (n + CHUNK_ROWS - 1) // CHUNK_ROWS
                max_cols = max(max_cols, n_cols)
                row_scratch = row_scratch or t.starts != NULL or kind == K_ROWWISE
        if n_chunks == 0:
            return
        chunks = np.empty(3 * n_chunks, np.int64)
        ch = <int64_t*>cnp.PyArray_DATA(chunks)
        c = 0
        for i in range(n_tasks):               # narrow tables first
            if tasks[i].gathered != NULL:
                ch[3 * c], ch[3 * c + 1], ch[3 * c + 2] = i, 0, tasks[i].n
                c += 1
        for i in range(n_tasks):
            if tasks[i].gathered == NULL and tasks[i].n_cols > 0:
                for k in range(0, tasks[i].n, CHUNK_ROWS):
                    ch[3 * c], ch[3 * c + 1] = i, k
                    ch[3 * c + 2] = min(k + CHUNK_ROWS, tasks[i].n)
                    c += 1
        team = _team_size(n_chunks, n_threads)
        if kind == K_ROWWISE:               # _rowwise_chunk: a row of scratch per chunk row
            max_cols *= CHUNK_ROWS
        scratch = np.empty(team * max_cols, dtype) if row_scratch else None
        buf = _data(scratch)
        with nogil:
            if is_double:
                _run_tasks(<double*>NULL, kind, tasks, ch, n_chunks, hp, flags, team,
                           <double*>buf, max_cols)
            else:
                _run_tasks(<float*>NULL, kind, tasks, ch, n_chunks, hp, flags, team,
                           <float*>buf, max_cols)
    finally:
        PyMem_Free(tasks)


cdef inline void* _data(object a):
    return NULL if a is None else cnp.PyArray_DATA(<cnp.ndarray>a)


cdef inline intptr_t _addr(const void* p) noexcept:
    return <intptr_t>p


# --------------------------------------------------------------------------------------
# The optimizers' entry point: a row plan plus the bucket's pointer table
# --------------------------------------------------------------------------------------

cdef inline bint _is_vector(cnp.ndarray a, int typenum) noexcept:
    return (cnp.PyArray_TYPE(a) == typenum and cnp.PyArray_NDIM(a) == 1
            and cnp.PyArray_IS_C_CONTIGUOUS(a))


# A table with at most this many rows per index is planned by one counting sort over the row
# ids (two passes over the indices and two over a row counter); a larger one by hashing, whose
# cost does not grow with the table.
cdef Py_ssize_t COUNTING_ROWS_PER_INDEX = 8


cdef Py_ssize_t _counting_plan(const index_t* keys, Py_ssize_t n, Py_ssize_t n_rows,
                               int64_t* counts, int64_t* rows, int64_t* starts,
                               int64_t* order) noexcept nogil:
    """Stable counting sort of keys in ``[0, n_rows)``; returns the number of unique keys
    ``u``.  ``counts`` (scratch, ``n_rows``); ``rows`` (OUT, ``u + 1``): the unique keys in
    increasing order; ``starts`` (OUT, ``u + 1``) and ``order`` (OUT, ``n``): run k is
    ``order[starts[k]:starts[k + 1]]``, positions in their original order."""
    cdef Py_ssize_t i, r, u = 0
    cdef int64_t c, pos = 0
    memset(counts, 0, n_rows * sizeof(int64_t))
    for i in range(n):
        counts[keys[i]] += 1
    for r in range(n_rows):
        # branch-free (about half the rows of a small table are touched: a branch would
        # mispredict); an untouched row's entries are overwritten by the next touched one
        c = counts[r]
        rows[u] = r
        starts[u] = pos
        counts[r] = pos              # from here on: the next free slot of run r
        pos += c
        u += c != 0
    starts[u] = n
    for i in range(n):
        r = keys[i]
        order[counts[r]] = i
        counts[r] += 1
    return u


cdef Py_ssize_t _hash_plan(const index_t* keys, Py_ssize_t n, int log2_slots,
                           int64_t* slot_key, int64_t* slot_run, int64_t* run_of,
                           int64_t* rows, int64_t* starts, int64_t* order) noexcept nogil:
    """Runs of equal keys in order of first occurrence, found with an open-addressing hash
    table of ``2**log2_slots >= 2 * n`` slots; returns the number of runs ``u``.

    ``slot_key``, ``slot_run`` (scratch, one per slot), ``run_of`` (scratch, n); ``rows``
    (OUT, u): each run's key; ``starts`` (OUT, u + 1) and ``order`` (OUT, n): run k is
    ``order[starts[k]:starts[k + 1]]``, positions in their original order.  Cost O(n) whatever
    the key range: for tables far larger than the batch, where a sort would need several
    passes over the keys.
    """
    cdef Py_ssize_t i, u = 0, mask = ((<Py_ssize_t>1) << log2_slots) - 1
    cdef int64_t k, h
    memset(slot_key, 0xFF, (mask + 1) * sizeof(int64_t))       # -1: empty
    for i in range(n):
        k = <int64_t>keys[i]
        # Fibonacci hashing: the top bits of k * 2**64 / golden ratio
        h = <int64_t>((<uint64_t>k * <uint64_t>0x9E3779B97F4A7C15) >> (64 - log2_slots))
        while slot_key[h] != k and slot_key[h] != -1:
            h = (h + 1) & mask
        if slot_key[h] == -1:
            slot_key[h] = k
            slot_run[h] = u
            rows[u] = k
            starts[u + 1] = 0
            u += 1
        run_of[i] = slot_run[h]
        starts[run_of[i] + 1] += 1
    starts[0] = 0
    for i in range(u):
        starts[i + 1] += starts[i]
    for i in range(u):                 # slot_run becomes each run's next free position
        slot_run[i] = starts[i]
    for i in range(n):
        order[slot_run[run_of[i]]] = i
        slot_run[run_of[i]] += 1
    return u


cdef tuple _plan(const index_t* indices, Py_ssize_t n, Py_ssize_t n_rows):
    """Run plan of in-range, not strictly increasing ``indices`` (see ``plan_rows``)."""
    cdef Py_ssize_t u
    cdef int log2_slots
    cdef int64_t* w
    if n_rows <= COUNTING_ROWS_PER_INDEX * n:
        # order (n), rows (n + 1), starts (n + 1), then the row counters
        work = np.empty(3 * n + 2 + n_rows, np.int64)
        w = <int64_t*>cnp.PyArray_DATA(work)
        with nogil:
            u = _counting_plan(indices, n, n_rows, w + 3 * n + 2, w + n, w + 2 * n + 1, w)
        return work[n:n + u], work[2 * n + 1:2 * n + u + 2], work[:n]
    log2_slots = int(2 * n - 1).bit_length()
    # order (n), rows (n), starts (n + 1), run of each position (n), then the hash slots
    work = np.empty(4 * n + 1 + (2 << log2_slots), np.int64)
    w = <int64_t*>cnp.PyArray_DATA(work)
    with nogil:
        u = _hash_plan(indices, n, log2_slots, w + 4 * n + 1, w + 4 * n + 1 + (1 << log2_slots),
                       w + 3 * n + 1, w + n, w + 2 * n, w)
    return work[n:n + u], work[2 * n:2 * n + u + 1], work[:n]


def plan_rows(cnp.ndarray indices, Py_ssize_t n_rows):
    """Check row ids against a table of ``n_rows`` rows and plan their coalescing.

    ``indices``: 1-D C-contiguous int32 or int64.

    Returns
    -------
    first_bad : int
        Position of the first index outside ``[0, n_rows)`` (negative ids included), or -1;
        the other entries are None when it is not -1.
    rows : ndarray of int64, shape (u,)
        The unique row ids: increasing when the table has at most ``COUNTING_ROWS_PER_INDEX``
        rows per index (a counting sort), else in order of first occurrence (hashing; the
        order of the updates does not change any result, each row being updated once).
    starts, order : ndarray of int64, shapes (u + 1,) and (n,), or None
        Row ``rows[k]`` gathers ``indices`` positions ``order[starts[k]:starts[k + 1]]``, in
        their original order.  Both are None when ``indices`` are already strictly increasing
        (then ``rows`` is ``indices`` itself when it is int64).
    """
    cdef Py_ssize_t n, bad
    cdef bint increasing = True
    cdef bint wide = _is_vector(indices, cnp.NPY_INT64)
    if not (wide or _is_vector(indices, cnp.NPY_INT32)):
        raise TypeError("plan_rows: indices must be a 1-D C-contiguous int32 or int64 array")
    n = cnp.PyArray_DIM(indices, 0)
    cdef const int64_t* i64 = <const int64_t*>cnp.PyArray_DATA(indices)
    cdef const int32_t* i32 = <const int32_t*>cnp.PyArray_DATA(indices)
    with nogil:
        if wide:
            bad = _first_out_of_range(i64, n, n_rows, &increasing)
        else:
            bad = _first_out_of_range(i32, n, n_rows, &increasing)
    if bad >= 0:
        return bad, None, None, None
    if increasing:
        return -1, (indices if wide else indices.astype(np.int64)), None, None
    if wide:
        return (-1,) + _plan(i64, n, n_rows)
    return (-1,) + _plan(i32, n, n_rows)


def step_rows(int kind, bint is_double,
              cnp.ndarray ptrs,          # IN: a bucket's int64 (n_tensors, 5) pointer table
              list tasks,                # IN: one tuple per table, see below
              tuple hp, int flags, int n_threads):
    """One optimizer step of ``kind`` on the listed rows of some tensors of a bucket.

    Each task is ``(tensor, n_rows, n_cols, rows, starts, order, values, scalar0,
    scalar1)``: the parameter and its state are the addresses in ``ptrs[tensor]`` (columns
    0, 2, 3, 4; 0 = unused), each a C-contiguous ``(n_rows, n_cols)`` table of the given
    dtype; ``rows`` are unique int64 row ids (``plan_rows``'s); ``values`` the ``(n, n_cols)``
    gradient rows, one per row when ``starts`` and ``order`` are None, else summed per row
    from ``plan_rows``'s plan in the thread that updates it, so a step is one pass whatever
    the repeats.  ``hp``, ``flags`` and the per-tensor scalars are ``_dense.dense_step``'s.
    All tables are updated by one thread team in one call.

    The caller (the Python layer) guarantees the tables and the plans; this entry point checks
    the layout and that the rows lie in ``[0, n_rows)`` before anything is written.
    """
    cdef double hpbuf[8]
    cdef Py_ssize_t j, u, n_values, tensor, n_rows, n_cols
    cdef bint increasing
    cdef int typenum = cnp.NPY_DOUBLE if is_double else cnp.NPY_FLOAT
    cdef cnp.ndarray rows, values
    cdef const int64_t* r
    cdef const int64_t* st
    cdef const int64_t* t
    if not (cnp.PyArray_TYPE(ptrs) == cnp.NPY_INT64 and cnp.PyArray_NDIM(ptrs) == 2
            and cnp.PyArray_DIM(ptrs, 1) == 5 and cnp.PyArray_IS_C_CONTIGUOUS(ptrs)):
        raise ValueError("step_rows: malformed pointer table")
    if not (0 <= kind <= K_ROWWISE) or len(hp) > 8:
        raise ValueError("step_rows: bad kind or more than 8 hyper-parameters")
    specs = []
    for task in tasks:
        tensor, n_rows, n_cols, rows, starts, order, values, scalar0, scalar1 = task
        if not 0 <= tensor < cnp.PyArray_DIM(ptrs, 0):
            raise ValueError("step_rows: malformed pointer table")
        if not (_is_vector(rows, cnp.NPY_INT64) and cnp.PyArray_TYPE(values) == typenum
                and cnp.PyArray_NDIM(values) == 2 and cnp.PyArray_IS_C_CONTIGUOUS(values)
                and cnp.PyArray_DIM(values, 1) == n_cols):
            raise ValueError("step_rows: malformed rows or values")
        u = cnp.PyArray_DIM(rows, 0)
        n_values = cnp.PyArray_DIM(values, 0)
        r = <const int64_t*>cnp.PyArray_DATA(rows)
        if starts is None and order is None:
            if n_values != u:
                raise ValueError(f"step_rows: {n_values} value rows for {u} rows")
        else:
            if not (_is_vector(starts, cnp.NPY_INT64) and _is_vector(order, cnp.NPY_INT64)
                    and cnp.PyArray_DIM(starts, 0) == u + 1
                    and cnp.PyArray_DIM(order, 0) == n_values):
                raise ValueError("step_rows: malformed row plan")
            st = <const int64_t*>cnp.PyArray_DATA(starts)
            if st[0] != 0 or st[u] != n_values:
                raise ValueError("step_rows: malformed row plan")
        with nogil:
            j = _first_out_of_range(r, u, n_rows, &increasing)
        if j >= 0:
            raise IndexError(f"step_rows: rows must lie in [0, {n_rows})")
        t = <const int64_t*>cnp.PyArray_DATA(ptrs) + 5 * tensor
        if u == 0 or n_cols == 0:
            continue
        if t[0] == 0:
            raise ValueError("step_rows: no parameter address")
        specs.append((t[0], t[2], t[3], t[4], _addr(r),
                      0 if starts is None else _addr(cnp.PyArray_DATA(starts)),
                      0 if order is None else _addr(cnp.PyArray_DATA(order)),
                      _addr(cnp.PyArray_DATA(values)), u, n_cols, scalar0, scalar1))
    for j in range(8):
        hpbuf[j] = hp[j] if j < len(hp) else 0.0
    _launch(kind, is_double, specs, hpbuf, flags, n_threads)


def rowwise_adagrad_dense(floating[:, ::1] param, floating[::1] state_sum,
                          const floating[:, ::1] grad, double clr, double weight_decay=0.0,
                          double eps=1e-10, bint maximize=False, int n_threads=1):
    """Row-wise Adagrad with a dense gradient: every row is updated as in ``*_rows``."""
    cdef Py_ssize_t r, n = param.shape[0], n_cols = param.shape[1]
    cdef int team
    if grad.shape[0] != n or grad.shape[1] != n_cols:
        raise ValueError(f"grad has shape {(grad.shape[0], grad.shape[1])}, expected {(n, n_cols)}")
    if state_sum.shape[0] != n:
        raise ValueError(f"sum has {state_sum.shape[0]} entries for {n} rows")
    if n == 0 or n_cols == 0:
        return
    team = _team_size(n, n_threads)
    scratch = np.empty(team * n_cols, np.float64 if floating is double else np.float32)
    cdef floating* buf = <floating*>_data(scratch)
    with nogil:
        for r in prange(n, schedule="static", num_threads=team):
            _rowwise_adagrad_row(&param[r, 0], &state_sum[r], &grad[r, 0], n_cols, clr,
                                 weight_decay, eps, maximize, buf + threadid() * n_cols)


#: ``step_rows`` kind of row-wise Adagrad (the others are ``fastlr._kernels._dense``'s kinds)
ROWWISE = K_ROWWISE
