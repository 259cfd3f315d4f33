"""CSTP Table 4, the main job: the number of STOR candidate rates N = 2..7 (STOR task only,
base augmentation only), beside random initialisation.

    python studies/stor_candidates.py [--preset smoke|default|paper] [--resume] [--address ...]

With no arguments: the embedded datasets (generated if missing), the ``default`` laptop
preset, 2 seeds, results in ``results/stor_candidates/``.
"""
import sys

from ray_jobs.study import EXTRA_METRICS, Arm, Metric, Study, finetune_metrics, run_study_cli
from ssl_core.presets import STOR_ONLY, cstp_presets

STUDY = Study(
    name="stor_candidates",
    title="CSTP: number of STOR candidates (STOR task only, base augmentation)",
    table="CSTP/T4",
    arms=(Arm("random_init", {"method.name": "scratch"}),) + tuple(
        Arm(f"n{n}", {**STOR_ONLY, "method.options.num_candidates": n}, paper={"setting": f"{n} candidates"})
        for n in range(2, 8)
    ),
    metrics=finetune_metrics("video") + EXTRA_METRICS + (Metric("retrieval/hmdb/r@5"), Metric("retrieval/ucf/r@1")),
    presets=cstp_presets(),
    baseline_arm="random_init",
    figure={"kind": "line", "x": "method.options.num_candidates"},
)

if __name__ == "__main__":
    sys.exit(run_study_cli(STUDY))
