"""The :class:`Schedule` base class, argument validation and array evaluation.

A schedule is compiled once, when it is built, into a node table (``fastlr._kernels._schedules.
Program``); calling it evaluates that table in compiled code.  Composites (join, warmup, products)
emit their children's nodes into the same table, so a composed schedule is still one compiled
pass over the step array.
"""

from __future__ import annotations

import math
import numbers
from typing import Any, Callable, Dict, List, Tuple, Union

import numpy as np

from fastlr._simd import best

_INT64 = np.dtype(np.int64)
_k = best("_schedules")  # the AVX2 build when the CPU has it (bit-identical results)

__all__ = ["Schedule", "Steps"]

INT64_MAX = 2**63 - 1
# Lengths, milestones and boundaries stay below 2**62 so that a sum of two of them (e.g. a cyclic
# period step_size_up + step_size_down) still fits in int64.
MAX_LENGTH = 2**62
# Composition depth limit: keeps the compiled evaluator's recursion shallow.
MAX_DEPTH = 64

# Node kinds of the compiled evaluator (must match the K_* enum in _schedules.pyx).
KIND = {
    "constant": 0, "step": 1, "multistep": 2, "exponential": 3, "linear": 4, "polynomial": 5,
    "cosine": 6, "cosine_restarts": 7, "one_cycle": 8, "cyclic": 9, "inverse_sqrt": 10,
    "warmup_stable_decay": 11, "join": 12, "product": 13, "scale": 14, "warmup": 15,
}
_NP = 8  # parameters per node

Steps = Union[int, np.integer, np.ndarray, List[int], Tuple[int, ...]]

# name -> factory, used to rebuild a schedule when unpickling (filled by _factories).
REBUILD: Dict[str, Callable[..., "Schedule"]] = {}


# ---------------------------------------------------------------------------------------------
# argument validation (shared by every factory: one policy for all siblings)

def _is_bool(value: Any) -> bool:
    return isinstance(value, (bool, np.bool_))


def check_real(name: str, value: Any, *, lo: float | None = None, hi: float | None = None,
               lo_open: bool = False, hi_open: bool = False) -> float:
    """``float(value)`` after checking it is a finite real number inside the given range."""
    if _is_bool(value) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__} {value!r}")
    x = float(value)
    if not math.isfinite(x):
        raise ValueError(f"{name} must be finite, got {x!r}")
    if lo is not None and (x < lo or (lo_open and x == lo)):
        raise ValueError(f"{name} must be {'>' if lo_open else '>='} {lo!r}, got {x!r}")
    if hi is not None and (x > hi or (hi_open and x == hi)):
        raise ValueError(f"{name} must be {'<' if hi_open else '<='} {hi!r}, got {x!r}")
    return x


def check_int(name: str, value: Any, *, lo: int = 1) -> int:
    """``int(value)`` after checking it is an integer (not a bool) in ``[lo, 2**62]``."""
    if _is_bool(value) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__} {value!r}")
    n = int(value)
    if n < lo:
        raise ValueError(f"{name} must be >= {lo}, got {n}")
    if n > MAX_LENGTH:
        raise ValueError(f"{name} must be <= 2**62, got {n}")
    return n


def check_choice(name: str, value: Any, choices: Tuple[str, ...]) -> str:
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}; got {value!r}")
    return value


def check_schedule(name: str, value: Any) -> "Schedule":
    if not isinstance(value, Schedule):
        raise TypeError(f"{name} must be a fastlr schedule, got {type(value).__name__}")
    return value


# ---------------------------------------------------------------------------------------------
# program builder

class Builder:
    """Collects nodes and tables; composites emit their children first."""

    def __init__(self) -> None:
        self.kinds: List[int] = []
        self.ip: List[List[int]] = []
        self.dp: List[List[float]] = []
        self.itab: List[int] = []
        self.dtab: List[float] = []

    def node(self, kind: str, ints: Tuple[int, ...] = (), reals: Tuple[float, ...] = ()) -> int:
        self.kinds.append(KIND[kind])
        self.ip.append(list(ints) + [0] * (_NP - len(ints)))
        self.dp.append([float(r) for r in reals] + [0.0] * (_NP - len(reals)))
        return len(self.kinds) - 1

    def ints(self, values: List[int]) -> int:
        off = len(self.itab)
        self.itab.extend(int(v) for v in values)
        return off

    def reals(self, values: List[float]) -> int:
        off = len(self.dtab)
        self.dtab.extend(float(v) for v in values)
        return off

    def program(self, root: int) -> Any:
        return _k.Program(np.array(self.kinds, np.int32), np.array(self.ip, np.int64),
                          np.array(self.dp, np.float64), np.array(self.itab, np.int64),
                          np.array(self.dtab, np.float64), root)


# ---------------------------------------------------------------------------------------------
# threads for the array kernel

def _num_threads() -> int:
    """The library-wide thread count (``fastlr.get_num_threads`` when it exists)."""
    import fastlr

    get = getattr(fastlr, "get_num_threads", None)
    if get is not None:
        return int(get())
    return int(_k.max_threads())


def _step_error(t: Any) -> TypeError:
    return TypeError(
        f"step must be an int or an integer array, got {type(t).__name__}"
        + (f" of dtype {t.dtype}" if isinstance(t, np.ndarray) else "")
    )


# ---------------------------------------------------------------------------------------------

