"""Row gradients through the public API: exact and lazy semantics, validation, threads, state."""
import pickle

import numpy as np
import pytest
import scipy.sparse
from hypothesis import given, settings
from hypothesis import strategies as st

import fastlr
from fastlr.reference import optim as RO
from fastlr.reference import rows as R

DTYPES = [np.float32, np.float64]

# name -> (class, kwargs); every cross-cutting test runs over this table
CONFIGS = {
    "sgd": (fastlr.SGD, dict(lr=0.1)),
    "sgd_momentum_wd": (fastlr.SGD, dict(lr=0.1, momentum=0.9, dampening=0.1, weight_decay=0.01)),
    "sgd_nesterov_max": (fastlr.SGD, dict(lr=0.1, momentum=0.9, nesterov=True, maximize=True)),
    "sgd_dampening_max": (fastlr.SGD, dict(lr=0.1, momentum=0.5, dampening=0.2, maximize=True)),
    "adam": (fastlr.Adam, dict(lr=0.01)),
    "adam_wd_amsgrad": (fastlr.Adam, dict(lr=0.01, weight_decay=0.1, amsgrad=True)),
    "adam_low_beta1": (fastlr.Adam, dict(lr=0.01, betas=(0.3, 0.9), amsgrad=True)),
    "adamw_max": (fastlr.AdamW, dict(lr=0.01, weight_decay=0.1, maximize=True)),
    "rmsprop": (fastlr.RMSprop, dict(lr=0.01)),
    "rmsprop_full": (fastlr.RMSprop, dict(lr=0.01, alpha=0.4, centered=True, momentum=0.9,
                                          weight_decay=0.1)),
    "rmsprop_momentum_max": (fastlr.RMSprop, dict(lr=0.01, alpha=0.9, momentum=0.5, maximize=True)),
    "adagrad": (fastlr.Adagrad, dict(lr=0.1, lr_decay=0.01, initial_accumulator_value=0.1)),
    "adagrad_wd_max": (fastlr.Adagrad, dict(lr=0.1, weight_decay=0.1, maximize=True)),
    "adadelta": (fastlr.Adadelta, dict(lr=1.0, weight_decay=0.1)),
    "adadelta_max": (fastlr.Adadelta, dict(lr=1.0, rho=0.8, maximize=True)),
    "rowwise": (fastlr.RowwiseAdagrad, dict(lr=0.1)),
    "rowwise_wd_max": (fastlr.RowwiseAdagrad, dict(lr=0.1, lr_decay=0.01, weight_decay=0.1,
                                                   maximize=True)),
}
EXACT = ["sgd", "adagrad", "rowwise"]


