"""The temporal split: sizes, ordering, and no leakage between train, validation and test."""
import numpy as np
import pytest

from fastlr.recsys.data import Interactions, synthetic
from fastlr.recsys.split import temporal_split, to_csr


def keys(d):
    return d.user.astype(np.int64) * d.n_items + d.item


@pytest.fixture(scope="module")
def data():
    return synthetic(400, 300, 12_000, seed=5)


def test_parts_are_disjoint_and_cover_everything(data):
    s = temporal_split(data)
    k_train, k_val, k_test = keys(s.train), keys(s.val), keys(s.test)
    assert len(k_train) + len(k_val) + len(k_test) == len(data)
    assert np.intersect1d(k_train, k_test).size == 0
    assert np.intersect1d(k_train, k_val).size == 0
    assert np.intersect1d(k_val, k_test).size == 0
    assert np.array_equal(np.sort(np.concatenate([k_train, k_val, k_test])), np.sort(keys(data)))


def test_per_user_time_order_and_sizes(data):
    s = temporal_split(data, test_fraction=0.2, val_fraction=0.1, min_user_interactions=5)
    n_u = np.bincount(data.user, minlength=data.n_users)
    n_test = np.bincount(s.test.user, minlength=data.n_users)
    n_val = np.bincount(s.val.user, minlength=data.n_users)
    eligible = n_u >= 5
    expect_test = np.where(eligible, np.maximum(1, np.floor(0.2 * n_u)), 0)
    expect_val = np.where(eligible, np.maximum(1, np.floor(0.1 * (n_u - expect_test))), 0)
    assert np.array_equal(n_test, expect_test) and np.array_equal(n_val, expect_val)
    inf = np.iinfo(np.int64)

    def per_user(part, fn, fill):
        out = np.full(data.n_users, fill, dtype=np.int64)
        fn.at(out, part.user, part.timestamp)
        return out

    # every training interaction precedes every validation one, which precede every test one
    last_train = per_user(s.train, np.maximum, inf.min)
    first_val, last_val = per_user(s.val, np.minimum, inf.max), per_user(s.val, np.maximum, inf.min)
    first_test = per_user(s.test, np.minimum, inf.max)
    assert np.all(last_train <= first_val) and np.all(last_val <= first_test)
    assert np.all(last_train <= first_test)


def test_small_users_stay_in_training():
    # user 0 has 3 interactions (kept in training), user 1 has 10
    user = np.array([0] * 3 + [1] * 10, dtype=np.int32)
    item = np.concatenate([np.arange(3), np.arange(10)]).astype(np.int32)
    ts = np.arange(13, dtype=np.int64)
    d = Interactions(user=user, item=item, timestamp=ts, n_users=2, n_items=10)
    s = temporal_split(d, min_user_interactions=5)
    assert set(s.test.user.tolist()) == {1} and set(s.val.user.tolist()) == {1}
    # user 1: 2 test (the latest: items 8, 9), 1 validation (item 7)
    assert sorted(s.test.item.tolist()) == [8, 9] and s.val.item.tolist() == [7]
    assert np.sum(s.train.user == 0) == 3


def test_equal_timestamps_are_broken_by_the_seed():
    user = np.zeros(10, dtype=np.int32)
    item = np.arange(10, dtype=np.int32)
    ts = np.zeros(10, dtype=np.int64)  # all at the same time
    d = Interactions(user=user, item=item, timestamp=ts, n_users=1, n_items=10)
    a, b = temporal_split(d, seed=1), temporal_split(d, seed=1)
    assert np.array_equal(a.test.item, b.test.item) and len(a.test) == 2
    # not simply the last rows of the file: other seeds pick other items
    picks = {tuple(sorted(temporal_split(d, seed=s).test.item.tolist())) for s in range(10)}
    assert len(picks) > 1


def test_validation_off():
    s = temporal_split(synthetic(50, 40, 600, seed=0), val_fraction=0.0)
    assert len(s.val) == 0


@pytest.mark.parametrize("kwargs", [dict(test_fraction=0.0), dict(test_fraction=1.0),
                                    dict(val_fraction=-0.1), dict(min_user_interactions=1)])
def test_split_validates(data, kwargs):
    with pytest.raises(ValueError):
        temporal_split(data, **kwargs)


def test_to_csr_is_binary(data):
    m = to_csr(data)
    assert m.shape == (data.n_users, data.n_items) and m.nnz == len(data)
    assert set(np.unique(m.data).tolist()) == {1.0}
