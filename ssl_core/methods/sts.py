"""``sts``: predict the spatio-temporal statistics labels of a clip (STS journal / MAS).

The sampler draws a clip (random start, random square crop, random horizontal flip),
computes optical flow on the resized frames the network sees, crops and flips it with the
clip (flip semantics per ``label_impl``), and computes the 14 motion + 13 appearance labels
of ``ssl_core.labels.sts`` on the result. Flow is computed on the fly here (cheap at laptop
sizes with DIS); the Ray Data label pipeline (issue 4) will precompute it for paper scale.

Targets (``options.target``):
- ``regression``: one linear layer regressing the selected raw integer labels with MSE;
  loss = lambda_m * MSE(motion labels) + lambda_a * MSE(appearance labels).
- ``classification``: one linear head + cross-entropy per selected label (the official
  pattern-1 "no motion" label 0 is class 0 of its head); the same lambda weighting of the
  mean cross-entropy of each kind.
Pretext accuracy: fraction of selected labels predicted exactly (regression rounded).
The 2-D regression target of Table 4 is not implemented yet.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ssl_core.config import require
from ssl_core.data.clips import clip_indices, random_clip_start, to_tensor
from ssl_core.labels.flow import FLOW_ALGORITHMS, compute_flow
from ssl_core.labels.sts import LABEL_IMPLS, LABEL_NAMES_APPEARANCE, LABEL_NAMES_MOTION, compute_labels, flip_clip, num_classes
from ssl_core.methods.base import PretextMethod, register_method

LABEL_NAMES = LABEL_NAMES_MOTION + LABEL_NAMES_APPEARANCE
NUM_MOTION = len(LABEL_NAMES_MOTION)
# Label groups of STS Table 1 (a: patterns, b: local/global, c: motion/appearance), as indices into LABEL_NAMES.
LABEL_GROUPS = {
    "motion_p1": (0, 1, 2, 3), "motion_p2": (4, 5, 6, 7), "motion_p3": (8, 9, 10, 11), "motion_global": (12, 13),
    "appearance_p1": (14, 15, 16, 17), "appearance_p2": (18, 19, 20, 21), "appearance_p3": (22, 23, 24, 25),
    "appearance_global": (26,),
}
TARGETS = ("regression", "classification")


@dataclass(frozen=True)
class STSOptions:
    target: str = "regression"
    groups: tuple[str, ...] = tuple(LABEL_GROUPS)
    lambda_m: float = 1.0
    lambda_a: float = 0.1
    label_impl: str = "official"
    flow: str = "dis"

    def validate(self, prefix: str = "method.options.") -> "STSOptions":
        require(self.target in TARGETS, prefix + "target", f"must be one of {TARGETS}, got {self.target!r}")
        require(len(self.groups) > 0, prefix + "groups", "at least one label group is needed")
        for group in self.groups:
            require(group in LABEL_GROUPS, prefix + "groups", f"unknown group {group!r} (known: {', '.join(LABEL_GROUPS)})")
        require(self.lambda_m >= 0 and self.lambda_a >= 0, prefix + "lambda_m", "loss weights must be >= 0")
        require(self.label_impl in LABEL_IMPLS, prefix + "label_impl", f"must be one of {LABEL_IMPLS}, got {self.label_impl!r}")
        require(self.flow in FLOW_ALGORITHMS, prefix + "flow", f"must be one of {FLOW_ALGORITHMS}, got {self.flow!r}")
        return self

    @property
    def label_indices(self) -> tuple[int, ...]:
        return tuple(sorted({i for group in self.groups for i in LABEL_GROUPS[group]}))


def clip_labels(video: np.ndarray, top: int, left: int, size: int, flip: bool, options: STSOptions):
    """(cropped/flipped RGB clip, the 27 labels) for resized frames ``video`` (T, H, W, 3).

    Flow is computed on the whole resized frames, then cropped (and flipped) with the RGB.
    """
    flow_u, flow_v = compute_flow(video, options.flow)
    window = (slice(None), slice(top, top + size), slice(left, left + size))
    rgb, flow_u, flow_v = video[window], flow_u[window], flow_v[window]
    if flip:
        rgb, flow_u, flow_v = flip_clip(rgb, flow_u, flow_v, options.label_impl)
    labels = compute_labels(np.ascontiguousarray(rgb), flow_u, flow_v, options.label_impl)
    return rgb, np.concatenate([labels["motion"], labels["appearance"]])


@register_method("sts")
class STS(PretextMethod):
    options_class = STSOptions

    def __init__(self, backbone, options: STSOptions, clip=None):
        super().__init__(backbone, options, clip)
        self.indices = options.label_indices
        if options.target == "regression":
            self.head = nn.Linear(backbone.feature_dim, len(self.indices))
        else:
            classes = num_classes(clip.num_frames if clip is not None else 16)
            # +1: class 0 is the official "no motion" pattern-1 label; labels are otherwise 1-based
            self.heads = nn.ModuleList(nn.Linear(backbone.feature_dim, classes[LABEL_NAMES[i]] + 1) for i in self.indices)

    def sample(self, frames, clip, rng):
        start = random_clip_start(len(frames), clip.num_frames, clip.stride, rng)
        video = frames[clip_indices(start, clip.num_frames, clip.stride)]
        top = int(rng.integers(0, video.shape[1] - clip.crop + 1))
        left = int(rng.integers(0, video.shape[2] - clip.crop + 1))
        rgb, labels = clip_labels(video, top, left, clip.crop, bool(rng.random() < 0.5), self.options)
        return {"clip": to_tensor(rgb), "labels": torch.from_numpy(labels[list(self.indices)].astype(np.int64))}

    def forward(self, batch):
        """``batch["clip"]``: ``(B, C, T, H, W)``; ``batch["labels"]``: ``(B, L)`` selected integer labels."""
        features = self.backbone(batch["clip"])
        labels = batch["labels"]
        is_motion = torch.tensor([i < NUM_MOTION for i in self.indices], device=labels.device)
        if self.options.target == "regression":
            outputs = self.head(features)
            per_label = ((outputs - labels.float()) ** 2).mean(dim=0)
            correct = (outputs.round() == labels).float()
        else:
            logits = [head(features) for head in self.heads]
            per_label = torch.stack([F.cross_entropy(l, labels[:, k]) for k, l in enumerate(logits)])
            correct = torch.stack([l.argmax(dim=1) == labels[:, k] for k, l in enumerate(logits)], dim=1).float()
        loss = self._weighted(per_label, is_motion)
        return loss, {"pretext/acc": correct.mean().detach()}

    def _weighted(self, per_label: torch.Tensor, is_motion: torch.Tensor) -> torch.Tensor:
        """lambda_m * mean over motion labels + lambda_a * mean over appearance labels (kinds present)."""
        loss = per_label.new_zeros(())
        if is_motion.any():
            loss = loss + self.options.lambda_m * per_label[is_motion].mean()
        if (~is_motion).any():
            loss = loss + self.options.lambda_a * per_label[~is_motion].mean()
        return loss