class LazyOracle:
    """The lazy row semantics written with ``fastlr.reference.rows`` (independent scalars)."""

    def __init__(self, name, param, group):
        self.cls = CONFIGS[name][0]
        self.g = {k: v for k, v in group.items() if k != "params"}
        self.p = param
        self.state = {}
        self.step_count = 0

    def _init_state(self):
        p, g, cls = self.p, self.g, self.cls
        z = lambda: np.zeros_like(p)  # noqa: E731
        if cls is fastlr.SGD:
            return {"momentum_buffer": z()} if g["momentum"] else {}
        if cls in (fastlr.Adam, fastlr.AdamW):
            return dict(exp_avg=z(), exp_avg_sq=z(), **({"max_exp_avg_sq": z()} if g["amsgrad"] else {}))
        if cls is fastlr.RMSprop:
            s = {"square_avg": z()}
            if g["momentum"] > 0:
                s["momentum_buffer"] = z()
            if g["centered"]:
                s["grad_avg"] = z()
            return s
        if cls is fastlr.Adagrad:
            return {"sum": np.full_like(p, g["initial_accumulator_value"])}
        if cls is fastlr.Adadelta:
            return {"square_avg": z(), "acc_delta": z()}
        return {"sum": np.full(p.shape[0], g["initial_accumulator_value"], p.dtype)}

    def step(self, grad):
        if grad is None:
            return
        if not self.state:
            self.state = self._init_state()
        self.step_count += 1
        t, g, p, s, cls = self.step_count, self.g, self.p, self.state, self.cls
        if isinstance(grad, np.ndarray):
            assert cls is fastlr.RowwiseAdagrad
            R.rowwise_adagrad_dense(p, s["sum"], grad, clr=g["lr"] / (1 + (t - 1) * g["lr_decay"]),
                                    weight_decay=g["weight_decay"], eps=g["eps"],
                                    maximize=g["maximize"])
            return
        rows, v = R.coalesce_rows(grad.indices, grad.values)
        common = dict(maximize=g["maximize"], weight_decay=g["weight_decay"])
        if cls is fastlr.SGD:
            R.sgd_rows(p, s.get("momentum_buffer"), rows, v, lr=g["lr"], momentum=g["momentum"],
                       dampening=g["dampening"], nesterov=g["nesterov"], first_step=t == 1,
                       **common)
        elif cls in (fastlr.Adam, fastlr.AdamW):
            b1, b2 = g["betas"]
            R.adam_rows(p, s["exp_avg"], s["exp_avg_sq"], s.get("max_exp_avg_sq"), rows, v,
                        beta1=b1, beta2=b2, eps=g["eps"], neg_step_size=-(g["lr"] / (1 - b1 ** t)),
                        bias_correction2_sqrt=(1 - b2 ** t) ** 0.5,
                        decay=1 - g["lr"] * g["weight_decay"],
                        decoupled=g["decoupled_weight_decay"], amsgrad=g["amsgrad"], **common)
        elif cls is fastlr.RMSprop:
            R.rmsprop_rows(p, s["square_avg"], s.get("grad_avg"), s.get("momentum_buffer"), rows,
                           v, lr=g["lr"], alpha=g["alpha"], eps=g["eps"],
                           momentum=g["momentum"], centered=g["centered"], **common)
        elif cls is fastlr.Adagrad:
            R.adagrad_rows(p, s["sum"], rows, v, clr=g["lr"] / (1 + (t - 1) * g["lr_decay"]),
                           eps=g["eps"], **common)
        elif cls is fastlr.Adadelta:
            R.adadelta_rows(p, s["square_avg"], s["acc_delta"], rows, v, lr=g["lr"], rho=g["rho"],
                            eps=g["eps"], **common)
        else:
            R.rowwise_adagrad_rows(p, s["sum"], rows, v,
                                   clr=g["lr"] / (1 + (t - 1) * g["lr_decay"]), eps=g["eps"],
                                   **common)


def _random_rowgrad(rng, n_rows, dim, dtype, kind=None):
    kind = kind or rng.choice(["uniform", "zipf", "empty", "single", "all", "dups"])
    if kind == "uniform":
        idx = rng.integers(0, n_rows, int(rng.integers(1, 2 * n_rows)))
    elif kind == "zipf":
        idx = (rng.zipf(1.3, int(rng.integers(1, 3 * n_rows))) - 1) % n_rows
    elif kind == "empty":
        idx = np.empty(0, np.int64)
    elif kind == "single":
        idx = rng.integers(0, n_rows, 1)
    elif kind == "all":
        idx = rng.permutation(n_rows)
    else:
        idx = np.repeat(rng.integers(0, n_rows, 3), 7)
    idx = idx.astype(rng.choice([np.int32, np.int64, np.uint16, np.uint64]))
    return fastlr.RowGrad(idx, rng.standard_normal((idx.size, dim)).astype(dtype))


def _dense_of(grad, shape, dtype):
    g = np.zeros(shape, dtype)
    np.add.at(g, grad.indices.astype(np.int64), grad.values)
    return g


def _assert_states_equal(opt_state, ref_state):
    assert set(opt_state) == set(ref_state)
    for k in ref_state:
        np.testing.assert_array_equal(opt_state[k], ref_state[k], err_msg=k)


# ----------------------------------------------------------------------------- lazy semantics

def _with_oracle(name, rng, n_rows, dim, dtype):
    """A random table, the optimizer of ``CONFIGS[name]`` on it and a LazyOracle on a copy."""
    cls, kw = CONFIGS[name]
    p0 = rng.standard_normal((n_rows, dim)).astype(dtype)
    w = p0.copy()
    opt = cls([w], **kw)
    return w, opt, LazyOracle(name, p0.copy(), opt.param_groups[0])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", list(CONFIGS))
