"""STS journal Table 1b: local (pattern) vs global motion statistics.

    python studies/sts_local_global.py [--preset smoke|default|paper] [--resume] ...
"""
import sys

from ray_jobs.cli import run_study_cli
from ssl_core.presets import method_presets
from ssl_core.study import EXTRA_METRICS, Arm, Study, finetune_metrics

PATTERNS = ["motion_p1", "motion_p2", "motion_p3"]

STUDY = Study(
    name="sts_local_global",
    title="STS: global motion, all patterns, or both (C3D)",
    table="STS/T1b",
    arms=(
        Arm("random_init", {"method.name": "scratch"}, paper={"setting": "random init"}),
        Arm("global", {"method.options.groups": ["motion_global"]}, paper={"setting": "motion global"}),
        Arm("patterns", {"method.options.groups": PATTERNS}, paper={"setting": "motion pattern all"}),
        Arm("patterns_global", {"method.options.groups": PATTERNS + ["motion_global"]},
            paper={"setting": "motion pattern all + global"}),
    ),
    metrics=finetune_metrics("clip", ("ucf",)) + EXTRA_METRICS,
    presets=method_presets("sts", backbone="c3d"),
    baseline_arm="random_init",
)

if __name__ == "__main__":
    sys.exit(run_study_cli(STUDY))
