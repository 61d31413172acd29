from typing import Sequence

import numpy as np

BLOCK_ELEMENTS: int
MAX_READ_WRITE: int
MAX_STREAMS: int

def probe(n_read_only: int, n_read_write: int, arrays: Sequence[np.ndarray],
          n_threads: int = 1, scale: float = 1e-7) -> int: ...
