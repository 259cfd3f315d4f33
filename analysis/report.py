"""``report.md`` and a figure per study: our mean ± std over seeds beside the paper's numbers.

    python -m analysis.report RESULTS_DIR     # rebuilds results.csv/.parquet, report.md, report.png

Per metric of ``study.json``, one table row per arm in study order: factor settings, our mean ±
sample std (ddof=1) over completed seeds in % (1 decimal; no ± with a single seed), n, the
paper's value (%), and the delta to the baseline arm (our mean - baseline mean, in points);
below it Kendall's tau-b between our arm means and the paper's values over the arms having both.
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
    """One row per arm (study order): mean and sample std over completed seeds in %, n, paper %, delta (points)."""
    done = results[(results["metric"] == metric["name"]) & (results["status"] == "completed")]
    rows = []
    for arm in study["arms"]:
        values = 100 * done.loc[done["arm"] == arm["name"], "value"].astype(float).dropna()
        paper = paper_value(study.get("table"), arm.get("paper"), metric.get("paper"))
        rows.append({"arm": arm["name"], "factors": ", ".join(f"{k}={v}" for k, v in (arm.get("factors") or {}).items()),
                     "mean": values.mean() if len(values) else float("nan"),
                     "std": values.std(ddof=1) if len(values) > 1 else float("nan"), "n": len(values),
                     "paper": float("nan") if paper is None else paper})
    table = pd.DataFrame(rows, columns=["arm", "factors", "mean", "std", "n", "paper"])
    baseline = study.get("baseline_arm")
    if baseline and baseline not in set(table["arm"]):
        raise ValueError(f"study.json: baseline_arm {baseline!r} is not one of the arms ({', '.join(table['arm'])})")
    base_mean = table.loc[table["arm"] == baseline, "mean"].iloc[0] if baseline else float("nan")
    table["delta"] = table["mean"] - base_mean
    return table


def _cell(value, digits: int = 1, signed: bool = False) -> str:
    if value is None or pd.isna(value):
        return "–"
    return f"{value:+.{digits}f}" if signed else f"{value:.{digits}f}"


def _md(text) -> str:
    """A markdown table cell: pipes escaped."""
    return str(text).replace("|", "\\|")


def tau_line(table: pd.DataFrame) -> str:
    """Kendall tau-b between our arm means and the paper's values over the arms having both."""
    both = table.dropna(subset=["mean", "paper"])
    if len(both) < 2:
        return f"Kendall τ-b (our ordering vs the paper's): n/a ({len(both)} arm(s) with both numbers, fewer than 2)."
    tau = kendall_tau_b(both["mean"].tolist(), both["paper"].tolist())
    if pd.isna(tau):
        return f"Kendall τ-b (our ordering vs the paper's, {len(both)} arms): n/a (all tied on one side)."
    return f"Kendall τ-b (our ordering vs the paper's, {len(both)} arms): {_cell(tau, 2)}."


def paper_layout(study: dict, results: pd.DataFrame) -> list[str]:
    """The paper table's layout: one row per arm, for each metric the paper reports our
    mean ± std, the paper's value and our delta to the baseline, side by side."""
    metrics = [metric for metric in study["metrics"] if metric.get("paper")]
    if not study.get("table") or not metrics:
        return []
    tables = [metric_table(study, results, metric) for metric in metrics]
    header = "| arm | " + " | ".join(f"`{m['name']}` ours | paper | Δ" for m in metrics) + " |"
    lines = [f"## Paper layout ({study['table']})", "", header, "|---|" + "---|---|---|" * len(metrics)]
    for position, arm in enumerate(study["arms"]):
        cells = []
        for table in tables:
            row = table.iloc[position]
            ours = _cell(row["mean"]) if pd.isna(row["std"]) else f"{_cell(row['mean'])} ± {_cell(row['std'])}"
            cells += [ours, _cell(row["paper"]), _cell(row["delta"], signed=True)]
        lines.append(f"| {_md(arm['name'])} | " + " | ".join(cells) + " |")
    return lines + ["", f"Δ: our mean minus the {study.get('baseline_arm') or '–'} arm's, in points.", ""]


