"""Summaries of search samples: a sample ASHA stops early is recorded as ``stopped`` (not as
completed, and without failing the run), and finished samples count toward the study.

Tune marks the last result of a trial its scheduler stops as ``done`` too, so ``done`` alone
cannot tell a completed trial from a stopped one; these tests run real Tune with a toy trial
function that reports like ``ray_jobs.trial.run_trial`` (per-epoch metrics, then a final
report with the trial's identity)."""
import sys
from dataclasses import replace

import pytest
import ray
from ray import tune

from analysis.results import completion
from ray_jobs.runner import SummaryWriter, asha_scheduler
from ssl_core.config import ConfigError
from ssl_core.experiment import with_factors
from ssl_core.io import read_json, write_json
from ssl_core.study import Arm, Search, trial_key
from tiny_study import tiny_study

EPOCHS = 3


def toy_trial(config: dict) -> None:
    """Per-epoch ``pretext/acc`` equal to the searched ``x``, then the final report."""
    x = config["search"]["pretrain.lr"]
    for epoch in range(1, EPOCHS + 1):
        tune.report({"pretext/acc": x, "epoch": epoch})
    key = trial_key(config["arm"], config["seed"], tune.get_context().get_trial_id())
    tune.report({"pretext/acc": x, "knn/ucf/top1": 100 * x, "arm": config["arm"], "seed": config["seed"], "key": key,
                 "searched": config["search"], "done": True})


@pytest.fixture
def local_ray():
    # Ray's workers cannot import this test module: send its functions by value
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()
    ray.cloudpickle.unregister_pickle_by_value(sys.modules[__name__])


def search_study(tmp_path):
    search = Search(params={"pretrain.lr": ("uniform", 0.05, 0.95)}, metric="knn/ucf/top1", num_samples=2, asha=True)
    study = tiny_study(str(tmp_path / "data"), epochs=EPOCHS, arms=(Arm("rotation", {"method.name": "rotation"}),))
    return replace(study, search=search)


def test_a_sample_asha_stops_is_summarised_as_stopped_with_its_last_metrics(local_ray, tmp_path):
    study = search_study(tmp_path)
    study_dir = tmp_path / "study"
    # the runner's ASHA (rungs at epoch 1 only, with 3 epochs); one trial at a time: x = 0.9
    # reaches the rung first; x = 0.1 is below the rung's cutoff there (its only recorded
    # value, 0.9) and is stopped after epoch 1
    scheduler = asha_scheduler(study.search, {("rotation", 0): study.presets["smoke"]})
    tuner = tune.Tuner(
        toy_trial,
        param_space={"arm": "rotation", "seed": 0, "search": {"pretrain.lr": tune.grid_search([0.9, 0.1])}},
        tune_config=tune.TuneConfig(scheduler=scheduler, max_concurrent_trials=1),
        run_config=tune.RunConfig(storage_path=str(tmp_path / "tune"), callbacks=[SummaryWriter(study_dir, study)], verbose=0))
    results = tuner.fit()
    assert not results.errors
    summaries = {s["factors"]["pretrain.lr"]: s for s in map(read_json, study_dir.glob("trials/*/trial_summary.json"))}
    assert set(summaries) == {0.9, 0.1}
    completed, stopped = summaries[0.9], summaries[0.1]
    assert completed["status"] == "completed" and completed["metrics"] == {"pretext/acc": 0.9, "knn/ucf/top1": 90.0}
    assert stopped["status"] == "stopped" and stopped["metrics"] == {"pretext/acc": 0.1}
    assert stopped["arm"] == "rotation" and stopped["seed"] == 0 and stopped["key"].startswith("rotation__")
    assert stopped["factors"] == {"method.name": "rotation", "pretrain.lr": 0.1}
    assert completed["key"] != stopped["key"]


def summary(arm: str, key: str, status: str) -> dict:
    return {"study": "tiny", "status": status, "arm": arm, "seed": 0, "key": key, "metrics": {"knn/ucf/top1": 1.0},
            "factors": {}}


def test_search_completion_counts_stopped_samples_as_finished(tmp_path):
    study = search_study(tmp_path)
    write_json(tmp_path / "study.json", study.declaration("smoke", (0,)))
    for key, status in (("rotation__a", "completed"), ("rotation__b", "stopped")):
        write_json(tmp_path / "trials" / key / "trial_summary.json", summary("rotation", key, status))
    assert completion(tmp_path) == (2, 2, [])


def test_search_completion_names_the_samples_still_missing(tmp_path):
    study = search_study(tmp_path)
    write_json(tmp_path / "study.json", study.declaration("smoke", (0,)))
    write_json(tmp_path / "trials/rotation__a/trial_summary.json", summary("rotation", "rotation__a", "stopped"))
    assert completion(tmp_path) == (1, 2, ["rotation: 1 of 2 samples"])


def test_asha_lets_every_epoch_and_the_final_report_through(tmp_path):
    """Tune's default max_t (100 reports) would stop a 300-epoch paper trial before its result."""
    paper = {("rotation", 0): with_factors(search_study(tmp_path).presets["smoke"], {"pretrain.epochs": 300})}
    scheduler = asha_scheduler(search_study(tmp_path).search, paper)
    assert scheduler._max_t == 301
    assert asha_scheduler(replace(search_study(tmp_path).search, asha=False), paper) is None


def test_a_grace_period_beyond_the_epochs_is_refused_naming_the_field(tmp_path):
    study = search_study(tmp_path)
    with pytest.raises(ConfigError, match="search.grace_period"):
        replace(study.search, grace_period=EPOCHS + 1).validate(study.presets["smoke"])
