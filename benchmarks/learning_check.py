"""Does pretraining beat random init at the laptop preset? A Ray-free learning check.

For every seed it runs random init and each method at the ``default`` preset (the method's
own laptop settings from ``ssl_core.presets.method_presets``), evaluates the linear probe and kNN on both
embedded datasets, and prints each method minus random init, per seed and on average. Each
method is compared with a random init of its own backbone (CSTP's and V3S's ``default`` run
C3D, the other methods' R3D-18): ``random_init`` is the shared preset's backbone (after ``--set``), and
``random_init@<backbone>`` another one.

    python benchmarks/learning_check.py [--methods sts cstp rotation cstp_stor_n5 cstp_pace v3s mfo]
        [--seeds 0 1] [--json FILE] [--preset default] [--set path=value ...]
        [--variant NAME path=value ... [--variant ...]] [--protocols linear knn finetune]

``--json FILE`` writes ``{"<method or random_init[@backbone]>": {"<seed>": {"linear/ucf/top1": ...,
"knn/ucf/top1": ..., "pretext/acc": ..., ...}}}`` with accuracies as fractions. ``--set``
applies dotted factors to every trial (e.g. ``pretrain.epochs=2``). ``--variant NAME
path=value ...`` also runs every method with those factors, as the arm ``<method>@NAME``, against
the same random init (the one of its backbone; e.g. ``--variant lr5e-4 pretrain.lr=5e-4``). The effective rank of the
frozen ucf features is printed per arm (a number of directions, not a %). The trials run one
after the other in this process on ``--threads`` threads (default: every core).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ssl_core.config import ConfigError, parse_assignment  # noqa: E402
from ssl_core.experiment import TrialConfig, load_trial_data, run_trial, with_factors  # noqa: E402
from ssl_core.io import atomic_write_text  # noqa: E402
from ssl_core.methods.cstp import STOR_ONLY  # noqa: E402
from ssl_core.presets import method_presets  # noqa: E402

BASELINE = "random_init"
# The arms: dotted factors over each method's presets.
ARMS: dict[str, dict] = {
    BASELINE: {"method.name": "scratch"},
    "sts": {"method.name": "sts"},
    "cstp": {"method.name": "cstp"},
    "rotation": {"method.name": "rotation"},
    "cstp_stor_n5": {"method.name": "cstp", **STOR_ONLY, "method.options.num_candidates": 5},
    "cstp_pace": {"method.name": "cstp", **STOR_ONLY, "method.options.stor": False, "method.options.pace": True,
                  "method.options.pace_aug": True},
    "v3s": {"method.name": "v3s"},
    "mfo": {"method.name": "mfo"},
}
SHOWN = ("linear/ucf/top1", "linear/hmdb/top1", "knn/ucf/top1", "knn/hmdb/top1", "finetune/ucf/clip_top1",
         "pretext/acc", "pretext/acc_chance")
RANK = "features/ucf/effective_rank"


def parse_factors(pairs) -> dict:
    """``["path=value", ...]`` -> ``{path: value}`` (values parsed as JSON when they parse)."""
    try:
        return dict(parse_assignment(pair, "--set") for pair in pairs or ())
    except ConfigError as error:
        raise SystemExit(str(error)) from None


def learning_check_config(arm: str, preset: str = "default", seed: int = 0,
                          protocols=("linear", "knn")) -> TrialConfig:
    """The trial of ``arm`` (a key of :data:`ARMS`) at the method's ``preset``: linear probe + kNN
    by default."""
    factors = ARMS[arm]
    config = with_factors(method_presets(factors["method.name"])[preset], factors)
    return with_factors(config, {"eval.protocols": tuple(protocols), "seed": seed})


def arm_factors(arms, variants: dict[str, dict]) -> dict[str, tuple[str, dict]]:
    """``{arm name: (key of ARMS, extra factors)}``: every arm as given, then every non-baseline
    arm once per variant as ``<arm>@<variant>``."""
    plan = {arm: (arm, {}) for arm in arms}
    for name, factors in variants.items():
        plan.update({f"{arm}@{name}": (arm, factors) for arm in arms if arm != BASELINE})
    return plan


def _data_key(config: TrialConfig) -> str:
    return json.dumps([dataclasses.asdict(config.data), dataclasses.asdict(config.clip), config.pretrain_dataset,
                       list(config.eval_datasets)], sort_keys=True, default=str)


def plan_configs(arms, seeds, preset: str, factors: dict, variants: dict[str, dict],
                 protocols=("linear", "knn")) -> dict[tuple[str, int], TrialConfig]:
    """``{(arm, seed): validated config}``: ``factors`` on every trial, a variant's on its arms.
    Random init is planned once per backbone the other arms use (:func:`baseline_arm` names it),
    so each method is compared with a random init of its own backbone."""
    configs = {(arm, seed): with_factors(with_factors(learning_check_config(base, preset, seed, protocols), factors),
                                         extra).validate()
               for arm, (base, extra) in arm_factors(arms, variants).items() if arm != BASELINE for seed in seeds}
    if BASELINE in arms:
        baseline = {seed: with_factors(learning_check_config(BASELINE, preset, seed, protocols), factors).validate()
                    for seed in seeds}
        backbones = list(dict.fromkeys(config.backbone for config in configs.values())) or [baseline[seeds[0]].backbone]
        planned = {(baseline_arm(backbone, baseline[seed].backbone), seed):
                   with_factors(baseline[seed], {"backbone.name": backbone.name, "backbone.width": backbone.width}).validate()
                   for backbone in backbones for seed in seeds}
        configs = {**planned, **configs}
    return configs


def baseline_arm(backbone, baseline_backbone) -> str:
    """The random-init arm for ``backbone``: ``random_init`` for the baseline's own backbone (the
    preset's, after ``--set``), ``random_init@<name>[x<width>]`` for another."""
    if backbone == baseline_backbone:
        return BASELINE
    width = "" if backbone.width == baseline_backbone.width else f"x{backbone.width:g}"
    return f"{BASELINE}@{backbone.name}{width}"


