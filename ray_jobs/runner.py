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

from ray_jobs.checkpoints import find_checkpoints
from ray_jobs.labels import ensure_labels
from ray_jobs.resources import check_resources, trial_function_resources, trial_resources
from ray_jobs.session import start_ray
from ray_jobs.trial import run_trial
from ssl_core.config import config_hash
from ssl_core.data.config import DATASET_KEYS, ensure_datasets
from ssl_core.io import write_json
from ssl_core.study import Search, Study, completed_summary, summary_path, trial_key

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
    """The summary of a trial that ended: ``completed`` (its last report says done), or, for a
    search sample that ASHA stopped early, ``stopped`` with the metrics it had."""
    if not result:
        return
    # Tune marks the last result of a trial its scheduler stops as done too: only the trial's
    # own final report carries its identity ("key")
    if result.get("done") and "key" in result:
        status = "completed"
    elif (result.get("config") or {}).get("search"):
        status, result = "stopped", {**result, **_stopped_identity(result)}
    else:
        return
    factors = {arm.name: arm.factors for arm in study.arms}[result["arm"]]
    metrics = {k: float(v) for k, v in result.items() if "/" in k and isinstance(v, (int, float)) and not isinstance(v, bool)}
    summary = {"study": study.name, "status": status, "metrics": metrics,
               "factors": {**factors, **(result.get("searched") or {})}, **{k: result.get(k) for k in SUMMARY_KEYS}}
    write_json(summary_path(study_dir, result["key"]), summary)


def _stopped_identity(result: dict) -> dict:
    """What a trial's final report would have said about it, from Tune's own fields."""
    config = result["config"]
    return {"arm": config["arm"], "seed": int(config["seed"]), "searched": config["search"],
            "key": trial_key(config["arm"], int(config["seed"]), result.get("trial_id"))}


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


def pending_trials(configs: dict, study_dir: Path) -> list[tuple[str, int]]:
    """The (arm, seed) trials of a grid study without a completed summary of the same declared config."""
    return [(arm, seed) for (arm, seed), config in configs.items()
            if completed_summary(study_dir, trial_key(arm, seed), config_hash(config)) is None]


def announce_resume_points(storage: str, configs: dict, pending) -> None:
    """Say where each pending trial continues (its newest checkpoint of an earlier run, which
    the trial itself looks up when it starts), and warn about recorded checkpoints that have gone."""
    hashes = {trial_key(arm, seed): config_hash(configs[(arm, seed)]) for arm, seed in pending}
    for key, found in sorted(find_checkpoints(storage, hashes).items()):
        if found.missing:
            where = f"continues from epoch {found.found[0][0]}" if found.found else "starts again from scratch"
            print(f"warning: {key}: recorded checkpoint(s) gone: {', '.join(found.missing)}; it {where}", file=sys.stderr)
        if found.found:
            print(f"{key}: continues after epoch {found.found[0][0]}")


def run_tuner(study: Study, configs: dict, study_dir: Path, declaration: dict, args) -> int:
    """Attach to or start Ray, check the cluster can place a trial, record the declaration,
    then run every trial that has no summary yet (each from its newest checkpoint, if any)."""
    try:
        start_ray(args.address, connect_timeout=args.connect_timeout)
    except ConnectionError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    try:
        have = ray.cluster_resources()
        problem = check_resources(configs, have.get("CPU", 0), have.get("GPU", 0))
        if problem:
            print(f"error: {problem}", file=sys.stderr)
            return 2
        prepared = prepare_labels(prepare_data(configs))
        write_json(study_dir / "study.json", declaration)  # only once every check has passed
        storage = args.storage_path or str(study_dir)
        storage = storage if "://" in storage else str(Path(storage).resolve())
        pending = pending_trials(configs, study_dir) if study.search is None else []
        if study.search is None:
            print(f"{study.name}: {len(pending)} of {len(configs)} trials to run")
        announce_resume_points(storage, configs, pending)
        trainable = tune.with_resources(
            tune.with_parameters(run_trial, configs=prepared, declared=configs, study_dir=str(study_dir), storage_path=storage,
                                 keep_checkpoints=kept_checkpoints(args)),
            trial_function_resources(configs),
        )
        results = [result for tuner in _tuners(study, configs, study_dir, storage, trainable, pending, args)
                   for result in tuner.fit()]
    finally:
        ray.shutdown()
    for result in results:
        if result.error is None and result.metrics:
            write_summary(study_dir, study, result.metrics)
    for result in results:
        if result.error is not None:
            print(f"trial failed: {result.path}: {type(result.error).__name__}: {result.error}", file=sys.stderr)
    return _finish(study, study_dir)


