"""The command line every study script shares: ``python studies/<name>.py [options]``.

Everything is resolved and validated before Ray is imported; a bad setting exits 2 with a
message that names the field, and nothing is written.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ssl_core.config import ConfigError, config_hash, parse_assignment, require, to_dict
from ssl_core.io import read_json, write_json
from ssl_core.study import Study, trial_key


def parse_args(study: Study, argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=study.title)
    parser.add_argument("--preset", default="default", help=f"one of {', '.join(study.presets)} (default: default)")
    parser.add_argument("--set", nargs="+", default=[], metavar="PATH=VALUE",
                        help="dotted factors for every arm, applied after the preset (values parsed as JSON when "
                             "they parse), e.g. --set pretrain.epochs=4 backbone.width=0.5")
    parser.add_argument("--show-config", action="store_true", help="print every trial's resolved config as JSON and exit")
    parser.add_argument("--out", default="results", help="results root; the study writes OUT/<study name>/")
    parser.add_argument("--storage-path", help="where Ray keeps trials and checkpoints (local dir or s3://..., gs://...); default OUT/<study>")
    parser.add_argument("--address", help="attach to a running Ray cluster (e.g. auto); default: start Ray in-process")
    parser.add_argument("--resume", action="store_true", help="continue an interrupted or partly failed study")
    parser.add_argument("--seeds", type=int, help="number of seeds (repeats), default the study's")
    parser.add_argument("--max-concurrent", type=int, help="trials at once (default: as many as CPUs allow)")
    parser.add_argument("--max-failures", type=int, default=2, help="retries of a failing trial from its checkpoint")
    parser.add_argument("--quiet", action="store_true", help="no per-trial progress table")
    return parser.parse_args(argv)


def resolved_configs(configs: dict) -> dict:
    """``{trial key: {"config_hash", "config"}}`` of the declared trial configs (what --show-config prints)."""
    return {trial_key(arm, seed): {"config_hash": config_hash(config), "config": to_dict(config)}
            for (arm, seed), config in configs.items()}


def run_study_cli(study: Study, argv=None) -> int:
    args = parse_args(study, argv)
    study = study.for_preset(args.preset)
    seeds = tuple(range(args.seeds)) if args.seeds else study.seeds
    try:
        require(args.seeds is None or args.seeds >= 1, "seeds", f"must be >= 1, got {args.seeds}")
        require(args.max_concurrent is None or args.max_concurrent >= 1, "max_concurrent", f"must be >= 1, got {args.max_concurrent}")
        overrides = dict(parse_assignment(text, "set") for text in args.set)
        configs = study.trial_configs(args.preset, seeds, overrides)
    except ConfigError as error:
        print(f"error: bad configuration: {error}", file=sys.stderr)
        return 2
    if args.show_config:
        print(json.dumps(resolved_configs(configs), indent=1, sort_keys=True, default=str))
        return 0
    study_dir = Path(args.out).resolve() / study.name
    if study_dir.exists() and not args.resume:
        print(f"error: {study_dir} exists; pass --resume to continue it, or choose another --out", file=sys.stderr)
        return 2
    if args.resume and (study_dir / "study.json").exists() and read_json(study_dir / "study.json")["preset"] != args.preset:
        print(f"error: {study_dir} was run with preset {read_json(study_dir / 'study.json')['preset']!r}; resume with that preset", file=sys.stderr)
        return 2
    study_dir.mkdir(parents=True, exist_ok=True)
    write_json(study_dir / "study.json", study.declaration(args.preset, seeds, overrides))
    from ray_jobs.runner import run_tuner  # Ray is imported only once the configuration is known to be good

    return run_tuner(study, configs, study_dir, args)
