"""The three V3S studies at the smoke preset (one seed). One runs end to end through Ray and its
report puts the paper's Table 3 values beside ours; every arm of the other two trains and
evaluates in this process (the same trial code, without a Ray worker's start-up per arm)."""
import pytest

from conftest import run_arms_in_process, run_smoke_study

SETTINGS = ("eval.clips_per_video=1",)


def check_metrics(arm, metrics):
    assert 0 <= metrics["finetune/ucf/video_top1"] <= 100, arm
    if arm != "random_init":
        assert 0 <= metrics["pretext/acc"] <= 1 and "pretext/acc_chance" in metrics, arm
        assert metrics["pretext/selected_epoch"] == 1, arm


@pytest.mark.slow
def test_v3s_combinations_study_runs_at_smoke_through_ray(smoke_data_dir, tmp_path):
    _, summaries, report = run_smoke_study("v3s_combinations", tmp_path, smoke_data_dir, *SETTINGS)
    for summary in summaries:
        check_metrics(summary["arm"], summary["metrics"])
    for value in ("73.2", "79.1"):  # the first and last rows of the paper's Table 3
        assert value in report


@pytest.mark.slow
@pytest.mark.parametrize("name", ["v3s_parameters", "v3s_readings"])
def test_every_arm_of_the_v3s_study_trains_and_evaluates_at_smoke(name, smoke_data_dir):
    for arm, metrics in run_arms_in_process(name, smoke_data_dir, *SETTINGS).items():
        check_metrics(arm, metrics)
