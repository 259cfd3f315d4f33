"""Results table and report, on study directories built by hand (numbers worked out in the comments)."""
import copy
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis.paper import kendall_tau_b, load_paper_table, paper_value
from analysis.report import build_report, metric_section, metric_table, paper_layout, write_report
from analysis.results import COLUMNS, collect_results, write_results
from analysis.stats import delta_interval, regularized_incomplete_beta, t_cdf, t_quantile

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
    # three - two per seed: 20, 14 -> mean 17, sd sqrt(18), se 3; t(0.975, 1) = 12.706 -> 17 ± 38.1: [-21.1, +55.1]
    # four has one seed: no interval
    assert "| three | n=3 | 72.0 ± 2.8 | 2 | 72.4 | +17.0 [-21.1, +55.1] |" in report
    assert "| four | n=4 | 40.0 | 1 | 73.9 | -15.0 [n/a] |" in report
    assert ("Δ: our mean − two's mean, in points; [low, high]: 95 % interval over seeds, paired t on the per-seed "
            "differences (same seeds in both arms), n/a for four (fewer than 2 seeds on a side); ✱ the interval excludes 0 (a zero-width interval is not marked).") in report
    # ours 55 < 72 > 40, paper 72.5 > 72.4 < 73.9: all three pairs discordant
    assert "Kendall τ-b (our ordering vs the paper's, 3 arms): -1.00." in report
    # linear (no paper row): two 20, 30 -> 25.0 ± 7.1; three 25, 35 -> 30.0 ± 7.1, +5.0; four 10 -> -15.0
    assert "| two | n=2 | 25.0 ± 7.1 | 2 | – | +0.0 |" in report
    # three - two per seed: 5, 5 -> sd 0: the point interval [5, 5], not marked (zero spread)
    assert "| three | n=3 | 30.0 ± 7.1 | 2 | – | +5.0 [+5.0, +5.0] |" in report
    assert "| four | n=4 | 10.0 | 1 | – | -15.0 [n/a] |" in report
    assert "chance (%)" not in report and "| chance |" not in report  # no <metric>_chance values: no chance column
    assert "Kendall τ-b (our ordering vs the paper's): n/a (0 arm(s) with both numbers, fewer than 2)." in report
    assert "Missing trials (no summary): four seed 1." in report
    assert "measured at preset `smoke` — embedded synthetic data unless a dataset path was given" in report
    assert "Code version(s): git:x." in report


