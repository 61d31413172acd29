"""Top-K ranking metrics with full ranking over the catalogue, batched over users.

Protocol: for every evaluated user, all items are scored, the user's training items are excluded, and the
``K`` best remaining items form the recommendation list. Ties are broken by the lower item id, so results
are deterministic. Users without test items are skipped (they are counted in ``n_users_skipped``). When
fewer than ``K`` items remain after exclusion (``K`` larger than the catalogue), the list is shorter.

Per-user metrics, averaged over evaluated users (``T_u`` the user's test items, ``R_u`` the list, ranks
``r = 0, 1, ...``):

- precision@K = ``|R_u ∩ T_u| / K``
- recall@K = ``|R_u ∩ T_u| / |T_u|``
- NDCG@K = ``DCG / IDCG`` with ``DCG = sum_{r: R_u[r] in T_u} 1 / log2(r + 2)`` and IDCG the DCG of a
  perfect list of ``min(|T_u|, K)`` hits
- hit rate@K = ``1`` if ``|R_u ∩ T_u| > 0`` else ``0``

Aggregate metrics over all recommendation lists:

- coverage@K = distinct recommended items / ``n_items``
- novelty@K = mean over all recommended (user, item) slots of ``-log2 p(i)``, with ``p(i)`` the share of
  users who interacted with item ``i`` in training, an item nobody interacted with counted as one
  interaction (self-information, as in Zhou et al., PNAS 2010).

References
----------
T. Zhou et al. 2010. Solving the apparent diversity-accuracy dilemma of recommender systems. PNAS 107(10).
K. Järvelin and J. Kekäläinen. 2002. Cumulated gain-based evaluation of IR techniques. ACM TOIS 20(4).
"""
from __future__ import annotations

from typing import Callable, Dict, Optional, Sequence

import numpy as np
import scipy.sparse as sp

__all__ = ["top_k", "ranking_metrics", "evaluate", "popularity_scores", "METRIC_NAMES"]

METRIC_NAMES = ("precision", "recall", "ndcg", "hit", "coverage", "novelty")


