"""``python -m fastlr.recsys``: compare fastlr optimizers and schedules on a BPR recommender.

Default run (MovieLens-100k, about two minutes on 2 cores):

1. every optimizer with a constant learning rate (``--optimizers``);
2. the best of them (by validation NDCG@10) with every schedule (``--schedules``);
3. the same optimizer runs with the pure-NumPy reference optimizers (``fastlr.reference``), to measure
   the speed-up of the optimizer step.

It prints one table and writes ``results.json`` and PNG plots to ``--out``. ``--scale`` instead measures
training throughput and peak memory on synthetic data of growing size.
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

import numpy as np

from . import report
from .data import Interactions, movielens_100k, synthetic
from .split import Split, temporal_split
from .train import DEFAULT_LR, OPTIMIZERS, SCHEDULES, TrainConfig, popularity_baseline, train

METRICS = ("precision", "recall", "ndcg", "hit", "coverage", "novelty")
DEFAULT_SCALE_SIZES = (100_000, 1_000_000, 10_000_000)


def _csv(kind: str, allowed: Sequence[str]):
    def parse(text: str) -> List[str]:
        items = [x.strip().lower().replace("-", "_") for x in text.split(",") if x.strip()]
        if items == ["all"]:
            return list(allowed)
        bad = [x for x in items if x not in allowed]
        if bad or not items:
            raise argparse.ArgumentTypeError(
                f"unknown {kind} {', '.join(bad) or '(none)'}; choose from {', '.join(allowed)} or 'all'")
        return items
    return parse


def _positive_int(text: str) -> int:
    try:
        value = int(float(text))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1 or value != float(text):
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m fastlr.recsys",
        description="Train BPR matrix factorisation with fastlr optimizers and schedules; compare quality "
                    "(precision/recall/NDCG/hit rate, coverage, novelty @10 against a popularity baseline) "
                    "and speed (against the pure-NumPy reference optimizers).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--data", choices=["movielens-100k", "synthetic"], default="movielens-100k",
                   help="data set")
    p.add_argument("--data-path", default=None,
                   help="local MovieLens-100k copy (u.data or ml-100k.inter) instead of downloading")
    p.add_argument("--n-users", type=_positive_int, default=2000, help="synthetic: users")
    p.add_argument("--n-items", type=_positive_int, default=1000, help="synthetic: items")
    p.add_argument("--n-interactions", type=_positive_int, default=100_000, help="synthetic: interactions")
    p.add_argument("--optimizers", type=_csv("optimizer", list(OPTIMIZERS)), default=list(OPTIMIZERS),
                   help="comma-separated optimizers, or 'all'")
    p.add_argument("--schedules", type=_csv("schedule", list(SCHEDULES)), default=list(SCHEDULES),
                   help="schedules tried on the best optimizer, comma-separated, or 'all'")
    p.add_argument("--epochs", type=_positive_int, default=None, help="maximum epochs (default 30; --quick 3)")
    p.add_argument("--dim", type=_positive_int, default=None, help="embedding dimension (default 64)")
    p.add_argument("--batch-size", type=_positive_int, default=None, help="mini-batch size (default 1024)")
    p.add_argument("--lr", type=float, default=None,
                   help="learning rate for every optimizer (default: a tuned value per optimizer)")
    p.add_argument("--reg", type=float, default=TrainConfig.reg, help="L2 regularisation of BPR")
    p.add_argument("--patience", type=int, default=TrainConfig.patience,
                   help="early stopping after this many epochs without validation improvement (0: off)")
    p.add_argument("--seeds", type=_positive_int, default=1,
                   help="number of seeds (0, 1, ...): metrics are reported as mean ± std")
    p.add_argument("--threads", type=_positive_int, default=1,
                   help="fastlr.set_num_threads(n). One thread by default: a BPR step updates only a few "
                        "thousand rows, too little work to pay for an OpenMP parallel region, and on a "
                        "machine whose cores are busy libgomp's spin-waiting stalls 2-thread regions")
    p.add_argument("--out", default="recsys-results", help="output folder for results.json and plots")
    p.add_argument("--quick", action="store_true",
                   help="a smoke run: 3 epochs, dim 16, SGD/Adagrad/Adam, constant and cosine")
    p.add_argument("--no-reference", action="store_true", help="skip the pure-NumPy reference runs")
    p.add_argument("--no-plots", action="store_true", help="do not write PNG plots")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="progress bar (default: when stderr is a terminal)")
    p.add_argument("--scale", action="store_true",
                   help="throughput and peak memory on synthetic data of growing size instead")
    p.add_argument("--scale-sizes", type=lambda s: [_positive_int(x) for x in s.split(",")],
                   default=list(DEFAULT_SCALE_SIZES), help="--scale: interaction counts")
    p.add_argument("--scale-optimizer", choices=list(OPTIMIZERS), default="adam",
                   help="--scale: optimizer")
    p.add_argument("--scale-shape", choices=["fixed", "proportional"], default="fixed",
                   help="--scale: 'fixed' keeps the model of the largest size (users = max/100, items = "
                        "max/200) so only the work grows; 'proportional' grows users and items with the "
                        "interactions (the tables then outgrow the CPU caches)")
    p.add_argument("--scale-users", type=_positive_int, default=None, help=argparse.SUPPRESS)
    p.add_argument("--scale-items", type=_positive_int, default=None, help=argparse.SUPPRESS)
    p.add_argument("--scale-worker", type=_positive_int, default=None, help=argparse.SUPPRESS)
    return p


# ----------------------------------------------------------------------------------------------- data

def load_data(args: argparse.Namespace) -> Interactions:
    """The data set selected on the command line."""
    if args.data == "synthetic":
        return synthetic(args.n_users, args.n_items, args.n_interactions, seed=0)
    return movielens_100k(args.data_path)


# ----------------------------------------------------------------------------------------------- compare

def _base_config(args: argparse.Namespace) -> TrainConfig:
    quick = args.quick
    return TrainConfig(
        epochs=args.epochs or (3 if quick else 30),
        dim=args.dim or (16 if quick else 64),
        batch_size=args.batch_size or 1024,
        lr=args.lr, reg=args.reg, patience=args.patience,
    )


def _label(cfg: TrainConfig) -> str:
    return f"{cfg.optimizer}/{cfg.schedule}" + ("" if cfg.backend == "fastlr" else " (numpy)")


def _run_seeds(split: Split, cfg: TrainConfig, seeds: int, progress: Optional[bool],
               log) -> List[Dict[str, Any]]:
    runs = []
    for seed in range(seeds):
        result = train(split, replace(cfg, seed=seed), progress=progress)
        d = result.to_dict()
        d["label"] = _label(cfg)
        runs.append(d)
        tot = d["totals"]
        log(f"  {d['label']:<28} seed {seed}: {len(d['history']):>2} epochs, "
            f"{result.wall_time:5.1f}s, val best epoch {d['best_epoch']}, "
            f"test NDCG@10 {d['test'].get('ndcg', float('nan')):.4f}, "
            f"optimizer {tot['optimizer']:.2f}s ({100 * tot['optimizer_share']:.0f}% of training)")
    return runs


def _best_val_ndcg(run: Dict[str, Any]) -> float:
    values = [h["val_ndcg"] for h in run["history"] if h.get("val_ndcg") is not None]
    return max(values) if values else float("-inf")


def _row(runs: List[Dict[str, Any]], speedup: Optional[float] = None) -> Dict[str, Any]:
    cfg = runs[0]["config"]
    row: Dict[str, Any] = {
        "optimizer": cfg["optimizer"], "schedule": cfg["schedule"],
        "backend": "fastlr" if cfg["backend"] == "fastlr" else "numpy",
        "lr": cfg["lr"] if cfg["lr"] is not None else DEFAULT_LR[cfg["optimizer"]],
        "epochs": [len(r["history"]) for r in runs],
        "wall": [r["wall_time"] for r in runs],
        "opt_time": [r["totals"]["optimizer"] for r in runs],
        "opt_share": [r["totals"]["optimizer_share"] for r in runs],
        "ips": [r["totals"]["interactions_per_s"] for r in runs],
        "opt_step_ms": [1e3 * r["totals"]["optimizer"] / max(1, len(r["lr_curve"])) for r in runs],
        "speedup": speedup,
    }
    for m in METRICS:
        row[m] = [r["test"].get(m, float("nan")) for r in runs]
    return row


def _pop_row(pop: Dict[str, float]) -> Dict[str, Any]:
    row: Dict[str, Any] = {"optimizer": "popularity", "schedule": "-", "backend": "-", "epochs": [],
                           "wall": [], "opt_time": [], "opt_share": [], "ips": [], "speedup": None}
    for m in METRICS:
        row[m] = [pop[m]]
    return row


def _margin(best: Dict[str, Any], pop: Dict[str, float], metric: str) -> Dict[str, float]:
    values = np.asarray(best[metric], dtype=np.float64)
    mean, std = report.mean_std(values - pop[metric])
    return {"best_mean": float(values.mean()), "popularity": float(pop[metric]), "margin_mean": mean,
            "margin_std": std, "relative": float(values.mean() / pop[metric] - 1.0) if pop[metric] else
            float("nan"), "n_seeds": int(values.size)}


def run_compare(args: argparse.Namespace, log=print) -> Dict[str, Any]:
    """The default benchmark: optimizers, then schedules for the best, then the NumPy reference."""
    t_start = time.perf_counter()
    out = Path(args.out)
    if args.threads:
        import fastlr

        fastlr.set_num_threads(args.threads)
    data = load_data(args)
    split = temporal_split(data)
    log(data.describe())
    log(split.describe() + " (per user: latest 20% test, latest 10% of the rest validation)")
    base = _base_config(args)
    optimizers = args.optimizers
    schedules = args.schedules
    if args.quick:
        if args.optimizers == list(OPTIMIZERS):
            optimizers = ["sgd", "adagrad", "adam"]
        if args.schedules == list(SCHEDULES):
            schedules = ["constant", "cosine"]
    pop = popularity_baseline(split, k=base.k)

    log(f"[1/2] optimizers with a constant learning rate: {', '.join(optimizers)}"
        + ("" if args.no_reference else "; each followed by the same training (first seed) with its "
           "pure-NumPy reference, so both see the same machine load"))
    import fastlr.reference

    by_opt: Dict[str, List[Dict[str, Any]]] = {}
    by_ref: Dict[str, List[Dict[str, Any]]] = {}
    all_runs: List[Dict[str, Any]] = []
    for name in optimizers:
        by_opt[name] = _run_seeds(split, replace(base, optimizer=name), args.seeds, args.progress, log)
        all_runs += by_opt[name]
        if args.no_reference:
            continue
        if not hasattr(fastlr.reference, OPTIMIZERS[name]):
            log(f"  {name}: no reference run, fastlr.reference has no {OPTIMIZERS[name]}")
            continue
        by_ref[name] = _run_seeds(split, replace(base, optimizer=name, backend="reference"), 1,
                                  args.progress, log)
    best_opt = max(by_opt, key=lambda n: np.mean([_best_val_ndcg(r) for r in by_opt[n]]))

    log(f"[2/2] schedules for the best optimizer by validation NDCG ({best_opt}): {', '.join(schedules)}")
    by_sched: Dict[str, List[Dict[str, Any]]] = {"constant": by_opt[best_opt]}
    for sched in schedules:
        if sched == "constant":
            continue
        by_sched[sched] = _run_seeds(split, replace(base, optimizer=best_opt, schedule=sched), args.seeds,
                                     args.progress, log)
        all_runs += by_sched[sched]

    speedups: Dict[str, Dict[str, float]] = {}
    ref_rows = []
    for name, ref in by_ref.items():
        all_runs += ref
        fast = by_opt[name][0]
        steps_fast, steps_ref = len(fast["lr_curve"]), len(ref[0]["lr_curve"])
        per_step_fast = fast["totals"]["optimizer"] / max(1, steps_fast)
        per_step_ref = ref[0]["totals"]["optimizer"] / max(1, steps_ref)
        tf, tr = fast["totals"], ref[0]["totals"]
        speedups[name] = {
            # the target measure: median optimizer step time, NumPy reference over fastlr
            "optimizer_step": tr["optimizer_step_median"] / tf["optimizer_step_median"],
            "optimizer_step_mean": per_step_ref / per_step_fast,
            "training": (tr["train"] / max(1, steps_ref)) / (tf["train"] / max(1, steps_fast)),
            "optimizer_ms_per_step_fastlr": 1e3 * tf["optimizer_step_median"],
            "optimizer_ms_per_step_numpy": 1e3 * tr["optimizer_step_median"],
            "fastlr_optimizer_share": tf["optimizer_share"],
            "numpy_optimizer_share": tr["optimizer_share"],
        }
        ref_rows.append(_row(ref))

    rows = [_pop_row(pop)]
    for name in optimizers:
        rows.append(_row(by_opt[name], speedups.get(name, {}).get("optimizer_step")))
    for sched, runs in by_sched.items():
        if sched != "constant":
            rows.append(_row(runs))
    rows += ref_rows

    # the best configuration (by mean validation NDCG over seeds) against the popularity baseline
    candidates = {f"{best_opt}/{s}": r for s, r in by_sched.items()}
    candidates.update({f"{n}/constant": r for n, r in by_opt.items()})
    best_label = max(candidates, key=lambda k: np.mean([_best_val_ndcg(r) for r in candidates[k]]))
    best_row = _row(candidates[best_label])
    fast_runs = [r for r in all_runs if r["config"]["backend"] == "fastlr"]
    fast_shares = [r["totals"]["optimizer_share"] for r in fast_runs]
    epoch_shares = [r["totals"]["optimizer_share_of_epoch"] for r in fast_runs]
    summary = {
        "best_configuration": best_label,
        "best_by": "mean validation NDCG@10 over seeds",
        "ndcg_vs_popularity": _margin(best_row, pop, "ndcg"),
        "recall_vs_popularity": _margin(best_row, pop, "recall"),
        "speedup": speedups,
        "min_optimizer_step_speedup": min((s["optimizer_step"] for s in speedups.values()), default=None),
        "max_fastlr_optimizer_share": max(fast_shares) if fast_shares else None,
        "best_fastlr_optimizer_share": float(np.mean(best_row["opt_share"])),
        "max_fastlr_optimizer_share_of_epoch": max(epoch_shares) if epoch_shares else None,
        "best_fastlr_optimizer_share_of_epoch": float(np.mean(
            [r["totals"]["optimizer_share_of_epoch"] for r in candidates[best_label]])),
    }
    table = report.format_table(rows)
    log("")
    log(table)
    log("")
    for line in summary_lines(summary):
        log(line)

    payload = {
        "command": "python -m fastlr.recsys " + " ".join(sys.argv[1:]) if sys.argv else "",
        "hardware": report.hardware_line(),
        "data": {"name": data.name, "interactions": len(data), "users": data.n_users, "items": data.n_items,
                 "train": len(split.train), "validation": len(split.val), "test": len(split.test)},
        "base_config": asdict(base), "seeds": args.seeds, "threads": args.threads,
        "popularity": pop, "rows": rows, "summary": summary, "runs": all_runs,
        "wall_time_total": time.perf_counter() - t_start,
    }
    if not args.no_plots:
        payload["plots"] = report.plot_all(all_runs, out)
    report.write_json(out / "results.json", payload)
    (out / "table.txt").write_text(table + "\n", encoding="utf-8")
    (out / "table.md").write_text(report.format_table(rows, markdown=True) + "\n", encoding="utf-8")
    log(f"total {payload['wall_time_total']:.1f}s; wrote {out / 'results.json'}"
        + (f" and {', '.join(payload['plots'])}" if payload.get("plots") else ""))
    return payload


def summary_lines(summary: Dict[str, Any]) -> List[str]:
    """The target comparisons as plain sentences."""
    lines = [f"best configuration ({summary['best_by']}): {summary['best_configuration']}"]
    for metric in ("ndcg", "recall"):
        m = summary[f"{metric}_vs_popularity"]
        lines.append(
            f"  {metric}@10 {m['best_mean']:.4f} vs popularity {m['popularity']:.4f}: margin "
            f"{m['margin_mean']:+.4f} ± {m['margin_std']:.4f} ({100 * m['relative']:+.0f}%, "
            f"{m['n_seeds']} seed{'s' if m['n_seeds'] > 1 else ''})")
    if summary["speedup"]:
        parts = ", ".join(f"{n} {s['optimizer_step']:.1f}x" for n, s in summary["speedup"].items())
        lines.append(f"optimizer-step speed-up vs pure NumPy (median step time): {parts} "
                     f"(min {summary['min_optimizer_step_speedup']:.1f}x; target >= 5x)")
        parts = ", ".join(f"{n} {s['optimizer_ms_per_step_fastlr']:.2f}/{s['optimizer_ms_per_step_numpy']:.2f}"
                          for n, s in summary["speedup"].items())
        lines.append(f"  median optimizer step, ms fastlr/NumPy: {parts}")
        parts = ", ".join(f"{n} {s['optimizer_step_mean']:.1f}x" for n, s in summary["speedup"].items())
        lines.append(f"  (mean step time: {parts})")
        parts = ", ".join(f"{n} {s['training']:.1f}x" for n, s in summary["speedup"].items())
        lines.append(f"whole-training speed-up vs pure NumPy: {parts}")
    if summary["max_fastlr_optimizer_share"] is not None:
        lines.append(f"optimizer share with fastlr (target <= 25%): of training time (sampling + "
                     f"forward/backward + optimizer) best configuration "
                     f"{100 * summary['best_fastlr_optimizer_share']:.0f}%, worst run "
                     f"{100 * summary['max_fastlr_optimizer_share']:.0f}%")
        if summary.get("max_fastlr_optimizer_share_of_epoch") is not None:
            lines.append(f"  of epoch time (training + the per-epoch validation that drives early "
                         f"stopping and plateau) best configuration "
                         f"{100 * summary['best_fastlr_optimizer_share_of_epoch']:.0f}%, worst run "
                         f"{100 * summary['max_fastlr_optimizer_share_of_epoch']:.0f}%")
    return lines


# ----------------------------------------------------------------------------------------------- scale

def scale_shape(n_interactions: int) -> tuple[int, int]:
    """Users and items for a scaling run: about 100 interactions per user and 200 per item."""
    return max(50, n_interactions // 100), max(50, n_interactions // 200)


def _peak_rss_mib() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024  # bytes on macOS, KiB on Linux


def scale_worker(args: argparse.Namespace) -> Dict[str, Any]:
    """One scaling measurement (run in a fresh process so its peak memory is its own)."""
    if args.threads:
        import fastlr

        fastlr.set_num_threads(args.threads)
    n = args.scale_worker
    n_users, n_items = scale_shape(n)
    n_users, n_items = args.scale_users or n_users, args.scale_items or n_items
    t0 = time.perf_counter()
    data = synthetic(n_users, n_items, n, seed=0)
    split = temporal_split(data)
    generate = time.perf_counter() - t0
    # at least two epochs and about 1e6 timed interactions, so small sizes are not a blip
    epochs = args.epochs or max(2, 1 + -(-1_000_000 // len(split.train)))
    cfg = TrainConfig(optimizer=args.scale_optimizer, epochs=epochs, dim=args.dim or 64,
                      batch_size=args.batch_size or 1024, lr=args.lr, evaluate_every=0, patience=0)
    result = train(split, cfg, progress=args.progress, evaluate_test=False)
    # steady state: epochs after the first (the first also pays for first-touch page faults of the
    # freshly allocated optimizer state, which would penalise small runs over big tables)
    steady = result.history[1:] if len(result.history) > 1 else result.history
    parts = {key: sum(h[key] for h in steady) for key in ("sampling", "forward_backward", "optimizer")}
    train_s = sum(parts.values())
    last = {"sampling": parts["sampling"], "forward_backward": parts["forward_backward"],
            "optimizer": parts["optimizer"]}
    return {"n_interactions": n, "n_users": n_users, "n_items": n_items, "n_train": result.n_train,
            "epochs": len(result.history), "generate_s": generate, "train_s": train_s / len(steady),
            "sampling_s": last["sampling"], "forward_backward_s": last["forward_backward"],
            "optimizer_s": last["optimizer"], "interactions_per_s": result.n_train * len(steady) / train_s,
            "optimizer_share": last["optimizer"] / train_s, "peak_rss_mib": _peak_rss_mib(),
            "first_epoch_interactions_per_s": result.n_train / (result.history[0]["sampling"]
                                                                + result.history[0]["forward_backward"]
                                                                + result.history[0]["optimizer"]),
            "config": asdict(cfg)}


def run_scale(args: argparse.Namespace, log=print) -> Dict[str, Any]:
    """Throughput and peak memory at each ``--scale-sizes`` (each size in its own process)."""
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for n in sorted(args.scale_sizes):
        cmd = [sys.executable, "-m", "fastlr.recsys", "--scale-worker", str(n),
               "--scale-optimizer", args.scale_optimizer, "--no-progress"]
        if args.scale_shape == "fixed":
            n_users, n_items = scale_shape(max(args.scale_sizes))
            cmd += ["--scale-users", str(n_users), "--scale-items", str(n_items)]
        for flag, value in (("--epochs", args.epochs), ("--dim", args.dim), ("--batch-size", args.batch_size),
                            ("--threads", args.threads), ("--lr", args.lr)):
            if value is not None:
                cmd += [flag, str(value)]
        log(f"scale: {n:,} interactions ...")
        # run from the folder holding the fastlr package imported here, so that the worker imports the
        # same build (a source checkout in the current folder would otherwise shadow an installed one)
        package_root = Path(__file__).resolve().parent.parent.parent
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=package_root)
        if proc.returncode != 0:
            raise RuntimeError(f"scaling run at {n} interactions failed:\n{proc.stderr[-2000:]}")
        rows.append(json.loads(proc.stdout.strip().splitlines()[-1]))
        r = rows[-1]
        log(f"  {r['interactions_per_s']:,.0f} interactions/s, peak RSS {r['peak_rss_mib']:,.0f} MiB")
    table = report.format_scale_table(rows)
    ips = [r["interactions_per_s"] for r in rows]
    ratio = max(ips) / min(ips) if ips else float("nan")
    log("")
    log(table)
    log(f"\nthroughput max/min ratio {ratio:.2f} (target <= 1.5: flat in the amount of work)")
    payload = {"command": "python -m fastlr.recsys " + " ".join(sys.argv[1:]),
               "hardware": report.hardware_line(), "scale": rows, "throughput_ratio": ratio,
               "shape": args.scale_shape, "optimizer": args.scale_optimizer, "threads": args.threads}
    if not args.no_plots:
        plot = report.plot_scale(rows, out, name=f"scale_{args.scale_shape}.png")
        payload["plots"] = [plot] if plot else []
    stem = f"scale_{args.scale_shape}"
    report.write_json(out / f"{stem}.json", payload)
    (out / f"{stem}.md").write_text(report.format_scale_table(rows, markdown=True) + "\n", encoding="utf-8")
    log(f"wrote {out / (stem + '.json')}")
    return payload


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.data_path is not None and args.data != "movielens-100k":
        parser.error("--data-path is for --data movielens-100k")
    try:
        if args.scale_worker is not None:
            print(json.dumps(scale_worker(args)))
        elif args.scale:
            run_scale(args)
        else:
            run_compare(args)
    except (RuntimeError, ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0
