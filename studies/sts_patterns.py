"""STS journal Table 1a: which partition pattern's motion statistics to predict.

    python studies/sts_patterns.py [--preset smoke|default|paper] [--resume] ...
"""
import sys

from ray_jobs.cli import run_study_cli
from ssl_core.presets import method_presets
from ssl_core.study import EXTRA_METRICS, Arm, Study, finetune_metrics

STUDY = Study(
    name="sts_patterns",
    title="STS: motion statistics of partition pattern 1, 2 or 3 (C3D)",
    table="STS/T1a",
    arms=(
        Arm("random_init", {"method.name": "scratch"}, paper={"setting": "random init"}),
        Arm("pattern1", {"method.options.groups": ["motion_p1"]}, paper={"setting": "motion pattern 1"}),
        Arm("pattern2", {"method.options.groups": ["motion_p2"]}, paper={"setting": "motion pattern 2"}),
        Arm("pattern3", {"method.options.groups": ["motion_p3"]}, paper={"setting": "motion pattern 3"}),
    ),
    metrics=finetune_metrics("clip", ("ucf",)) + EXTRA_METRICS,
    presets=method_presets("sts", backbone="c3d"),
    baseline_arm="random_init",
)

if __name__ == "__main__":
    sys.exit(run_study_cli(STUDY))
