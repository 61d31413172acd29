"""BPR training loop: shuffled epochs, uniform negative sampling, a fastlr optimizer and schedule.

Every epoch visits the training interactions in a fresh random order, in mini-batches. For each positive
``(u, i)`` one negative ``j`` is drawn uniformly from the catalogue (redrawn, vectorized, up to
``NEGATIVE_REDRAWS`` times when it is one of ``u``'s training items). The model's row gradients are handed to
the optimizer as :class:`fastlr.RowGrad`. After each epoch the validation NDCG@K drives
:class:`fastlr.schedules.ReduceLROnPlateau` (schedule ``"plateau"``) and early stopping; the parameters of
the best epoch are restored before the test evaluation.

Time is measured per epoch in three parts: ``sampling`` (shuffling and negatives), ``forward_backward``
(the model) and ``optimizer`` (``opt.step``); evaluation time is reported separately.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Dict, List, Optional

import numpy as np

from .data import sorted_unique
from .metrics import evaluate, popularity_scores
from .model import MatrixFactorization
from .progress import Progress
from .split import Split, to_csr

__all__ = [
    "TrainConfig", "TrainResult", "train", "make_optimizer", "make_lr", "sample_negatives", "PositiveSet",
    "popularity_baseline", "OPTIMIZERS", "SCHEDULES", "DEFAULT_LR", "NEGATIVE_REDRAWS",
]

#: command-line name -> class name in ``fastlr`` / ``fastlr.reference``
OPTIMIZERS: Dict[str, str] = {
    "sgd": "SGD",
    "adagrad": "Adagrad",
    "rowwise_adagrad": "RowwiseAdagrad",
    "rmsprop": "RMSprop",
    "adadelta": "Adadelta",
    "adam": "Adam",
    "adamw": "AdamW",
}

#: Learning rates for this model and loss (summed over the batch), chosen on the MovieLens-100k
#: validation split (30 epochs, dim 64, batch 1024, reg 1e-2, from a grid of 3 values each);
#: every other hyper-parameter is torch.optim's default.
DEFAULT_LR: Dict[str, float] = {
    "sgd": 0.05,
    "adagrad": 0.05,
    "rowwise_adagrad": 0.1,
    "rmsprop": 3e-3,
    "adadelta": 2.0,
    "adam": 5e-3,
    "adamw": 5e-3,
}

SCHEDULES = ("constant", "step", "exponential", "cosine", "warmup_cosine", "plateau")

NEGATIVE_REDRAWS = 3


@dataclass
class TrainConfig:
    """Everything that defines one training run (all of it goes into ``results.json``)."""

    optimizer: str = "adam"
    lr: Optional[float] = None  # None: DEFAULT_LR[optimizer]
    schedule: str = "constant"
    epochs: int = 30
    dim: int = 64
    batch_size: int = 1024
    reg: float = 1e-2
    init_std: float = 0.1
    patience: int = 5  # early stopping: epochs without a validation improvement; 0 disables
    k: int = 10
    seed: int = 0
    backend: str = "fastlr"  # or "reference" (the pure-NumPy twins)
    evaluate_every: int = 1  # 0: no validation (no early stopping, no plateau); scaling runs
    optimizer_kwargs: Dict[str, Any] = field(default_factory=dict)

    def resolved_lr(self) -> float:
        return float(self.lr if self.lr is not None else DEFAULT_LR[self.optimizer])

    def validate(self) -> None:
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"unknown optimizer {self.optimizer!r}; choose from {sorted(OPTIMIZERS)}")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"unknown schedule {self.schedule!r}; choose from {list(SCHEDULES)}")
        if self.backend not in ("fastlr", "reference"):
            raise ValueError(f"backend must be 'fastlr' or 'reference', got {self.backend!r}")
        for name in ("epochs", "dim", "batch_size", "k"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.patience < 0 or self.evaluate_every < 0:
            raise ValueError("patience and evaluate_every must be >= 0")
        if self.schedule == "plateau" and self.evaluate_every == 0:
            raise ValueError("schedule 'plateau' needs validation (evaluate_every >= 1)")
        if not self.resolved_lr() > 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")
        if self.reg < 0:
            raise ValueError(f"reg must be >= 0, got {self.reg}")


@dataclass
class TrainResult:
    """What one run produced: per-epoch history, time split, the test metrics of the best epoch."""

    config: TrainConfig
    history: List[Dict[str, float]]
    best_epoch: int
    test: Dict[str, float]
    lr_curve: List[float]  # learning rate at every optimizer step actually taken
    steps_per_epoch: int
    n_train: int
    wall_time: float  # whole run: training, validation and test evaluation
    step_times: Dict[str, List[float]] = field(default_factory=dict)  # per optimizer step, seconds

    def totals(self) -> Dict[str, float]:
        """Summed time per part over all epochs and the training throughput."""
        keys = ("sampling", "forward_backward", "optimizer", "evaluation", "epoch_time")
        out = {key: float(sum(h[key] for h in self.history)) for key in keys}
        train_time = out["sampling"] + out["forward_backward"] + out["optimizer"]
        out["train"] = train_time
        out["interactions_per_s"] = self.n_train * len(self.history) / train_time if train_time else 0.0
        out["optimizer_share"] = out["optimizer"] / train_time if train_time else 0.0
        # of the whole epoch loop, the per-epoch validation (early stopping, plateau) included
        out["optimizer_share_of_epoch"] = (out["optimizer"] / out["epoch_time"]
                                           if out["epoch_time"] else 0.0)
        # medians per step resist the load spikes of a shared machine better than sums
        for key, values in self.step_times.items():
            if values:
                out[f"{key}_step_median"] = float(np.median(values))
        return out

    def to_dict(self) -> Dict[str, Any]:
        return {"config": asdict(self.config), "history": self.history, "best_epoch": self.best_epoch,
                "test": self.test, "lr_curve": self.lr_curve, "steps_per_epoch": self.steps_per_epoch,
                "n_train": self.n_train, "wall_time": self.wall_time, "totals": self.totals(),
                "epochs_run": len(self.history)}


def _backend_module(backend: str):
    if backend == "fastlr":
        import fastlr as module
    elif backend == "reference":
        import fastlr.reference as module
    else:
        raise ValueError(f"backend must be 'fastlr' or 'reference', got {backend!r}")
    return module


def make_optimizer(name: str, params: List[np.ndarray], lr: Any, backend: str = "fastlr",
                   **kwargs: Any):
    """An optimizer from fastlr's public API (or its pure-NumPy twin) by command-line name.

    Parameters
    ----------
    name : str
        One of :data:`OPTIMIZERS` (``"adam"``, ``"rowwise_adagrad"``, ...).
    params : list of ndarray
    lr : float or schedule
    backend : {"fastlr", "reference"}
    **kwargs
        Further constructor arguments (torch.optim names).
    """
    if name not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r}; choose from {sorted(OPTIMIZERS)}")
    module = _backend_module(backend)
    cls = getattr(module, OPTIMIZERS[name], None)
    if cls is None:
        raise RuntimeError(f"{module.__name__} has no {OPTIMIZERS[name]}: is this fastlr build complete?")
    return cls(params, lr=lr, **kwargs)


def make_lr(schedule: str, lr: float, steps_per_epoch: int, epochs: int):
    """The ``lr`` argument for a named schedule, in optimizer steps (``None`` schedule ⇒ a float).

    ``constant`` and ``plateau`` give the float ``lr`` (plateau scaling is applied by
    :class:`~fastlr.schedules.ReduceLROnPlateau`); the others are :mod:`fastlr.schedules` objects sized to
    the run: ``step`` halves the rate every quarter of the run, ``exponential`` decays it by 100x over the
    run, ``cosine`` anneals to 0 over the run, ``warmup_cosine`` warms up linearly from 10% over the first
    10% of the run (at least one epoch) and then follows a cosine to 0 over the rest.
    """
    from fastlr import schedules

    total = max(1, steps_per_epoch * epochs)
    if schedule in ("constant", "plateau"):
        return float(lr)
    if schedule == "step":
        return schedules.step(lr, step_size=max(1, total // 4), gamma=0.5)
    if schedule == "exponential":
        return schedules.exponential(lr, gamma=0.01 ** (1.0 / total))
    if schedule == "cosine":
        return schedules.cosine(lr, T_max=total)
    if schedule == "warmup_cosine":
        if total < 2:  # no room for a warmup
            return schedules.cosine(lr, T_max=1)
        # fastlr's warmup is a prefix: the cosine starts its own clock after it, so it spans the rest
        warm = min(max(1, total - 1), max(steps_per_epoch, total // 10))
        return schedules.warmup(schedules.cosine(lr, T_max=total - warm), warmup_steps=warm,
                                start_factor=0.1)
    raise ValueError(f"unknown schedule {schedule!r}; choose from {list(SCHEDULES)}")


def _group_lr(opt, step: int) -> float:
    """The learning rate the optimizer's first group uses at update ``step`` (schedules are callables)."""
    lr = opt.param_groups[0]["lr"]
    return float(lr(step)) if callable(lr) else float(lr)


