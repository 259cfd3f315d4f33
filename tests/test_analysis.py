"""Results table and report, on a study directory built by hand."""
import json
import os
import subprocess
import sys

import pandas as pd
import pytest

from analysis.paper import kendall_tau_b, paper_value
from analysis.report import build_report, write_report
from analysis.results import collect_results, write_results

STUDY = {
    "name": "toy", "title": "Toy study", "table": "CSTP/T4", "preset": "smoke", "seeds": [0, 1],
    "baseline_arm": "two", "figure": {"kind": "line", "x": "n"},
    "arms": [{"name": "two", "factors": {"n": 2}, "paper": {"setting": "2 candidates"}},
             {"name": "three", "factors": {"n": 3}, "paper": {"setting": "3 candidates"}},
             {"name": "four", "factors": {"n": 4}, "paper": {"setting": "4 candidates"}}],
    "metrics": [{"name": "finetune/ucf/video_top1", "paper": {"protocol": "finetune_video", "eval_dataset": "UCF101", "metric": "top1"}}],
}


def _summary(directory, arm, seed, value, mtime):
    path = directory / "trial_summary.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"study": "toy", "arm": arm, "seed": seed, "status": "completed", "config_hash": f"h{arm}",
                                "trial_id": f"{arm}{seed}", "code_version": "git:x", "factors": {"n": {"two": 2, "three": 3, "four": 4}[arm]},
                                "metrics": {"finetune/ucf/video_top1": value}}))
    os.utime(path, (mtime, mtime))


@pytest.fixture
def study_dir(tmp_path):
    (tmp_path / "study.json").write_text(json.dumps(STUDY))
    _summary(tmp_path / "trials/two__seed0", "two", 0, 0.50, 100)
    _summary(tmp_path / "tune/deep/nested/x", "two", 1, 0.60, 100)
    _summary(tmp_path / "old/two_seed1", "two", 1, 0.99, 50)  # older duplicate: ignored
    _summary(tmp_path / "trials/three__seed0", "three", 0, 0.70, 100)
    _summary(tmp_path / "trials/three__seed1", "three", 1, 0.74, 100)
    _summary(tmp_path / "trials/four__seed0", "four", 0, 0.40, 100)  # four, seed 1: missing
    return tmp_path


def test_tidy_table_keeps_the_newest_summary_and_lists_missing_trials(study_dir):
    table = collect_results(study_dir)
    completed = table[table["status"] == "completed"]
    assert sorted(zip(completed["arm"], completed["seed"], completed["value"])) == [
        ("four", 0, 0.40), ("three", 0, 0.70), ("three", 1, 0.74), ("two", 0, 0.50), ("two", 1, 0.60)]
    missing = table[table["status"] == "missing"]
    assert list(zip(missing["arm"], missing["seed"])) == [("four", 1)] and missing["value"].isna().all()
    assert set(table["factor/n"]) == {"2", "3", "4"}


def test_csv_and_parquet_round_trip(study_dir):
    csv_path, parquet_path = write_results(study_dir)
    from_csv, from_parquet = pd.read_csv(csv_path), pd.read_parquet(parquet_path)
    assert len(from_csv) == len(from_parquet) == 6
    assert from_parquet["value"].dropna().round(2).tolist() == from_csv["value"].dropna().round(2).tolist()


def test_paper_values_from_the_shipped_table():
    metric = {"protocol": "finetune_video", "eval_dataset": "UCF101", "metric": "top1"}
    assert paper_value("CSTP/T4", {"setting": "2 candidates"}, metric) == 72.5
    assert paper_value("CSTP/T4", {"setting": "no such row"}, metric) is None
    assert paper_value("CSTP/T4", None, metric) is None
    with pytest.raises(ValueError, match="rows"):
        paper_value("CSTP/T4", {"setting": "2 candidates"}, {"protocol": "finetune_video"})


def test_kendall_tau_b_hand_examples():
    assert kendall_tau_b([1, 2, 3], [10, 20, 30]) == 1.0
    assert kendall_tau_b([1, 2, 3], [30, 20, 10]) == -1.0
    # pairs: (1,2) concordant, (1,3) concordant, (2,3) tied in y: (2 - 0) / sqrt(3 * 2)
    assert kendall_tau_b([1, 2, 3], [1, 2, 2]) == pytest.approx(2 / 6 ** 0.5)


def test_report_numbers_worked_by_hand(study_dir):
    report = build_report(study_dir)
    # two: 50, 60 -> 55.0 ± 7.1 ; three: 70, 74 -> 72.0 ± 2.8, delta +17.0 ; four: 40 (n=1), delta -15.0
    assert "| two | n=2 | 55.0 ± 7.1 | 2 | 72.5 | +0.0 |" in report
    assert "| three | n=3 | 72.0 ± 2.8 | 2 | 72.4 | +17.0 |" in report
    assert "| four | n=4 | 40.0 | 1 | 73.9 | -15.0 |" in report
    # ours 55 < 72 > 40 vs paper 72.5 > 72.4 < 73.9: pairs (two,three) discordant, (two,four) discordant, (three,four) discordant
    assert "Kendall τ-b (our ordering vs the paper's, 3 arms): -1.00." in report
    assert "Missing trials: four seed 1." in report


def test_write_report_and_cli(study_dir, tmp_path):
    write_report(study_dir)
    assert (study_dir / "report.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    result = subprocess.run([sys.executable, "-m", "analysis.report", str(study_dir)], capture_output=True, text=True)
    assert result.returncode == 0 and (study_dir / "results.parquet").exists()
    empty = tmp_path / "empty"
    empty.mkdir()
    result = subprocess.run([sys.executable, "-m", "analysis.report", str(empty)], capture_output=True, text=True)
    assert result.returncode == 2 and "no study.json" in result.stderr
