"""Interleaved A/B timing of one Adam step at 1e7 float32 elements: fastlr, torch fused, naive NumPy.

The pytest-benchmark suite (``bench_dense.py``) times each implementation in its own block of
rounds; on this VM the memory bandwidth drifts by up to 1.7x within minutes, which moves those
blocks against each other.  Here every round runs each implementation once, in rotating order,
so all of them see the same machine state; the medians of the per-round times and their ratios
are printed.  It complements the suite (which gives the full grid and the probe's ceiling); it
does not replace it.

Run::

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python bench/ab_adam.py --threads 2 --rounds 40
"""
from __future__ import annotations

import argparse
import time

import numpy as np

import fastlr
from fastlr import reference

try:
    import torch
except ImportError:  # torch is optional: its column is skipped
    torch = None


def _arrays(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    return rng.standard_normal(n, dtype=np.float32), rng.standard_normal(n, dtype=np.float32)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=float, default=1e7)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=40)
    ap.add_argument("--naive-every", type=int, default=5,
                    help="time the naive NumPy reference every k-th round (it takes ~15x longer)")
    args = ap.parse_args()
    n = int(args.size)
    fastlr.set_num_threads(args.threads)
    rng = np.random.default_rng(0)

    steps = {}
    p, g = _arrays(rng, n)
    opt = fastlr.Adam([p])
    steps["fastlr"] = lambda: opt.step([g])
    if torch is not None:
        torch.set_num_threads(args.threads)
        tp, tg = _arrays(rng, n)
        t = torch.from_numpy(tp)
        t.grad = torch.from_numpy(tg)
        steps["torch-fused"] = torch.optim.Adam([t], lr=1e-3, fused=True).step
    rp, rg = _arrays(rng, n)
    ref = reference.Adam([rp])
    steps["numpy-naive"] = lambda: ref.step([rg])

    for step in steps.values():    # state allocation and first touch
        step()
    times: dict[str, list[float]] = {name: [] for name in steps}
    names = list(steps)
    for r in range(args.rounds):
        for k in range(len(names)):
            name = names[(r + k) % len(names)]
            if name == "numpy-naive" and r % args.naive_every:
                continue
            t0 = time.perf_counter()
            steps[name]()
            times[name].append(time.perf_counter() - t0)

    med = {name: float(np.median(v)) for name, v in times.items()}
    print(f"Adam step, {n:.0e} float32 elements, {args.threads} thread(s), {args.rounds} rounds "
          f"(interleaved, medians)")
    print("| implementation | median ms | ns/element | rounds | fastlr speed-up |")
    print("|---|---|---|---|---|")
    for name, m in med.items():
        print(f"| {name} | {1e3 * m:.2f} | {1e9 * m / n:.3f} | {len(times[name])} | "
              f"{m / med['fastlr']:.2f}x |")


if __name__ == "__main__":
    main()
