"""Sparse row updates of an embedding table: fastlr vs pure NumPy vs torch sparse optimizers.

Run::

    python -m pytest bench/bench_rows.py --benchmark-only --benchmark-enable \
        --benchmark-columns=median,mean,min

Workload: a float32 table of 1,000,000 x 64, batches of 4,096 row ids drawn from a Zipf
popularity (p(rank k) ~ 1/(k+1), popular items scattered over the table by a fixed random
permutation), as in implicit-feedback interaction data; gradient values standard normal.  A
round is one full optimizer step from ``(indices, values)``: coalescing duplicates + the fused
row update.  Each round takes the next batch of a pool of 32 pre-generated batches, so the
touched rows are not all cache-hot from the previous round; batch generation happens in the
untimed setup.

* group ``<opt> 1Mx64``: fastlr (1 and 2 threads), the NumPy reference of
  ``fastlr.reference.rows`` (coalesce + row update), and ``torch.optim.SparseAdam`` /
  ``torch.optim.Adagrad`` / ``torch.optim.SGD`` with a sparse COO gradient when torch is
  importable (torch's time includes wrapping the arrays as a sparse tensor, as fastlr's includes
  building the ``RowGrad``).
* On a machine whose cores are busy with other processes, libgomp's default spin-waiting makes
  every 2-thread parallel region stall for tens of milliseconds (measured: ~48 ms per Adam
  step instead of ~1 ms); run with ``OMP_WAIT_POLICY=passive`` there, or compare 1 thread.
* groups ``adam scaling``: the *same* batches against tables of 1e3, 1e5 and 1e7 rows: ranks drawn
  from a Zipf over 1,000 items and spread evenly over the table (``row = rank * n_rows //
  1000``), so every table sees the same number of unique rows and duplicates.  The 1e7-row table
  (2.56 GB per array) is filled; its Adam moments are ``np.zeros`` (pages the OS maps lazily, as
  in real use).
"""
from __future__ import annotations

import itertools

import numpy as np
import pytest

import fastlr
from fastlr.reference import rows as R

N_ROWS, DIM, BATCH, POOL = 1_000_000, 64, 4096, 32
LR = 1e-3


def zipf_ranks(rng, n_items, size, s=1.0):
    weights = 1.0 / np.arange(1, n_items + 1) ** s
    cdf = np.cumsum(weights)
    cdf /= cdf[-1]
    return np.minimum(np.searchsorted(cdf, rng.random(size)), n_items - 1)


@pytest.fixture(scope="module")
def batches():
    rng = np.random.default_rng(2024)
    perm = rng.permutation(N_ROWS)
    out = []
    for _ in range(POOL):
        idx = perm[zipf_ranks(rng, N_ROWS, BATCH)].astype(np.int64)
        out.append((idx, rng.standard_normal((BATCH, DIM)).astype(np.float32)))
    return out


def _table(n_rows=N_ROWS):
    table = np.empty((n_rows, DIM), np.float32)
    table.fill(0.01)
    return table


def _rounds(pool, make_args):
    """A pedantic ``setup`` cycling through the batch pool (untimed)."""
    it = itertools.cycle(pool)

    def setup():
        return make_args(*next(it)), {}
    return setup


def _run(benchmark, fn, setup, rounds=60):
    # Warm-up goes once through the whole pool: state pages are first touched (and zeroed by
    # the OS) there, so the timed rounds measure steady-state training steps.
    benchmark.pedantic(fn, setup=setup, rounds=rounds, warmup_rounds=POOL, iterations=1)


@pytest.fixture(params=[1, 2], ids=["1thread", "2threads"])
def threads(request):
    fastlr.set_num_threads(request.param)
    yield request.param
    fastlr.set_num_threads(None)


def _unique_rows(batches):
    return float(np.mean([np.unique(i).size for i, _ in batches]))


# ----------------------------------------------------------------------------- fastlr

FASTLR = {
    "adam": lambda t: fastlr.Adam([t], lr=LR),
    "adagrad": lambda t: fastlr.Adagrad([t], lr=LR),
    "rowwise_adagrad": lambda t: fastlr.RowwiseAdagrad([t], lr=LR),
    "sgd": lambda t: fastlr.SGD([t], lr=LR),
}


