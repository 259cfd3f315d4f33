#!/usr/bin/env python
"""Throughput of the registered video backbones (CPU by default).

For each backbone: forward clips/s (eval, no grad) and forward+backward
clips/s (train mode, SGD-free: loss = mean of the pooled feature), median over
``--iters`` timed iterations after ``--warmup`` untimed ones.

Sizes:
    laptop: width 0.25, batch 8, input (8, 3, 8, 32, 32)          (default)
    paper:  width 1.0,  batch 2, input (2, 3, 16, 112, 112)

Usage:
    python benchmarks/bench_backbones.py [--size laptop|paper|both] [--threads N]
        [--backbones c3d,r3d_18] [--iters 5] [--warmup 2] [--device cpu]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ssl_core.backbones import build_backbone, list_backbones  # noqa: E402

SIZES = {
    "laptop": {"width": 0.25, "shape": (8, 3, 8, 32, 32)},
    "paper": {"width": 1.0, "shape": (2, 3, 16, 112, 112)},
}


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _time(fn, device: torch.device, warmup: int, iters: int) -> float:
    for _ in range(warmup):
        fn()
    _sync(device)
    times = []
    for _ in range(iters):
        t0 = time.perf_counter()
        fn()
        _sync(device)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def bench(name: str, size: str, device: torch.device, warmup: int, iters: int) -> dict:
    cfg = SIZES[size]
    torch.manual_seed(0)
    model = build_backbone(name, width=cfg["width"]).to(device)
    x = torch.randn(*cfg["shape"], device=device)
    batch = cfg["shape"][0]
    n_params = sum(p.numel() for p in model.parameters())

    model.eval()

    def fwd():
        with torch.no_grad():
            model(x)

    t_fwd = _time(fwd, device, warmup, iters)

    model.train()

    def fwd_bwd():
        model.zero_grad(set_to_none=True)
        model(x).mean().backward()

    t_train = _time(fwd_bwd, device, warmup, iters)
    return {
        "backbone": name,
        "size": size,
        "width": cfg["width"],
        "input": "x".join(map(str, cfg["shape"])),
        "params_M": n_params / 1e6,
        "feature_dim": model.feature_dim,
        "fwd_clips_s": batch / t_fwd,
        "train_clips_s": batch / t_train,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", choices=["laptop", "paper", "both"], default="laptop")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="torch.set_num_threads (default: all cores)")
    parser.add_argument("--backbones", default="*", help="comma-separated names or one fnmatch pattern (default: all)")
    parser.add_argument("--iters", type=int, default=5, help="timed iterations (median reported)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed warm-up iterations")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)
    if args.threads < 1 or args.iters < 1 or args.warmup < 0:
        parser.error("--threads and --iters must be >= 1, --warmup >= 0")

    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    if "," in args.backbones:
        names = [n.strip() for n in args.backbones.split(",") if n.strip()]
        unknown = [n for n in names if n not in list_backbones()]
        if unknown:
            parser.error(f"--backbones: unknown {unknown}; known {list_backbones()}")
    else:
        names = list_backbones(args.backbones)
        if not names:
            parser.error(f"--backbones: pattern {args.backbones!r} matches none of {list_backbones()}")
    sizes = ["laptop", "paper"] if args.size == "both" else [args.size]

    print(
        f"torch {torch.__version__}, device {device}, threads {torch.get_num_threads()}, "
        f"median of {args.iters} iters after {args.warmup} warm-up"
    )
    header = f"{'backbone':<12} {'size':<7} {'width':>5} {'input':<16} {'params(M)':>9} {'feat':>5} {'fwd clips/s':>12} {'fwd+bwd clips/s':>16}"
    print(header)
    print("-" * len(header))
    for size in sizes:
        for name in names:
            r = bench(name, size, device, args.warmup, args.iters)
            print(
                f"{r['backbone']:<12} {r['size']:<7} {r['width']:>5.2f} {r['input']:<16} {r['params_M']:>9.2f} "
                f"{r['feature_dim']:>5d} {r['fwd_clips_s']:>12.1f} {r['train_clips_s']:>16.1f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
