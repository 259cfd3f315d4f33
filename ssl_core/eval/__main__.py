"""``python -m ssl_core.eval``: downstream evaluation of a backbone (random init or a checkpoint).

Example::

    python -m ssl_core.eval --preset default --out results/downstream/random_init
    python -m ssl_core.eval --checkpoint results/.../backbone --ucf-root /data/UCF101 --preset paper
"""
from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

from ssl_core.backbones import BackboneConfig
from ssl_core.checkpoint import check_checkpoint
from ssl_core.config import ConfigError
from ssl_core.data.config import DatasetError, check_given_roots
from ssl_core.eval.downstream import PRESETS, preset, run_downstream
from ssl_core.eval.protocols import PROTOCOLS


def parse_args(argv=None):
    parser = argparse.ArgumentParser(prog="python -m ssl_core.eval", description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="default", choices=sorted(PRESETS))
    parser.add_argument("--out", default="results/downstream/random_init", help="output directory")
    parser.add_argument("--force", action="store_true", help="overwrite an existing metrics.json in --out")
    parser.add_argument("--backbone", help="backbone name (default: the preset's)")
    parser.add_argument("--width", type=float, help="backbone width multiplier (default: the preset's)")
    parser.add_argument("--checkpoint", help="a backbone checkpoint directory (default: random init)")
    parser.add_argument("--protocols", help=f"comma-separated subset of {','.join(PROTOCOLS)}")
    parser.add_argument("--datasets", help="comma-separated subset of ucf,hmdb")
    parser.add_argument("--data-dir", help="where the embedded datasets are generated (default: data)")
    parser.add_argument("--ucf-root", help="a UCF101 download (UCF-101/ + ucfTrainTestlist/)")
    parser.add_argument("--hmdb-root", help="an HMDB51 download (hmdb51_org/ + testTrainMulti_7030_splits/)")
    parser.add_argument("--split", type=int, help="split 1, 2 or 3")
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"),
                        help="where to evaluate; auto: the GPU when there is one, else the CPU")
    return parser.parse_args(argv)


def resolve_device(name: str) -> str:
    """``auto`` -> ``cuda`` when a GPU is visible, else ``cpu``; ``cuda`` without one is a ConfigError."""
    import torch

    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device", "cuda was asked for, but torch sees no GPU here")
    return name


def build_config(args):
    config = preset(args.preset)
    backbone = BackboneConfig(args.backbone or config.backbone.name, config.backbone.width if args.width is None else args.width)
    data = config.data
    for field_name in ("data_dir", "ucf_root", "hmdb_root", "split"):
        value = getattr(args, field_name)
        if value is not None:
            data = replace(data, **{field_name: value})
    config = replace(config, backbone=backbone, data=data, checkpoint=args.checkpoint)
    if args.protocols:
        config = replace(config, eval=replace(config.eval, protocols=tuple(args.protocols.split(","))))
    if args.datasets:
        config = replace(config, datasets=tuple(args.datasets.split(",")))
    return config.validate()


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        config = build_config(args)
        device = resolve_device(args.device)
    except ConfigError as error:
        print(f"error: bad configuration: {error}", file=sys.stderr)
        return 2
    out = Path(args.out)
    if (out / "metrics.json").exists() and not args.force:
        print(f"error: {out / 'metrics.json'} exists; choose another --out or pass --force", file=sys.stderr)
        return 2
    try:
        if config.checkpoint:
            check_checkpoint(config.checkpoint)
        check_given_roots(config.data, config.datasets)
    except (DatasetError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    metrics = run_downstream(config, out, device=device)
    width = max(len(name) for name in metrics)
    for name, value in sorted(metrics.items()):
        print(f"{name:<{width}}  {100 * value:6.2f}")
    print(f"wrote {out / 'metrics.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
