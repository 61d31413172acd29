"""ReduceLROnPlateau: PyTorch parity on recorded metric sequences, schedules underneath,
state_dict resume, validation."""

import math
import pickle
import warnings

import numpy as np
import pytest

import fastlr.schedules as S
from fastlr.schedules import ReduceLROnPlateau
from fastlr.schedules._plateau import effective_lr


class StandIn:
    """The optimizer contract: param_groups (list of dicts with "lr") and step_count."""

    def __init__(self, lrs, step_count=0):
        self.param_groups = [{"lr": lr} for lr in lrs]
        self.step_count = step_count

    def lr(self, i=0):
        return effective_lr(self.param_groups[i], self.step_count)


def _metric_sequences():
    rng = np.random.default_rng(7)
    walk = np.cumsum(rng.normal(0, 1, 120)) + 100
    plateaus = np.repeat([5.0, 4.0, 4.0, 3.99, 3.5, 3.5, 3.4999], 9)
    negative = -np.abs(plateaus)  # rel threshold with negative metrics (inverted tolerance)
    special = np.array([3.0, 2.0, np.nan, 2.0, np.nan, np.nan, np.inf, 1.9, 1.9, -np.inf, 1.0,
                        np.nan, 0.5, 0.5, 0.5, 0.5, 0.5, np.inf, 0.2, 0.2, 0.2, 0.2])
    nan_first = np.array([np.nan, np.nan, 1.0, 1.0, 1.0, 1.0, 0.9, 0.9, 0.9, 0.9, 0.9])
    return {"walk": walk, "plateaus": plateaus, "negative": negative, "special": special,
            "nan_first": nan_first}


SEQUENCES = _metric_sequences()
CONFIGS = [
    dict(),
    dict(mode="max"),
    dict(patience=0),
    dict(patience=2, cooldown=3),
    dict(patience=1, cooldown=1, threshold=0.05, threshold_mode="abs"),
    dict(mode="max", patience=1, threshold=0.01, threshold_mode="abs", cooldown=2),
    dict(mode="max", threshold=0.02, patience=3),
    dict(patience=1, factor=0.5, min_lr=[0.01, 0.004]),
    dict(patience=0, factor=0.3, min_lr=0.005),
    dict(patience=0, factor=0.9, eps=1e-3),  # the eps rule skips small reductions
    dict(patience=1, factor=0.5, eps=0.0, threshold=0.0),
]


@pytest.mark.torch
@pytest.mark.parametrize("seq", list(SEQUENCES), ids=list(SEQUENCES))
@pytest.mark.parametrize("cfg", CONFIGS, ids=[repr(c) for c in CONFIGS])
def test_matches_pytorch_on_recorded_metrics(seq, cfg):
    torch = pytest.importorskip("torch")
    metrics = SEQUENCES[seq]
    lrs = [0.1, 0.05]
    topt = torch.optim.SGD([{"params": [torch.nn.Parameter(torch.zeros(1))], "lr": lrs[0]},
                            {"params": [torch.nn.Parameter(torch.zeros(1))], "lr": lrs[1]}])
    tsched = torch.optim.lr_scheduler.ReduceLROnPlateau(topt, **cfg)
    opt = StandIn(lrs)
    ours = ReduceLROnPlateau(opt, **cfg)
    for m in metrics:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tsched.step(float(m))
        ours.step(m)
        assert ours.get_last_lr() == tsched.get_last_lr()
        assert [g["lr"] for g in opt.param_groups] == [g["lr"] for g in topt.param_groups]
        assert ours.num_bad_epochs == tsched.num_bad_epochs
        assert ours.cooldown_counter == tsched.cooldown_counter
        assert ours.last_epoch == tsched.last_epoch
        assert (ours.best == tsched.best) or (math.isnan(ours.best) and math.isnan(tsched.best))
    assert set(ours.state_dict()) == set(tsched.state_dict())


def test_patience_counts_patience_plus_one_bad_epochs():
    opt = StandIn([1.0])
    p = ReduceLROnPlateau(opt, patience=2, factor=0.5)
    lrs = []
    for m in [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]:
        p.step(m)
        lrs.append(opt.param_groups[0]["lr"])
    # reductions on the 3rd bad value (epochs 4 and 7)
    assert lrs == [1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.25]


