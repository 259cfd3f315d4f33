"""The four MFO studies at the smoke preset (one seed, frozen protocols), and their reports. One
runs end to end through the CLI and Ray; every arm of the other three trains and evaluates in
this process (the same trial code and report, without a Ray worker's start-up per arm)."""
import pytest

from conftest import run_arms_in_process, run_smoke_study

SETTINGS = ('eval_datasets=["ucf"]', 'eval.protocols=["linear", "knn"]', "eval.clips_per_video=1")


def check_study(summaries, report):
    for summary in summaries:
        assert "linear/ucf/top1" in summary["metrics"] and "knn/ucf/top1" in summary["metrics"]
    pretrained = [s for s in summaries if s["arm"] != "random_init"]
    assert all(0 <= s["metrics"]["pretext/acc"] <= 1 and "pretext/acc_chance" in s["metrics"] for s in pretrained)
    assert "mfo_impl: official" in report


@pytest.mark.slow
def test_mfo_stage_split_study_runs_at_smoke_through_ray(smoke_data_dir, tmp_path):
    check_study(*run_smoke_study("mfo_stage_split", tmp_path, smoke_data_dir, *SETTINGS)[1:])


@pytest.mark.slow
@pytest.mark.parametrize("name", ["mfo_graph_targets", "mfo_temporal_modeling", "mfo_prototypes"])
def test_every_arm_of_the_mfo_study_trains_and_is_reported_at_smoke(name, smoke_data_dir, tmp_path):
    check_study(*run_arms_in_process(name, tmp_path, smoke_data_dir, *SETTINGS)[1:])
