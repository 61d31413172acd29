# cython: language_level=3
"""Compiled evaluators for fastlr's learning-rate schedules.

A schedule is compiled by the Python layer (``fastlr.schedules``) into a small *program*: a
table of nodes, each a closed form (cosine, one-cycle, ...) or a composition (join, warmup,
product, scale) whose children are other nodes of the same table.  ``_eval_node`` evaluates
node ``k`` at step ``t`` with a ``switch``; composites recurse into their children, so a composed
schedule is evaluated in **one** pass over the step array, with no temporaries.

Layout of a program (all arrays C-contiguous, owned by :class:`Program`):

``kinds[k]``       int32 node kind (``K_*`` below)
``ip[k, 0:8]``     int64 integer parameters of node k (lengths, child indices, table offsets)
``dp[k, 0:8]``     float64 parameters of node k (learning rates, factors, precomputed constants)
``itab``           int64 variable-length tables (milestones, restart starts, join boundaries)
``dtab``           float64 variable-length tables (multistep values, per-cycle constants, phases)

Tier rules (see STYLE.md): the ``noexcept nogil`` functions never allocate, never raise and never
see a Python object.  The ``def`` layer trusts its caller: every parameter was validated by
``fastlr.schedules`` when the schedule was built, and steps arrive as C-contiguous int64.  A
negative step is not an error *inside* the loop: it writes NaN and is counted, and the Python
layer raises after the loop.
"""

from cython.parallel cimport prange, threadid
from libc.math cimport sqrt, pow, NAN
from libc.stdint cimport int64_t, int32_t

cimport numpy as cnp

cnp.import_array()

# Node kinds.  Keep in sync with ``fastlr/schedules/_program.py`` (``KIND``).
cdef enum:
    K_CONSTANT = 0
    K_STEP = 1
    K_MULTISTEP = 2
    K_EXPONENTIAL = 3
    K_LINEAR = 4
    K_POLYNOMIAL = 5
    K_COSINE = 6
    K_COSINE_RESTARTS = 7
    K_ONE_CYCLE = 8
    K_CYCLIC = 9
    K_INVERSE_SQRT = 10
    K_WSD = 11
    K_JOIN = 12
    K_PRODUCT = 13
    K_SCALE = 14
    K_WARMUP = 15

cdef enum:
    NP = 8  # parameters per node, in ``ip`` and in ``dp``

# Below this many steps the array kernel runs on one thread.  A cosine-shaped step costs about
# 9 ns (a scalar polynomial), so 4096 steps (~37 us) already outweigh starting a thread team.
SERIAL_BELOW = 4096

NUM_KINDS = 16


cdef inline int64_t _min64(int64_t a, int64_t b) noexcept nogil:
    return a if a < b else b


cdef extern from *:
    """
    #include <stdint.h>
    #include <string.h>
    /* (double)x for 0 <= x < 2**52, exactly, in integer and float operations a compiler can
       vectorize (AVX2 has no int64 -> double conversion): place x in the mantissa of 2**52. */
    static inline double fastlr_small_i2d(int64_t x) {
        uint64_t bits = (uint64_t)x | 0x4330000000000000ULL;
        double d;
        memcpy(&d, &bits, sizeof d);
        return d - 4503599627370496.0;
    }
    """
    double _small_i2d "fastlr_small_i2d"(int64_t x) noexcept nogil

# Integers below this convert exactly with _small_i2d.
cdef int64_t SMALL_INT = (<int64_t>1) << 52


