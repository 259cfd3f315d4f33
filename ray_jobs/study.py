"""Studies: short declarations (arms x seeds over a preset) and the one runner they share.

A study script is::

    STUDY = Study(name="rotation_vs_scratch", title="...", table="CSTP/T2",
                  arms=(Arm("scratch", {"method.name": "scratch"}), Arm("rotation", {...})),
                  metrics=(Metric("linear/ucf/top1"), ...), presets=PRESETS)
    if __name__ == "__main__":
        sys.exit(run_study_cli(STUDY))

Everything is resolved and validated before Ray starts; a bad setting fails with a message
that names the field.
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ssl_core.config import ConfigError, require
from ssl_core.experiment import TrialConfig, with_factors
from ssl_core.io import read_json, write_json

SUMMARY_FILE = "trial_summary.json"


@dataclass(frozen=True)
class Arm:
    """One setting of the ablation: dotted factor paths into TrialConfig, and the paper's row filters."""

    name: str
    factors: dict[str, Any]
    paper: dict[str, str] | None = None


@dataclass(frozen=True)
class Metric:
    name: str
    paper: dict[str, str] | None = None


PAPER_DATASETS = {"ucf": "UCF101", "hmdb": "HMDB51"}
PAPER_BACKBONES = {"c3d": "C3D", "r3d_18": "R3D-18", "r2plus1d_18": "R(2+1)D"}


def finetune_metrics(level: str = "video", datasets=("ucf", "hmdb")) -> tuple[Metric, ...]:
    """Fine-tuning top-1 (``level`` ``clip`` or ``video``) per dataset, matched to the papers' rows."""
    return tuple(Metric(f"finetune/{key}/{level}_top1",
                        paper={"protocol": f"finetune_{level}", "eval_dataset": PAPER_DATASETS[key], "metric": "top1"})
                 for key in datasets)


# What every study reports besides its paper metrics (the papers do not tabulate these).
EXTRA_METRICS = (Metric("linear/ucf/top1"), Metric("linear/hmdb/top1"), Metric("retrieval/ucf/r@5"), Metric("pretext/acc"))

SEARCH_KINDS = ("uniform", "loguniform")


@dataclass(frozen=True)
class Search:
    """Optuna over continuous settings, run as one Tuner per arm (Optuna cannot take grid arms).

    ``params`` maps a dotted TrialConfig path to ``(kind, low, high)`` with kind ``uniform`` or
    ``loguniform``; ``metric``/``mode`` is the objective (reported when the trial ends). With
    ``asha``, ASHA stops trials early on the per-epoch ``asha_metric``.
    """

    params: dict[str, tuple[str, float, float]]
    metric: str
    mode: str = "max"
    num_samples: int = 8
    asha: bool = False
    asha_metric: str = "pretext/acc"
    asha_mode: str = "max"
    grace_period: int = 1

    def validate(self, base: TrialConfig, prefix: str = "search.") -> "Search":
        require(len(self.params) > 0, prefix + "params", "at least one setting to search is needed")
        require(self.mode in ("max", "min") and self.asha_mode in ("max", "min"), prefix + "mode", "must be 'max' or 'min'")
        require(self.num_samples >= 1, prefix + "num_samples", f"must be >= 1, got {self.num_samples}")
        for path, (kind, low, high) in self.params.items():
            require(kind in SEARCH_KINDS, f"{prefix}params[{path}]", f"kind must be one of {SEARCH_KINDS}, got {kind!r}")
            require(low < high and (kind != "loguniform" or low > 0), f"{prefix}params[{path}]", f"needs 0 < low < high for {kind}, got ({low}, {high})")
            for value in (low, high):
                with_factors(base, {path: value}).validate()
        return self


