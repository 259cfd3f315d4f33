"""The command line every study script shares: ``python studies/<name>.py [options]``.

Everything is resolved and validated before Ray is imported; a bad setting exits 2 with a
message that names the field, and nothing is written.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from ssl_core.config import ConfigError, config_hash, parse_assignment, require, to_dict
from ssl_core.data.config import DatasetError, check_given_roots
from ray_jobs.resources import check_resources, local_resources
from ssl_core.io import read_json
from ssl_core.study import Study, resume_differences, trial_key


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
    parser.add_argument("--connect-timeout", type=float, default=60.0,
                        help="seconds to wait for the Ray cluster at --address before giving up (default 60)")
    parser.add_argument("--resume", action="store_true", help="continue an interrupted or partly failed study")
    parser.add_argument("--seeds", type=int, help="number of seeds (repeats), default the study's")
    parser.add_argument("--max-concurrent", type=int, help="trials at once (default: as many as CPUs allow)")
    parser.add_argument("--max-failures", type=int, default=2, help="retries of a failing trial from its checkpoint")
    parser.add_argument("--keep-checkpoints", type=int, default=2,
                        help="checkpoints each trial keeps on storage, its newest (default 2; 0 keeps every epoch's)")
    parser.add_argument("--quiet", action="store_true", help="no per-trial progress table")
    return parser.parse_args(argv)


def resolved_configs(configs: dict) -> dict:
    """``{trial key: {"config_hash", "config"}}`` of the declared trial configs (what --show-config prints)."""
    return {trial_key(arm, seed): {"config_hash": config_hash(config), "config": to_dict(config)}
            for (arm, seed), config in configs.items()}


class CannotRun(Exception):
    """A study that must not start: the one-line reason (exit code 2, nothing written)."""


def check_writable(path: Path, what: str) -> None:
    """CannotRun unless a directory can be made at ``path``: its nearest existing ancestor is a
    directory that takes a new entry (tried with an empty directory, removed at once)."""
    if path.exists():
        if not path.is_dir():
            raise CannotRun(f"{what} {path} is a file, not a directory")
        return
    ancestor = path.parent
    while not ancestor.exists():
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise CannotRun(f"{what} {path}: {ancestor} is a file, not a directory")
    try:
        Path(tempfile.mkdtemp(prefix=".write-check-", dir=ancestor)).rmdir()
    except OSError as error:
        raise CannotRun(f"{what} {path} cannot be created: {error.strerror or error} in {ancestor}") from None


def recorded_declaration(study_dir: Path) -> dict:
    """The declaration a study directory records; CannotRun with a one-line reason when there is none."""
    path = study_dir / "study.json"
    if not study_dir.is_dir() or not path.exists():
        raise CannotRun(f"nothing to resume at {study_dir} (no study.json there)")
    try:
        recorded = read_json(path)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise CannotRun(f"{path} is not a study declaration: {error}") from None
    if not isinstance(recorded, dict) or not {"name", "preset", "seeds", "arms"} <= recorded.keys():
        raise CannotRun(f"{path} is not a study declaration (it lacks name, preset, seeds or arms)")
    return recorded


def check_study_dir(study_dir: Path, declaration: dict, resume: bool) -> list[str]:
    """Refuse a run into ``study_dir`` that would overwrite or mix results; returns what a
    resume adds (new arms, new seeds)."""
    if study_dir.exists() and not study_dir.is_dir():
        raise CannotRun(f"{study_dir} is a file, not a study directory")
    if not resume:
        if study_dir.exists():
            raise CannotRun(f"{study_dir} exists; pass --resume to continue it, or choose another --out")
        return []
    refusals, additions = resume_differences(recorded_declaration(study_dir), declaration)
    if refusals:
        raise CannotRun(f"{study_dir} holds another declaration; resuming would mix results:\n  " + "\n  ".join(refusals))
    return additions


def check_before_writing(configs: dict, study_dir: Path, declaration: dict, args) -> list[str]:
    """Every check that needs no Ray: the study directory, where results and checkpoints go,
    and (in-process Ray) whether this machine can place a trial. Returns what a resume adds."""
    if args.keep_checkpoints < 0:
        raise CannotRun(f"--keep-checkpoints must be 0 (keep every checkpoint) or more, got {args.keep_checkpoints}")
    additions = check_study_dir(study_dir, declaration, args.resume)
    check_writable(study_dir, "--out")
    if args.storage_path and "://" not in args.storage_path:
        check_writable(Path(args.storage_path).resolve(), "--storage-path")
    if not args.address:
        problem = check_resources(configs, *local_resources())
        if problem:
            raise CannotRun(problem)
    datasets = {repr((c.data, c.pretrain_dataset, c.eval_datasets)): c for c in configs.values()}
    for config in datasets.values():
        try:
            check_given_roots(config.data, (config.pretrain_dataset,) + tuple(config.eval_datasets))
        except DatasetError as error:
            raise CannotRun(str(error)) from None
    return additions


def run_study_cli(study: Study, argv=None) -> int:
    args = parse_args(study, argv)
    study = study.for_preset(args.preset)
    seeds = tuple(range(args.seeds)) if args.seeds else study.seeds
    try:
        require(args.seeds is None or args.seeds >= 1, "seeds", f"must be >= 1, got {args.seeds}")
        require(args.max_concurrent is None or args.max_concurrent >= 1, "max_concurrent", f"must be >= 1, got {args.max_concurrent}")
        require(args.connect_timeout > 0, "connect_timeout", f"must be > 0, got {args.connect_timeout}")
        overrides = dict(parse_assignment(text, "set") for text in args.set)
        configs = study.trial_configs(args.preset, seeds, overrides)
    except ConfigError as error:
        print(f"error: bad configuration: {error}", file=sys.stderr)
        return 2
    if args.show_config:
        print(json.dumps(resolved_configs(configs), indent=1, sort_keys=True, default=str))
        return 0
    study_dir = Path(args.out).resolve() / study.name
    declaration = study.declaration(args.preset, seeds, overrides,
                                    {key: entry["config_hash"] for key, entry in resolved_configs(configs).items()})
    try:
        additions = check_before_writing(configs, study_dir, declaration, args)
    except CannotRun as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if additions:
        print(f"{study.name}: resuming adds {' and '.join(additions)}")
    from ray_jobs.runner import run_tuner  # Ray is imported only once the configuration is known to be good

    return run_tuner(study, configs, study_dir, declaration, args)
