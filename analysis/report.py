"""``report.md`` and a figure per study: our mean ± std over seeds beside the paper's numbers.

    python -m analysis.report RESULTS_DIR     # rebuilds results.csv/.parquet, report.md, report.png
    python -m analysis.report RESULTS_ROOT    # a folder of studies: index.md/.html/.png (analysis.index)

Per metric of ``study.json``, one table row per arm in study order: factor settings, our mean ±
sample std (ddof=1) over completed seeds in % (1 decimal; no ± with a single seed), the chance
level, n, the paper's value (%), and the delta to the baseline arm (our mean - baseline mean, in
points); below it Kendall's tau-b between our arm means and the paper's values over the arms having both.

Each delta carries a 95 % t interval over seeds (``analysis.stats.delta_interval``): a **paired**
interval on the per-seed differences when the arm and the baseline completed the same set of
seeds (n >= 2), a **Welch** interval otherwise; none ("n/a") when either side has fewer than 2
seeds. ✱ marks an interval that excludes 0 (the difference is beyond seed noise at that level).
The baseline arm itself has delta 0 and no interval.

Below the metric tables, when the trials report ``features/<ds>/effective_rank`` (every run
with a frozen protocol does), a table of each arm's effective rank of its frozen pool5
features (mean ± std over completed seeds; a number of directions, not a %): a pretrained arm far below
random init's has collapsed its features, which explains a fine-tuning start worse than random.

Chance levels: a metric ``M`` may come with a per-trial ``M_chance`` metric (a fraction, like
every accuracy); its mean over an arm's completed seeds is shown beside that arm's mean (in %)
wherever a table of ``M`` is written and some arm has it. ``*_chance`` metrics never get a table
(or a figure panel) of their own.
"""
from __future__ import annotations

import io
import sys
from pathlib import Path

import pandas as pd

from analysis.paper import kendall_tau_b
from analysis.results import collect_results, load_study, write_results
from analysis.tables import CHANCE_SUFFIX, FIGURE, REPORT, TABLE_COLUMNS, metric_table, reported_metrics, stamp  # noqa: F401 - re-exported
from ssl_core.io import atomic_write_bytes, atomic_write_text

def _cell(value, digits: int = 1, signed: bool = False) -> str:
    if value is None or pd.isna(value):
        return "–"
    return f"{value:+.{digits}f}" if signed else f"{value:.{digits}f}"


def _md(text) -> str:
    """A markdown table cell: pipes escaped."""
    return str(text).replace("|", "\\|")


def _ours_cell(row: pd.Series) -> str:
    """Our mean ± sample std (the mean alone with a single seed)."""
    return _cell(row["mean"]) if pd.isna(row["std"]) else f"{_cell(row['mean'])} ± {_cell(row['std'])}"


def _delta_cell(row: pd.Series, baseline: str | None) -> str:
    """``+12.3 [+4.1, +20.5] ✱``: delta, its 95 % interval, ✱ when the interval excludes 0; the baseline: delta only."""
    delta = _cell(row["delta"], signed=True)
    if pd.isna(row["delta"]) or row["arm"] == baseline:
        return delta
    if pd.isna(row["delta_method"]):
        return f"{delta} [n/a]"
    interval = f"{delta} [{_cell(row['delta_low'], signed=True)}, {_cell(row['delta_high'], signed=True)}]"
    return f"{interval} ✱" if row["beyond_noise"] else interval


def _has_chance(table: pd.DataFrame) -> bool:
    return bool(table["chance"].notna().any())


