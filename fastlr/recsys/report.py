"""Tables, summaries, ``results.json`` and PNG plots of the recommender benchmark."""
from __future__ import annotations

import json
import math
import os
import platform
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Sequence

import numpy as np

__all__ = ["hardware_line", "mean_std", "format_table", "write_json", "plot_all", "plot_scale",
           "format_scale_table"]


def hardware_line() -> str:
    """CPU model, logical cores, memory, OS, Python, NumPy and fastlr versions on one line."""
    import fastlr

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = ""
    try:
        pages, size = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
        mem = f", {pages * size / 2**30:.0f} GiB RAM"
    except (ValueError, OSError, AttributeError):
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    omp = ""
    if hasattr(fastlr, "openmp_enabled"):
        omp = f", OpenMP {'on' if fastlr.openmp_enabled() else 'off'}"
    return (f"{cpu}, {cores} logical cores{mem}; {platform.system()} {platform.release()}; "
            f"Python {platform.python_version()}, NumPy {np.__version__}, fastlr {fastlr.__version__}{omp}")


def mean_std(values: Iterable[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for a single value)."""
    arr = np.asarray(list(values), dtype=np.float64)
    if arr.size == 0:
        return float("nan"), float("nan")
    return float(arr.mean()), float(arr.std(ddof=1)) if arr.size > 1 else 0.0


def _cell(values: Sequence[float], digits: int) -> str:
    mean, std = mean_std(values)
    if math.isnan(mean):
        return "-"
    if len(values) > 1:
        return f"{mean:.{digits}f}±{std:.{digits}f}"
    return f"{mean:.{digits}f}"


def format_table(rows: List[Dict[str, Any]], markdown: bool = False) -> str:
    """Render result rows (one per configuration, metrics as per-seed lists) as an aligned table.

    Each row has ``optimizer, schedule, backend, epochs, wall, opt_time, ips`` and metric lists, plus an
    optional ``speedup`` float.
    """
    header = ["optimizer", "schedule", "backend", "epochs", "wall s", "opt s", "opt %", "inter/s",
              "P@10", "R@10", "NDCG@10", "HR@10", "cov@10", "nov@10", "opt speed-up"]
    body = []
    for r in rows:
        speed = r.get("speedup")
        body.append([
            r["optimizer"], r["schedule"], r["backend"], _cell(r["epochs"], 0), _cell(r["wall"], 1),
            _cell(r["opt_time"], 2), _cell([100 * s for s in r["opt_share"]], 0) if r["opt_share"] else "-",
            _cell(r["ips"], 0) if r["ips"] else "-",
            _cell(r["precision"], 3), _cell(r["recall"], 3), _cell(r["ndcg"], 3), _cell(r["hit"], 3),
            _cell(r["coverage"], 3), _cell(r["novelty"], 2),
            f"{speed:.1f}x" if speed is not None and not math.isnan(speed) else "",
        ])
    if markdown:
        lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] * len(header)) + "|"]
        lines += ["| " + " | ".join(row) + " |" for row in body]
        return "\n".join(lines)
    widths = [max(len(str(x)) for x in col) for col in zip(header, *body)]
    fmt = lambda row: "  ".join(str(x).rjust(w) if i >= 3 else str(x).ljust(w)  # noqa: E731
                                for i, (x, w) in enumerate(zip(row, widths)))
    return "\n".join([fmt(header), "  ".join("-" * w for w in widths)] + [fmt(row) for row in body])


def format_scale_table(rows: List[Dict[str, Any]], markdown: bool = False) -> str:
    """Render ``--scale`` results: size, users, items, time, interactions/s, optimizer share, memory."""
    header = ["interactions", "users", "items", "generate s", "train s", "inter/s", "opt %",
              "peak RSS MiB", "vs smallest"]
    base = rows[0]["interactions_per_s"] if rows else float("nan")
    body = [[f"{r['n_interactions']:,}", f"{r['n_users']:,}", f"{r['n_items']:,}",
             f"{r['generate_s']:.1f}", f"{r['train_s']:.1f}", f"{r['interactions_per_s']:,.0f}",
             f"{100 * r['optimizer_share']:.0f}", f"{r['peak_rss_mib']:,.0f}",
             f"{r['interactions_per_s'] / base:.2f}x"] for r in rows]
    if markdown:
        lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---:"] * len(header)) + "|"]
        return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in body])
    widths = [max(len(x) for x in col) for col in zip(header, *body)]
    return "\n".join("  ".join(x.rjust(w) for x, w in zip(row, widths))
                     for row in [header, ["-" * w for w in widths]] + body)


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None  # JSON has no NaN/inf
    return obj


def write_json(path: Path, payload: Dict[str, Any]) -> None:
    """Write ``payload`` as indented JSON (NumPy values converted, NaN as null)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(_jsonable(payload), indent=1) + "\n", encoding="utf-8")


