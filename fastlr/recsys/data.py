"""Interaction data for the recommender benchmark: MovieLens-100k and a seeded synthetic generator.

MovieLens-100k is *not* shipped with fastlr: its licence forbids redistribution. :func:`movielens_100k`
fetches it from the PyPI wheel ``recbole==1.2.1`` (which carries a copy as an example data set) with
``pip download``, verifies the wheel and the member file against pinned SHA-256 digests, parses it with NumPy
and caches the parsed arrays as ``.npz`` under ``$FASTLR_DATA`` (or ``~/.cache/fastlr``).

References
----------
F. Maxwell Harper and Joseph A. Konstan. 2015. The MovieLens Datasets: History and Context.
ACM Transactions on Interactive Intelligent Systems (TiiS) 5, 4, Article 19.
https://doi.org/10.1145/2827872
"""
from __future__ import annotations

import hashlib
import io
import os
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Union

import numpy as np

__all__ = [
    "Interactions",
    "movielens_100k",
    "load_ratings_file",
    "synthetic",
    "cache_dir",
    "RECBOLE_WHEEL_SHA256",
    "ML100K_MEMBER_SHA256",
]

RECBOLE_REQUIREMENT = "recbole==1.2.1"
RECBOLE_WHEEL_SHA256 = "9c9948202011f37eb0a7c6768129313f00d6403ad221ec940d5e2d5d5f33a407"
ML100K_MEMBER = "recbole/dataset_example/ml-100k/ml-100k.inter"
ML100K_MEMBER_SHA256 = "4edb74e2a81178c2ba9ff381495f754f996c4aea351b1272ca36b43da0935eff"
_CACHE_NAME = "ml-100k.npz"
# Bump when the layout of the cached .npz changes, so stale caches are rebuilt rather than misread.
_CACHE_FORMAT = 1

PathLike = Union[str, "os.PathLike[str]"]


@dataclass(frozen=True)
class Interactions:
    """A table of (user, item, timestamp) interactions with contiguous 0-based ids.

    Every row is one implicit-feedback interaction (for MovieLens, every rating counts, whatever its value).

    Attributes
    ----------
    user, item : ndarray of int32, shape (n,)
        0-based ids, ``0 <= user < n_users`` and ``0 <= item < n_items``.
    timestamp : ndarray of int64, shape (n,)
        Interaction times (seconds for MovieLens; a synthetic clock for :func:`synthetic`).
    n_users, n_items : int
        Sizes of the id spaces (every id in range may or may not occur).
    rating : ndarray of float32 or None
        The explicit rating where the source has one (kept for reference; the benchmark ignores it).
    user_ids, item_ids : ndarray or None
        Original ids of the source file, indexed by the 0-based ids (``user_ids[u]`` is user ``u``'s raw id).
    name : str
        A short label for reports.
    """

    user: np.ndarray
    item: np.ndarray
    timestamp: np.ndarray
    n_users: int
    n_items: int
    rating: Optional[np.ndarray] = None
    user_ids: Optional[np.ndarray] = None
    item_ids: Optional[np.ndarray] = None
    name: str = "interactions"
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = len(self.user)
        if len(self.item) != n or len(self.timestamp) != n:
            raise ValueError("user, item and timestamp must have the same length")
        if n and (self.user.min() < 0 or self.user.max() >= self.n_users):
            raise ValueError("user ids must lie in [0, n_users)")
        if n and (self.item.min() < 0 or self.item.max() >= self.n_items):
            raise ValueError("item ids must lie in [0, n_items)")

    def __len__(self) -> int:
        return len(self.user)

    def describe(self) -> str:
        """One line: name, interactions, users, items and density."""
        density = len(self) / max(1, self.n_users * self.n_items)
        return (f"{self.name}: {len(self):,} interactions, {self.n_users:,} users, "
                f"{self.n_items:,} items (density {density:.4%})")


# ----------------------------------------------------------------------------------------------- files

