"""Ranking metrics against hand-computed cases."""
import math

import numpy as np
import pytest
import scipy.sparse as sp

from fastlr.recsys.metrics import evaluate, popularity_scores, ranking_metrics, top_k


def csr(rows, shape):
    """Binary CSR matrix from {user: [items]}."""
    u = [r for r, items in rows.items() for _ in items]
    i = [c for items in rows.values() for c in items]
    return sp.csr_matrix((np.ones(len(u)), (u, i)), shape=shape)


def test_top_k_orders_by_score_and_breaks_ties_by_lower_index():
    scores = np.array([[0.1, 0.5, 0.5, 0.2, 0.5],
                       [3.0, 1.0, 2.0, 2.0, 0.0]])
    assert top_k(scores, 2).tolist() == [[1, 2], [0, 2]]
    assert top_k(scores, 4).tolist() == [[1, 2, 4, 3], [0, 2, 3, 1]]


def test_top_k_all_ties():
    assert top_k(np.zeros((2, 5)), 3).tolist() == [[0, 1, 2], [0, 1, 2]]


def test_top_k_k_larger_than_catalogue_is_clipped():
    out = top_k(np.array([[0.3, 0.9, 0.1]]), 10)
    assert out.tolist() == [[1, 0, 2]]


def test_top_k_puts_excluded_last():
    out = top_k(np.array([[np.inf * -1, 0.2, -np.inf, 0.1]]), 4)
    assert out.tolist() == [[1, 3, 0, 2]]


def test_top_k_rejects_bad_k():
    with pytest.raises(ValueError, match="k must be"):
        top_k(np.zeros((1, 3)), 0)


def test_top_k_matches_full_sort_on_random_data():
    rng = np.random.default_rng(0)
    scores = rng.integers(0, 5, size=(50, 40)).astype(float)  # many ties
    expected = np.lexsort((np.broadcast_to(np.arange(40), scores.shape), -scores), axis=1)[:, :7]
    assert np.array_equal(top_k(scores, 7), expected)


def test_ranking_metrics_hand_computed():
    hits = np.array([[True, False, True],     # 2 hits at ranks 0 and 2, 3 relevant
                     [False, False, False],   # no hit
                     [False, True, False]])   # 1 hit at rank 1, 1 relevant
    m = ranking_metrics(hits, np.array([3, 2, 1]), 3)
    assert m["precision"].tolist() == pytest.approx([2 / 3, 0, 1 / 3])
    assert m["recall"].tolist() == pytest.approx([2 / 3, 0, 1])
    idcg3 = 1 + 1 / math.log2(3) + 1 / math.log2(4)
    assert m["ndcg"][0] == pytest.approx((1 + 1 / math.log2(4)) / idcg3)
    assert m["ndcg"][1] == 0
    assert m["ndcg"][2] == pytest.approx(1 / math.log2(3))  # IDCG of one relevant item is 1
    assert m["hit"].tolist() == [1, 0, 1]


def test_ranking_metrics_short_list_precision_uses_k():
    # K = 5 but only 2 candidates were left: precision still divides by K
    m = ranking_metrics(np.array([[True, True]]), np.array([2]), 5)
    assert m["precision"][0] == pytest.approx(2 / 5)
    assert m["recall"][0] == 1.0 and m["ndcg"][0] == pytest.approx(1.0)


# A hand-built case: 4 users, 5 items.
#   train: u0 {0, 1}, u1 {0}, u2 {0, 2}, u3 {1}
#   test:  u0 {2, 4}, u1 {} (no test items: skipped), u2 {1}, u3 {3}
SCORES = np.array([
    [5.0, 4.0, 1.0, 3.0, 2.0],  # u0: excluding {0,1} -> ranking 3, 4, 2
    [1.0, 1.0, 1.0, 1.0, 1.0],  # u1: skipped
    [9.0, 0.0, 9.0, 0.0, 0.0],  # u2: excluding {0,2} -> ties 1, 3, 4 by index
    [0.0, 7.0, 1.0, 1.0, 2.0],  # u3: excluding {1}  -> 4, then tie 2/3 -> 2, 3, 0
])
TRAIN = csr({0: [0, 1], 1: [0], 2: [0, 2], 3: [1]}, (4, 5))
TEST = csr({0: [2, 4], 2: [1], 3: [3]}, (4, 5))


