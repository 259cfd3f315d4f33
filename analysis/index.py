"""One index of every regenerated table: ``RESULTS_DIR/index.md``, ``index.html`` and ``index.png``.

    python -m analysis.report RESULTS_DIR     # RESULTS_DIR holds studies (no study.json of its own)

Every study directory below RESULTS_DIR (one holding ``study.json``, at most two levels
down) is one row under its paper table: name, preset, seeds, trials completed of planned,
when it last ran (the newest trial summary; for a published copy, which has none, its
report's "generated" time), Kendall's tau-b of our arm means against the
paper's values with its permutation p-value (per paper metric), and the largest difference
to the baseline arm that is beyond seed noise (its 95 % interval excludes 0), over every
reported metric. Rows link to
the study's ``report.md`` and ``report.png``. Every table of the papers with no study is
listed as missing, so the page is also the checklist of what is left. The figure puts our
value against the paper's for every arm and paper metric of every study, one colour per
paper, with the diagonal. ``index.html`` is self-contained (the figure is embedded).
"""
from __future__ import annotations

import base64
import html
import io
from pathlib import Path

import pandas as pd

from analysis.paper import kendall_tau_b, kendall_tau_p_value, load_paper_table
from analysis.tables import FIGURE, REPORT, metric_table, report_generated, reported_metrics, stamp
from analysis.results import completion, collect_results, has_trial_summaries, load_study
from ssl_core.io import atomic_write_bytes, atomic_write_text, read_json
from ssl_core.study import SUMMARY_FILE

PAPERS = ("STS", "CSTP", "MFO", "V3S")
COLOURS = {"STS": "tab:blue", "CSTP": "tab:orange", "MFO": "tab:green", "V3S": "tab:red"}
INDEX_FIGURE = "index.png"


def find_studies(results_dir: str | Path) -> list[Path]:
    """Study directories (holding ``study.json``) at most two levels below ``results_dir``."""
    root = Path(results_dir)
    found = {path.parent for pattern in ("*/study.json", "*/*/study.json") for path in root.glob(pattern)}
    return sorted(found)


def _last_ran(study_dir: Path, name: str) -> str:
    """When the newest trial summary of study ``name`` was written. A published copy has no
    summaries: its report's "generated" time (the copy's file times are the checkout's)."""
    if not has_trial_summaries(study_dir):
        return report_generated(study_dir) or "unknown"
    times = [p.stat().st_mtime for p in study_dir.rglob(SUMMARY_FILE) if read_json(p).get("study") in (None, name)]
    return stamp(max(times, default=(study_dir / "study.json").stat().st_mtime))


def _largest_delta(tables) -> str:
    """The largest |difference to the baseline| whose 95 % interval excludes 0, over every arm and
    reported metric (at a laptop preset the paper's own metric is often not measured)."""
    beyond = [(abs(row["delta"]), row, name) for name, table in tables for _, row in table.iterrows() if row["beyond_noise"]]
    if not beyond:
        return "none"
    _, row, name = max(beyond, key=lambda item: item[0])
    return f"{row['arm']}, {name}: {row['delta']:+.1f} [{row['delta_low']:+.1f}, {row['delta_high']:+.1f}]"


def study_summary(study_dir: Path, root: Path) -> tuple[dict, list[dict]]:
    """The index row of one study and its (ours, paper) points, one per arm and paper metric with both."""
    study = load_study(study_dir)
    results = collect_results(study_dir)
    finished, planned, _ = completion(study_dir)
    tables = [(metric["name"], metric_table(study, results, metric), bool(metric.get("paper")))
              for metric in reported_metrics(study)]
    taus, points = [], []
    paper_id = study.get("table") or ""
    for name, table, _ in (t for t in tables if t[2]):
        both = table.dropna(subset=["mean", "paper"])
        points += [{"paper": paper_id.split("/")[0], "table": paper_id, "study": study["name"], "arm": row["arm"],
                    "metric": name, "ours": row["mean"], "paper_value": row["paper"]} for _, row in both.iterrows()]
        if len(both) >= 2:
            ours, theirs = both["mean"].tolist(), both["paper"].tolist()
            taus.append({"metric": name, "tau": kendall_tau_b(ours, theirs), "p": kendall_tau_p_value(ours, theirs), "n": len(both)})
    relative = study_dir.relative_to(root).as_posix()
    row = {"paper": paper_id.split("/")[0] if paper_id else "", "table": paper_id, "study": study["name"],
           "preset": study.get("preset"), "seeds": len(study.get("seeds") or ()), "finished": finished, "planned": planned,
           "last_ran": _last_ran(study_dir, study["name"]), "taus": taus,
           "largest_delta": _largest_delta([(name, table) for name, table, _ in tables]),
           "report": f"{relative}/{REPORT}", "figure": f"{relative}/{FIGURE}", "error": None}
    return row, points


def collect_index(results_dir: str | Path) -> tuple[list[dict], list[dict], list[str]]:
    """``(rows, points, missing tables)`` of every study below ``results_dir``. A study that
    cannot be read gets a row with its ``error`` instead of failing the index."""
    root = Path(results_dir)
    rows, points = [], []
    for study_dir in find_studies(root):
        try:
            row, found = study_summary(study_dir, root)
        except (OSError, ValueError, KeyError) as error:
            row, found = {"study": study_dir.relative_to(root).as_posix(), "table": "", "paper": "", "error": str(error)}, []
        rows.append(row)
        points += found
    paper = load_paper_table()
    every_table = list(dict.fromkeys(f"{p}/{t}" for p, t in zip(paper["paper"], paper["table"])))
    covered = {row["table"] for row in rows if row.get("table") and not row.get("error")}
    return rows, points, [table for table in every_table if table not in covered]


