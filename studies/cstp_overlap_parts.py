"""CSTP Table 5: spatial overlap, temporal overlap, or both (STOR task only, base augmentation
only). The scratch row trains from scratch with the base augmentation in its fine-tuning: the
paper's 60.3 % is Table 1's row 1.

    python studies/cstp_overlap_parts.py [--preset smoke|default|paper] [--resume] ...
"""
import sys

from ray_jobs.cli import run_study_cli
from ssl_core.methods.cstp import STOR_ONLY
from ssl_core.presets import method_presets
from ssl_core.study import EXTRA_METRICS, Arm, Study, finetune_metrics

STUDY = Study(
    name="cstp_overlap_parts",
    title="CSTP: spatial vs temporal overlap rate",
    table="CSTP/T5",
    arms=(
        Arm("scratch", {"method.name": "scratch", "eval.finetune.augment": ("base",)}, paper={"setting": "none (scratch)"}),
        Arm("spatial", {**STOR_ONLY, "method.options.stor_temporal": False}, paper={"setting": "spatial overlap"}),
        Arm("temporal", {**STOR_ONLY, "method.options.stor_spatial": False}, paper={"setting": "temporal overlap"}),
        Arm("both", STOR_ONLY, paper={"setting": "spatial + temporal overlap"}),
    ),
    metrics=finetune_metrics("video", ("ucf",)) + EXTRA_METRICS,
    presets=method_presets("cstp"),
    baseline_arm="scratch",
)

if __name__ == "__main__":
    sys.exit(run_study_cli(STUDY))