def delta_note(tables: pd.DataFrame, baseline: str | None) -> str:
    """The sentence under a table with Δ cells: what Δ, [low, high] and ✱ are, and which interval each arm got."""
    if not baseline:
        return "Δ: – (study.json names no baseline arm)."
    compared = tables[(tables["arm"] != baseline) & tables["delta"].notna()]
    welch = list(dict.fromkeys(compared.loc[compared["delta_method"] == "welch", "arm"]))
    lacking = list(dict.fromkeys(compared.loc[compared["delta_method"].isna(), "arm"]))
    paired = (compared["delta_method"] == "paired").any()
    kinds = ["paired t on the per-seed differences (same seeds in both arms)"] if paired else []
    kinds += [f"Welch t for {', '.join(welch)} (seeds differ from {baseline}'s)"] if welch else []
    kinds += [f"n/a for {', '.join(lacking)} (fewer than 2 seeds on a side)"] if lacking else []
    return (f"Δ: our mean − {baseline}'s mean, in points; [low, high]: 95 % interval over seeds, "
            f"{', '.join(kinds) or 'n/a'}; ✱ the interval excludes 0 (a zero-width interval is not marked).")


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
    mean ± std, the chance level (when known), the paper's value and our delta to the baseline, side by side."""
    metrics = [metric for metric in reported_metrics(study) if metric.get("paper")]
    if not study.get("table") or not metrics:
        return []
    baseline = study.get("baseline_arm")
    tables = [metric_table(study, results, metric) for metric in metrics]
    groups = [[f"`{m['name']}` ours"] + (["chance"] if _has_chance(t) else []) + ["paper", "Δ"] for m, t in zip(metrics, tables)]
    titles = ["arm"] + [title for group in groups for title in group]
    lines = [f"## Paper layout ({study['table']})", "", "| " + " | ".join(titles) + " |", "|" + "---|" * len(titles)]
    for position, arm in enumerate(study["arms"]):
        cells = []
        for table in tables:
            row = table.iloc[position]
            cells += [_ours_cell(row)] + ([_cell(row["chance"])] if _has_chance(table) else [])
            cells += [_cell(row["paper"]), _delta_cell(row, baseline)]
        lines.append(f"| {_md(arm['name'])} | " + " | ".join(cells) + " |")
    return lines + ["", delta_note(pd.concat(tables), baseline), ""]


def metric_section(study: dict, results: pd.DataFrame, metric: dict) -> list[str]:
    """The report's table of one metric (a ``chance (%)`` column when some arm has ``<metric>_chance``),
    the Δ note and Kendall's tau below it."""
    baseline = study.get("baseline_arm")
    table = metric_table(study, results, metric)
    chance = _has_chance(table)
    titles = ["arm", "factors", "ours (%)"] + (["chance (%)"] if chance else [])
    titles += ["n", "paper (%)", f"Δ vs {baseline or '–'} (points)"]
    lines = [f"## `{metric['name']}`", "", "| " + " | ".join(titles) + " |", "|" + "---|" * len(titles)]
    for _, row in table.iterrows():
        cells = [_md(row["arm"]), _md(row["factors"]), _ours_cell(row)] + ([_cell(row["chance"])] if chance else [])
        cells += [str(row["n"]), _cell(row["paper"]), _delta_cell(row, baseline)]
        lines.append("| " + " | ".join(cells) + " |")
    return lines + ["", delta_note(table, baseline), "", tau_line(table), ""]


RANK_PREFIX, RANK_SUFFIX = "features/", "/effective_rank"


def feature_rank_section(study: dict, results: pd.DataFrame) -> list[str]:
    """Per arm, the effective rank of its frozen features on each dataset (mean ± std over completed
    seeds, as reported); no section when no trial reports one."""
    completed = results[(results["status"] == "completed") & results["metric"].str.startswith(RANK_PREFIX)
                        & results["metric"].str.endswith(RANK_SUFFIX)]
    datasets = sorted({name[len(RANK_PREFIX):-len(RANK_SUFFIX)] for name in completed["metric"]})
    if not datasets:
        return []
    lines = ["## Frozen features: effective rank", "",
             "The effective rank of the training clips' pool5 features (`features/<ds>/effective_rank`: exp of the "
             "entropy of the normalised singular values; between 1 and the feature dimension). An arm far below "
             "random init has collapsed its features onto a few directions.", "",
             "| arm | " + " | ".join(datasets) + " |", "|" + "---|" * (len(datasets) + 1)]
    for arm in study["arms"]:
        cells = []
        for key in datasets:
            values = completed.loc[(completed["arm"] == arm["name"]) & (completed["metric"] == f"{RANK_PREFIX}{key}{RANK_SUFFIX}"),
                                   "value"].astype(float)
            row = pd.Series({"mean": values.mean(), "std": values.std(ddof=1)})
            cells.append(_ours_cell(row))
        lines.append(f"| {_md(arm['name'])} | " + " | ".join(cells) + " |")
    return lines + [""]


