"""``rotation``: predict which of 4 rotations (0, 90, 180, 270 degrees) a clip was given.

Every frame of the clip is rotated alike in the (H, W) plane; the head is a linear layer on
the pooled backbone feature, trained with cross-entropy (CSTP uses this as a pretext task).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ssl_core.config import require
from ssl_core.data.clips import random_training_clip, to_tensor
from ssl_core.methods.base import PretextMethod, accuracy, register_method

NUM_ROTATIONS = 4


@dataclass(frozen=True)
class RotationOptions:
    flip: bool = True

    def validate(self, prefix: str = "method.options.") -> "RotationOptions":
        require(isinstance(self.flip, bool), prefix + "flip", f"must be true or false, got {self.flip!r}")
        return self


def rotate_clip(video: np.ndarray, quarter_turns: int) -> np.ndarray:
    """Rotate uint8 ``(T, H, W, 3)`` frames counter-clockwise by ``quarter_turns`` x 90 degrees."""
    return np.rot90(video, k=quarter_turns, axes=(1, 2))


@register_method("rotation")
class Rotation(PretextMethod):
    options_class = RotationOptions

    def __init__(self, backbone, options: RotationOptions, clip=None):
        super().__init__(backbone, options, clip)
        self.head = nn.Linear(backbone.feature_dim, NUM_ROTATIONS)

    def sample(self, frames, clip, rng):
        quarter_turns = int(rng.integers(NUM_ROTATIONS))
        video = rotate_clip(random_training_clip(frames, clip, rng, self.options.flip), quarter_turns)
        return {"clip": to_tensor(video), "rotation": torch.tensor(quarter_turns)}

    def forward(self, batch):
        """``batch["clip"]``: ``(B, C, T, H, W)``; ``batch["rotation"]``: ``(B,)`` in 0..3."""
        logits = self.head(self.backbone(batch["clip"]))
        loss = F.cross_entropy(logits, batch["rotation"])
        return loss, {"pretext/acc": accuracy(logits, batch["rotation"])}

    def task_targets(self, batch):
        return {"pretext/acc": batch["rotation"]}
