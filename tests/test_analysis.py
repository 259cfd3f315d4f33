"""Results table and report, on study directories built by hand (numbers worked out in the comments)."""
import copy
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from analysis.paper import kendall_tau_b, load_paper_table, paper_value
from analysis.report import build_report, write_report
from analysis.results import COLUMNS, collect_results, write_results

ROOT = Path(__file__).resolve().parents[1]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
UCF = {"protocol": "finetune_video", "eval_dataset": "UCF101", "metric": "top1"}
FT, LIN = "finetune/ucf/video_top1", "linear/hmdb/top1"

LINE_STUDY = {
    "name": "toy", "title": "Toy study", "table": "CSTP/T4", "preset": "smoke", "seeds": [0, 1],
    "baseline_arm": "two", "figure": {"kind": "line", "x": "n"},
    "arms": [{"name": "two", "factors": {"n": 2}, "paper": {"setting": "2 candidates"}},
             {"name": "three", "factors": {"n": 3}, "paper": {"setting": "3 candidates"}},
             {"name": "four", "factors": {"n": 4}, "paper": {"setting": "4 candidates"}}],
    "metrics": [{"name": FT, "paper": UCF}, {"name": LIN, "paper": None}],
}
N = {"two": 2, "three": 3, "four": 4}


def _summary(directory, mtime, study="toy", **fields):
    path = directory / "trial_summary.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"study": study, "status": "completed", "code_version": "git:x", "seconds": 1.0, **fields}))
    os.utime(path, (mtime, mtime))


def _toy(directory, arm, seed, ft, lin, mtime=100, trial_id=None):
    _summary(directory, mtime, arm=arm, seed=seed, factors={"n": N[arm]}, config_hash=f"h{arm}{seed}",
             trial_id=trial_id or f"{arm}{seed}", metrics={FT: ft, LIN: lin})


@pytest.fixture
def study_dir(tmp_path):
    root = tmp_path / "toy"
    root.mkdir()
    (root / "study.json").write_text(json.dumps(LINE_STUDY))
    _toy(root / "trials/two__seed0", "two", 0, 0.50, 0.20)
    _toy(root / "tune/deep/nested/trial_x", "two", 1, 0.60, 0.30)
    _toy(root / "old/two_seed1", "two", 1, 0.99, 0.99, mtime=50, trial_id="two1-old")  # older duplicate: ignored
    _toy(root / "trials/three__seed0", "three", 0, 0.70, 0.25)
    _toy(root / "tune/trial_b", "three", 1, 0.74, 0.35)
    _toy(root / "trials/four__seed0", "four", 0, 0.40, 0.10)  # four, seed 1: missing
    _summary(root / "elsewhere", 200, study="other", arm="two", seed=0, metrics={FT: 0.0})  # another study: ignored
    return root


def _expected_rows():
    rows = []
    values = {("two", 0): (0.50, 0.20), ("two", 1): (0.60, 0.30), ("three", 0): (0.70, 0.25),
              ("three", 1): (0.74, 0.35), ("four", 0): (0.40, 0.10), ("four", 1): None}
    for (arm, seed), pair in values.items():
        for metric, value in zip((FT, LIN), pair or (math.nan, math.nan)):
            done = pair is not None
            rows.append({"study": "toy", "arm": arm, "seed": seed, "metric": metric, "value": value,
                         "status": "completed" if done else "missing", "config_hash": f"h{arm}{seed}" if done else None,
                         "trial_id": f"{arm}{seed}" if done else None, "code_version": "git:x" if done else None,
                         "factor/n": str(N[arm])})
    return pd.DataFrame(rows)


def test_tidy_table_exact_rows(study_dir):
    table = collect_results(study_dir)
    assert list(table.columns) == COLUMNS + ["factor/n"]
    # study order of arms, then seed, then metric; newest duplicate wins; missing trial one row per declared metric
    pd.testing.assert_frame_equal(table, _expected_rows(), check_dtype=False)


def test_csv_and_parquet_round_trip(study_dir):
    csv_path, parquet_path = write_results(study_dir)
    assert (csv_path, parquet_path) == (study_dir / "results.csv", study_dir / "results.parquet")
    assert not list(study_dir.glob(".*.tmp"))
    expected = _expected_rows()
    pd.testing.assert_frame_equal(pd.read_parquet(parquet_path), expected, check_dtype=False)
    pd.testing.assert_frame_equal(pd.read_csv(csv_path, dtype={"factor/n": str}), expected, check_dtype=False)


