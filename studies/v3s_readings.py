"""V3S's open readings side by side (no paper table): all four families with the default
readings, and each open reading switched alone, beside random initialisation.

    python studies/v3s_readings.py [--preset smoke|default|paper] [--resume] ...

The paper leaves open (spec ``v3s.md``): whether the untransformed clip is a class, whether
T_S's stride is s or s - 1 (its formula, read literally), whether S_P's target is (c, side) or c
alone, and how classes are drawn. Our defaults are the first arm.
"""
import sys

from ray_jobs.cli import run_study_cli
from ssl_core.methods.v3s import LAPTOP_STUDY_BUDGET, STUDY_METRICS
from ssl_core.presets import method_presets
from ssl_core.study import Arm, Metric, Study, finetune_metrics

READINGS = {
    "defaults": {},
    "no_identity_class": {"method.options.identity_class": False},
    "stride_s_minus_1": {"method.options.temporal_stride": "s_minus_1"},
    "projection_c_only": {"method.options.projection_target": "c_only"},
    "family_first_draw": {"method.options.class_draw": "family"},
}

STUDY = Study(
    name="v3s_readings",
    title="V3S: the readings the paper leaves open",
    table=None,
    arms=(Arm("random_init", {"method.name": "scratch"}),) + tuple(Arm(name, factors) for name, factors in READINGS.items()),
    metrics=finetune_metrics("video", datasets=("ucf",)) + tuple(Metric(name) for name in STUDY_METRICS),
    presets=method_presets("v3s", budget=LAPTOP_STUDY_BUDGET),  # README, "V3S": the laptop budget (C3D at default)
    baseline_arm="defaults",
    notes=("No paper table: the paper fixes none of these readings. Defaults: identity class on, stride s, "
           "joint (c, side) S_P classes, uniform class drawing; each other arm switches one.",),
)

if __name__ == "__main__":
    sys.exit(run_study_cli(STUDY))
