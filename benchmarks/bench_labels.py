"""Per-clip STS label time with the flow given (a script, not a test): the reference path
(``compute_labels_reference``, function by function as the spec reads) and the fast path
(``compute_labels``), measured in the same run, their ratio, and whether their labels agree.

    python benchmarks/bench_labels.py [--frames 16] [--size 112] [--repeats 10] [--videos 8] [--data-dir data]
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


def noise_clip(frames: int, size: int) -> np.ndarray:
    """A random texture sliding under the crop: flow and labels are not degenerate, and nearly
    every colour triple is unique (the worst case for the modal-triple count)."""
    rng = np.random.default_rng(0)
    base = rng.integers(0, 255, (size + frames * 2, size + frames * 2, 3), dtype=np.uint8)
    return np.stack([base[t * 2 : t * 2 + size, t : t + size] for t in range(frames)])


def embedded_clips(frames: int, size: int, count: int, data_dir: str) -> list[np.ndarray]:
    """The first ``frames`` frames of ``count`` embedded UCF-layout training videos, resized to
    ``size`` (the data this tool ships: flat colours, edges, MJPEG noise)."""
    from ssl_core.data.config import DataConfig, ensure_datasets
    from ssl_core.data.splits import read_split
    from ssl_core.data.video import read_video

    root = ensure_datasets(DataConfig(data_dir=data_dir), ("ucf",))["ucf"]
    listed = read_split(root, 1, "train").entries
    entries = listed[:: max(1, len(listed) // count)][:count]
    return [read_video(entry.path, size=(size, size))[:frames] for entry in entries]


def compare(name: str, clips: list[np.ndarray], repeats: int) -> None:
    flows = [compute_flow(rgb, "dis") for rgb in clips]
    print(f"{name}: {len(clips)} clip(s) {clips[0].shape[0]}x{clips[0].shape[1]}x{clips[0].shape[2]}, flow given (DIS), "
          f"median of {repeats} per clip, mean over clips")
    for impl in LABEL_IMPLS:
        # the fast path first: its figure must not depend on the reference having run (the
        # reference's large temporaries change glibc's mmap threshold, and with it how many
        # fresh pages, ~1 ms a clip in page faults, later calls get)
        fast = np.mean([median_ms(lambda: compute_labels(rgb, *flow, impl), repeats) for rgb, flow in zip(clips, flows)])
        reference = np.mean([median_ms(lambda: compute_labels_reference(rgb, *flow, impl), repeats) for rgb, flow in zip(clips, flows)])
        same = all(np.array_equal(compute_labels(rgb, *flow, impl)[key], compute_labels_reference(rgb, *flow, impl)[key])
                   for rgb, flow in zip(clips, flows) for key in ("motion", "appearance"))
        print(f"  labels ({impl:<8})  reference {reference:6.1f} ms, fast {fast:6.1f} ms per clip: "
              f"{reference / fast:4.2f}x, labels identical: {same}  (target: fast <= 5 ms)")
    rgb, flow = clips[0], flows[0]
    print(f"  curriculum_score      {median_ms(lambda: curriculum_score(*flow), repeats):6.1f} ms per clip")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--size", type=int, default=112)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--videos", type=int, default=8, help="embedded videos to time (0: the noise clip only)")
    parser.add_argument("--data-dir", default="data")
    args = parser.parse_args()
    compare("noise clip", [noise_clip(args.frames, args.size)], args.repeats)
    if args.videos:
        compare("embedded videos", embedded_clips(args.frames, args.size, args.videos, args.data_dir), args.repeats)


if __name__ == "__main__":
    main()
