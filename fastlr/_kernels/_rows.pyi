"""Type stub for the compiled sparse row kernels (``fastlr/_kernels/_rows.pyx``)."""
import numpy as np
import numpy.typing as npt

_Index = npt.NDArray[np.int32] | npt.NDArray[np.int64]
_Float = npt.NDArray[np.float32] | npt.NDArray[np.float64]
_Rows = npt.NDArray[np.int64]

ROWWISE: int

def plan_rows(indices: _Index, n_rows: int) -> tuple[int, _Rows | None, _Rows | None,
                                                      _Rows | None]: ...
def step_rows(kind: int, is_double: bool, ptrs: npt.NDArray[np.int64],
              tasks: list[tuple[int, int, int, _Rows, _Rows | None, _Rows | None, _Float,
                                float, float]],
              hp: tuple, flags: int, n_threads: int) -> None: ...
def rowwise_adagrad_dense(param: _Float, state_sum: _Float, grad: _Float, clr: float,
                          weight_decay: float = ..., eps: float = ..., maximize: bool = ...,
                          n_threads: int = ...) -> None: ...
