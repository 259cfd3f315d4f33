"""Fine-tuning: the backbone's weights initialise a classifier trained end to end.

Conv weights come from the backbone (random init or a checkpoint); the classifier layer is
new. Training: one random augmented clip per video per epoch, SGD with momentum and a
cosine schedule. Test: clip accuracy over every test clip and video accuracy from the
softmax averaged over the K uniformly sampled clips of each video (STS section 5).
"""
from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

from ssl_core.config import require
from ssl_core.data.dataset import EvalClips, TrainClips, VideoCollection
from ssl_core.eval.linear import video_and_clip_accuracy


@dataclass(frozen=True)
class FinetuneConfig:
    epochs: int = 10
    batch_size: int = 16
    lr: float = 0.01
    momentum: float = 0.9
    weight_decay: float = 5e-4
    dropout: float = 0.5
    flip: bool = True  # off for the embedded data: its classes include left vs right motion

    def validate(self, prefix: str = "finetune.") -> "FinetuneConfig":
        require(self.epochs >= 1, prefix + "epochs", f"must be >= 1, got {self.epochs}")
        require(self.batch_size >= 1, prefix + "batch_size", f"must be >= 1, got {self.batch_size}")
        require(self.lr > 0, prefix + "lr", f"must be > 0, got {self.lr}")
        require(0 <= self.dropout < 1, prefix + "dropout", f"must be in [0, 1), got {self.dropout}")
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
             clips_per_video: int = 10, seed: int = 0, device="cpu") -> dict[str, float]:
    """Fine-tune a copy of ``backbone``; returns ``{"clip_top1", "video_top1"}``."""
    config.validate()
    torch.manual_seed(seed)
    model = VideoClassifier(copy.deepcopy(backbone), train_videos.num_classes, config.dropout).to(device)
    train_set = TrainClips(train_videos, seed=seed, flip=config.flip)
    loader = DataLoader(train_set, batch_size=config.batch_size, shuffle=True,
                        generator=torch.Generator().manual_seed(seed), drop_last=len(train_set) > config.batch_size)
    optimiser = torch.optim.SGD(model.parameters(), lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, T_max=config.epochs * len(loader))
    for epoch in range(config.epochs):
        train_set.set_epoch(epoch)
        model.train()
        for clips, labels in loader:
            optimiser.zero_grad()
            F.cross_entropy(model(clips.to(device)), labels.to(device)).backward()
            optimiser.step()
            scheduler.step()
    return _score(model, test_videos, clips_per_video, config.batch_size, device)


@torch.no_grad()
def _score(model, videos: VideoCollection, clips_per_video: int, batch_size: int, device) -> dict[str, float]:
    model.eval()
    loader = DataLoader(EvalClips(videos, clips_per_video), batch_size=batch_size, shuffle=False)
    probabilities = torch.cat([model(clips.to(device)).softmax(dim=1).cpu() for clips, _, _ in loader])
    probabilities = probabilities.view(len(videos), clips_per_video, -1)
    scores = video_and_clip_accuracy(probabilities, torch.as_tensor(videos.labels))
    return {"clip_top1": scores["clip_top1"], "video_top1": scores["top1"]}
