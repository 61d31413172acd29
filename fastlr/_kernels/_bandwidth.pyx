"""A memory-bandwidth probe with the access pattern of an optimizer step.

The benchmarks report every optimizer as a fraction of what this machine can stream for the
same access pattern.  ``probe`` makes one pass over ``n_read_only`` read-only arrays and
``n_read_write`` read-and-written arrays, all of one length and dtype, with trivial math per
element (one multiply-add per stream, no sqrt, no division): so it is memory-bound and its time
is the ceiling an optimizer kernel with that pattern can approach.  Adam is 1 read-only stream
(the gradient) and 3 read-write streams (param, exp_avg, exp_avg_sq): 4 reads + 3 writes.

The work is split like the dense kernels split it: blocks of ``BLOCK_ELEMENTS`` elements under
an OpenMP static schedule (so each thread streams the same contiguous share), serial when
``n_threads <= 1``.  Every read-write stream is written back with a value that depends on every
stream read, through a run-time scale, so the compiler can elide neither loads nor stores.
"""

from cython.parallel cimport prange
from libc.stdint cimport intptr_t

cimport numpy as cnp

from fastlr._kernels._common cimport floating

cnp.import_array()

#: Elements per work block: the dense kernels' block size (fastlr.optim._base.BLOCK_ELEMENTS).
BLOCK_ELEMENTS = 16384
cdef Py_ssize_t _BLOCK = 16384

#: Most read-write streams (AMSGrad: param, exp_avg, exp_avg_sq, max_exp_avg_sq) and most streams
#: in all: gcc vectorizes a loop only while it needs at most 10 run-time aliasing checks, which a
#: sixth stream would exceed.
MAX_READ_WRITE = 4
MAX_STREAMS = 5


cdef inline void _stream(floating** ro, int n_ro, floating** rw, int n_rw,
                         Py_ssize_t lo, Py_ssize_t hi, floating scale) noexcept nogil:
    # Called with constant n_ro / n_rw from _span, so after inlining gcc unrolls the stream
    # loops completely and vectorizes the element loop as it does an optimizer kernel.
    cdef floating acc, x0, x1, x2, x3
    cdef floating* w0 = rw[0]
    cdef floating* w1 = rw[1]
    cdef floating* w2 = rw[2]
    cdef floating* w3 = rw[3]
    cdef const floating* r0 = ro[0]
    cdef const floating* r1 = ro[1]
    cdef Py_ssize_t i
    for i in range(lo, hi):
        acc = 0
        if n_ro > 0:
            acc = acc + r0[i]
        if n_ro > 1:
            acc = acc + r1[i]
        x0 = w0[i]
        acc = acc + x0
        if n_rw > 1:
            x1 = w1[i]
            acc = acc + x1
        if n_rw > 2:
            x2 = w2[i]
            acc = acc + x2
        if n_rw > 3:
            x3 = w3[i]
            acc = acc + x3
        acc = acc * scale
        w0[i] = x0 + acc
        if n_rw > 1:
            w1[i] = x1 + acc
        if n_rw > 2:
            w2[i] = x2 + acc
        if n_rw > 3:
            w3[i] = x3 + acc


cdef void _span(floating** ro, int n_ro, floating** rw, int n_rw,
                Py_ssize_t lo, Py_ssize_t hi, floating scale) noexcept nogil:
    # One specialised copy of the loop per supported pattern.
    if n_ro == 0:
        if n_rw == 1:
            _stream(ro, 0, rw, 1, lo, hi, scale)
        elif n_rw == 2:
            _stream(ro, 0, rw, 2, lo, hi, scale)
        elif n_rw == 3:
            _stream(ro, 0, rw, 3, lo, hi, scale)
        else:
            _stream(ro, 0, rw, 4, lo, hi, scale)
    elif n_ro == 1:
        if n_rw == 1:
            _stream(ro, 1, rw, 1, lo, hi, scale)
        elif n_rw == 2:
            _stream(ro, 1, rw, 2, lo, hi, scale)
        elif n_rw == 3:
            _stream(ro, 1, rw, 3, lo, hi, scale)
        else:
            _stream(ro, 1, rw, 4, lo, hi, scale)
    else:
        if n_rw == 1:
            _stream(ro, 2, rw, 1, lo, hi, scale)
        elif n_rw == 2:
            _stream(ro, 2, rw, 2, lo, hi, scale)
        else:
            _stream(ro, 2, rw, 3, lo, hi, scale)


