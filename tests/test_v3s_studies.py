"""The three V3S studies run end to end at the smoke preset (one seed), and their reports
put the paper's Table 1 / Table 3 values beside ours."""
import pytest

from conftest import run_smoke_study

# study -> paper values its report must show (the first and last rows of its table)
NAMES = {"v3s_parameters": ("73.2", "77.0"), "v3s_combinations": ("73.2", "79.1"), "v3s_readings": ()}


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_v3s_study_runs_at_smoke(name, smoke_data_dir, tmp_path):
    _, summaries, report = run_smoke_study(name, tmp_path, smoke_data_dir, "eval.clips_per_video=1")
    for summary in summaries:
        metrics = summary["metrics"]
        assert 0 <= metrics["finetune/ucf/video_top1"] <= 100
        if summary["arm"] != "random_init":
            assert 0 <= metrics["pretext/acc"] <= 1 and "pretext/acc_chance" in metrics
            assert metrics["pretext/selected_epoch"] == 1
    for value in NAMES[name]:
        assert value in report
