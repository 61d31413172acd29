"""Produce ``bench/RESULTS.md``: the recommender benchmark, its scaling run and the kernel benchmarks.

Usage (from the repository root, with fastlr built or installed)::

    python bench/make_results.py                  # everything (about 10 minutes on 2 cores)
    python bench/make_results.py --skip-kernels   # only the recommender parts
    python bench/make_results.py --skip-kernels --skip-scale   # rerun the comparison, keep the rest
    python bench/make_results.py --reuse          # rebuild the page from the JSON files already written

It runs, and records on the page:

1. ``python -m fastlr.recsys --seeds 3 --out bench/recsys`` (MovieLens-100k);
2. ``python -m fastlr.recsys --scale --out bench/recsys`` (synthetic, 1e5 / 1e6 / 1e7);
3. ``python -m pytest bench --benchmark-only --benchmark-json bench/kernels.json``
   (the kernel benchmark suite: dense, sparse rows, schedules).
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, List

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script from a source tree with fastlr built in place
    sys.path.insert(0, str(ROOT))
RECSYS = ROOT / "bench" / "recsys"  # committed with the page (a folder named results/ is git-ignored)
KERNELS_JSON = ROOT / "bench" / "kernels.json"

RECSYS_CMD = [sys.executable, "-m", "fastlr.recsys", "--seeds", "3", "--out", str(RECSYS), "--no-progress"]
SCALE_CMD = [sys.executable, "-m", "fastlr.recsys", "--scale", "--out", str(RECSYS), "--no-progress"]
SCALE_PROP_CMD = SCALE_CMD + ["--scale-shape", "proportional"]
KERNEL_FILES = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "bench").glob("bench_*.py"))
# -o addopts= drops the project's default --benchmark-skip
KERNEL_CMD = [sys.executable, "-m", "pytest", *KERNEL_FILES, "-o", "addopts=", "--benchmark-only", "-q",
              "-p", "no:cacheprovider", f"--benchmark-json={KERNELS_JSON}"]


def _show(cmd: List[str]) -> str:
    """The command as a user types it from the repository root."""
    text = " ".join("python" if c == sys.executable else str(c) for c in cmd)
    return text.replace(str(ROOT) + "/", "")


def _run(cmd: List[str]) -> None:
    print("$", _show(cmd), flush=True)
    subprocess.run(cmd, cwd=ROOT, check=True)


def _kernel_suite_exists() -> bool:
    return bool(KERNEL_FILES)


def _fmt_time(seconds: float) -> str:
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6), ("ns", 1e-9)):
        if seconds >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds:.3g} s"


def _fmt_extra(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def kernel_tables(path: Path) -> str:
    """Markdown tables of a pytest-benchmark JSON file, one per group, grouped as dense / sparse / schedules."""
    data = json.loads(path.read_text())
    groups: Dict[str, List[Dict[str, Any]]] = {}
    for b in data.get("benchmarks", []):
        groups.setdefault(b.get("group") or "ungrouped", []).append(b)
    sections = {"Dense optimizer kernels": [], "Sparse row updates": [], "Schedules": [], "Other": []}
    for name in sorted(groups):
        # the suite's file says what a group measures: bench_dense / bench_rows / bench_schedules
        source = groups[name][0].get("fullname", "").split("::")[0].lower()
        key = ("Sparse row updates" if "row" in source or "sparse" in source else
               "Schedules" if "sched" in source else
               "Dense optimizer kernels" if "dense" in source or "optim" in source else "Other")
        sections[key].append(name)
    out = []
    for title, names in sections.items():
        if not names:
            if title != "Other":
                out.append(f"### {title}\n\n_No benchmark of this kind in the suite's JSON._\n")
            continue
        out.append(f"### {title}\n")
        for name in names:
            rows = sorted(groups[name], key=lambda b: b["stats"]["median"])
            extra_keys = sorted({k for b in rows for k in (b.get("extra_info") or {})})
            out.append(f"**{name}**\n")
            out.append("| benchmark | median | mean ± std | rounds |"
                       + "".join(f" {k} |" for k in extra_keys))
            out.append("|---|---:|---:|---:|" + "---:|" * len(extra_keys))
            for b in rows:
                s = b["stats"]
                extras = [_fmt_extra(b.get("extra_info", {}).get(k, "")) for k in extra_keys]
                out.append(f"| `{b['name']}` | {_fmt_time(s['median'])} | {_fmt_time(s['mean'])} ± "
                           f"{_fmt_time(s['stddev'])} | {s['rounds']} |" + "".join(f" {e} |" for e in extras))
            out.append("")
    machine = data.get("machine_info", {})
    header = (f"pytest-benchmark {data.get('version', '')}; CPU {machine.get('cpu', {}).get('brand_raw', '?')}"
              if machine else "")
    return (header + "\n\n" if header else "") + "\n".join(out)


def recsys_section(results: Dict[str, Any]) -> str:
    """The comparison table, target lines and plots of ``results.json``."""
    from fastlr.recsys.cli import summary_lines
    from fastlr.recsys.report import format_table

    d = results["data"]
    lines = [
        f"Data: {d['name']}, {d['interactions']:,} interactions, {d['users']:,} users, {d['items']:,} items; "
        f"split train {d['train']:,} / validation {d['validation']:,} / test {d['test']:,} (per user by time).",
        f"Seeds: {results['seeds']} (metrics as mean ± std); total wall time {results['wall_time_total']:.0f} s.",
        "",
        format_table(results["rows"], markdown=True),
        "",
        "```",
        *summary_lines(results["summary"]),
        "```",
        "",
    ]
    for png, caption in (("val_ndcg.png", "Validation NDCG@10 per epoch"),
                         ("lr_curves.png", "Learning-rate curves used"),
                         ("time_split.png", "Time split per epoch")):
        if (RECSYS / png).exists():
            lines.append(f"![{caption}](recsys/{png})\n")
    return "\n".join(lines)


def scale_section(scale: Dict[str, Any], png: str) -> str:
    from fastlr.recsys.report import format_scale_table

    lines = [format_scale_table(scale["scale"], markdown=True), "",
             f"Optimizer {scale.get('optimizer', 'adam')}, {scale.get('threads', 1)} thread(s); throughput in "
             f"steady state (epochs after the first). Max/min ratio: **{scale['throughput_ratio']:.2f}** "
             "(target ≤ 1.5).", ""]
    if (RECSYS / png).exists():
        lines.append(f"![Throughput against size](recsys/{png})\n")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--skip-recsys", action="store_true", help="do not rerun the MovieLens comparison")
    parser.add_argument("--skip-kernels", action="store_true", help="do not run the kernel benchmarks")
    parser.add_argument("--skip-scale", action="store_true", help="do not run the --scale mode")
    parser.add_argument("--reuse", action="store_true", help="only rebuild the page from existing JSON")
    args = parser.parse_args()
    RECSYS.mkdir(parents=True, exist_ok=True)
    if not args.reuse:
        if not args.skip_recsys:
            _run(RECSYS_CMD)
        if not args.skip_scale:
            _run(SCALE_CMD)
            _run(SCALE_PROP_CMD)
        if not args.skip_kernels and _kernel_suite_exists():
            _run(KERNEL_CMD)

    from fastlr.recsys.report import hardware_line

    parts = [
        "# fastlr benchmark results",
        "",
        "Generated by `python bench/make_results.py` (see `docs/recsys.md`). Do not edit by hand.",
        "",
        f"**Hardware:** {hardware_line()}",
        "",
        "Times are wall-clock on this machine; other processes on its 2 cores disturb them, 2-thread "
        "results most (a descheduled OpenMP thread stalls the whole step). Ratios are only quoted from "
        "one run; the recommender speed-ups compare median optimizer-step times of runs made back to back.",
        "",
        "## Recommender benchmark (MovieLens-100k, BPR matrix factorisation)",
        "",
        f"Command: `{_show(RECSYS_CMD)}`",
        "",
        "MovieLens-100k: F. Maxwell Harper and Joseph A. Konstan. 2015. The MovieLens Datasets: History and "
        "Context. ACM TiiS 5, 4. The data are downloaded at run time and never stored in this repository.",
        "",
    ]
    results_path = RECSYS / "results.json"
    if results_path.exists():
        from fastlr.recsys.report import plot_all

        results = json.loads(results_path.read_text())
        plot_all(results["runs"], RECSYS)  # redraw with the current plotting code (cheap)
        parts.append(recsys_section(results))
    else:
        parts.append("_not run_\n")
    parts += ["## Scaling (synthetic data)", ""]
    for shape, cmd, what in (("fixed", SCALE_CMD, "the model of the largest size for every size: only the "
                              "work grows"),
                             ("proportional", SCALE_PROP_CMD, "users and items grow with the interactions: "
                              "the tables outgrow the CPU caches")):
        parts += [f"### {shape.capitalize()} model ({what})", "", f"Command: `{_show(cmd)}`", ""]
        path = RECSYS / f"scale_{shape}.json"
        parts.append(scale_section(json.loads(path.read_text()), f"scale_{shape}.png") if path.exists()
                     else "_not run_\n")
    parts += ["## Kernel benchmarks (pytest-benchmark)", "", f"Command: `{_show(KERNEL_CMD)}`", ""]
    parts.append(kernel_tables(KERNELS_JSON) if KERNELS_JSON.exists() else "_not run_\n")
    page = ROOT / "bench" / "RESULTS.md"
    page.write_text("\n".join(parts).rstrip() + "\n", encoding="utf-8")
    print(f"wrote {page}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
