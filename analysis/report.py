"""``report.md`` and a figure per study: our mean ± std over seeds beside the paper's numbers.

    python -m analysis.report RESULTS_DIR     # rebuilds results.csv/.parquet, report.md, report.png
"""
from __future__ import annotations

import io
import sys
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

from analysis.paper import kendall_tau_b, paper_value
from analysis.results import collect_results, load_study, write_results
from ssl_core.io import atomic_write_bytes, atomic_write_text

FIGURE = "report.png"


def metric_table(study: dict, results: pd.DataFrame, metric: dict) -> pd.DataFrame:
    """One row per arm (study order): mean and std over completed seeds in %, n, paper %, delta."""
    done = results[(results["metric"] == metric["name"]) & (results["status"] == "completed")]
    rows = []
    for arm in study["arms"]:
        values = 100 * done.loc[done["arm"] == arm["name"], "value"].astype(float)
        rows.append({"arm": arm["name"], "factors": ", ".join(f"{k}={v}" for k, v in arm["factors"].items()),
                     "mean": values.mean() if len(values) else float("nan"),
                     "std": values.std(ddof=1) if len(values) > 1 else float("nan"), "n": len(values),
                     "paper": paper_value(study.get("table"), arm.get("paper"), metric.get("paper"))})
    table = pd.DataFrame(rows)
    baseline = study.get("baseline_arm")
    base_mean = table.loc[table["arm"] == baseline, "mean"].iloc[0] if baseline else float("nan")
    table["delta"] = table["mean"] - base_mean
    return table


def _cell(value: float, digits: int = 1, signed: bool = False) -> str:
    if value is None or pd.isna(value):
        return "–"
    return f"{value:+.{digits}f}" if signed else f"{value:.{digits}f}"


def _tau_line(table: pd.DataFrame) -> str:
    both = table.dropna(subset=["mean", "paper"])
    if len(both) < 2:
        return "Kendall τ-b (our ordering vs the paper's): n/a (fewer than 2 arms with both numbers)."
    tau = kendall_tau_b(both["mean"].tolist(), both["paper"].tolist())
    return f"Kendall τ-b (our ordering vs the paper's, {len(both)} arms): {_cell(tau, 2)}."


def build_report(results_dir: str | Path) -> str:
    study = load_study(results_dir)
    results = collect_results(results_dir)
    baseline = study.get("baseline_arm") or "–"
    generated = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines = [f"# {study['title']}", "",
             f"Study `{study['name']}` · paper table {study.get('table') or '–'} · preset `{study['preset']}` · "
             f"seeds {', '.join(map(str, study['seeds']))} · generated {generated}", ""]
    for metric in study["metrics"]:
        table = metric_table(study, results, metric)
        lines += [f"## `{metric['name']}`", "",
                  f"| arm | factors | ours (%) | n | paper (%) | Δ vs {baseline} (points) |", "|---|---|---|---|---|---|"]
        for row in table.itertuples():
            ours = _cell(row.mean) if pd.isna(row.std) else f"{_cell(row.mean)} ± {_cell(row.std)}"
            lines.append(f"| {row.arm} | {row.factors} | {ours} | {row.n} | {_cell(row.paper)} | {_cell(row.delta, signed=True)} |")
        lines += ["", _tau_line(table), ""]
    missing = results[results["status"] == "missing"][["arm", "seed"]].drop_duplicates()
    if len(missing):
        lines += ["Missing trials: " + ", ".join(f"{r.arm} seed {r.seed}" for r in missing.itertuples()) + ".", ""]
    lines += [f"Ours: mean ± sample std over seeds, measured at preset `{study['preset']}` (the embedded synthetic "
              "datasets unless dataset paths were given). Paper: the published number for the same setting. "
              f"Figure: [{FIGURE}]({FIGURE}).", ""]
    return "\n".join(lines)


def plot(results_dir: str | Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    study = load_study(results_dir)
    results = collect_results(results_dir)
    metrics = study["metrics"]
    figure, axes = plt.subplots(1, len(metrics), figsize=(4 * len(metrics), 3.4), squeeze=False)
    for axis, metric in zip(axes[0], metrics):
        table = metric_table(study, results, metric)
        if study["figure"].get("kind") == "line" and study["figure"].get("x"):
            x = [float(arm["factors"][study["figure"]["x"]]) for arm in study["arms"]]
            axis.errorbar(x, table["mean"], yerr=table["std"].fillna(0), marker="o", capsize=3, label="ours")
            axis.plot(x, table["paper"], marker="s", linestyle="--", label="paper")
            axis.set_xlabel(study["figure"]["x"])
        else:
            positions = range(len(table))
            axis.bar(positions, table["mean"], yerr=table["std"].fillna(0), capsize=3, label="ours")
            axis.scatter(positions, table["paper"], marker="D", color="black", zorder=3, label="paper")
            axis.set_xticks(list(positions), table["arm"], rotation=30, ha="right")
        axis.set_title(metric["name"], fontsize=9)
        axis.set_ylabel("%")
    axes[0][0].legend(fontsize=8)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110)
    plt.close(figure)
    return atomic_write_bytes(Path(results_dir) / FIGURE, buffer.getvalue())


def write_report(results_dir: str | Path) -> Path:
    plot(results_dir)
    return atomic_write_text(Path(results_dir) / "report.md", build_report(results_dir))


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python -m analysis.report RESULTS_DIR", file=sys.stderr)
        return 2
    try:
        csv_path, parquet_path = write_results(argv[0])
        report = write_report(argv[0])
    except FileNotFoundError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"wrote {csv_path}, {parquet_path}, {report} and {Path(argv[0]) / FIGURE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
