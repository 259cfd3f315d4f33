"""Curriculum scores of every clip start of a video, and a label-pipeline shard, on one thread
(a script, not a test).

The label pipeline scores every clip start of every video (``ssl_core.labels.store.clip_scores``).
Two paths, measured in the same run on the same embedded videos, with their ratio and whether
every score is identical:

- clip by clip: each start's fields decoded, cropped and differentiated on their own (the
  pipeline's path before it shared the derivatives: a field is differentiated once per clip
  that holds it);
- ``clip_scores``: each field differentiated once for all the clips that hold it.

Also the whole per-shard work of the pipeline (decode, flow, quantise, score; no Ray) with each
path, so the gain can be read as pipeline throughput per CPU. At the ``default`` preset's
frames (40x40, 8 frames at stride 2) and, with ``--paper``, at the papers' (128x171, 16
frames at stride 1, crop 112).

    python benchmarks/bench_scores.py [--paper] [--videos 64] [--data-dir data]
"""
from __future__ import annotations

import argparse
import os
import platform
import time
from contextlib import contextmanager

import cv2
import numpy as np

from ssl_core.data.config import DataConfig, ensure_datasets
from ssl_core.eval.downstream import preset
from ssl_core.labels import store
from ssl_core.labels.flow import decode_flow_jpeg
from ssl_core.labels.store import LabelPipelineConfig, clip_rows, clip_scores, compute_shard, list_videos, video_flow
from ssl_core.labels.sts import curriculum_score


def scores_clip_by_clip(quant_u: np.ndarray, quant_v: np.ndarray, clip, label_impl: str) -> np.ndarray:
    num_starts = len(quant_u) + clip.stride - clip.span + 1
    scores = np.empty(num_starts, np.float64)
    for start in range(num_starts):
        rows = clip_rows(start, clip.num_frames, clip.stride)
        u, v = decode_flow_jpeg(quant_u[rows]), decode_flow_jpeg(quant_v[rows])
        top, left = (u.shape[1] - clip.crop) // 2, (u.shape[2] - clip.crop) // 2
        window = (slice(None), slice(top, top + clip.crop), slice(left, left + clip.crop))
        scores[start] = curriculum_score(u[window], v[window], label_impl)
    return scores


@contextmanager
def pipeline_scoring(scorer):
    """The label pipeline with ``scorer`` in place of ``clip_scores``."""
    saved = store.clip_scores
    store.clip_scores = scorer
    try:
        yield
    finally:
        store.clip_scores = saved


def seconds(fn) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--paper", action="store_true", help="the papers' frames: 128x171, 16 frames at stride 1, crop 112")
    parser.add_argument("--videos", type=int, default=64, help="embedded training videos (every k-th, spread over classes)")
    parser.add_argument("--data-dir", default="data")
    args = parser.parse_args()
    cv2.setNumThreads(1)

    config = LabelPipelineConfig() if args.paper else LabelPipelineConfig(clip=preset("default").clip)
    dataset = ensure_datasets(DataConfig(data_dir=args.data_dir, synth=preset("default").data.synth), ["ucf"])["ucf"]
    videos = list_videos(dataset, config.split)
    entries = videos[:: max(1, len(videos) // args.videos)][: args.videos]
    flows = [video_flow(entry, config) for entry in entries]
    print(f"{platform.machine()}, {os.cpu_count()} CPUs, one thread | clip {config.clip} | {len(entries)} embedded videos, "
          f"{sum(len(u) for u, _ in flows)} flow pairs")

    for label_impl in ("official", "paper"):
        clip_scores(*flows[0], config.clip, label_impl)  # warm-up
        new, old = [], []
        new_s = seconds(lambda: new.extend(clip_scores(u, v, config.clip, label_impl) for u, v in flows))
        old_s = seconds(lambda: old.extend(scores_clip_by_clip(u, v, config.clip, label_impl) for u, v in flows))
        identical = all(np.array_equal(a, b) for a, b in zip(new, old))
        print(f"scores ({label_impl}): clip by clip {1000 * old_s / len(flows):6.2f} ms/video, clip_scores "
              f"{1000 * new_s / len(flows):6.2f} ms/video: {old_s / new_s:.2f}x, {sum(map(len, new))} scores, identical: {identical}")

    with pipeline_scoring(scores_clip_by_clip):
        old_rows, _ = compute_shard(entries[:2], config)  # warm-up
        old_s = seconds(lambda: old_rows.extend(compute_shard(entries, config)[0]))
    new_rows, _ = compute_shard(entries[:2], config)
    new_s = seconds(lambda: new_rows.extend(compute_shard(entries, config)[0]))
    identical = all(np.array_equal(a.clip_scores, b.clip_scores) for a, b in zip(old_rows, new_rows))
    print(f"pipeline work per video (decode, flow, quantise, score): clip by clip {1000 * old_s / len(entries):6.1f} ms, "
          f"clip_scores {1000 * new_s / len(entries):6.1f} ms: {old_s / new_s:.2f}x "
          f"({len(entries) / new_s:.1f} videos/s per CPU), identical: {identical}")


if __name__ == "__main__":
    main()