@pytest.mark.parametrize("dim", [1, 3, 13])    # 1 and 3 take the kernel's narrow-table path
def test_rows_match_lazy_reference(name, dtype, dim):
    cls = CONFIGS[name][0]
    rng = np.random.default_rng(sum(map(ord, name)) + dim)
    n_rows = 60
    w, opt, oracle = _with_oracle(name, rng, n_rows, dim, dtype)
    for _ in range(40):
        grad = None if rng.random() < 0.1 else _random_rowgrad(rng, n_rows, dim, dtype)
        if grad is not None and cls is fastlr.RowwiseAdagrad and rng.random() < 0.2:
            grad = rng.standard_normal((n_rows, dim)).astype(dtype)  # dense steps mixed in
        before = w.copy()
        opt.step([grad])
        oracle.step(grad)
        np.testing.assert_array_equal(w, oracle.p)
        if grad is not None and not isinstance(grad, np.ndarray):
            untouched = np.setdiff1d(np.arange(n_rows), grad.indices.astype(np.int64))
            np.testing.assert_array_equal(w[untouched], before[untouched])
    _assert_states_equal(opt.state[0], oracle.state)
    assert opt.state_dict()["state"][0]["step"] == oracle.step_count


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", list(CONFIGS))
def test_rows_match_lazy_reference_on_two_threads(name, dtype, monkeypatch):
    """Small steps forced onto a 2-thread team (work items of 16 rows, narrow tables as one
    item) give the reference's bits too."""
    monkeypatch.setattr(fastlr._threads, "PARALLEL_MIN_ELEMENTS", 1)
    fastlr.set_num_threads(2)
    try:
        assert fastlr._threads.threads_for(90) == (2 if fastlr.openmp_enabled() else 1)
        rng = np.random.default_rng(3)
        tables = [_with_oracle(name, rng, 90, dim, dtype) for dim in (11, 1)]
        for _ in range(25):
            for w, opt, oracle in tables:
                grad = _random_rowgrad(rng, 90, w.shape[1], dtype, "uniform")
                opt.step([grad])
                oracle.step(grad)
                np.testing.assert_array_equal(w, oracle.p)
        for w, opt, oracle in tables:
            _assert_states_equal(opt.state[0], oracle.state)
    finally:
        fastlr.set_num_threads(None)


@pytest.mark.parametrize("dim", [3, 12])
def test_repeated_rows_are_summed_in_order_of_occurrence(dim):
    """(1 + 1e8) - 1e8 is 0 in float32, 1e8 - 1e8 + 1 is 1: the sum is the occurrences' in
    their order, starting from the first (as ``fastlr.reference.rows.coalesce_rows``)."""
    vals = np.repeat(np.array([[1.0], [1e8], [-1e8]], np.float32), dim, axis=1)
    for order, expected in (([0, 1, 2], 0.0), ([1, 2, 0], -1.0)):
        w = np.zeros((6, dim), np.float32)
        fastlr.SGD([w], lr=1.0).step([fastlr.RowGrad([4, 4, 4], vals[order])])
        assert w[4].tolist() == [expected] * dim and not w[[0, 1, 2, 3, 5]].any()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", list(CONFIGS))
def test_rows_of_a_large_table_match_lazy_reference(name, dtype):
    """Few repeated ids spread over a table with far more rows than ids (the hashed plan)."""
    rng = np.random.default_rng(7)
    w, opt, oracle = _with_oracle(name, rng, 20_000, 5, dtype)
    for _ in range(15):
        idx = (rng.zipf(1.3, 200) - 1) % 40 * 499 + rng.integers(0, 2)
        grad = fastlr.RowGrad(idx, rng.standard_normal((200, 5)).astype(dtype))
        opt.step([grad])
        oracle.step(grad)
        np.testing.assert_array_equal(w, oracle.p)
    _assert_states_equal(opt.state[0], oracle.state)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", [n for n in CONFIGS if not n.startswith("rowwise")])