@dataclass(frozen=True)
class Study:
    name: str
    title: str
    arms: tuple[Arm, ...]
    metrics: tuple[Metric, ...]
    presets: dict[str, TrialConfig]
    table: str | None = None
    baseline_arm: str | None = None
    figure: dict = field(default_factory=lambda: {"kind": "bar", "x": None})
    seeds: tuple[int, ...] = (0, 1)
    search: Search | None = None

    def trial_configs(self, preset: str, seeds) -> dict[tuple[str, int], TrialConfig]:
        """Every (arm, seed) -> validated TrialConfig. Raises ConfigError naming the field."""
        require(preset in self.presets, "preset", f"unknown preset {preset!r} (known: {', '.join(self.presets)})")
        names = [arm.name for arm in self.arms]
        require(len(set(names)) == len(names), "arms", f"arm names must be unique, got {names}")
        require(self.baseline_arm is None or self.baseline_arm in names, "baseline_arm", f"{self.baseline_arm!r} is not an arm")
        require(len(seeds) > 0, "seeds", "at least one seed is needed")
        configs = {}
        for arm in self.arms:
            for seed in seeds:
                try:
                    config = with_factors(self.presets[preset], {**arm.factors, "seed": seed}).validate()
                except ConfigError as error:
                    raise ConfigError(f"arms[{arm.name}].{error.field}", str(error).split(": ", 1)[1]) from None
                configs[(arm.name, int(seed))] = config
        if self.search is not None:
            self.search.validate(next(iter(configs.values())))
        return configs

    def declaration(self, preset: str, seeds) -> dict:
        return {"name": self.name, "title": self.title, "table": self.table, "preset": preset, "seeds": list(seeds),
                "baseline_arm": self.baseline_arm, "figure": self.figure,
                "arms": [{"name": a.name, "factors": a.factors, "paper": a.paper} for a in self.arms],
                "metrics": [{"name": m.name, "paper": m.paper} for m in self.metrics],
                "search": None if self.search is None else dataclasses.asdict(self.search)}


def parse_args(study: Study, argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=study.title)
    parser.add_argument("--preset", default="default", help=f"one of {', '.join(study.presets)} (default: default)")
    parser.add_argument("--out", default="results", help="results root; the study writes OUT/<study name>/")
    parser.add_argument("--storage-path", help="where Ray keeps trials and checkpoints (local dir or s3://..., gs://...); default OUT/<study>")
    parser.add_argument("--address", help="attach to a running Ray cluster (e.g. auto); default: start Ray in-process")
    parser.add_argument("--resume", action="store_true", help="continue an interrupted or partly failed study")
    parser.add_argument("--seeds", type=int, help="number of seeds (repeats), default the study's")
    parser.add_argument("--max-concurrent", type=int, help="trials at once (default: as many as CPUs allow)")
    parser.add_argument("--max-failures", type=int, default=2, help="retries of a failing trial from its checkpoint")
    parser.add_argument("--quiet", action="store_true", help="no per-trial progress table")
    return parser.parse_args(argv)


def run_study_cli(study: Study, argv=None) -> int:
    args = parse_args(study, argv)
    seeds = tuple(range(args.seeds)) if args.seeds else study.seeds
    try:
        require(args.seeds is None or args.seeds >= 1, "seeds", f"must be >= 1, got {args.seeds}")
        require(args.max_concurrent is None or args.max_concurrent >= 1, "max_concurrent", f"must be >= 1, got {args.max_concurrent}")
        configs = study.trial_configs(args.preset, seeds)
    except ConfigError as error:
        print(f"error: bad configuration: {error}", file=sys.stderr)
        return 2
    study_dir = Path(args.out).resolve() / study.name
    if study_dir.exists() and not args.resume:
        print(f"error: {study_dir} exists; pass --resume to continue it, or choose another --out", file=sys.stderr)
        return 2
    if args.resume and (study_dir / "study.json").exists() and read_json(study_dir / "study.json")["preset"] != args.preset:
        print(f"error: {study_dir} was run with preset {read_json(study_dir / 'study.json')['preset']!r}; resume with that preset", file=sys.stderr)
        return 2
    study_dir.mkdir(parents=True, exist_ok=True)
    write_json(study_dir / "study.json", study.declaration(args.preset, seeds))
    from ray_jobs.runner import run_tuner  # Ray is imported only once the configuration is known to be good

    return run_tuner(study, configs, study_dir, args)
