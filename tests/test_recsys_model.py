"""BPR matrix factorisation: gradients against finite differences; negative sampling."""
import numpy as np
import pytest

from fastlr.recsys.model import MatrixFactorization
from fastlr.recsys.train import PositiveSet, sample_negatives


def dense(model, grads):
    """Sum the row gradients into dense arrays (repeated rows add up, as the optimizers do)."""
    out = []
    for p, (idx, val) in zip(model.params, grads.as_list()):
        g = np.zeros_like(p)
        np.add.at(g, idx, val)
        out.append(g)
    return out


@pytest.mark.parametrize("reg", [0.0, 0.05])
def test_bpr_gradient_matches_finite_differences(reg):
    rng = np.random.default_rng(0)
    m = MatrixFactorization(5, 7, dim=3, init_std=0.5, dtype=np.float64, seed=1)
    m.item_bias[:] = rng.standard_normal((7, 1))
    # repeated users and items, and an item that is positive in one triple and negative in another
    users = np.array([0, 0, 3, 4, 2])
    pos = np.array([1, 1, 2, 6, 5])
    neg = np.array([2, 4, 1, 6 - 1, 0])
    loss, grads = m.bpr_backward(users, pos, neg, reg)
    assert loss == pytest.approx(m.bpr_loss(users, pos, neg, 0.0))
    analytic = dense(m, grads)
    h = 1e-6
    for p, g in zip(m.params, analytic):
        numeric = np.zeros_like(p)
        for idx in np.ndindex(p.shape):
            old = p[idx]
            p[idx] = old + h
            up = m.bpr_loss(users, pos, neg, reg)
            p[idx] = old - h
            down = m.bpr_loss(users, pos, neg, reg)
            p[idx] = old
            numeric[idx] = (up - down) / (2 * h)
        np.testing.assert_allclose(g, numeric, rtol=1e-6, atol=1e-8)


def test_gradients_have_table_dtype_and_row_shapes():
    m = MatrixFactorization(10, 20, dim=4, seed=0)
    users, pos, neg = np.array([1, 2, 3]), np.array([4, 5, 6]), np.array([7, 8, 9])
    _, grads = m.bpr_backward(users, pos, neg, 0.01)
    (ui, uv), (ii, iv), (bi, bv) = grads.as_list()
    assert uv.dtype == iv.dtype == bv.dtype == np.float32
    assert uv.shape == (3, 4) and iv.shape == (6, 4) and bv.shape == (6, 1)
    assert ii.tolist() == [4, 5, 6, 7, 8, 9] and bi.tolist() == ii.tolist() and ui.tolist() == [1, 2, 3]


def test_bpr_loss_is_stable_for_large_margins():
    m = MatrixFactorization(2, 3, dim=2, dtype=np.float64, seed=0)
    m.item_bias[:, 0] = [1000.0, -1000.0, 0.0]
    loss, grads = m.bpr_backward(np.array([0, 1]), np.array([0, 1]), np.array([1, 0]))
    assert np.isfinite(loss) and loss == pytest.approx(2000.0, rel=1e-3)
    assert all(np.all(np.isfinite(v)) for _, v in grads.as_list())


def test_scores_and_params():
    m = MatrixFactorization(4, 6, dim=3, seed=2)
    m.item_bias[:, 0] = np.arange(6)
    s = m.scores(np.array([1, 3]))
    np.testing.assert_allclose(s, m.user_emb[[1, 3]] @ m.item_emb.T + np.arange(6), rtol=1e-6)
    assert m.params[2].shape == (6, 1) and all(p.flags.c_contiguous for p in m.params)


def test_init_is_seeded_and_validated():
    a, b = MatrixFactorization(5, 5, seed=3), MatrixFactorization(5, 5, seed=3)
    assert all(np.array_equal(x, y) for x, y in zip(a.params, b.params))
    with pytest.raises(ValueError):
        MatrixFactorization(0, 5)
    with pytest.raises(TypeError):
        MatrixFactorization(3, 5, dtype=np.int32)


@pytest.mark.parametrize("dense_limit", [0, 1 << 26])
def test_positive_set_both_layouts(dense_limit):
    users = np.array([0, 0, 2, 3], dtype=np.int32)
    items = np.array([1, 4, 0, 4], dtype=np.int32)
    ps = PositiveSet(users, items, 4, 5, dense_limit=dense_limit)
    assert (ps.table is None) == (dense_limit == 0)
    q_users, q_items = np.array([0, 0, 0, 2, 3, 1]), np.array([1, 2, 4, 0, 4, 1])
    assert ps.contains(q_users, q_items).tolist() == [True, False, True, True, True, False]


def test_negatives_avoid_positives_and_are_seeded():
    rng = np.random.default_rng(0)
    n_users, n_items = 50, 40
    mask = rng.random((n_users, n_items)) < 0.3
    users, items = np.nonzero(mask)
    ps = PositiveSet(users, items, n_users, n_items)
    batch = np.repeat(np.arange(n_users), 200)
    neg = sample_negatives(np.random.default_rng(1), batch, n_items, ps, redraws=20)
    assert neg.dtype == np.int32 and neg.min() >= 0 and neg.max() < n_items
    assert not np.any(mask[batch, neg])
    again = sample_negatives(np.random.default_rng(1), batch, n_items, ps, redraws=20)
    assert np.array_equal(neg, again)
    # without rejection, about 30% of draws would hit positives
    plain = sample_negatives(np.random.default_rng(1), batch, n_items, None)
    assert 0.2 < mask[batch, plain].mean() < 0.4
