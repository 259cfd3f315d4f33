"""V3S Table 3: the transformation families alone and combined, beside random
initialisation, fine-tuned on UCF101, video top-1: R(2+1)D at
`paper` and `smoke`, C3D at lr 5e-4 at `default` (``V3S.default_factors``).

    python studies/v3s_combinations.py [--preset smoke|default|paper] [--resume] ...

Each family uses its best Table 1 set (``TABLE3_SETS``), as the paper's single-family rows do.
"""
import sys

from ray_jobs.cli import run_study_cli
from ssl_core.methods.v3s import LAPTOP_STUDY_BUDGET, STUDY_METRICS, TABLE3_SETS, family_factors
from ssl_core.presets import method_presets
from ssl_core.study import Arm, Metric, Study, finetune_metrics

COMBINATIONS = (("S_S",), ("S_P",), ("S_S", "S_P"), ("T_S",), ("T_P",), ("T_S", "T_P"), ("S_S", "S_P", "T_S", "T_P"))


def paper_setting(families) -> str:
    text = " + ".join(families)
    return text + " (V3S)" if len(families) == 4 else text


STUDY = Study(
    name="v3s_combinations",
    title="V3S: spatial, temporal and all four transformations",
    table="V3S/T3",
    arms=(Arm("random_init", {"method.name": "scratch"}),) + tuple(
        Arm("_".join(f.lower() for f in families) if len(families) < 4 else "v3s",
            family_factors(**{f: TABLE3_SETS[f] for f in families}), paper={"setting": paper_setting(families)})
        for families in COMBINATIONS),
    metrics=finetune_metrics("video", datasets=("ucf",)) + tuple(Metric(name) for name in STUDY_METRICS),
    presets=method_presets("v3s", budget=LAPTOP_STUDY_BUDGET),  # README, "V3S": the laptop budget (C3D at default)
    baseline_arm="random_init",
    notes=("Sets: S_S, S_P, T_S, T_P as Table 1's best rows (1, 6, 8, 12). Readings: the defaults (README, \"V3S\").",),
)

if __name__ == "__main__":
    sys.exit(run_study_cli(STUDY))
