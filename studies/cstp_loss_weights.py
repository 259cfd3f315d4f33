"""CSTP loss weights lambda_ctr, lambda_pb, lambda_rot, lambda_stor, searched with Optuna
(the paper tabulates no sweep; the public code uses 0.1, 1, 1, 1).

    python studies/cstp_loss_weights.py [--preset smoke|default|paper] [--resume] ...
"""
import sys

from ray_jobs.cli import run_study_cli
from ssl_core.presets import method_presets
from ssl_core.study import EXTRA_METRICS, Arm, Search, Study, finetune_metrics

STUDY = Study(
    name="cstp_loss_weights",
    title="CSTP: Optuna over the loss weights",
    arms=(Arm("cstp", {}),),
    metrics=finetune_metrics("video", ("ucf",)) + EXTRA_METRICS,
    presets=method_presets("cstp"),
    seeds=(0,),
    search=Search(params={f"method.options.lambda_{part}": ("loguniform", 0.01, 10.0) for part in ("ctr", "pb", "rot", "stor")},
                  metric="linear/ucf/top1", num_samples=8),
)

if __name__ == "__main__":
    sys.exit(run_study_cli(STUDY))