def test_paper_layout_puts_the_paper_metrics_side_by_side(study_dir):
    report = build_report(study_dir)
    # only the finetune metric maps to a paper row (linear has none): one triple of columns
    assert f"| arm | `{FT}` ours | paper | Δ |" in report
    assert "| two | 55.0 ± 7.1 | 72.5 | +0.0 |" in report
    assert "| three | 72.0 ± 2.8 | 72.4 | +17.0 [-21.1, +55.1] |" in report
    assert "| four | 40.0 | 73.9 | -15.0 [n/a] |" in report
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
    assert "Δ vs – (points)" in report and "Δ: – (study.json names no baseline arm)." in report
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
    assert "| three | n=3 | 72.0 ± 2.8 | 2 | 72.4 | +17.0 [-21.1, +55.1] |" in (study_dir / "report.md").read_text()

    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FileNotFoundError, match="no study.json"):
        collect_results(empty)
    result = subprocess.run([sys.executable, "-m", "analysis.report", str(empty)], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 2 and "no study.json" in result.stderr and "Traceback" not in result.stderr


def test_t_quantile_against_closed_forms_and_tables():
    # df = 1 is Cauchy: tan(pi (p - 1/2)); df = 2: (2p - 1) / sqrt(2 p (1 - p))
    for p in (0.6, 0.9, 0.975, 0.995):
        assert t_quantile(p, 1) == pytest.approx(math.tan(math.pi * (p - 0.5)), rel=1e-10)
        assert t_quantile(p, 2) == pytest.approx((2 * p - 1) / math.sqrt(2 * p * (1 - p)), rel=1e-10)
    # printed t tables, two-sided 95 %
    for df, expected in ((1, 12.7062), (2, 4.3027), (3, 3.1824), (5, 2.5706), (10, 2.2281), (30, 2.0423)):
        assert t_quantile(0.975, df) == pytest.approx(expected, abs=5e-5)
    assert t_quantile(0.025, 5) == pytest.approx(-t_quantile(0.975, 5))
    assert t_quantile(0.5, 7) == pytest.approx(0, abs=1e-12)
    assert t_cdf(t_quantile(0.975, 1.6842), 1.6842) == pytest.approx(0.975, abs=1e-12)  # non-integer df (Welch)
    assert t_cdf(0.0, 4) == 0.5 and t_cdf(1.0, 1) == pytest.approx(0.75)  # Cauchy: 1/2 + atan(1)/pi
    # I_x(a, 1) = x^a, I_x(1, b) = 1 - (1 - x)^b
    assert regularized_incomplete_beta(3, 1, 0.4) == pytest.approx(0.4 ** 3, rel=1e-12)
    assert regularized_incomplete_beta(1, 4, 0.3) == pytest.approx(1 - 0.7 ** 4, rel=1e-12)
    with pytest.raises(ValueError):
        t_quantile(1.0, 3)
    with pytest.raises(ValueError):
        t_quantile(0.9, 0)


def _seeds(*pairs):
    """A per-seed series from (seed, value) pairs."""
    return pd.Series([value for _, value in pairs], index=[seed for seed, _ in pairs], dtype=float)


def test_delta_interval_rule_worked_by_hand():
    # paired, same seeds: differences 30, 50 -> mean 40, sd 14.142, se 10, t(0.975, 1) = 12.7062 -> [-87.06, +167.06]
    paired = delta_interval(_seeds((0, 40), (1, 60)), _seeds((1, 10), (0, 10)))
    assert paired.method == "paired" and not paired.excludes_zero
    assert (paired.low, paired.high) == (pytest.approx(-87.062, abs=1e-3), pytest.approx(167.062, abs=1e-3))
    # paired, equal differences 40, 40: sd 0 -> the point interval [40, 40], not marked (zero spread)
    point = delta_interval(_seeds((0, 50), (1, 60)), _seeds((0, 10), (1, 20)))
    assert (point.low, point.high, point.method, point.excludes_zero) == (40, 40, "paired", False)
    # Welch, seeds 0, 1 vs 0, 1, 2: ours 60, 60 (var 0), baseline 10, 20, 30 (var 100, var/n 33.33)
    # -> se sqrt(33.33) = 5.7735, df = 33.33^2 / (33.33^2 / 2) = 2, t(0.975, 2) = 4.3027: 40 ± 24.841
    welch = delta_interval(_seeds((0, 60), (1, 60)), _seeds((0, 10), (1, 20), (2, 30)))
    assert welch.method == "welch" and welch.excludes_zero
    assert (welch.low, welch.high) == (pytest.approx(15.159, abs=1e-3), pytest.approx(64.841, abs=1e-3))
    # Welch, seeds 2, 3 vs 0, 1 (disjoint): 40, 50 vs 10, 20 -> var/n 25 each, se sqrt(50) = 7.0711,
    # df = 50^2 / (25^2 + 25^2) = 2 -> 30 ± 30.424: [-0.424, +60.424], just short of excluding 0
    close = delta_interval(_seeds((2, 40), (3, 50)), _seeds((0, 10), (1, 20)))
    assert close.method == "welch" and not close.excludes_zero
    assert (close.low, close.high) == (pytest.approx(-0.424, abs=1e-3), pytest.approx(60.424, abs=1e-3))
    # a repeated seed cannot be paired: Welch
    assert delta_interval(_seeds((0, 40), (0, 60)), _seeds((0, 10), (1, 10))).method == "welch"
    # n = 1 on either side (NaN values do not count): no interval
    for ours, baseline in ((_seeds((0, 40)), _seeds((0, 10), (1, 20))), (_seeds((0, 40), (1, math.nan)), _seeds((0, 10), (1, 20))),
                           (_seeds((0, 40), (1, 50)), _seeds((0, 10)))):
        none = delta_interval(ours, baseline)
        assert none.method is None and math.isnan(none.low) and math.isnan(none.high) and not none.excludes_zero


CHANCE_STUDY = {
    "name": "chance", "title": "Chance", "table": "CSTP/T4", "preset": "smoke", "seeds": [0, 1], "baseline_arm": "scratch",
    "arms": [{"name": "scratch", "factors": {}, "paper": {"setting": "2 candidates"}},
             {"name": "welch", "factors": {}, "paper": {"setting": "3 candidates"}},
             {"name": "paired", "factors": {}, "paper": {"setting": "4 candidates"}}],
    "metrics": [{"name": "pretext/acc", "paper": UCF}, {"name": "pretext/acc_chance", "paper": UCF}],
}


def test_equal_differences_up_to_rounding_give_an_unmarked_point_interval():
    # accuracies 0.1/0.3 and 0.2/0.4 (as fractions): per-seed differences -0.2 and -0.2 up to float rounding
    ours, baseline = pd.Series([0.1, 0.2], index=[0, 1]), pd.Series([0.3, 0.4], index=[0, 1])
    assert (ours - baseline).var(ddof=1) > 0  # the rounding noise this guards against
    interval = delta_interval(ours, baseline)
    assert interval.low == interval.high == pytest.approx(-0.2) and not interval.excludes_zero
    # float32 accuracies as points: 43/288 - 48/288 and 39/288 - 44/288 (both -5/288) differ in the 6th digit
    as_points = lambda *values: pd.Series([100 * float(np.float32(v)) for v in values], index=[0, 1])
    interval = delta_interval(as_points(43 / 288, 39 / 288), as_points(48 / 288, 44 / 288))
    assert interval.low == interval.high == pytest.approx(-500 / 288, abs=1e-4) and not interval.excludes_zero

def _results(rows):
    """A tidy results frame from (arm, seed, metric, value) rows, all completed."""
    return pd.DataFrame([{"arm": arm, "seed": seed, "metric": metric, "value": value, "status": "completed"}
                         for arm, seed, metric, value in rows])


@pytest.fixture
def chance_results():
    acc, chance = "pretext/acc", "pretext/acc_chance"
    # scratch: 10, 20, 30 (seeds 0-2), no chance level; welch: 60, 60 (seeds 0, 1), chance 25, 20 -> 22.5;
    # paired: 40, 60, 50 (seeds 0-2), chance 50 on each seed
    return _results([("scratch", 0, acc, 0.10), ("scratch", 1, acc, 0.20), ("scratch", 2, acc, 0.30),
                     ("welch", 0, acc, 0.60), ("welch", 1, acc, 0.60), ("welch", 0, chance, 0.25), ("welch", 1, chance, 0.20),
                     ("paired", 0, acc, 0.40), ("paired", 1, acc, 0.60), ("paired", 2, acc, 0.50),
                     ("paired", 0, chance, 0.5), ("paired", 1, chance, 0.5), ("paired", 2, chance, 0.5)])


def test_metric_table_intervals_markers_and_chance(chance_results):
    table = metric_table(CHANCE_STUDY, chance_results, CHANCE_STUDY["metrics"][0]).set_index("arm")
    assert list(table.columns[-5:]) == ["delta", "delta_low", "delta_high", "delta_method", "beyond_noise"]
    # baseline: delta 0, no interval, not marked, no chance level
    assert table.loc["scratch", "delta"] == 0 and math.isnan(table.loc["scratch", "delta_low"])
    assert not table.loc["scratch", "beyond_noise"] and math.isnan(table.loc["scratch", "chance"])
    # welch: 40 ± 24.841 (worked out in test_delta_interval_rule_worked_by_hand); chance (25 + 20) / 2
    assert table.loc["welch", "delta"] == pytest.approx(40) and table.loc["welch", "delta_method"] == "welch"
    assert table.loc["welch", "delta_low"] == pytest.approx(15.159, abs=1e-3) and table.loc["welch", "beyond_noise"]
    assert table.loc["welch", "chance"] == pytest.approx(22.5)
    # paired: differences 30, 40, 20 -> mean 30, sd 10, se 10/sqrt(3) = 5.7735, t(0.975, 2) = 4.3027 -> 30 ± 24.841
    assert table.loc["paired", "delta_method"] == "paired" and table.loc["paired", "beyond_noise"]
    assert (table.loc["paired", "delta_low"], table.loc["paired", "delta_high"]) == (
        pytest.approx(5.159, abs=1e-3), pytest.approx(54.841, abs=1e-3))
    assert table.loc["paired", "chance"] == pytest.approx(50)


def test_report_tables_show_intervals_and_chance(chance_results):
    section = "\n".join(metric_section(CHANCE_STUDY, chance_results, CHANCE_STUDY["metrics"][0]))
    assert "| arm | factors | ours (%) | chance (%) | n | paper (%) | Δ vs scratch (points) |" in section
    assert "| scratch |  | 20.0 ± 10.0 | – | 3 | 72.5 | +0.0 |" in section
    assert "| welch |  | 60.0 ± 0.0 | 22.5 | 2 | 72.4 | +40.0 [+15.2, +64.8] ✱ |" in section
    assert "| paired |  | 50.0 ± 10.0 | 50.0 | 3 | 73.9 | +30.0 [+5.2, +54.8] ✱ |" in section
    assert ("[low, high]: 95 % interval over seeds, paired t on the per-seed differences (same seeds in both arms), "
            "Welch t for welch (seeds differ from scratch's); ✱ the interval excludes 0 (a zero-width interval is not marked).") in section
    layout = "\n".join(paper_layout(CHANCE_STUDY, chance_results))
    # the _chance metric has no column group of its own, though it names a paper row
    assert "| arm | `pretext/acc` ours | chance | paper | Δ |\n|---|---|---|---|---|" in layout
    assert "| welch | 60.0 ± 0.0 | 22.5 | 72.4 | +40.0 [+15.2, +64.8] ✱ |" in layout
    # an interval that includes 0: no marker
    close = _results([("scratch", 0, "pretext/acc", 0.10), ("scratch", 1, "pretext/acc", 0.20),
                      ("welch", 2, "pretext/acc", 0.40), ("welch", 3, "pretext/acc", 0.50)])
    assert "| welch |  | 45.0 ± 7.1 | 2 | 72.4 | +30.0 [-0.4, +60.4] |" in "\n".join(
        metric_section(CHANCE_STUDY, close, CHANCE_STUDY["metrics"][0]))


def test_chance_metrics_get_no_table(tmp_path, chance_results):
    root = tmp_path / "chance"
    root.mkdir()
    (root / "study.json").write_text(json.dumps(CHANCE_STUDY))
    results = chance_results.assign(study="chance", code_version="git:x")
    report = build_report(root, results)
    assert "## `pretext/acc`" in report and "## `pretext/acc_chance`" not in report
    assert "`pretext/acc_chance` ours" not in report


def test_figure_draws_the_chance_level_beside_a_pretext_accuracy(tmp_path, chance_results, monkeypatch):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from analysis.report import plot

    root = tmp_path / "chance"
    root.mkdir()
    (root / "study.json").write_text(json.dumps(CHANCE_STUDY))
    drawn = []
    monkeypatch.setattr(plt, "close", lambda figure: drawn.append(figure))
    plot(root, chance_results.assign(study="chance", code_version="git:x"))
    labels = {text.get_text() for axis in drawn[0].axes if axis.get_legend() for text in axis.get_legend().get_texts()}
    assert {"ours", "paper", "chance"} <= labels
    chance_points = [collection for axis in drawn[0].axes for collection in axis.collections
                     if collection.get_label() == "chance"]
    # bar figure: one chance marker per arm with a chance value (scratch has none: NaN, not drawn)
    assert sorted(y for _, y in chance_points[0].get_offsets() if y == y) == [22.5, 50.0]


def test_report_states_the_notes_the_set_factors_and_the_figure_marks(study_dir, monkeypatch):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from analysis.report import plot

    declared = json.loads((study_dir / "study.json").read_text())
    declared.update(notes=["mfo_impl: official"], set={"pretrain.epochs": 4},
                    figure={**declared["figure"], "marks": [{"x": 3, "label": "3 classes"}], "log_x": True})
    (study_dir / "study.json").write_text(json.dumps(declared))
    report = build_report(study_dir)
    assert "Note: mfo_impl: official" in report and "`pretrain.epochs=4`" in report
    drawn = []
    monkeypatch.setattr(plt, "close", lambda figure: drawn.append(figure))
    plot(study_dir)
    axis = drawn[0].axes[0]
    assert axis.get_xscale() == "log"
    assert any(list(line.get_xdata()) == [3, 3] for line in axis.get_lines())  # the vertical mark
    assert "3 classes" in {text.get_text() for text in axis.texts}


def test_feature_rank_section_worked_by_hand(chance_results):
    from analysis.report import feature_rank_section
    assert feature_rank_section(CHANCE_STUDY, chance_results) == []  # no trial reports a rank: no section
    rank = "features/ucf/effective_rank"
    # scratch: 30, 20 -> 25.0 ± 7.1; welch: 2 (one seed) -> 2.0; paired: none on ucf; hmdb only for paired: 3, 5 -> 4.0 ± 1.4
    ranks = _results([("scratch", 0, rank, 30.0), ("scratch", 1, rank, 20.0), ("welch", 0, rank, 2.0),
                      ("paired", 0, "features/hmdb/effective_rank", 3.0), ("paired", 1, "features/hmdb/effective_rank", 5.0)])
    failed = pd.DataFrame([{"arm": "welch", "seed": 1, "metric": rank, "value": 99.0, "status": "failed"}])
    lines = feature_rank_section(CHANCE_STUDY, pd.concat([chance_results, ranks, failed], ignore_index=True))
    assert lines[0] == "## Frozen features: effective rank"
    assert "| arm | hmdb | ucf |" in lines
    assert "| scratch | – | 25.0 ± 7.1 |" in lines
    assert "| welch | – | 2.0 |" in lines  # the failed trial's 99 is left out
    assert "| paired | 4.0 ± 1.4 | – |" in lines
