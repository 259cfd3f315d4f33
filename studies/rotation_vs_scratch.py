"""Rotation pretraining vs random init: the two-arm study that exercises the engine.

No paper table has this arm: our ``rotation`` method (one clip, a linear head, crop and flip
only) is not CSTP's rotation task (Table 2: an MLP head on both clips of a pair, with
playback-rate, rotation and base augmentation), so no paper value is put beside it.

    python studies/rotation_vs_scratch.py [--preset smoke|default|paper] [--resume] ...
"""
import sys

from ray_jobs.cli import run_study_cli
from ssl_core.presets import BASE_PRESETS
from ssl_core.study import Arm, Metric, Study

STUDY = Study(
    name="rotation_vs_scratch",
    title="4-way rotation prediction vs no pretraining",
    table=None,
    arms=(
        Arm("scratch", {"method.name": "scratch"}),
        Arm("rotation", {"method.name": "rotation"}),
    ),
    metrics=(
        Metric("linear/ucf/top1"),
        Metric("finetune/ucf/video_top1"),
        Metric("finetune/hmdb/video_top1"),
        Metric("retrieval/ucf/r@5"),
        Metric("knn/hmdb/top1"),
        Metric("pretext/acc"),
    ),
    presets=BASE_PRESETS,
    baseline_arm="scratch",
)

if __name__ == "__main__":
    sys.exit(run_study_cli(STUDY))
