"""MFO Fig. 3 (K): the number of prototypes, beside random initialisation.

    python studies/mfo_prototypes.py [--preset smoke|default|paper] [--resume] ...

At the laptop presets K sweeps 8 ... 256 around the embedded UCF-layout set's 12 classes; the
``paper`` preset sweeps the figure's 100 ... 3000. The figure gives no numbers in the text, so
the report shows our curve alone; the vertical lines mark the downstream class counts (the
paper: K below the number of classes hurts).
"""
import sys

from ray_jobs.cli import run_study_cli
from ssl_core.methods.mfo import IMPL_NOTE, LAPTOP_STUDY_BUDGET
from ssl_core.presets import method_presets
from ssl_core.study import Arm, Metric, Study, linear_metrics

LAPTOP_K = (8, 16, 32, 64, 128, 256)
PAPER_K = (100, 200, 500, 1000, 2000, 3000)
RANDOM_INIT = Arm("random_init", {"method.name": "scratch"})


def arms(values) -> tuple[Arm, ...]:
    return (RANDOM_INIT,) + tuple(Arm(f"k{k}", {"method.options.num_prototypes": k}) for k in values)


STUDY = Study(
    name="mfo_prototypes",
    title="MFO: the number of prototypes K",
    table=None,
    arms=arms(LAPTOP_K),
    preset_arms={"paper": arms(PAPER_K)},
    metrics=linear_metrics() + (Metric("knn/ucf/top1"), Metric("pretext/acc")),
    presets=method_presets("mfo", budget=LAPTOP_STUDY_BUDGET),  # README, "MFO": the laptop budget
    baseline_arm="random_init",
    figure={"kind": "line", "x": "method.options.num_prototypes", "log_x": True,
            "marks": [{"x": 12, "label": "12 classes (embedded ucf)"}, {"x": 101, "label": "101 classes (UCF101)"}]},
    notes=("MFO Fig. 3 gives no numbers in the text: our curve only, nothing to compare.",
           IMPL_NOTE),
)

if __name__ == "__main__":
    sys.exit(run_study_cli(STUDY))
