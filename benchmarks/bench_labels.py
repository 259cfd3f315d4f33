"""Per-clip STS label time with the flow given (a script, not a test): the reference path
(``compute_labels_reference``, function by function as the spec reads) and the fast path
(``compute_labels``), measured in the same run, their ratio, and whether their labels agree.

    python benchmarks/bench_labels.py [--frames 16] [--size 112] [--repeats 10]
"""
from __future__ import annotations

import argparse
import time

import numpy as np

from ssl_core.labels.flow import compute_flow
from ssl_core.labels.sts import LABEL_IMPLS, compute_labels, compute_labels_reference, curriculum_score


def median_ms(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return 1000 * float(np.median(times))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--size", type=int, default=112)
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    # a textured clip with a moving patch, so flow and labels are not degenerate
    base = rng.integers(0, 255, (args.size + args.frames * 2, args.size + args.frames * 2, 3), dtype=np.uint8)
    rgb = np.stack([base[t * 2 : t * 2 + args.size, t : t + args.size] for t in range(args.frames)])
    flow_u, flow_v = compute_flow(rgb, "dis")
    print(f"clip {args.frames}x{args.size}x{args.size}, flow given (DIS), median of {args.repeats}")
    for impl in LABEL_IMPLS:
        reference = median_ms(lambda: compute_labels_reference(rgb, flow_u, flow_v, impl), args.repeats)
        fast = median_ms(lambda: compute_labels(rgb, flow_u, flow_v, impl), args.repeats)
        a, b = compute_labels(rgb, flow_u, flow_v, impl), compute_labels_reference(rgb, flow_u, flow_v, impl)
        same = all(np.array_equal(a[key], b[key]) for key in a)
        print(f"labels ({impl:<8})  reference {reference:6.1f} ms, fast {fast:6.1f} ms per clip: "
              f"{reference / fast:4.2f}x, labels identical: {same}  (target: fast <= 5 ms)")
    print(f"curriculum_score           {median_ms(lambda: curriculum_score(flow_u, flow_v), args.repeats):7.1f} ms per clip")


if __name__ == "__main__":
    main()
