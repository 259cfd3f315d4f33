"""MFO Table 3: temporal modelling (none, input-level augmentation, feature-level) on three
backbones (SlowFast, R3D-18, S3D); linear probe, UCF101 and HMDB51.

    python studies/mfo_temporal_modeling.py [--preset smoke|default|paper] [--resume] ...

"input" reverses (official; paper: and shuffles) the input clips and uses them as extra
negatives of L_ins, without the ME block; "feature" is the ME block on the low and mid levels
plus L_aug. Levels of S3D and SlowFast: their pool3/pool4/pool5 stages (``ssl_core.backbones``).
"""
import sys

from ray_jobs.cli import run_study_cli
from ssl_core.methods.mfo import IMPL_NOTE, LAPTOP_STUDY_BUDGET
from ssl_core.presets import method_presets
from ssl_core.study import Arm, Metric, Study, linear_metrics

SETTINGS = {"none": "no temporal modeling", "input": "input-level temporal aug", "feature": "feature-level temporal modeling"}
BACKBONES = ("slowfast", "r3d_18", "s3d")
PAPER_NAMES = {"r3d_18": "R3D-18", "s3d": "S3D", "slowfast": "SlowFast"}
# At the paper preset the R3D-18 arms use the public code's network (ssl_core.backbones:
# r3d_18_hara); the laptop presets keep torchvision's, on which the reported runs were made.
PAPER_PRESET_NETS = {"r3d_18": "r3d_18_hara"}


def arms(nets: dict[str, str] | None = None) -> tuple[Arm, ...]:
    nets = nets or {}
    return tuple(Arm(f"{backbone}_{temporal}", {"backbone.name": nets.get(backbone, backbone), "method.options.temporal": temporal},
                     paper={"setting": setting, "backbone": PAPER_NAMES[backbone]})
                 for backbone in BACKBONES for temporal, setting in SETTINGS.items())


STUDY = Study(
    name="mfo_temporal_modeling",
    title="MFO: temporal modelling at the input or the feature level, three backbones",
    table="MFO/T3",
    arms=arms(),
    preset_arms={"paper": arms(PAPER_PRESET_NETS)},
    metrics=linear_metrics() + (Metric("knn/ucf/top1"), Metric("pretext/acc")),
    presets=method_presets("mfo", budget=LAPTOP_STUDY_BUDGET),  # README, "MFO": the laptop budget
    baseline_arm="r3d_18_none",
    notes=(IMPL_NOTE,
           "The paper pretrains these rows on Kinetics-400; we pretrain on the study's pretraining set."),
)

if __name__ == "__main__":
    sys.exit(run_study_cli(STUDY))
