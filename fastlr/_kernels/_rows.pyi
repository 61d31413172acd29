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
def coalesce(indices: _Index, values: _Float, n_rows: int,
             n_threads: int = ...) -> tuple[_Rows, _Float]: ...
def sgd_rows(param: _Float, momentum_buffer: _Float, rows: _Rows, values: _Float, lr: float,
             weight_decay: float = ..., momentum: float = ..., dampening: float = ...,
             nesterov: bool = ..., maximize: bool = ..., first_step: bool = ...,
             n_threads: int = ...) -> None: ...
def adam_rows(param: _Float, exp_avg: _Float, exp_avg_sq: _Float, max_exp_avg_sq: _Float,
              rows: _Rows, values: _Float, beta1: float, beta2: float, eps: float,
              neg_step_size: float, bias_correction2_sqrt: float, weight_decay: float = ...,
              decay: float = ..., decoupled: bool = ..., amsgrad: bool = ...,
              maximize: bool = ..., n_threads: int = ...) -> None: ...
def adagrad_rows(param: _Float, state_sum: _Float, rows: _Rows, values: _Float, clr: float,
                 weight_decay: float = ..., eps: float = ..., maximize: bool = ...,
                 n_threads: int = ...) -> None: ...
def rmsprop_rows(param: _Float, square_avg: _Float, grad_avg: _Float, momentum_buffer: _Float,
                 rows: _Rows, values: _Float, lr: float, alpha: float = ..., eps: float = ...,
                 weight_decay: float = ..., momentum: float = ..., centered: bool = ...,
                 maximize: bool = ..., n_threads: int = ...) -> None: ...
def adadelta_rows(param: _Float, square_avg: _Float, acc_delta: _Float, rows: _Rows,
                  values: _Float, lr: float, rho: float = ..., eps: float = ...,
                  weight_decay: float = ..., maximize: bool = ..., n_threads: int = ...) -> None: ...
def rowwise_adagrad_rows(param: _Float, state_sum: _Float, rows: _Rows, values: _Float,
                         clr: float, weight_decay: float = ..., eps: float = ...,
                         maximize: bool = ..., n_threads: int = ...) -> None: ...
def rowwise_adagrad_dense(param: _Float, state_sum: _Float, grad: _Float, clr: float,
                          weight_decay: float = ..., eps: float = ..., maximize: bool = ...,
                          n_threads: int = ...) -> None: ...