@pytest.mark.parametrize("opt_name", list(FASTLR))
def test_fastlr(benchmark, batches, threads, opt_name):
    benchmark.group = f"{opt_name} 1Mx64"
    benchmark.extra_info["unique_rows_per_batch"] = _unique_rows(batches)
    table = _table()
    opt = FASTLR[opt_name](table)
    _run(benchmark, lambda g: opt.step([g]),
         _rounds(batches, lambda i, v: (fastlr.RowGrad(i, v),)))


# ----------------------------------------------------------------------------- NumPy reference

def _numpy_step(opt_name, table, state):
    def step(idx, vals):
        state["t"] += 1
        t = state["t"]
        rows, g = R.coalesce_rows(idx, vals)
        if opt_name == "adam":
            R.adam_rows(table, state["m"], state["v"], None, rows, g, beta1=0.9, beta2=0.999,
                        eps=1e-8, neg_step_size=-LR / (1 - 0.9 ** t),
                        bias_correction2_sqrt=(1 - 0.999 ** t) ** 0.5)
        elif opt_name == "adagrad":
            R.adagrad_rows(table, state["s"], rows, g, clr=LR)
        elif opt_name == "rowwise_adagrad":
            R.rowwise_adagrad_rows(table, state["s1"], rows, g, clr=LR)
        else:
            R.sgd_rows(table, None, rows, g, lr=LR)
    return step


@pytest.mark.parametrize("opt_name", list(FASTLR))
def test_numpy_reference(benchmark, batches, opt_name):
    benchmark.group = f"{opt_name} 1Mx64"
    table = _table()
    state = {"t": 0}
    if opt_name == "adam":
        state.update(m=np.zeros_like(table), v=np.zeros_like(table))
    elif opt_name == "adagrad":
        state["s"] = np.zeros_like(table)
    elif opt_name == "rowwise_adagrad":
        state["s1"] = np.zeros(N_ROWS, np.float32)
    _run(benchmark, _numpy_step(opt_name, table, state), _rounds(batches, lambda i, v: (i, v)),
         rounds=30)


# ----------------------------------------------------------------------------- torch

@pytest.mark.parametrize("opt_name", ["adam", "adagrad", "sgd"])
def test_torch_sparse(benchmark, batches, opt_name):
    torch = pytest.importorskip("torch")
    torch.set_num_threads(2)
    benchmark.group = f"{opt_name} 1Mx64"
    benchmark.extra_info["torch_threads"] = torch.get_num_threads()
    w = torch.nn.Parameter(torch.from_numpy(_table()))
    opt = {"adam": lambda: torch.optim.SparseAdam([w], lr=LR),
           "adagrad": lambda: torch.optim.Adagrad([w], lr=LR),
           "sgd": lambda: torch.optim.SGD([w], lr=LR)}[opt_name]()
    tb = [(torch.from_numpy(i[None, :]), torch.from_numpy(v)) for i, v in batches]

    def step(idx, vals):
        w.grad = torch.sparse_coo_tensor(idx, vals, (N_ROWS, DIM), check_invariants=False)
        opt.step()
    with torch.no_grad():
        _run(benchmark, step, _rounds(tb, lambda i, v: (i, v)), rounds=30)


# ----------------------------------------------------------------------------- scaling

@pytest.fixture(scope="module")
def small_rank_batches():
    rng = np.random.default_rng(77)
    return [(zipf_ranks(rng, 1000, BATCH), rng.standard_normal((BATCH, DIM)).astype(np.float32))
            for _ in range(POOL)]


@pytest.mark.parametrize("n_rows", [10**3, 10**5, 10**7], ids=["1e3", "1e5", "1e7"])
@pytest.mark.parametrize("n_threads", [1, 2], ids=["1thread", "2threads"])
def test_adam_scaling(benchmark, small_rank_batches, n_rows, n_threads):
    benchmark.group = f"adam scaling (same batches, {n_threads} thread(s))"
    fastlr.set_num_threads(n_threads)
    try:
        spread = n_rows // 1000
        pool = [((r * spread).astype(np.int64), v) for r, v in small_rank_batches]
        benchmark.extra_info["unique_rows_per_batch"] = _unique_rows(pool)
        table = _table(n_rows)
        opt = fastlr.Adam([table], lr=LR)
        _run(benchmark, lambda g: opt.step([g]), _rounds(pool, lambda i, v: (fastlr.RowGrad(i, v),)),
             rounds=100)
    finally:
        fastlr.set_num_threads(None)
