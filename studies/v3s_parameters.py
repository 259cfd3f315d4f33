"""V3S Table 1: each transformation family alone, with three sets of settings each, beside
random initialisation, fine-tuned on UCF101, video top-1: R(2+1)D at
`paper` and `smoke`, C3D at lr 5e-4 at `default` (``V3S.default_factors``).

    python studies/v3s_parameters.py [--preset smoke|default|paper] [--resume] ...

Every arm enables one family (the other three sets empty), with the default readings
(``ssl_core.methods.v3s``: identity class on, stride s, joint S_P target, uniform classes).
"""
import sys

from ray_jobs.cli import run_study_cli
from ssl_core.methods.v3s import (
    LAPTOP_STUDY_BUDGET, PROJECTION_SETS, SPATIAL_SCALE_SETS, STUDY_METRICS, TEMPORAL_PROJECTION_SETS,
    TEMPORAL_SCALE_SETS, family_factors, set_label,
)
from ssl_core.presets import method_presets
from ssl_core.study import Arm, Metric, Study, finetune_metrics

SETS = {"S_S": SPATIAL_SCALE_SETS, "S_P": PROJECTION_SETS, "T_S": TEMPORAL_SCALE_SETS, "T_P": TEMPORAL_PROJECTION_SETS}

STUDY = Study(
    name="v3s_parameters",
    title="V3S: the settings of each transformation family",
    table="V3S/T1",
    arms=(Arm("random_init", {"method.name": "scratch"}),) + tuple(
        Arm(f"{family.lower()}_{row}", family_factors(**{family: values}), paper={"setting": set_label(family, values)})
        for family, sets in SETS.items() for row, values in enumerate(sets, start=1)),
    metrics=finetune_metrics("video", datasets=("ucf",)) + tuple(Metric(name) for name in STUDY_METRICS),
    presets=method_presets("v3s", budget=LAPTOP_STUDY_BUDGET),  # README, "V3S": the laptop budget (C3D at default)
    baseline_arm="random_init",
    notes=("Readings (README, \"V3S\"): identity class on, stride s, joint (c, side) S_P classes, uniform class drawing; "
           "the checkpoint with the best held-out pretext accuracy is the one evaluated.",),
)

if __name__ == "__main__":
    sys.exit(run_study_cli(STUDY))
