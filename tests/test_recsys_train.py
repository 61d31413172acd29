"""Training loop: it learns (beats popularity), it is reproducible, and it validates its options."""
import numpy as np
import pytest

from fastlr.recsys import TrainConfig, popularity_baseline, synthetic, temporal_split, train
from fastlr.recsys.train import make_lr



@pytest.fixture(scope="module")
def split():
    return temporal_split(synthetic(600, 400, 30_000, seed=11))


def test_short_training_beats_popularity(split):
    pop = popularity_baseline(split)
    result = train(split, TrainConfig(optimizer="adagrad", epochs=12, dim=16, batch_size=512, seed=0))
    assert result.test["ndcg"] > 1.2 * pop["ndcg"]
    assert result.test["recall"] > 1.2 * pop["recall"]
    # it learned: the training loss went down
    assert result.history[-1]["loss"] < 0.8 * result.history[0]["loss"]


@pytest.mark.parametrize("backend", ["fastlr", "reference"])
def test_same_seed_same_results(split, backend):
    cfg = TrainConfig(optimizer="adam", schedule="cosine", epochs=3, dim=8, batch_size=700, seed=4,
                      backend=backend)
    a, b = train(split, cfg), train(split, cfg)
    assert a.test == b.test
    assert [h["loss"] for h in a.history] == [h["loss"] for h in b.history]
    assert [h["val_ndcg"] for h in a.history] == [h["val_ndcg"] for h in b.history]
    assert a.lr_curve == b.lr_curve
    c = train(split, TrainConfig(**{**cfg.__dict__, "seed": 5}))
    assert [h["loss"] for h in c.history] != [h["loss"] for h in a.history]


def test_history_time_split_and_lr_curve(split):
    r = train(split, TrainConfig(optimizer="sgd", schedule="step", epochs=4, dim=8, batch_size=1000,
                                 patience=0))
    assert len(r.history) == 4 and r.steps_per_epoch == -(-r.n_train // 1000)
    assert len(r.lr_curve) == 4 * r.steps_per_epoch
    # step schedule: halves every quarter of the run
    assert r.lr_curve[0] == pytest.approx(0.05) and r.lr_curve[-1] == pytest.approx(0.05 / 8)
    for h in r.history:
        assert h["sampling"] > 0 and h["forward_backward"] > 0 and h["optimizer"] > 0
        assert h["epoch_time"] >= h["sampling"] + h["forward_backward"] + h["optimizer"]
    tot = r.totals()
    assert 0 < tot["optimizer_share"] < 1 and tot["interactions_per_s"] > 0
    assert tot["optimizer_share_of_epoch"] == pytest.approx(tot["optimizer"] / tot["epoch_time"])
    assert tot["optimizer_share_of_epoch"] <= tot["optimizer_share"]
    assert len(r.step_times["optimizer"]) == len(r.lr_curve)
    assert tot["optimizer_step_median"] == pytest.approx(np.median(r.step_times["optimizer"]))
    assert sum(r.step_times["optimizer"]) == pytest.approx(tot["optimizer"])


def test_plateau_and_early_stopping(split):
    # a tiny learning rate: validation stalls, plateau halves the rate after 2 flat epochs
    # (patience 1), early stopping ends the run after 3
    r = train(split, TrainConfig(optimizer="sgd", lr=1e-6, schedule="plateau", epochs=30, dim=8,
                                 patience=3))
    assert len(r.history) == 4
    assert [h["lr"] for h in r.history] == pytest.approx([1e-6, 1e-6, 1e-6, 5e-7])
    assert r.best_epoch == 1


def test_reference_backend_matches_fastlr_for_sgd(split):
    cfg = TrainConfig(optimizer="sgd", epochs=2, dim=8, batch_size=512)
    a = train(split, cfg)
    b = train(split, TrainConfig(**{**cfg.__dict__, "backend": "reference"}))
    assert a.test["ndcg"] == pytest.approx(b.test["ndcg"], abs=1e-3)


@pytest.mark.parametrize("name", ["constant", "step", "exponential", "cosine", "warmup_cosine", "plateau"])
def test_schedules_are_sized_to_the_run(name):
    lr = make_lr(name, 0.1, steps_per_epoch=10, epochs=5)
    if name in ("constant", "plateau"):
        assert lr == 0.1
        return
    values = np.asarray(lr(np.arange(50)), dtype=float)
    assert values.shape == (50,) and np.all(values >= 0) and np.all(values <= 0.1 + 1e-12)
    if name == "warmup_cosine":
        assert values[0] == pytest.approx(0.01)
    else:
        assert values[0] == pytest.approx(0.1) and values[-1] < 0.1


@pytest.mark.parametrize("kwargs, match", [
    (dict(optimizer="lbfgs"), "unknown optimizer"),
    (dict(schedule="linear_warmup"), "unknown schedule"),
    (dict(backend="torch"), "backend"),
    (dict(epochs=0), "epochs"),
    (dict(lr=-1.0), "lr"),
    (dict(reg=-1.0), "reg"),
    (dict(schedule="plateau", evaluate_every=0), "plateau"),
])
def test_config_validation(split, kwargs, match):
    with pytest.raises(ValueError, match=match):
        train(split, TrainConfig(**kwargs))
