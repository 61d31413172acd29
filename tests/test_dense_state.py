"""state_dict() / load_state_dict(): PyTorch's layout, pickle and npz round trips that resume
training bit for bit, and clear errors (with nothing modified) for a state that does not fit."""
from __future__ import annotations

import io
import json
import pickle

import numpy as np
import pytest

import fastlr
from conftest import (DTYPES, SMALL_SHAPES, TABLE, TABLE_SMALL, assert_bitwise, assert_unchanged,
                      copies, make, random_grads, random_params, snapshot)

SAVE_AT, RESUME_FOR = 40, 60


def some_none(rng, grads, t):
    """Skip parameter 1 on some steps, so the parameters have different step counts."""
    if t % 3 == 0:
        grads[1] = None
    return grads


def two_groups(params, name, kwargs):
    other = dict(lr=kwargs.get("lr", 1e-2) * 0.5, weight_decay=0.03)
    return [{"params": params[:2], **other}, {"params": params[2:]}]


def assert_same_training(opt_a, params_a, opt_b, params_b):
    for i, (p, q) in enumerate(zip(params_a, params_b)):
        assert_bitwise(q, p, f"param {i}")
    sa, sb = opt_a.state_dict(), opt_b.state_dict()
    assert sa["step_count"] == sb["step_count"]
    assert set(sa["state"]) == set(sb["state"])
    for i, entry in sa["state"].items():
        assert set(entry) == set(sb["state"][i])
        for k, v in entry.items():
            if k == "step":
                assert sb["state"][i][k] == v
            else:
                assert_bitwise(sb["state"][i][k], v, f"state[{i}][{k!r}]")
    strip = [{k: v for k, v in g.items() if k != "params"} for g in sa["param_groups"]]
    assert strip == [{k: v for k, v in g.items() if k != "params"} for g in sb["param_groups"]]


def resume_check(name, kwargs, dtype, rng, transport, shapes=((6,), (2, 3), (5,), (1,))):
    """Train A for SAVE_AT + RESUME_FOR steps; train B from A's state saved at SAVE_AT (sent
    through ``transport``) on copies of A's parameters at that point.  B must equal A."""
    params = random_params(rng, shapes, dtype)
    opt = make(name, two_groups(params, name, kwargs), kwargs)
    for t in range(SAVE_AT):
        opt.step(some_none(rng, random_grads(rng, params), t))
    saved = transport(opt.state_dict())
    resumed = copies(params)
    # constructed with other hyper-parameters: the loaded groups override them, as in PyTorch
    opt2 = make(name, two_groups(resumed, name, kwargs), kwargs)
    opt2.param_groups[1]["lr"] = 123.0
    opt2.load_state_dict(saved)
    assert opt2.param_groups[1]["lr"] == opt.param_groups[1]["lr"]
    for t in range(SAVE_AT, SAVE_AT + RESUME_FOR):
        grads = some_none(rng, random_grads(rng, params), t)
        opt.step(grads)
        opt2.step(grads)
    assert_same_training(opt, params, opt2, resumed)
    return opt, opt2


def via_pickle(sd):
    return pickle.loads(pickle.dumps(sd))


def via_npz(sd):
    """np.savez with allow_pickle=False: arrays as arrays, everything else as JSON."""
    arrays, meta = {}, {"state": {}, "param_groups": sd["param_groups"],
                        "step_count": sd["step_count"]}
    for i, entry in sd["state"].items():
        meta["state"][str(i)] = {"step": entry["step"]}
        for k, v in entry.items():
            if k != "step":
                arrays[f"state/{i}/{k}"] = v
    buf = io.BytesIO()
    np.savez(buf, meta=np.array(json.dumps(meta)), **arrays)
    buf.seek(0)
    with np.load(buf, allow_pickle=False) as f:
        meta = json.loads(str(f["meta"]))
        out = {"state": {int(i): dict(e) for i, e in meta["state"].items()},
               "param_groups": meta["param_groups"], "step_count": meta["step_count"]}
        for key in f.files:
            if key.startswith("state/"):
                _, i, k = key.split("/")
                out["state"][int(i)][k] = f[key]
    return out


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name, kwargs", TABLE)
def test_pickle_round_trip_resumes_bit_for_bit(name, kwargs, dtype, rng):
    resume_check(name, kwargs, dtype, rng, via_pickle)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name, kwargs", TABLE)
