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

from cython.parallel cimport prange
from libc.math cimport sin, sqrt, pow, NAN
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

# Below this many steps the array kernel runs on one thread: starting the OpenMP team costs
# more than evaluating a few thousand closed forms.
SERIAL_BELOW = 32768

NUM_KINDS = 16


cdef inline int64_t _min64(int64_t a, int64_t b) noexcept nogil:
    return a if a < b else b


cdef inline double _sin2(double x) noexcept nogil:
    cdef double s = sin(x)
    return s * s


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


cdef double _eval_node(const int32_t* kinds, const int64_t* ip, const double* dp,
                       const int64_t* itab, const double* dtab,
                       int64_t k, int64_t t) noexcept nogil:
    """Value of node ``k`` at step ``t >= 0`` (the caller guarantees t >= 0)."""
    cdef const int64_t* I = ip + k * NP
    cdef const double* D = dp + k * NP
    cdef int kind = kinds[k]
    cdef int64_t n, i, j, u, c, r, total, rem_i
    cdef double x, start, end_step, a, b, pct, rem

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
        u = _min64(I[0], t)
        return D[0] + D[1] * _sin2(<double>(I[0] - u) * D[2])

    elif kind == K_COSINE_RESTARTS:
        # Cycle index by exact integer arithmetic: never a float log.
        if I[1] == 1:
            i = t // I[0]
            rem = <double>(I[0] - (t - i * I[0]))
            x = D[2]
        else:
            # starts S_0 = 0 < S_1 < ... < S_K (every start that fits in int64)
            n = I[3]
            i = _bisect_right(itab + I[2], n, t) - 1
            if i < n - 1:
                rem = <double>(itab[I[2] + i + 1] - t)
            else:
                rem = D[4] - <double>(t - itab[I[2] + i])
            x = dtab[I[4] + i]
        if D[3] == 1.0:
            return D[0] + D[1] * _sin2(rem * x)
        return D[0] + (D[1] * pow(D[3], <double>i)) * _sin2(rem * x)

    elif kind == K_ONE_CYCLE:
        # PyTorch OneCycleLR phases, t clamped to the last step N - 1 (held afterwards).
        n = I[0]
        x = <double>_min64(t, I[2])
        start = 0.0
        j = I[3]
        for i in range(n):
            end_step = dtab[j + 3 * i]
            if x <= end_step or i == n - 1:
                a = dtab[j + 3 * i + 1]
                b = dtab[j + 3 * i + 2]
                if I[1] == 0:
                    # cos: b + (a - b)/2 (1 + cos(pi pct)) == b + (a - b) sin(pi/2 (1 - pct))**2
                    return b + (a - b) * _sin2(1.5707963267948966 * ((end_step - x) / (end_step - start)))
                pct = (x - start) / (end_step - start)
                return (b - a) * pct + a
            start = end_step
        return NAN  # unreachable: the last phase always returns

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
            return D[1] + D[3] * _sin2(<double>(I[2] - u) * D[2])
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
            return D[0] * (D[1] + D[2] * <double>t / <double>I[0])
        return _eval_node(kinds, ip, dp, itab, dtab, I[1], t - I[0])

    return NAN  # unknown kind: rejected by Program.__cinit__


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
    cdef readonly int64_t root
    cdef readonly int64_t n_nodes

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
        cdef Py_ssize_t n = steps.shape[0], i
        cdef int64_t bad = 0
        cdef int64_t t
        if out.shape[0] != n:
            raise ValueError("steps and out must have the same length")
        if n == 0:
            return 0
        if num_threads < 1:
            num_threads = 1
        if num_threads == 1 or n < SERIAL_BELOW:
            with nogil:
                for i in range(n):
                    t = steps[i]
                    if t < 0:
                        out[i] = NAN
                        bad += 1
                    else:
                        out[i] = _eval_node(self.kinds, self.ip, self.dp, self.itab,
                                            self.dtab, self.root, t)
        else:
            for i in prange(n, nogil=True, schedule="static", num_threads=num_threads):
                t = steps[i]
                if t < 0:
                    out[i] = NAN
                    bad += 1
                else:
                    out[i] = _eval_node(self.kinds, self.ip, self.dp, self.itab,
                                        self.dtab, self.root, t)
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
