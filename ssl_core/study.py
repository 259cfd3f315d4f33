"""Studies as declarations, and the layout of a study directory. Plain Python, no Ray.

A study script is::

    STUDY = Study(name="rotation_vs_scratch", title="...", table=None,
                  arms=(Arm("scratch", {"method.name": "scratch"}), Arm("rotation", {...})),
                  metrics=(Metric("linear/ucf/top1"), ...), presets=PRESETS)
    if __name__ == "__main__":
        sys.exit(run_study_cli(STUDY))          # ray_jobs.cli

Every trial config is resolved and validated before any Ray work starts; a bad setting
fails with a message that names the field.

A study directory ``OUT/<study>/`` holds ``study.json`` (the declaration), one
``trials/<key>/trial_summary.json`` per completed trial (:func:`summary_path`, keys from
:func:`trial_key`), ``attempts.jsonl`` and the reports; ``analysis`` reads the same layout.
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ssl_core.config import ConfigError, require
from ssl_core.experiment import TrialConfig, with_factors

SUMMARY_FILE = "trial_summary.json"
TRIALS_DIR = "trials"


def _message(error: ConfigError) -> str:
    """The message of ``error`` without its field."""
    return str(error).split(": ", 1)[1]


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
# The STS paper's three backbones (journal Table 2): C3D with batch norm and the 14.4 M-parameter
# R3D and R(2+1)D of its public code (one block per stage), not torchvision's 18-layer nets.
STS_PAPER_BACKBONES = {"c3d": "C3D", "r3d_vcop": "R3D-18", "r21d_vcop": "R(2+1)D"}


def finetune_metrics(level: str = "video", datasets=("ucf", "hmdb")) -> tuple[Metric, ...]:
    """Fine-tuning top-1 (``level`` ``clip`` or ``video``) per dataset, matched to the papers' rows."""
    return tuple(Metric(f"finetune/{key}/{level}_top1",
                        paper={"protocol": f"finetune_{level}", "eval_dataset": PAPER_DATASETS[key], "metric": "top1"})
                 for key in datasets)


