"""Loader (fixture files in the real formats), cache, checksum and offline errors, synthetic generator.

No test touches the network: downloads are replaced by local fakes.
"""
import hashlib
import io
import subprocess
import zipfile
from pathlib import Path

import numpy as np
import pytest

from fastlr.recsys import data as data_mod
from fastlr.recsys.data import load_ratings_file, movielens_100k, synthetic

DATA = Path(__file__).parent / "data"
INTER = DATA / "ml_tiny.inter"
UDATA = DATA / "u_tiny.data"


def raw_rows(path, skip_header):
    lines = path.read_text().splitlines()[1 if skip_header else 0:]
    return [tuple(int(x) for x in line.split("\t")) for line in lines]


def test_load_inter_fixture():
    d = load_ratings_file(INTER)
    rows = raw_rows(INTER, skip_header=True)
    assert len(d) == len(rows) == 44
    assert d.user.dtype == np.int32 and d.item.dtype == np.int32 and d.timestamp.dtype == np.int64
    assert d.n_users == len({r[0] for r in rows}) and d.n_items == len({r[1] for r in rows})
    # ids map back to the file's raw ids, row by row
    assert [(int(d.user_ids[u]), int(d.item_ids[i]), int(r), int(t))
            for u, i, r, t in zip(d.user, d.item, d.rating, d.timestamp)] == rows


def test_udata_and_inter_fixtures_agree():
    a, b = load_ratings_file(INTER), load_ratings_file(UDATA)
    for field in ("user", "item", "timestamp", "rating", "user_ids", "item_ids"):
        assert np.array_equal(getattr(a, field), getattr(b, field))


def test_movielens_with_local_path_does_not_download(monkeypatch, tmp_path):
    monkeypatch.setattr(data_mod, "_pip_download", lambda *a, **k: pytest.fail("downloaded"))
    d = movielens_100k(UDATA, cache=tmp_path)
    assert len(d) == 44 and not any(tmp_path.iterdir())


def test_missing_or_malformed_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_ratings_file(tmp_path / "nope.data")
    bad = tmp_path / "bad.data"
    bad.write_text("1\t2\tthree\t4\n")
    with pytest.raises(ValueError, match="cannot parse"):
        load_ratings_file(bad)
    header = tmp_path / "bad.inter"
    header.write_text("user_id:token\tfoo:float\n1\t2\n")
    with pytest.raises(ValueError, match="lacks"):
        load_ratings_file(header)


def test_cache_dir_env(monkeypatch, tmp_path):
    monkeypatch.setenv("FASTLR_DATA", str(tmp_path / "x"))
    assert data_mod.cache_dir() == tmp_path / "x"
    monkeypatch.delenv("FASTLR_DATA")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert data_mod.cache_dir() == tmp_path / "cache" / "fastlr"


def make_fake_wheel(folder: Path, member_bytes: bytes) -> Path:
    wheel = folder / "recbole-1.2.1-py3-none-any.whl"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        # a fixed date keeps the archive's bytes (and so its sha256) reproducible
        zf.writestr(zipfile.ZipInfo(data_mod.ML100K_MEMBER, date_time=(2020, 1, 1, 0, 0, 0)), member_bytes)
    wheel.write_bytes(buf.getvalue())
    return wheel


@pytest.fixture
def fake_download(monkeypatch):
    """Replace pip with a function that writes a fake wheel holding the fixture; returns its hashes."""
    member = INTER.read_bytes()
    calls = []

    def fake(dest, timeout):
        calls.append(dest)
        return make_fake_wheel(Path(dest), member)

    monkeypatch.setattr(data_mod, "_pip_download", fake)
    return {"member": member, "calls": calls}


def test_wheel_checksum_mismatch(fake_download, tmp_path):
    with pytest.raises(RuntimeError, match="Checksum mismatch.*recbole-1.2.1") as err:
        movielens_100k(cache=tmp_path)
    assert "What to do" in str(err.value)
    assert not (tmp_path / "ml-100k.npz").exists()


def _pin_wheel(monkeypatch, tmp_path, member):
    """Pretend the fake wheel is the pinned one."""
    folder = tmp_path / "pinned"
    folder.mkdir()
    wheel_sha = hashlib.sha256(make_fake_wheel(folder, member).read_bytes()).hexdigest()
    monkeypatch.setattr(data_mod, "RECBOLE_WHEEL_SHA256", wheel_sha)


def test_member_checksum_mismatch(fake_download, monkeypatch, tmp_path):
    _pin_wheel(monkeypatch, tmp_path, fake_download["member"])
    with pytest.raises(RuntimeError, match="Checksum mismatch for recbole/dataset_example"):
        movielens_100k(cache=tmp_path)


