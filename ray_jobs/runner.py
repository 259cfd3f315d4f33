"""Run a study's trials with Ray Tune: start or attach to Ray, check resources, run or resume."""
from __future__ import annotations

import dataclasses
import os
import sys
from pathlib import Path

import ray
from ray import tune
from ray.tune.schedulers import ASHAScheduler
from ray.tune.search.optuna import OptunaSearch

from ray_jobs.labels import ensure_labels
from ray_jobs.session import start_ray
from ray_jobs.trial import run_trial
from ssl_core.data.config import DATASET_KEYS, ensure_datasets
from ssl_core.io import write_json
from ssl_core.study import Study, summary_path

TUNE_DIR = "tune"
SUMMARY_KEYS = ("arm", "seed", "key", "config_hash", "code_version", "trial_id", "seconds")


class FinalMetricOptunaSearch(OptunaSearch):
    """OptunaSearch that learns only from results carrying the objective.

    Per-epoch reports hold pretext metrics; the downstream objective arrives with the
    trial's last report. Plain OptunaSearch indexes ``result[metric]`` on every report.
    """

    def on_trial_result(self, trial_id, result):
        if self.metric in result:
            super().on_trial_result(trial_id, result)


class SummaryWriter(tune.Callback):
    """Writes ``trials/<arm>__seed<k>/trial_summary.json`` in the study directory as each trial completes."""

    def __init__(self, study_dir: Path, study: Study):
        self.study_dir = study_dir
        self.study = study

    def on_trial_complete(self, iteration, trials, trial, **info):
        write_summary(self.study_dir, self.study, trial.last_result)


def write_summary(study_dir: Path, study: Study, result: dict) -> None:
    if not result or not result.get("done"):
        return
    factors = {arm.name: arm.factors for arm in study.arms}[result["arm"]]
    metrics = {k: float(v) for k, v in result.items() if "/" in k and isinstance(v, (int, float)) and not isinstance(v, bool)}
    summary = {"study": study.name, "status": "completed", "metrics": metrics,
               "factors": {**factors, **(result.get("searched") or {})}, **{k: result.get(k) for k in SUMMARY_KEYS}}
    write_json(summary_path(study_dir, result["key"]), summary)


def trial_resources(configs) -> dict:
    """Everything one trial occupies: its own CPU plus, for DDP, its TorchTrainer workers."""
    config = next(iter(configs.values()))
    resources = config.resources
    if resources.num_workers == 1:
        return {"cpu": 1, "gpu": 1 if resources.use_gpu else 0}
    return {"cpu": 1 + resources.num_workers * resources.cpus_per_worker, "gpu": resources.num_workers if resources.use_gpu else 0}


def trial_function_resources(configs) -> dict:
    """What the Tune trial function itself reserves: a DDP trial's workers reserve their own."""
    config = next(iter(configs.values()))
    return trial_resources(configs) if config.resources.num_workers == 1 else {"cpu": 1, "gpu": 0}


def check_resources(configs, cpus: float, gpus: float) -> str | None:
    """A message if ``cpus``/``gpus`` can never place one trial (Ray would wait and retry forever)."""
    needs = trial_resources(configs)
    if needs["cpu"] > cpus:
        return f"resources: a trial needs {needs['cpu']:g} CPUs (1 for the trial + its workers), there are {cpus:g}"
    if needs["gpu"] > gpus:
        return f"resources: a trial needs {needs['gpu']} GPUs, there are {gpus:g} (use_gpu without GPUs?)"
    return None


def local_resources() -> tuple[int, int]:
    import torch

    return os.cpu_count() or 1, torch.cuda.device_count()


def prepare_data(configs: dict) -> dict:
    """Generate the embedded datasets once in the driver, and give the trials absolute data
    paths: Tune runs each trial in its own working directory, where a relative ``data/``
    would be generated again (trials on other nodes generate their own copy)."""
    prepared = {}
    for trial, config in configs.items():
        data = config.data
        absolute = {"data_dir": str(Path(data.data_dir).resolve())}
        absolute.update({f"{key}_root": str(Path(root).resolve()) for key in DATASET_KEYS
                         if (root := data.given_root(key)) is not None})
        prepared[trial] = dataclasses.replace(config, data=dataclasses.replace(data, **absolute))
    config = next(iter(prepared.values()))
    ensure_datasets(config.data, dict.fromkeys((config.pretrain_dataset,) + tuple(config.eval_datasets)))
    return prepared


