"""CSTP Table 1: augmentation vs prediction. Playback-rate / rotation *augmentation* draws
random rates / rotations without predicting them; the *task* predicts them. Every arm keeps
the contrastive objective (BYOL) and the base augmentation.

    python studies/cstp_augmentation.py [--preset smoke|default|paper] [--resume] ...
"""
import sys

from ray_jobs.cli import run_study_cli
from ssl_core.presets import method_presets
from ssl_core.study import EXTRA_METRICS, Arm, Study, finetune_metrics

NOTHING = {"method.options.pace": False, "method.options.rotation": False, "method.options.stor": False,
           "method.options.pace_aug": False, "method.options.rotation_aug": False}
PB_AUG, ROT_AUG = {"method.options.pace_aug": True}, {"method.options.rotation_aug": True}
PB_TASK, ROT_TASK, STOR_TASK = {"method.options.pace": True}, {"method.options.rotation": True}, {"method.options.stor": True}

ROWS = {
    "base": ("base aug", {}),
    "pb_aug": ("base + pb-rate aug", PB_AUG),
    "rot_aug": ("base + rotation aug", ROT_AUG),
    "pb_rot_aug": ("base + pb-rate aug + rotation aug", {**PB_AUG, **ROT_AUG}),
    "pb_aug_pb_task": ("base + pb-rate aug + pb-rate task", {**PB_AUG, **PB_TASK}),
    "pb_rot_aug_pb_task": ("base + pb-rate aug + rotation aug + pb-rate task", {**PB_AUG, **ROT_AUG, **PB_TASK}),
    "rot_aug_rot_task": ("base + rotation aug + rotation task", {**ROT_AUG, **ROT_TASK}),
    "pb_rot_aug_rot_task": ("base + pb-rate aug + rotation aug + rotation task", {**PB_AUG, **ROT_AUG, **ROT_TASK}),
    "stor_task": ("base + STOR task", STOR_TASK),
    "pb_aug_stor_task": ("base + pb-rate aug + STOR task", {**PB_AUG, **STOR_TASK}),
    "pb_rot_aug_stor_task": ("base + pb-rate aug + rotation aug + STOR task", {**PB_AUG, **ROT_AUG, **STOR_TASK}),
}

STUDY = Study(
    name="cstp_augmentation",
    title="CSTP: playback-rate / rotation as augmentation vs as a task",
    table="CSTP/T1",
    arms=(Arm("scratch", {"method.name": "scratch"}),) + tuple(
        Arm(name, {**NOTHING, "method.options.contrastive": "byol", **factors}, paper={"setting": setting})
        for name, (setting, factors) in ROWS.items()
    ),
    metrics=finetune_metrics("video", ("ucf",)) + EXTRA_METRICS,
    presets=method_presets("cstp"),
    baseline_arm="scratch",
)

if __name__ == "__main__":
    sys.exit(run_study_cli(STUDY))
