"""STS journal Table 2: three backbones, each from scratch and STS-pretrained.

    python studies/sts_backbones.py [--preset smoke|default|paper] [--resume] ...
"""
import sys

from ray_jobs.cli import run_study_cli
from ssl_core.presets import method_presets
from ssl_core.study import EXTRA_METRICS, STS_PAPER_BACKBONES, Arm, Study, finetune_metrics


STUDY = Study(
    name="sts_backbones",
    title="STS: backbones with and without pretraining",
    table="STS/T2",
    arms=tuple(
        Arm(f"{backbone}_{kind}", {"backbone.name": backbone, **({"method.name": "scratch"} if kind == "scratch" else {})},
            paper={"setting": "no pretraining" if kind == "scratch" else "pretrained", "backbone": paper_backbone})
        for backbone, paper_backbone in STS_PAPER_BACKBONES.items() for kind in ("scratch", "sts")
    ),
    metrics=finetune_metrics("video") + EXTRA_METRICS,
    presets=method_presets("sts"),
)

if __name__ == "__main__":
    sys.exit(run_study_cli(STUDY))
