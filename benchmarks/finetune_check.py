"""Can the fine-tuning protocol learn the embedded classes from random init? A Ray-free check per
backbone (a script that prints figures).

For every backbone and seed: a randomly initialised backbone (built after seeding torch with the
seed; a study's random-init arm draws its own, so its numbers differ a little), fine-tuned with the preset's own fine-tuning settings (``ssl_core.eval.finetune``, the code
every study runs), printing each epoch's training loss and accuracy (augmented clips, dropout on)
and the test split's clip and video top-1 beside the chance level (one over the classes). A
protocol whose random-init run stays at chance on its own training clips cannot show what a
pretraining adds or breaks in fine-tuning: compare such arms with the linear probe instead.

    python benchmarks/finetune_check.py [--backbones c3d r3d_18] [--seeds 0 1] [--dataset ucf]
        [--preset default] [--width 0.25] [--set finetune.lr=0.003 finetune.epochs=32 ...]

``--set`` takes dotted factors of the fine-tuning settings (``finetune.<field>=value``).
"""
from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ssl_core.backbones import BackboneConfig  # noqa: E402
from ssl_core.config import ConfigError, parse_assignment, require  # noqa: E402
from ssl_core.eval.downstream import PRESETS, load_datasets  # noqa: E402
from ssl_core.eval import EvalConfig  # noqa: E402
from ssl_core.eval.finetune import FinetuneConfig, finetune  # noqa: E402
from ssl_core.experiment import with_factors  # noqa: E402

def finetune_settings(base: EvalConfig, pairs) -> FinetuneConfig:
    """``base.finetune`` with ``["finetune.<field>=value", ...]`` applied (values parsed as JSON), validated."""
    try:
        factors = dict(parse_assignment(pair, "--set") for pair in pairs or ())
        require(all(path.startswith("finetune.") for path in factors), "--set", "only finetune.<field>=value")
        return with_factors(base, factors).finetune.validate()
    except ConfigError as error:
        raise SystemExit(str(error)) from None


def random_init(name: str, width: float, seed: int):
    """A randomly initialised ``name`` backbone, built after ``torch.manual_seed(seed)``."""
    torch.manual_seed(seed)
    return BackboneConfig(name, width).build()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backbones", nargs="+", default=["c3d", "r3d_18"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    parser.add_argument("--dataset", default="ucf", choices=("ucf", "hmdb"))
    parser.add_argument("--preset", default="default", choices=("smoke", "default"))
    parser.add_argument("--width", type=float, default=0.0, help="backbone width (0: the preset's)")
    parser.add_argument("--set", nargs="*", default=[], help="finetune.<field>=value")
    parser.add_argument("--data-dir", default="", help="the embedded datasets' folder (default: the preset's)")
    args = parser.parse_args(argv)
    preset = PRESETS[args.preset]
    settings = finetune_settings(preset.eval, args.set)
    for name in args.backbones:
        BackboneConfig(name, args.width or preset.backbone.width).validate()
    data = dataclasses.replace(preset.data, data_dir=args.data_dir) if args.data_dir else preset.data
    train, test = load_datasets(data, preset.clip, (args.dataset,))[args.dataset]
    chance = 100 / train.num_classes
    print(f"{args.dataset}: {len(train)} train / {len(test)} test videos, {train.num_classes} classes (chance "
          f"{chance:.1f} %), clip {preset.clip.num_frames}x{preset.clip.crop}, {torch.get_num_threads()} thread(s); "
          f"fine-tuning {settings}", flush=True)
    summary = {}
    for name in args.backbones:
        for seed in args.seeds:
            started = time.perf_counter()
            epochs = []
            scores = finetune(random_init(name, args.width or preset.backbone.width, seed), train, test, settings,
                              preset.eval.clips_per_video, seed,
                              on_epoch=lambda epoch, loss, acc: epochs.append((loss, acc)))
            trace = " ".join(f"{100 * acc:.0f}" for _, acc in epochs)
            print(f"{name:>12} seed {seed}: training loss {epochs[0][0]:.2f} -> {epochs[-1][0]:.2f}, training accuracy "
                  f"per epoch (%) {trace}; test clip top-1 {100 * scores['clip_top1']:5.1f} %, video top-1 "
                  f"{100 * scores['video_top1']:5.1f} % ({time.perf_counter() - started:.0f} s)", flush=True)
            summary.setdefault(name, []).append((100 * epochs[-1][1], 100 * scores["clip_top1"]))
    print(f"\nrandom init, fine-tuned ({settings.epochs} epochs); mean over seeds {args.seeds}; chance {chance:.1f} %")
    print(f"{'backbone':>12} {'last-epoch train acc':>21} {'test clip top-1':>16}")
    for name, rows in summary.items():
        print(f"{name:>12} {statistics.mean(r[0] for r in rows):20.1f}% {statistics.mean(r[1] for r in rows):15.1f}%")
    return 0


if __name__ == "__main__":
    sys.exit(main())
