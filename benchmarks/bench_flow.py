"""Optical-flow time per frame pair (a script, not a test).

For each available algorithm (farneback, dis, and tvl1 when OpenCV contrib is installed)
and each frame size (112x112 crops, 128x171 resized frames), times ``compute_flow`` on a
synthetic textured clip moving by (2, 1) px per frame, single-threaded (compute_flow sets
``cv2.setNumThreads(1)``), and prints the median over repetitions in ms per frame pair.

    python benchmarks/bench_flow.py [--pairs 8] [--repeats 5]
"""
from __future__ import annotations

import argparse
import time

import cv2
import numpy as np

from ssl_core.labels.flow import FLOW_ALGORITHMS, compute_flow, tvl1_available

SIZES = ((112, 112), (128, 171))


def textured_clip(num_frames: int, height: int, width: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    base = cv2.GaussianBlur(rng.random((height + 64, width + 64)).astype(np.float32), (0, 0), 2.0)
    base = np.round((base - base.min()) / (base.max() - base.min()) * 255).astype(np.uint8)
    frames = [np.roll(base, (t, 2 * t), axis=(0, 1))[32 : 32 + height, 32 : 32 + width] for t in range(num_frames)]
    return np.repeat(np.stack(frames)[..., None], 3, axis=-1)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=8, help="frame pairs per timed call")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    algorithms = [a for a in FLOW_ALGORITHMS if a != "tvl1" or tvl1_available()]
    print(f"OpenCV {cv2.__version__}, single thread, {args.pairs} pairs/call, median of {args.repeats}")
    if not tvl1_available():
        print('tvl1: skipped (needs OpenCV contrib: pip install "ssl-video-ablations[tvl1]")')
    header = f"{'algorithm':<10}" + "".join(f"{f'{h}x{w} ms/pair':>18}" for h, w in SIZES)
    print(header)
    print("-" * len(header))
    for algorithm in algorithms:
        cells = []
        for height, width in SIZES:
            clip = textured_clip(args.pairs + 1, height, width)
            compute_flow(clip[:2], algorithm)  # warm-up
            times = []
            for _ in range(args.repeats):
                start = time.perf_counter()
                compute_flow(clip, algorithm)
                times.append((time.perf_counter() - start) / args.pairs)
            cells.append(f"{1000 * float(np.median(times)):>18.2f}")
        print(f"{algorithm:<10}" + "".join(cells))


if __name__ == "__main__":
    main()
