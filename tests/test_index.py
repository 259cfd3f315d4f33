"""The index of every regenerated table (issue 14, part 3), on study directories built by hand."""
import base64
import json
from html.parser import HTMLParser

import numpy as np
import pytest

from analysis.index import collect_index, write_index
from analysis.paper import kendall_tau_b, kendall_tau_p_value, load_paper_table
from analysis.report import main as report_main
from test_analysis import LINE_STUDY, PNG_MAGIC, _toy, study_dir  # noqa: F401 - the fixture


@pytest.mark.parametrize("x, y, p", [
    ([1, 2, 3], [1, 2, 3], 2 / 6),        # tau 1: 2 of the 3! orderings reach |tau| = 1
    ([1, 2, 3], [3, 1, 2], 1.0),          # |tau| 1/3: every ordering does
    ([1, 2, 3, 4], [4, 3, 2, 1], 2 / 24),  # tau -1
    # tau 2/3 (5 concordant, 1 discordant); orderings with |tau| >= 2/3: the 2 with |tau| 1, and
    # the 3 + 3 with one adjacent swap from either end (a single inversion count of 1 or 5): 8 of 24
    ([1, 2, 3, 4], [1, 2, 4, 3], 8 / 24),
])
def test_kendall_p_value_exact_small_cases_by_hand(x, y, p):
    assert kendall_tau_p_value(x, y) == pytest.approx(p)


def test_kendall_p_value_by_permutation_for_long_tables():
    x = np.arange(12)
    assert kendall_tau_b(x, x) == 1.0 and kendall_tau_p_value(x, x) < 1e-3  # 2 of 12! orderings: p ~ 1/20,001
    rng = np.random.default_rng(3)
    noise = rng.permutation(12)
    p = kendall_tau_p_value(x, noise)
    assert 0.05 < p <= 1.0 and kendall_tau_p_value(x, noise) == p  # seeded: the same p every time
    assert np.isnan(kendall_tau_p_value([1, 1, 1], [1, 2, 3]))


class _Page(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags, self.links, self.images, self.cells, self.missing = [], [], [], [], []
        self._in = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append(tag)
        if tag == "a":
            self.links.append(attrs["href"])
        if tag == "img":
            self.images.append(attrs["src"])
        self._in = "missing" if attrs.get("class") == "missing" and tag == "li" else tag

    def handle_endtag(self, tag):
        self._in = None

    def handle_data(self, data):
        if self._in == "td":
            self.cells.append(data)
        if self._in == "missing":
            self.missing.append(data)


def test_index_rows_missing_tables_and_self_contained_page(study_dir, tmp_path):  # noqa: F811
    other = tmp_path / "nested" / "v3s"
    other.mkdir(parents=True)
    (other / "study.json").write_text(json.dumps({
        **LINE_STUDY, "name": "v3s_toy", "table": "V3S/T3", "baseline_arm": "two", "figure": {"kind": "bar", "x": None},
        "arms": [{"name": "two", "factors": {"n": 2}, "paper": {"setting": "S_S"}},
                 {"name": "three", "factors": {"n": 3}, "paper": {"setting": "S_P"}}],
        "metrics": [{"name": "finetune/ucf/video_top1", "paper": {"protocol": "finetune_video", "eval_dataset": "UCF101",
                                                                   "metric": "top1"}}]}))
    for seed, (two, three) in enumerate([(0.10, 0.30), (0.12, 0.31)]):  # three - two: 20, 19 points
        _toy(other / f"trials/two__seed{seed}", "two", seed, two, 0.0)
        _toy(other / f"trials/three__seed{seed}", "three", seed, three, 0.0)
    for path in other.rglob("trial_summary.json"):
        path.write_text(path.read_text().replace('"study": "toy"', '"study": "v3s_toy"'))
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken/study.json").write_text("{not json")

    rows, points, missing = collect_index(tmp_path)
    by_name = {row["study"]: row for row in rows}
    toy = by_name["toy"]
    assert (toy["table"], toy["preset"], toy["seeds"], toy["finished"], toy["planned"]) == ("CSTP/T4", "smoke", 2, 5, 6)
    assert toy["last_ran"] == "1970-01-01 00:01 UTC"  # the newest toy summary (mtime 100 s); another study's is ignored
    # ours 55, 72, 40 against the paper's 72.5, 72.4, 73.9: tau -1, exact p 2/6
    assert [(t["metric"], round(t["tau"], 2), round(t["p"], 3), t["n"]) for t in toy["taus"]] == [
        ("finetune/ucf/video_top1", -1.0, 0.333, 3)]
    assert toy["largest_delta"] == "none"  # three: +17.0 [-21.1, +55.1] contains 0; four has one seed
    v3s = by_name["v3s_toy"]
    # three - two per seed 20, 19: mean 19.5, sd 0.707, se 0.5, t(0.975, 1) 12.706: [13.1, 25.9], beyond noise
    assert v3s["largest_delta"] == "three, finetune/ucf/video_top1: +19.5 [+13.1, +25.9]"
    assert v3s["report"] == "nested/v3s/report.md" and v3s["figure"] == "nested/v3s/report.png"
    assert by_name["broken"]["error"]
    assert len(points) == 3 + 2 and {p["paper"] for p in points} == {"CSTP", "V3S"}
    every = list(dict.fromkeys(f"{p}/{t}" for p, t in load_paper_table()[["paper", "table"]].itertuples(index=False)))
    assert missing == [t for t in every if t not in ("CSTP/T4", "V3S/T3")] and len(missing) == len(every) - 2

    assert report_main([str(tmp_path)]) == 0
    markdown = (tmp_path / "index.md").read_text()
    assert "| CSTP/T4 | toy | smoke | 2 | 5 of 6 | 1970-01-01 00:01 UTC | finetune/ucf/video_top1: -1.00 (p 0.33, 3 arms) | none |" in markdown
    assert "[report](toy/report.md) · [figure](toy/report.png)" in markdown and "- STS/T1a" in markdown
    page = _Page()
    page.feed((tmp_path / "index.html").read_text())
    assert page.tags.count("table") == 3  # CSTP, V3S, and the studies without a paper table (the broken one)
    assert "toy/report.md" in page.links and "nested/v3s/report.png" in page.links
    assert len(page.images) == 1 and page.images[0].startswith("data:image/png;base64,")
    assert base64.b64decode(page.images[0].split(",", 1)[1]).startswith(PNG_MAGIC)
    assert (tmp_path / "index.png").read_bytes().startswith(PNG_MAGIC)
    assert "5 of 6" in page.cells and "three, finetune/ucf/video_top1: +19.5 [+13.1, +25.9]" in page.cells
    assert page.missing == missing