def test_rows_match_lead_reference_optimizers(name, dtype):
    """The lazy row step of ``fastlr.reference.optim`` (an independent oracle)."""
    cls, kw = CONFIGS[name]
    rng = np.random.default_rng(7)
    w = rng.standard_normal((30, 5)).astype(dtype)
    w_ref = w.copy()
    opt = cls([w], **kw)
    ref = getattr(RO, cls.__name__)([w_ref], **kw)
    for _ in range(25):
        grad = _random_rowgrad(rng, 30, 5, dtype, kind=rng.choice(["uniform", "zipf", "single"]))
        opt.step([grad])
        ref.step([grad])
    np.testing.assert_array_equal(w, w_ref)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", list(CONFIGS))
def test_all_rows_equal_dense_step(name, dtype):
    """A RowGrad listing every row (shuffled, some duplicated) is the dense step, bit for bit."""
    cls, kw = CONFIGS[name]
    rng = np.random.default_rng(3)
    w = rng.standard_normal((25, 6)).astype(dtype)
    w_dense = w.copy()
    opt, opt_dense = cls([w], **kw), cls([w_dense], **kw)
    for _ in range(15):
        idx = rng.permutation(25)
        vals = rng.standard_normal((25, 6)).astype(dtype)
        grad = fastlr.RowGrad(idx, vals)
        opt.step([grad])
        dense = np.empty_like(vals)
        dense[idx] = vals
        opt_dense.step([dense])
        np.testing.assert_array_equal(w, w_dense)
    _assert_states_equal(opt.state[0], opt_dense.state[0])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", EXACT)
def test_exact_cases_equal_dense_step_with_zero_rows(name, dtype):
    cls, kw = CONFIGS[name]
    rng = np.random.default_rng(11)
    n_rows, dim = 80, 9
    w = rng.standard_normal((n_rows, dim)).astype(dtype)
    w_dense = w.copy()
    opt, opt_dense = cls([w], **kw), cls([w_dense], **kw)
    for _ in range(40):
        grad = _random_rowgrad(rng, n_rows, dim, dtype)
        opt.step([grad])
        opt_dense.step([_dense_of(grad, w.shape, dtype)])
        np.testing.assert_array_equal(w, w_dense)
    _assert_states_equal(opt.state[0], opt_dense.state[0])


def test_lazy_differs_from_dense_where_documented():
    """Momentum: a dense step with a zero row still moves it; the lazy row step does not."""
    w = np.ones((3, 2))
    w_dense = w.copy()
    opt, opt_dense = fastlr.SGD([w], lr=0.1, momentum=0.9), fastlr.SGD([w_dense], lr=0.1, momentum=0.9)
    g = fastlr.RowGrad([0, 1, 2], np.ones((3, 2)))
    opt.step([g])
    opt_dense.step([np.ones((3, 2))])
    opt.step([fastlr.RowGrad([0], np.ones((1, 2)))])
    opt_dense.step([np.array([[1.0, 1], [0, 0], [0, 0]])])
    np.testing.assert_array_equal(w[0], w_dense[0])
    assert (w[1:] != w_dense[1:]).all()   # the dense step coasted on the momentum
    np.testing.assert_array_equal(w[1:], 0.9)


# ----------------------------------------------------------------------------- torch

@pytest.mark.torch
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("eps", [1e-8, 1e-15])
def test_adam_matches_torch_sparse_adam(dtype, eps):
    """Equal up to rounding and the documented eps placement.

    SparseAdam adds ``eps`` to ``sqrt(v)`` before dividing by ``sqrt(1 - beta2**t)``: an eps
    that is larger by ``1 / sqrt(1 - beta2**t)`` (about 30x on the first step).  With a tiny
    eps the two agree to rounding; with the default eps to about ``lr * eps / |g|`` per step.
    """
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    n_rows, dim = 200, 16
    w = rng.standard_normal((n_rows, dim)).astype(dtype)
    tw = torch.nn.Parameter(torch.from_numpy(w.copy()))
    opt = fastlr.Adam([w], lr=0.01, eps=eps)
    topt = torch.optim.SparseAdam([tw], lr=0.01, eps=eps)
    for _ in range(30):
        idx = (rng.zipf(1.2, 300) - 1) % n_rows
        vals = rng.standard_normal((300, dim)).astype(dtype)
        opt.step([fastlr.RowGrad(idx, vals)])
        tw.grad = torch.sparse_coo_tensor(torch.from_numpy(idx[None, :]), torch.from_numpy(vals),
                                          (n_rows, dim), check_invariants=True)
        topt.step()
    rtol = 2e-5 if dtype == np.float32 else 1e-10
    atol = rtol if eps < 1e-12 else 1e-4
    np.testing.assert_allclose(w, tw.detach().numpy(), rtol=rtol, atol=atol)
    st = topt.state[tw]
    np.testing.assert_allclose(opt.state[0]["exp_avg"], st["exp_avg"].numpy(), rtol=rtol, atol=rtol)
    np.testing.assert_allclose(opt.state[0]["exp_avg_sq"], st["exp_avg_sq"].numpy(), rtol=rtol,
                               atol=rtol)