class Schedule:
    """A learning-rate schedule: an immutable, vectorized function of the step count.

    ``s(t)`` takes a non-negative ``int`` (returns a Python ``float``) or an integer array of any
    shape (returns a float64 array of the same shape).  Build schedules with the factories of
    :mod:`fastlr.schedules` (``cosine``, ``one_cycle``, ``join``, ...); combine them with ``join``,
    ``warmup`` and products ``s1 * s2`` / ``c * s``.

    Examples
    --------
    >>> import numpy as np
    >>> from fastlr.schedules import cosine
    >>> s = cosine(0.1, T_max=100)
    >>> s(0), s(100), s(1000)
    (0.1, 0.0, 0.0)
    >>> s(np.array([0, 50, 100]))
    array([0.1 , 0.05, 0.  ])
    """

    __slots__ = ("_name", "_params", "_program", "_scalar", "_depth")
    # Make NumPy defer to our __rmul__ for ``np.float64(0.5) * s`` and ``array * s``.
    __array_ufunc__ = None

    def __init__(self, name: str, params: Dict[str, Any], children: Tuple["Schedule", ...] = ()):
        depth = 1 + max((c._depth for c in children), default=0)
        if depth > MAX_DEPTH:
            raise ValueError(f"schedule nests deeper than {MAX_DEPTH} levels")
        object.__setattr__(self, "_name", name)
        object.__setattr__(self, "_params", dict(params))
        object.__setattr__(self, "_depth", depth)
        builder = Builder()
        root = self._emit(builder)
        program = builder.program(root)
        object.__setattr__(self, "_program", program)
        object.__setattr__(self, "_scalar", program.scalar)

    # -- to be provided by each kind -----------------------------------------------------------
    def _emit(self, b: Builder) -> int:  # pragma: no cover - abstract
        raise NotImplementedError

    # -- evaluation ----------------------------------------------------------------------------
    def __call__(self, t: Steps) -> Union[float, np.ndarray]:
        """Learning rate at step ``t`` (an int, or an integer array of any shape)."""
        if type(t) is int and 0 <= t <= INT64_MAX:  # fast path: one C call, no allocation
            return self._scalar(t)
        if type(t) is np.ndarray and t.dtype == _INT64 and t.flags.c_contiguous:
            # fast path for the common int64 array: no conversions, one output allocation
            out = np.empty(t.shape, dtype=np.float64)
            bad = self._program.evaluate(t.reshape(-1), out.reshape(-1), _num_threads())
            if bad:
                raise ValueError(f"steps must be >= 0; got {bad} negative step(s), "
                                 f"the smallest is {int(t.min())}")
            return out
        return self._evaluate(t)

    def _evaluate(self, t: Any) -> Union[float, np.ndarray]:
        if _is_bool(t):
            raise TypeError("step must be an integer, not a bool")
        if isinstance(t, numbers.Integral):
            n = int(t)
            if n < 0:
                raise ValueError(f"step must be >= 0, got {n}")
            if n > INT64_MAX:
                raise ValueError(f"step must be < 2**63, got {n}")
            return self._scalar(n)
        if isinstance(t, (numbers.Number, str, bytes)):
            raise _step_error(t)
        arr = np.asarray(t)
        if arr.dtype.kind not in "iu":
            if arr.size == 0 and not isinstance(t, np.ndarray) and arr.dtype.kind == "f":
                arr = arr.astype(np.int64)  # [] or () -> empty int64 array
            else:
                raise _step_error(arr)
        if arr.dtype == np.uint64 and arr.size and int(arr.max()) > INT64_MAX:
            raise ValueError("steps must be < 2**63")
        steps = np.asarray(arr, dtype=np.int64, order="C").reshape(-1)
        out = np.empty(arr.shape, dtype=np.float64)
        bad = self._program.evaluate(steps, out.reshape(-1), _num_threads())
        if bad:
            raise ValueError(f"steps must be >= 0; got {bad} negative step(s), "
                             f"the smallest is {int(steps.min())}")
        return out

    # -- composition ---------------------------------------------------------------------------
    def __mul__(self, other: Any) -> "Schedule":
        from fastlr.schedules._factories import _product, _scale

        if isinstance(other, Schedule):
            return _product(self, other)
        if isinstance(other, numbers.Real) and not _is_bool(other):
            return _scale(other, self)
        return NotImplemented

    def __rmul__(self, other: Any) -> "Schedule":
        from fastlr.schedules._factories import _scale

        if isinstance(other, numbers.Real) and not _is_bool(other):
            return _scale(other, self)
        return NotImplemented

    # -- identity, immutability, pickling -------------------------------------------------------
    @property
    def name(self) -> str:
        """The factory that built this schedule (``"cosine"``, ``"join"``, ``"product"``, ...)."""
        return self._name

    @property
    def params(self) -> Dict[str, Any]:
        """The validated arguments of the factory call (a copy)."""
        return dict(self._params)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self._params.items())
        return f"{self._name}({args})"

    def __eq__(self, other: Any) -> bool:
        if not isinstance(other, Schedule):
            return NotImplemented
        return self._name == other._name and self._params == other._params

    def __hash__(self) -> int:
        return hash(repr(self))

    def __setattr__(self, key: str, value: Any) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable")

    def __delattr__(self, key: str) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable")

    def __reduce__(self) -> Tuple[Any, ...]:
        return (_rebuild, (self._name, self._params))

    def __copy__(self) -> "Schedule":
        return self

    def __deepcopy__(self, memo: Dict[int, Any]) -> "Schedule":
        return self


def _rebuild(name: str, params: Dict[str, Any]) -> Schedule:
    """Unpickle: call the factory again (which validates again)."""
    return REBUILD[name](**params)