class PositiveSet:
    """Membership test for known (user, item) pairs, vectorized and exact.

    Small problems (``n_users * n_items <= dense_limit``) use a dense boolean table: a lookup is one
    gather. Large ones keep the sorted int64 keys ``user * n_items + item`` and, in front of the binary
    search (about 20 cache misses per query on tens of MB), a one-hash bit filter of 8 to 16 bits per pair
    (16 MiB for 1e7 pairs): only the few queries whose bit is set (true pairs and at most about 12%
    false alarms) are searched, so the cost per query stays nearly flat as the data grow.
    """

    _GOLDEN = np.uint64(0x9E3779B97F4A7C15)  # Fibonacci hashing multiplier (2**64 / golden ratio)

    def __init__(self, users: np.ndarray, items: np.ndarray, n_users: int, n_items: int,
                 dense_limit: int = 1 << 26) -> None:
        self.n_items = n_items
        keys = users.astype(np.int64) * n_items + items
        self.table: Optional[np.ndarray] = None
        self.keys: Optional[np.ndarray] = None
        self.bits: Optional[np.ndarray] = None
        if n_users * n_items <= dense_limit:
            self.table = np.zeros(n_users * n_items, dtype=bool)
            self.table[keys] = True
            return
        self.keys = sorted_unique(keys)
        self._shift = np.uint64(64 - max(16, int(8 * max(1, len(self.keys)) - 1).bit_length()))
        n_bits = 1 << (64 - int(self._shift))
        self.bits = np.zeros(n_bits // 8, dtype=np.uint8)
        h = self._hash(self.keys)
        np.bitwise_or.at(self.bits, h >> 3, np.left_shift(1, h & 7).astype(np.uint8))

    def _hash(self, keys: np.ndarray) -> np.ndarray:
        return ((keys.astype(np.uint64) * self._GOLDEN) >> self._shift).astype(np.int64)

    def __len__(self) -> int:
        return int(self.table.sum()) if self.table is not None else len(self.keys)

    def contains(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        """Boolean array: is ``(users[b], items[b])`` a known pair."""
        keys = users.astype(np.int64) * self.n_items + items
        if self.table is not None:
            return self.table[keys]
        out = np.zeros(len(keys), dtype=bool)
        if len(self.keys) == 0:
            return out
        h = self._hash(keys)
        maybe = np.flatnonzero((self.bits[h >> 3] >> (h & 7)) & 1)
        if len(maybe):
            k = keys[maybe]
            pos = np.minimum(np.searchsorted(self.keys, k), len(self.keys) - 1)
            out[maybe] = self.keys[pos] == k
        return out


def sample_negatives(rng: np.random.Generator, users: np.ndarray, n_items: int,
                     positives: Optional[PositiveSet] = None,
                     redraws: int = NEGATIVE_REDRAWS) -> np.ndarray:
    """Uniform negative items for ``users``, redrawn (vectorized) when they hit a known positive.

    Parameters
    ----------
    rng : Generator
    users : ndarray of int, shape (B,)
    n_items : int
    positives : PositiveSet, optional
        The training interactions; None draws without rejection.
    redraws : int
        Rounds of redrawing; a collision left after the last round is kept (rare: probability about
        ``density ** (redraws + 1)`` per draw).

    Returns
    -------
    ndarray of int32, shape (B,)
    """
    neg = rng.integers(0, n_items, size=len(users), dtype=np.int32)
    if positives is None:
        return neg
    todo = np.flatnonzero(positives.contains(users, neg))
    for round_ in range(redraws):
        if len(todo) == 0:
            break
        neg[todo] = rng.integers(0, n_items, size=len(todo), dtype=np.int32)
        if round_ + 1 < redraws:
            todo = todo[positives.contains(users[todo], neg[todo])]
    return neg


def popularity_baseline(split: Split, k: int = 10, batch_size: int = 1024) -> Dict[str, float]:
    """Test metrics of recommending the most popular training items (same protocol as the models)."""
    train, val, test = to_csr(split.train), to_csr(split.val), to_csr(split.test)
    pop = popularity_scores(train)
    return evaluate(lambda users: np.broadcast_to(pop, (len(users), len(pop))), train, test, k=k,
                    batch_size=batch_size, exclude=[val])


def train(split: Split, config: Optional[TrainConfig] = None, *, progress: Optional[bool] = None,
          on_epoch: Optional[Callable[[Dict[str, float]], None]] = None,
          evaluate_test: bool = True) -> TrainResult:
    """Train matrix factorisation with BPR on ``split.train`` and evaluate on ``split.test``.

    Parameters
    ----------
    split : Split
    config : TrainConfig, optional
    progress : bool or None
        Show a progress bar (None: only on a terminal).
    on_epoch : callable, optional
        Called with each epoch's history record.
    evaluate_test : bool, default True
        Skip the final test evaluation when False (throughput runs).

    Returns
    -------
    TrainResult
    """
    import fastlr

    cfg = config if config is not None else TrainConfig()
    cfg.validate()
    t_run = time.perf_counter()
    data = split.train
    n_train = len(data)
    if n_train == 0:
        raise ValueError("the training split is empty")
    rng = np.random.default_rng(cfg.seed)
    model = MatrixFactorization(data.n_users, data.n_items, dim=cfg.dim, init_std=cfg.init_std,
                                seed=int(rng.integers(2**31)))
    steps_per_epoch = -(-n_train // cfg.batch_size)
    lr = make_lr(cfg.schedule, cfg.resolved_lr(), steps_per_epoch, cfg.epochs)
    opt = make_optimizer(cfg.optimizer, model.params, lr, cfg.backend, **cfg.optimizer_kwargs)
    plateau = None
    if cfg.schedule == "plateau":
        plateau = fastlr.schedules.ReduceLROnPlateau(opt, mode="max", factor=0.5, patience=1)
    row_grad = fastlr.RowGrad

    validate = cfg.evaluate_every > 0 and len(split.val) > 0
    train_csr = to_csr(data) if (validate or evaluate_test) else None
    val_csr = to_csr(split.val) if validate else None
    positives = PositiveSet(data.user, data.item, data.n_users, data.n_items)
    users_all, items_all = data.user, data.item

    history: List[Dict[str, float]] = []
    lr_curve: List[float] = []
    step_times: Dict[str, List[float]] = {"sampling": [], "forward_backward": [], "optimizer": []}
    best_ndcg, best_epoch, best_params, stale = -np.inf, 0, None, 0
    step = 0
    bar = Progress(cfg.epochs, label=f"{cfg.optimizer}/{cfg.schedule}/{cfg.backend}", enabled=progress)
    for epoch in range(1, cfg.epochs + 1):
        t_epoch = time.perf_counter()
        t_sample = t_fb = t_opt = 0.0
        loss_sum = 0.0
        t0 = time.perf_counter()
        order = rng.permutation(n_train)
        t_sample += time.perf_counter() - t0
        for start in range(0, n_train, cfg.batch_size):
            t0 = time.perf_counter()
            idx = order[start:start + cfg.batch_size]
            u = users_all[idx]
            i = items_all[idx]
            j = sample_negatives(rng, u, data.n_items, positives)
            t1 = time.perf_counter()
            loss, grads = model.bpr_backward(u, i, j, cfg.reg)
            row_grads = [row_grad(ix, val) for ix, val in grads.as_list()]
            t2 = time.perf_counter()
            lr_curve.append(_group_lr(opt, step))
            opt.step(row_grads)
            t3 = time.perf_counter()
            t_sample += t1 - t0
            t_fb += t2 - t1
            t_opt += t3 - t2
            step_times["sampling"].append(t1 - t0)
            step_times["forward_backward"].append(t2 - t1)
            step_times["optimizer"].append(t3 - t2)
            loss_sum += loss
            step += 1
        record: Dict[str, float] = {
            "epoch": epoch, "loss": loss_sum / n_train, "sampling": t_sample, "forward_backward": t_fb,
            "optimizer": t_opt, "lr": lr_curve[-1],
        }
        t_eval = time.perf_counter()
        if validate and epoch % cfg.evaluate_every == 0:
            val = evaluate(model.scores, train_csr, val_csr, k=cfg.k)
            record["val_ndcg"] = val["ndcg"]
            record["val_recall"] = val["recall"]
            if val["ndcg"] > best_ndcg:
                best_ndcg, best_epoch, stale = val["ndcg"], epoch, 0
                best_params = model.copy_params()
            else:
                stale += 1
            if plateau is not None:
                plateau.step(val["ndcg"])
        record["evaluation"] = time.perf_counter() - t_eval
        record["epoch_time"] = time.perf_counter() - t_epoch
        history.append(record)
        if on_epoch is not None:
            on_epoch(history[-1])
        bar.update(epoch, f"loss {record['loss']:.4f}" + (
            f" val ndcg {record['val_ndcg']:.4f}" if "val_ndcg" in record else ""))
        if validate and cfg.patience and stale >= cfg.patience:
            break
    bar.close()
    if best_params is not None:
        model.load_params(best_params)
    else:
        best_epoch = len(history)
    test: Dict[str, float] = {}
    if evaluate_test and len(split.test):
        exclude = [to_csr(split.val)] if len(split.val) else []
        test = evaluate(model.scores, train_csr, to_csr(split.test), k=cfg.k, exclude=exclude)
    return TrainResult(config=cfg, history=history, best_epoch=best_epoch, test=test, lr_curve=lr_curve,
                       steps_per_epoch=steps_per_epoch, n_train=n_train,
                       wall_time=time.perf_counter() - t_run, step_times=step_times)

