"""One metric's table of a study: per arm our mean ± std over seeds, the chance level, the
paper's value and the difference to the baseline with its interval (``metric_table``).
Shared by ``analysis.report`` (per study) and ``analysis.index`` (over studies)."""
from __future__ import annotations

import re
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

from analysis.paper import paper_value
from analysis.stats import NO_INTERVAL, delta_interval

FIGURE = "report.png"
REPORT = "report.md"
STAMP_FORMAT = "%Y-%m-%d %H:%M UTC"
_GENERATED = re.compile(r" · generated (\d{4}-\d\d-\d\d \d\d:\d\d UTC)$", re.MULTILINE)
CHANCE_SUFFIX = "_chance"
TABLE_COLUMNS = ["arm", "factors", "mean", "std", "n", "chance", "paper",
                 "delta", "delta_low", "delta_high", "delta_method", "beyond_noise"]


def stamp(seconds: float | None = None) -> str:
    """A time (``seconds`` since the epoch; now if None) as reports and the index write it."""
    moment = datetime.now(timezone.utc) if seconds is None else datetime.fromtimestamp(seconds, timezone.utc)
    return moment.strftime(STAMP_FORMAT)


def report_generated(study_dir: str | Path) -> str | None:
    """When ``report.md`` in ``study_dir`` says it was generated (None without a report or a stamp)."""
    path = Path(study_dir) / REPORT
    found = _GENERATED.search(path.read_text(encoding="utf-8")) if path.is_file() else None
    return found.group(1) if found else None


def reported_metrics(study: dict) -> list[dict]:
    """The metrics of ``study.json`` that get a table and a figure panel: all but the ``*_chance`` levels."""
    return [metric for metric in study["metrics"] if not metric["name"].endswith(CHANCE_SUFFIX)]


def _seed_values(results: pd.DataFrame, metric_name: str, arm: str | None) -> pd.Series:
    """One arm's completed values of one metric in %, indexed by seed (NaN values dropped)."""
    rows = results[(results["metric"] == metric_name) & (results["status"] == "completed") & (results["arm"] == arm)]
    return pd.Series(100 * rows["value"].astype(float).to_numpy(), index=rows["seed"].to_numpy(), dtype=float).dropna()


def metric_table(study: dict, results: pd.DataFrame, metric: dict) -> pd.DataFrame:
    """One row per arm (study order): mean and sample std over completed seeds in %, n, the chance level
    (mean of ``<metric>_chance`` in %), paper %, delta to the baseline (points) with its 95 % interval
    (``delta_low``, ``delta_high``, ``delta_method`` "paired"/"welch"/None) and ``beyond_noise``
    (the interval excludes 0)."""
    baseline = study.get("baseline_arm")
    arms = [arm["name"] for arm in study["arms"]]
    if baseline and baseline not in arms:
        raise ValueError(f"study.json: baseline_arm {baseline!r} is not one of the arms ({', '.join(arms)})")
    base_values = _seed_values(results, metric["name"], baseline)
    rows = []
    for arm in study["arms"]:
        values = _seed_values(results, metric["name"], arm["name"])
        compared = bool(baseline) and arm["name"] != baseline
        interval = delta_interval(values, base_values) if compared else NO_INTERVAL
        paper = paper_value(study.get("table"), arm.get("paper"), metric.get("paper"))
        rows.append({"arm": arm["name"], "factors": ", ".join(f"{k}={v}" for k, v in (arm.get("factors") or {}).items()),
                     "mean": values.mean(), "std": values.std(ddof=1), "n": len(values),
                     "chance": _seed_values(results, metric["name"] + CHANCE_SUFFIX, arm["name"]).mean(),
                     "paper": float("nan") if paper is None else paper,
                     "delta": values.mean() - base_values.mean() if baseline else float("nan"),
                     "delta_low": interval.low, "delta_high": interval.high, "delta_method": interval.method,
                     "beyond_noise": interval.excludes_zero})
    return pd.DataFrame(rows, columns=TABLE_COLUMNS)
