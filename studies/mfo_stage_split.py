"""MFO Fig. 3 (E): the stage split, the fraction of the epochs trained before the graph
constraint L_mul joins, beside random initialisation.

    python studies/mfo_stage_split.py [--preset smoke|default|paper] [--resume] ...

The paper: E = 0 "derails" training, 10-20 % is best. The figure gives no numbers in the
text, so the report shows our curve alone.
"""
import sys

from ray_jobs.cli import run_study_cli
from ssl_core.methods.mfo import IMPL_NOTE, LAPTOP_STUDY_BUDGET
from ssl_core.presets import method_presets
from ssl_core.study import Arm, Metric, Study, linear_metrics

SPLITS = (0.0, 0.1, 0.2, 0.3, 0.5)

STUDY = Study(
    name="mfo_stage_split",
    title="MFO: the stage split E (fraction of the epochs before the graph constraint)",
    table=None,
    arms=(Arm("random_init", {"method.name": "scratch"}),) + tuple(
        Arm(f"e{int(100 * e)}", {"method.options.stage_split": e}) for e in SPLITS),
    metrics=linear_metrics() + (Metric("knn/ucf/top1"), Metric("pretext/acc")),
    presets=method_presets("mfo", backbone="r3d_18", budget=LAPTOP_STUDY_BUDGET),  # README, "MFO": the laptop budget
    baseline_arm="random_init",
    figure={"kind": "line", "x": "method.options.stage_split"},
    notes=("MFO Fig. 3 gives no numbers in the text: our curve only, nothing to compare.",
           "E is applied at whole epochs (the graph constraint starts at epoch round(E x epochs)): at the `default` "
           "budget of 3 epochs, E = 0 and 0.1 both start at epoch 0, 0.2 and 0.3 at epoch 1, 0.5 at epoch 2.",
           IMPL_NOTE),
)

if __name__ == "__main__":
    sys.exit(run_study_cli(STUDY))
