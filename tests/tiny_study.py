"""A seconds-long two-arm study used by the engine tests (runnable as a script for the kill test)."""
import sys
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ray_jobs.cli import run_study_cli  # noqa: E402
from ssl_core.study import Arm, Metric, Study  # noqa: E402
from ssl_core.experiment import with_factors  # noqa: E402
from ssl_core.presets import BASE_PRESETS  # noqa: E402


def tiny_preset(data_dir: str, epochs: int = 3):
    return with_factors(BASE_PRESETS["smoke"], {
        "data.data_dir": data_dir, "eval_datasets": ("ucf",), "pretrain.epochs": epochs,
        "eval.protocols": ("knn", "retrieval"), "eval.clips_per_video": 1,
    })


SCRATCH = Arm("scratch", {"method.name": "scratch"})
ROTATION = Arm("rotation", {"method.name": "rotation"})
ROTATION_DDP = Arm("rotation_ddp", {"method.name": "rotation", "resources.num_workers": 2, "resources.cpus_per_worker": 0.5})


def tiny_study(data_dir: str, epochs: int = 3, arms=None, name="tiny") -> Study:
    arms = arms or (SCRATCH, ROTATION)
    return Study(
        name=name, title="tiny engine test", table=None,
        arms=arms,
        metrics=(Metric("knn/ucf/top1"), Metric("retrieval/ucf/r@5"), Metric("pretext/acc")),
        presets={"smoke": tiny_preset(data_dir, epochs)}, baseline_arm=SCRATCH.name if SCRATCH in arms else arms[0].name,
    )


ARM_CHOICES = {"--pretraining-first": (ROTATION, SCRATCH), "--ddp": (ROTATION_DDP,)}

if __name__ == "__main__":
    # tiny_study.py DATA_DIR EPOCHS [--pretraining-first | --ddp] CLI_ARGS...: with
    # --pretraining-first the rotation trials are declared (and so started) before the scratch
    # ones; with --ddp the one arm is a two-worker DDP rotation
    data_dir, epochs, cli = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
    arms = ARM_CHOICES.get(cli[0]) if cli else None
    sys.exit(run_study_cli(tiny_study(data_dir, epochs, arms), cli[1:] if arms else cli))
