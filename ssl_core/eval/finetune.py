"""Fine-tuning: the backbone's weights initialise a classifier trained end to end.

Conv weights come from the backbone (random init or a checkpoint); the classifier layer is
new. Training: one random augmented clip per video per epoch, SGD with momentum (the papers')
or, with ``optimiser``, AdamW or Adam (README, "Fine-tuning from random init"),
and a cosine or step schedule. Test: clip accuracy over every test clip and video accuracy from the
softmax averaged over the K uniformly sampled clips of each video (STS section 5).

The training clip is a random start, square crop and (``flip``) mirror. ``augment`` adds CSTP's
augmentations, for the rows of CSTP Tables 1, 2 and 5 that train from scratch "with the
aforementioned data augmentation methods" (the paper's Exp. 1-4: 60.3 / 67.5 / 66.9 / 71.1 %):
- ``"pace"``: playback-rate augmentation: the clip's stride is a rate drawn uniformly from
  CSTP's (1, 2, 4, 8) whose span fits in the video (1 when none does), not predicted;
- ``"base"``: CSTP's base augmentation (``ssl_core.data.augment.BaseAugment``, p 0.3: small
  rotation, colour jitter, greyscale, blur), applied to the cropped clip;
- ``"rotation"``: rotation augmentation: a random quarter turn (0, 90, 180, 270 degrees) of
  the clip, after the base augmentation (the order of CSTP's sampler), not predicted.
Draw order: rate, window (start, crop, flip), base augmentation, quarter turn.
"""
from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

from ssl_core.config import require
from ssl_core.data.augment import BaseAugment, random_quarter_turn
from ssl_core.data.clips import random_training_clip, to_tensor
from ssl_core.data.dataset import EvalClips, SeededExamples, TrainClips, VideoCollection
from ssl_core.eval.linear import video_and_clip_accuracy
from ssl_core.nn_utils import OPTIMISERS, make_optimiser
from ssl_core.samplers.cstp import PLAYBACK_RATES, draw_playback_rate

AUGMENTATIONS = ("base", "pace", "rotation")
FINETUNE_SCHEDULES = ("cosine", "step")


@dataclass(frozen=True)
class FinetuneConfig:
    epochs: int = 10
    batch_size: int = 16
    lr: float = 0.01
    momentum: float = 0.9  # "sgd" only
    weight_decay: float = 5e-4  # L2 for "sgd" and "adam", decoupled for "adamw"
    optimiser: str = "sgd"  # the papers'; "adamw" or "adam" (README, "Fine-tuning from random init")
    bias_lr_mult: float = 1.0  # every bias at lr x this (ssl_core.nn_utils.parameter_groups)
    dropout: float = 0.5
    flip: bool = True  # off for the embedded data: its classes include left vs right motion
    augment: tuple[str, ...] = ()  # CSTP's training augmentations (module docstring): "base", "pace", "rotation"
    # "cosine" (to 0 over every step) or "step": x lr_step_factor every lr_step_every epochs (STS)
    lr_schedule: str = "cosine"
    lr_step_every: int = 6
    lr_step_factor: float = 0.1

    def validate(self, prefix: str = "finetune.") -> "FinetuneConfig":
        require(self.epochs >= 1, prefix + "epochs", f"must be >= 1, got {self.epochs}")
        require(self.batch_size >= 1, prefix + "batch_size", f"must be >= 1, got {self.batch_size}")
        require(self.lr > 0, prefix + "lr", f"must be > 0, got {self.lr}")
        require(self.optimiser in OPTIMISERS, prefix + "optimiser", f"must be one of {OPTIMISERS}, got {self.optimiser!r}")
        require(self.bias_lr_mult > 0, prefix + "bias_lr_mult", f"must be > 0 (1 = the same lr as the weights), got {self.bias_lr_mult}")
        require(0 <= self.dropout < 1, prefix + "dropout", f"must be in [0, 1), got {self.dropout}")
        require(self.lr_schedule in FINETUNE_SCHEDULES, prefix + "lr_schedule",
                f"must be one of {FINETUNE_SCHEDULES}, got {self.lr_schedule!r}")
        require(isinstance(self.lr_step_every, int) and self.lr_step_every >= 1, prefix + "lr_step_every",
                f"must be an integer >= 1, got {self.lr_step_every!r}")
        require(self.lr_step_factor > 0, prefix + "lr_step_factor", f"must be > 0, got {self.lr_step_factor}")
        require(isinstance(self.augment, tuple) and len(set(self.augment)) == len(self.augment)
                and all(name in AUGMENTATIONS for name in self.augment), prefix + "augment",
                f"must be distinct names among {', '.join(AUGMENTATIONS)}, got {self.augment!r}")
        return self


class VideoClassifier(torch.nn.Module):
    """Backbone + dropout + linear layer: ``(B, C, T, H, W)`` -> ``(B, num_classes)`` logits."""

    def __init__(self, backbone, num_classes: int, dropout: float = 0.5):
        super().__init__()
        self.backbone = backbone
        self.dropout = torch.nn.Dropout(dropout)
        self.fc = torch.nn.Linear(backbone.feature_dim, num_classes)

    def forward(self, clips: torch.Tensor) -> torch.Tensor:
        return self.fc(self.dropout(self.backbone(clips)))