cdef inline double _sin2(double a, double b) noexcept nogil:
    """sin(a)**2 for 0 <= a <= pi/2, given b = pi/2 - a computed independently (from integers).

    Equals (1 + cos(pi - 2a)) / 2, the "half cosine" of every cosine-shaped schedule.  Taylor
    polynomials on [0, pi/4] (truncation < 1e-19 relative, a few ulps of rounding): sin(a) when
    a <= pi/4, cos(b) otherwise, so the peak (b == 0) is exactly 1 and the trough (a == 0) exactly
    0.  No libm call and no branch: both polynomials are evaluated and one is selected, so a loop
    over steps vectorizes.
    """
    cdef double za = a * a, zb = b * b, rs, rc
    rs = a + a * za * (-0.16666666666666666 + za * (0.008333333333333333 + za * (
        -0.0001984126984126984 + za * (2.7557319223985893e-06 + za * (
            -2.505210838544172e-08 + za * (1.6059043836821613e-10 + za * (
                -7.647163731819816e-13 + za * 2.8114572543455206e-15)))))))
    rc = 1.0 + zb * (-0.5 + zb * (0.041666666666666664 + zb * (-0.001388888888888889 + zb * (
        2.48015873015873e-05 + zb * (-2.755731922398589e-07 + zb * (2.08767569878681e-09 + zb * (
            -1.1470745597729725e-11 + zb * (4.779477332387385e-14
                                            + zb * -1.5619206968586225e-16))))))))
    rs = rs if a <= b else rc
    return rs * rs


cdef inline int64_t _bisect_right(const int64_t* a, int64_t n, int64_t t) noexcept nogil:
    """Number of entries of the sorted ``a[0:n]`` that are <= t."""
    cdef int64_t lo = 0, hi = n, mid
    while lo < hi:
        mid = lo + (hi - lo) // 2
        if a[mid] <= t:
            lo = mid + 1
        else:
            hi = mid
    return lo


cdef inline double _cosine(const double* D, int64_t T, int64_t t) noexcept nogil:
    # eta_min + (lr - eta_min) * (1 + cos(pi u / T)) / 2 == eta_min + amp * sin(pi (T - u)/(2T))**2
    cdef int64_t u = _min64(T, t)
    return D[0] + D[1] * _sin2(<double>(T - u) * D[2], <double>u * D[2])


cdef inline double _warmup_ramp(const double* D, int64_t W, int64_t t) noexcept nogil:
    # B0 * (s + (1 - s) * t / W): PyTorch LinearLR's operation order
    return D[0] * (D[1] + D[2] * <double>t / <double>W)


cdef inline double _one_cycle(const int64_t* I, const double* dtab, int64_t t) noexcept nogil:
    # PyTorch OneCycleLR phases, t clamped to the last step N - 1 (held afterwards).
    cdef int64_t n = I[0], i, j = I[3]
    cdef double x = <double>_min64(t, I[2]), start = 0.0, end_step, a, b, width
    for i in range(n):
        end_step = dtab[j + 3 * i]
        if x <= end_step or i == n - 1:
            a = dtab[j + 3 * i + 1]
            b = dtab[j + 3 * i + 2]
            width = end_step - start
            if I[1] == 0:
                # cos: b + (a - b)/2 (1 + cos(pi q)) == b + (a - b) sin(pi/2 (1 - q))**2
                return b + (a - b) * _sin2(1.5707963267948966 * ((end_step - x) / width),
                                           1.5707963267948966 * ((x - start) / width))
            return (b - a) * ((x - start) / width) + a
        start = end_step
    return NAN  # unreachable: the last phase always returns