def _parse_table(text: str, source: str) -> Interactions:
    """Parse a tab-separated ratings table: RecBole ``.inter`` (typed header) or GroupLens ``u.data``."""
    lines = text.splitlines()
    if not lines:
        raise ValueError(f"{source}: the file is empty")
    first = lines[0].split("\t")
    if any(":" in col for col in first):
        # RecBole atomic file: header "user_id:token<TAB>item_id:token<TAB>rating:float<TAB>timestamp:float"
        names = [col.split(":", 1)[0].strip() for col in first]
        try:
            cols = [names.index(c) for c in ("user_id", "item_id", "rating", "timestamp")]
        except ValueError:
            raise ValueError(
                f"{source}: header {lines[0]!r} lacks one of user_id, item_id, rating, timestamp"
            ) from None
        body = lines[1:]
    else:
        # GroupLens u.data: "user<TAB>item<TAB>rating<TAB>timestamp", no header
        cols = [0, 1, 2, 3]
        body = lines
    if not body:
        raise ValueError(f"{source}: no data rows")
    try:
        # float64 holds every id and Unix timestamp exactly (all < 2**53)
        table = np.loadtxt(io.StringIO("\n".join(body)), delimiter="\t", dtype=np.float64,
                           usecols=cols, ndmin=2)
    except ValueError as exc:
        raise ValueError(f"{source}: cannot parse as a tab-separated ratings table ({exc})") from None
    raw_user, raw_item, rating, ts = table.T
    user_ids, user = np.unique(raw_user.astype(np.int64), return_inverse=True)
    item_ids, item = np.unique(raw_item.astype(np.int64), return_inverse=True)
    return Interactions(
        user=user.astype(np.int32), item=item.astype(np.int32), timestamp=ts.astype(np.int64),
        n_users=len(user_ids), n_items=len(item_ids), rating=rating.astype(np.float32),
        user_ids=user_ids, item_ids=item_ids, name=Path(source).name,
    )


def load_ratings_file(path: PathLike) -> Interactions:
    """Load a local ratings file: MovieLens ``u.data`` or RecBole's ``ml-100k.inter``.

    Parameters
    ----------
    path : str or path-like
        A tab-separated file. With a typed header line (``user_id:token ...``) it is read as RecBole's
        ``.inter`` format; otherwise as GroupLens ``u.data`` (user, item, rating, timestamp; no header).

    Returns
    -------
    Interactions
        Raw ids remapped to contiguous 0-based ids (``user_ids``/``item_ids`` keep the originals).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"ratings file {str(path)!r} does not exist")
    return _parse_table(path.read_text(encoding="utf-8"), str(path))


# ----------------------------------------------------------------------------------------------- cache

def cache_dir() -> Path:
    """Where downloaded data is cached: ``$FASTLR_DATA``, else ``$XDG_CACHE_HOME/fastlr`` or ``~/.cache/fastlr``."""
    env = os.environ.get("FASTLR_DATA")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "fastlr"


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _save_cache(path: Path, data: Interactions, source_sha256: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, user=data.user, item=data.item, timestamp=data.timestamp, rating=data.rating,
             user_ids=data.user_ids, item_ids=data.item_ids, n_users=data.n_users, n_items=data.n_items,
             source_sha256=source_sha256, format=_CACHE_FORMAT)
    os.replace(tmp, path)  # atomic: a crash never leaves a half-written cache behind


def _load_cache(path: Path) -> Optional[Interactions]:
    """The cached data set, or None when absent, stale or unreadable (it is then rebuilt)."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            if int(z["format"]) != _CACHE_FORMAT or str(z["source_sha256"]) != ML100K_MEMBER_SHA256:
                return None
            return Interactions(
                user=z["user"], item=z["item"], timestamp=z["timestamp"], rating=z["rating"],
                user_ids=z["user_ids"], item_ids=z["item_ids"], n_users=int(z["n_users"]),
                n_items=int(z["n_items"]), name="movielens-100k",
            )
    except (OSError, KeyError, ValueError, zipfile.BadZipFile):
        return None


# ----------------------------------------------------------------------------------------------- download

