"""The tidy results table of a study directory: one row per trial x metric.

Columns: ``study, arm, seed, metric, value, status, config_hash, trial_id, code_version``
and ``factor/<name>`` per factor. Declared (arm, seed) pairs without a completed trial get one
row per declared metric with ``status="missing"`` and no value. Rebuilt from
``study.json`` + ``trials/*/trial_summary.json`` at any time (also after a resume).
"""
from __future__ import annotations

import io
from pathlib import Path

import pandas as pd

from ssl_core.io import atomic_write_bytes, atomic_write_text, read_json

COLUMNS = ["study", "arm", "seed", "metric", "value", "status", "config_hash", "trial_id", "code_version"]


def load_study(results_dir: str | Path) -> dict:
    path = Path(results_dir) / "study.json"
    if not path.is_file():
        raise FileNotFoundError(f"{results_dir}: no study.json here; is this a study results directory?")
    return read_json(path)


def load_summaries(results_dir: str | Path) -> list[dict]:
    """Completed trial summaries, newest first wins for a repeated (arm, seed)."""
    paths = sorted(Path(results_dir).rglob("trial_summary.json"), key=lambda p: p.stat().st_mtime)
    newest: dict[tuple, dict] = {}
    for path in paths:
        summary = read_json(path)
        newest[(summary["arm"], summary.get("key") or summary["seed"])] = summary
    return list(newest.values())


def collect_results(results_dir: str | Path) -> pd.DataFrame:
    study = load_study(results_dir)
    summaries = load_summaries(results_dir)
    rows = [_row(study, s, metric, value) for s in summaries for metric, value in sorted(s["metrics"].items())]
    done = {(s["arm"], s["seed"]) for s in summaries}
    for arm in study["arms"]:
        for seed in study["seeds"]:
            if (arm["name"], seed) not in done and not study.get("search"):
                summary = {"arm": arm["name"], "seed": seed, "status": "missing", "factors": arm["factors"]}
                rows += [_row(study, summary, metric["name"], None) for metric in study["metrics"]]
    table = pd.DataFrame(rows)
    if table.empty:
        return pd.DataFrame(columns=COLUMNS)
    factor_columns = sorted(c for c in table.columns if c.startswith("factor/"))
    return table[COLUMNS + factor_columns].sort_values(["arm", "seed", "metric"], kind="stable").reset_index(drop=True)


def _row(study: dict, summary: dict, metric: str, value) -> dict:
    row = {"study": study["name"], "arm": summary["arm"], "seed": summary["seed"], "metric": metric,
           "value": None if value is None else float(value), "status": summary["status"],
           "config_hash": summary.get("config_hash"), "trial_id": summary.get("trial_id"),
           "code_version": summary.get("code_version")}
    row.update({f"factor/{name}": str(setting) for name, setting in summary.get("factors", {}).items()})
    return row


def write_results(results_dir: str | Path) -> tuple[Path, Path]:
    """Write ``results.csv`` and ``results.parquet`` (each atomically) into ``results_dir``."""
    results_dir = Path(results_dir)
    table = collect_results(results_dir)
    csv_path = atomic_write_text(results_dir / "results.csv", table.to_csv(index=False))
    buffer = io.BytesIO()
    table.to_parquet(buffer, index=False)
    parquet_path = atomic_write_bytes(results_dir / "results.parquet", buffer.getvalue())
    return csv_path, parquet_path