def test_npz_round_trip_resumes_bit_for_bit(name, kwargs, dtype, rng):
    resume_check(name, kwargs, dtype, rng, via_npz)


STATELESS_SGD_BUG = pytest.mark.xfail(
    strict=True, reason="BUG (minor): load_state_dict drops the step-only entries "
    "{i: {'step': n}} of a buffer-less SGD, so state_dict() right after loading differs from "
    "the dict loaded (the entries come back at the next step; training is unaffected)")
TABLE_LOAD = [pytest.param(*p.values, id=p.id,
                           marks=STATELESS_SGD_BUG if p.values[0] == "SGD"
                           and not p.values[1].get("momentum") else ())
              for p in TABLE]


@pytest.mark.parametrize("name, kwargs", TABLE_LOAD)
def test_state_dict_right_after_loading_equals_the_loaded_one(name, kwargs, rng):
    params = random_params(rng, [(6,), (2, 3), (1,)], np.float32)
    opt = make(name, params, kwargs)
    for t in range(5):
        opt.step(some_none(rng, random_grads(rng, params), t))
    twin = copies(params)
    opt2 = make(name, twin, kwargs)
    opt2.load_state_dict(via_pickle(opt.state_dict()))
    assert_same_training(opt, params, opt2, twin)


@pytest.mark.parametrize("name, kwargs", TABLE_SMALL)
def test_round_trip_with_empty_and_mixed_dtype_params(name, kwargs, rng):
    shapes = list(SMALL_SHAPES)
    params = random_params(rng, shapes, np.float32) + random_params(rng, [(4,)], np.float64)
    opt = make(name, params, kwargs)
    for _ in range(10):
        opt.step(random_grads(rng, params))
    resumed = copies(params)
    opt2 = make(name, resumed, kwargs)
    opt2.load_state_dict(via_npz(opt.state_dict()))
    for _ in range(10):
        grads = random_grads(rng, params)
        opt.step(grads)
        opt2.step(grads)
    assert_same_training(opt, params, opt2, resumed)


@pytest.mark.parametrize("name, kwargs", TABLE)
def test_layout_is_pytorchs(name, kwargs, rng):
    params = random_params(rng, [(3,), (2, 2), (4,)], np.float32)
    opt = make(name, [{"params": params[:1]}, {"params": params[1:], "lr": 0.5}], kwargs)
    for t in range(3):
        grads = random_grads(rng, params)
        if t == 0:
            grads[2] = None
        opt.step(grads)
    sd = opt.state_dict()
    assert set(sd) == {"state", "param_groups", "step_count"}
    assert sd["step_count"] == 3
    assert [g["params"] for g in sd["param_groups"]] == [[0], [1, 2]]
    for g, live in zip(sd["param_groups"], opt.param_groups):
        assert set(g) == set(live)
        assert all(g[k] == live[k] for k in g if k != "params")
    assert sd["param_groups"][1]["lr"] == 0.5
    assert sorted(sd["state"]) == [0, 1, 2]
    assert [sd["state"][i]["step"] for i in range(3)] == [3, 3, 2]
    for i, entry in sd["state"].items():
        assert type(entry["step"]) is int
        for k, v in entry.items():
            if k != "step":
                assert isinstance(v, np.ndarray) and v.dtype == np.float32
                assert v.shape == params[i].shape


def test_fresh_optimizer_round_trip(rng):
    params = random_params(rng, [(3,)], np.float64)
    opt = fastlr.Adam(params, lr=0.1)
    sd = opt.state_dict()
    assert sd["state"] == {} and sd["step_count"] == 0
    twin = copies(params)
    opt2 = fastlr.Adam(twin, lr=0.1)
    opt2.load_state_dict(via_pickle(sd))
    g = random_grads(rng, params)
    opt.step(g)
    opt2.step(g)
    assert_same_training(opt, params, opt2, twin)


