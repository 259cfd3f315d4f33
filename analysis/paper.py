"""The papers' ablation numbers (the project's copy of ``shared/reference/paper_tables.csv``).

Columns: ``paper,table,row,setting,backbone,pretrain_data,protocol,eval_dataset,metric,value``;
values are percentages. Some ``setting`` values contain commas (quoted in the CSV).
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

PAPER_TABLES = Path(__file__).with_name("paper_tables.csv")


@lru_cache(maxsize=1)
def _paper_table() -> pd.DataFrame:
    return pd.read_csv(PAPER_TABLES, dtype={"row": int, "value": float})


def load_paper_table() -> pd.DataFrame:
    """The shipped paper table (a fresh copy: callers may modify it)."""
    return _paper_table().copy()


def paper_value(study_table_id: str | None, arm_paper_filters: dict | None,
                metric_paper_filters: dict | None) -> float | None:
    """The paper's value (percent) for one arm and metric, or None when the paper has no such row.

    ``study_table_id`` is ``"<paper>/<table>"`` (``"CSTP/T4"``); the two filter dicts select rows
    by column value (compared as strings). None for a null table id or null filters, or when no
    row matches. ValueError for a malformed or unknown table id, an unknown column, or filters
    matching more than one row.
    """
    if not study_table_id or arm_paper_filters is None or metric_paper_filters is None:
        return None
    if study_table_id.count("/") != 1:
        raise ValueError(f"paper table id {study_table_id!r}: expected '<paper>/<table>', e.g. 'CSTP/T4'")
    paper, table = study_table_id.split("/")
    rows = _paper_table()
    selected = rows[(rows["paper"] == paper) & (rows["table"] == table)]
    if selected.empty:
        known = sorted({f"{p}/{t}" for p, t in zip(rows["paper"], rows["table"])})
        raise ValueError(f"paper table id {study_table_id!r} is not in {PAPER_TABLES.name} (known: {', '.join(known)})")
    filters = {**arm_paper_filters, **metric_paper_filters}
    for column, value in filters.items():
        if column not in rows.columns:
            raise ValueError(f"paper filter: unknown column {column!r} (columns: {', '.join(rows.columns)})")
        selected = selected[selected[column].astype(str) == str(value)]
    if len(selected) > 1:
        raise ValueError(f"paper filters {filters} match {len(selected)} rows of {study_table_id} "
                         f"(rows {sorted(selected['row'].tolist())}); add a column (backbone, eval_dataset, ...) to tell them apart")
    return float(selected["value"].iloc[0]) if len(selected) else None


def kendall_tau_b(x, y) -> float:
    """Kendall's tau-b of two equal-length sequences: (C - D) / sqrt((n0 - n1) (n0 - n2)).

    C/D: concordant/discordant pairs, n0 all pairs, n1/n2 pairs tied in x/in y. NaN when either
    sequence is constant. ValueError for different lengths or fewer than 2 values.
    """
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if x.ndim != 1 or x.shape != y.shape or len(x) < 2:
        raise ValueError(f"kendall_tau_b needs two 1-d sequences of the same length >= 2, got shapes {x.shape}, {y.shape}")
    return float(_tau_b_rows(x, y[None, :])[0])


EXACT_TAU_MAX_N = 8  # 8! = 40,320 orderings: exact; longer tables: seeded permutations
TAU_PERMUTATIONS = 20_000


def kendall_tau_p_value(x, y, seed: int = 0) -> float:
    """Two-sided permutation p-value of Kendall's tau-b: the share of orderings of ``y`` whose
    |tau-b| against ``x`` is at least the observed one. Exact over all n! orderings for
    n <= 8; above, over 20,000 seeded random orderings (plus the observed one). NaN when tau
    is undefined (a constant sequence)."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    observed = kendall_tau_b(x, y)
    if np.isnan(observed):
        return float("nan")
    if len(x) <= EXACT_TAU_MAX_N:
        from itertools import permutations

        orderings = np.array(list(permutations(range(len(y)))))
        extra = 0
    else:
        rng = np.random.default_rng(seed)
        orderings = np.array([rng.permutation(len(y)) for _ in range(TAU_PERMUTATIONS)])
        extra = 1  # the observed ordering counts as one of the permutations
    taus = _tau_b_rows(x, y[orderings])
    hits = np.count_nonzero(np.abs(taus) >= abs(observed) - 1e-12)
    return float((hits + extra) / (len(orderings) + extra))


def _tau_b_rows(x: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """Kendall's tau-b of ``x`` against each row of ``ys`` (NaN for a row where either is constant)."""
    i, j = np.triu_indices(len(x), k=1)
    sx = np.sign(x[i] - x[j])
    sy = np.sign(ys[:, i] - ys[:, j])
    n0 = len(i)
    denominator = np.sqrt(float(n0 - np.count_nonzero(sx == 0)) * (n0 - np.count_nonzero(sy == 0, axis=1)).astype(float))
    with np.errstate(invalid="ignore", divide="ignore"):
        taus = (sy * sx).sum(axis=1) / denominator
    return np.where(denominator > 0, taus, np.nan)
