"""Loader throughput on the embedded dataset (a script, not a test).

Prints, for the chosen preset's clip config:
  * decode: whole videos decoded from disk + resized (videos/s, frames/s),
  * clips from disk: TrainClips with cache=False (every clip decodes its video),
  * clips from memory: TrainClips over the in-memory cache (the laptop default),
  * eval clips from memory: EvalClips (K uniform centre crops per video).

    python benchmarks/bench_loader.py [--preset default] [--data-dir data] [--videos 64]
"""
from __future__ import annotations

import argparse
import time
from dataclasses import replace

import torch
from torch.utils.data import DataLoader

from ssl_core.data.dataset import EvalClips, TrainClips, VideoCollection
from ssl_core.data.splits import read_split
from ssl_core.data.video import read_video
from ssl_core.data.config import ensure_datasets
from ssl_core.eval.downstream import preset


def timed(fn):
    start = time.perf_counter()
    count = fn()
    return count, time.perf_counter() - start


def drain(dataset, batch_size, workers):
    loader = DataLoader(dataset, batch_size=batch_size, num_workers=workers)
    return sum(len(batch[0]) for batch in loader)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="default")
    parser.add_argument("--data-dir", default="data")
    parser.add_argument("--videos", type=int, default=64, help="videos of UCF split-1 train used")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--workers", type=int, default=0, help="DataLoader workers")
    args = parser.parse_args()
    torch.set_num_threads(1)
    config = preset(args.preset)
    config = replace(config, data=replace(config.data, data_dir=args.data_dir))
    listing = read_split(ensure_datasets(config.data, ["ucf"])["ucf"], 1, "train")
    entries = listing.entries[: args.videos]
    clip = config.clip

    frames, seconds = timed(lambda: sum(len(read_video(e.path, clip.resize)) for e in entries))
    print(f"decode+resize      {len(entries) / seconds:8.1f} videos/s  {frames / seconds:9.1f} frames/s  ({len(entries)} videos, {seconds:.2f} s)")
    lazy = VideoCollection(entries, clip, listing.class_names, cache=False)
    cached = VideoCollection(entries, clip, listing.class_names, cache=True)
    for name, dataset in (("train clips, disk", TrainClips(lazy)), ("train clips, memory", TrainClips(cached)),
                          ("eval clips, memory", EvalClips(cached, config.eval.clips_per_video))):
        count, seconds = timed(lambda: drain(dataset, args.batch_size, args.workers))
        print(f"{name:<19}{count / seconds:8.1f} clips/s   ({count} clips of {clip.num_frames}x{clip.crop}x{clip.crop}, {seconds:.2f} s)")


if __name__ == "__main__":
    main()
