"""The tidy results table of a study directory: one row per trial x metric.

Columns: ``study, arm, seed, metric, value, status, config_hash, trial_id, code_version``
and ``factor/<name>`` per factor (the setting as a string, so that one column holds one type
in CSV and Parquet; ``None`` stays missing).

- Every ``trial_summary.json`` under the directory counts, at any depth (``trials/<key>/``,
  Ray Tune trial directories, ...). Summaries of another study are ignored.
- A resumed or retried trial may leave several summaries for one trial (same ``key``, else the
  same (arm, seed)): the newest by file mtime wins (ties: the later path in sort order).
- Declared (arm, seed) pairs with no summary get one row per declared metric with
  ``status="missing"`` and ``value`` NaN (never ``metric=None``), so ``groupby("metric")``
  sees them. A summary that did not complete and carries no metrics (``status="failed"``...)
  is listed the same way with its own status.
- Rows are ordered by the arms' order in ``study.json`` (arms not declared there last), then
  seed, then metric name.

Rebuilt from ``study.json`` + the summaries at any time (also during or after a resume).

A published copy of a study (``study.json`` and ``results.csv`` without the trial folders, as
``analysis.publish`` writes under ``docs/results/``) reads back from its ``results.csv``: with
no summary on disk, each trial's rows there stand in for its summary, so the table, the
report and the index of the copy are the original's.
"""
from __future__ import annotations

import io
import json
from pathlib import Path

import pandas as pd

from ssl_core.io import atomic_write_bytes, atomic_write_text, read_json
from ssl_core.study import SUMMARY_FILE

COLUMNS = ["study", "arm", "seed", "metric", "value", "status", "config_hash", "trial_id", "code_version"]
RESULTS_CSV = "results.csv"


def load_study(results_dir: str | Path) -> dict:
    """The study declaration ``RESULTS_DIR/study.json``; FileNotFoundError naming the directory if absent."""
    path = Path(results_dir) / "study.json"
    if not path.is_file():
        raise FileNotFoundError(f"{results_dir}: no study.json here; is this a study results directory?")
    return read_json(path)


def has_trial_summaries(results_dir: str | Path) -> bool:
    return next(Path(results_dir).rglob(SUMMARY_FILE), None) is not None


def saved_summaries(csv_path: str | Path) -> list[dict]:
    """The trial summaries a saved ``results.csv`` stands for: one per trial (arm, seed, trial id,
    config hash), with its status, code version, factors and non-missing metrics. Rows of
    trials that were missing when the table was written give none."""
    table = pd.read_csv(csv_path, dtype=object, keep_default_na=False, na_values=[""])
    absent = [column for column in COLUMNS if column not in table.columns]
    if absent:
        raise ValueError(f"{csv_path}: not a results table (no column {', '.join(absent)})")
    table = table.astype(object).where(table.notna(), None)
    factor_columns = [c for c in table.columns if c.startswith("factor/")]
    summaries = []
    for (arm, seed, trial_id, config_hash), rows in table.groupby(["arm", "seed", "trial_id", "config_hash"],
                                                                 sort=False, dropna=False):
        first = rows.iloc[0]
        if first["status"] == "missing":
            continue
        summaries.append({"study": first["study"], "arm": arm, "seed": int(seed), "key": trial_id or config_hash,
                          "status": first["status"], "trial_id": trial_id, "config_hash": config_hash,
                          "code_version": first["code_version"],
                          "factors": {c.removeprefix("factor/"): first[c] for c in factor_columns},
                          "metrics": {row["metric"]: float(row["value"]) for _, row in rows.iterrows()
                                      if row["value"] is not None}})
    return summaries


def load_summaries(results_dir: str | Path, study_name: str | None = None) -> list[dict]:
    """The newest summary of each trial (key, else (arm, seed)) found at any depth under ``results_dir``;
    with none on disk, those its saved ``results.csv`` stands for (a published copy)."""
    paths = sorted(Path(results_dir).rglob(SUMMARY_FILE), key=lambda p: (p.stat().st_mtime, str(p)))
    saved = Path(results_dir) / RESULTS_CSV
    if not paths and saved.is_file():
        return [s for s in saved_summaries(saved) if study_name is None or s["study"] in (None, study_name)]
    newest: dict[tuple, dict] = {}
    for path in paths:
        try:
            summary = read_json(path)
        except (OSError, json.JSONDecodeError) as error:
            raise ValueError(f"{path}: unreadable trial summary ({error})") from None
        if study_name is not None and summary.get("study") not in (None, study_name):
            continue
        newest[(summary["arm"], summary.get("key") or summary["seed"])] = summary
    return list(newest.values())


