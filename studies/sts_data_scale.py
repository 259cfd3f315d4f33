"""STS journal Fig. 8: pretraining on 1/k of the pretraining set, k in 16, 8, 4, 2, 4/3, 1
(one video in every k; the paper gives no table, so the report has no paper column).

    python studies/sts_data_scale.py [--preset smoke|default|paper] [--resume] ...
"""
import sys

from ray_jobs.cli import run_study_cli
from ssl_core.presets import method_presets
from ssl_core.study import EXTRA_METRICS, Arm, Study, finetune_metrics

FRACTIONS = {"1/16": 16, "1/8": 8, "1/4": 4, "1/2": 2, "3/4": 4 / 3, "1": 1}

STUDY = Study(
    name="sts_data_scale",
    title="STS: pretraining data scale",
    arms=(Arm("random_init", {"method.name": "scratch"}),) + tuple(
        Arm(f"data_{name.replace('/', '_')}", {"pretrain.schedule.data_fraction_k": k}) for name, k in FRACTIONS.items()
    ),
    metrics=finetune_metrics("video") + EXTRA_METRICS,
    presets=method_presets("sts"),
    baseline_arm="random_init",
    figure={"kind": "line", "x": "pretrain.schedule.data_fraction_k"},
)

if __name__ == "__main__":
    sys.exit(run_study_cli(STUDY))