def prepare_labels(configs: dict) -> dict:
    """Run the Ray Data label pipeline (or reuse its output) for every trial whose method asks
    for a label store, on its pretraining set, under ``<data_dir>/labels``, and point the
    trials at the store."""
    prepared, stores = {}, {}
    for trial, config in configs.items():
        labels = config.label_pipeline()
        if labels is None:
            prepared[trial] = config
            continue
        root = config.data.root(config.pretrain_dataset)
        if (root, labels) not in stores:
            stores[(root, labels)] = ensure_labels(root, Path(config.data.data_dir) / "labels", labels)
        prepared[trial] = config.with_label_store(stores[(root, labels)])
    return prepared


def run_tuner(study: Study, configs: dict, study_dir: Path, args) -> int:
    if not args.address:  # known before Ray starts
        problem = check_resources(configs, *local_resources())
        if problem:
            print(f"error: {problem}", file=sys.stderr)
            return 2
    prepared = prepare_data(configs)
    start_ray(args.address)
    try:
        have = ray.cluster_resources()
        problem = check_resources(prepared, have.get("CPU", 0), have.get("GPU", 0))
        if problem:
            print(f"error: {problem}", file=sys.stderr)
            return 2
        prepared = prepare_labels(prepared)
        storage = args.storage_path or str(study_dir)
        trainable = tune.with_resources(
            tune.with_parameters(run_trial, configs=prepared, declared=configs, study_dir=str(study_dir), storage_path=storage),
            trial_function_resources(configs),
        )
        results = [result for tuner in _tuners(study, configs, study_dir, storage, trainable, args) for result in tuner.fit()]
    finally:
        ray.shutdown()
    for result in results:
        if result.error is None and result.metrics:
            write_summary(study_dir, study, result.metrics)
    _write_reports(study_dir)
    failed = [r for r in results if r.error is not None]
    for result in failed:
        print(f"trial failed: {result.path}: {type(result.error).__name__}: {result.error}", file=sys.stderr)
    print(f"{study.name}: {len(results) - len(failed)} of {len(results)} trials completed; results in {study_dir}")
    return 1 if failed else 0


def _tuners(study, configs, study_dir, storage, trainable, args) -> list:
    """One Tuner over the grid of arms x seeds, or, for an Optuna search, one Tuner per arm."""
    max_concurrent = args.max_concurrent or max(1, int(ray.cluster_resources().get("CPU", 1) // trial_resources(configs)["cpu"]))

    def run(name: str, callbacks: list) -> tune.RunConfig:
        return tune.RunConfig(name=name, storage_path=storage, failure_config=tune.FailureConfig(max_failures=args.max_failures),
                              callbacks=callbacks, verbose=0 if args.quiet else 1)

    arms = [arm.name for arm in study.arms]
    seeds = sorted({seed for _, seed in configs})
    if study.search is None:
        return [_restored_or(f"{storage.rstrip('/')}/{TUNE_DIR}", trainable, args) or tune.Tuner(
            trainable, param_space={"arm": tune.grid_search(arms), "seed": tune.grid_search(seeds)},
            tune_config=tune.TuneConfig(max_concurrent_trials=max_concurrent),
            run_config=run(TUNE_DIR, [SummaryWriter(study_dir, study)]))]
    # The objective arrives only with a trial's last report, so Tune's check that every
    # result carries the search metric must be off for searches.
    os.environ["TUNE_DISABLE_STRICT_METRIC_CHECKING"] = "1"
    search = study.search
    space = {path: getattr(tune, kind)(low, high) for path, (kind, low, high) in search.params.items()}
    tuners = []
    for arm in arms:
        name = f"{TUNE_DIR}_{arm}"
        scheduler = ASHAScheduler(metric=search.asha_metric, mode=search.asha_mode, grace_period=search.grace_period) if search.asha else None
        tuners.append(_restored_or(f"{storage.rstrip('/')}/{name}", trainable, args) or tune.Tuner(
            trainable, param_space={"arm": arm, "seed": seeds[0], "search": space},
            tune_config=tune.TuneConfig(search_alg=FinalMetricOptunaSearch(metric=search.metric, mode=search.mode, seed=seeds[0]),
                                        scheduler=scheduler, num_samples=search.num_samples, max_concurrent_trials=max_concurrent),
            run_config=run(name, [SummaryWriter(study_dir, study)])))
    return tuners


def _restored_or(path: str, trainable, args):
    """The restored Tuner at ``path`` when resuming and it can be restored, else None."""
    if args.resume and tune.Tuner.can_restore(path):
        return tune.Tuner.restore(path, trainable, resume_errored=True)
    return None


def _write_reports(study_dir: Path) -> None:
    try:
        from analysis.report import write_report
        from analysis.results import write_results
    except ImportError:  # analysis package not available
        return
    write_results(study_dir)
    write_report(study_dir)