def score_fn(users):
    return SCORES[users]


def test_evaluate_hand_computed_k2():
    m = evaluate(score_fn, TRAIN, TEST, k=2, batch_size=2)
    # lists: u0 [3, 4] (1 hit at rank 1), u2 [1, 3] (hit at rank 0), u3 [4, 2] (no hit)
    assert m["n_users"] == 3 and m["n_users_skipped"] == 1
    assert m["precision"] == pytest.approx((1 / 2 + 1 / 2 + 0) / 3)
    assert m["recall"] == pytest.approx((1 / 2 + 1 + 0) / 3)
    ndcg_u0 = (1 / math.log2(3)) / (1 + 1 / math.log2(3))
    assert m["ndcg"] == pytest.approx((ndcg_u0 + 1 + 0) / 3)
    assert m["hit"] == pytest.approx(2 / 3)
    # distinct recommended items {1, 2, 3, 4} of 5
    assert m["coverage"] == pytest.approx(4 / 5)
    # training popularity: item0 3 users, item1 2, item2 1, item3 0 (counted as 1), item4 0 (as 1); 4 users
    info = {1: -math.log2(2 / 4), 2: -math.log2(1 / 4), 3: -math.log2(1 / 4), 4: -math.log2(1 / 4)}
    slots = [3, 4, 1, 3, 4, 2]
    assert m["novelty"] == pytest.approx(sum(info[i] for i in slots) / len(slots))


def test_evaluate_k_larger_than_catalogue():
    m = evaluate(score_fn, TRAIN, TEST, k=10)
    # every remaining item is recommended: every test item is found
    assert m["recall"] == pytest.approx(1.0)
    assert m["hit"] == pytest.approx(1.0)
    # u0: 2 hits of 10, u2: 1 of 10, u3: 1 of 10
    assert m["precision"] == pytest.approx((0.2 + 0.1 + 0.1) / 3)
    # u3's list is 4, 2, 3, 0: hit at rank 2, one relevant
    assert m["coverage"] == pytest.approx(1.0)
    ndcg_u3 = 1 / math.log2(4)
    ndcg_u2 = 1.0  # [1, 3, 4]: hit at rank 0
    ndcg_u0 = (1 / math.log2(3) + 1 / math.log2(4)) / (1 + 1 / math.log2(3))  # [3, 4, 2]
    assert m["ndcg"] == pytest.approx((ndcg_u0 + ndcg_u2 + ndcg_u3) / 3)


def test_evaluate_extra_exclusion_and_user_subset():
    val = csr({3: [4]}, (4, 5))
    m = evaluate(score_fn, TRAIN, TEST, k=1, exclude=[val], users=[3, 1])
    # u3 without items 1 and 4: 2 and 3 tie at 1.0 -> item 2, not a test item; u1 skipped
    assert m["n_users"] == 1 and m["n_users_skipped"] == 1
    assert m["hit"] == 0.0


def test_evaluate_no_test_users_gives_nan():
    empty = sp.csr_matrix((4, 5))
    m = evaluate(score_fn, TRAIN, empty, k=3)
    assert m["n_users"] == 0 and math.isnan(m["ndcg"]) and math.isnan(m["coverage"])


def test_evaluate_batching_does_not_change_results():
    rng = np.random.default_rng(3)
    scores = rng.standard_normal((30, 12))
    train = sp.random(30, 12, density=0.2, random_state=1, format="csr")
    test = sp.random(30, 12, density=0.2, random_state=2, format="csr")
    a = evaluate(lambda u: scores[u], train, test, k=4, batch_size=1)
    b = evaluate(lambda u: scores[u], train, test, k=4, batch_size=1000)
    assert a == pytest.approx(b)


def test_evaluate_validates():
    with pytest.raises(ValueError, match="same shape"):
        evaluate(score_fn, TRAIN, sp.csr_matrix((3, 5)), k=2)
    with pytest.raises(ValueError, match="shape"):
        evaluate(lambda u: np.zeros((len(u), 4)), TRAIN, TEST, k=2)


def test_popularity_scores_counts_users():
    assert popularity_scores(TRAIN).tolist() == [3, 2, 1, 0, 0]
