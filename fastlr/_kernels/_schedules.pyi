"""Type stub for the compiled schedule evaluator ``fastlr._kernels._schedules``."""

from typing import Dict, Union

import numpy as np
import numpy.typing as npt

SERIAL_BELOW: int
NUM_KINDS: int

class Program:
    """A compiled schedule: node tables plus the root node (immutable)."""

    root: int
    n_nodes: int
    depth: int

    def __init__(
        self,
        kinds: npt.ArrayLike,
        ip: npt.ArrayLike,
        dp: npt.ArrayLike,
        itab: npt.ArrayLike,
        dtab: npt.ArrayLike,
        root: int,
    ) -> None: ...
    def scalar(self, t: int) -> float:
        """Value at one step ``t >= 0`` (the caller checks the sign)."""
    def evaluate(
        self,
        steps: npt.NDArray[np.int64],
        out: npt.NDArray[np.float64],
        num_threads: int = 1,
    ) -> int:
        """Fill ``out`` (same length as ``steps``); return the number of negative steps."""
    def tables(self) -> Dict[str, Union[np.ndarray, int]]: ...
    def __reduce__(self) -> tuple: ...

def max_threads() -> int:
    """OpenMP's default team size (1 without OpenMP)."""