def test_paper_values_from_the_shipped_table():
    assert len(load_paper_table()) == 214
    assert paper_value("CSTP/T4", {"setting": "2 candidates", "backbone": "R(2+1)D"}, UCF) == 72.5
    assert paper_value("CSTP/T4", {"setting": "2 candidates"}, {**UCF, "eval_dataset": "HMDB51"}) == 42.5
    # a quoted setting with commas in it
    assert paper_value("V3S/T1", {"setting": "S_S {(1,1.15),(1,1.3),(1,1.45),(1.15,1),(1.3,1),(1.45,1)}"}, UCF) == 73.2
    assert paper_value("CSTP/T4", {"setting": "no such row"}, UCF) is None
    assert paper_value("CSTP/T4", None, UCF) is None
    assert paper_value("CSTP/T4", {"setting": "2 candidates"}, None) is None
    assert paper_value(None, {"setting": "2 candidates"}, UCF) is None
    with pytest.raises(ValueError, match="match 2 rows"):
        paper_value("CSTP/T4", {"setting": "2 candidates"}, {"protocol": "finetune_video"})
    with pytest.raises(ValueError, match="not in paper_tables.csv"):
        paper_value("CSTP/T99", {"setting": "2 candidates"}, UCF)
    with pytest.raises(ValueError, match="<paper>/<table>"):
        paper_value("CSTP-T4", {"setting": "2 candidates"}, UCF)
    with pytest.raises(ValueError, match="unknown column"):
        paper_value("CSTP/T4", {"settings": "2 candidates"}, UCF)


def test_kendall_tau_b_hand_examples():
    assert kendall_tau_b([1, 2, 3], [10, 20, 30]) == 1.0
    assert kendall_tau_b([1, 2, 3], [30, 20, 10]) == -1.0
    # 6 pairs; (1,2) tied in y only, the other 5 concordant: 5 / sqrt(6 * 5)
    assert kendall_tau_b([1, 2, 3, 4], [1, 1, 2, 3]) == pytest.approx(5 / 30 ** 0.5)  # scipy: 0.912870...
    # (1,2) tied in x, (1,3) tied in y, (2,3) discordant, 3 concordant: (3 - 1) / sqrt(5 * 5)
    assert kendall_tau_b([1, 1, 2, 3], [1, 2, 1, 3]) == pytest.approx(0.4)
    assert math.isnan(kendall_tau_b([1, 2, 3], [5, 5, 5]))
    with pytest.raises(ValueError):
        kendall_tau_b([1, 2], [1, 2, 3])
    with pytest.raises(ValueError):
        kendall_tau_b([1], [1])


def test_report_numbers_worked_by_hand(study_dir):
    report = build_report(study_dir)
    assert report.startswith("# Toy study\n")
    assert "paper table CSTP/T4 · preset `smoke` · seeds 0, 1 · baseline arm two · generated 20" in report
    assert "Trials completed: 5 of 6 (arm × seed)." in report
    assert "| arm | factors | ours (%) | n | paper (%) | Δ vs two (points) |" in report
    # finetune: two 50, 60 -> 55.0 ± 7.1 (sample std 7.07); three 70, 74 -> 72.0 ± 2.8, +17.0; four 40 (n=1), -15.0
    assert "| two | n=2 | 55.0 ± 7.1 | 2 | 72.5 | +0.0 |" in report
    assert "| three | n=3 | 72.0 ± 2.8 | 2 | 72.4 | +17.0 |" in report
    assert "| four | n=4 | 40.0 | 1 | 73.9 | -15.0 |" in report
    # ours 55 < 72 > 40, paper 72.5 > 72.4 < 73.9: all three pairs discordant
    assert "Kendall τ-b (our ordering vs the paper's, 3 arms): -1.00." in report
    # linear (no paper row): two 20, 30 -> 25.0 ± 7.1; three 25, 35 -> 30.0 ± 7.1, +5.0; four 10 -> -15.0
    assert "| two | n=2 | 25.0 ± 7.1 | 2 | – | +0.0 |" in report
    assert "| three | n=3 | 30.0 ± 7.1 | 2 | – | +5.0 |" in report
    assert "| four | n=4 | 10.0 | 1 | – | -15.0 |" in report
    assert "Kendall τ-b (our ordering vs the paper's): n/a (0 arm(s) with both numbers, fewer than 2)." in report
    assert "Missing trials (no summary): four seed 1." in report
    assert "measured at preset `smoke` — embedded synthetic data unless a dataset path was given" in report
    assert "Code version(s): git:x." in report