FINISHED_IN_SEARCH = ("completed", "stopped")  # a search sample ASHA stopped early has finished


def completion(results_dir: str | Path) -> tuple[int, int, list[str]]:
    """``(finished, planned, unfinished)`` of the study in ``results_dir``, from the trial
    summaries on disk (what the report counts): a grid plans every arm x seed and a trial is
    finished when its summary says completed; a search plans ``num_samples`` per arm, and a
    sample stopped early by ASHA has finished too. ``unfinished`` names what is not."""
    study = load_study(results_dir)
    summaries = load_summaries(results_dir, study["name"])
    if study.get("search"):
        planned = study["search"]["num_samples"]
        finished, unfinished = 0, []
        for arm in study["arms"]:
            done = sum(1 for s in summaries if s["arm"] == arm["name"] and s.get("status") in FINISHED_IN_SEARCH)
            finished += min(done, planned)
            unfinished += [f"{arm['name']}: {planned - done} of {planned} samples"] if done < planned else []
        return finished, planned * len(study["arms"]), unfinished
    status = {(s["arm"], s["seed"]): s.get("status", "completed") for s in summaries}
    planned = [(arm["name"], seed) for arm in study["arms"] for seed in study["seeds"]]
    unfinished = [f"{arm} seed {seed} ({status.get((arm, seed), 'missing')})" for arm, seed in planned
                  if status.get((arm, seed)) != "completed"]
    return len(planned) - len(unfinished), len(planned), unfinished


def collect_results(results_dir: str | Path) -> pd.DataFrame:
    """The tidy table (see the module docstring) of the study in ``results_dir``."""
    study = load_study(results_dir)
    summaries = load_summaries(results_dir, study["name"])
    declared_metrics = [metric["name"] for metric in study["metrics"]]
    rows = []
    for summary in summaries:
        metrics = summary.get("metrics") or {}
        if metrics:
            rows += [_row(study, summary, metric, value) for metric, value in metrics.items()]
        else:  # a trial that ended without numbers: keep it visible, with its status
            rows += [_row(study, summary, metric, None) for metric in declared_metrics]
    present = {(s["arm"], s["seed"]) for s in summaries}
    if not study.get("search"):  # a search has no fixed grid of trials to call missing
        for arm in study["arms"]:
            for seed in study["seeds"]:
                if (arm["name"], seed) not in present:
                    summary = {"arm": arm["name"], "seed": seed, "status": "missing", "factors": arm.get("factors") or {}}
                    rows += [_row(study, summary, metric, None) for metric in declared_metrics]
    if not rows:
        return pd.DataFrame({column: pd.Series(dtype=float if column == "value" else object) for column in COLUMNS})
    table = pd.DataFrame(rows)
    table["value"] = table["value"].astype(float)
    table["seed"] = table["seed"].astype(int)
    arm_order = {arm["name"]: i for i, arm in enumerate(study["arms"])}
    table["_order"] = table["arm"].map(arm_order).fillna(len(arm_order))
    table = table.sort_values(["_order", "arm", "seed", "metric"], kind="stable")
    factor_columns = sorted(c for c in table.columns if c.startswith("factor/"))
    return table[COLUMNS + factor_columns].reset_index(drop=True)


def _row(study: dict, summary: dict, metric: str, value) -> dict:
    row = {"study": study["name"], "arm": summary["arm"], "seed": summary["seed"], "metric": metric,
           "value": float("nan") if value is None else float(value), "status": summary.get("status", "completed"),
           "config_hash": summary.get("config_hash"), "trial_id": summary.get("trial_id"),
           "code_version": summary.get("code_version")}
    row.update({f"factor/{name}": None if setting is None else str(setting)
                for name, setting in (summary.get("factors") or {}).items()})
    return row


def write_results(results_dir: str | Path) -> tuple[Path, Path]:
    """Write ``results.csv`` and ``results.parquet`` (each atomically: temp name + os.replace) into ``results_dir``."""
    results_dir = Path(results_dir)
    table = collect_results(results_dir)
    csv_path = atomic_write_text(results_dir / RESULTS_CSV, table.to_csv(index=False))
    buffer = io.BytesIO()
    table.to_parquet(buffer, index=False, engine="pyarrow")
    parquet_path = atomic_write_bytes(results_dir / "results.parquet", buffer.getvalue())
    return csv_path, parquet_path
