"""The optimizer base class: param groups, state, validation and multi-tensor dispatch.

Each optimizer step runs in two phases.  Phase 1 validates every gradient (dtype, shape,
aliasing, row indices) without writing anything; phase 2 updates parameters and state.  So a bad
gradient anywhere leaves every parameter and every state buffer untouched.

Parameters of one param group and one dtype form a *bucket*.  A bucket keeps a pointer table
(param, grad, up to three state buffers per tensor) and a block table prepared once, so a step is
one compiled call per bucket whatever the number of tensors.
"""
from __future__ import annotations

import math
import numbers
from typing import Any, ClassVar, Iterable, Sequence

import numpy as np

from fastlr._simd import best, dense as _dense
from fastlr.optim._rowgrad import RowGrad, plan_rows
from fastlr.schedules._plateau import effective_lr
from fastlr._threads import threads_for

#: Elements per work block of the multi-tensor kernels (a multiple of every SIMD width).
BLOCK_ELEMENTS = 16384

_FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
_row_kernels = best("_rows")
_STATE_COLUMNS = 3  # pointer-table columns 2, 3, 4


def _is_schedule(value: Any) -> bool:
    return callable(value) and not isinstance(value, (numbers.Number, np.ndarray))


def check_number(value: Any, name: str, low: float = 0.0, high: float = math.inf,
                 *, low_open: bool = False, high_open: bool = False,
                 schedule_ok: bool = False) -> None:
    """Raise ``ValueError``/``TypeError`` unless ``value`` is a finite real in the range.

    With ``schedule_ok`` a schedule (any callable of the step) is accepted too; its values are
    the user's responsibility, as in PyTorch's schedulers.
    """
    if schedule_ok and _is_schedule(value):
        return
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    v = float(value)
    if not math.isfinite(v):
        raise ValueError(f"Invalid {name}: {value} (must be finite)")
    bad_low = v <= low if low_open else v < low
    bad_high = v >= high if high_open else v > high
    if bad_low or bad_high:
        lo = "(" if low_open else "["
        hi = ")" if high_open else "]"
        raise ValueError(f"Invalid {name}: {value} (must be in {lo}{low}, {high}{hi})")


def check_flag(value: Any, name: str) -> None:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be a bool, got {type(value).__name__}")


def _check_param(p: Any, where: str) -> np.ndarray:
    if not isinstance(p, np.ndarray):
        raise TypeError(f"{where} must be a numpy.ndarray, got {type(p).__name__}")
    if p.dtype not in _FLOAT_DTYPES:
        raise TypeError(f"{where} has dtype {p.dtype}; fastlr optimizes float32 and float64 arrays")
    if not p.flags.c_contiguous:
        raise ValueError(f"{where} must be C-contiguous (use np.ascontiguousarray before training)")
    if not p.flags.writeable:
        raise ValueError(f"{where} is read-only; parameters are updated in place")
    if not p.flags.aligned:
        raise ValueError(f"{where} is not aligned")
    return p


def _extent(a: np.ndarray) -> tuple[int, int]:
    start = a.__array_interface__["data"][0]
    return start, start + a.nbytes


