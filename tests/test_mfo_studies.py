"""The four MFO studies run end to end at the smoke preset (one seed, frozen protocols)."""
import json
import runpy
from pathlib import Path

import pytest

from ray_jobs.cli import run_study_cli

STUDIES = Path(__file__).resolve().parents[1] / "studies"
NAMES = ("mfo_graph_targets", "mfo_temporal_modeling", "mfo_prototypes", "mfo_stage_split")


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return str(tmp_path_factory.mktemp("mfo_data"))


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_mfo_study_runs_at_smoke(name, data_dir, tmp_path):
    study = runpy.run_path(str(STUDIES / f"{name}.py"))["STUDY"]
    args = ["--preset", "smoke", "--seeds", "1", "--out", str(tmp_path), "--quiet",
            "--set", f"data.data_dir={data_dir}", "pretrain.epochs=1", 'eval_datasets=["ucf"]', 'eval.protocols=["linear", "knn"]',
            "eval.clips_per_video=1"]
    assert run_study_cli(study, args) == 0
    summaries = [json.loads(p.read_text()) for p in (tmp_path / name / "trials").glob("*/trial_summary.json")]
    assert sorted(s["arm"] for s in summaries) == sorted(arm.name for arm in study.arms)
    pretrained = [s for s in summaries if s["arm"] != "random_init"]
    assert all(0 <= s["metrics"]["pretext/acc"] <= 1 and "pretext/acc_chance" in s["metrics"] for s in pretrained)
    report = (tmp_path / name / "report.md").read_text()
    assert "mfo_impl: official" in report and f"Trials completed: {len(study.arms)} of {len(study.arms)}" in report
