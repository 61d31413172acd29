"""Per-user temporal train / validation / test split for implicit feedback.

For every user, interactions are ordered by timestamp (ties broken by a seeded random order). The latest ``test_fraction`` of them (rounded down, at least one when
the user has at least ``min_user_interactions``) form the test set; the latest ``val_fraction`` of the rest
form the validation set used for plateau scheduling and early stopping; everything earlier is training data.
Users with fewer than ``min_user_interactions`` interactions keep all of them in training (they still get
embeddings but are not evaluated). Every interaction is used once: no leakage between the three parts.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from .data import Interactions

__all__ = ["Split", "temporal_split", "to_csr"]


@dataclass(frozen=True)
class Split:
    """Train, validation and test interactions of one data set (see :func:`temporal_split`).

    Attributes
    ----------
    train, val, test : Interactions
        Disjoint parts; ``n_users``/``n_items`` are those of the whole data set.
    """

    train: Interactions
    val: Interactions
    test: Interactions

    def describe(self) -> str:
        return (f"train {len(self.train):,} / validation {len(self.val):,} / test {len(self.test):,} "
                f"interactions")


def _subset(data: Interactions, mask: np.ndarray, part: str) -> Interactions:
    return Interactions(
        user=data.user[mask], item=data.item[mask], timestamp=data.timestamp[mask],
        n_users=data.n_users, n_items=data.n_items,
        rating=None if data.rating is None else data.rating[mask],
        user_ids=data.user_ids, item_ids=data.item_ids, name=f"{data.name} [{part}]", meta=data.meta,
    )


def temporal_split(data: Interactions, test_fraction: float = 0.2, val_fraction: float = 0.1,
                   min_user_interactions: int = 5, seed: int = 0) -> Split:
    """Split each user's interactions by time: earliest for training, then validation, latest for test.

    Parameters
    ----------
    data : Interactions
    test_fraction : float, default 0.2
        Share of each user's latest interactions held out for the test: ``max(1, floor(f * n_u))``.
    val_fraction : float, default 0.1
        Share of each user's remaining interactions (the latest of them) held out for validation:
        ``max(1, floor(f * (n_u - n_test)))``; 0 disables validation.
    min_user_interactions : int, default 5
        Users with fewer interactions are kept entirely in training.
    seed : int, default 0
        Seeds the tie-break between equal timestamps.

    Returns
    -------
    Split

    Examples
    --------
    >>> from fastlr.recsys.data import synthetic
    >>> s = temporal_split(synthetic(50, 40, 500, seed=0))
    >>> len(s.train) + len(s.val) + len(s.test)
    500
    """
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must lie in (0, 1), got {test_fraction}")
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"val_fraction must lie in [0, 1), got {val_fraction}")
    if min_user_interactions < 2:
        raise ValueError(f"min_user_interactions must be >= 2, got {min_user_interactions}")
    rng = np.random.default_rng(seed)
    n = len(data)
    # order by user, then time, then a random tie-break: a random permutation stably sorted by time
    # gives every row a distinct time rank, and one sort of user * n + rank finishes the job
    shuffle = rng.permutation(n)
    by_time = shuffle[np.argsort(data.timestamp[shuffle], kind="stable")]
    time_rank = np.empty(n, dtype=np.int64)
    time_rank[by_time] = np.arange(n)
    order = np.argsort(data.user.astype(np.int64) * n + time_rank)
    del by_time, time_rank, shuffle
    counts = np.bincount(data.user, minlength=data.n_users)
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    user_sorted = data.user[order]
    # position of each interaction within its user's time line, and how many come after it
    rank = np.arange(n) - starts[user_sorted]
    n_u = counts[user_sorted]
    eligible = n_u >= min_user_interactions
    n_test = np.where(eligible, np.maximum(1, np.floor(test_fraction * n_u)), 0).astype(np.int64)
    rest = n_u - n_test
    if val_fraction > 0:
        n_val = np.where(eligible, np.maximum(1, np.floor(val_fraction * rest)), 0).astype(np.int64)
    else:
        n_val = np.zeros_like(n_test)
    from_end = n_u - 1 - rank  # 0 for a user's latest interaction
    part = np.zeros(n, dtype=np.int8)  # 0 train, 1 validation, 2 test
    part[from_end < n_test + n_val] = 1
    part[from_end < n_test] = 2
    labels = np.empty(n, dtype=np.int8)
    labels[order] = part
    return Split(train=_subset(data, labels == 0, "train"), val=_subset(data, labels == 1, "validation"),
                 test=_subset(data, labels == 2, "test"))


def to_csr(data: Interactions) -> sp.csr_matrix:
    """A binary ``n_users x n_items`` CSR matrix of the interactions (repeated pairs count once)."""
    m = sp.csr_matrix(
        (np.ones(len(data), dtype=np.float32), (data.user, data.item)),
        shape=(data.n_users, data.n_items),
    )
    m.sum_duplicates()
    m.data[:] = 1.0
    return m