def build_report(results_dir: str | Path, results: pd.DataFrame | None = None) -> str:
    """The markdown report of the study in ``results_dir`` (``results``: its tidy table, rebuilt if not given)."""
    study = load_study(results_dir)
    results = collect_results(results_dir) if results is None else results
    baseline = study.get("baseline_arm")
    generated = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    trials = results[["arm", "seed", "status"]].drop_duplicates(["arm", "seed"])
    completed = int((trials["status"] == "completed").sum())
    lines = [f"# {study['title']}", "",
             f"Study `{study['name']}` · paper table {study.get('table') or '–'} · preset `{study['preset']}` · "
             f"seeds {', '.join(map(str, study['seeds']))} · baseline arm {baseline or '–'} · generated {generated}", "",
             f"Trials completed: {completed} of {len(trials)} (arm × seed).", ""]
    lines += paper_layout(study, results)
    for metric in study["metrics"]:
        table = metric_table(study, results, metric)
        lines += [f"## `{metric['name']}`", "",
                  f"| arm | factors | ours (%) | n | paper (%) | Δ vs {baseline or '–'} (points) |", "|---|---|---|---|---|---|"]
        for row in table.itertuples():
            ours = _cell(row.mean) if pd.isna(row.std) else f"{_cell(row.mean)} ± {_cell(row.std)}"
            lines.append(f"| {_md(row.arm)} | {_md(row.factors)} | {ours} | {row.n} | {_cell(row.paper)} | "
                         f"{_cell(row.delta, signed=True)} |")
        lines += ["", tau_line(table), ""]
    missing = trials[trials["status"] == "missing"]
    if len(missing):
        lines += ["Missing trials (no summary): " + ", ".join(f"{r.arm} seed {r.seed}" for r in missing.itertuples()) + ".", ""]
    other = trials[~trials["status"].isin(["completed", "missing"])]
    if len(other):
        lines += ["Trials that did not complete: " + ", ".join(f"{r.arm} seed {r.seed} ({r.status})" for r in other.itertuples()) + ".", ""]
    versions = sorted(set(results.loc[results["status"] == "completed", "code_version"].dropna().astype(str)))
    lines += [f"Ours: mean ± sample std over completed seeds, measured at preset `{study['preset']}` — embedded synthetic "
              "data unless a dataset path was given; not the paper's data or schedule. Paper: the published number for the "
              f"same setting (%). Code version(s): {', '.join(versions) or '–'}. Figure: [{FIGURE}]({FIGURE}).", ""]
    return "\n".join(lines)


def plot(results_dir: str | Path, results: pd.DataFrame | None = None) -> Path:
    """Write ``report.png``: per metric, ours (mean ± std) beside the paper's values, bars or a line over ``figure.x``.

    In a line figure the baseline arm may lack the x factor: it is drawn as a horizontal line.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    study = load_study(results_dir)
    results = collect_results(results_dir) if results is None else results
    metrics = study["metrics"]
    figure_spec = study.get("figure") or {"kind": "bar", "x": None}
    line_x = figure_spec.get("x") if figure_spec.get("kind") == "line" else None
    if line_x:
        lacking = [arm["name"] for arm in study["arms"]
                   if line_x not in (arm.get("factors") or {}) and arm["name"] != study.get("baseline_arm")]
        if lacking:
            raise ValueError(f"study.json: figure x {line_x!r} is not a factor of arm(s) {', '.join(lacking)}")
    columns = min(4, max(1, len(metrics)))
    rows = -(-max(1, len(metrics)) // columns)
    figure, axes = plt.subplots(rows, columns, figsize=(4 * columns, 3.4 * rows), squeeze=False)
    for axis in axes.flat[len(metrics):]:
        axis.set_visible(False)
    for axis, metric in zip(axes.flat, metrics):
        table = metric_table(study, results, metric)
        if line_x:
            table["x"] = [float(arm["factors"].get(line_x, "nan")) for arm in study["arms"]]
            _baseline_lines(axis, table[table["x"].isna()])
            table = table[table["x"].notna()].sort_values("x")
            axis.errorbar(table["x"], table["mean"], yerr=table["std"].fillna(0), marker="o", capsize=3, label="ours")
            if table["paper"].notna().any():
                axis.plot(table["x"], table["paper"], marker="s", linestyle="--", color="black", label="paper")
            axis.set_xlabel(line_x)
        else:
            positions = list(range(len(table)))
            axis.bar(positions, table["mean"].fillna(0), yerr=table["std"].fillna(0), capsize=3, label="ours")
            if table["paper"].notna().any():
                axis.scatter(positions, table["paper"], marker="D", color="black", zorder=3, label="paper")
            axis.set_xticks(positions, table["arm"], rotation=30, ha="right")
        axis.set_title(metric["name"], fontsize=9)
        axis.set_ylabel("%")
        axis.legend(fontsize=8)
    figure.suptitle(f"{study['name']} (preset {study['preset']})", fontsize=9)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110)
    plt.close(figure)
    return atomic_write_bytes(Path(results_dir) / FIGURE, buffer.getvalue())


def _baseline_lines(axis, baseline: pd.DataFrame) -> None:
    """Horizontal lines for the arms without an x value (the baseline): ours solid, the paper's dotted."""
    for _, row in baseline.iterrows():
        if pd.notna(row["mean"]):
            axis.axhline(row["mean"], color="tab:gray", linewidth=1, label=f"ours: {row['arm']}")
        if pd.notna(row["paper"]):
            axis.axhline(row["paper"], color="black", linestyle=":", linewidth=1, label=f"paper: {row['arm']}")


def write_report(results_dir: str | Path) -> Path:
    """Write ``report.md`` and ``report.png`` (each atomically) into ``results_dir``; returns the report's path."""
    results = collect_results(results_dir)
    plot(results_dir, results)
    return atomic_write_text(Path(results_dir) / "report.md", build_report(results_dir, results))


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1 or argv[0] in ("-h", "--help"):
        print("usage: python -m analysis.report RESULTS_DIR\n"
              "rebuilds results.csv, results.parquet, report.md and report.png in RESULTS_DIR", file=sys.stderr)
        return 2
    try:
        csv_path, parquet_path = write_results(argv[0])
        report = write_report(argv[0])
    except (FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"wrote {csv_path}, {parquet_path}, {report} and {Path(argv[0]) / FIGURE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
