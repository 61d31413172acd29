"""Markdown report of a bench_dense.py run: per-group tables and the dense targets.

Usage::

    python -m pytest bench/bench_dense.py --benchmark-only --benchmark-enable \
        --benchmark-json=/tmp/dense.json
    python bench/report.py /tmp/dense.json > /tmp/dense.md

Per group (one case: optimizer, dtype, size, threads) and implementation: the median time of one
step, ns per element, effective GB/s (the bytes an optimizer step must move, from
``extra_info["bytes"]``, over the median), the fraction of the bandwidth probe's ceiling (probe
median / median: same bytes, same size, same threads, same run), and how many times faster the
fastlr row is than each row.  Then every target of the dense-benchmarks issue, PASS or FAIL.
"""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass


@dataclass
class Row:
    group: str
    impl: str
    median: float          # seconds per step
    min: float             # fastest round: the least disturbed by other processes
    n_elements: int
    n_tensors: int
    bytes: int
    threads: int
    rounds: int
    iterations: int

    @property
    def ns_per_element(self) -> float:
        return self.median * 1e9 / self.n_elements

    @property
    def min_ns_per_element(self) -> float:
        return self.min * 1e9 / self.n_elements

    @property
    def gbps(self) -> float:
        return self.bytes / self.median / 1e9


def load(path: str) -> tuple[dict, dict[str, list[Row]]]:
    with open(path) as f:
        data = json.load(f)
    groups: dict[str, list[Row]] = {}
    for b in data["benchmarks"]:
        e = b["extra_info"]
        if "impl" not in e or "n_elements" not in e:
            continue  # not a dense-kernel benchmark (e.g. rows or schedules in a combined run)
        row = Row(b["group"], e["impl"], b["stats"]["median"], b["stats"]["min"],
                  e["n_elements"], e["n_tensors"],
                  e["bytes"], e["threads"], e.get("rounds", b["stats"]["rounds"]),
                  e.get("iterations", b["stats"].get("iterations", 1)))
        groups.setdefault(row.group, []).append(row)
    return data, groups


def fmt_time(s: float) -> str:
    if s < 1e-3:
        return f"{s * 1e6:.2f} µs"
    if s < 1:
        return f"{s * 1e3:.2f} ms"
    return f"{s:.3f} s"


def probe_of(rows: list[Row]) -> Row | None:
    return next((r for r in rows if r.impl.startswith("probe")), None)


def subject_of(rows: list[Row]) -> Row | None:
    """The fastlr row the group's speed-ups are measured for (many tensors when present)."""
    for name in ("fastlr", "fastlr-200x1e4"):
        r = next((r for r in rows if r.impl == name), None)
        if r is not None:
            return r
    return None