def baselines_of(configs: dict[tuple[str, int], TrialConfig]) -> dict[str, str]:
    """``{arm: its random-init arm}`` for the pretraining arms of :func:`plan_configs`'s ``configs``."""
    by_backbone = {config.backbone: arm for (arm, _), config in configs.items() if arm.startswith(BASELINE)}
    return {arm: by_backbone[config.backbone] for (arm, _), config in configs.items()
            if not arm.startswith(BASELINE) and config.backbone in by_backbone}


def run(configs: dict[tuple[str, int], TrialConfig], log=print, json_path: str | None = None) -> dict:
    """``{arm: {seed: metrics}}`` for :func:`plan_configs`'s ``configs`` (validated before the first
    trial runs). With ``json_path`` the results so far are rewritten there after every trial (an
    interrupted check keeps what it finished)."""
    seeds = list(dict.fromkeys(seed for _, seed in configs))
    arms = list(dict.fromkeys(arm for arm, _ in configs))
    data_cache: dict = {}
    results: dict = {arm: {} for arm in arms}
    for seed in seeds:
        for arm in arms:
            config = configs.get((arm, seed))
            if config is None:
                continue
            key = _data_key(config)
            if key not in data_cache:
                data_cache[key] = load_trial_data(config)
            outcome = run_trial(config, data_cache[key])
            metrics = {**outcome.metrics, "time/pretrain_s": outcome.seconds["pretrain"], "time/eval_s": outcome.seconds["eval"]}
            results[arm][str(seed)] = metrics
            shown = {name: round(metrics[name], 3) for name in SHOWN if name in metrics}
            log(f"[{arm} seed {seed}] pretrain {metrics['time/pretrain_s']:.0f}s eval {metrics['time/eval_s']:.0f}s {shown}")
            if json_path:
                atomic_write_text(json_path, json.dumps(results, indent=1, sort_keys=True))
    return results


