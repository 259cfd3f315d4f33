"""Official (authors' public code) vs paper-text label definitions (ssl_core.labels.sts): an
ablation no paper reports, so the report has no paper column.

    python studies/sts_label_variants.py [--preset smoke|default|paper] [--resume] ...
"""
import sys

from ray_jobs.cli import run_study_cli
from ssl_core.presets import method_presets
from ssl_core.study import EXTRA_METRICS, Arm, Study, finetune_metrics

STUDY = Study(
    name="sts_label_variants",
    title="STS: official vs paper label definitions",
    arms=(
        Arm("random_init", {"method.name": "scratch"}),
        Arm("official", {"method.options.label_impl": "official"}),
        Arm("paper", {"method.options.label_impl": "paper"}),
    ),
    metrics=finetune_metrics("video") + EXTRA_METRICS,
    presets=method_presets("sts", backbone="c3d"),
    baseline_arm="random_init",
)

if __name__ == "__main__":
    sys.exit(run_study_cli(STUDY))
