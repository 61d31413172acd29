"""A minimal text progress bar for long training runs (no dependency)."""
from __future__ import annotations

import sys
import time
from typing import Optional, TextIO


class Progress:
    """Redraws one status line on a terminal; silent when disabled.

    Parameters
    ----------
    total : int
        Number of units (e.g. epochs).
    label : str
        Text in front of the bar.
    enabled : bool or None
        None: only when ``stream`` is a terminal.
    stream : file, default sys.stderr
    """

    def __init__(self, total: int, label: str = "", enabled: Optional[bool] = None,
                 stream: Optional[TextIO] = None, width: int = 24) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = bool(self.stream.isatty()) if enabled is None else enabled
        self.total = max(1, total)
        self.label = label
        self.width = width
        self.start = time.perf_counter()
        self.done = 0

    def update(self, done: int, info: str = "") -> None:
        """Show ``done`` of ``total`` units and a short status text."""
        self.done = done
        if not self.enabled:
            return
        frac = min(1.0, done / self.total)
        filled = int(round(frac * self.width))
        elapsed = time.perf_counter() - self.start
        eta = elapsed / frac - elapsed if frac > 0 else float("nan")
        bar = "#" * filled + "." * (self.width - filled)
        self.stream.write(f"\r{self.label} [{bar}] {done}/{self.total} {elapsed:5.1f}s "
                          f"eta {eta:5.1f}s {info}\033[K")
        self.stream.flush()

    def close(self) -> None:
        """Finish the line."""
        if self.enabled:
            self.stream.write("\r\033[K")
            self.stream.flush()
