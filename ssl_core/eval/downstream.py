"""Downstream evaluation of one backbone on UCF101/HMDB51-layout datasets, with presets.

Without dataset paths the embedded synthetic datasets are generated (once, cached under
``data.data_dir``) in the UCF101 and HMDB51 layouts and read by the same readers as real
downloads. ``python -m ssl_core.eval`` is the command-line front end.
"""
from __future__ import annotations

import os
import platform
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch

from ssl_core.backbones import BackboneConfig
from ssl_core.checkpoint import load_backbone
from ssl_core.config import config_hash, require, to_dict
from ssl_core.data.config import DATASET_KEYS, ClipConfig, DataConfig, SynthConfig, ensure_datasets
from ssl_core.data.dataset import VideoCollection, load_split
from ssl_core.eval.finetune import FinetuneConfig
from ssl_core.eval.protocols import EvalConfig, evaluate
from ssl_core.io import write_json

@dataclass(frozen=True)
class DownstreamConfig:
    backbone: BackboneConfig = field(default_factory=BackboneConfig)
    checkpoint: str | None = None
    clip: ClipConfig = field(default_factory=ClipConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    data: DataConfig = field(default_factory=DataConfig)
    datasets: tuple[str, ...] = DATASET_KEYS

    def validate(self) -> "DownstreamConfig":
        self.backbone.validate()
        require(self.checkpoint is None or Path(self.checkpoint).is_dir(), "checkpoint", f"{self.checkpoint} is not a checkpoint directory")
        self.clip.validate()
        self.eval.validate()
        self.data.validate()
        require(len(self.datasets) > 0, "datasets", "at least one dataset is needed")
        for key in self.datasets:
            require(key in DATASET_KEYS, "datasets", f"unknown dataset {key!r} (known: {', '.join(DATASET_KEYS)})")
        return self


PRESETS: dict[str, DownstreamConfig] = {
    # seconds: CI and tests
    "smoke": DownstreamConfig(
        backbone=BackboneConfig("r3d_18", 0.125),
        clip=ClipConfig(num_frames=4, stride=2, resize=(32, 32), crop=24),
        eval=EvalConfig(clips_per_video=2, batch_size=16, linear_steps=50, finetune=FinetuneConfig(epochs=1, batch_size=8, flip=False)),
        data=DataConfig(synth=SynthConfig(width=32, height=32, num_frames=20, groups=3, clips_per_group=2)),
    ),
    # a laptop: a few minutes on 2 CPU cores
    "default": DownstreamConfig(
        backbone=BackboneConfig("r3d_18", 0.25),
        clip=ClipConfig(num_frames=8, stride=2, resize=(40, 40), crop=32),
        eval=EvalConfig(clips_per_video=4, batch_size=32, finetune=FinetuneConfig(epochs=16, batch_size=16, lr=0.01, flip=False)),
    ),
    # the papers' protocol (STS section 5, V3S section 4): for a GPU machine and real data. The
    # decoded videos are not kept in memory: UCF101 at 128 x 171 would take about 160 GB.
    "paper": DownstreamConfig(
        backbone=BackboneConfig("r3d_18", 1.0),
        clip=ClipConfig(num_frames=16, stride=1, resize=(128, 171), crop=112),
        eval=EvalConfig(clips_per_video=10, batch_size=32, finetune=FinetuneConfig(epochs=150, batch_size=32, lr=3e-3)),
        data=DataConfig(cache=False),
    ),
}


def load_datasets(data: DataConfig, clip: ClipConfig, keys) -> dict[str, tuple[VideoCollection, VideoCollection]]:
    """Decode the train and test videos of every dataset in ``keys`` (bad videos skipped and
    listed), generating missing embedded datasets first."""
    roots = ensure_datasets(data, keys)
    return {key: tuple(load_split(root, data.split, subset, clip, cache=data.cache) for subset in ("train", "test"))
            for key, root in roots.items()}


def build_model(config: DownstreamConfig):
    if config.checkpoint:
        backbone, saved = load_backbone(config.checkpoint)
        require(saved == config.backbone, "backbone", f"checkpoint holds {saved}, config asks for {config.backbone}")
        return backbone
    torch.manual_seed(config.eval.seed)
    return config.backbone.build()


def run_downstream(config: DownstreamConfig, out_dir: str | Path, log=print, device: str = "cpu") -> dict[str, float]:
    """Evaluate on ``device`` and write ``config.json``, ``metrics.json`` and ``manifest_<key>.json``
    into ``out_dir``."""
    config.validate()
    out_dir = Path(out_dir)
    write_json(out_dir / "config.json", {"config": to_dict(config), "config_hash": config_hash(config)})
    started = time.perf_counter()
    datasets = load_datasets(config.data, config.clip, config.datasets)
    for key, (train, test) in datasets.items():
        for subset, videos in (("train", train), ("test", test)):
            log(videos.report())
        write_json(out_dir / f"manifest_{key}.json", {"train": train.summary(), "test": test.summary()})
    metrics = evaluate(build_model(config), datasets, config.eval, device)
    seconds = time.perf_counter() - started
    write_json(out_dir / "metrics.json", {"metrics": metrics, "seconds": round(seconds, 1), "machine": _machine(),
                                          "device": str(device)})
    return metrics


def _machine() -> str:
    return f"{platform.machine()} {os.cpu_count()} CPUs, torch {torch.__version__}, {platform.platform()}"


def preset(name: str, **overrides) -> DownstreamConfig:
    if name not in PRESETS:
        raise ValueError(f"preset: unknown preset {name!r} (known: {', '.join(PRESETS)})")
    return replace(PRESETS[name], **overrides)
