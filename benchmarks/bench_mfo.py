"""MFO pretraining throughput against CSTP on the same backbone (a script, not a test).

For each method (MFO with its laptop settings; CSTP with its defaults: BYOL + STOR + pace +
rotation) at the chosen preset, it pretrains on the embedded UCF-layout set in this process
and prints the clips/s of the training loop (sampling included; the held-out pass is not
timed) and MFO's ratio to CSTP. One "clip" is one training example: a CSTP pair, an MFO
triple (clip A, clip B, long view). Both use ``--threads`` threads.

    python benchmarks/bench_mfo.py [--preset default] [--epochs 1] [--threads 1] [--backbone r3d_18] [--fraction-k 4]
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ssl_core.experiment import load_trial_data, pretrain_trial, with_factors  # noqa: E402
from ssl_core.presets import method_presets  # noqa: E402


def clips_per_s(method: str, preset: str, epochs: int, backbone: str, fraction_k: int, data=None) -> tuple[float, object]:
    config = with_factors(method_presets(method, backbone=backbone)[preset], {
        "pretrain.epochs": epochs, "pretrain.warmup_epochs": 0, "pretrain.schedule.data_fraction_k": fraction_k})
    data = data if data is not None else load_trial_data(config)
    seen = []
    (train, _), _ = data
    pretrain_trial(config, (train, None), on_epoch_end=lambda metrics, state: seen.append(metrics["pretext/clips_per_s"]))
    return max(seen), data


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="default", choices=("smoke", "default"))
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--backbone", default="r3d_18")
    parser.add_argument("--fraction-k", type=int, default=4, help="train on 1/k of the training videos per epoch")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    print(f"{platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__}, {args.threads} thread(s), "
          f"preset {args.preset}, backbone {args.backbone}, {args.epochs} epoch(s) on 1/{args.fraction_k} of the "
          "training videos, best epoch shown")
    cstp, data = clips_per_s("cstp", args.preset, args.epochs, args.backbone, args.fraction_k)
    mfo, _ = clips_per_s("mfo", args.preset, args.epochs, args.backbone, args.fraction_k, data)
    print(f"cstp  {cstp:8.2f} clips/s  1.00")
    print(f"mfo   {mfo:8.2f} clips/s  {mfo / cstp:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
