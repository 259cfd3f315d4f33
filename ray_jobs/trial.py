"""A Tune trial around ``ssl_core.experiment.run_trial``: reporting, checkpoint hand-off, and
the choice of where the training loop runs.

One-worker trials run the training loop directly inside the Tune function (a TorchTrainer
costs 15-30 s of start-up per trial on a laptop); multi-worker trials run the same loop in
``ray.train.torch.TorchTrainer`` workers (gloo on CPU, NCCL on GPU). Both report every
epoch with a checkpoint and resume from the latest one.
"""
from __future__ import annotations

import json
import os
import subprocess
import tempfile
import time
from pathlib import Path

import ray
import torch
from ray import tune

from ray_jobs.checkpoints import META_FILE, STATE_FILE, find_checkpoints, run_folder_checkpoints
from ssl_core.config import config_hash, to_dict
from ssl_core import experiment
from ssl_core.experiment import TrialConfig, build_trial_method, load_trial_data, pretrain_here, pretrain_trial, with_factors
from ssl_core.io import write_json
from ssl_core.pretrain import selected_weights
from ssl_core.study import completed_summary, trial_key

FAIL_ONCE_ENV = "SSL_ABLATE_FAIL_ONCE"  # "<epoch>:<marker path>": raise once at that epoch (tests)


# The whole checkout but its documentation, from whichever folder git runs in.
CODE_PATHS = (":(top)", ":(top,exclude,glob)**/*.md", ":(top,exclude)docs")


def code_version(checkout: str | Path | None = None) -> str:
    """``git:<commit>`` of the checkout this code runs from, ``git:<commit>-dirty`` when its tracked
    files differ from that commit (the results then came from uncommitted code), ``unknown``
    outside git. Documentation (``*.md``, ``docs/``) does not count: it is edited while studies run."""
    here = Path(checkout) if checkout is not None else Path(__file__).resolve().parent
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                                cwd=here, timeout=5).stdout.strip()
        if not commit:
            return "unknown"
        changed = subprocess.run(["git", "diff", "--quiet", "HEAD", "--", *CODE_PATHS], capture_output=True, cwd=here,
                                 timeout=5)
        return f"git:{commit}-dirty" if changed.returncode == 1 else f"git:{commit}"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def _load_state(checkpoint) -> dict | None:
    if checkpoint is None:
        return None
    with checkpoint.as_directory() as directory:
        return torch.load(Path(directory) / STATE_FILE, map_location="cpu", weights_only=True)


def _report_with_state(report, metrics: dict, state: dict | None, identity: dict | None = None) -> None:
    """Report ``metrics``, with ``state`` as a checkpoint whose ``meta.json`` names its epoch
    and, given ``identity``, its trial (key and config hash: what a later run resumes by)."""
    if state is None:
        report(metrics)
        return
    with tempfile.TemporaryDirectory() as directory:
        torch.save(state, Path(directory) / STATE_FILE)
        meta = {"epoch": int(state["epoch"]), **{k: identity[k] for k in ("key", "config_hash") if identity}}
        write_json(Path(directory) / META_FILE, meta)
        report(metrics, checkpoint=tune.Checkpoint.from_directory(directory))


def _resume_state(candidates: list[str]) -> tuple[dict | None, str | None, list[str]]:
    """The state of the newest loadable checkpoint among ``candidates`` (URIs, newest first),
    its URI, and the candidates that could not be loaded (a checkpoint cut off by a kill)."""
    unreadable = []
    for uri in candidates:
        try:
            return _load_state(tune.Checkpoint(uri)), uri, unreadable
        except Exception as error:  # noqa: BLE001 - any failure to read means: try the next older one
            unreadable.append(f"{uri} ({type(error).__name__}: {error})")
    return None, None, unreadable


def _newest_start(framework_state: dict | None, on_storage: list[tuple[int, str]]) -> tuple[dict | None, str | None, list[str]]:
    """Where a trial starts: the newest loadable of the framework's checkpoint (Tune's or Ray
    Train's, already loaded; ``None`` without one) and the trial's checkpoints on storage
    (``(epoch, uri)``, newest first): ``(state, uri, unreadable)``, ``uri`` None for the
    framework's own. A checkpoint can reach storage and never be registered with the
    framework (a node or study killed between the upload and the report); starting from the
    registered older one would train those epochs again, to the same weights."""
    registered = int(framework_state["epoch"]) if framework_state is not None else -1
    state, uri, unreadable = _resume_state([uri for epoch, uri in on_storage if epoch > registered])
    return (state, uri, unreadable) if state is not None else (framework_state, None, unreadable)


def _maybe_inject_failure(epoch: int) -> None:
    spec = os.environ.get(FAIL_ONCE_ENV)
    if not spec:
        return
    at_epoch, marker = spec.split(":", 1)
    if epoch == int(at_epoch) and not Path(marker).exists():
        Path(marker).write_text("failed once\n")
        raise RuntimeError(f"injected failure at epoch {epoch} ({FAIL_ONCE_ENV})")