def test_loading_copies_the_arrays_in(rng):
    params = random_params(rng, [(5,)], np.float64)
    opt = fastlr.Adam(params)
    opt.step(random_grads(rng, params))
    sd = via_pickle(opt.state_dict())
    opt2 = fastlr.Adam(copies(params))
    opt2.load_state_dict(sd)
    keep = opt2.state[0]["exp_avg"].copy()
    sd["state"][0]["exp_avg"][:] = 99.0
    assert_bitwise(opt2.state[0]["exp_avg"], keep, "loaded state after the dict was changed")


def test_read_only_state_arrays_load(rng):
    """Arrays loaded with np.load(mmap_mode='r') or marked read-only are accepted (copied)."""
    params = random_params(rng, [(5,)], np.float32)
    opt = fastlr.RMSprop(params, centered=True, momentum=0.5)
    opt.step(random_grads(rng, params))
    sd = via_pickle(opt.state_dict())
    for v in sd["state"][0].values():
        if isinstance(v, np.ndarray):
            v.flags.writeable = False
    twin = copies(params)
    opt2 = fastlr.RMSprop(twin, centered=True, momentum=0.5)
    opt2.load_state_dict(sd)
    g = random_grads(rng, params)
    opt.step(g)
    opt2.step(g)
    assert_same_training(opt, params, opt2, twin)


# ---------------------------------------------------------------------- rejected state dicts
def trained(name, kwargs, rng, dtype=np.float64, shapes=((4,), (2, 3))):
    params = random_params(rng, shapes, dtype)
    opt = make(name, params, kwargs)
    for _ in range(3):
        opt.step(random_grads(rng, params))
    return opt, params


def corrupt(sd, how):
    sd = via_pickle(sd)
    how(sd)
    return sd


def _set(d, key, value):
    d[key] = value


BAD_STATES = {
    "not-a-dict": lambda sd: [],
    "no-state": lambda sd: {"param_groups": sd["param_groups"]},
    "no-param-groups": lambda sd: {"state": sd["state"]},
    "extra-group": lambda sd: corrupt(sd, lambda s: s["param_groups"].append(
        dict(s["param_groups"][0], params=[7]))),
    "group-size": lambda sd: corrupt(sd, lambda s: s["param_groups"][0]["params"].pop()),
    "unknown-param-id": lambda sd: corrupt(sd, lambda s: _set(s["state"], 9, s["state"][0])),
    "wrong-shape": lambda sd: corrupt(sd, lambda s: _set(
        s["state"][0], "exp_avg", np.zeros(5))),
    "wrong-dtype": lambda sd: corrupt(sd, lambda s: _set(
        s["state"][1], "exp_avg_sq", s["state"][1]["exp_avg_sq"].astype(np.float32))),
    "missing-buffer": lambda sd: corrupt(sd, lambda s: s["state"][0].pop("exp_avg_sq")),
    "extra-buffer": lambda sd: corrupt(sd, lambda s: _set(
        s["state"][0], "momentum_buffer", np.zeros(4))),
    "negative-step": lambda sd: corrupt(sd, lambda s: _set(s["state"][0], "step", -1)),
    "fractional-step": lambda sd: corrupt(sd, lambda s: _set(s["state"][0], "step", 1.5)),
    "bad-hyper-parameter": lambda sd: corrupt(sd, lambda s: _set(
        s["param_groups"][0], "lr", -1.0)),
    "bad-betas": lambda sd: corrupt(sd, lambda s: _set(
        s["param_groups"][0], "betas", (0.9, 1.0))),
    "unknown-hyper-parameter": lambda sd: corrupt(sd, lambda s: _set(
        s["param_groups"][0], "momentum", 0.9)),
}