def test_paper_layout_puts_the_paper_metrics_side_by_side(study_dir):
    report = build_report(study_dir)
    # only the finetune metric maps to a paper row (linear has none): one triple of columns
    assert f"| arm | `{FT}` ours | paper | Δ |" in report
    assert "| two | 55.0 ± 7.1 | 72.5 | +0.0 |" in report
    assert "| three | 72.0 ± 2.8 | 72.4 | +17.0 |" in report
    assert "| four | 40.0 | 73.9 | -15.0 |" in report
    assert report.index("## Paper layout (CSTP/T4)") < report.index(f"## `{FT}`")


@pytest.fixture
def bar_dir(tmp_path):
    """Bar figure, no baseline, an arm the paper lacks, one failed trial without metrics."""
    root = tmp_path / "bar"
    study = {"name": "bars", "title": "Rotation vs scratch", "table": "CSTP/T2", "preset": "smoke", "seeds": [0],
             "baseline_arm": None, "figure": {"kind": "bar", "x": None},
             "arms": [{"name": "scratch", "factors": {"method": "scratch"}, "paper": {"setting": "none (scratch)"}},
                      {"name": "rotation", "factors": {"method": "rotation"}, "paper": {"setting": "rotation task", "backbone": "R(2+1)D"}},
                      {"name": "extra", "factors": {"method": "x"}, "paper": None}],
             "metrics": [{"name": FT, "paper": UCF}, {"name": "pretext/acc", "paper": None}]}
    root.mkdir()
    (root / "study.json").write_text(json.dumps(study))
    for arm, value in (("scratch", 0.30), ("rotation", 0.50)):
        _summary(root / "trials" / arm, 100, study="bars", arm=arm, seed=0, factors={"method": arm}, metrics={FT: value})
    _summary(root / "trials/extra", 100, study="bars", arm="extra", seed=0, factors={"method": "x"}, status="failed", metrics={})
    return root


def test_bar_study_without_baseline_and_a_failed_trial(bar_dir):
    table = collect_results(bar_dir)
    extra = table[table["arm"] == "extra"]
    assert extra["metric"].tolist() == [FT, "pretext/acc"] and set(extra["status"]) == {"failed"} and extra["value"].isna().all()
    report = build_report(bar_dir)
    assert "| scratch | method=scratch | 30.0 | 1 | 71.1 | – |" in report
    assert "| rotation | method=rotation | 50.0 | 1 | 78.5 | – |" in report
    assert "| extra | method=x | – | 0 | – | – |" in report
    assert "Δ vs – (points)" in report
    assert "Kendall τ-b (our ordering vs the paper's, 2 arms): 1.00." in report
    assert "Trials that did not complete: extra seed 0 (failed)." in report and "Missing trials" not in report
    write_report(bar_dir)
    assert (bar_dir / "report.png").read_bytes()[:8] == PNG_MAGIC


def test_bad_declarations_fail_clearly(bar_dir):
    study = json.loads((bar_dir / "study.json").read_text())
    broken = copy.deepcopy(study)
    broken["baseline_arm"] = "nope"
    (bar_dir / "study.json").write_text(json.dumps(broken))
    with pytest.raises(ValueError, match="baseline_arm 'nope'"):
        build_report(bar_dir)
    (bar_dir / "study.json").write_text(json.dumps(study))
    (bar_dir / "trials/bad").mkdir()
    (bar_dir / "trials/bad/trial_summary.json").write_text("{not json")
    with pytest.raises(ValueError, match="unreadable trial summary"):
        collect_results(bar_dir)


def test_write_report_and_cli(study_dir, tmp_path):
    report_path = write_report(study_dir)
    assert report_path == study_dir / "report.md" and "# Toy study" in report_path.read_text()
    assert (study_dir / "report.png").read_bytes()[:8] == PNG_MAGIC
    for name in ("results.csv", "results.parquet", "report.md", "report.png"):
        (study_dir / name).unlink(missing_ok=True)
    result = subprocess.run([sys.executable, "-m", "analysis.report", str(study_dir)], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    for name in ("results.csv", "results.parquet", "report.md"):
        assert (study_dir / name).is_file()
    assert (study_dir / "report.png").read_bytes()[:8] == PNG_MAGIC
    assert "| three | n=3 | 72.0 ± 2.8 | 2 | 72.4 | +17.0 |" in (study_dir / "report.md").read_text()

    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FileNotFoundError, match="no study.json"):
        collect_results(empty)
    result = subprocess.run([sys.executable, "-m", "analysis.report", str(empty)], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 2 and "no study.json" in result.stderr and "Traceback" not in result.stderr
