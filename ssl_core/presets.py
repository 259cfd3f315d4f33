"""Base trial presets shared by the studies: ``smoke`` (tests, CI), ``default`` (a laptop),
``paper`` (the papers' scale, for GPU clusters and real data). Studies override fields
through their arms' factors or ``with_factors``."""
from __future__ import annotations

import dataclasses

from ssl_core.backbones import BackboneConfig
from ssl_core.config import require
from ssl_core.eval.downstream import PRESETS as DOWNSTREAM
from ssl_core.experiment import ResourceConfig, TrialConfig, with_factors
from ssl_core.methods import METHODS, MethodConfig
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
    # The CSTP public code's optimiser (the methods' paper_factors replace what differs); the
    # batch is the global one, 15 per worker on the 4 workers.
    "paper": _from_downstream(
        "paper",
        PretrainConfig(epochs=300, batch_size=60, lr=0.03, weight_decay=5e-4, warmup_epochs=150, grad_clip=18.0),
        ResourceConfig(num_workers=4, use_gpu=True, cpus_per_worker=4),
        backbone=BackboneConfig("r2plus1d_18", 1.0),
    ),
}


def method_presets(method: str, options: dict | None = None, backbone: str | None = None,
                   budget: dict | None = None) -> dict[str, TrialConfig]:
    """:data:`BASE_PRESETS` pretraining ``method`` (with ``options``) on ``backbone`` (a registered
    name, which replaces the method's paper backbone; each preset keeps its width). The ``paper``
    preset adds the method's own ``paper_factors`` (its paper's settings, declared beside the
    method), the laptop presets its ``laptop_factors`` (and ``default`` its ``default_factors``); ``budget`` (dotted
    factors) then shrinks the ``default`` preset to what a study can afford on a laptop."""
    require(method in METHODS, "method.name", f"unknown method {method!r} (known: {', '.join(sorted(METHODS))})")
    presets = {}
    for name, config in BASE_PRESETS.items():
        config = dataclasses.replace(config, method=MethodConfig(method, dict(options or {})))
        cls = METHODS[method]
        config = with_factors(config, cls.paper_factors if name == "paper" else cls.laptop_factors)
        if name == "default":
            config = with_factors(config, cls.default_factors)
        # the study's backbone wins over the method's paper backbone (a study of C3D stays C3D)
        presets[name] = with_factors(config, {"backbone.name": backbone}) if backbone is not None else config
    if budget:
        presets["default"] = with_factors(presets["default"], budget)
    return presets
