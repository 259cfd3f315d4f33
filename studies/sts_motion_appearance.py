"""STS journal Table 1c: motion statistics, appearance statistics, or both.

    python studies/sts_motion_appearance.py [--preset smoke|default|paper] [--resume] ...
"""
import sys

from ray_jobs.cli import run_study_cli
from ssl_core.methods.sts import LABEL_GROUPS
from ssl_core.presets import method_presets
from ssl_core.study import EXTRA_METRICS, Arm, Study, finetune_metrics

MOTION = [group for group in LABEL_GROUPS if group.startswith("motion")]
APPEARANCE = [group for group in LABEL_GROUPS if group.startswith("appearance")]

STUDY = Study(
    name="sts_motion_appearance",
    title="STS: motion vs appearance statistics vs both (C3D)",
    table="STS/T1c",
    arms=(
        Arm("random_init", {"method.name": "scratch"}, paper={"setting": "random init"}),
        Arm("appearance", {"method.options.groups": APPEARANCE}, paper={"setting": "appearance"}),
        Arm("motion", {"method.options.groups": MOTION}, paper={"setting": "motion"}),
        Arm("joint", {"method.options.groups": MOTION + APPEARANCE}, paper={"setting": "joint"}),
    ),
    metrics=finetune_metrics("clip") + EXTRA_METRICS,
    presets=method_presets("sts", backbone="c3d"),
    baseline_arm="random_init",
)

if __name__ == "__main__":
    sys.exit(run_study_cli(STUDY))