def _pip_download(dest: Path, timeout: float) -> Path:
    """Run ``pip download`` for the RecBole wheel into ``dest``; return the wheel's path."""
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:",
           "--disable-pip-version-check", RECBOLE_REQUIREMENT, "-d", str(dest)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired) as exc:
        proc_err = str(exc)
        proc = None
    if proc is None or proc.returncode != 0:
        detail = proc_err if proc is None else (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        raise RuntimeError(
            f"Could not download MovieLens-100k: `{' '.join(cmd[2:])}` failed (offline, or PyPI "
            f"unreachable?). Details: {detail}\n"
            "What to do: connect to the network and retry; or pass path= (CLI: --data-path) to a local "
            "copy of MovieLens-100k `u.data` (https://grouplens.org/datasets/movielens/100k/) or "
            "RecBole's `ml-100k.inter`; or use the synthetic data set (CLI: --data synthetic)."
        )
    wheels = sorted(dest.glob("recbole-1.2.1-*.whl"))
    if not wheels:
        raise RuntimeError(f"pip reported success but no recbole 1.2.1 wheel was found in {dest}")
    return wheels[0]


def _read_verified_member(wheel: Path) -> bytes:
    """Check the wheel's and the member's SHA-256 and return the member's bytes."""
    blob = wheel.read_bytes()
    got = _sha256(blob)
    if got != RECBOLE_WHEEL_SHA256:
        raise RuntimeError(
            f"Checksum mismatch for {wheel.name}: sha256 {got}, expected {RECBOLE_WHEEL_SHA256}. "
            "The downloaded file is not the pinned recbole 1.2.1 wheel (corrupted download, or a "
            "mirror/proxy serving a different file). What to do: delete it and retry, check your pip "
            "index configuration, or pass path= to a local copy of u.data / ml-100k.inter."
        )
    try:
        with zipfile.ZipFile(io.BytesIO(blob)) as zf:
            member = zf.read(ML100K_MEMBER)
    except (KeyError, zipfile.BadZipFile) as exc:
        raise RuntimeError(f"{wheel.name} does not contain {ML100K_MEMBER} ({exc})") from None
    got = _sha256(member)
    if got != ML100K_MEMBER_SHA256:
        raise RuntimeError(
            f"Checksum mismatch for {ML100K_MEMBER}: sha256 {got}, expected {ML100K_MEMBER_SHA256}. "
            "What to do: delete the cache directory and retry, or pass path= to a local copy."
        )
    return member


def movielens_100k(path: Optional[PathLike] = None, *, cache: Optional[PathLike] = None,
                   download: bool = True, timeout: float = 120.0) -> Interactions:
    """The MovieLens-100k ratings (100,000 rows, 943 users, 1,682 items) as implicit feedback.

    Parameters
    ----------
    path : str or path-like, optional
        A local copy (GroupLens ``u.data`` or RecBole ``ml-100k.inter``). When given, nothing is downloaded
        or cached.
    cache : str or path-like, optional
        Cache directory; default :func:`cache_dir` (``$FASTLR_DATA`` or ``~/.cache/fastlr``).
    download : bool, default True
        When the cache is empty, fetch the ``recbole==1.2.1`` wheel with ``pip download``. With False, a
        missing cache raises instead.
    timeout : float, default 120
        Seconds allowed for ``pip download``.

    Returns
    -------
    Interactions

    Raises
    ------
    RuntimeError
        Offline (the download failed), on a checksum mismatch, or when the cache is empty and
        ``download=False``; the message says what to do.

    Notes
    -----
    The data are © GroupLens Research and may not be redistributed; fastlr never ships them. Cite
    F. M. Harper and J. A. Konstan, "The MovieLens Datasets: History and Context", ACM TiiS 5(4), 2015.
    """
    if path is not None:
        data = load_ratings_file(path)
        return Interactions(**{**data.__dict__, "name": "movielens-100k (local)"})
    target = Path(cache).expanduser() if cache is not None else cache_dir()
    cached = _load_cache(target / _CACHE_NAME)
    if cached is not None:
        return cached
    if not download:
        raise RuntimeError(
            f"MovieLens-100k is not cached in {target} and download=False. What to do: allow the "
            "download, or pass path= to a local copy of u.data / ml-100k.inter."
        )
    with tempfile.TemporaryDirectory(prefix="fastlr-ml100k-") as tmp:
        wheel = _pip_download(Path(tmp), timeout)
        member = _read_verified_member(wheel)
    data = _parse_table(member.decode("utf-8"), ML100K_MEMBER)
    data = Interactions(**{**data.__dict__, "name": "movielens-100k"})
    _save_cache(target / _CACHE_NAME, data, ML100K_MEMBER_SHA256)
    return data


# ----------------------------------------------------------------------------------------------- synthetic

def sorted_unique(values: np.ndarray) -> np.ndarray:
    """Sorted distinct values by one sort (faster than ``np.unique``'s hashing path for large int arrays)."""
    out = np.sort(values)
    if len(out) < 2:
        return out
    keep = np.empty(len(out), dtype=bool)
    keep[0] = True
    np.not_equal(out[1:], out[:-1], out=keep[1:])
    return out[keep]


def _powerlaw_weights(n: int, exponent: float, rng: np.random.Generator) -> np.ndarray:
    """Zipf-like weights ``rank ** -exponent`` in a random order, normalised to sum 1."""
    w = np.arange(1, n + 1, dtype=np.float64) ** -exponent
    w = w[rng.permutation(n)]
    return w / w.sum()


def _draw_interactions(size: int, rng: np.random.Generator, user_cdf: np.ndarray,
                       theta_cdf: np.ndarray, topic_cdf: np.ndarray, topic_items: np.ndarray,
                       pop_cdf: np.ndarray, noise: float) -> tuple[np.ndarray, np.ndarray]:
    """Draw ``size`` (user, item) pairs from the planted topic model (vectorized; no per-row loop)."""
    n_topics = theta_cdf.shape[1]
    user = np.searchsorted(user_cdf, rng.random(size), side="right").astype(np.int32)
    np.minimum(user, len(user_cdf) - 1, out=user)  # guard the r == cdf[-1] rounding edge
    # topic ~ theta[user]: count how many cumulative weights lie below a uniform draw
    r = rng.random(size)
    topic = np.zeros(size, dtype=np.int64)
    for k in range(n_topics - 1):  # loop over topics (few), vectorized over interactions
        topic += theta_cdf[user, k] < r
    # item ~ popularity within the topic: topic_cdf is piecewise [k, k+1) per topic
    pos = np.searchsorted(topic_cdf, topic + rng.random(size), side="right")
    np.minimum(pos, len(topic_items) - 1, out=pos)
    item = topic_items[pos]
    # a share of interactions follows global popularity only: what a popularity baseline captures
    mask = rng.random(size) < noise
    n_noise = int(mask.sum())
    if n_noise:
        pop = np.searchsorted(pop_cdf, rng.random(n_noise), side="right")
        item[mask] = np.minimum(pop, len(pop_cdf) - 1)
    return user, item.astype(np.int32)


def synthetic(n_users: int = 2000, n_items: int = 1000, n_interactions: int = 100_000, seed: int = 0,
              *, n_topics: int = 16, concentration: float = 0.1, item_exponent: float = 0.8,
              user_exponent: float = 0.5, noise: float = 0.2,
              chunk_size: int = 2_000_000) -> Interactions:
    """Seeded implicit-feedback data with power-law item popularity and a planted low-rank structure.

    Generative model (all draws from ``np.random.default_rng(seed)``):

    - item popularity ``w_i ∝ rank_i ** -item_exponent`` (Zipf) and user activity
      ``a_u ∝ rank_u ** -user_exponent``, both in random order;
    - every item belongs to one of ``n_topics`` topics; every user has topic preferences
      ``theta_u ~ Dirichlet(concentration)`` (small ``concentration``: users focus on a few topics);
    - an interaction picks a user by activity, a topic ``k ~ theta_u`` and an item of topic ``k`` with
      probability ``∝ w_i``; with probability ``noise`` the item is drawn from global popularity instead.

    So ``P(item | user) = (1 - noise) theta_u . phi_i + noise w_i``, a rank-``n_topics`` preference
    structure that matrix factorisation can learn and a popularity ranking cannot. Repeated (user, item)
    pairs are dropped and redrawn, so the result has exactly ``n_interactions`` distinct pairs.
    Timestamps are a random order of ``0..n_interactions-1``. Memory: about 16 bytes per interaction
    plus a transient sort key of 8 bytes per interaction during de-duplication.

    Parameters
    ----------
    n_users, n_items, n_interactions : int
        Sizes. ``n_interactions`` must be at most half of ``n_users * n_items``.
    seed : int
        Seed; the same arguments give identical arrays.
    n_topics, concentration, item_exponent, user_exponent, noise : float
        Generator knobs (see above).
    chunk_size : int
        Interactions drawn per vectorized chunk (bounds temporary memory).

    Returns
    -------
    Interactions

    Examples
    --------
    >>> d = synthetic(100, 50, 1000, seed=1)
    >>> len(d), d.n_users, d.n_items
    (1000, 100, 50)
    """
    for name, value in (("n_users", n_users), ("n_items", n_items), ("n_interactions", n_interactions)):
        if not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    if n_interactions > n_users * n_items // 2:
        raise ValueError(
            f"n_interactions={n_interactions} is more than half of n_users*n_items={n_users * n_items}: "
            "too dense for distinct (user, item) pairs; raise n_users or n_items"
        )
    if n_users >= 2**31 or n_items >= 2**31:
        raise ValueError("n_users and n_items must be below 2**31 (ids are int32)")
    if not 0.0 <= noise <= 1.0:
        raise ValueError(f"noise must lie in [0, 1], got {noise}")
    if n_topics < 1 or concentration <= 0:
        raise ValueError("n_topics must be >= 1 and concentration > 0")
    rng = np.random.default_rng(seed)
    n_topics = min(n_topics, n_items)

    item_w = _powerlaw_weights(n_items, item_exponent, rng)
    user_cdf = np.cumsum(_powerlaw_weights(n_users, user_exponent, rng))
    pop_cdf = np.cumsum(item_w)
    theta = rng.dirichlet(np.full(n_topics, concentration), size=n_users)
    theta_cdf = np.cumsum(theta, axis=1).astype(np.float32)  # float32: halves the n_users x topics table
    # items grouped by topic; within topic k the cdf runs from k to k+1
    item_topic = rng.permutation(np.arange(n_items) % n_topics)
    topic_items = np.argsort(item_topic, kind="stable")
    sorted_topic = item_topic[topic_items]
    w_sorted = item_w[topic_items]
    within = np.cumsum(w_sorted)
    totals = np.bincount(sorted_topic, weights=w_sorted, minlength=n_topics)
    starts = np.concatenate(([0.0], np.cumsum(totals)[:-1]))
    topic_cdf = sorted_topic + (within - starts[sorted_topic]) / totals[sorted_topic]

    keys = np.empty(0, dtype=np.int64)
    new_share = 1.0  # share of the last round's draws that were new pairs: sizes the next round
    for _ in range(64):  # rounds of "draw, de-duplicate"
        missing = n_interactions - len(keys)
        if missing <= 0:
            break
        draw = int(missing / max(new_share, 0.02) * 1.05) + 16
        parts = []
        for start in range(0, draw, chunk_size):
            u, i = _draw_interactions(min(chunk_size, draw - start), rng, user_cdf, theta_cdf,
                                      topic_cdf, topic_items, pop_cdf, noise)
            parts.append(u.astype(np.int64) * n_items + i)
        fresh = sorted_unique(np.concatenate(parts))
        del parts
        if len(keys):
            # keep only pairs not drawn before (keys is sorted: one binary search per fresh key)
            pos = np.minimum(np.searchsorted(keys, fresh), len(keys) - 1)
            fresh = fresh[keys[pos] != fresh]
        new_share = max(len(fresh), 1) / draw
        if len(fresh) > missing:
            # keep a random subset of the new pairs, so the count is exact
            fresh = np.sort(fresh[rng.choice(len(fresh), size=missing, replace=False)])
        keys = np.sort(np.concatenate((keys, fresh))) if len(keys) else fresh
    else:  # pragma: no cover - only with adversarial knobs (e.g. tiny catalogues and extreme skew)
        raise RuntimeError("synthetic: could not reach n_interactions distinct pairs; lower the skew")
    # keys are sorted by (user, item); shuffle so that row order carries no information
    order = rng.permutation(n_interactions)
    keys = keys[order]
    user = (keys // n_items).astype(np.int32)
    item = (keys % n_items).astype(np.int32)
    del keys
    timestamp = rng.permutation(n_interactions).astype(np.int64)
    return Interactions(user=user, item=item, timestamp=timestamp, n_users=n_users, n_items=n_items,
                        name=f"synthetic-{n_users}x{n_items}-{n_interactions}",
                        meta={"seed": seed, "n_topics": n_topics, "noise": noise})