cdef void _one_cycle_block(const int64_t* I, const double* dtab, const int64_t* t, double* out,
                           Py_ssize_t n) noexcept nogil:
    """``_one_cycle`` over a block for 2 or 3 phases, with the phase chosen by selects instead of
    a loop and branches; the cosine runs in a second, call-free loop.  Both loops vectorize and
    every element gets the same arithmetic as ``_one_cycle``."""
    cdef int64_t j = I[3], last = I[2]
    cdef bint three = I[0] == 3, cos_anneal = I[1] == 0
    cdef double e0 = dtab[j], a0 = dtab[j + 1], b0 = dtab[j + 2]
    cdef double e1 = dtab[j + 3], a1 = dtab[j + 4], b1 = dtab[j + 5]
    cdef double e2 = dtab[j + 6] if three else e1
    cdef double a2 = dtab[j + 7] if three else a1
    cdef double b2 = dtab[j + 8] if three else b1
    cdef double x, start, end, a, b, width
    cdef double lo[64]
    cdef double amp[64]
    cdef double ua[64]
    cdef double ub[64]
    cdef bint p0, p1
    cdef Py_ssize_t i, c, m
    for c in range(0, n, 64):
        m = n - c if n - c < 64 else 64
        for i in range(m):
            x = _small_i2d(_min64(t[c + i], last))
            p0 = x <= e0
            p1 = (not p0) & ((x <= e1) | (not three))
            start = 0.0 if p0 else (e0 if p1 else e1)
            end = e0 if p0 else (e1 if p1 else e2)
            a = a0 if p0 else (a1 if p1 else a2)
            b = b0 if p0 else (b1 if p1 else b2)
            width = end - start
            if cos_anneal:
                lo[i] = b
                amp[i] = a - b
                ua[i] = 1.5707963267948966 * ((end - x) / width)
                ub[i] = 1.5707963267948966 * ((x - start) / width)
            else:
                out[c + i] = (b - a) * ((x - start) / width) + a
        if cos_anneal:
            for i in range(m):
                out[c + i] = lo[i] + amp[i] * _sin2(ua[i], ub[i])