@pytest.mark.torch
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.filterwarnings("ignore:Sparse invariant checks")
def test_adagrad_matches_torch_sparse_adagrad(dtype):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    n_rows, dim = 100, 8
    w = rng.standard_normal((n_rows, dim)).astype(dtype)
    tw = torch.nn.Parameter(torch.from_numpy(w.copy()))
    opt = fastlr.Adagrad([w], lr=0.1, lr_decay=0.01)
    topt = torch.optim.Adagrad([tw], lr=0.1, lr_decay=0.01)
    for _ in range(30):
        idx = rng.integers(0, n_rows, 150)
        vals = rng.standard_normal((150, dim)).astype(dtype)
        opt.step([fastlr.RowGrad(idx, vals)])
        tw.grad = torch.sparse_coo_tensor(torch.from_numpy(idx[None, :]), torch.from_numpy(vals),
                                          (n_rows, dim), check_invariants=True)
        topt.step()
    rtol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(w, tw.detach().numpy(), rtol=rtol, atol=rtol)
    np.testing.assert_allclose(opt.state[0]["sum"], topt.state[tw]["sum"].numpy(), rtol=rtol)


# ----------------------------------------------------------------------------- threads

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ["sgd_momentum_wd", "adam_wd_amsgrad", "rmsprop_full",
                                  "adagrad", "adadelta", "rowwise"])
