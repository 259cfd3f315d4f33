"""STS journal Table 4: 1-D regression, 2-D regression or classification of the labels,
on three backbones, with the pretext accuracy (measured on held-out pretraining videos, so
the paper's HMDB51 pretext-accuracy column has no counterpart here).

    python studies/sts_training_targets.py [--preset smoke|default|paper] [--resume] ...
"""
import sys

from ray_jobs.cli import run_study_cli
from ssl_core.presets import method_presets
from ssl_core.study import STS_PAPER_BACKBONES, Arm, Metric, Study, finetune_metrics

TARGETS = {"regression": "1D label regression", "regression_2d": "2D label regression", "classification": "classification"}

STUDY = Study(
    name="sts_training_targets",
    title="STS: training targets x backbones",
    table="STS/T4",
    arms=tuple(
        Arm(f"{backbone}_{target}", {"backbone.name": backbone, "method.options.target": target},
            paper={"setting": setting, "backbone": paper_backbone})
        for backbone, paper_backbone in STS_PAPER_BACKBONES.items() for target, setting in TARGETS.items()
    ),
    metrics=(Metric("pretext/acc", paper={"protocol": "pretext", "eval_dataset": "UCF101", "metric": "label_acc"}),)
    + finetune_metrics("video") + (Metric("linear/ucf/top1"),),
    presets=method_presets("sts"),
)

if __name__ == "__main__":
    sys.exit(run_study_cli(STUDY))
