"""The pretraining loop: plain PyTorch, DDP-aware, resumable from a state dict.

``pretrain`` runs epochs ``state["epoch"] .. epochs-1`` and calls ``on_epoch_end(metrics,
state)`` after each, where ``state`` holds everything needed to continue (model, optimiser,
scheduler, epoch, torch RNG) and is safe for ``torch.load(weights_only=True)``. When
``torch.distributed`` is initialised (e.g. by Ray Train's TorchTrainer), the model is
wrapped in DDP and each rank reads its shard through a ``DistributedSampler``.

``select="best_pretext"`` (V3S) holds ``select_videos`` training videos out of pretraining,
measures the pretext accuracy on them after every epoch and returns the weights of the best
epoch; ``select="lowest_val_loss"`` (STS: "model with the lowest validation loss") does the
same with the pretext loss on them. The record (``state["best"]``) travels with the resumable
state, so a resumed run returns the same weights.

``batch_size`` is the global batch, the one the papers state: with ``W`` DDP workers each
reads ``batch_size / W`` examples per step (:func:`worker_batch_size`).
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch
import torch.distributed as dist
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from ssl_core.config import ConfigError, require
from ssl_core.curriculum import CurriculumConfig, active_indices
from ssl_core.data.dataset import SeededExamples, VideoCollection
from ssl_core.nn_utils import OPTIMISERS, make_optimiser


LR_SCHEDULES = ("cosine", "step", "constant")
# select -> (the held-out metric that ranks the epochs, the record's key, True when higher is better)
SELECTION_CRITERIA = {"best_pretext": ("pretext/acc", "acc", True), "lowest_val_loss": ("pretext/loss", "loss", False)}
SELECTIONS = ("last", *SELECTION_CRITERIA)


@dataclass(frozen=True)
class PretrainConfig:
    epochs: int = 5
    batch_size: int = 16  # the global batch: split evenly over the DDP workers
    lr: float = 0.05
    momentum: float = 0.9
    weight_decay: float = 5e-4
    warmup_epochs: int = 0
    grad_clip: float = 0.0
    optimiser: str = "sgd"  # "sgd" (most papers), "adam" (MFO) or "adamw" (momentum is then unused)
    bias_lr_mult: float = 1.0  # every bias at lr x this (STS's train.py: 2; nn_utils.parameter_groups)
    sync_batchnorm: bool = False  # DDP on GPUs only (torch's SyncBatchNorm has no CPU path)
    # After the warm-up: "cosine" to 0, "constant", or "step": x lr_step_factor once from
    # lr_step_at (a fraction of the epochs; MFO's public code: epoch 200 of 300), or, with
    # lr_step_every > 0, every lr_step_every epochs (STS: /10 every 6 epochs).
    lr_schedule: str = "cosine"
    lr_step_at: float = 2 / 3
    lr_step_every: int = 0
    lr_step_factor: float = 0.1
    # Which weights pretraining returns: the last epoch's, or the epoch's with the best pretext
    # accuracy (V3S, "best_pretext") or the lowest pretext loss (STS, "lowest_val_loss") on
    # ``select_videos`` training videos held out from pretraining.
    select: str = "last"
    select_videos: int = 800
    schedule: CurriculumConfig = field(default_factory=CurriculumConfig)

    def validate(self, prefix: str = "pretrain.") -> "PretrainConfig":
        require(self.epochs >= 0, prefix + "epochs", f"must be >= 0, got {self.epochs}")
        require(self.batch_size >= 1, prefix + "batch_size", f"must be >= 1, got {self.batch_size}")
        require(self.lr > 0, prefix + "lr", f"must be > 0, got {self.lr}")
        require(0 <= self.warmup_epochs <= max(self.epochs, 0), prefix + "warmup_epochs", f"must be in [0, epochs], got {self.warmup_epochs}")
        require(self.optimiser in OPTIMISERS, prefix + "optimiser", f"must be one of {OPTIMISERS}, got {self.optimiser!r}")
        require(self.bias_lr_mult > 0, prefix + "bias_lr_mult", f"must be > 0 (1 = the same lr as the weights), got {self.bias_lr_mult}")
        require(self.grad_clip >= 0, prefix + "grad_clip", f"must be >= 0 (0 = off), got {self.grad_clip}")
        require(self.lr_schedule in LR_SCHEDULES, prefix + "lr_schedule", f"must be one of {LR_SCHEDULES}, got {self.lr_schedule!r}")
        require(0 <= self.lr_step_at <= 1, prefix + "lr_step_at", f"must be a fraction of the epochs in [0, 1], got {self.lr_step_at}")
        require(isinstance(self.lr_step_every, int) and self.lr_step_every >= 0, prefix + "lr_step_every",
                f"must be an integer >= 0 (0: one step at lr_step_at), got {self.lr_step_every!r}")
        require(self.lr_step_factor > 0, prefix + "lr_step_factor", f"must be > 0, got {self.lr_step_factor}")
        require(self.select in SELECTIONS, prefix + "select", f"must be one of {SELECTIONS}, got {self.select!r}")
        require(isinstance(self.select_videos, int) and self.select_videos >= 1, prefix + "select_videos",
                f"must be an integer >= 1, got {self.select_videos!r}")
        self.schedule.validate(prefix + "schedule.")
        return self


class PretextExamples(SeededExamples):
    """One training example per active video per epoch from the method's sampler.

    ``sample_video(videos, index, rng)`` is the method's sampler (seeded, see
    SeededExamples: the RNG depends on the video's index in ``videos``, not its position
    in the active subset). ``indices`` restricts the examples to those videos.
    """

    def __init__(self, videos: VideoCollection, sample_video: Callable, seed: int, indices=None):
        super().__init__(videos, sample_video, seed)
        self.indices = np.arange(len(videos)) if indices is None else np.asarray(indices, dtype=np.int64)

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, position: int):
        return super().__getitem__(int(self.indices[position]))


def warmup_cosine(config: PretrainConfig) -> Callable[[int], float]:
    """Learning-rate factor per epoch: linear warm-up, then cosine to 0 (``lr_schedule="cosine"``),
    1 (``"constant"``), or with ``"step"`` a step to ``lr_step_factor`` at ``round(lr_step_at *
    epochs)``, or with ``lr_step_every`` = k > 0 ``lr_step_factor ** (e // k)`` at the e-th epoch
    after the warm-up (torch's ``StepLR``)."""

    def factor(epoch: int) -> float:
        if epoch < config.warmup_epochs:
            return (epoch + 1) / config.warmup_epochs
        if config.lr_schedule == "constant":
            return 1.0
        if config.lr_schedule == "step" and config.lr_step_every:
            return config.lr_step_factor ** ((epoch - config.warmup_epochs) // config.lr_step_every)
        if config.lr_schedule == "step":
            return config.lr_step_factor if epoch >= round(config.lr_step_at * config.epochs) else 1.0
        span = max(config.epochs - config.warmup_epochs, 1)
        return 0.5 * (1 + math.cos(math.pi * (epoch - config.warmup_epochs) / span))

    return factor


def _distributed() -> tuple[int, int]:
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def worker_batch_size(batch_size: int, workers: int) -> int:
    """Each of ``workers`` DDP workers' share of the global ``batch_size``."""
    if batch_size % workers:
        raise ConfigError("pretrain.batch_size", f"the global batch {batch_size} does not split evenly over "
                          f"{workers} workers (resources.num_workers)")
    return batch_size // workers


def _loader(dataset: Dataset, batch_size: int, seed: int) -> DataLoader:
    """Shuffled per epoch by ``(seed, epoch)`` (``set_epoch``), so a resumed run sees the same order.

    A last batch of a single example is dropped: batch norm cannot train on it.
    """
    rank, world = _distributed()
    sampler = DistributedSampler(dataset, num_replicas=world, rank=rank, shuffle=True, seed=seed)
    drop_last = len(sampler) > 1 and len(sampler) % batch_size == 1
    return DataLoader(dataset, batch_size=batch_size, sampler=sampler, drop_last=drop_last)


def pretrain(method, train_videos: VideoCollection, config: PretrainConfig, seed: int,
             val_videos: VideoCollection | None = None, state: dict | None = None,
             on_epoch_end: Callable[[dict, dict], None] | None = None, device="cpu"):
    """Train ``method`` (a PretextMethod) and return it; resumes from ``state`` when given."""
    config.validate()
    rank, world = _distributed()
    torch.manual_seed(seed + rank)
    method.to(device)
    if world > 1 and config.sync_batchnorm:
        method = torch.nn.SyncBatchNorm.convert_sync_batchnorm(method)
    model = torch.nn.parallel.DistributedDataParallel(method, find_unused_parameters=not method.uses_every_parameter) \
        if world > 1 else method
    optimiser = make_optimiser(method, config)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimiser, warmup_cosine(config))
    start_epoch = 0
    if state is not None:
        method.load_state_dict(state["model"])
        optimiser.load_state_dict(state["optimiser"])
        scheduler.load_state_dict(state["scheduler"])
        torch.set_rng_state(state["torch_rng"])
        start_epoch = int(state["epoch"])
    best = state.get("best") if state is not None else None
    scores = method.curriculum_scores(train_videos) if config.schedule.needs_scores else None
    usable = method.pretext_indices(train_videos)
    selection = selection_indices(len(train_videos), config)
    for epoch in range(start_epoch, config.epochs):
        active = active_indices(config.schedule, len(train_videos), epoch, config.epochs, seed, scores)
        active = _kept(active, usable, selection)
        examples = PretextExamples(train_videos, method.sample_video, seed, active)
        examples.set_epoch(epoch)
        loader = _loader(examples, worker_batch_size(config.batch_size, world), seed)
        loader.sampler.set_epoch(epoch)
        method.on_epoch_start(epoch, config.epochs, len(loader))
        metrics = _train_epoch(model, method, loader, optimiser, config, device)
        scheduler.step()
        metrics["epoch"] = epoch + 1
        metrics["pretext/videos"] = len(active)
        if val_videos is not None and len(val_videos):
            metrics.update(held_out_metrics(method, val_videos, config.batch_size, seed, device,
                                            method.pretext_indices(val_videos)))
        if selection is not None:
            best = _select(method, train_videos, _kept(selection, usable, None), config, seed, device, epoch, best)
            metrics.update(selection_metrics(config.select, best))
        if on_epoch_end is not None:
            epoch_state = {"epoch": epoch + 1, "model": method.state_dict(), "optimiser": optimiser.state_dict(),
                           "scheduler": scheduler.state_dict(), "torch_rng": torch.get_rng_state()}
            on_epoch_end(metrics, epoch_state if best is None else {**epoch_state, "best": best})
    if best is not None:
        method.load_state_dict(best["model"])
    return method


def selected_weights(state: dict) -> dict:
    """The weights pretraining returns from an epoch ``state``: the best-pretext epoch's when
    it recorded one (``select="best_pretext"``), else the state's own."""
    return state["best"]["model"] if state.get("best") else state["model"]


# The videos held out for best-pretext selection do not depend on the trial's seed: every arm
# and seed of a study selects on the same videos.
SELECTION_SEED = 20_211_000


def selection_indices(num_videos: int, config: PretrainConfig) -> np.ndarray | None:
    """The sorted indices of the ``select_videos`` pretraining videos held out for checkpoint
    selection (None with ``select="last"``)."""
    if config.select == "last":
        return None
    if config.select_videos >= num_videos:
        raise ConfigError("pretrain.select_videos", f"holds out {config.select_videos} of the {num_videos} pretraining "
                          f"videos for checkpoint selection; at most {num_videos - 1} can be held out")
    return np.sort(np.random.default_rng(SELECTION_SEED).permutation(num_videos)[: config.select_videos])


def _kept(indices: np.ndarray, usable: np.ndarray | None, held_out: np.ndarray | None) -> np.ndarray:
    """``indices`` among ``usable`` (None: all) and not in ``held_out``."""
    indices = np.asarray(indices, dtype=np.int64)
    if usable is not None:
        indices = indices[np.isin(indices, usable)]
    if held_out is not None:
        indices = indices[~np.isin(indices, held_out)]
    return indices


def _select(method, videos: VideoCollection, indices: np.ndarray, config: PretrainConfig, seed: int, device,
            epoch: int, best: dict | None) -> dict:
    """The selection record after ``epoch``: ``{"epoch", key, "model", "last_" + key}`` with ``key``
    ``acc`` (``best_pretext``: the highest held-out ``pretext/acc``) or ``loss``
    (``lowest_val_loss``: the lowest held-out pretext loss); the earliest epoch wins ties."""
    metric, key, higher_is_better = SELECTION_CRITERIA[config.select]
    metrics = held_out_metrics(method, videos, config.batch_size, seed, device, indices, with_loss=True)
    if metric not in metrics:
        raise ConfigError("pretrain.select", f"method {method.name!r} reports no {metric} to select on")
    value = float(metrics[metric])
    if best is None or (value > best[key] if higher_is_better else value < best[key]):
        best = {"epoch": epoch + 1, key: value,
                "model": {name: tensor.detach().clone() for name, tensor in method.state_dict().items()}}
    return {**best, "last_" + key: value}


def selection_metrics(select: str, best: dict) -> dict[str, float]:
    """What an epoch reports of the selection: ``pretext/select_<key>`` (this epoch's held-out
    value), ``pretext/selected_<key>`` and ``pretext/selected_epoch`` (the selected epoch's)."""
    key = SELECTION_CRITERIA[select][1]
    return {f"pretext/select_{key}": best["last_" + key], f"pretext/selected_{key}": best[key],
            "pretext/selected_epoch": best["epoch"]}


def _train_epoch(model, method, loader, optimiser, config: PretrainConfig, device) -> dict:
    """One epoch; ``model`` is ``method`` or its DDP wrapper (``method.after_step`` runs after each step)."""
    model.train()
    total_loss, total_acc, seen = 0.0, 0.0, 0
    started = time.perf_counter()
    for batch in loader:
        batch = {k: v.to(device) for k, v in batch.items()}
        loss, step_metrics = model(batch)
        optimiser.zero_grad()
        loss.backward()
        if config.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
        optimiser.step()
        method.after_step()
        size = len(next(iter(batch.values())))
        total_loss += loss.item() * size
        total_acc += float(step_metrics.get("pretext/acc", float("nan"))) * size
        seen += size
    seconds = time.perf_counter() - started
    return {"pretext/loss": total_loss / max(seen, 1), "pretext/train_acc": total_acc / max(seen, 1),
            "pretext/clips_per_s": seen / max(seconds, 1e-9)}


@torch.no_grad()
def held_out_metrics(method, videos: VideoCollection, batch_size: int, seed: int, device="cpu",
                     indices=None, with_loss: bool = False) -> dict[str, float]:
    """Pretext accuracies on held-out videos, one fixed example per video (same draws every epoch).

    Every accuracy the method's ``forward`` reports (``pretext/acc``, ``pretext/<task>_acc``, ...)
    averaged over the examples, and beside each the chance level ``<name>_chance`` the
    method derives from the held-out targets (:meth:`PretextMethod.chance_levels`).
    ``indices`` restricts the examples to those videos (None: all). ``with_loss`` adds
    ``pretext/loss``, the method's loss averaged over the examples.
    """
    was_training = method.training
    method.eval()
    examples = PretextExamples(videos, method.sample_video, seed + 10_000, indices)
    totals: dict[str, float] = {}
    targets: dict[str, list[torch.Tensor]] = {}
    seen = 0
    try:
        for batch in DataLoader(examples, batch_size=batch_size):
            batch = {k: v.to(device) for k, v in batch.items()}
            loss, metrics = method(batch)
            size = len(next(iter(batch.values())))
            if with_loss:
                totals["pretext/loss"] = totals.get("pretext/loss", 0.0) + float(loss) * size
            for name, value in metrics.items():
                if name.endswith("acc") or "acc_" in name:
                    totals[name] = totals.get(name, 0.0) + float(value) * size
            for name, value in method.task_targets(batch).items():
                targets.setdefault(name, []).append(value.cpu())
            seen += size
    finally:
        method.train(was_training)
    result = {name: total / max(seen, 1) for name, total in totals.items()}
    result.update(method.chance_levels({name: torch.cat(parts) for name, parts in targets.items()}))
    return result
