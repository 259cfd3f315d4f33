"""What a trial occupies, and whether a machine or cluster can place one. No Ray import:
the command line checks this before Ray starts."""
from __future__ import annotations

import os


def trial_resources(configs) -> dict:
    """Everything one trial occupies: its own CPU plus, for DDP, its TorchTrainer workers."""
    config = next(iter(configs.values()))
    resources = config.resources
    if resources.num_workers == 1:
        return {"cpu": 1, "gpu": 1 if resources.use_gpu else 0}
    return {"cpu": 1 + resources.num_workers * resources.cpus_per_worker, "gpu": resources.num_workers if resources.use_gpu else 0}


def trial_function_resources(configs) -> dict:
    """What the Tune trial function itself reserves: a DDP trial's workers reserve their own."""
    config = next(iter(configs.values()))
    return trial_resources(configs) if config.resources.num_workers == 1 else {"cpu": 1, "gpu": 0}


def check_resources(configs, cpus: float, gpus: float) -> str | None:
    """A message if ``cpus``/``gpus`` can never place one trial (Ray would wait and retry forever)."""
    needs = trial_resources(configs)
    if needs["cpu"] > cpus:
        return f"resources: a trial needs {needs['cpu']:g} CPUs (1 for the trial + its workers), there are {cpus:g}"
    if needs["gpu"] > gpus:
        return f"resources: a trial needs {needs['gpu']} GPUs, there are {gpus:g} (use_gpu without GPUs?)"
    return None


def local_resources() -> tuple[int, int]:
    import torch

    return os.cpu_count() or 1, torch.cuda.device_count()