def test_nan_counts_as_bad_and_never_becomes_best():
    opt = StandIn([1.0])
    p = ReduceLROnPlateau(opt, patience=1, factor=0.5)
    p.step(float("nan"))
    assert p.best == math.inf and p.num_bad_epochs == 1
    p.step(np.float32("nan"))
    assert opt.param_groups[0]["lr"] == 0.5
    p.step(-math.inf)
    assert p.best == -math.inf and p.num_bad_epochs == 0
    p.step(-1e300)
    assert p.num_bad_epochs == 1  # nothing improves on -inf


def test_negative_metric_relative_threshold_is_inverted_like_pytorch():
    opt = StandIn([1.0])
    p = ReduceLROnPlateau(opt, threshold=1e-4)
    p.step(-10.0)
    p.step(-9.9995)  # larger (worse) but within best * (1 - 1e-4) = -9.999: counts as better
    assert p.best == -9.9995 and p.num_bad_epochs == 0


def test_metric_types():
    opt = StandIn([1.0])
    p = ReduceLROnPlateau(opt)
    p.step(np.float64(3.0))
    p.step(np.array(2.0))
    p.step(2)
    assert p.best == 2.0
    for bad in ("1.0", None, [1.0], np.array([1.0, 2.0])):
        with pytest.raises(TypeError, match="metric"):
            p.step(bad)


# ---------------------------------------------------------------------------------------------
# schedules underneath

def test_constant_schedule_group_behaves_like_a_float_group():
    """The effective-lr rule reduces to PyTorch's exactly when the schedule is constant."""
    metrics = SEQUENCES["plateaus"].tolist() + [9.0] * 30
    for cfg in CONFIGS[:9]:
        cfg = dict(cfg)
        a, b = StandIn([0.1, 0.05]), StandIn([S.constant(0.1), S.constant(0.05)])
        pa, pb = ReduceLROnPlateau(a, **cfg), ReduceLROnPlateau(b, **cfg)
        for k, m in enumerate(metrics):
            a.step_count = b.step_count = k
            pa.step(m)
            pb.step(m)
            assert pb.get_last_lr() == pytest.approx(pa.get_last_lr(), rel=1e-15)
            assert [b.lr(i) for i in range(2)] == pytest.approx([a.lr(i) for i in range(2)],
                                                                 rel=1e-15)


def test_schedule_group_is_scaled_not_replaced():
    sched = S.cosine(0.1, 1000, 0.0)
    opt = StandIn([sched])
    p = ReduceLROnPlateau(opt, patience=0, factor=0.5, min_lr=1e-4)
    opt.step_count = 10
    p.step(1.0)
    p.step(2.0)  # bad -> reduce
    g = opt.param_groups[0]
    assert g["lr"] is sched and g["lr_scale"] == 0.5 and g["lr_min"] == 1e-4
    assert p.get_last_lr() == [sched(10) * 0.5]
    for k in (10, 100, 500):
        opt.step_count = k
        assert opt.lr() == sched(k) * 0.5
    # near the end of the cosine the floor takes over, but never above the schedule itself
    opt.step_count = 995
    assert opt.lr() == max(sched(995) * 0.5, min(sched(995), 1e-4))
    opt.step_count = 1000
    assert opt.lr() == 0.0  # the schedule's own value is 0: the floor does not raise it
    opt.step_count = 20
    p.step(3.0)
    assert g["lr_scale"] == 0.25


def test_eps_rule_on_the_effective_lr():
    # warmup starting at 0: the effective lr at step 0 is 0, so a reduction changes nothing
    # (old - new = 0 <= eps) and is skipped, like PyTorch skips it for a float lr at 0.
    sched = S.warmup(S.constant(0.1), 100, 0.0)
    opt = StandIn([sched], step_count=0)
    p = ReduceLROnPlateau(opt, patience=0)
    p.step(1.0)
    p.step(1.0)
    assert "lr_scale" not in opt.param_groups[0]
    opt.step_count = 50
    p.step(1.0)
    assert opt.param_groups[0]["lr_scale"] == 0.1
    # clamped at min_lr: a further reduction would not move the effective lr -> skipped
    opt2 = StandIn([S.constant(0.1)])
    p2 = ReduceLROnPlateau(opt2, patience=0, factor=0.1, min_lr=0.05)
    p2.step(1.0)
    p2.step(1.0)
    assert opt2.param_groups[0]["lr_scale"] == pytest.approx(0.1) and opt2.lr() == 0.05
    p2.step(1.0)
    assert opt2.param_groups[0]["lr_scale"] == pytest.approx(0.1)  # unchanged
    assert p2.cooldown_counter == 0 and p2.num_bad_epochs == 0


