"""The compiled row kernels (``fastlr._kernels._rows``) against their NumPy twins, bit for bit."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fastlr._kernels import _rows as K
from fastlr.reference import rows as R

DTYPES = [np.float32, np.float64]
INDEX_DTYPES = [np.int32, np.int64]


def _batch(rng, n_rows, dim, dtype, n=None):
    n = int(rng.integers(0, 2 * n_rows)) if n is None else n
    idx = rng.integers(0, n_rows, n)
    return idx, rng.standard_normal((n, dim)).astype(dtype)


# ----------------------------------------------------------------------------- coalescing

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("index_dtype", INDEX_DTYPES)
@pytest.mark.parametrize("n_threads", [1, 2])
@pytest.mark.parametrize("n_rows", [1, 7, 3000, 10**7])
def test_coalesce_matches_reference(dtype, index_dtype, n_threads, n_rows):
    rng = np.random.default_rng(n_rows)
    for n in [0, 1, 5, 600, 5000]:
        idx = rng.integers(0, n_rows, n).astype(index_dtype)
        vals = rng.standard_normal((n, 9)).astype(dtype)
        rows, summed = K.coalesce(idx, vals, n_rows, n_threads)
        ref_rows, ref_summed = R.coalesce_rows(idx, vals)
        assert rows.dtype == np.int64 and summed.dtype == dtype
        np.testing.assert_array_equal(rows, ref_rows)
        np.testing.assert_array_equal(summed, ref_summed)
        assert summed.shape == (len(np.unique(idx)), 9)


def test_coalesce_sums_in_occurrence_order():
    # 1 + 1e-8 + (-1) in float32: the order of the additions is visible in the result.
    idx = np.array([5, 5, 5, 2])
    vals = np.array([[1.0], [1e-8], [-1.0], [3.0]], np.float32)
    rows, summed = K.coalesce(idx, vals, 10, 1)
    assert rows.tolist() == [2, 5]
    assert summed[1, 0] == (np.float32(1.0) + np.float32(1e-8)) + np.float32(-1.0)
    rows, summed = K.coalesce(idx[[2, 1, 0, 3]], vals[[2, 1, 0, 3]], 10, 1)
    assert summed[1, 0] == (np.float32(-1.0) + np.float32(1e-8)) + np.float32(1.0)


def test_coalesce_passes_single_rows_through_bitwise():
    idx = np.array([3, 1])
    vals = np.array([[-0.0, np.nan], [np.inf, -0.0]])
    rows, summed = K.coalesce(idx, vals, 4, 1)
    assert rows.tolist() == [1, 3]
    assert np.signbit(summed[0, 1]) and np.signbit(summed[1, 0])
    np.testing.assert_array_equal(summed, vals[[1, 0]])


def test_coalesce_rejects_out_of_range():
    vals = np.zeros((2, 3))
    for bad in ([0, 4], [-1, 0]):
        with pytest.raises(IndexError):
            K.coalesce(np.array(bad), vals, 4, 1)


def test_plan_rows():
    assert K.plan_rows(np.array([0, -1, 9]), 4)[0] == 1
    assert K.plan_rows(np.array([0, 1, 4], np.int32), 4)[0] == 2
    bad, rows, starts, order = K.plan_rows(np.array([0, 2, 3]), 4)     # increasing: no plan
    assert bad == -1 and rows.tolist() == [0, 2, 3] and starts is None and order is None
    bad, rows, starts, order = K.plan_rows(np.empty(0, np.int32), 4)
    assert bad == -1 and rows.dtype == np.int64 and rows.size == 0 and starts is None
    bad, rows, starts, order = K.plan_rows(np.array([3, 0, 3, 1], np.int32), 4)
    assert rows.tolist() == [0, 1, 3] and starts.tolist() == [0, 1, 2, 4]
    assert order.tolist() == [1, 3, 0, 2]          # stable: the two 3s keep their order
    with pytest.raises(TypeError):
        K.plan_rows(np.array([0.0, 1.0]), 4)
    with pytest.raises(TypeError):
        K.plan_rows(np.array([3, 1, 2])[::2], 4)


@pytest.mark.parametrize("index_dtype", INDEX_DTYPES)
@pytest.mark.parametrize("n_rows", [60, 10**5, 10**7])
def test_plan_rows_runs(index_dtype, n_rows):
    """Small tables are planned by a counting sort (rows increasing), tables with more than 8
    rows per index by hashing (rows in order of first occurrence): either way, run k lists
    every position of ``rows[k]``, in order."""
    rng = np.random.default_rng(n_rows)
    for n in [2, 7, 100, 4096]:
        idx = ((rng.zipf(1.2, n) - 1) % 50 * (n_rows // 50)).astype(index_dtype)
        bad, rows, starts, order = K.plan_rows(idx, n_rows)
        assert bad == -1 and rows.dtype == np.int64
        if starts is None:
            assert np.all(np.diff(idx) > 0) and rows.tolist() == idx.tolist()
            continue
        assert len(set(rows.tolist())) == len(rows) and set(rows.tolist()) == set(idx.tolist())
        if n_rows <= 8 * n:
            assert np.all(np.diff(rows) > 0)
        else:
            first = [int(np.flatnonzero(idx == r)[0]) for r in rows]
            assert first == sorted(first)
        assert starts[0] == 0 and starts[-1] == n and np.all(np.diff(starts) > 0)
        for k, r in enumerate(rows):
            np.testing.assert_array_equal(order[starts[k]:starts[k + 1]], np.flatnonzero(idx == r))


def test_step_rows_checks_its_tables():
    p, q = np.zeros((5, 3)), np.zeros((6, 3))
    ptrs = np.array([[p.ctypes.data, 0, 0, 0, 0], [q.ctypes.data, 0, 0, 0, 0]], np.int64)
    rows, vals = np.array([1, 4]), np.ones((2, 3))
    args = (0.1, 0.0, 0.0, 0.0)

    def step(*tasks, kind=0, hp=args, table=ptrs):
        K.step_rows(kind, True, table, list(tasks), hp, 0, 1)

    step((0, 5, 3, rows, None, None, vals, 0.0, 0.0), (1, 6, 3, rows + 1, None, None, vals, 0.0, 0.0))
    assert p[[1, 4]].tolist() == [[-0.1] * 3] * 2 and not p[[0, 2, 3]].any()
    assert q[[2, 5]].tolist() == [[-0.1] * 3] * 2 and not q[[0, 1, 3, 4]].any()
    bad_tasks = [
        (IndexError, (0, 4, 3, rows, None, None, vals, 0.0, 0.0)),       # row 4 of 4 rows
        (ValueError, (0, 5, 3, rows, None, None, vals.astype(np.float32), 0.0, 0.0)),
        (ValueError, (2, 5, 3, rows, None, None, vals, 0.0, 0.0)),       # no such tensor
        (ValueError, (0, 5, 3, rows, np.array([0, 1, 2]), np.array([0]), vals, 0.0, 0.0)),
    ]
    for exc, task in bad_tasks:
        with pytest.raises(exc):        # a bad second task: the first one is not applied
            step((1, 6, 3, rows, None, None, vals, 0.0, 0.0), task)
    with pytest.raises(ValueError):
        step((0, 5, 3, rows, None, None, vals, 0.0, 0.0), kind=9)
    assert p[[1, 4]].tolist() == [[-0.1] * 3] * 2 and not p[[0, 2, 3]].any()
    assert q[[2, 5]].tolist() == [[-0.1] * 3] * 2 and not q[[0, 1, 3, 4]].any()


@settings(max_examples=150, deadline=None)
@given(
    ids=st.lists(st.integers(0, 40), max_size=200),
    dim=st.integers(1, 5),
    dtype=st.sampled_from(DTYPES),
    index_dtype=st.sampled_from(INDEX_DTYPES),
    n_threads=st.sampled_from([1, 2]),
)
def test_coalesce_hypothesis(ids, dim, dtype, index_dtype, n_threads):
    idx = np.array(ids, dtype=index_dtype)
    vals = np.random.default_rng(len(ids)).standard_normal((len(ids), dim)).astype(dtype)
    rows, summed = K.coalesce(idx, vals, 41, n_threads)
    ref_rows, ref_summed = R.coalesce_rows(idx, vals)
    np.testing.assert_array_equal(rows, ref_rows)
    np.testing.assert_array_equal(summed, ref_summed)
    # and against the definition, in double
    dense = np.zeros((41, dim))
    np.add.at(dense, idx, vals.astype(np.float64))
    np.testing.assert_allclose(summed, dense[rows], rtol=1e-5, atol=1e-5)


# ----------------------------------------------------------------------------- row kernels

def _state_like(param, names, fill=0.0):
    return {k: np.full_like(param, fill) for k in names}


def _run_kernel_and_reference(kernel, reference, names, make_args, dtype, n_threads,
                              steps=25, n_rows=40, dim=11, per_row_state=None):
    """Apply ``steps`` random row updates with the kernel and the reference; compare bits."""
    rng = np.random.default_rng(1234)
    p0 = rng.standard_normal((n_rows, dim)).astype(dtype)
    pk, pr = p0.copy(), p0.copy()
    sk = _state_like(p0, names, 0.1)
    if per_row_state:
        sk = {per_row_state: np.full(n_rows, 0.1, dtype)}
    sr = {k: v.copy() for k, v in sk.items()}
    for t in range(1, steps + 1):
        idx, vals = _batch(rng, n_rows, dim, dtype)
        rows, summed = R.coalesce_rows(idx, vals)
        kargs, rkw = make_args(t)
        before = pk.copy()
        kernel(pk, *[sk[k] for k in names], rows, summed, *kargs, n_threads=n_threads)
        reference(pr, *[sr[k] for k in names], rows, summed, **rkw)
        np.testing.assert_array_equal(pk, pr)
        for k in sk:
            np.testing.assert_array_equal(sk[k], sr[k])
        untouched = np.setdiff1d(np.arange(n_rows), rows)
        np.testing.assert_array_equal(pk[untouched], before[untouched])
    return pk


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n_threads", [1, 2])
@pytest.mark.parametrize("momentum,wd,nesterov,maximize", [
    (0.0, 0.0, False, False), (0.9, 0.0, False, False), (0.9, 0.05, True, True),
    (0.5, 0.0, False, True)])
def test_sgd_rows(dtype, n_threads, momentum, wd, nesterov, maximize):
    def args(t):
        kw = dict(lr=0.1, weight_decay=wd, momentum=momentum, dampening=0.0 if nesterov else 0.2,
                  nesterov=nesterov, maximize=maximize, first_step=t == 1)
        return tuple(kw.values()), kw
    _run_kernel_and_reference(K.sgd_rows, R.sgd_rows, ["buf"], args, dtype, n_threads)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n_threads", [1, 2])
@pytest.mark.parametrize("beta1,wd,decoupled,amsgrad,maximize", [
    (0.9, 0.0, False, False, False), (0.9, 0.1, False, True, False),
    (0.9, 0.1, True, False, True), (0.3, 0.0, False, True, False)])
def test_adam_rows(dtype, n_threads, beta1, wd, decoupled, amsgrad, maximize):
    lr, beta2 = 0.01, 0.999

    def args(t):
        kw = dict(beta1=beta1, beta2=beta2, eps=1e-8, neg_step_size=-lr / (1 - beta1 ** t),
                  bias_correction2_sqrt=(1 - beta2 ** t) ** 0.5, weight_decay=wd,
                  decay=1 - lr * wd, decoupled=decoupled, amsgrad=amsgrad, maximize=maximize)
        return tuple(kw.values()), kw
    _run_kernel_and_reference(K.adam_rows, R.adam_rows, ["m", "v", "vmax"], args, dtype,
                              n_threads)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n_threads", [1, 2])
@pytest.mark.parametrize("wd,maximize", [(0.0, False), (0.1, True)])
def test_adagrad_rows(dtype, n_threads, wd, maximize):
    def args(t):
        kw = dict(clr=0.1 / (1 + (t - 1) * 0.01), weight_decay=wd, eps=1e-10, maximize=maximize)
        return tuple(kw.values()), kw
    _run_kernel_and_reference(K.adagrad_rows, R.adagrad_rows, ["s"], args, dtype, n_threads)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n_threads", [1, 2])
@pytest.mark.parametrize("alpha,centered,momentum,wd", [
    (0.99, False, 0.0, 0.0), (0.99, True, 0.9, 0.1), (0.4, True, 0.0, 0.0),
    (0.9, False, 0.5, 0.0)])
def test_rmsprop_rows(dtype, n_threads, alpha, centered, momentum, wd):
    def args(t):
        kw = dict(lr=0.01, alpha=alpha, eps=1e-8, weight_decay=wd, momentum=momentum,
                  centered=centered, maximize=False)
        return tuple(kw.values()), kw
    _run_kernel_and_reference(K.rmsprop_rows, R.rmsprop_rows, ["sq", "ga", "buf"], args, dtype,
                              n_threads)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n_threads", [1, 2])
@pytest.mark.parametrize("wd,maximize", [(0.0, False), (0.1, True)])
def test_adadelta_rows(dtype, n_threads, wd, maximize):
    def args(t):
        kw = dict(lr=1.0, rho=0.9, eps=1e-6, weight_decay=wd, maximize=maximize)
        return tuple(kw.values()), kw
    _run_kernel_and_reference(K.adadelta_rows, R.adadelta_rows, ["sq", "acc"], args, dtype,
                              n_threads)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n_threads", [1, 2])
@pytest.mark.parametrize("wd,maximize", [(0.0, False), (0.1, True)])
def test_rowwise_adagrad_rows(dtype, n_threads, wd, maximize):
    def args(t):
        kw = dict(clr=0.1 / (1 + (t - 1) * 0.01), weight_decay=wd, eps=1e-10, maximize=maximize)
        return tuple(kw.values()), kw
    _run_kernel_and_reference(K.rowwise_adagrad_rows, R.rowwise_adagrad_rows, ["sum"], args,
                              dtype, n_threads, per_row_state="sum")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n_threads", [1, 2])
def test_rowwise_adagrad_dense(dtype, n_threads):
    rng = np.random.default_rng(5)
    pk = rng.standard_normal((300, 130)).astype(dtype)
    pr = pk.copy()
    sk = np.zeros(300, dtype)
    sr = sk.copy()
    for t in range(1, 8):
        g = rng.standard_normal(pk.shape).astype(dtype)
        K.rowwise_adagrad_dense(pk, sk, g, 0.1, 0.01, 1e-10, t % 2 == 0, n_threads)
        R.rowwise_adagrad_dense(pr, sr, g, clr=0.1, weight_decay=0.01, eps=1e-10,
                                maximize=t % 2 == 0)
        np.testing.assert_array_equal(pk, pr)
        np.testing.assert_array_equal(sk, sr)


@pytest.mark.parametrize("dtype", DTYPES)
def test_threads_bitwise_on_large_batches(dtype):
    """Above the serial threshold: 1 and 2 threads give the same bits."""
    rng = np.random.default_rng(9)
    n_rows, dim = 5000, 64
    idx = rng.integers(0, n_rows, 8000)
    vals = rng.standard_normal((8000, dim)).astype(dtype)
    r1, s1 = K.coalesce(idx, vals, n_rows, 1)
    r2, s2 = K.coalesce(idx, vals, n_rows, 2)
    np.testing.assert_array_equal(s1, s2)
    out = []
    for nt in (1, 2):
        p = np.ones((n_rows, dim), dtype)
        m, v = np.zeros_like(p), np.zeros_like(p)
        for t in range(1, 4):
            K.adam_rows(p, m, v, v, r1, s1, 0.9, 0.999, 1e-8, -1e-3 / (1 - 0.9 ** t),
                        (1 - 0.999 ** t) ** 0.5, n_threads=nt)
        out.append((p, m, v))
    for a, b in zip(*out):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("rows", [[1, 1], [2, 1], [0, 9]])
def test_kernels_reject_bad_row_lists_before_writing(rows):
    p = np.ones((9, 3))
    s = np.zeros_like(p)
    before = p.copy()
    with pytest.raises(IndexError):
        K.adagrad_rows(p, s, np.array(rows, np.int64), np.ones((2, 3)), 0.1)
    np.testing.assert_array_equal(p, before)
    np.testing.assert_array_equal(s, 0)


def test_kernels_reject_shape_mismatch():
    p = np.ones((9, 3))
    with pytest.raises(ValueError):
        K.adagrad_rows(p, np.zeros((9, 4)), np.array([1]), np.ones((1, 3)), 0.1)
    with pytest.raises(ValueError):
        K.adagrad_rows(p, np.zeros((9, 3)), np.array([1]), np.ones((1, 2)), 0.1)
    with pytest.raises(ValueError):
        K.adagrad_rows(p, np.zeros((9, 3)), np.array([1, 2]), np.ones((1, 3)), 0.1)
