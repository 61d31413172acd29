# The per-element optimizer updates, shared by the dense kernels (_dense.pyx, _dense_avx2.pyx)
# and the sparse row kernels (_rows.pyx), so each formula exists once.
#
# One ``noexcept nogil`` range function per optimizer applies PyTorch's single-tensor update to
# ``n`` consecutive elements: a block of a dense tensor, or one row of an embedding table.
# Every function is ``inline`` in this .pxd, so Cython copies it into each module that cimports
# it and gcc compiles and vectorizes it there with that module's flags (-mavx2 for the AVX2 build).
#
# Arguments: pointers to the elements (NULL for a state buffer the flags leave unused), the
# optimizer's hyper-parameters ``hp`` and per-tensor scalars ``pt`` as ``double`` arrays (layout
# noted at each function), and ``flags`` (F_* below).  Scalars are cast to the element type
# first, exactly as PyTorch casts a Python scalar to the tensor's dtype, so a float32 update is
# computed in float32 with PyTorch's order of operations (``-ffp-contract=off`` keeps every
# product and sum separately rounded).  A flag must be set only when its term changes the result
# (e.g. F_WD only for ``weight_decay != 0``): ``g + 0 * p`` is not ``g`` for ``p = inf`` or
# ``g = -0.0``.
#
# Each loop is written so that gcc vectorizes it: every load and store is unconditional, the
# run-time flags select values, and the optional state buffers are compile-time ``bint``
# arguments of a separate ``*_loop`` specialization.

from libc.math cimport sqrt, sqrtf, fabs

from fastlr._kernels._common cimport floating, nan_max

# Flags; fastlr._kernels._dense exports them to the Python layer under the names in comments.
cdef enum:
    F_MAXIMIZE = 1      # MAXIMIZE: g = -g
    F_WD = 2            # WEIGHT_DECAY: L2 penalty added to the gradient
    F_DECOUPLED = 4     # DECOUPLED: AdamW, param *= 1 - lr * weight_decay
    F_AMSGRAD = 8       # AMSGRAD
    F_NESTEROV = 16     # NESTEROV
    F_CENTERED = 32     # CENTERED
    F_MOMENTUM = 64     # MOMENTUM: SGD / RMSprop momentum buffer in use


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


cdef inline void _sgd(floating* p, const floating* g, floating* buf, Py_ssize_t n,
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


cdef inline void _adam(floating* p, const floating* g, floating* m, floating* v, floating* vmax,
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


cdef inline void _rmsprop(floating* p, const floating* g, floating* sq, floating* buf,
                          floating* gavg, Py_ssize_t n, const double* hp,
                          int flags) noexcept nogil:
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


cdef inline void _adagrad(floating* p, const floating* g, floating* acc, Py_ssize_t n,
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


cdef inline void _adadelta(floating* p, const floating* g, floating* sq, floating* acc,
                           Py_ssize_t n, const double* hp, int flags) noexcept nogil:
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