def group_table(name: str, rows: list[Row]) -> str:
    probe, subject = probe_of(rows), subject_of(rows)
    out = [f"#### `{name}`", "",
           "| implementation | median | ns/elem | GB/s | of ceiling | fastlr speed-up "
           "| min ns/elem | of ceiling (min) |",
           "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in sorted(rows, key=lambda r: r.ns_per_element):
        # ceiling for this row's own size (the 200x1e4 group probes the 2e6 total)
        frac = f"{probe.ns_per_element / r.ns_per_element:.0%}" if probe else "–"
        speed = (f"{r.ns_per_element / subject.ns_per_element:.2f}×"
                 if subject and r is not subject and not r.impl.startswith("probe") else "")
        frac_min = (f"{probe.min_ns_per_element / r.min_ns_per_element:.0%}" if probe else "–")
        out.append(f"| {r.impl} | {fmt_time(r.median)} | {r.ns_per_element:.3f} | "
                   f"{r.gbps:.1f} | {frac} | {speed} | {r.min_ns_per_element:.3f} | {frac_min} |")
    return "\n".join(out)


def find(groups: dict[str, list[Row]], group: str, impl: str) -> Row | None:
    return next((r for r in groups.get(group, []) if r.impl == impl), None)


class Targets:
    def __init__(self, groups: dict[str, list[Row]]):
        self.groups = groups
        self.lines: list[str] = ["| target | measured | result |", "|---|---|---|"]
        self.n_fail = 0
        self.n_missing = 0

    def check(self, what: str, value: float | None, ok: bool | None, shown: str) -> None:
        if value is None:
            self.n_missing += 1
            self.lines.append(f"| {what} | not measured | – |")
            return
        self.n_fail += not ok
        self.lines.append(f"| {what} | {shown} | {'PASS' if ok else '**FAIL**'} |")

    def ratio(self, what: str, group: str, slow: str | list[str], fast: str, at_least: float):
        """``fast`` must be ``at_least`` times faster (per element) than the best of ``slow``."""
        slow = [slow] if isinstance(slow, str) else slow
        f = find(self.groups, group, fast)
        s = [r for r in (find(self.groups, group, x) for x in slow) if r is not None]
        if f is None or not s:
            return self.check(what, None, None, "")
        best = min(s, key=lambda r: r.ns_per_element)
        x = best.ns_per_element / f.ns_per_element
        self.check(what, x, x >= at_least,
                   f"{x:.2f}× ({fast} {f.ns_per_element:.3f} vs {best.impl} "
                   f"{best.ns_per_element:.3f} ns/elem; min-based "
                   f"{best.min_ns_per_element / f.min_ns_per_element:.2f}×)")

    def ceiling(self, what: str, group: str, impl: str, at_least: float):
        r, p = find(self.groups, group, impl), probe_of(self.groups.get(group, []))
        if r is None or p is None:
            return self.check(what, None, None, "")
        x = p.ns_per_element / r.ns_per_element
        self.check(what, x, x >= at_least,
                   f"{x:.0%} ({r.ns_per_element:.3f} ns/elem, {r.gbps:.1f} GB/s; probe "
                   f"{p.ns_per_element:.3f} ns/elem, {p.gbps:.1f} GB/s; min-based "
                   f"{p.min_ns_per_element / r.min_ns_per_element:.0%})")


def targets(groups: dict[str, list[Row]]) -> Targets:
    t = Targets(groups)
    g = "adam-float32-1e7-t2"
    t.ceiling(f"`{g}`: fastlr >= 90% of the probe's ceiling", g, "fastlr", 0.90)
    t.ratio(f"`{g}`: >= 1.15× torch fused", g, "torch-fused", "fastlr", 1.15)
    t.ratio(f"`{g}`: >= 4× in-place NumPy (whole arrays, `out=`, as the issue specifies)", g,
            "numpy-inplace", "fastlr", 4.0)
    t.ratio(f"`{g}`: >= 4× best in-place NumPy (stricter: also cache-blocked, 2 threads)", g,
            ["numpy-inplace", "numpy-inplace-blocked"], "fastlr", 4.0)
    t.ratio(f"`{g}`: >= 20× naive NumPy", g, "numpy-naive", "fastlr", 20.0)
    for th in (1, 2):
        g = f"adam-float32-1e3-t{th}"
        r, tf = find(groups, g, "fastlr"), find(groups, g, "torch-fused")
        extra = f"; torch fused {fmt_time(tf.median)}" if tf else ""
        t.check(f"`{g}`: whole `opt.step` <= 8 µs", r and r.median,
                r is not None and r.median <= 8e-6,
                f"{fmt_time(r.median)}{extra}" if r else "")
    g = "adam-float32-200x1e4-t2"
    many, one = find(groups, g, "fastlr-200x1e4"), find(groups, g, "fastlr-1x2e6")
    if many and one:
        x = many.ns_per_element / one.ns_per_element
        t.check(f"`{g}`: per-element cost within 1.15× of one 2e6 tensor", x, x <= 1.15,
                f"{x:.2f}× ({many.ns_per_element:.3f} vs {one.ns_per_element:.3f} ns/elem)")
    else:
        t.check(f"`{g}`: per-element cost within 1.15× of one 2e6 tensor", None, None, "")
    t.ratio(f"`{g}`: >= 2.5× torch fused (200 tensors)", g, "torch-fused-200x1e4",
            "fastlr-200x1e4", 2.5)
    for opt in ("sgd", "sgd_momentum", "adamw", "amsgrad", "rmsprop", "adagrad", "adadelta"):
        g = f"{opt}-float32-1e7-t2"
        t.ceiling(f"`{g}`: >= 85% of its pattern's ceiling", g, "fastlr", 0.85)
    return t


def simd_comparison(groups: dict[str, list[Row]]) -> str:
    """The run-time AVX2 build against the portable build, Adam float32 (not a target)."""
    out = ["| case | portable ns/elem | AVX2 ns/elem | AVX2 speed-up |", "|---|---:|---:|---:|"]
    for name in groups:
        f, p = find(groups, name, "fastlr"), find(groups, name, "fastlr-portable")
        if f and p:
            out.append(f"| `{name}` | {p.ns_per_element:.3f} | {f.ns_per_element:.3f} | "
                       f"{p.ns_per_element / f.ns_per_element:.2f}× |")
    return "\n".join(out)


def machine_line(data: dict) -> str:
    m = data.get("machine_info", {})
    cpu = m.get("cpu", {})
    simd = {b["extra_info"].get("simd") for b in data["benchmarks"]
            if b["extra_info"].get("impl") == "fastlr"}
    parts = [cpu.get("brand_raw", m.get("processor", "?")),
             f"{cpu.get('count', '?')} CPUs",
             f"python {m.get('python_version', '?')}",
             f"fastlr kernels: {', '.join(sorted(s for s in simd if s)) or '?'}"]
    c = data.get("commit_info", {})
    if c.get("id"):
        parts.append(f"commit {c['id'][:10]}{' (dirty)' if c.get('dirty') else ''}")
    return " · ".join(parts) + f" · {data.get('datetime', '')}"


def adam_scaling(groups: dict[str, list[Row]]) -> str:
    """ns/element of Adam across sizes, the compact view of the size grid."""
    impls = ["probe", "fastlr", "fastlr-portable", "torch-fused", "numpy-inplace-blocked",
             "numpy-inplace", "numpy-naive"]
    out = ["| case | " + " | ".join(impls) + " | fastlr of ceiling |",
           "|---|" + "---:|" * (len(impls) + 1)]
    for name in groups:
        if not name.startswith("adam-") or "x" in name.split("-")[2]:
            continue
        cells = []
        for i in impls:
            r = find(groups, name, i)
            cells.append(f"{r.ns_per_element:.3f}" if r else "–")
        f, p = find(groups, name, "fastlr"), probe_of(groups[name])
        frac = f"{p.ns_per_element / f.ns_per_element:.0%}" if f and p else "–"
        out.append(f"| `{name}` | " + " | ".join(cells) + f" | {frac} |")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("json", help="pytest-benchmark JSON from bench/bench_dense.py")
    args = ap.parse_args(argv)
    data, groups = load(args.json)
    print("# Dense optimizer benchmarks\n")
    print(f"Machine: {machine_line(data)}\n")
    print("Medians of one step; ns/elem and GB/s from the bytes an optimizer step must move; "
          "*of ceiling* = bandwidth probe (same access pattern, size, threads, run) / row; "
          "*fastlr speed-up* = row / fastlr. Verdicts use medians; the fastest round (min) is "
          "shown too, as a hint of how much other processes disturbed the run.\n")
    print("## Adam across sizes (ns/element)\n")
    print(adam_scaling(groups) + "\n")
    print("## Groups\n")
    for name, rows in groups.items():
        print(group_table(name, rows) + "\n")
    print("## AVX2 (chosen at run time) vs portable build, Adam float32\n")
    print(simd_comparison(groups) + "\n")
    t = targets(groups)
    print("## Targets (float32, medians, this run)\n")
    print("\n".join(t.lines))
    print(f"\n{t.n_fail} failed, {t.n_missing} not measured.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
