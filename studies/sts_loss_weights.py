"""STS loss weights lambda_m (motion) and lambda_a (appearance), searched with Optuna
(the papers fix them at 1 and 0.1 and tabulate no sweep).

    python studies/sts_loss_weights.py [--preset smoke|default|paper] [--resume] ...
"""
import sys

from ray_jobs.cli import run_study_cli
from ssl_core.presets import method_presets
from ssl_core.study import EXTRA_METRICS, Arm, Search, Study, finetune_metrics

STUDY = Study(
    name="sts_loss_weights",
    title="STS: Optuna over lambda_m and lambda_a",
    arms=(Arm("sts", {}),),
    metrics=finetune_metrics("video", ("ucf",)) + EXTRA_METRICS,
    presets=method_presets("sts"),
    seeds=(0,),
    search=Search(params={"method.options.lambda_m": ("loguniform", 0.01, 10.0),
                          "method.options.lambda_a": ("loguniform", 0.01, 10.0)},
                  metric="linear/ucf/top1", num_samples=6),
)

if __name__ == "__main__":
    sys.exit(run_study_cli(STUDY))