def _make_blocks(sizes: np.ndarray) -> np.ndarray:
    """(tensor, lo, hi) rows covering every tensor in BLOCK_ELEMENTS pieces."""
    counts = -(-sizes // BLOCK_ELEMENTS)
    tensor = np.repeat(np.arange(len(sizes), dtype=np.int64), counts)
    first = np.cumsum(counts) - counts
    lo = (np.arange(len(tensor), dtype=np.int64) - np.repeat(first, counts)) * BLOCK_ELEMENTS
    hi = np.minimum(lo + BLOCK_ELEMENTS, sizes[tensor])
    return np.ascontiguousarray(np.stack([tensor, lo, hi], axis=1), dtype=np.int64)


class ParamGroup(dict):
    """A param group: a plain dict of hyper-parameters that notes when it is edited.

    Edits between steps are allowed (as in PyTorch); the optimizer validates an edited group
    again before its next step instead of re-checking every group on every step.
    """

    edited = True

    def __setitem__(self, key, value):
        self.edited = True
        super().__setitem__(key, value)

    def __delitem__(self, key):
        self.edited = True
        super().__delitem__(key)

    def update(self, *args, **kwargs):
        self.edited = True
        super().update(*args, **kwargs)

    def setdefault(self, key, default=None):
        self.edited = True
        return super().setdefault(key, default)

    def pop(self, *args):
        self.edited = True
        return super().pop(*args)

    def popitem(self):
        self.edited = True
        return super().popitem()

    def clear(self):
        self.edited = True
        super().clear()

    def __ior__(self, other):
        self.edited = True
        return super().__ior__(other)


class _Bucket:
    """The tensors of one param group with one dtype, and their prepared tables."""

    def __init__(self, group_index: int, index: list[int], params: list[np.ndarray]):
        n = len(params)
        self.group_index = group_index
        self.index = list(index)
        self.params = params
        self.is_double = params[0].dtype == np.float64
        self.sizes = np.array([p.size for p in params], dtype=np.int64)
        self.shapes = [p.shape for p in params]
        self.n_elements = int(self.sizes.sum())
        self.blocks = _make_blocks(self.sizes)
        self.ptrs = np.zeros((n, 5), dtype=np.int64)
        self.ptrs[:, 0] = [_extent(p)[0] for p in params]
        self.kind = np.zeros(n, dtype=np.uint8)
        self.per_tensor = np.zeros((n, 2), dtype=np.float64)
        # Step counts: one int while every tensor has stepped together, else an array.
        self.uniform_step: int | None = 0
        self._steps = np.zeros(n, dtype=np.int64)
        self.spec: tuple | None = None       # state layout the buffers were made for
        self.fresh = np.zeros(n, dtype=bool)   # a state buffer was created for this step
        self.ready = False                   # every tensor has state buffers for `spec`

    @property
    def steps(self) -> np.ndarray:
        """Per-tensor step counts (a fresh array when they are uniform)."""
        if self.uniform_step is not None:
            return np.full(len(self.params), self.uniform_step, dtype=np.int64)
        return self._steps

    def set_steps(self, steps: np.ndarray) -> None:
        steps = np.asarray(steps, dtype=np.int64)
        if steps.size and (steps == steps[0]).all():
            self.uniform_step = int(steps[0])
        else:
            self.uniform_step = None
            self._steps = steps.copy()


class Optimizer:
    """Base class of fastlr's optimizers (PyTorch's ``torch.optim.Optimizer`` for NumPy).

    Subclasses set ``_kind`` (the kernel) and implement ``_check_group``, ``_state_spec``,
    ``_hyper`` and ``_step_scalars``.
    """

    _kind: ClassVar[int]
    #: the kind for ``fastlr._kernels._rows.step_rows`` when it is not ``_kind``
    _row_kind: ClassVar[int | None] = None
    #: hyper-parameters that may be given as a schedule (a callable of the update count)
    _schedulable: ClassVar[tuple[str, ...]] = ("lr",)

    def __init__(self, params: Iterable[Any], defaults: dict[str, Any]):
        self.defaults = dict(defaults)
        self.param_groups: list[dict[str, Any]] = []
        self.state: dict[int, dict[str, np.ndarray]] = {}
        #: completed calls of ``step``; the k-th update evaluates schedules at k
        self.step_count = 0
        self._params: list[np.ndarray] = []
        self._buckets: list[_Bucket] = []
        self._group_params: list[list] = []
        self._owned_lo = np.zeros(0, dtype=np.int64)
        self._owned_hi = np.zeros(0, dtype=np.int64)
        if isinstance(params, np.ndarray):
            raise TypeError("params must be a list of arrays or of param-group dicts, "
                            "not a single array (wrap it in a list)")
        groups = list(params)
        if not groups:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for g in groups:
            self.add_param_group(g)

    # ------------------------------------------------------------------ groups and state
    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a group of parameters with its own hyper-parameters (defaults fill the rest)."""
        if not isinstance(param_group, dict):
            raise TypeError(f"param group must be a dict, got {type(param_group).__name__}")
        group = ParamGroup(param_group)
        params = group.get("params")
        if isinstance(params, np.ndarray):
            params = [params]
        elif isinstance(params, (set, frozenset)):
            raise TypeError("params of a group must be an ordered sequence, not a set")
        try:
            params = list(params)
        except TypeError:
            raise TypeError("a param group needs 'params': a list of arrays") from None
        if not params:
            raise ValueError("a param group has an empty parameter list")
        start = len(self._params)
        for i, p in enumerate(params):
            _check_param(p, f"parameter {start + i}")
        group["params"] = params
        unknown = set(group) - set(self.defaults) - {"params", "lr_scale", "lr_min"}
        if unknown:
            raise TypeError(f"unknown hyper-parameter(s) for {type(self).__name__}: "
                            f"{sorted(unknown)}")
        for key, value in self.defaults.items():
            group.setdefault(key, value)
        self._check_group(group)
        group.edited = False
        self._check_overlap(self._params + params)
        self._params.extend(params)
        self.param_groups.append(group)
        self._group_params.append(group["params"])
        gi = len(self.param_groups) - 1
        for dtype in _FLOAT_DTYPES:
            sel = [i for i, p in enumerate(params) if p.dtype == dtype]
            if sel:
                self._buckets.append(
                    _Bucket(gi, [start + i for i in sel], [params[i] for i in sel]))
        self._refresh_owned()

    @staticmethod
    def _check_overlap(params: Sequence[np.ndarray]) -> None:
        spans = sorted((*_extent(p), i) for i, p in enumerate(params) if p.nbytes)
        for (lo0, hi0, i0), (lo1, hi1, i1) in zip(spans, spans[1:]):
            if lo1 < hi0:
                raise ValueError(f"parameters {min(i0, i1)} and {max(i0, i1)} share memory "
                                 "(the same array given twice, or overlapping views)")

    def _refresh_owned(self) -> None:
        arrays = list(self._params)
        for st in self.state.values():
            arrays.extend(v for v in st.values() if isinstance(v, np.ndarray))
        spans = sorted(_extent(a) for a in arrays if a.nbytes)
        self._owned_lo = np.array([s[0] for s in spans], dtype=np.int64)
        self._owned_hi = np.array([s[1] for s in spans], dtype=np.int64)

    def _ensure_state(self, b: _Bucket, j: int, spec: tuple) -> None:
        """Allocate the missing state buffers of tensor ``j`` of bucket ``b``."""
        i = int(b.index[j])
        st = self.state.setdefault(i, {})
        p = b.params[j]
        for col, entry in enumerate(spec):
            if entry is None:
                b.ptrs[j, 2 + col] = 0
                continue
            name, init = entry
            buf = st.get(name)
            if buf is None:
                shape = self._state_shape(p)
                buf = np.full(shape, init, p.dtype) if init else np.zeros(shape, p.dtype)
                st[name] = buf
                b.fresh[j] = True
            b.ptrs[j, 2 + col] = _extent(buf)[0]

    def _prepare_state(self, b: _Bucket, spec: tuple, which: np.ndarray | None) -> bool:
        """Make state for the tensors in ``which`` (all when None) match ``spec``."""
        changed = False
        if spec != b.spec:
            for j in range(len(b.params)):
                if int(b.index[j]) in self.state:
                    self._ensure_state(b, j, spec)
                    changed = True
            b.spec = spec
        todo = range(len(b.params)) if which is None else which
        for j in todo:
            if int(b.index[j]) not in self.state:
                self._ensure_state(b, j, spec)
                changed = True
        b.ready = all(int(i) in self.state for i in b.index)
        return changed

    # ------------------------------------------------------------------ per-step values
    def _value(self, group: dict[str, Any], key: str) -> Any:
        v = group[key]
        if type(v) is float:
            return v
        if _is_schedule(v):
            return float(v(self.step_count))
        return v

    def _lr(self, group: dict[str, Any]) -> float:
        return effective_lr(group, self.step_count)

    # ------------------------------------------------------------------ the step
    def step(self, grads: Sequence[Any]) -> None:
        """Update every parameter in place from ``grads`` (aligned with the parameters).

        An entry may be ``None`` (that parameter is skipped this step), a dense array of the
        parameter's shape and dtype, or, for a 2-D parameter, a :class:`fastlr.RowGrad` or a
        ``scipy.sparse`` matrix.  Gradients are never modified.
        """
        if not isinstance(grads, list):
            if isinstance(grads, np.ndarray) or not isinstance(grads, Sequence):
                raise TypeError("grads must be a list aligned with the parameters")
            grads = list(grads)
        if len(grads) != len(self._params):
            raise ValueError(f"expected {len(self._params)} gradients (one per parameter, None "
                             f"to skip), got {len(grads)}")
        # Phase 1: validate everything, write nothing the user owns.
        for gi, group in enumerate(self.param_groups):
            if group.edited:                      # hyper-parameters changed between steps
                if group.get("params") is not self._group_params[gi]:
                    raise ValueError("the params of a param group cannot be replaced; "
                                     "use add_param_group to add parameters")
                self._check_group(group)
                group.edited = False
        plans = []
        shared: dict = {}                         # row plans by index array, for this step
        for b in self._buckets:
            extra: list = []
            n_none, n_other = _dense.gather_grads(
                grads, b.index, b.params, b.ptrs, b.kind, self._owned_lo, self._owned_hi)
            if n_other:
                extra = self._convert_other(grads, b, shared)
            plans.append((b, n_none, extra))
        # Phase 2: apply.
        for b, n_none, extra in plans:
            self._apply_bucket(b, n_none, extra)
        self.step_count += 1

    def _convert_other(self, grads: list, b: _Bucket, shared: dict) -> list:
        """Handle gradients that are not C-contiguous dense arrays.

        Returns ``(j, plan, copy)`` per tensor ``j`` of the bucket: ``plan_rows``'s ``(rows,
        starts, order, values)`` for a row gradient, or the contiguous copy of a dense
        gradient (kept alive for this step).
        """
        out = []
        kinds = b.kind
        for j, k in enumerate(kinds.tolist()):
            if k != 2:
                continue
            i = b.index[j]
            g, p = grads[i], b.params[j]
            if type(g) is RowGrad:               # the common case first
                plan = plan_rows(g, p, shared)
            elif isinstance(g, (np.ndarray, np.generic)):
                out.append((j, None, self._contiguous_grad(g, p, i, b, j)))
                continue
            else:
                plan = plan_rows(g, p, shared)
            if _dense.overlaps_owned(plan[3], self._owned_lo, self._owned_hi):
                # The kernel reads the values while writing the table and its state.
                plan = plan[:3] + (plan[3].copy(),)
            out.append((j, plan, None))
            kinds[j] = 3
        return out

    def _contiguous_grad(self, g: Any, p: np.ndarray, i: int, b: _Bucket, j: int) -> np.ndarray:
        """A contiguous copy of dense gradient ``g`` (right dtype and shape, not contiguous)
        recorded as tensor ``j``'s gradient; a NumPy scalar is checked as a 0-d array."""
        if isinstance(g, np.generic):
            if g.dtype != p.dtype:
                raise TypeError(f"grads[{i}] has dtype {g.dtype}, but its parameter has "
                                f"dtype {p.dtype}")
            if p.shape != ():
                raise ValueError(f"grads[{i}] has shape (), but its parameter has shape "
                                 f"{p.shape}")
        g = np.ascontiguousarray(g)
        b.ptrs[j, 1] = _extent(g)[0]
        b.kind[j] = 1
        return g

    def _apply_bucket(self, b: _Bucket, n_none: int, rows: list) -> None:
        group = self.param_groups[b.group_index]
        lr = self._lr(group)
        spec = self._state_spec(group)
        flags, hp = self._hyper(group, lr)
        fast = n_none == 0 and b.uniform_step is not None and all(r is None for _, r, _ in rows)
        if fast and (not b.ready or spec != b.spec):
            if self._prepare_state(b, spec, None):
                self._refresh_owned()
            fast = not b.fresh.any() or b.fresh.all()
        if fast:
            # Every tensor steps together: one compiled call for the bucket.
            b.uniform_step += 1
            s0, s1 = self._step_scalars(group, lr, b.uniform_step, bool(b.fresh[0]))
            _dense.dense_step(self._kind, b.is_double, b.ptrs, b.blocks, None, hp, flags,
                              threads_for(b.n_elements), s0, s1)
            if b.fresh[0]:
                b.fresh[:] = False
            return
        # General path: some tensors skip this step (None) or take row gradients.
        kinds = b.kind.tolist()
        active = [j for j, k in enumerate(kinds) if k]
        if not active:
            return
        if (not b.ready or spec != b.spec) and self._prepare_state(b, spec, active):
            self._refresh_owned()
        if b.uniform_step is not None and len(active) == len(kinds):
            b.uniform_step += 1
            steps = [b.uniform_step] * len(kinds)
        else:
            arr = b.steps.copy()
            arr[active] += 1
            b.set_steps(arr)
            steps = arr.tolist()
        fresh = b.fresh.tolist()
        dense = [j for j in active if kinds[j] == 1]
        if dense:
            for j in dense:
                b.per_tensor[j] = self._step_scalars(group, lr, steps[j], fresh[j])
            if len(dense) == len(kinds):
                ptrs, blocks, per_tensor, n_el = b.ptrs, b.blocks, b.per_tensor, b.n_elements
            else:
                sizes = b.sizes[dense]
                ptrs, blocks = np.ascontiguousarray(b.ptrs[dense]), _make_blocks(sizes)
                per_tensor, n_el = np.ascontiguousarray(b.per_tensor[dense]), int(sizes.sum())
            _dense.dense_step(self._kind, b.is_double, ptrs, blocks, per_tensor, hp, flags,
                              threads_for(n_el))
        self._row_steps(b, [(j, plan, steps[j], fresh[j]) for j, plan, _ in rows
                            if plan is not None], group, lr, flags, hp)
        if any(fresh):
            b.fresh[:] = False

    def _row_steps(self, b: _Bucket, todo: list, group: dict[str, Any], lr: float,
                   flags: int, hp: tuple) -> None:
        """Tensors of bucket ``b`` step on the rows of their plans: ``todo`` holds ``(j, plan,
        step, fresh)`` per tensor, and all of them go to one compiled call.

        The kernel, flags, hyper-parameters and per-tensor scalars are the dense step's, so a
        row step is the dense update applied to the touched rows (see ``fastlr.optim._rows``).
        """
        if not todo:
            return
        tasks = []
        n_elements = 0
        scalars = None
        shapes = b.shapes
        for j, (rows, starts, order, values), step, fresh in todo:
            if scalars is None or (step, fresh) != scalars[0]:
                scalars = (step, fresh), self._step_scalars(group, lr, step, fresh)
            n_rows, n_cols = shapes[j]
            n_elements += rows.shape[0] * n_cols
            tasks.append((j, n_rows, n_cols, rows, starts, order, values, *scalars[1]))
        kind = self._kind if self._row_kind is None else self._row_kind
        _row_kernels.step_rows(kind, b.is_double, b.ptrs, tasks, hp, flags,
                               threads_for(n_elements))

    # ------------------------------------------------------------------ subclass hooks
    def _check_group(self, group: dict[str, Any]) -> None:
        raise NotImplementedError

    def _state_spec(self, group: dict[str, Any]) -> tuple:
        """Three entries (state name, initial value) or None: pointer-table columns 2..4."""
        raise NotImplementedError

    def _hyper(self, group: dict[str, Any], lr: float) -> tuple[int, tuple[float, ...]]:
        """The kernel's flags and hyper-parameters for this step."""
        raise NotImplementedError

    def _step_scalars(self, group: dict[str, Any], lr: float, step: int,
                      fresh: bool) -> tuple[float, float]:
        """Per-tensor scalars for a tensor at ``step`` (after the increment); ``fresh``: its
        state buffers were created for this step.
        """
        return 0.0, 0.0

    def _state_shape(self, p: np.ndarray) -> tuple[int, ...]:
        """Shape of the state buffers of parameter ``p`` (``p``'s own unless overridden)."""
        return p.shape

    # ------------------------------------------------------------------ state dict
    def state_dict(self) -> dict[str, Any]:
        """PyTorch's layout: ``{"state": {i: {...}}, "param_groups": [...]}`` plus ``step_count``.

        State arrays are the live buffers (as in PyTorch); copy them to keep a snapshot.
        """
        steps = {}
        for b in self._buckets:
            for j, i in enumerate(b.index):
                steps[int(i)] = int(b.steps[j])
        state = {}
        for i in sorted(self.state):
            entry: dict[str, Any] = {"step": steps[i]}
            entry.update(self.state[i])
            state[i] = entry
        groups = []
        start = 0
        for g in self.param_groups:
            d = {k: v for k, v in g.items() if k != "params"}
            d["params"] = list(range(start, start + len(g["params"])))
            start += len(g["params"])
            groups.append(d)
        return {"state": state, "param_groups": groups, "step_count": self.step_count}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore a state from :meth:`state_dict` (copied in; training resumes bit for bit)."""
        if not isinstance(state_dict, dict) or "param_groups" not in state_dict \
                or "state" not in state_dict:
            raise ValueError("state_dict must be a dict with 'state' and 'param_groups'")
        groups = state_dict["param_groups"]
        if len(groups) != len(self.param_groups):
            raise ValueError(f"loaded state dict has {len(groups)} parameter groups, "
                             f"the optimizer has {len(self.param_groups)}")
        for saved, g in zip(groups, self.param_groups):
            if len(saved["params"]) != len(g["params"]):
                raise ValueError("loaded state dict contains a parameter group that doesn't "
                                 "match the size of optimizer's group")
            unknown = set(saved) - set(self.defaults) - {"params", "lr_scale", "lr_min"}
            if unknown:
                raise ValueError(f"loaded state dict is not from {type(self).__name__}: "
                                 f"unknown hyper-parameters {sorted(unknown)}")
        new_groups = []
        for saved, g in zip(groups, self.param_groups):
            ng = dict(g)
            ng.update({k: v for k, v in saved.items() if k != "params"})
            self._check_group(ng)
            new_groups.append(ng)
        # Map saved ids (in order) to our flat indices.
        id_map = {}
        start = 0
        for saved, g in zip(groups, self.param_groups):
            for pos, sid in enumerate(saved["params"]):
                id_map[sid] = start + pos
            start += len(g["params"])
        where = {}
        for b in self._buckets:
            for j, i in enumerate(b.index):
                where[int(i)] = (b, j)
        new_state: dict[int, dict[str, np.ndarray]] = {}
        new_steps: dict[int, int] = {}
        for sid, entry in state_dict["state"].items():
            if sid not in id_map:
                raise ValueError(f"loaded state refers to unknown parameter {sid}")
            i = id_map[sid]
            b, j = where[i]
            spec = self._state_spec(new_groups[b.group_index])
            names = {e[0] for e in spec if e is not None}
            arrays = {k: v for k, v in entry.items() if k != "step" and v is not None}
            if set(arrays) != names:
                raise ValueError(f"state of parameter {sid} has buffers {sorted(arrays)}, "
                                 f"{type(self).__name__} expects {sorted(names)}")
            p = self._params[i]
            new_state.setdefault(i, {})
            for k, v in arrays.items():
                v = np.asarray(v)
                if v.shape != self._state_shape(p) or v.dtype != p.dtype:
                    raise ValueError(f"state {k!r} of parameter {sid} has shape {v.shape} and "
                                     f"dtype {v.dtype}; expected {self._state_shape(p)}, "
                                     f"{p.dtype}")
                new_state.setdefault(i, {})[k] = v
            step = entry.get("step", 1 if arrays else 0)
            step = float(np.asarray(step))
            if step != int(step) or step < 0:
                raise ValueError(f"state of parameter {sid} has an invalid step {step}")
            new_steps[i] = int(step)
        step_count = int(state_dict.get("step_count", max(new_steps.values(), default=0)))
        # Everything checked: commit.
        for gi, (g, ng) in enumerate(zip(self.param_groups, new_groups)):
            g.clear()
            g.update(ng)
            g.edited = False
        self.state = {i: {k: np.array(v, copy=True, order="C") for k, v in st.items()}
                      for i, st in new_state.items()}
        for b in self._buckets:
            b.spec = None
            b.set_steps(np.array([new_steps.get(int(i), 0) for i in b.index], dtype=np.int64))
            b.ptrs[:, 2:] = 0
            b.fresh[:] = False          # loaded buffers are not new; missing ones will be
            spec = self._state_spec(self.param_groups[b.group_index])
            for j, i in enumerate(b.index):
                if int(i) in self.state:
                    self._ensure_state(b, j, spec)
            b.spec = spec
            b.ready = all(int(i) in self.state for i in b.index)
        self.step_count = step_count
        self._refresh_owned()

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for i, g in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            for k in sorted(g):
                if k != "params":
                    lines.append(f"    {k}: {g[k]}")
        lines.append(")")
        return "\n".join(lines)



