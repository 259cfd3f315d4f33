"""CSTP Table 3: the four contrastive frameworks, each alone and with the pretext tasks added
(playback rate, then rotation, then STOR). The table has no scratch row; the baseline arm
trains from scratch as Table 2's does (the paper: Table 3's settings "are the same as those in
Table 2"), with base, playback-rate and rotation augmentation in its fine-tuning.

    python studies/cstp_contrastive.py [--preset smoke|default|paper] [--resume] ...
"""
import sys

from ray_jobs.cli import run_study_cli
from ssl_core.presets import method_presets
from ssl_core.study import EXTRA_METRICS, Arm, Study, finetune_metrics

FRAMEWORKS = {"simclr": "SimCLR", "moco": "MoCo", "byol": "BYOL", "simsiam": "SimSiam"}
TASK_STEPS = (("", ()), (" + pb-rate task", ("pace",)), (" + pb-rate task + rotation task", ("pace", "rotation")),
              (" + pb-rate task + rotation task + STOR task", ("pace", "rotation", "stor")))

STUDY = Study(
    name="cstp_contrastive",
    title="CSTP: contrastive frameworks x pretext tasks",
    table="CSTP/T3",
    arms=(Arm("scratch", {"method.name": "scratch", "eval.finetune.augment": ("base", "pace", "rotation")}),) + tuple(
        Arm("+".join((framework,) + tasks), {"method.options.contrastive": framework,
                                             **{f"method.options.{t}": t in tasks for t in ("pace", "rotation", "stor")}},
            paper={"setting": name + suffix})
        for framework, name in FRAMEWORKS.items() for suffix, tasks in TASK_STEPS
    ),
    metrics=finetune_metrics("video") + EXTRA_METRICS,
    presets=method_presets("cstp"),
    baseline_arm="scratch",
)

if __name__ == "__main__":
    sys.exit(run_study_cli(STUDY))
