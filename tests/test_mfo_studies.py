"""The four MFO studies at the smoke preset (one seed, frozen protocols). One runs end to end
through Ray; every arm of the other three trains and evaluates in this process (the same trial
code, without a Ray worker's start-up per arm)."""
import pytest

from conftest import run_arms_in_process, run_smoke_study

SETTINGS = ('eval_datasets=["ucf"]', 'eval.protocols=["linear", "knn"]', "eval.clips_per_video=1")


def check_metrics(arm, metrics):
    assert "linear/ucf/top1" in metrics and "knn/ucf/top1" in metrics, arm
    if arm != "random_init":
        assert 0 <= metrics["pretext/acc"] <= 1 and "pretext/acc_chance" in metrics, arm


@pytest.mark.slow
def test_mfo_stage_split_study_runs_at_smoke_through_ray(smoke_data_dir, tmp_path):
    _, summaries, report = run_smoke_study("mfo_stage_split", tmp_path, smoke_data_dir, *SETTINGS)
    for summary in summaries:
        check_metrics(summary["arm"], summary["metrics"])
    assert "mfo_impl: official" in report


@pytest.mark.slow
@pytest.mark.parametrize("name", ["mfo_graph_targets", "mfo_temporal_modeling", "mfo_prototypes"])
def test_every_arm_of_the_mfo_study_trains_and_evaluates_at_smoke(name, smoke_data_dir):
    for arm, metrics in run_arms_in_process(name, smoke_data_dir, *SETTINGS).items():
        check_metrics(arm, metrics)