def _epoch_reporter(report, is_rank_zero: bool = True, identity: dict | None = None):
    """Report each epoch's metrics (rank 0 with the state, and the metrics, as checkpoint)."""

    def on_epoch_end(metrics: dict, state: dict) -> None:
        _report_with_state(report, metrics, {**state, "metrics": metrics} if is_rank_zero else None, identity)
        _maybe_inject_failure(int(metrics["epoch"]))

    return on_epoch_end


def _worker_starting_state(train_checkpoint, run_folder: str, identity: dict, rank: int) -> tuple[dict | None, str | None, list[str]]:
    """``starting_state`` for the DDP workers of one run, the same on every rank: the newest of
    Ray Train's checkpoint (it restores the latest it registered, also in a later run of the
    same run folder) and the loadable ones in the run folder, chosen by rank 0 and broadcast."""
    import torch.distributed as dist

    state, uri, unreadable = None, None, []
    if rank == 0:
        state, uri, unreadable = _newest_start(_load_state(train_checkpoint),
                                               run_folder_checkpoints(run_folder, identity["key"], identity["config_hash"]))
    if dist.is_available() and dist.is_initialized():
        chosen = [uri]
        dist.broadcast_object_list(chosen, src=0)
        uri = chosen[0]
    if rank != 0:  # one load per rank: the checkpoint rank 0 chose
        state = _load_state(tune.Checkpoint(uri) if uri is not None else train_checkpoint)
    return state, uri, unreadable


def train_loop_per_worker(loop_config: dict) -> None:
    """TorchTrainer worker: the same loop under DDP; rank 0 passes the checkpoint and logs the attempt."""
    import ray.train

    config: TrialConfig = loop_config["trial_config"]
    identity = loop_config["identity"]
    rank = ray.train.get_context().get_world_rank()
    torch.set_num_threads(max(1, int(config.resources.cpus_per_worker)))
    pretrain_data, _ = load_trial_data(config)
    state, resumed_from, unreadable = _worker_starting_state(ray.train.get_checkpoint(), loop_config["run_folder"], identity, rank)
    if rank == 0:
        _log_attempt(loop_config["study_dir"], {**identity, "start_epoch": int(state["epoch"]) if state else 0,
                                                "resumed_from": resumed_from, "unreadable_checkpoints": unreadable,
                                                "node_id": ray.get_runtime_context().get_node_id(), "workers": config.resources.num_workers})
    device = ray.train.torch.get_device() if config.resources.use_gpu else "cpu"
    reporter = _epoch_reporter(ray.train.report, rank == 0, identity)
    pretrain_trial(config, pretrain_data, state, reporter, device)


def pretrain_with_torch_trainer(config: TrialConfig, identity: dict, study_dir: str, storage_path: str,
                                keep_checkpoints: int | None = None):
    """DDP path: ``num_workers`` TorchTrainer workers in the run folder ``train_run_name(identity)``
    under ``storage_path``, keeping its newest ``keep_checkpoints`` (None: all); returns the
    backbone of the newest checkpoint there (the final epoch's; Ray Train's own result can be
    an older one when the run resumed at the end)."""
    from ray.train import CheckpointConfig, FailureConfig, RunConfig, ScalingConfig
    from ray.train.torch import TorchTrainer
    from ray.tune.integration.ray_train import TuneReportCallback

    resources = config.resources
    name = train_run_name(identity)
    run_folder = f"{storage_path.rstrip('/')}/{name}"
    trainer = TorchTrainer(
        train_loop_per_worker,
        train_loop_config={"trial_config": config, "identity": identity, "study_dir": study_dir, "run_folder": run_folder},
        scaling_config=ScalingConfig(num_workers=resources.num_workers, use_gpu=resources.use_gpu,
                                     resources_per_worker={"CPU": resources.cpus_per_worker}),
        run_config=RunConfig(name=name, storage_path=storage_path, callbacks=[TuneReportCallback()],
                             checkpoint_config=CheckpointConfig(num_to_keep=keep_checkpoints),
                             # a worker group that cannot be placed fails instead of retrying forever
                             failure_config=FailureConfig(max_failures=2, controller_failure_limit=3)),
    )
    result = trainer.fit()
    state, _, _ = _newest_start(_load_state(result.checkpoint),
                                run_folder_checkpoints(run_folder, identity["key"], identity["config_hash"]))
    method = build_trial_method(config)
    method.load_state_dict(selected_weights(state))
    return method.backbone, dict(state.get("metrics", {}))