def top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` largest scores per row, best first; ties go to the lower column index.

    Uses ``np.argpartition``-style selection (``np.partition`` for the k-th value) so the cost is linear in
    the number of columns; only the ``k`` selected entries are sorted.

    Parameters
    ----------
    scores : ndarray, shape (n_rows, n_cols)
        ``-inf`` marks excluded entries; they are returned only when a row has fewer than ``k`` others.
    k : int
        ``1 <= k``; values larger than ``n_cols`` are clipped to ``n_cols``.

    Returns
    -------
    ndarray of int64, shape (n_rows, min(k, n_cols))

    Examples
    --------
    >>> top_k(np.array([[0.1, 0.5, 0.5, 0.2]]), 2)
    array([[1, 2]])
    """
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    scores = np.asarray(scores)
    n_rows, n_cols = scores.shape
    k = min(k, n_cols)
    if n_rows == 0:
        return np.empty((0, k), dtype=np.int64)
    # the k-th largest value of each row; everything above it is in, ties at it are filled by column order
    kth = -np.partition(-scores, k - 1, axis=1)[:, k - 1:k]
    above = scores > kth
    need = k - above.sum(axis=1, keepdims=True)
    at = scores == kth
    chosen = above | (at & (np.cumsum(at, axis=1) <= need))
    cols = np.nonzero(chosen)[1].reshape(n_rows, k)  # row-major: ascending column order per row
    vals = np.take_along_axis(scores, cols, axis=1)
    # stable sort on -score keeps ascending column order among ties
    return np.take_along_axis(cols, np.argsort(-vals, axis=1, kind="stable"), axis=1).astype(np.int64)


def popularity_scores(train: sp.csr_matrix) -> np.ndarray:
    """Number of training users per item (float64): the popularity baseline's score for every user."""
    return np.asarray((train > 0).sum(axis=0), dtype=np.float64).ravel()


def ranking_metrics(hits: np.ndarray, n_relevant: np.ndarray, k: int) -> Dict[str, np.ndarray]:
    """Per-user precision, recall, NDCG and hit rate from the hit pattern of the recommendation lists.

    Parameters
    ----------
    hits : ndarray of bool, shape (n, k')
        ``hits[u, r]`` is True when the item at rank ``r`` of user ``u``'s list is a test item
        (``k' <= k``; padding slots are False).
    n_relevant : ndarray of int, shape (n,)
        Number of test items per user (``>= 1``; a user with none gives NaN recall and NDCG).
    k : int
        The K of the metrics (the precision denominator and the IDCG cut-off).

    Returns
    -------
    dict of ndarray
        ``precision, recall, ndcg, hit``, one value per user.

    Examples
    --------
    >>> m = ranking_metrics(np.array([[False, True, True]]), np.array([4]), 3)
    >>> round(float(m["ndcg"][0]), 4)  # (1/log2(3) + 1/log2(4)) / (1 + 1/log2(3) + 1/log2(4))
    0.5307
    """
    hits = np.asarray(hits, dtype=bool)
    n_relevant = np.asarray(n_relevant)
    n_hit = hits.sum(axis=1)
    discounts = 1.0 / np.log2(np.arange(hits.shape[1]) + 2.0)
    dcg = hits @ discounts
    ideal_cum = np.concatenate(([0.0], np.cumsum(1.0 / np.log2(np.arange(k) + 2.0))))
    idcg = ideal_cum[np.minimum(n_relevant, k)]
    with np.errstate(invalid="ignore", divide="ignore"):
        return {
            "precision": n_hit / k,
            "recall": n_hit / n_relevant,
            "ndcg": dcg / idcg,
            "hit": (n_hit > 0).astype(np.float64),
        }


def _row_keys(m: sp.csr_matrix) -> np.ndarray:
    """Sorted int64 keys ``row * n_cols + col`` of a CSR matrix's stored entries."""
    m = m.tocsr()
    m.sort_indices()
    rows = np.repeat(np.arange(m.shape[0], dtype=np.int64), np.diff(m.indptr))
    return rows * m.shape[1] + m.indices


def evaluate(score_fn: Callable[[np.ndarray], np.ndarray], train: sp.csr_matrix, test: sp.csr_matrix,
             k: int = 10, batch_size: int = 1024, users: Optional[Sequence[int]] = None,
             exclude: Optional[Sequence[sp.csr_matrix]] = None) -> Dict[str, float]:
    """Full-ranking top-K evaluation, batched over users.

    Parameters
    ----------
    score_fn : callable
        ``score_fn(user_ids) -> ndarray (len(user_ids), n_items)`` of scores (higher is better). It may
        return a fresh array or a view; it is copied before exclusion.
    train : csr_matrix, shape (n_users, n_items)
        Training interactions: excluded from ranking and used for item popularity (novelty).
    test : csr_matrix, shape (n_users, n_items)
        Held-out interactions to retrieve.
    k : int, default 10
    batch_size : int, default 1024
        Users scored per batch (bounds memory at ``batch_size * n_items`` floats).
    users : sequence of int, optional
        Restrict evaluation to these users (default: all users with at least one test item).
    exclude : sequence of csr_matrix, optional
        Further interactions to exclude from ranking (e.g. the validation set when scoring the test set).

    Returns
    -------
    dict
        ``precision, recall, ndcg, hit, coverage, novelty`` (floats; NaN when no user has test items),
        ``n_users`` evaluated and ``n_users_skipped`` (without test items).
    """
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    n_users, n_items = train.shape
    if test.shape != train.shape:
        raise ValueError(f"train {train.shape} and test {test.shape} must have the same shape")
    test = (sp.csr_matrix(test) > 0).tocsr()
    mask = train.copy().tocsr()
    for extra in exclude or ():
        mask = mask + extra
    mask = (mask > 0).tocsr()
    candidates = np.arange(n_users) if users is None else np.asarray(users, dtype=np.int64)
    has_test = np.diff(test.indptr)[candidates] > 0
    eval_users = candidates[has_test]
    test_keys = _row_keys(test)
    n_relevant = np.diff(test.indptr)
    n_users_train = max(1, n_users)
    pop = np.maximum(popularity_scores(train), 1.0)
    self_info = -np.log2(pop / n_users_train)

    sums = {name: 0.0 for name in ("precision", "recall", "ndcg", "hit")}
    recommended_any = np.zeros(n_items, dtype=bool)
    novelty_sum, novelty_n = 0.0, 0
    for start in range(0, len(eval_users), batch_size):
        batch = eval_users[start:start + batch_size]
        scores = np.array(score_fn(batch), copy=True)
        if not np.issubdtype(scores.dtype, np.floating):
            scores = scores.astype(np.float64)
        if scores.shape != (len(batch), n_items):
            raise ValueError(f"score_fn returned shape {scores.shape}, expected {(len(batch), n_items)}")
        sub = mask[batch]
        scores[np.repeat(np.arange(len(batch)), np.diff(sub.indptr)), sub.indices] = -np.inf
        rec = top_k(scores, k)
        valid = np.isfinite(np.take_along_axis(scores, rec, axis=1))
        keys = batch[:, None].astype(np.int64) * n_items + rec
        pos = np.minimum(np.searchsorted(test_keys, keys), max(0, len(test_keys) - 1))
        hits = valid & (test_keys[pos] == keys) if len(test_keys) else np.zeros_like(valid)
        per_user = ranking_metrics(hits, n_relevant[batch], k)
        for name in sums:
            sums[name] += float(np.sum(per_user[name]))
        recommended_any[rec[valid]] = True
        novelty_sum += float(self_info[rec[valid]].sum())
        novelty_n += int(valid.sum())
    n_eval = len(eval_users)
    out = {name: (value / n_eval if n_eval else float("nan")) for name, value in sums.items()}
    out["coverage"] = float(recommended_any.sum()) / n_items if n_eval else float("nan")
    out["novelty"] = novelty_sum / novelty_n if novelty_n else float("nan")
    out["n_users"] = int(n_eval)
    out["n_users_skipped"] = int(len(candidates) - n_eval)
    return out
