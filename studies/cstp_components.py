"""CSTP Table 2: every subset of {contrastive (BYOL), playback-rate task, rotation task, STOR
task}. Playback-rate and rotation augmentation stay on in every arm (the tasks are what is
ablated). The empty subset trains from scratch with base, playback-rate and rotation
augmentation in its fine-tuning: the paper's 71.1 % is Table 1's row 4, "base + pb-rate aug +
rotation aug" with no task.

    python studies/cstp_components.py [--preset smoke|default|paper] [--resume] ...
"""
import itertools
import sys

from ray_jobs.cli import run_study_cli
from ssl_core.presets import method_presets
from ssl_core.study import EXTRA_METRICS, Arm, Study, finetune_metrics

PARTS = {"contrastive": "contrastive(BYOL)", "pace": "pb-rate task", "rotation": "rotation task", "stor": "STOR task"}


def _arm(subset: tuple[str, ...]) -> Arm:
    if not subset:
        return Arm("scratch", {"method.name": "scratch", "eval.finetune.augment": ("base", "pace", "rotation")},
                   paper={"setting": "none (scratch)"})
    factors = {"method.options.contrastive": "byol" if "contrastive" in subset else "none",
               **{f"method.options.{part}": part in subset for part in ("pace", "rotation", "stor")}}
    return Arm("+".join(subset), factors, paper={"setting": " + ".join(PARTS[p] for p in subset)})


STUDY = Study(
    name="cstp_components",
    title="CSTP: contrastive, playback-rate, rotation and STOR tasks, every subset",
    table="CSTP/T2",
    arms=tuple(_arm(subset) for size in range(5) for subset in itertools.combinations(PARTS, size)),
    metrics=finetune_metrics("video") + EXTRA_METRICS,
    presets=method_presets("cstp"),
    baseline_arm="scratch",
)

if __name__ == "__main__":
    sys.exit(run_study_cli(STUDY))
