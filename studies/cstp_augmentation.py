"""CSTP Table 1: augmentation vs prediction. Playback-rate / rotation *augmentation* draws
random rates / rotations without predicting them; the *task* predicts them.

    python studies/cstp_augmentation.py [--preset smoke|default|paper] [--resume] ...

Rows 1-4 have no pretext task: the paper trains them from scratch "with the aforementioned
data augmentation methods" (row 1, base augmentation only, is its 60.3 % baseline), so here
they are random-init arms whose fine-tuning applies the row's augmentations
(``eval.finetune.augment``). Rows 5-11 pretrain CSTP with the row's augmentations and tasks
and no contrastive objective: the table has no contrastive column, and its task rows equal
Table 2's rows without one (78.7, 78.5, 76.2). Their fine-tuning is the protocol's own (crop
and flip): the paper does not say that fine-tuning used the pretext augmentations.
"""
import sys

from ray_jobs.cli import run_study_cli
from ssl_core.presets import method_presets
from ssl_core.study import EXTRA_METRICS, Arm, Study, finetune_metrics

NOTHING = {"method.options.contrastive": "none", "method.options.pace": False, "method.options.rotation": False,
           "method.options.stor": False, "method.options.pace_aug": False, "method.options.rotation_aug": False}
PB_AUG, ROT_AUG = {"method.options.pace_aug": True}, {"method.options.rotation_aug": True}
PB_TASK, ROT_TASK, STOR_TASK = {"method.options.pace": True}, {"method.options.rotation": True}, {"method.options.stor": True}

FROM_SCRATCH = {  # arm: (the paper's row, the fine-tuning augmentations)
    "base": ("base aug", ("base",)),
    "pb_aug": ("base + pb-rate aug", ("base", "pace")),
    "rot_aug": ("base + rotation aug", ("base", "rotation")),
    "pb_rot_aug": ("base + pb-rate aug + rotation aug", ("base", "pace", "rotation")),
}
PRETRAINED = {  # arm: (the paper's row, the CSTP options)
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
    arms=tuple(Arm(name, {"method.name": "scratch", "eval.finetune.augment": augment}, paper={"setting": setting})
               for name, (setting, augment) in FROM_SCRATCH.items())
    + tuple(Arm(name, {**NOTHING, **factors}, paper={"setting": setting}) for name, (setting, factors) in PRETRAINED.items()),
    metrics=finetune_metrics("video", ("ucf",)) + EXTRA_METRICS,
    presets=method_presets("cstp"),
    baseline_arm="base",
)

if __name__ == "__main__":
    sys.exit(run_study_cli(STUDY))