def finetune(backbone, train_videos: VideoCollection, test_videos: VideoCollection, config: FinetuneConfig,
             clips_per_video: int = 10, seed: int = 0, device="cpu", on_epoch=None) -> dict[str, float]:
    """Fine-tune a copy of ``backbone``; returns ``{"clip_top1", "video_top1"}``. ``on_epoch(epoch,
    loss, accuracy)``, when given, receives each epoch's mean training loss and accuracy on its
    training clips (as trained: augmented, dropout on)."""
    config.validate()
    torch.manual_seed(seed)
    model = VideoClassifier(copy.deepcopy(backbone), train_videos.num_classes, config.dropout).to(device)
    train_set = AugmentedTrainClips(train_videos, config.augment, seed=seed, flip=config.flip) if config.augment \
        else TrainClips(train_videos, seed=seed, flip=config.flip)
    loader = DataLoader(train_set, batch_size=config.batch_size, shuffle=True,
                        generator=torch.Generator().manual_seed(seed), drop_last=len(train_set) > config.batch_size)
    optimiser = make_optimiser(model, config)
    scheduler = finetune_scheduler(optimiser, config, len(loader))
    for epoch in range(config.epochs):
        train_set.set_epoch(epoch)
        model.train()
        loss_sum, correct, seen = 0.0, 0, 0
        for clips, labels in loader:
            optimiser.zero_grad()
            logits, labels = model(clips.to(device)), labels.to(device)
            loss = F.cross_entropy(logits, labels)
            loss.backward()
            optimiser.step()
            scheduler.step()
            if on_epoch is not None:
                loss_sum += float(loss.detach()) * len(labels)
                correct += int((logits.detach().argmax(dim=1) == labels).sum())
                seen += len(labels)
        if on_epoch is not None:
            on_epoch(epoch, loss_sum / max(seen, 1), correct / max(seen, 1))
    return _score(model, test_videos, clips_per_video, config.batch_size, device)


def finetune_scheduler(optimiser, config: FinetuneConfig, steps_per_epoch: int):
    """Stepped after every batch: cosine to 0 over all steps, or (``"step"``) the lr times
    ``lr_step_factor ** (epoch // lr_step_every)``."""
    if config.lr_schedule == "step":
        return torch.optim.lr_scheduler.LambdaLR(
            optimiser, lambda step: config.lr_step_factor ** ((step // steps_per_epoch) // config.lr_step_every))
    return torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, T_max=config.epochs * steps_per_epoch)


def augmented_training_clip(frames: np.ndarray, clip, augment: tuple[str, ...], rng: np.random.Generator,
                            flip: bool = True, base: BaseAugment = BaseAugment(flip=False)) -> np.ndarray:
    """A random training clip of uint8 ``frames`` ``(T, H, W, 3)`` for ``clip`` (a ClipConfig) with
    CSTP's augmentations ``augment`` (module docstring): uint8 ``(num_frames, crop, crop, 3)``.
    ``base`` is the base augmentation; its own flip stays off, since the window mirrors."""
    if "pace" in augment:
        clip = dataclasses.replace(clip, stride=PLAYBACK_RATES[draw_playback_rate(len(frames), clip.num_frames, PLAYBACK_RATES, rng)])
    video = random_training_clip(frames, clip, rng, flip)
    if "base" in augment:
        video = base(video, rng)
    if "rotation" in augment:
        video, _ = random_quarter_turn(video, rng)
    return np.ascontiguousarray(video)


class AugmentedTrainClips(SeededExamples):
    """Labelled training clips with CSTP's augmentations ``augment`` (module docstring).
    Item: ``(clip (C, T, H, W) float32, label)``."""

    def __init__(self, videos: VideoCollection, augment: tuple[str, ...], seed: int = 0, flip: bool = True):
        super().__init__(videos, self._labelled_clip, seed)
        self.augment, self.flip = augment, flip

    def _labelled_clip(self, videos: VideoCollection, index: int, rng: np.random.Generator):
        video = augmented_training_clip(videos.frames(index), videos.clip, self.augment, rng, self.flip)
        return to_tensor(video, videos.clip.normalisation), int(videos.entries[index].label)


@torch.no_grad()
def _score(model, videos: VideoCollection, clips_per_video: int, batch_size: int, device) -> dict[str, float]:
    model.eval()
    loader = DataLoader(EvalClips(videos, clips_per_video), batch_size=batch_size, shuffle=False)
    probabilities = torch.cat([model(clips.to(device)).softmax(dim=1).cpu() for clips, _, _ in loader])
    probabilities = probabilities.view(len(videos), clips_per_video, -1)
    scores = video_and_clip_accuracy(probabilities, torch.as_tensor(videos.labels))
    return {"clip_top1": scores["clip_top1"], "video_top1": scores["top1"]}
