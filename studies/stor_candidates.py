"""CSTP Table 4, the main job: the number of STOR candidate rates N = 2..7 (STOR task only,
base augmentation only), beside random initialisation.

    python studies/stor_candidates.py [--preset smoke|default|paper] [--resume] [--address ...]

With no arguments: the embedded datasets (generated if missing), the ``default`` laptop
preset, 2 seeds, results in ``results/stor_candidates/``.

At ``default`` the 14 trials must fit in 15 minutes on 2 CPU cores (README, "Results of
command 1"), so this study's ``default`` pretrains 1 epoch on half the training videos and
evaluates the frozen protocols only (linear probe, kNN, retrieval) on one centre clip per
video; fine-tuning alone would cost about 9 minutes per trial at this data size.
``benchmarks/learning_check.py`` runs the same STOR arm (N = 5) for the full 10 epochs.

Base augmentation only, as the table's caption says; its 5-candidate value (76.2 / 45.4)
equals Table 2's STOR task, which Table 1 (row 11) shows with playback-rate and rotation
augmentation (base-only STOR: 69.6 in Tables 1 and 5). README, "Command 1".
"""
import sys

from ray_jobs.cli import run_study_cli
from ssl_core.experiment import with_factors
from ssl_core.methods.cstp import STOR_ONLY
from ssl_core.presets import method_presets
from ssl_core.study import Arm, Metric, Study, finetune_metrics

MAIN_JOB_BUDGET = {"pretrain.epochs": 1, "pretrain.warmup_epochs": 0, "pretrain.schedule.data_fraction_k": 2,
                   "eval.protocols": ("linear", "knn", "retrieval"), "eval.clips_per_video": 1}
PRESETS = method_presets("cstp")
PRESETS["default"] = with_factors(PRESETS["default"], MAIN_JOB_BUDGET)

STUDY = Study(
    name="stor_candidates",
    title="CSTP: number of STOR candidates (STOR task only, base augmentation)",
    table="CSTP/T4",
    # random init fine-tunes with the table's base augmentation (CSTP Table 1's row 1); the
    # default preset's main job does not fine-tune, so there it changes nothing
    arms=(Arm("random_init", {"method.name": "scratch", "eval.finetune.augment": ("base",)}),) + tuple(
        Arm(f"n{n}", {**STOR_ONLY, "method.options.num_candidates": n}, paper={"setting": f"{n} candidates"})
        for n in range(2, 8)
    ),
    metrics=(Metric("linear/ucf/top1"), Metric("linear/hmdb/top1"), Metric("knn/ucf/top1"), Metric("knn/hmdb/top1"),
             Metric("pretext/acc"), Metric("pretext/stor_s_acc"), Metric("pretext/stor_t_acc"))
    + finetune_metrics("video") + (Metric("retrieval/ucf/r@1"), Metric("retrieval/ucf/r@5"), Metric("retrieval/hmdb/r@5")),
    presets=PRESETS,
    baseline_arm="random_init",
    figure={"kind": "line", "x": "method.options.num_candidates"},
)

if __name__ == "__main__":
    sys.exit(run_study_cli(STUDY))