def test_schedule_group_needs_step_count():
    class NoCount:
        param_groups = [{"lr": S.constant(0.1)}]

    with pytest.raises(TypeError, match="step_count"):
        ReduceLROnPlateau(NoCount())


# ---------------------------------------------------------------------------------------------
# state

def test_state_dict_resume_equals_uninterrupted_run():
    metrics = SEQUENCES["walk"]
    cfg = dict(patience=3, cooldown=2, factor=0.5, min_lr=[1e-4, 0.0])

    def make():
        return StandIn([S.cosine(0.1, 200), 0.05])

    full_opt = make()
    full = ReduceLROnPlateau(full_opt, **cfg)
    for k, m in enumerate(metrics):
        full_opt.step_count = k
        full.step(m)

    opt = make()
    first = ReduceLROnPlateau(opt, **cfg)
    for k, m in enumerate(metrics[:57]):
        opt.step_count = k
        first.step(m)
    saved = pickle.loads(pickle.dumps((first.state_dict(), opt.param_groups)))
    opt2 = make()
    opt2.param_groups = saved[1]
    second = ReduceLROnPlateau(opt2, mode="max")  # settings come from the state
    second.load_state_dict(saved[0])
    for k, m in enumerate(metrics[57:], start=57):
        opt2.step_count = k
        second.step(m)
    assert second.state_dict() == full.state_dict()
    assert opt2.param_groups == full_opt.param_groups


@pytest.mark.torch
def test_state_dict_is_interchangeable_with_pytorch():
    torch = pytest.importorskip("torch")
    topt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    tsched = torch.optim.lr_scheduler.ReduceLROnPlateau(topt, patience=1, cooldown=2)
    for m in [3.0, 2.0, 2.5, 2.5, 2.5]:
        tsched.step(m)
    opt = StandIn([topt.param_groups[0]["lr"]])
    ours = ReduceLROnPlateau(opt)
    ours.load_state_dict(tsched.state_dict())
    assert ours.state_dict() == tsched.state_dict()
    for m in [2.5, 1.0, 1.0, 1.0, 1.0]:
        tsched.step(m)
        ours.step(m)
        assert ours.get_last_lr() == tsched.get_last_lr()


def test_load_state_dict_validation():
    p = ReduceLROnPlateau(StandIn([0.1]))
    state = p.state_dict()
    del state["best"]
    with pytest.raises(KeyError, match="best"):
        p.load_state_dict(state)
    state = p.state_dict()
    state["mode"] = "median"
    with pytest.raises(ValueError, match="mode"):
        p.load_state_dict(state)


@pytest.mark.parametrize("kwargs,exc,match", [
    (dict(factor=1.0), ValueError, "factor"),
    (dict(factor=0.0), ValueError, "factor"),
    (dict(factor=float("nan")), ValueError, "factor"),
    (dict(patience=-1), ValueError, "patience"),
    (dict(patience=1.5), TypeError, "patience"),
    (dict(cooldown=-1), ValueError, "cooldown"),
    (dict(threshold=-1e-4), ValueError, "threshold"),
    (dict(eps=-1.0), ValueError, "eps"),
    (dict(mode="median"), ValueError, "mode"),
    (dict(threshold_mode="pct"), ValueError, "threshold_mode"),
    (dict(min_lr=-1.0), ValueError, "min_lr"),
    (dict(min_lr=[0.0, 0.0]), ValueError, "min_lr"),
    (dict(min_lr=[float("inf")]), ValueError, "min_lr"),
])
def test_invalid_arguments(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        ReduceLROnPlateau(StandIn([0.1]), **kwargs)


def test_invalid_optimizer():
    with pytest.raises(TypeError, match="param_groups"):
        ReduceLROnPlateau(object())
    with pytest.raises(TypeError, match="param_groups"):
        ReduceLROnPlateau(type("O", (), {"param_groups": [{"momentum": 0.9}]})())


def test_new_param_group_gets_default_min_lr_and_list_mismatch_raises():
    opt = StandIn([0.1])
    p = ReduceLROnPlateau(opt, patience=0, min_lr=0.02)
    opt.param_groups.append({"lr": 0.5})
    p.step(1.0)
    p.step(1.0)
    assert [g["lr"] for g in opt.param_groups] == [0.02, 0.05]
    opt = StandIn([0.1])
    p = ReduceLROnPlateau(opt, patience=0, min_lr=[0.0])
    opt.param_groups.append({"lr": 0.5})
    p.step(1.0)
    with pytest.raises(RuntimeError, match="min_lr"):
        p.step(1.0)