def build_report(results_dir: str | Path, results: pd.DataFrame | None = None) -> str:
    """The markdown report of the study in ``results_dir`` (``results``: its tidy table, rebuilt if not given)."""
    study = load_study(results_dir)
    results = collect_results(results_dir) if results is None else results
    baseline = study.get("baseline_arm")
    generated = stamp()
    trials = results[["arm", "seed", "status"]].drop_duplicates(["arm", "seed"])
    completed = int((trials["status"] == "completed").sum())
    lines = [f"# {study['title']}", "",
             f"Study `{study['name']}` · paper table {study.get('table') or '–'} · preset `{study['preset']}` · "
             f"seeds {', '.join(map(str, study['seeds']))} · baseline arm {baseline or '–'} · generated {generated}", "",
             f"Trials completed: {completed} of {len(trials)} (arm × seed).", ""]
    lines += [f"Note: {note}" for note in study.get("notes") or ()] + ([""] if study.get("notes") else [])
    if study.get("set"):
        lines += ["Set for every arm (`--set`): " + ", ".join(f"`{path}={value}`" for path, value in study["set"].items()) + ".", ""]
    lines += paper_layout(study, results)
    for metric in reported_metrics(study):
        lines += metric_section(study, results, metric)
    lines += feature_rank_section(study, results)
    missing = trials[trials["status"] == "missing"]
    if len(missing):
        lines += ["Missing trials (no summary): " + ", ".join(f"{r.arm} seed {r.seed}" for r in missing.itertuples()) + ".", ""]
    other = trials[~trials["status"].isin(["completed", "missing"])]
    if len(other):
        lines += ["Trials that did not complete: " + ", ".join(f"{r.arm} seed {r.seed} ({r.status})" for r in other.itertuples()) + ".", ""]
    versions = sorted(set(results.loc[results["status"] == "completed", "code_version"].dropna().astype(str)))
    lines += [f"Ours: mean ± sample std over completed seeds, measured at preset `{study['preset']}` — embedded synthetic "
              "data unless a dataset path was given; not the paper's data or schedule. Chance: the mean of the trials' "
              "`<metric>_chance` values, where reported. Paper: the published number for the "
              f"same setting (%). Code version(s): {', '.join(versions) or '–'}. Figure: [{FIGURE}]({FIGURE}).", ""]
    return "\n".join(lines)


def plot(results_dir: str | Path, results: pd.DataFrame | None = None) -> Path:
    """Write ``report.png``: per metric, ours (mean ± std) beside the paper's values (and the chance
    level where the metric has one), bars or a line over ``figure.x``.

    In a line figure the baseline arm may lack the x factor: it is drawn as a horizontal line.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    study = load_study(results_dir)
    results = collect_results(results_dir) if results is None else results
    metrics = reported_metrics(study)
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
            if table["chance"].notna().any():
                axis.plot(table["x"], table["chance"], marker=".", linestyle=":", color="tab:red", label="chance")
            if table["paper"].notna().any():
                axis.plot(table["x"], table["paper"], marker="s", linestyle="--", color="black", label="paper")
            for mark in figure_spec.get("marks") or ():
                axis.axvline(mark["x"], color="grey", linestyle="-.", linewidth=1)
                axis.annotate(mark["label"], (mark["x"], 0.02), xycoords=("data", "axes fraction"), rotation=90, fontsize=7,
                              color="grey", ha="right")
            if figure_spec.get("log_x"):
                axis.set_xscale("log", base=2)
            axis.set_xlabel(line_x)
        else:
            positions = list(range(len(table)))
            axis.bar(positions, table["mean"].fillna(0), yerr=table["std"].fillna(0), capsize=3, label="ours")
            if table["chance"].notna().any():
                axis.scatter(positions, table["chance"], marker="_", s=300, color="tab:red", zorder=3, label="chance")
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
    return atomic_write_text(Path(results_dir) / REPORT, build_report(results_dir, results))


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1 or argv[0] in ("-h", "--help"):
        print("usage: python -m analysis.report RESULTS_DIR\n"
              "a study directory: rebuilds results.csv, results.parquet, report.md and report.png in it;\n"
              "a folder of studies: writes index.md, index.html and index.png over all of them", file=sys.stderr)
        return 2
    if Path(argv[0]).is_dir() and not (Path(argv[0]) / "study.json").exists():
        from analysis.index import find_studies, write_index

        if not find_studies(argv[0]):
            print(f"error: {argv[0]}: no study.json here and no study below it", file=sys.stderr)
            return 2
        markdown, page = write_index(argv[0])
        print(f"wrote {markdown}, {page}")
        return 0
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
