"""Every study script declares a valid study: configs validate for every preset, and every
arm that names a paper row finds exactly that row (no Ray, no training)."""
import runpy
from pathlib import Path

import pytest

from analysis.paper import paper_value

STUDIES = sorted((Path(__file__).resolve().parents[1] / "studies").glob("*.py"))


def _study(path):
    return runpy.run_path(str(path))["STUDY"]


@pytest.mark.parametrize("path", STUDIES, ids=[p.stem for p in STUDIES])
def test_study_declares_valid_trials_for_every_preset(path):
    study = _study(path)
    assert study.name == path.stem
    for preset in ("smoke", "default", "paper"):
        at_preset = study.for_preset(preset)
        configs = at_preset.trial_configs(preset, study.seeds)
        assert len(configs) == len(at_preset.arms) * len(study.seeds)


@pytest.mark.parametrize("path", STUDIES, ids=[p.stem for p in STUDIES])
def test_paper_rows_resolve_to_one_value_each(path):
    study = _study(path)
    for arm in study.arms:
        values = [paper_value(study.table, arm.paper, metric.paper) for metric in study.metrics]
        if study.table and arm.paper:
            assert any(v is not None for v in values), f"{arm.name}: no paper row matches {arm.paper}"


def test_sts_tables_map_every_paper_row():
    """Each STS table's rows are all covered by one study arm x metric, except T4's pretext
    accuracy on HMDB51 (we measure pretext accuracy on held-out pretraining videos only)."""
    import pandas as pd

    rows = pd.read_csv(Path(__file__).resolve().parents[1] / "analysis" / "paper_tables.csv")
    for table in ("T1a", "T1b", "T1c", "T2", "T3", "T4"):
        study = next(s for s in map(_study, STUDIES) if s.table == f"STS/{table}")
        found = {paper_value(study.table, a.paper, m.paper) for a in study.arms for m in study.metrics} - {None}
        table_rows = rows[(rows.paper == "STS") & (rows.table == table)]
        expected = set(table_rows[~((table_rows.protocol == "pretext") & (table_rows.eval_dataset == "HMDB51"))].value)
        assert found == expected, table
