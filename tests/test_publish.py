"""Published copies of studies (``analysis.publish``): study.json + results.csv + report, no trials,
read back like the study itself."""
import csv
import os
import re
from pathlib import Path

import pandas as pd
import pytest

from analysis.index import collect_index
from analysis.publish import main as publish_main
from analysis.publish import publish
from analysis.report import write_report
from analysis.results import collect_results, completion, saved_summaries, write_results
from test_analysis import FT, LIN, _summary, study_dir  # noqa: F401 - the fixture

REPO = Path(__file__).resolve().parents[1]


def _with_failed_trial(root):
    """The toy study with four seed 1 failed (no metrics) instead of missing, its table and report written."""
    _summary(root / "trials/four__seed1", 100, arm="four", seed=1, factors={"n": 4}, config_hash="h41",
             trial_id="four1", status="failed")
    write_results(root)
    write_report(root)
    return root


def test_published_copy_reads_back_as_the_study(study_dir, tmp_path):  # noqa: F811
    root = _with_failed_trial(study_dir)
    destination = tmp_path / "docs" / "results"
    assert publish([root], destination) == [destination / "toy"]
    copy = destination / "toy"
    assert sorted(p.name for p in copy.iterdir()) == ["report.md", "report.png", "results.csv", "study.json"]
    pd.testing.assert_frame_equal(collect_results(copy), collect_results(root))
    assert completion(copy) == completion(root) == (5, 6, ["four seed 1 (failed)"])  # five completed, one failed

    ours, = collect_index(root.parent)[0]
    theirs, = collect_index(destination)[0]
    header = (root / "report.md").read_text().splitlines()[2]
    generated = re.search(r"generated (.+)$", header).group(1)
    assert ours["last_ran"] == "1970-01-01 00:01 UTC"  # the newest summary's mtime (100 s)
    assert theirs["last_ran"] == generated  # the copy has no summaries: when its report was written
    for path in copy.iterdir():
        os.utime(path, (0, 0))  # a checkout's file times say nothing
    assert collect_index(destination)[0][0]["last_ran"] == generated
    assert {k: v for k, v in theirs.items() if k != "last_ran"} == {k: v for k, v in ours.items() if k != "last_ran"}
    assert (destination / "index.md").is_file() and (destination / "index.html").is_file()


def test_saved_summaries_one_per_trial_without_the_missing_ones(study_dir):  # noqa: F811
    write_results(study_dir)  # four seed 1 missing: two rows with status "missing"
    summaries = {(s["arm"], s["seed"]): s for s in saved_summaries(study_dir / "results.csv")}
    assert sorted(summaries) == [("four", 0), ("three", 0), ("three", 1), ("two", 0), ("two", 1)]
    assert summaries[("two", 1)]["metrics"] == {FT: 0.60, LIN: 0.30}
    assert summaries[("two", 1)]["trial_id"] == "two1" and summaries[("two", 1)]["factors"] == {"n": "2"}


def test_publish_checks_every_study_before_copying(study_dir, tmp_path):  # noqa: F811
    write_results(study_dir)  # no report yet
    destination = tmp_path / "out"
    with pytest.raises(ValueError, match=r"toy: cannot publish, no report.md, report.png there"):
        publish([study_dir], destination)
    assert not destination.exists()
    assert publish_main([str(study_dir), "--to", str(destination)]) == 2
    write_report(study_dir)
    with pytest.raises(ValueError, match="already the published copy"):
        publish([study_dir], study_dir.parent)
    (tmp_path / "not_results.csv").write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match="not a results table"):
        saved_summaries(tmp_path / "not_results.csv")


def test_checked_in_results_read_back_complete():
    """Every published study in docs/results reads back, with as many finished trials as its
    results.csv has completed (arm, seed) pairs (counted here with the csv module)."""
    rows, _, _ = collect_index(REPO / "docs" / "results")
    assert rows and not [row for row in rows if row["error"]]
    for row in rows:
        with open(REPO / "docs" / "results" / row["study"] / "results.csv", newline="") as handle:
            done = {(r["arm"], r["seed"]) for r in csv.DictReader(handle) if r["status"] == "completed"}
        assert row["finished"] == len(done), row["study"]
        assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC", row["last_ran"]), row["study"]
