"""V3S sampler throughput against the plain clip sampler, and against what training consumes
(a script, not a test).

Prints, on the embedded UCF-layout training videos (in memory, one thread, no DataLoader
workers), for the V3S study preset's clip config (``--preset default``: 8 x 32 x 32 from
40 x 40 frames) and for paper frames (``--paper-frames``: 16 x 112 x 112 from 224 x 224):
  * plain: ``TrainClips`` (random start, crop, flip, to a normalised tensor), clips/s;
  * v3s:   the V3S method's ``sample`` (class draws, one perspective warp per frame with
    resize and crop folded in, strides), clips/s, and its ratio to plain;
  * train: V3S pretraining steps at the preset (R(2+1)D-VCOP at the preset's width, batch 16,
    AdamW, forward + backward + step on pre-sampled batches), clips/s consumed;
  * loader / train: how many times faster the loader makes clips than one training worker
    uses them (target >= 3).

    python benchmarks/bench_v3s.py [--videos 256] [--steps 12] [--paper-frames]
"""
from __future__ import annotations

import argparse
import dataclasses
import time

import numpy as np
import torch

from ssl_core.data.config import ClipConfig, ensure_datasets
from ssl_core.data.dataset import TrainClips, VideoCollection
from ssl_core.data.splits import read_split
from ssl_core.experiment import build_trial_method
from ssl_core.methods.v3s import LAPTOP_STUDY_BUDGET
from ssl_core.presets import method_presets
from ssl_core.pretrain import make_optimiser


def rate(make_clip, count: int) -> float:
    started = time.perf_counter()
    for i in range(count):
        make_clip(i)
    return count / (time.perf_counter() - started)


def training_rate(method, examples: list[dict], config, steps: int) -> float:
    optimiser = make_optimiser(method, config.pretrain)
    size = config.pretrain.batch_size
    batches = [{k: torch.stack([e[k] for e in examples[i * size:(i + 1) * size]]) for k in examples[0]}
               for i in range(len(examples) // size)]
    method.train()
    started, seen = None, 0
    for step in range(steps + 1):  # the first step warms up and is not timed
        if step == 1:
            started = time.perf_counter()
        batch = batches[step % len(batches)]
        loss, _ = method(batch)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        seen += len(batch["clip"]) if step else 0
    return seen / (time.perf_counter() - started)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=256, help="UCF split-1 training videos sampled")
    parser.add_argument("--steps", type=int, default=12, help="timed training steps")
    parser.add_argument("--paper-frames", action="store_true", help="also time the samplers at 224 x 224 -> 112")
    args = parser.parse_args()
    torch.set_num_threads(1)
    # the V3S studies' default preset; the options' defaults are Table 3's V3S row
    config = method_presets("v3s", backbone="r21d_vcop", budget=LAPTOP_STUDY_BUDGET)["default"]
    listing = read_split(ensure_datasets(config.data, ["ucf"])["ucf"], config.data.split, "train")
    settings = [("default", config.clip, 0)]
    if args.paper_frames:
        settings.append(("paper frames", ClipConfig(num_frames=16, stride=1, resize=(224, 224), crop=112), 224))
    print(f"{time.strftime('%Y-%m-%d')}, 1 thread; V3S with every family (Table 3's V3S row), default readings")
    for name, clip, frame_size in settings:
        trial = dataclasses.replace(config, clip=clip)
        trial = dataclasses.replace(trial, method=dataclasses.replace(
            trial.method, options={**trial.method.options, "frame_size": frame_size}))
        videos = VideoCollection(listing.entries[: args.videos], clip, listing.class_names)
        method = build_trial_method(trial)
        plain = TrainClips(videos, seed=0)
        count = len(videos)
        plain_rate = rate(lambda i: plain[i], count)
        rng = np.random.default_rng(0)
        v3s_rate = rate(lambda i: method.sample(videos.frames(i), clip, rng), count)
        print(f"[{name}: {clip.num_frames} x {clip.crop} x {clip.crop} from {videos.frames(0).shape[1:3]} frames, {count} videos]")
        print(f"  plain sampler   {plain_rate:8.1f} clips/s")
        print(f"  v3s sampler     {v3s_rate:8.1f} clips/s   ({v3s_rate / plain_rate:.2f}x plain)")
        if name == "default":
            examples = [method.sample(videos.frames(i % count), clip, rng) for i in range(4 * trial.pretrain.batch_size)]
            train_rate = training_rate(method, examples, trial, args.steps)
            print(f"  training uses   {train_rate:8.1f} clips/s   ({trial.backbone.name} width {trial.backbone.width}, "
                  f"batch {trial.pretrain.batch_size})")
            print(f"  loader / train  {v3s_rate / train_rate:8.1f}x   (target >= 3)")


if __name__ == "__main__":
    main()
