"""Base trial presets shared by the studies: ``smoke`` (tests, CI), ``default`` (a laptop),
``paper`` (the papers' scale, for GPU clusters and real data). Studies override fields
through their arms' factors or ``with_factors``."""
from __future__ import annotations

import dataclasses

from ssl_core.checkpoint import BackboneConfig
from ssl_core.eval.downstream import PRESETS as DOWNSTREAM
from ssl_core.experiment import ResourceConfig, TrialConfig, with_factors
from ssl_core.methods import MethodConfig
from ssl_core.pretrain import PretrainConfig


def _from_downstream(name: str, pretrain: PretrainConfig, resources: ResourceConfig = ResourceConfig(), backbone=None) -> TrialConfig:
    downstream = DOWNSTREAM[name]
    return TrialConfig(backbone=backbone or downstream.backbone, clip=downstream.clip, eval=downstream.eval,
                       data=downstream.data, pretrain=pretrain, resources=resources)


BASE_PRESETS: dict[str, TrialConfig] = {
    "smoke": _from_downstream("smoke", PretrainConfig(epochs=2, batch_size=8, lr=0.05)),
    # AdamW (not the papers' SGD): in the few hundred steps a laptop allows, SGD left every
    # pretext loss at its starting value (README, "The laptop preset").
    "default": _from_downstream("default", PretrainConfig(epochs=10, batch_size=16, lr=2e-3, weight_decay=0.05,
                                                          optimiser="adamw", warmup_epochs=1)),
    "paper": _from_downstream(
        "paper",
        PretrainConfig(epochs=300, batch_size=30, lr=0.03, weight_decay=5e-4, warmup_epochs=150, grad_clip=18.0),
        ResourceConfig(num_workers=4, use_gpu=True, cpus_per_worker=4),
        backbone=BackboneConfig("r2plus1d_18", 1.0),
    ),
}


def method_presets(method: str, options: dict | None = None, backbone: str | None = None,
                   paper: dict | None = None) -> dict[str, TrialConfig]:
    """:data:`BASE_PRESETS` pretraining ``method`` (with ``options``) on ``backbone`` (a registered
    name; each preset keeps its width); ``paper`` holds extra dotted factors for the paper preset."""
    presets = {}
    for name, config in BASE_PRESETS.items():
        config = dataclasses.replace(config, method=MethodConfig(method, dict(options or {})))
        if backbone is not None:
            config = with_factors(config, {"backbone.name": backbone})
        presets[name] = with_factors(config, paper or {}) if name == "paper" else config
    return presets


# CSTP arms with the STOR task only and base augmentation only (Tables 4 and 5).
STOR_ONLY = {"method.options.contrastive": "none", "method.options.pace": False, "method.options.rotation": False,
             "method.options.pace_aug": False, "method.options.rotation_aug": False}


def cstp_presets() -> dict[str, TrialConfig]:
    """CSTP on the base presets; ``paper`` follows the public code (R(2+1)D, batch 60, lr 0.03,
    300 epochs with half of them warm-up, gradient-norm clip 18, synchronised batch norm, BYOL
    heads 512 -> 4096 -> 512)."""
    return method_presets("cstp", paper={"pretrain.batch_size": 60, "pretrain.sync_batchnorm": True, "method.options.proj_dim": 512,
                                         "method.options.proj_hidden_dim": 4096})


# The arms of benchmarks/learning_check.py: (method, its options) at each method's presets.
LEARNING_CHECK_ARMS: dict[str, tuple[str, dict]] = {
    "random_init": ("scratch", {}),
    "sts": ("sts", {}),
    "cstp": ("cstp", {}),
    "rotation": ("rotation", {}),
    "cstp_stor_n5": ("cstp", {**{path.rsplit(".", 1)[1]: value for path, value in STOR_ONLY.items()}, "num_candidates": 5}),
}


def learning_check_config(arm: str, preset: str = "default", seed: int = 0) -> TrialConfig:
    """The learning check's trial for ``arm`` (a key of :data:`LEARNING_CHECK_ARMS`): linear probe + kNN."""
    method, options = LEARNING_CHECK_ARMS[arm]
    presets = cstp_presets() if method == "cstp" else method_presets(method)
    config = with_factors(presets[preset], {f"method.options.{key}": value for key, value in options.items()})
    return with_factors(config, {"eval.protocols": ("linear", "knn"), "seed": seed})