cdef void _run(floating** ro, int n_ro, floating** rw, int n_rw, Py_ssize_t n,
               floating scale, int n_threads) noexcept nogil:
    cdef Py_ssize_t b, lo, hi
    cdef Py_ssize_t n_blocks = (n + _BLOCK - 1) // _BLOCK
    if n_threads <= 1:
        for b in range(n_blocks):
            lo = b * _BLOCK
            hi = min(lo + _BLOCK, n)
            _span(ro, n_ro, rw, n_rw, lo, hi, scale)
    else:
        for b in prange(n_blocks, schedule="static", num_threads=n_threads):
            lo = b * _BLOCK
            hi = min(lo + _BLOCK, n)
            _span(ro, n_ro, rw, n_rw, lo, hi, scale)


def probe(int n_read_only, int n_read_write, arrays, int n_threads=1, double scale=1e-7):
    """Stream once over ``arrays``: the first ``n_read_only`` are read, the rest read and written.

    Each read-write element becomes ``x + scale * (sum of every stream's element)``.  All arrays
    must be C-contiguous, of one dtype (float32 or float64) and one size, and distinct; read-only
    arrays may be read-only.  ``n_read_only`` is 0, 1 or 2, ``n_read_write`` 1 to 4, at most 5
    streams in all.  Returns the bytes the pass moves (each read counted once, each write once).
    """
    cdef int k
    cdef Py_ssize_t n
    cdef cnp.ndarray a
    cdef float* ro32[2]
    cdef float* rw32[4]
    cdef double* ro64[2]
    cdef double* rw64[4]
    if not (0 <= n_read_only <= 2):
        raise ValueError(f"n_read_only must be 0, 1 or 2, got {n_read_only}")
    if not (1 <= n_read_write <= MAX_READ_WRITE):
        raise ValueError(f"n_read_write must be in [1, {MAX_READ_WRITE}], got {n_read_write}")
    if n_read_only + n_read_write > MAX_STREAMS:
        raise ValueError(f"at most {MAX_STREAMS} streams in all, got "
                         f"{n_read_only} + {n_read_write}")
    arrays = list(arrays)
    if len(arrays) != n_read_only + n_read_write:
        raise ValueError(f"expected {n_read_only + n_read_write} arrays, got {len(arrays)}")
    first = arrays[0]
    if not isinstance(first, cnp.ndarray):
        raise TypeError("arrays must be numpy.ndarray")
    dtype = first.dtype
    if dtype != cnp.dtype("float32") and dtype != cnp.dtype("float64"):
        raise TypeError(f"arrays must be float32 or float64, got {dtype}")
    n = first.size
    seen = set()
    for k, obj in enumerate(arrays):
        if not isinstance(obj, cnp.ndarray):
            raise TypeError(f"arrays[{k}] is {type(obj).__name__}, not numpy.ndarray")
        a = <cnp.ndarray>obj
        if a.dtype != dtype or a.size != n:
            raise ValueError(f"arrays[{k}] has dtype {a.dtype} and size {a.size}; "
                             f"arrays[0] has {dtype} and {n}")
        if not (cnp.PyArray_IS_C_CONTIGUOUS(a) and cnp.PyArray_ISALIGNED(a)):
            raise ValueError(f"arrays[{k}] must be C-contiguous and aligned")
        if k >= n_read_only and not a.flags.writeable:
            raise ValueError(f"arrays[{k}] is read-write but not writeable")
        addr = <intptr_t>cnp.PyArray_DATA(a)
        if n and addr in seen:
            raise ValueError(f"arrays[{k}] is given twice")
        seen.add(addr)
    for k in range(2):
        ro32[k] = NULL
        ro64[k] = NULL
    for k in range(4):
        rw32[k] = NULL
        rw64[k] = NULL
    for k in range(n_read_only + n_read_write):
        a = <cnp.ndarray>arrays[k]
        if k < n_read_only:
            ro32[k] = <float*>cnp.PyArray_DATA(a)
            ro64[k] = <double*>cnp.PyArray_DATA(a)
        else:
            rw32[k - n_read_only] = <float*>cnp.PyArray_DATA(a)
            rw64[k - n_read_only] = <double*>cnp.PyArray_DATA(a)
    cdef bint is_double = dtype.itemsize == 8
    if n:
        with nogil:
            if is_double:
                _run(ro64, n_read_only, rw64, n_read_write, n, <double>scale, n_threads)
            else:
                _run(ro32, n_read_only, rw32, n_read_write, n, <float>scale, n_threads)
    return (n_read_only + 2 * n_read_write) * n * dtype.itemsize