def _tau_text(taus: list[dict]) -> str:
    if not taus:
        return "n/a"
    return "; ".join(f"{t['metric']}: {t['tau']:+.2f} (p {t['p']:.2f}, {t['n']} arms)" if pd.notna(t["tau"])
                     else f"{t['metric']}: n/a (ties)" for t in taus)


def _order(rows: list[dict]) -> list[tuple[str, list[dict]]]:
    """Rows grouped by paper (the papers' order, then studies without a paper table)."""
    groups = [(paper, [r for r in rows if r.get("paper") == paper]) for paper in PAPERS]
    groups.append(("no paper table", [r for r in rows if r.get("paper") not in PAPERS]))
    return [(paper, sorted(group, key=lambda r: (r.get("table") or "", r["study"]))) for paper, group in groups if group]


COLUMNS = ["table", "study", "preset", "seeds", "trials", "last ran", "Kendall τ-b vs paper (p)",
           "largest Δ beyond seed noise", "report"]


def _cells(row: dict) -> list[str]:
    """One row's cells as plain text (the report cell: the two relative paths)."""
    if row.get("error"):
        return [row.get("table") or "–", row["study"], "–", "–", "–", "–", "–", "–", f"unreadable: {row['error']}"]
    return [row["table"] or "–", row["study"], str(row["preset"]), str(row["seeds"]),
            f"{row['finished']} of {row['planned']}", row["last_ran"], _tau_text(row["taus"]), row["largest_delta"], ""]


def index_markdown(rows: list[dict], missing: list[str], generated: str) -> str:
    lines = ["# Index of regenerated tables", "", f"Generated {generated}. One row per study; Δ is to the study's "
             "baseline arm, in points, with its 95 % interval over seeds.", "", f"![ours vs paper]({INDEX_FIGURE})", ""]
    for paper, group in _order(rows):
        lines += [f"## {paper}", "", "| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
        for row in group:
            cells = [c.replace("|", "\\|") for c in _cells(row)]
            if not row.get("error"):
                cells[-1] = f"[report]({row['report']}) · [figure]({row['figure']})"
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    lines += ["## Missing tables (no study run yet)", ""]
    lines += [f"- {table}" for table in missing] or ["- none"]
    return "\n".join(lines) + "\n"


def index_html(rows: list[dict], missing: list[str], figure_png: bytes, generated: str) -> str:
    """The same content as :func:`index_markdown`, as one self-contained page (figure embedded)."""
    escape = html.escape
    image = base64.b64encode(figure_png).decode("ascii")
    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8"><title>Index of regenerated tables</title>',
             "<style>body{font-family:sans-serif;margin:2em;max-width:1400px}table{border-collapse:collapse;margin-bottom:1.5em}"
             "th,td{border:1px solid #bbb;padding:4px 8px;font-size:13px;vertical-align:top}th{background:#eee}"
             "td.missing{color:#a00}</style></head><body>",
             "<h1>Index of regenerated tables</h1>",
             f"<p>Generated {escape(generated)}. One row per study; Δ is to the study's baseline arm, in points, "
             "with its 95 % interval over seeds.</p>",
             f'<img alt="ours vs paper, every row of every table" src="data:image/png;base64,{image}">']
    for paper, group in _order(rows):
        parts += [f"<h2>{escape(paper)}</h2>", '<table class="studies">',
                  "<tr>" + "".join(f"<th>{escape(c)}</th>" for c in COLUMNS) + "</tr>"]
        for row in group:
            cells = [escape(c) for c in _cells(row)]
            if not row.get("error"):
                cells[-1] = f'<a href="{escape(row["report"])}">report</a> · <a href="{escape(row["figure"])}">figure</a>'
            parts.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
        parts.append("</table>")
    parts += ["<h2>Missing tables (no study run yet)</h2>", '<ul class="missing">']
    parts += [f'<li class="missing">{escape(table)}</li>' for table in missing] or ["<li>none</li>"]
    parts += ["</ul>", "</body></html>"]
    return "\n".join(parts) + "\n"


def plot_index(points: list[dict]) -> bytes:
    """PNG: our value against the paper's for every arm and paper metric, one colour per paper, and the diagonal."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(6.4, 6.0))
    axis.plot([0, 100], [0, 100], color="grey", linestyle="--", linewidth=1, label="ours = paper")
    for paper in PAPERS:
        mine = [p for p in points if p["paper"] == paper]
        if mine:
            axis.scatter([p["paper_value"] for p in mine], [p["ours"] for p in mine], color=COLOURS[paper], s=18,
                         label=f"{paper} ({len(mine)})")
    axis.set_xlim(0, 100)
    axis.set_ylim(0, 100)
    axis.set_xlabel("paper (%)")
    axis.set_ylabel("ours (%)")
    axis.set_title("Every arm of every regenerated table: ours vs the paper", fontsize=10)
    axis.legend(fontsize=8, loc="upper left")
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    plt.close(figure)
    return buffer.getvalue()


def write_index(results_dir: str | Path) -> tuple[Path, Path]:
    """Write ``index.md``, ``index.html`` and ``index.png`` (each atomically) into ``results_dir``."""
    root = Path(results_dir)
    rows, points, missing = collect_index(root)
    generated = stamp()
    png = plot_index(points)
    atomic_write_bytes(root / INDEX_FIGURE, png)
    markdown = atomic_write_text(root / "index.md", index_markdown(rows, missing, generated))
    page = atomic_write_text(root / "index.html", index_html(rows, missing, png, generated))
    return markdown, page
