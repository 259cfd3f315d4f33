"""``rotation``: predict which of 4 rotations (0, 90, 180, 270 degrees) a clip was given.

Every frame of the clip is rotated alike in the (H, W) plane; the head is a linear layer on
the pooled backbone feature, trained with cross-entropy. A single-clip task of its own: CSTP's
rotation task (``cstp``, ``rotation=True``) has an MLP head on both clips of a pair.
Views: ``ssl_core.samplers.rotation``.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ssl_core.config import require_bool
from ssl_core.data.augment import NUM_QUARTER_TURNS
from ssl_core.data.clips import to_tensor
from ssl_core.methods.base import PretextMethod, accuracy, register_method
from ssl_core.samplers.rotation import rotated_clip


@dataclass(frozen=True)
class RotationOptions:
    flip: bool = True

    def validate(self, prefix: str = "method.options.") -> "RotationOptions":
        require_bool(self.flip, prefix + "flip")
        return self


@register_method("rotation")
class Rotation(PretextMethod):
    options_class = RotationOptions

    def __init__(self, backbone, options: RotationOptions, clip=None):
        super().__init__(backbone, options, clip)
        self.head = nn.Linear(backbone.feature_dim, NUM_QUARTER_TURNS)

    def sample(self, frames, clip, rng):
        video, quarter_turns = rotated_clip(frames, clip, rng, self.options.flip)
        return {"clip": to_tensor(video, clip.normalisation), "rotation": torch.tensor(quarter_turns)}

    def forward(self, batch):
        """``batch["clip"]``: ``(B, C, T, H, W)``; ``batch["rotation"]``: ``(B,)`` in 0..3."""
        logits = self.head(self.backbone(batch["clip"]))
        loss = F.cross_entropy(logits, batch["rotation"])
        return loss, {"pretext/acc": accuracy(logits, batch["rotation"])}

    def task_targets(self, batch):
        return {"pretext/acc": batch["rotation"]}
