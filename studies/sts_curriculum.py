"""STS journal Table 3: curriculum learning (easy-first single-step pacing) and its controls.

The paper pretrains R(2+1)D on Kinetics-400; here the pretraining set is the study's
(embedded UCF-layout by default). Easy = high curriculum score (``ssl_core.curriculum``).

    python studies/sts_curriculum.py [--preset smoke|default|paper] [--resume] ...
"""
import sys

from ray_jobs.cli import run_study_cli
from ssl_core.presets import method_presets
from ssl_core.study import EXTRA_METRICS, Arm, Study, finetune_metrics

STUDY = Study(
    name="sts_curriculum",
    title="STS: curriculum vs data halves (R(2+1)D)",
    table="STS/T3",
    arms=(
        Arm("all_data", {}, paper={"setting": "no curriculum 100% data"}),
        Arm("random_half", {"pretrain.schedule.curriculum": "random_half"}, paper={"setting": "no curriculum random 50% data"}),
        Arm("easiest_half", {"pretrain.schedule.curriculum": "easiest_half"}, paper={"setting": "easiest 50% only"}),
        Arm("hardest_half", {"pretrain.schedule.curriculum": "hardest_half"}, paper={"setting": "hardest 50% only"}),
        Arm("curriculum", {"pretrain.schedule.curriculum": "easy_first", "pretrain.schedule.switch_at": 0.5},
            paper={"setting": "curriculum 100% data"}),
    ),
    metrics=finetune_metrics("video") + EXTRA_METRICS,
    presets=method_presets("sts", backbone="r21d_vcop"),
    baseline_arm="all_data",
)

if __name__ == "__main__":
    sys.exit(run_study_cli(STUDY))