def linear_metrics(datasets=("ucf", "hmdb")) -> tuple[Metric, ...]:
    """Linear-probe top-1 per dataset, matched to the papers' rows."""
    return tuple(Metric(f"linear/{key}/top1", paper={"protocol": "linear", "eval_dataset": PAPER_DATASETS[key], "metric": "top1"})
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
        require(not self.asha or 1 <= self.grace_period <= base.pretrain.epochs, prefix + "grace_period",
                f"must be between 1 and pretrain.epochs ({base.pretrain.epochs}), got {self.grace_period}")
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
    # "bar", or "line" over the factor "x"; a line figure may add "marks" ([{"x", "label"}],
    # vertical lines) and "log_x" (a base-2 x axis)
    figure: dict = field(default_factory=lambda: {"kind": "bar", "x": None})
    seeds: tuple[int, ...] = (0, 1)
    search: Search | None = None
    # arms that replace ``arms`` at a preset (a sweep whose values depend on the scale)
    preset_arms: dict[str, tuple[Arm, ...]] = field(default_factory=dict)
    # lines the report shows under its title (what the paper gives, which reading is run)
    notes: tuple[str, ...] = ()

    def for_preset(self, preset: str) -> "Study":
        """The study as run at ``preset``: its ``preset_arms`` there, if any, are its arms."""
        return dataclasses.replace(self, arms=self.preset_arms[preset]) if preset in self.preset_arms else self

    def trial_configs(self, preset: str, seeds, overrides: dict[str, Any] | None = None) -> dict[tuple[str, int], TrialConfig]:
        """Every (arm, seed) -> validated TrialConfig: the preset, then ``overrides`` (dotted
        factors for every arm, ``--set``), then the arm's factors and the seed. Raises
        ConfigError naming the field."""
        require(preset in self.presets, "preset", f"unknown preset {preset!r} (known: {', '.join(self.presets)})")
        names = [arm.name for arm in self.arms]
        require(len(set(names)) == len(names), "arms", f"arm names must be unique, got {names}")
        require(self.baseline_arm is None or self.baseline_arm in names, "baseline_arm", f"{self.baseline_arm!r} is not an arm")
        require(len(seeds) > 0, "seeds", "at least one seed is needed")
        overrides = dict(overrides or {})
        require("seed" not in overrides, "set[seed]", "seeds are chosen with --seeds")
        for arm in self.arms:
            for path in overrides.keys() & arm.factors.keys():
                # the arm's value would silently win and the ablation would not show the change
                raise ConfigError(f"set[{path}]", f"arm {arm.name!r} sets this factor itself")
        try:
            base = with_factors(self.presets[preset], overrides) if overrides else self.presets[preset]
        except ConfigError as error:
            raise ConfigError(f"set[{error.field}]", _message(error)) from None
        configs = {}
        for arm in self.arms:
            for seed in seeds:
                try:
                    config = with_factors(base, {**arm.factors, "seed": seed}).validate()
                except ConfigError as error:
                    raise ConfigError(f"arms[{arm.name}].{error.field}", _message(error)) from None
                configs[(arm.name, int(seed))] = config
        if self.search is not None:
            self.search.validate(next(iter(configs.values())))
        return configs

    def declaration(self, preset: str, seeds, overrides: dict[str, Any] | None = None,
                    trial_hashes: dict[str, str] | None = None) -> dict:
        """What ``study.json`` records: the study as declared and how it was run, with the
        config hash of every planned trial (``trial_hashes``, key -> hash) when given."""
        return {"name": self.name, "title": self.title, "table": self.table, "preset": preset, "seeds": list(seeds),
                "set": dict(overrides or {}), "notes": list(self.notes),
                "baseline_arm": self.baseline_arm, "figure": self.figure,
                "arms": [{"name": a.name, "factors": a.factors, "paper": a.paper} for a in self.arms],
                "metrics": [{"name": m.name, "paper": m.paper} for m in self.metrics],
                "search": None if self.search is None else dataclasses.asdict(self.search),
                "trials": dict(trial_hashes or {})}


# What decides which trials a study runs and what they compute; the rest of a declaration
# (title, notes, metrics, figure, paper filters) only shapes the report.
RUN_FIELDS = ("name", "preset", "set", "search")


def _json_form(value: Any) -> Any:
    """``value`` as it reads back from study.json (tuples become lists)."""
    return json.loads(json.dumps(value, sort_keys=True, default=str))


def resume_differences(recorded: dict, current: dict) -> tuple[list[str], list[str]]:
    """Compare the declaration a study directory records with the one a resume asks for.

    Returns ``(refusals, additions)``: what makes resuming mix results (another study, preset,
    ``--set``, search, an arm whose factors changed, a dropped arm or seed, a trial whose
    config hash changed), and what a resume may add (new seeds, new arms), each as a line
    that names the field."""
    refusals, additions = [], []
    for name in RUN_FIELDS:
        if _json_form(recorded.get(name)) != _json_form(current.get(name)):
            refusals.append(f"{name}: the study has {_json_form(recorded.get(name))!r}, this run {_json_form(current.get(name))!r}")
    old_arms = {arm["name"]: arm.get("factors") for arm in recorded.get("arms", [])}
    new_arms = {arm["name"]: arm.get("factors") for arm in current.get("arms", [])}
    for arm, factors in old_arms.items():
        if arm not in new_arms:
            refusals.append(f"arms[{arm}]: in the study, not in this run")
        elif _json_form(factors) != _json_form(new_arms[arm]):
            refusals.append(f"arms[{arm}].factors: the study has {_json_form(factors)}, this run {_json_form(new_arms[arm])}")
    old_seeds, new_seeds = list(recorded.get("seeds", [])), list(current.get("seeds", []))
    if dropped := [seed for seed in old_seeds if seed not in new_seeds]:
        refusals.append(f"seeds: the study has {old_seeds}, this run {new_seeds} (drops {dropped}; pass --seeds {len(old_seeds)})")
    old_hashes, new_hashes = recorded.get("trials") or {}, current.get("trials") or {}
    for key in sorted(old_hashes.keys() & new_hashes.keys()):
        if old_hashes[key] != new_hashes[key]:
            refusals.append(f"trials[{key}]: its config changed since the study ran (hash {old_hashes[key]} -> "
                            f"{new_hashes[key]}; a preset or a default in the code differs)")
    if added := [arm for arm in new_arms if arm not in old_arms]:
        additions.append(f"arms {added}")
    if added := [seed for seed in new_seeds if seed not in old_seeds]:
        additions.append(f"seeds {added}")
    return refusals, additions


def trial_key(arm: str, seed: int, search_trial_id: str | None = None) -> str:
    """Name of a trial in the study directory: ``<arm>__seed<k>``, or ``<arm>__<trial id>`` for a search sample."""
    return f"{arm}__{search_trial_id}" if search_trial_id else f"{arm}__seed{seed}"


def summary_path(study_dir: str | Path, key: str) -> Path:
    return Path(study_dir) / TRIALS_DIR / key / SUMMARY_FILE


def completed_summary(study_dir: str | Path, key: str, expected_hash: str) -> dict | None:
    """The stored summary of trial ``key`` if it completed with the same config, else None."""
    path = summary_path(study_dir, key)
    if not path.is_file():
        return None
    summary = json.loads(path.read_text(encoding="utf-8"))
    return summary if summary.get("status") == "completed" and summary.get("config_hash") == expected_hash else None
