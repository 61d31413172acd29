"""The compiled row kernels (``fastlr._kernels._rows``) on their own: plans, the checks of
``step_rows``, and row-wise Adagrad's dense step against its NumPy twin, bit for bit.  The row
updates themselves are tested through the optimizers, against the NumPy reference, in
``test_rows_optim.py``."""
import numpy as np
import pytest

from fastlr._kernels import _rows as K
from fastlr.reference import rows as R

DTYPES = [np.float32, np.float64]
INDEX_DTYPES = [np.int32, np.int64]


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
