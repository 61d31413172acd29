from typing import Optional

import numpy as np

SGD: int
ADAM: int
RMSPROP: int
ADAGRAD: int
ADADELTA: int
MAXIMIZE: int
WEIGHT_DECAY: int
DECOUPLED: int
AMSGRAD: int
NESTEROV: int
CENTERED: int
MOMENTUM: int

def dense_step(kind: int, is_double: bool, ptrs: np.ndarray, blocks: np.ndarray,
               per_tensor: Optional[np.ndarray], hp: tuple, flags: int, n_threads: int,
               scalar0: float = ..., scalar1: float = ...) -> None: ...
def gather_grads(grads: list, index: list, params: list, ptrs: np.ndarray, kind: np.ndarray,
                 owned_lo: np.ndarray, owned_hi: np.ndarray) -> tuple[int, int]: ...
def overlaps_owned(a: np.ndarray, owned_lo: np.ndarray, owned_hi: np.ndarray) -> bool: ...