def _finish(study: Study, study_dir: Path) -> int:
    """Write the reports and say, from the summaries on disk (as the report does), how many
    planned trials finished; 1 unless all did."""
    _write_reports(study_dir)
    from analysis.results import completion

    finished, planned, unfinished = completion(study_dir)
    print(f"{study.name}: {finished} of {planned} trials completed; results in {study_dir}")
    if unfinished:
        print(f"not completed: {'; '.join(unfinished)}. To continue them, run this study's command again with "
              "--resume (Tune's own 'Tuner.restore' hint, printed when a run is interrupted, does not apply: "
              "a study resumes from its trial summaries and checkpoints).", file=sys.stderr)
    return 0 if finished == planned else 1


def kept_checkpoints(args) -> int | None:
    """How many checkpoints each trial keeps on storage, its newest (``--keep-checkpoints``; None: all)."""
    return args.keep_checkpoints or None


def _tuners(study, configs, study_dir, storage, trainable, pending, args) -> list:
    """A fresh Tuner over the pending trials of a grid, or, for an Optuna search, one per arm
    over the samples it still lacks (warm-started with the finished ones)."""
    max_concurrent = args.max_concurrent or max(1, int(ray.cluster_resources().get("CPU", 1) // trial_resources(configs)["cpu"]))

    def run(name: str, callbacks: list) -> tune.RunConfig:
        return tune.RunConfig(name=name, storage_path=storage, failure_config=tune.FailureConfig(max_failures=args.max_failures),
                              checkpoint_config=tune.CheckpointConfig(num_to_keep=kept_checkpoints(args)),
                              callbacks=callbacks, verbose=0 if args.quiet else 1)

    if study.search is None:
        if not pending:
            return []
        space = {"trial": tune.grid_search([{"arm": arm, "seed": seed} for arm, seed in pending])}
        return [tune.Tuner(trainable, param_space=space, tune_config=tune.TuneConfig(max_concurrent_trials=max_concurrent),
                           run_config=run(TUNE_DIR, [SummaryWriter(study_dir, study)]))]
    # The objective arrives only with a trial's last report, so Tune's check that every
    # result carries the search metric must be off for searches.
    os.environ["TUNE_DISABLE_STRICT_METRIC_CHECKING"] = "1"
    search = study.search
    space = {path: getattr(tune, kind)(low, high) for path, (kind, low, high) in search.params.items()}
    seed = sorted({seed for _, seed in configs})[0]
    tuners = []
    for arm in (arm.name for arm in study.arms):
        finished = finished_samples(study_dir, study.name, arm)
        remaining = search.num_samples - len(finished)
        if remaining <= 0:
            continue
        done = [s for s in finished if search.metric in s.get("metrics", {})]
        optuna = FinalMetricOptunaSearch(
            metric=search.metric, mode=search.mode, seed=seed + len(finished),
            # with evaluated_rewards, Optuna takes the points by its flattened parameter names
            points_to_evaluate=[{f"search/{p}": s["factors"][p] for p in search.params} for s in done] or None,
            evaluated_rewards=[s["metrics"][search.metric] for s in done] or None)
        scheduler = asha_scheduler(search, configs)
        tuners.append(tune.Tuner(
            trainable, param_space={"arm": arm, "seed": seed, "search": space},
            tune_config=tune.TuneConfig(search_alg=optuna, scheduler=scheduler, num_samples=remaining,
                                        max_concurrent_trials=max_concurrent),
            run_config=run(f"{TUNE_DIR}_{arm}", [SummaryWriter(study_dir, study)])))
    return tuners


def asha_scheduler(search: Search, configs: dict) -> ASHAScheduler | None:
    """ASHA over a search's per-epoch reports, or None. A trial reports once per epoch and once
    at the end (with the objective), so ``max_t`` is the epochs + 1 reports: with Tune's
    default of 100, ASHA would stop every trial of more than 99 epochs before its result."""
    if not search.asha:
        return None
    reports = 1 + max(config.pretrain.epochs for config in configs.values())
    return ASHAScheduler(metric=search.asha_metric, mode=search.asha_mode, grace_period=search.grace_period,
                         max_t=reports)


def finished_samples(study_dir: Path, study_name: str, arm: str) -> list[dict]:
    """The summaries of an arm's search samples that finished (completed, or stopped by ASHA)."""
    from analysis.results import FINISHED_IN_SEARCH, load_summaries

    return [s for s in load_summaries(study_dir, study_name) if s["arm"] == arm and s.get("status") in FINISHED_IN_SEARCH]


def _write_reports(study_dir: Path) -> None:
    try:
        from analysis.report import write_report
        from analysis.results import write_results
    except ImportError:  # analysis package not available
        return
    write_results(study_dir)
    write_report(study_dir)
    from analysis.index import write_index

    try:  # the index of every study beside this one; a problem there must not fail this study
        write_index(study_dir.parent)
    except Exception as error:  # noqa: BLE001
        print(f"warning: the index of {study_dir.parent} was not written: {type(error).__name__}: {error}", file=sys.stderr)