def test_verified_download_is_parsed_and_cached(fake_download, monkeypatch, tmp_path):
    member = fake_download["member"]
    _pin_wheel(monkeypatch, tmp_path, member)
    monkeypatch.setattr(data_mod, "ML100K_MEMBER_SHA256", hashlib.sha256(member).hexdigest())
    cache = tmp_path / "cache"
    d = movielens_100k(cache=cache)
    assert len(d) == 44 and d.name == "movielens-100k"
    assert (cache / "ml-100k.npz").is_file()
    assert len(fake_download["calls"]) == 1
    # the second call reads the cache only
    again = movielens_100k(cache=cache, download=False)
    assert len(fake_download["calls"]) == 1
    for field in ("user", "item", "timestamp", "rating", "user_ids", "item_ids"):
        assert np.array_equal(getattr(d, field), getattr(again, field))
    # a cache written for another source checksum is ignored (and rebuilt)
    monkeypatch.setattr(data_mod, "ML100K_MEMBER_SHA256", "0" * 64)
    with pytest.raises(RuntimeError, match="not cached"):
        movielens_100k(cache=cache, download=False)


def test_offline_error_says_what_to_do(monkeypatch, tmp_path):
    def fail(cmd, **kwargs):
        assert cmd[1:4] == ["-m", "pip", "download"] and "recbole==1.2.1" in cmd
        assert "--no-deps" in cmd and ":all:" in cmd
        return subprocess.CompletedProcess(cmd, 1, stdout="", stderr="ERROR: Network is unreachable")

    monkeypatch.setattr(data_mod.subprocess, "run", fail)
    with pytest.raises(RuntimeError, match="offline") as err:
        movielens_100k(cache=tmp_path)
    msg = str(err.value)
    assert "Network is unreachable" in msg and "path=" in msg and "synthetic" in msg


def test_offline_timeout(monkeypatch, tmp_path):
    def hang(cmd, **kwargs):
        raise subprocess.TimeoutExpired(cmd, kwargs.get("timeout"))

    monkeypatch.setattr(data_mod.subprocess, "run", hang)
    with pytest.raises(RuntimeError, match="Could not download"):
        movielens_100k(cache=tmp_path, timeout=0.1)


def test_no_download_and_no_cache(tmp_path):
    with pytest.raises(RuntimeError, match="not cached"):
        movielens_100k(cache=tmp_path, download=False)


# ----------------------------------------------------------------------------------------------- synthetic

def test_synthetic_shape_and_distinct_pairs():
    d = synthetic(300, 200, 6000, seed=3)
    assert len(d) == 6000 and d.n_users == 300 and d.n_items == 200
    assert d.user.dtype == np.int32 and d.item.dtype == np.int32
    keys = d.user.astype(np.int64) * d.n_items + d.item
    assert len(np.unique(keys)) == 6000
    assert d.user.min() >= 0 and d.user.max() < 300 and d.item.max() < 200
    assert sorted(d.timestamp.tolist()) == list(range(6000))


def test_synthetic_is_seeded():
    a, b, c = synthetic(100, 80, 2000, seed=1), synthetic(100, 80, 2000, seed=1), synthetic(100, 80, 2000, seed=2)
    assert all(np.array_equal(getattr(a, f), getattr(b, f)) for f in ("user", "item", "timestamp"))
    assert not np.array_equal(a.item, c.item)


def test_synthetic_popularity_is_skewed():
    d = synthetic(2000, 1000, 50_000, seed=0)
    counts = np.sort(np.bincount(d.item, minlength=d.n_items))[::-1]
    # power law: the top 10% of items hold far more than 10% of interactions
    assert counts[:100].sum() / counts.sum() > 0.3
    assert counts[-500:].sum() / counts.sum() < 0.3


def test_synthetic_has_user_structure():
    # users concentrate on few topics: their item sets overlap less than under global popularity alone
    d = synthetic(500, 400, 20_000, seed=0, noise=0.0)
    d_flat = synthetic(500, 400, 20_000, seed=0, noise=1.0)

    def mean_jaccard(x):
        m = np.zeros((x.n_users, x.n_items), bool)
        m[x.user, x.item] = True
        inter = m[:100].astype(float) @ m[100:200].T.astype(float)
        union = m[:100].sum(1)[:, None] + m[100:200].sum(1)[None, :] - inter
        return float(np.mean(inter / np.maximum(union, 1)))

    # with topics, pairs of users overlap less on average than when everybody follows popularity
    assert mean_jaccard(d) < mean_jaccard(d_flat)


@pytest.mark.parametrize("kwargs, match", [
    (dict(n_users=0, n_items=5, n_interactions=2), "n_users"),
    (dict(n_users=4, n_items=5, n_interactions=11), "too dense"),
    (dict(n_users=4, n_items=5, n_interactions=2, noise=2.0), "noise"),
])
def test_synthetic_validates(kwargs, match):
    with pytest.raises(ValueError, match=match):
        synthetic(**kwargs)
