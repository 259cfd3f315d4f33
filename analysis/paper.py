"""The papers' ablation numbers (the project's copy of ``shared/reference/paper_tables.csv``)."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import pandas as pd

PAPER_TABLES = Path(__file__).with_name("paper_tables.csv")


@lru_cache(maxsize=1)
def load_paper_table() -> pd.DataFrame:
    return pd.read_csv(PAPER_TABLES, dtype={"row": int, "value": float})


def paper_value(table_id: str | None, arm_filters: dict | None, metric_filters: dict | None) -> float | None:
    """The paper's value (percent) for one arm and metric, or None when the paper has no such row.

    ``table_id`` is ``"<paper>/<table>"`` (``"CSTP/T4"``); the filters select columns by value.
    """
    if not table_id or arm_filters is None or metric_filters is None:
        return None
    paper, table = table_id.split("/", 1)
    rows = load_paper_table()
    selected = rows[(rows["paper"] == paper) & (rows["table"] == table)]
    for column, value in {**arm_filters, **metric_filters}.items():
        if column not in selected.columns:
            raise ValueError(f"paper filter: unknown column {column!r} (columns: {', '.join(rows.columns)})")
        selected = selected[selected[column].astype(str) == str(value)]
    if len(selected) > 1:
        raise ValueError(f"paper filter for {table_id} {arm_filters} {metric_filters} matches {len(selected)} rows; add a column to tell them apart")
    return float(selected["value"].iloc[0]) if len(selected) else None


def kendall_tau_b(x, y) -> float:
    """Kendall's tau-b of two equal-length sequences (ties in either count against neither)."""
    x, y = list(x), list(y)
    if len(x) != len(y) or len(x) < 2:
        raise ValueError("kendall_tau_b needs two sequences of the same length >= 2")
    concordant = discordant = ties_x = ties_y = 0
    for i in range(len(x)):
        for j in range(i + 1, len(x)):
            dx, dy = x[i] - x[j], y[i] - y[j]
            if dx == 0 and dy == 0:
                continue
            if dx == 0:
                ties_x += 1
            elif dy == 0:
                ties_y += 1
            elif (dx > 0) == (dy > 0):
                concordant += 1
            else:
                discordant += 1
    denominator = ((concordant + discordant + ties_x) * (concordant + discordant + ties_y)) ** 0.5
    return (concordant - discordant) / denominator if denominator else float("nan")