@pytest.mark.parametrize("dim", [64, 4])
def test_threads_bitwise_equal(name, dtype, dim):
    cls, kw = CONFIGS[name]
    results = []
    n_rows = 3000 * 64 // dim      # enough touched elements for two threads
    for n_threads in (1, 2):
        fastlr.set_num_threads(n_threads)
        try:
            rng = np.random.default_rng(21)
            w = rng.standard_normal((n_rows, dim)).astype(dtype)
            opt = cls([w], **kw)
            for _ in range(5):
                idx = (rng.zipf(1.1, 4 * n_rows // 3) - 1) % n_rows
                vals = rng.standard_normal((idx.size, dim)).astype(dtype)
                opt.step([fastlr.RowGrad(idx, vals)])
            results.append((w, opt.state[0]))
        finally:
            fastlr.set_num_threads(None)
    np.testing.assert_array_equal(results[0][0], results[1][0])
    _assert_states_equal(results[0][1], results[1][1])


# ----------------------------------------------------------------------------- validation

def _trained(name, dtype):
    """An optimizer over two (10, 4) tables, after one step (so its state exists)."""
    cls, kw = CONFIGS[name]
    rng = np.random.default_rng(2)
    w, v = (rng.standard_normal((10, 4)).astype(dtype) for _ in range(2))
    opt = cls([w, v], **kw)
    opt.step([fastlr.RowGrad([1, 3, 3], np.ones((3, 4), dtype)), np.ones((10, 4), dtype)])
    return opt


def _snapshot(opt):
    return pickle.loads(pickle.dumps((opt._params, opt.state_dict())))


def _assert_unchanged(opt, snap):
    params, sd = snap
    for p, q in zip(opt._params, params):
        np.testing.assert_array_equal(p, q)
    now = opt.state_dict()
    assert now["step_count"] == sd["step_count"]
    assert now["state"].keys() == sd["state"].keys()
    for i in sd["state"]:
        for k, v in sd["state"][i].items():
            np.testing.assert_array_equal(now["state"][i][k], v)


BAD_ROWGRADS = {
    "negative index": (lambda d: fastlr.RowGrad([2, -1], np.ones((2, 4), d)), IndexError),
    "index == n_rows": (lambda d: fastlr.RowGrad([0, 10], np.ones((2, 4), d)), IndexError),
    "huge uint64": (lambda d: fastlr.RowGrad(np.array([2**63 + 1], np.uint64), np.ones((1, 4), d)),
                    IndexError),
    "huge int64": (lambda d: fastlr.RowGrad(np.array([2**40]), np.ones((1, 4), d)), IndexError),
    "wrong values dtype": (lambda d: fastlr.RowGrad([1], np.ones((1, 4), np.float64 if d == np.float32
                                                                  else np.float32)), TypeError),
    "wrong columns": (lambda d: fastlr.RowGrad([1], np.ones((1, 5), d)), ValueError),
    "not a gradient": (lambda d: [1, 2, 3], TypeError),
    "sparse wrong shape": (lambda d: scipy.sparse.csr_matrix(np.ones((9, 4), d)), ValueError),
    "sparse wrong dtype": (lambda d: scipy.sparse.csr_matrix(np.ones((10, 4), np.int64)), TypeError),
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", list(BAD_ROWGRADS))
@pytest.mark.parametrize("position", ["only", "after a valid one"])
def test_bad_row_gradients_leave_everything_unchanged(case, dtype, position):
    make, exc = BAD_ROWGRADS[case]
    for name in ("adam_wd_amsgrad", "sgd_momentum_wd", "rowwise"):
        opt = _trained(name, dtype)
        snap = _snapshot(opt)
        bad = make(dtype)
        if position == "only":
            grads = [bad, None]
        else:   # the valid update of the first table must not happen either
            grads = [fastlr.RowGrad([0, 0], np.ones((2, 4), dtype)), bad]
        with pytest.raises(exc):
            opt.step(grads)
        _assert_unchanged(opt, snap)


@pytest.mark.parametrize("indices,exc", [
    (np.array([0.0, 1.0]), TypeError), (np.array([True, False]), TypeError),
    (np.array(["a", "b"]), TypeError), (np.array([[0, 1]]), ValueError),
])
def test_rowgrad_constructor_rejects(indices, exc):
    with pytest.raises(exc):
        fastlr.RowGrad(indices, np.ones((2, 3)))


def test_rowgrad_constructor_rejects_values():
    with pytest.raises(ValueError):
        fastlr.RowGrad([0, 1], np.ones((3, 3)))
    with pytest.raises(ValueError):
        fastlr.RowGrad([0, 1], np.ones(2))
    with pytest.raises(TypeError):
        fastlr.RowGrad([0, 1], np.ones((2, 3), np.int64))
    assert len(fastlr.RowGrad([], np.ones((0, 3)))) == 0


def test_rowgrad_needs_a_2d_parameter():
    b = np.zeros(4)
    opt = fastlr.Adam([b])
    with pytest.raises(ValueError):
        opt.step([fastlr.RowGrad([0], np.ones((1, 4)))])
    np.testing.assert_array_equal(b, 0)
    assert opt.state == {}


def test_caller_arrays_are_never_modified_and_may_be_read_only():
    rng = np.random.default_rng(4)
    idx = np.array([5, 1, 5, 0])
    vals = rng.standard_normal((4, 3))
    idx_c, vals_c = idx.copy(), vals.copy()
    vals.flags.writeable = False
    idx.flags.writeable = False
    w = np.zeros((6, 3))
    opt = fastlr.Adam([w], lr=0.1)
    opt.step([fastlr.RowGrad(idx, vals)])
    opt.step([fastlr.RowGrad(idx[[3, 1]], vals[::2])])  # sorted path, non-contiguous values
    np.testing.assert_array_equal(idx, idx_c)
    np.testing.assert_array_equal(vals, vals_c)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", list(CONFIGS))
def test_tables_sharing_an_index_array_match_separate_steps(name, dtype):
    """An embedding table and its bias column given one index array (one shared sort plan)
    step exactly as each would alone; the plan's rows are re-checked against each table."""
    cls, kw = CONFIGS[name]
    rng = np.random.default_rng(5)
    emb, bias = rng.standard_normal((50, 16)).astype(dtype), rng.standard_normal((50, 1)).astype(dtype)
    solo = [emb.copy(), bias.copy()]
    opt = cls([emb, bias], **kw)
    solo_opts = [cls([a], **kw) for a in solo]
    for _ in range(20):
        idx = (rng.zipf(1.3, 120) - 1) % 50
        grads = [fastlr.RowGrad(idx, rng.standard_normal((120, d)).astype(dtype)) for d in (16, 1)]
        opt.step(grads)
        for o, g in zip(solo_opts, grads):
            o.step([fastlr.RowGrad(idx.copy(), g.values)])
    np.testing.assert_array_equal(emb, solo[0])
    np.testing.assert_array_equal(bias, solo[1])
    for i in (0, 1):
        _assert_states_equal(opt.state[i], solo_opts[i].state[0])


def test_shared_index_array_out_of_range_for_the_smaller_table():
    big, small = np.zeros((10, 4)), np.zeros((5, 1))
    opt = fastlr.Adam([big, small])
    idx = np.array([7, 2, 7])
    with pytest.raises(IndexError, match="index 7 at position 0 is out of range for a table of 5"):
        opt.step([fastlr.RowGrad(idx, np.ones((3, 4))), fastlr.RowGrad(idx, np.ones((3, 1)))])
    assert not big.any() and not small.any() and not opt.state


def test_values_aliasing_a_state_buffer_are_copied():
    w = np.arange(12.0).reshape(4, 3)
    opt = fastlr.SGD([w], lr=0.5, momentum=0.9)
    opt.step([np.ones((4, 3))])
    buf = opt.state[0]["momentum_buffer"]
    buf[:] = np.arange(12.0).reshape(4, 3)
    expected_w, expected_buf = w.copy(), buf.copy()
    g = buf[2:].copy()
    expected_buf[[1, 2]] = expected_buf[[1, 2]] * 0.9 + g
    expected_w[[1, 2]] += -0.5 * expected_buf[[1, 2]]
    opt.step([fastlr.RowGrad([1, 2], buf[2:])])
    np.testing.assert_array_equal(buf, expected_buf)
    np.testing.assert_array_equal(w, expected_w)


def test_values_aliasing_the_table_are_copied():
    w = np.arange(12.0).reshape(4, 3)
    expected = w.copy()
    expected[[1, 2]] += -0.5 * np.arange(12.0).reshape(4, 3)[[2, 3]]
    fastlr.SGD([w], lr=0.5).step([fastlr.RowGrad([1, 2], w[2:])])
    np.testing.assert_array_equal(w, expected)


# ----------------------------------------------------------------------------- mixing, state

@pytest.mark.parametrize("name", list(CONFIGS))
def test_one_step_mixes_dense_and_row_gradients(name):
    cls, kw = CONFIGS[name]
    rng = np.random.default_rng(8)
    table = rng.standard_normal((40, 5))
    other = rng.standard_normal((7, 5))
    t2, o2 = table.copy(), other.copy()
    opt = cls([table, other], **kw)
    opt_t, opt_o = cls([t2], **kw), cls([o2], **kw)
    for k in range(10):
        rg = _random_rowgrad(rng, 40, 5, np.float64, kind="zipf")
        dg = rng.standard_normal((7, 5)) if k % 3 else None
        opt.step([rg, dg])
        opt_t.step([rg])
        opt_o.step([dg])
    np.testing.assert_array_equal(table, t2)
    np.testing.assert_array_equal(other, o2)
    sd = opt.state_dict()["state"]
    assert sd[0]["step"] == 10 and sd[1]["step"] == 6


@pytest.mark.parametrize("name", list(CONFIGS))
def test_state_dict_round_trip_resumes_bit_for_bit(name):
    cls, kw = CONFIGS[name]
    rng = np.random.default_rng(12)
    w = rng.standard_normal((50, 4)).astype(np.float32)
    opt = cls([w], **kw)
    for _ in range(5):
        opt.step([_random_rowgrad(rng, 50, 4, np.float32, kind="zipf")])
    saved = pickle.loads(pickle.dumps(opt.state_dict()))
    w2 = w.copy()
    opt2 = cls([w2], **kw)
    opt2.load_state_dict(saved)
    for _ in range(5):
        g = _random_rowgrad(rng, 50, 4, np.float32, kind="zipf")
        opt.step([g])
        opt2.step([g])
    np.testing.assert_array_equal(w, w2)
    _assert_states_equal(opt.state[0], opt2.state[0])


@pytest.mark.parametrize("fmt", ["csr", "coo", "csc", "lil"])
def test_scipy_sparse_gradient_equals_rowgrad(fmt):
    rng = np.random.default_rng(13)
    w = rng.standard_normal((30, 6)).astype(np.float32)
    w2 = w.copy()
    rows = np.array([3, 3, 17, 0])
    cols = np.array([1, 1, 5, 0])
    data = np.array([1.0, 2.0, -1.0, 0.5], np.float32)
    sp = scipy.sparse.coo_matrix((data, (rows, cols)), shape=(30, 6)).asformat(fmt)
    dense_rows = np.zeros((3, 6), np.float32)
    dense_rows[0, 0], dense_rows[1, 1], dense_rows[2, 5] = 0.5, 3.0, -1.0
    opt, opt2 = fastlr.Adam([w], lr=0.1), fastlr.Adam([w2], lr=0.1)
    data_before = sp.copy()
    opt.step([sp])
    opt2.step([fastlr.RowGrad([0, 3, 17], dense_rows)])
    np.testing.assert_array_equal(w, w2)
    assert (sp != data_before).nnz == 0


# ----------------------------------------------------------------------------- RowwiseAdagrad

def test_rowwise_adagrad_state_is_one_number_per_row():
    w = np.zeros((1000, 16), np.float32)
    bias = np.zeros(1000, np.float32)
    opt = fastlr.RowwiseAdagrad([w, bias], lr=0.1, initial_accumulator_value=0.5)
    opt.step([fastlr.RowGrad([3], np.full((1, 16), 2.0, np.float32)), np.ones(1000, np.float32)])
    assert opt.state[0]["sum"].shape == (1000,) and opt.state[0]["sum"].dtype == np.float32
    assert opt.state[0]["sum"][3] == np.float32(4.5) and opt.state[0]["sum"][2] == np.float32(0.5)
    assert opt.state[1]["sum"].shape == (1000,)
    np.testing.assert_array_equal(opt.state[1]["sum"], np.float32(1.5))   # 1-D: plain Adagrad


def test_rowwise_adagrad_rejects_wrong_state_shape():
    w = np.zeros((10, 4))
    opt = fastlr.RowwiseAdagrad([w])
    opt.step([np.ones((10, 4))])
    sd = opt.state_dict()
    sd["state"][0]["sum"] = np.zeros((10, 4))
    with pytest.raises(ValueError):
        fastlr.RowwiseAdagrad([w.copy()]).load_state_dict(sd)


def test_rowwise_adagrad_non_contiguous_dense_gradient():
    rng = np.random.default_rng(6)
    w = rng.standard_normal((20, 3))
    w2 = w.copy()
    g = rng.standard_normal((3, 20)).T        # F-ordered
    fastlr.RowwiseAdagrad([w]).step([g])
    fastlr.RowwiseAdagrad([w2]).step([np.ascontiguousarray(g)])
    np.testing.assert_array_equal(w, w2)


# ----------------------------------------------------------------------------- hypothesis

@settings(max_examples=60, deadline=None)
@given(
    batches=st.lists(st.lists(st.integers(0, 19), max_size=40), min_size=1, max_size=6),
    name=st.sampled_from(list(CONFIGS)),
    dtype=st.sampled_from(DTYPES),
)
def test_random_index_multisets(batches, name, dtype):
    cls, kw = CONFIGS[name]
    rng = np.random.default_rng(len(batches))
    w = rng.standard_normal((20, 3)).astype(dtype)
    opt = cls([w], **kw)
    oracle = LazyOracle(name, w.copy(), opt.param_groups[0])
    for ids in batches:
        g = fastlr.RowGrad(np.array(ids, np.int64), rng.standard_normal((len(ids), 3)).astype(dtype))
        opt.step([g])
        oracle.step(g)
        np.testing.assert_array_equal(w, oracle.p)