@pytest.mark.parametrize("how", list(BAD_STATES))
def test_rejected_state_changes_nothing(how, rng):
    opt, params = trained("Adam", dict(lr=1e-2), rng)
    source, _ = trained("Adam", dict(lr=1e-2), rng)
    bad = BAD_STATES[how](source.state_dict())
    snap = snapshot(opt, params)
    twin_params = copies(params)
    twin = make("Adam", twin_params, dict(lr=1e-2))
    twin.load_state_dict(via_pickle(opt.state_dict()))
    with pytest.raises((ValueError, TypeError)):
        opt.load_state_dict(bad)
    assert_unchanged(opt, params, snap)
    g = random_grads(rng, params)
    opt.step(g)
    twin.step(g)
    assert_same_training(twin, twin_params, opt, params)


WRONG_OPTIMIZER = [
    ("Adam", dict(), "RMSprop", dict()),
    ("Adam", dict(), "SGD", dict(momentum=0.9)),
    ("SGD", dict(momentum=0.9), "Adam", dict()),
    ("RMSprop", dict(momentum=0.9), "Adadelta", dict()),
    ("Adagrad", dict(), "Adadelta", dict()),
    ("Adadelta", dict(), "Adagrad", dict()),
    ("AdamW", dict(), "SGD", dict()),
]


@pytest.mark.parametrize("src, src_kw, dst, dst_kw", WRONG_OPTIMIZER,
                         ids=[f"{a}{b}-into-{c}{d}" for a, b, c, d in WRONG_OPTIMIZER])
def test_state_of_another_optimizer_is_rejected(src, src_kw, dst, dst_kw, rng):
    source, _ = trained(src, src_kw, rng)
    opt, params = trained(dst, dst_kw, rng)
    snap = snapshot(opt, params)
    with pytest.raises(ValueError):
        opt.load_state_dict(via_pickle(source.state_dict()))
    assert_unchanged(opt, params, snap)


@pytest.mark.parametrize("src_kw, dst_kw", [
    (dict(), dict(amsgrad=True)), (dict(amsgrad=True), dict()),
])
def test_loaded_groups_bring_their_options(src_kw, dst_kw, rng):
    """As in PyTorch, the loaded param groups replace the optimizer's hyper-parameters (here
    amsgrad), and training continues exactly as the source would."""
    params = random_params(rng, [(4,), (2, 3)], np.float64)
    source = fastlr.Adam(params, **src_kw)
    for _ in range(3):
        source.step(random_grads(rng, params))
    twin = copies(params)
    opt = fastlr.Adam(twin, **dst_kw)
    opt.step(random_grads(rng, twin))
    opt.load_state_dict(via_pickle(source.state_dict()))
    for a, b in zip(twin, params):
        a[...] = b                           # same values, in the optimizer's own arrays
    assert opt.param_groups[0]["amsgrad"] == source.param_groups[0]["amsgrad"]
    for _ in range(5):
        g = random_grads(rng, params)
        source.step(g)
        opt.step(g)
    assert_same_training(source, params, opt, twin)


@pytest.mark.parametrize("src_dtype, dst_dtype", [(np.float32, np.float64),
                                                  (np.float64, np.float32)])
def test_state_of_another_dtype_is_rejected(src_dtype, dst_dtype, rng):
    source, _ = trained("Adagrad", dict(), rng, dtype=src_dtype)
    opt, params = trained("Adagrad", dict(), rng, dtype=dst_dtype)
    snap = snapshot(opt, params)
    with pytest.raises(ValueError, match="dtype"):
        opt.load_state_dict(via_pickle(source.state_dict()))
    assert_unchanged(opt, params, snap)


def test_state_of_other_shapes_is_rejected(rng):
    source, _ = trained("SGD", dict(momentum=0.9), rng, shapes=((4,), (3, 2)))
    opt, params = trained("SGD", dict(momentum=0.9), rng, shapes=((4,), (2, 3)))
    snap = snapshot(opt, params)
    with pytest.raises(ValueError, match="shape"):
        opt.load_state_dict(via_pickle(source.state_dict()))
    assert_unchanged(opt, params, snap)