def _pyplot():
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    return plt


def plot_all(runs: List[Dict[str, Any]], out: Path) -> List[str]:
    """Validation NDCG per epoch, learning-rate curves and the time split per epoch, as PNG files.

    Parameters
    ----------
    runs : list of dict
        ``TrainResult.to_dict()`` outputs plus a ``label`` key; only the first seed of each label is drawn.

    Returns
    -------
    list of str
        The file names written (empty when matplotlib is missing).
    """
    plt = _pyplot()
    if plt is None:
        return []
    out.mkdir(parents=True, exist_ok=True)
    first: Dict[str, Dict[str, Any]] = {}
    for run in runs:
        first.setdefault(run["label"], run)
    written = []

    fig, ax = plt.subplots(figsize=(8, 5))
    ax.set_prop_cycle(color=plt.get_cmap("tab20").colors)
    for label, run in first.items():
        if run["config"]["backend"] != "fastlr":
            continue
        epochs = [h["epoch"] for h in run["history"] if h.get("val_ndcg") is not None]
        values = [h["val_ndcg"] for h in run["history"] if h.get("val_ndcg") is not None]
        ax.plot(epochs, values, marker=".", label=label)
    ax.set_xlabel("epoch")
    ax.set_ylabel("validation NDCG@10")
    ax.set_title("Validation NDCG@10 per epoch")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(out / "val_ndcg.png", dpi=110)
    plt.close(fig)
    written.append("val_ndcg.png")

    fig, ax = plt.subplots(figsize=(8, 5))
    seen_schedules = set()
    for label, run in first.items():
        # normalised, the curves of one schedule coincide whatever the optimizer: draw each once
        if run["config"]["backend"] != "fastlr" or not run["lr_curve"] or \
                run["config"]["schedule"] in seen_schedules:
            continue
        seen_schedules.add(run["config"]["schedule"])
        curve = np.asarray(run["lr_curve"], dtype=np.float64)
        lr0 = curve[0] if curve[0] > 0 else 1.0
        steps = np.arange(len(curve)) / run["steps_per_epoch"]
        ax.plot(steps, curve / max(lr0, curve.max()), label=label)
    ax.set_xlabel("epoch")
    ax.set_ylabel("learning rate / peak learning rate")
    ax.set_title("Learning-rate curves used (per optimizer step)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(out / "lr_curves.png", dpi=110)
    plt.close(fig)
    written.append("lr_curves.png")

    labels, parts = [], {"sampling": [], "forward_backward": [], "optimizer": []}
    for label, run in first.items():
        n = max(1, len(run["history"]))
        labels.append(f"{label}")
        for key in parts:
            parts[key].append(1e3 * sum(h[key] for h in run["history"]) / n)
    fig, ax = plt.subplots(figsize=(9, 0.35 * len(labels) + 1.5))
    left = np.zeros(len(labels))
    for key, color in zip(parts, ("#8c8c8c", "#4c72b0", "#dd8452")):
        ax.barh(labels, parts[key], left=left, color=color, label=key.replace("_", "/"))
        left += np.asarray(parts[key])
    ax.invert_yaxis()
    ax.set_xlabel("ms per epoch (mean over epochs, first seed)")
    ax.set_title("Time split per epoch: sampling, forward/backward, optimizer step")
    ax.legend(fontsize=8)
    ax.tick_params(axis="y", labelsize=7)
    fig.tight_layout()
    fig.savefig(out / "time_split.png", dpi=110)
    plt.close(fig)
    written.append("time_split.png")
    return written


def plot_scale(rows: List[Dict[str, Any]], out: Path, name: str = "scale.png") -> Optional[str]:
    """Interactions per second and training time against the number of interactions (log x)."""
    plt = _pyplot()
    if plt is None or not rows:
        return None
    n = [r["n_interactions"] for r in rows]
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 4))
    a1.plot(n, [r["interactions_per_s"] for r in rows], marker="o")
    a1.set_xscale("log")
    a1.set_ylim(bottom=0)
    a1.set_xlabel("interactions")
    a1.set_ylabel("training interactions / s")
    a1.set_title("Throughput")
    a1.grid(alpha=0.3)
    a2.loglog(n, [r["train_s"] for r in rows], marker="o", label="training time")
    ref = np.asarray(n, dtype=float) * rows[0]["train_s"] / n[0]
    a2.loglog(n, ref, ls="--", color="gray", label="linear in interactions")
    a2.set_xlabel("interactions")
    a2.set_ylabel("seconds per epoch")
    a2.set_title("Cost grows with the work")
    a2.legend()
    a2.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out / name, dpi=110)
    plt.close(fig)
    return name
