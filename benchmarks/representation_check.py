"""Does pretraining beat random init? A quick, Ray-free check of the CSTP STOR study's arms.

Builds each trial's :class:`TrialConfig` exactly as ``studies/stor_candidates.py`` does
(``STUDY.trial_configs(preset, seeds)``), then runs, per seed and arm, ``load_trial_data``,
``pretrain_trial`` and ``evaluate_trial`` in this process, and prints linear-probe,
fine-tune, kNN and pretext numbers per seed, the per-metric mean difference of every arm
against the first one (``random_init`` by default) and the wall time per trial.

    python benchmarks/representation_check.py [--preset default] [--seeds 0 1 2]
        [--arms random_init n5] [--protocols linear knn] [--set pretrain.epochs=20 ...]
        [--json out.json]

``--set`` applies dotted factors (values parsed as JSON when possible) to every arm after
the study's own factors, e.g. ``--set pretrain.lr=0.1 clip.crop=48``; ``--cstp-set`` applies
them to the pretraining arms only (e.g. ``--cstp-set method.options.rotation=true``).
Run with ``OMP_NUM_THREADS`` set; the study runs each trial on one thread.
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
sys.path.insert(0, str(ROOT / "studies"))

from learning_check import parse_factors  # noqa: E402
from ssl_core.experiment import evaluate_trial, load_trial_data, pretrain_trial, with_factors  # noqa: E402

KEY_METRICS = ("linear/ucf/top1", "linear/hmdb/top1", "finetune/ucf/video_top1", "finetune/hmdb/video_top1",
               "knn/ucf/top1", "knn/hmdb/top1", "retrieval/ucf/r@1", "pretext/acc", "pretext/train_acc",
               "pretext/loss")


def run(args) -> dict:
    from stor_candidates import STUDY

    configs = STUDY.trial_configs(args.preset, args.seeds)
    common, pretraining = parse_factors(args.set), parse_factors(args.cstp_set)
    data_cache: dict = {}
    results: dict = {}
    for seed in args.seeds:
        for arm in args.arms:
            config = configs[(arm, seed)]
            factors = dict(common)
            if config.pretrains or config.method.name != "scratch":
                factors.update(pretraining)
            config = with_factors(config, {**factors, "eval.protocols": tuple(args.protocols)}).validate()
            key = json.dumps([dataclasses.asdict(config.data), dataclasses.asdict(config.clip),
                              config.pretrain_dataset, list(config.eval_datasets)], sort_keys=True, default=str)
            started = time.perf_counter()
            if key not in data_cache:
                data_cache[key] = load_trial_data(config)
            loaded = time.perf_counter()
            pretrain_data, eval_data = data_cache[key]
            history: list[dict] = []
            method = pretrain_trial(config, pretrain_data, on_epoch_end=lambda metrics, state: history.append(dict(metrics)))
            pretrained = time.perf_counter()
            metrics = evaluate_trial(config, method.backbone, eval_data)
            done = time.perf_counter()
            if history:
                metrics.update({name: float(value) for name, value in history[-1].items() if name.startswith("pretext/")})
                if args.verbose:
                    for epoch_metrics in history:
                        print("   ", {k: round(float(v), 3) for k, v in epoch_metrics.items()}, flush=True)
            metrics["time/load_s"] = loaded - started
            metrics["time/pretrain_s"] = pretrained - loaded
            metrics["time/eval_s"] = done - pretrained
            results[(arm, seed)] = metrics
            shown = {name: round(metrics[name], 3) for name in KEY_METRICS if name in metrics}
            print(f"[{arm} seed {seed}] pretrain {pretrained - loaded:.1f}s eval {done - pretrained:.1f}s "
                  f"(load {loaded - started:.1f}s) {shown}", flush=True)
    return results


def summarise(results: dict, arms, seeds) -> str:
    names = sorted({name for metrics in results.values() for name in metrics
                    if name in KEY_METRICS or name.startswith("time/")},
                   key=lambda n: (KEY_METRICS + ("time/pretrain_s", "time/eval_s", "time/load_s")).index(n)
                   if n in KEY_METRICS + ("time/pretrain_s", "time/eval_s", "time/load_s") else 99)
    lines = [f"{'metric':28s}" + "".join(f"{arm:>22s}" for arm in arms) + "".join(f"{'d(' + arm + ')':>16s}" for arm in arms[1:])]
    for name in names:
        means, row = {}, f"{name:28s}"
        for arm in arms:
            values = [results[(arm, s)][name] for s in seeds if name in results.get((arm, s), {})]
            if values:
                means[arm] = statistics.mean(values)
                spread = statistics.pstdev(values) if len(values) > 1 else 0.0
                row += f"{means[arm]:>14.3f} ±{spread:6.3f}"
            else:
                row += f"{'-':>22s}"
        for arm in arms[1:]:
            row += f"{means[arm] - means[arms[0]]:>+16.3f}" if arm in means and arms[0] in means else f"{'-':>16s}"
        lines.append(row)
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="default")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--arms", nargs="+", default=["random_init", "n5"])
    parser.add_argument("--protocols", nargs="+", default=["linear", "knn", "finetune", "retrieval"])
    parser.add_argument("--set", nargs="*", default=[], help="dotted factors for every arm, path=value")
    parser.add_argument("--cstp-set", nargs="*", default=[], help="dotted factors for pretraining arms only")
    parser.add_argument("--threads", type=int, default=int(os.environ.get("OMP_NUM_THREADS", "1")))
    parser.add_argument("--json", help="write the per-trial metrics here")
    parser.add_argument("--verbose", action="store_true", help="print every pretraining epoch's metrics")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    results = run(args)
    print()
    print(f"preset {args.preset}, seeds {args.seeds}, protocols {args.protocols}, set {args.set}, cstp-set {args.cstp_set}")
    print(summarise(results, args.arms, args.seeds))
    print(f"total {time.perf_counter() - started:.0f}s, torch threads {args.threads}")
    if args.json:
        Path(args.json).write_text(json.dumps({f"{arm}/{seed}": m for (arm, seed), m in results.items()}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
