"""The four MFO studies run end to end at the smoke preset (one seed, frozen protocols)."""
import pytest

from conftest import run_smoke_study

NAMES = ("mfo_graph_targets", "mfo_temporal_modeling", "mfo_prototypes", "mfo_stage_split")


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_mfo_study_runs_at_smoke(name, smoke_data_dir, tmp_path):
    _, summaries, report = run_smoke_study(name, tmp_path, smoke_data_dir, 'eval_datasets=["ucf"]',
                                           'eval.protocols=["linear", "knn"]', "eval.clips_per_video=1")
    pretrained = [s for s in summaries if s["arm"] != "random_init"]
    assert all(0 <= s["metrics"]["pretext/acc"] <= 1 and "pretext/acc_chance" in s["metrics"] for s in pretrained)
    assert "mfo_impl: official" in report
