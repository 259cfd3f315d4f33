"""The three V3S studies at the smoke preset (one seed), and their reports, which put the paper's
Table 1 / Table 3 values beside ours. One study runs end to end through the CLI and Ray; every
arm of the other two trains and evaluates in this process (the same trial code and report,
without a Ray worker's start-up per arm)."""
import pytest

from conftest import run_arms_in_process, run_smoke_study

SETTINGS = ("eval.clips_per_video=1",)
# study -> paper values its report must show (the first and last rows of its table)
PAPER_VALUES = {"v3s_parameters": ("73.2", "77.0"), "v3s_combinations": ("73.2", "79.1"), "v3s_readings": ()}


def check_study(name, summaries, report):
    for summary in summaries:
        metrics = summary["metrics"]
        assert 0 <= metrics["finetune/ucf/video_top1"] <= 100
        if summary["arm"] != "random_init":
            assert 0 <= metrics["pretext/acc"] <= 1 and "pretext/acc_chance" in metrics
            assert metrics["pretext/selected_epoch"] == 1
    for value in PAPER_VALUES[name]:
        assert value in report


@pytest.mark.slow
def test_v3s_combinations_study_runs_at_smoke_through_ray(smoke_data_dir, tmp_path):
    _, summaries, report = run_smoke_study("v3s_combinations", tmp_path, smoke_data_dir, *SETTINGS)
    check_study("v3s_combinations", summaries, report)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["v3s_parameters", "v3s_readings"])
def test_every_arm_of_the_v3s_study_trains_and_is_reported_at_smoke(name, smoke_data_dir, tmp_path):
    _, summaries, report = run_arms_in_process(name, tmp_path, smoke_data_dir, *SETTINGS)
    check_study(name, summaries, report)
