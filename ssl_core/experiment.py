"""One trial of a study, without Ray: load data, pretrain a method (unless ``scratch``), save
its backbone, evaluate (:func:`run_trial`).

:class:`TrialConfig` is the complete, typed, validated description of a trial; a study
arm changes it through dotted factor paths (``{"method.name": "rotation",
"pretrain.epochs": 3}``). The Ray layer (``ray_jobs``) only adds reporting, checkpoints,
scheduling and distribution around :func:`run_trial`.
"""
from __future__ import annotations

import dataclasses
import time
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

from ssl_core.backbones import BackboneConfig
from ssl_core.checkpoint import save_backbone
from ssl_core.config import ConfigError, require, require_type
from ssl_core.data.config import DATASET_KEYS, ClipConfig, DataConfig
from ssl_core.data.dataset import VideoCollection
from ssl_core.eval.downstream import load_datasets
from ssl_core.eval.protocols import EvalConfig, evaluate
from ssl_core.labels.store import LabelPipelineConfig
from ssl_core.methods import METHODS, MethodConfig, build_method
from ssl_core.pretrain import PretrainConfig, pretrain


@dataclass(frozen=True)
class ResourceConfig:
    """Per trial: ``num_workers`` > 1 runs DDP through Ray Train's TorchTrainer."""

    num_workers: int = 1
    use_gpu: bool = False
    cpus_per_worker: float = 1.0

    def validate(self, prefix: str = "resources.") -> "ResourceConfig":
        require(self.num_workers >= 1, prefix + "num_workers", f"must be >= 1, got {self.num_workers}")
        require(self.cpus_per_worker > 0, prefix + "cpus_per_worker", f"must be > 0, got {self.cpus_per_worker}")
        return self


