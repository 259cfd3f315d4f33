"""The method interface and registry.

A :class:`PretextMethod` is an ``nn.Module`` holding the backbone and the method's heads:
- ``sample(frames, clip, rng)`` turns one video (uint8 ``(T, H, W, 3)``) into one training
  example: a dict of tensors (views ``(C, T, H, W)``, integer targets);
- ``sample_video(videos, index, rng)`` is what the training loop calls (default: ``sample``
  on the video's frames);
- ``forward(batch)`` takes the collated batch and returns ``(loss, metrics)``, where
  metrics are detached scalars such as ``{"pretext/acc": ...}``;
- ``task_targets(batch)`` names the integer targets behind each accuracy metric, from which
  ``chance_levels`` derives ``<metric>_chance``: the accuracy of always predicting the most
  frequent held-out target (per label, averaged over labels).
Methods with ``pretrains = False`` (``scratch``) skip pretraining. A method's view sampling
lives in ``ssl_core.samplers``; a method file holds options, heads and loss, plus the class
hooks :meth:`PretextMethod.label_pipeline` (labels to compute before training) and
``paper_factors`` (its paper's settings for the ``paper`` preset).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ssl_core.config import ConfigError, from_dict, require

METHODS: dict[str, type["PretextMethod"]] = {}


def register_method(name: str) -> Callable[[type], type]:
    def decorator(cls: type) -> type:
        if name in METHODS and METHODS[name] is not cls:
            raise ValueError(f"name: method {name!r} is already registered")
        cls.name = name
        METHODS[name] = cls
        return cls

    return decorator


@dataclass(frozen=True)
class MethodConfig:
    """``name`` picks the method; ``options`` are its own settings (validated by its options class)."""

    name: str = "rotation"
    options: dict[str, Any] = field(default_factory=dict)

    def validate(self, prefix: str = "method.") -> "MethodConfig":
        require(self.name in METHODS, prefix + "name", f"unknown method {self.name!r} (known: {', '.join(sorted(METHODS))})")
        self._parse(prefix)
        return self

    def typed_options(self):
        """The options as an instance of the method's options class, parsed and validated once
        per config (configs are frozen, and their option dicts are never changed in place)."""
        parsed = self.__dict__.get("_parsed")
        if parsed is None:
            parsed = self._parse("method.")
            object.__setattr__(self, "_parsed", parsed)
        return parsed

    def _parse(self, prefix: str):
        require(self.name in METHODS, prefix + "name", f"unknown method {self.name!r} (known: {', '.join(sorted(METHODS))})")
        options = from_dict(METHODS[self.name].options_class, dict(self.options), prefix=prefix + "options.")
        return options.validate(prefix + "options.") if hasattr(options, "validate") else options


@dataclass(frozen=True)
class NoOptions:
    pass


class PretextMethod(nn.Module):
    name: str = ""
    options_class: type = NoOptions
    pretrains: bool = True
    # Dotted TrialConfig factors the ``paper`` preset adds for this method (its paper's settings),
    # and those the laptop presets (``smoke``, ``default``) add (settings sized for the embedded data).
    paper_factors: dict[str, Any] = {}
    laptop_factors: dict[str, Any] = {}
    # and those only the ``default`` preset adds, after ``laptop_factors`` (settings measured at its
    # optimiser and length; ``smoke`` keeps its own)
    default_factors: dict[str, Any] = {}
    # False when some parameters get no gradient in some steps (DDP must then look for them)
    uses_every_parameter: bool = True

    @classmethod
    def label_pipeline(cls, options, clip, split: int):
        """The ``LabelPipelineConfig`` of the labels this method reads from a store computed once
        per dataset before training (``options``: the typed options, ``clip``: a ClipConfig), or
        None when it needs none. Methods returning one implement :meth:`with_label_store`."""
        return None

    @classmethod
    def with_label_store(cls, options: dict, store: str) -> dict:
        """``options`` (the config's dict) pointing at the computed label ``store`` folder."""
        raise NotImplementedError(f"method {cls.name!r} asks for no label store")

    def __init__(self, backbone: nn.Module, options, clip=None):
        super().__init__()
        self.backbone = backbone
        self.options = options
        self.clip = clip

    def sample(self, frames: np.ndarray, clip, rng: np.random.Generator) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def sample_video(self, videos, index: int, rng: np.random.Generator) -> dict[str, torch.Tensor]:
        """One example of video ``index`` of a VideoCollection; methods needing more than the frames override it."""
        return self.sample(videos.frames(index), videos.clip, rng)

    def curriculum_scores(self, videos) -> np.ndarray:
        """One difficulty score per video (high = easy), for the scored curricula."""
        raise ConfigError("pretrain.schedule.curriculum", f"method {self.name!r} has no curriculum score (it does not define curriculum_scores)")

    def after_step(self) -> None:
        """Called after every optimiser step (momentum encoders update here)."""

    def pretext_indices(self, videos) -> np.ndarray | None:
        """The indices of the videos of a VideoCollection this method can sample (None: all);
        pretraining and the held-out metrics leave the others out."""
        return None

    def on_epoch_start(self, epoch: int, epochs: int, steps: int | None = None) -> None:
        """Called before every pretraining epoch (0-based ``epoch`` of ``epochs``, ``steps``
        optimiser steps in it on this worker), resumed runs included; methods whose loss
        changes over training (MFO's stage split) read it here."""

    def forward(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        raise NotImplementedError

    def task_targets(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """``{accuracy metric name: integer targets (B,) or (B, L)}`` of a batch (L labels, each scored alone)."""
        return {}

    def chance_levels(self, targets: dict[str, torch.Tensor]) -> dict[str, float]:
        """``{<name>_chance: majority_rate(t)}`` for the held-out targets gathered from
        :meth:`task_targets`; when no target is named ``pretext/acc`` (the method reports it as
        the mean accuracy of its tasks), ``pretext/acc_chance`` is the mean of the tasks' levels."""
        levels = {f"{name}_chance": majority_rate(values) for name, values in targets.items()}
        if levels and "pretext/acc" not in targets:
            levels["pretext/acc_chance"] = sum(levels.values()) / len(levels)
        return levels


def build_method(config: MethodConfig, backbone: nn.Module, clip=None) -> PretextMethod:
    """The method named by ``config`` on ``backbone``; ``clip`` (a ClipConfig) sizes clip-dependent heads."""
    config.validate()
    return METHODS[config.name](backbone, config.typed_options(), clip)


def majority_rate(targets: torch.Tensor) -> float:
    """Accuracy of the best constant guess: the share of the most frequent value, per column of
    ``(N,)`` or ``(N, L)`` integer targets, averaged over the columns."""
    if len(targets) == 0:
        return float("nan")
    columns = targets.reshape(len(targets), -1)
    shares = [torch.unique(column, return_counts=True)[1].max().item() / len(column) for column in columns.t()]
    return float(sum(shares) / len(shares))


def accuracy(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    return (logits.argmax(dim=1) == targets).float().mean().detach()


def instance_accuracy(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Top-1 in-batch instance discrimination: is ``b_i`` the nearest (cosine) ``b`` to ``a_i``?
    ``a``, ``b``: ``(B, D)``."""
    similarity = F.normalize(a, dim=1) @ F.normalize(b, dim=1).t()
    return accuracy(similarity, torch.arange(len(a), device=a.device))


__all__ = ["METHODS", "ConfigError", "MethodConfig", "PretextMethod", "accuracy", "build_method", "instance_accuracy",
           "majority_rate", "register_method"]