cdef double _eval_node(const int32_t* kinds, const int64_t* ip, const double* dp,
                       const int64_t* itab, const double* dtab,
                       int64_t k, int64_t t) noexcept nogil:
    """Value of node ``k`` at step ``t >= 0`` (the caller guarantees t >= 0)."""
    cdef const int64_t* I = ip + k * NP
    cdef const double* D = dp + k * NP
    cdef int kind = kinds[k]
    cdef int64_t n, i, j, u, c, r, total, rem_i
    cdef double x, a, rem

    if kind == K_CONSTANT:
        return D[0]

    elif kind == K_STEP:
        # lr * gamma ** (t // step_size)  (PyTorch StepLR closed form)
        return D[0] * pow(D[1], <double>(t // I[0]))

    elif kind == K_MULTISTEP:
        # values[bisect_right(milestones, t)], values[i] = lr * gamma ** i precomputed
        return dtab[I[2] + _bisect_right(itab + I[0], I[1], t)]

    elif kind == K_EXPONENTIAL:
        # lr * gamma ** t  (PyTorch ExponentialLR closed form)
        return D[0] * pow(D[1], <double>t)

    elif kind == K_LINEAR:
        # lr * (s + (e - s) * min(T, t) / T)  (PyTorch LinearLR closed form, same operation order)
        u = _min64(I[0], t)
        return D[0] * (D[1] + (D[2] - D[1]) * <double>u / <double>I[0])

    elif kind == K_POLYNOMIAL:
        # (lr - end) * (1 - min(T, t) / T) ** power + end
        u = _min64(I[0], t)
        return D[3] * pow(1.0 - <double>u / <double>I[0], D[1]) + D[2]

    elif kind == K_COSINE:
        # eta_min + (lr - eta_min) * (1 + cos(pi u / T)) / 2, written as
        # eta_min + (lr - eta_min) * sin(pi (T - u) / (2T))**2: the same number, but accurate to
        # a few ulps everywhere (1 + cos cancels near the trough); T - u is exact in int64.
        return _cosine(D, I[0], t)

    elif kind == K_COSINE_RESTARTS:
        # Cycle index by exact integer arithmetic: never a float log.
        # tau = steps since the restart, rem = steps left in the cycle (tau + rem = T_i)
        if I[1] == 1:
            i = t // I[0]
            u = t - i * I[0]
            rem = <double>(I[0] - u)
            a = <double>u
            x = D[2]
        else:
            # starts S_0 = 0 < S_1 < ... < S_K (every start that fits in int64)
            n = I[3]
            i = _bisect_right(itab + I[2], n, t) - 1
            u = t - itab[I[2] + i]
            a = <double>u
            if i < n - 1:
                rem = <double>(itab[I[2] + i + 1] - t)
            else:
                rem = D[4] - a  # the last cycle's end does not fit in int64
            x = dtab[I[4] + i]
        if D[3] == 1.0:
            return D[0] + D[1] * _sin2(rem * x, a * x)
        return D[0] + (D[1] * pow(D[3], <double>i)) * _sin2(rem * x, a * x)

    elif kind == K_ONE_CYCLE:
        # PyTorch OneCycleLR phases, t clamped to the last step N - 1 (held afterwards).
        return _one_cycle(I, dtab, t)

    elif kind == K_CYCLIC:
        # PyTorch CyclicLR with the cycle and position inside it in exact integer arithmetic.
        total = I[0] + I[1]
        c = t // total
        r = t - c * total
        if r <= I[0]:
            x = <double>r / <double>I[0]
        else:
            x = <double>(total - r) / <double>I[1]
        if I[2] == 0:
            return D[0] + D[1] * x
        elif I[2] == 1:
            return D[0] + D[1] * x * (1.0 / pow(2.0, <double>c))
        return D[0] + D[1] * x * pow(D[2], <double>t)

    elif kind == K_INVERSE_SQRT:
        # Hugging Face get_inverse_sqrt_schedule: t/W during warmup, then 1/sqrt(t/W).
        if t < I[0]:
            return D[0] * (<double>t / <double>I[0])
        return D[0] * (1.0 / sqrt(<double>t / <double>I[0]))

    elif kind == K_WSD:
        # min_lr + (lr - min_lr) * f: warmup f = t/W, stable f = 1, decay f = h(d/D), then min_lr.
        if t < I[0]:
            return D[1] + D[3] * (<double>t / <double>I[0])
        if t < I[0] + I[1]:
            return D[0]
        u = t - I[0] - I[1]
        if u >= I[2]:
            return D[1]
        if I[3] == 0:
            return D[1] + D[3] * _sin2(<double>(I[2] - u) * D[2], <double>u * D[2])
        elif I[3] == 1:
            return D[1] + D[3] * (<double>(I[2] - u) / <double>I[2])
        return D[1] + D[3] * (1.0 - sqrt(<double>u / <double>I[2]))

    elif kind == K_JOIN:
        # pieces see t - boundary; boundaries itab[I[1] : I[1]+n-1], children itab[I[2] : I[2]+n]
        n = I[0]
        i = _bisect_right(itab + I[1], n - 1, t)
        if i == 0:
            return _eval_node(kinds, ip, dp, itab, dtab, itab[I[2]], t)
        return _eval_node(kinds, ip, dp, itab, dtab, itab[I[2] + i], t - itab[I[1] + i - 1])

    elif kind == K_PRODUCT:
        return (_eval_node(kinds, ip, dp, itab, dtab, I[0], t)
                * _eval_node(kinds, ip, dp, itab, dtab, I[1], t))

    elif kind == K_SCALE:
        return D[0] * _eval_node(kinds, ip, dp, itab, dtab, I[0], t)

    elif kind == K_WARMUP:
        # join([linear(B0, s, 1.0, W), child], [W]) with B0 = child(0)
        if t < I[0]:
            return _warmup_ramp(D, I[0], t)
        return _eval_node(kinds, ip, dp, itab, dtab, I[1], t - I[0])

    return NAN  # unknown kind: rejected by Program.__cinit__


# ---------------------------------------------------------------------------------------------
# Block evaluation: the array path.  Steps are processed in blocks of BLOCK; each node kind has a
# tight loop over the block (no per-element dispatch), composites gather their children's steps
# into per-level scratch, evaluate the child over the whole sub-block and scatter back.  Every
# value is computed by the same inline closed forms, in the same operation order, as the scalar
# interpreter ``_eval_node``, so array and scalar results are identical bit for bit.

cdef enum:
    BLOCK = 256
    ISCR_PER_LEVEL = 3 * BLOCK   # child steps, selected positions, piece ids
    DSCR_PER_LEVEL = BLOCK       # child values


cdef struct Tables:
    const int32_t* kinds
    const int64_t* ip
    const double* dp
    const int64_t* itab
    const double* dtab


cdef void _child_over_subset(const Tables* P, int64_t child, const int64_t* ct,
                             const int64_t* sel, Py_ssize_t m, Py_ssize_t n, double* out,
                             int64_t* iscr, double* dscr) noexcept nogil:
    """out[sel[j]] = child(ct[j]) for j < m; when m == n the subset is the whole block, in order."""
    cdef Py_ssize_t j
    if m == 0:
        return
    if m == n:
        _eval_block(P, child, ct, out, n, iscr + ISCR_PER_LEVEL, dscr + DSCR_PER_LEVEL)
        return
    _eval_block(P, child, ct, dscr, m, iscr + ISCR_PER_LEVEL, dscr + DSCR_PER_LEVEL)
    for j in range(m):
        out[sel[j]] = dscr[j]


cdef void _eval_block(const Tables* P, int64_t k, const int64_t* t, double* out,
                      Py_ssize_t n,            # IN: 0 < n <= BLOCK, every t[i] >= 0
                      int64_t* iscr,           # scratch of this level and the deeper ones
                      double* dscr) noexcept nogil:
    cdef const int64_t* I = P.ip + k * NP
    cdef const double* D = P.dp + k * NP
    cdef int kind = P.kinds[k]
    cdef Py_ssize_t i, m
    cdef int64_t p, u, T, W, lo
    cdef int64_t* ct = iscr
    cdef int64_t* sel = iscr + BLOCK
    cdef int64_t* pid = iscr + 2 * BLOCK
    cdef double c

    if kind == K_CONSTANT:
        c = D[0]
        for i in range(n):
            out[i] = c
    elif kind == K_COSINE:
        T = I[0]
        if T < SMALL_INT:
            # the same numbers as _cosine, in a form gcc vectorizes
            for i in range(n):
                u = _min64(T, t[i])
                out[i] = D[0] + D[1] * _sin2(_small_i2d(T - u) * D[2], _small_i2d(u) * D[2])
        else:
            for i in range(n):
                out[i] = _cosine(D, T, t[i])
    elif kind == K_LINEAR:
        T = I[0]
        for i in range(n):
            u = _min64(T, t[i])
            out[i] = D[0] * (D[1] + (D[2] - D[1]) * <double>u / <double>T)
    elif kind == K_ONE_CYCLE:
        if (I[0] == 2 or I[0] == 3) and I[2] < SMALL_INT:
            _one_cycle_block(I, P.dtab, t, out, n)
        else:
            for i in range(n):
                out[i] = _one_cycle(I, P.dtab, t[i])
    elif kind == K_WARMUP:
        W = I[0]
        m = 0
        for i in range(n):
            if t[i] < W:
                out[i] = _warmup_ramp(D, W, t[i])
            else:
                ct[m] = t[i] - W
                sel[m] = i
                m += 1
        _child_over_subset(P, I[1], ct, sel, m, n, out, iscr, dscr)
    elif kind == K_JOIN:
        for i in range(n):
            pid[i] = _bisect_right(P.itab + I[1], I[0] - 1, t[i])
        for p in range(I[0]):
            lo = 0 if p == 0 else P.itab[I[1] + p - 1]
            m = 0
            for i in range(n):
                if pid[i] == p:
                    ct[m] = t[i] - lo
                    sel[m] = i
                    m += 1
            _child_over_subset(P, P.itab[I[2] + p], ct, sel, m, n, out, iscr, dscr)
    elif kind == K_PRODUCT:
        _eval_block(P, I[0], t, out, n, iscr + ISCR_PER_LEVEL, dscr + DSCR_PER_LEVEL)
        _eval_block(P, I[1], t, dscr, n, iscr + ISCR_PER_LEVEL, dscr + DSCR_PER_LEVEL)
        for i in range(n):
            out[i] = out[i] * dscr[i]
    elif kind == K_SCALE:
        _eval_block(P, I[0], t, out, n, iscr + ISCR_PER_LEVEL, dscr + DSCR_PER_LEVEL)
        c = D[0]
        for i in range(n):
            out[i] = c * out[i]
    else:
        for i in range(n):
            out[i] = _eval_node(P.kinds, P.ip, P.dp, P.itab, P.dtab, k, t[i])


cdef int64_t _run_block(const Tables* P, int64_t root, const int64_t* steps, double* out,
                        Py_ssize_t n, Py_ssize_t b, int64_t* iscr,
                        double* dscr) noexcept nogil:
    """Evaluate block b of the array; returns its number of negative steps (those get NaN)."""
    cdef Py_ssize_t start = b * BLOCK, m = n - start, i
    cdef int64_t bad = 0, v
    cdef int64_t* local = iscr  # clamped copy of the block's steps
    if m > BLOCK:
        m = BLOCK
    for i in range(m):
        v = steps[start + i]
        if v < 0:
            bad += 1
            v = 0
        local[i] = v
    _eval_block(P, root, local, out + start, m, iscr + BLOCK, dscr)
    if bad:
        for i in range(m):
            if steps[start + i] < 0:
                out[start + i] = NAN
    return bad


cdef class Program:
    """A compiled schedule: node table plus the root node to evaluate.

    Built once by ``fastlr.schedules``; immutable afterwards (the arrays are private copies).
    """
    cdef object _kinds, _ip, _dp, _itab, _dtab
    cdef const int32_t* kinds
    cdef const int64_t* ip
    cdef const double* dp
    cdef const int64_t* itab
    cdef const double* dtab
    cdef Tables tables_
    cdef readonly int64_t root
    cdef readonly int64_t n_nodes
    cdef readonly int64_t depth

    def __cinit__(self, kinds, ip, dp, itab, dtab, int64_t root):
        import numpy as np
        self._kinds = np.array(kinds, dtype=np.int32, order="C", copy=True)
        self._ip = np.array(ip, dtype=np.int64, order="C", copy=True).reshape(-1)
        self._dp = np.array(dp, dtype=np.float64, order="C", copy=True).reshape(-1)
        # never empty, so the data pointers below are always valid
        self._itab = np.array(list(itab) + [0], dtype=np.int64)
        self._dtab = np.array(list(dtab) + [0.0], dtype=np.float64)
        n = self._kinds.shape[0]
        if n == 0 or self._ip.shape[0] != n * NP or self._dp.shape[0] != n * NP:
            raise ValueError("malformed schedule program: table shapes disagree")
        if not (0 <= root < n):
            raise ValueError("malformed schedule program: root out of range")
        if self._kinds.min() < 0 or self._kinds.max() >= NUM_KINDS:
            raise ValueError("malformed schedule program: unknown node kind")
        for arr in (self._kinds, self._ip, self._dp, self._itab, self._dtab):
            arr.flags.writeable = False
        cdef const int32_t[::1] kv = self._kinds
        cdef const int64_t[::1] iv = self._ip
        cdef const double[::1] dv = self._dp
        cdef const int64_t[::1] itv = self._itab
        cdef const double[::1] dtv = self._dtab
        self.kinds = &kv[0]
        self.ip = &iv[0]
        self.dp = &dv[0]
        self.itab = &itv[0]
        self.dtab = &dtv[0]
        self.root = root
        self.n_nodes = n
        self.tables_.kinds = self.kinds
        self.tables_.ip = self.ip
        self.tables_.dp = self.dp
        self.tables_.itab = self.itab
        self.tables_.dtab = self.dtab
        self.depth = self._depth_of(root, 0)

    def _depth_of(self, int64_t k, int level):
        """Levels of composition below node k (checks child indices on the way)."""
        if level > 256 or not (0 <= k < self.n_nodes):
            raise ValueError("malformed schedule program: bad child index or cycle")
        cdef int kind = self.kinds[k]
        cdef const int64_t* I = self.ip + k * NP
        if kind == K_PRODUCT:
            children = [I[0], I[1]]
        elif kind == K_SCALE:
            children = [I[0]]
        elif kind == K_WARMUP:
            children = [I[1]]
        elif kind == K_JOIN:
            children = [self.itab[I[2] + j] for j in range(I[0])]
        else:
            return 1
        return 1 + max(self._depth_of(c, level + 1) for c in children)

    cpdef double scalar(self, int64_t t):
        """Value at one step ``t >= 0`` (the caller checked the sign)."""
        return _eval_node(self.kinds, self.ip, self.dp, self.itab, self.dtab, self.root, t)

    def evaluate(self, const int64_t[::1] steps,  # IN
                 double[::1] out,                 # OUT
                 int num_threads=1):
        """Fill ``out[i] = schedule(steps[i])``; return the number of negative steps.

        Negative steps produce NaN and are counted; the caller raises when the count is not 0.
        ``steps`` and ``out`` must have the same length (checked here, before the loop).
        """
        cdef Py_ssize_t n = steps.shape[0], nblocks, b
        cdef int64_t bad = 0
        cdef int tid
        if out.shape[0] != n:
            raise ValueError("steps and out must have the same length")
        if n == 0:
            return 0
        nblocks = (n + BLOCK - 1) // BLOCK
        if num_threads < 1 or n < SERIAL_BELOW:
            num_threads = 1
        if num_threads > nblocks:
            num_threads = <int>nblocks
        # per-thread scratch: the block's clamped steps plus ISCR/DSCR_PER_LEVEL per level
        cdef Py_ssize_t per_i = BLOCK + ISCR_PER_LEVEL * (self.depth + 1)
        cdef Py_ssize_t per_d = DSCR_PER_LEVEL * (self.depth + 1)
        import numpy as np
        iscr_arr = np.empty(per_i * num_threads, dtype=np.int64)
        dscr_arr = np.empty(per_d * num_threads, dtype=np.float64)
        cdef int64_t[::1] iscr = iscr_arr
        cdef double[::1] dscr = dscr_arr
        cdef const Tables* P = &self.tables_
        cdef int64_t root = self.root
        if num_threads == 1:
            with nogil:
                for b in range(nblocks):
                    bad += _run_block(P, root, &steps[0], &out[0], n, b, &iscr[0], &dscr[0])
        else:
            for b in prange(nblocks, nogil=True, schedule="static", num_threads=num_threads):
                tid = threadid()
                bad += _run_block(P, root, &steps[0], &out[0], n, b, &iscr[tid * per_i],
                                  &dscr[tid * per_d])
        return bad

    def tables(self):
        """The node tables (read-only views), for inspection and tests."""
        return {"kinds": self._kinds, "ip": self._ip.reshape(-1, NP),
                "dp": self._dp.reshape(-1, NP),
                "itab": self._itab[:self._itab.shape[0] - 1],
                "dtab": self._dtab[:self._dtab.shape[0] - 1], "root": self.root}

    def __reduce__(self):
        t = self.tables()
        return (Program, (t["kinds"], t["ip"], t["dp"], t["itab"], t["dtab"], self.root))


def max_threads():
    """OpenMP's default team size (1 when fastlr was built without OpenMP)."""
    return _omp_max_threads()


cdef extern from *:
    """
    #ifdef _OPENMP
    #include <omp.h>
    static int fastlr_sched_omp_max_threads(void) { return omp_get_max_threads(); }
    #else
    static int fastlr_sched_omp_max_threads(void) { return 1; }
    #endif
    """
    int fastlr_sched_omp_max_threads() nogil


cdef int _omp_max_threads() noexcept:
    return fastlr_sched_omp_max_threads()
