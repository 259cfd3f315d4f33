"""Rotation pretraining vs random init: the two-arm study that exercises the engine.

    python studies/rotation_vs_scratch.py [--preset smoke|default|paper] [--resume] ...
"""
import sys

from ray_jobs.cli import run_study_cli
from ssl_core.presets import BASE_PRESETS
from ssl_core.study import Arm, Metric, Study

STUDY = Study(
    name="rotation_vs_scratch",
    title="4-way rotation prediction vs no pretraining",
    table="CSTP/T2",
    arms=(
        Arm("scratch", {"method.name": "scratch"}, paper={"setting": "none (scratch)"}),
        Arm("rotation", {"method.name": "rotation"}, paper={"setting": "rotation task"}),
    ),
    metrics=(
        Metric("linear/ucf/top1"),
        Metric("finetune/ucf/video_top1", paper={"protocol": "finetune_video", "eval_dataset": "UCF101", "metric": "top1"}),
        Metric("finetune/hmdb/video_top1", paper={"protocol": "finetune_video", "eval_dataset": "HMDB51", "metric": "top1"}),
        Metric("retrieval/ucf/r@5"),
        Metric("knn/hmdb/top1"),
        Metric("pretext/acc"),
    ),
    presets=BASE_PRESETS,
    baseline_arm="scratch",
)

if __name__ == "__main__":
    sys.exit(run_study_cli(STUDY))
