"""Drawing schedules with matplotlib (an optional dependency)."""

from __future__ import annotations

import numbers
from typing import Any, Optional, Sequence, Union

import numpy as np

from fastlr.schedules._base import Schedule

__all__ = ["plot"]


def _pyplot() -> Any:
    try:
        import matplotlib

        if "matplotlib.pyplot" not in __import__("sys").modules:
            matplotlib.use("Agg", force=False)  # headless unless the user chose a backend
        import matplotlib.pyplot as plt
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "fastlr.schedules.plot needs matplotlib: pip install matplotlib "
            "(or pip install 'fastlr[plot]')"
        ) from exc
    return plt


def plot(schedule_or_list: Union[Schedule, Sequence[Schedule]],
         steps: Union[int, Sequence[int], np.ndarray], ax: Optional[Any] = None,
         labels: Optional[Sequence[str]] = None) -> Any:
    """Draw one or several schedules against the step count.

    Parameters
    ----------
    schedule_or_list : Schedule or sequence of Schedule
    steps : int or integer array
        An int ``n`` draws steps ``0 .. n-1``; an array draws exactly those steps.
    ax : matplotlib Axes, optional
        Where to draw; a new figure is created when omitted.
    labels : sequence of str, optional
        Legend entries (default: each schedule's ``repr``, shortened).

    Returns
    -------
    matplotlib.axes.Axes

    Raises
    ------
    ImportError
        If matplotlib is not installed.

    Examples
    --------
    >>> from fastlr.schedules import cosine, plot
    >>> ax = plot([cosine(0.1, 100), cosine(0.1, 50)], 120)
    >>> len(ax.lines)
    2
    """
    schedules = ([schedule_or_list] if isinstance(schedule_or_list, Schedule)
                 else list(schedule_or_list))
    if not schedules or not all(isinstance(s, Schedule) for s in schedules):
        raise TypeError("schedule_or_list must be a schedule or a non-empty list of schedules")
    if isinstance(steps, numbers.Integral) and not isinstance(steps, (bool, np.bool_)):
        if steps < 1:
            raise ValueError(f"steps must be >= 1, got {steps}")
        t = np.arange(int(steps), dtype=np.int64)
    else:
        t = np.asarray(steps)
        if t.ndim != 1 or t.dtype.kind not in "iu":
            raise TypeError("steps must be an int or a 1-D integer array")
    if labels is None:
        labels = [_short(repr(s)) for s in schedules]
    elif len(labels) != len(schedules):
        raise ValueError(f"labels must have {len(schedules)} entries, got {len(labels)}")
    if ax is None:
        _, ax = _pyplot().subplots(figsize=(6, 3.5))
    else:
        _pyplot()  # clear error if matplotlib is missing even when ax was given
    for s, label in zip(schedules, labels):
        ax.plot(t, s(t), label=label)
    ax.set_xlabel("step")
    ax.set_ylabel("learning rate")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize="small")
    return ax


def _short(text: str, width: int = 70) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."