def train_run_name(identity: dict) -> str:
    """The TorchTrainer run folder of a multi-worker trial: its key (arm, seed, and the sample's
    trial id in a search) and declared config hash. Ray Train restores a run of the same name
    and storage from that folder's latest checkpoint, so the name must belong to exactly one
    trial: a search's samples or another study's same-named arm on a shared storage path
    would otherwise continue from each other's weights."""
    return f"train_{identity['key']}_{identity['config_hash']}"


def pretrains_in_workers(config: TrialConfig) -> bool:
    """Whether the trial's pretraining runs in TorchTrainer (DDP) workers, which then find
    their own starting state and log the attempt."""
    return config.pretrains and config.resources.num_workers > 1


def _pretrainer(config: TrialConfig, identity: dict, study_dir: str, storage_path: str, keep_checkpoints: int | None):
    """In this process for one worker; ``num_workers`` TorchTrainer workers (DDP) otherwise."""
    if not pretrains_in_workers(config):
        return pretrain_here
    return lambda config, pretrain_data, state, on_epoch_end, device: pretrain_with_torch_trainer(
        config, identity, study_dir, storage_path, keep_checkpoints)


def starting_state(tune_checkpoint, storage_path: str, key: str, declared_hash: str) -> tuple[dict | None, str | None, list[str]]:
    """Where a trial starts: ``(state, uri it came from, unreadable checkpoints)``.

    The newest loadable of Tune's own checkpoint and the checkpoints of the same trial (key and
    declared config hash) on storage, looked up now. That covers an earlier run of the study,
    and also a retry in this run whose last checkpoints reached storage but not Tune: a trial
    killed with its node between the upload and the driver's receipt of the report was
    otherwise restarted from scratch (seen in CI), or from an older registered checkpoint.
    ``uri`` is None for Tune's checkpoint; ``(None, None, [])`` without any."""
    found = find_checkpoints(storage_path, {key: declared_hash}).get(key)
    return _newest_start(_load_state(tune_checkpoint), found.found if found else [])


def run_trial(tune_config: dict, configs: dict, declared: dict, study_dir: str, storage_path: str,
              keep_checkpoints: int | None = None) -> None:
    """Tune function trainable. ``configs[(arm, seed)]`` is the validated TrialConfig, ready to
    run (absolute paths, label stores); ``declared[(arm, seed)]`` the config as declared, whose
    hash identifies the trial wherever the study directory or the checkout is. It starts from
    its newest checkpoint (``starting_state``); a multi-worker trial's run folder keeps its
    newest ``keep_checkpoints`` (None: all), as the runner tells Tune to for the others."""
    spec = tune_config.get("trial", tune_config)
    arm, seed = spec["arm"], int(spec["seed"])
    searched = tune_config.get("search", {})
    config: TrialConfig = with_factors(configs[(arm, seed)], searched).validate()
    context = tune.get_context()
    trial_dir = Path(context.get_trial_dir())
    torch.set_num_threads(max(1, int(ray.get_runtime_context().get_assigned_resources().get("CPU", 1))))
    key = trial_key(arm, seed, context.get_trial_id() if searched else None)
    identity = {"arm": arm, "seed": seed, "key": key, "searched": searched,
                "config_hash": config_hash(with_factors(declared[(arm, seed)], searched)),
                "code_version": code_version(), "trial_id": context.get_trial_id()}
    write_json(trial_dir / "config.json", {**identity, "config": to_dict(config)})
    finished = completed_summary(study_dir, key, identity["config_hash"])
    if finished is not None:  # completed before an interruption Tune had not yet recorded: do not run it again
        tune.report({**finished["metrics"], **identity, "done": True, "seconds": finished.get("seconds", 0.0)})
        return
    state = None
    if not pretrains_in_workers(config):
        state, resumed_from, unreadable = starting_state(tune.get_checkpoint(), storage_path, key, identity["config_hash"])
        _log_attempt(study_dir, {**identity, "start_epoch": int(state["epoch"]) if state else 0,
                                 "resumed_from": resumed_from, "unreadable_checkpoints": unreadable,
                                 "node_id": ray.get_runtime_context().get_node_id()})
    started = time.perf_counter()
    outcome = experiment.run_trial(config, state=state, on_epoch_end=_epoch_reporter(tune.report, identity=identity),
                                   backbone_dir=trial_dir / "backbone", backbone_extra=identity,
                                   pretrainer=_pretrainer(config, identity, study_dir, storage_path, keep_checkpoints))
    tune.report({**outcome.metrics, **identity, "done": True, "seconds": time.perf_counter() - started})


def _log_attempt(study_dir: str, record: dict) -> None:
    """Append one line per trial start to ``attempts.jsonl`` (an audit of what ran, how often, from where).

    Skipped when the study directory is not on this node (trials on other machines of a cluster)."""
    if not Path(study_dir).is_dir():
        return
    with open(Path(study_dir) / "attempts.jsonl", "a", encoding="utf-8") as handle:
        handle.write(json.dumps({**record, "time": time.time()}) + "\n")