@dataclass(frozen=True)
class TrialConfig:
    backbone: BackboneConfig = field(default_factory=BackboneConfig)
    method: MethodConfig = field(default_factory=MethodConfig)
    clip: ClipConfig = field(default_factory=ClipConfig)
    pretrain: PretrainConfig = field(default_factory=PretrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    data: DataConfig = field(default_factory=DataConfig)
    pretrain_dataset: str = "ucf"
    eval_datasets: tuple[str, ...] = DATASET_KEYS
    resources: ResourceConfig = field(default_factory=ResourceConfig)
    seed: int = 0

    def validate(self) -> "TrialConfig":
        self.backbone.validate()
        self.method.validate()
        self.clip.validate()
        self.pretrain.validate()
        self.eval.validate()
        self.data.validate()
        self.resources.validate()
        require(self.pretrain.batch_size % self.resources.num_workers == 0, "pretrain.batch_size",
                f"is the global batch and must split evenly over resources.num_workers={self.resources.num_workers}, "
                f"got {self.pretrain.batch_size}")
        require(not self.pretrain.sync_batchnorm or self.resources.use_gpu, "pretrain.sync_batchnorm",
                "synchronised batch norm works on GPUs only (set resources.use_gpu, or turn it off)")
        require(self.pretrain_dataset in DATASET_KEYS, "pretrain_dataset", f"unknown dataset {self.pretrain_dataset!r} (known: {', '.join(DATASET_KEYS)})")
        require(len(self.eval_datasets) > 0, "eval_datasets", "at least one dataset is needed")
        for key in self.eval_datasets:
            require(key in DATASET_KEYS, "eval_datasets", f"unknown dataset {key!r} (known: {', '.join(DATASET_KEYS)})")
        return self

    @property
    def pretrains(self) -> bool:
        return METHODS[self.method.name].pretrains and self.pretrain.epochs > 0

    def label_pipeline(self) -> LabelPipelineConfig | None:
        """The labels the method needs computed before training, on the pretraining set (or None)."""
        method = METHODS[self.method.name]
        return method.label_pipeline(self.method.typed_options(), self.clip, self.data.split) if self.pretrains else None

    def with_label_store(self, store: str | Path) -> "TrialConfig":
        """This trial reading its labels from the computed ``store`` folder."""
        options = METHODS[self.method.name].with_label_store(dict(self.method.options), str(store))
        return dataclasses.replace(self, method=dataclasses.replace(self.method, options=options))


def with_factors(config: Any, factors: dict[str, Any]) -> Any:
    """``config`` with each dotted path in ``factors`` set (``"pretrain.epochs": 3``).

    ``method.name`` is applied first, whatever its place in ``factors``: setting it to another
    method drops the previous method's options (a ``scratch`` arm of a CSTP study does not
    inherit CSTP's options), and the ``method.options.*`` given beside it are kept. A list
    given for a tuple field becomes a tuple (values parsed from JSON).
    """
    for path, value in sorted(factors.items(), key=lambda item: item[0] != "method.name"):
        if path == "method.name" and isinstance(config, TrialConfig) and value != config.method.name:
            config = dataclasses.replace(config, method=MethodConfig(value))
        config = _set_path(config, path.split("."), value, path)
    return config


def _set_path(config: Any, parts: list[str], value: Any, full_path: str) -> Any:
    head = parts[0]
    names = {f.name for f in dataclasses.fields(config)} if dataclasses.is_dataclass(config) else set()
    if head not in names:
        if isinstance(config, dict) and len(parts) == 1:  # free-form options (method.options.<key>)
            return {**config, head: value}
        raise ConfigError(full_path, f"unknown factor: {type(config).__name__} has no field {head!r}")
    if len(parts) == 1:
        if isinstance(getattr(config, head), tuple) and isinstance(value, list):
            value = tuple(value)
        require_type(value, typing.get_type_hints(type(config))[head], full_path)
        return dataclasses.replace(config, **{head: value})
    return dataclasses.replace(config, **{head: _set_path(getattr(config, head), parts[1:], value, full_path)})


def load_trial_data(config: TrialConfig) -> tuple[tuple[VideoCollection, VideoCollection], dict]:
    """``((pretrain train, pretrain held-out), {eval key: (train, test)})``, decoded once."""
    keys = tuple(dict.fromkeys((config.pretrain_dataset,) + tuple(config.eval_datasets)))
    datasets = load_datasets(config.data, config.clip, keys)
    return datasets[config.pretrain_dataset], {key: datasets[key] for key in config.eval_datasets}


def build_trial_method(config: TrialConfig):
    torch.manual_seed(config.seed)
    return build_method(config.method, config.backbone.build(), config.clip)


def pretrain_trial(config: TrialConfig, pretrain_data, state: dict | None = None,
                   on_epoch_end: Callable[[dict, dict], None] | None = None, device="cpu"):
    """The trial's pretrained method (``pretrain.epochs`` epochs from ``state``)."""
    method = build_trial_method(config)
    train, held_out = pretrain_data
    if not config.pretrains:
        return method
    return pretrain(method, train, config.pretrain, config.seed, val_videos=held_out, state=state,
                    on_epoch_end=on_epoch_end, device=device)


def pretrain_here(config: TrialConfig, pretrain_data, state: dict | None = None,
                  on_epoch_end: Callable[[dict, dict], None] | None = None, device="cpu"):
    """Pretrain in this process: ``(backbone, the last epoch's metrics)`` (from ``state["metrics"]``
    when ``state`` already holds every epoch)."""
    last = dict(state.get("metrics", {})) if state else {}

    def record(metrics: dict, epoch_state: dict) -> None:
        last.clear()
        last.update(metrics)
        if on_epoch_end is not None:
            on_epoch_end(metrics, epoch_state)

    return pretrain_trial(config, pretrain_data, state, record, device).backbone, last


def evaluate_trial(config: TrialConfig, backbone, eval_data, device="cpu") -> dict[str, float]:
    return evaluate(backbone, eval_data, dataclasses.replace(config.eval, seed=config.seed), device)


# (config, pretrain data, state, on_epoch_end, device) -> (backbone, last epoch's metrics)
Pretrainer = Callable[..., tuple[nn.Module, dict]]


@dataclass
class TrialOutcome:
    """``metrics``: the last epoch's ``pretext/*`` then the evaluation metrics; ``seconds``:
    ``{"pretrain", "eval"}`` wall times; ``backbone``: the evaluated backbone."""

    metrics: dict[str, float]
    seconds: dict[str, float]
    backbone: nn.Module


def run_trial(config: TrialConfig, data=None, state: dict | None = None,
              on_epoch_end: Callable[[dict, dict], None] | None = None, device="cpu",
              backbone_dir: str | Path | None = None, backbone_extra: dict | None = None,
              pretrainer: Pretrainer = pretrain_here) -> TrialOutcome:
    """Load data, pretrain (unless the method does not), save the backbone, evaluate.

    ``data`` is ``load_trial_data(config)`` when already decoded; ``state`` a pretraining
    state to resume from; ``on_epoch_end(metrics, state)`` is called after every epoch;
    ``backbone_dir`` receives the backbone (``ssl_core.checkpoint``) before evaluation;
    ``pretrainer`` replaces the in-process loop (the Ray layer's DDP workers).
    """
    config.validate()
    pretrain_data, eval_data = data if data is not None else load_trial_data(config)
    started = time.perf_counter()
    if config.pretrains:
        backbone, last = pretrainer(config, pretrain_data, state, on_epoch_end, device)
    else:
        backbone, last = build_trial_method(config).backbone, {}
    pretrained = time.perf_counter()
    if backbone_dir is not None:
        save_backbone(backbone_dir, backbone, config.backbone, extra=backbone_extra)
    metrics = {name: float(value) for name, value in last.items() if name.startswith("pretext/")}
    metrics.update(evaluate_trial(config, backbone, eval_data, device))
    return TrialOutcome(metrics, {"pretrain": pretrained - started, "eval": time.perf_counter() - pretrained}, backbone)