def difference_table(results: dict, baselines: dict[str, str] | None = None, metrics=SHOWN[:5]) -> str:
    """Per method and metric: the method minus its random init (``baselines``: ``{arm: random-init
    arm}``, default ``random_init`` for every arm), in points, per seed and on average."""
    baselines = baselines or {}
    seeds = sorted({seed for per_seed in results.values() for seed in per_seed}, key=int)
    lines = [f"{'method':16s} {'metric':18s} " + " ".join(f"{'seed ' + s:>9s}" for s in seeds) + f" {'mean':>9s}"
             + "  against"]
    for arm, per_seed in results.items():
        if arm.startswith(BASELINE):
            continue
        reference = results.get(baselines.get(arm, BASELINE), {})
        for metric in metrics:
            deltas = [100 * (per_seed[s][metric] - reference[s][metric]) for s in seeds
                      if s in per_seed and s in reference and metric in per_seed[s]]
            if not deltas:
                continue
            cells = " ".join(f"{d:+9.1f}" for d in deltas)
            lines.append(f"{arm:16s} {metric:18s} {cells} {statistics.mean(deltas):+9.1f}  {baselines.get(arm, BASELINE)}")
    return "\n".join(lines)


def rank_table(results: dict) -> str:
    """Effective rank of the frozen ucf features per arm and seed (directions of 128 at default)."""
    seeds = sorted({seed for per_seed in results.values() for seed in per_seed}, key=int)
    lines = [f"{'method':16s} " + " ".join(f"{'seed ' + s:>9s}" for s in seeds)]
    for arm, per_seed in results.items():
        cells = [f"{per_seed[s][RANK]:9.1f}" if RANK in per_seed.get(s, {}) else f"{'-':>9s}" for s in seeds]
        lines.append(f"{arm:16s} " + " ".join(cells))
    return "\n".join(lines)


def parse_variants(groups) -> dict[str, dict]:
    """``[[NAME, "path=value", ...], ...]`` -> ``{NAME: factors}``."""
    variants = {}
    for name, *pairs in groups or ():
        if "=" in name or not pairs:
            raise SystemExit(f"--variant needs a name, then path=value pairs (got {' '.join([name, *pairs])!r})")
        variants[name] = parse_factors(pairs)
    return variants


def pretext_table(results: dict) -> str:
    """Held-out pretext accuracy beside its chance level, mean over seeds, in %."""
    lines = [f"{'method':16s} {'metric':28s} {'acc':>7s} {'chance':>7s}"]
    for arm, per_seed in results.items():
        names = sorted({n for m in per_seed.values() for n in m if n.startswith("pretext/") and n + "_chance" in m})
        for name in names:
            acc = statistics.mean(100 * m[name] for m in per_seed.values())
            chance = statistics.mean(100 * m[name + "_chance"] for m in per_seed.values())
            lines.append(f"{arm:16s} {name:28s} {acc:7.1f} {chance:7.1f}")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--methods", nargs="+", default=[arm for arm in ARMS if arm != BASELINE],
                        choices=[arm for arm in ARMS if arm != BASELINE])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--preset", default="default", choices=("smoke", "default"))
    parser.add_argument("--set", nargs="*", default=[], help="dotted factors for every trial, path=value")
    parser.add_argument("--variant", nargs="+", action="append", metavar="NAME_OR_FACTOR",
                        help="NAME path=value ...: also run every method with these factors, as <method>@NAME")
    parser.add_argument("--protocols", nargs="+", default=["linear", "knn"], choices=("linear", "knn", "finetune"))
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--json", help="write the per-method, per-seed metrics here")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    log = lambda line: print(line, flush=True)
    configs = plan_configs([BASELINE] + list(args.methods), args.seeds, args.preset, parse_factors(args.set),
                           parse_variants(args.variant), args.protocols)
    results = run(configs, log, args.json)
    print(f"\npreset {args.preset}, seeds {args.seeds}, set {args.set}, variants {args.variant}, {args.threads} threads, "
          f"{time.perf_counter() - started:.0f} s in all")
    print("\nmethod minus random init (points):")
    print(difference_table(results, baselines_of(configs)))
    print("\neffective rank of the frozen ucf features:")
    print(rank_table(results))
    print("\nheld-out pretext accuracy vs chance (%):")
    print(pretext_table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
