"""``v3s``: video 3D sampling (V3S, spec ``v3s.md``): predict the spatial and the temporal
transformation a clip was given.

Views (``ssl_core.samplers.v3s``): one clip, warped by a spatial setting (identity, scale
``S_S(a, b)``, projection ``S_P(c, side)``) and sampled by a temporal one (identity, scale
``T_S(s)``, projection ``T_P(p1, p2)``). Heads: two linear layers on the pooled backbone
feature, spatial and temporal, over the enabled classes. Loss: ``L = L_S + L_T``, plain
cross-entropy (a head whose families are all disabled is absent, and so is its term).

A family is disabled by an empty set: Table 1's rows enable one family each. Readings the
paper leaves open (spec), each an option, our default first:
- ``identity_class`` (true): the untransformed clip is a class of each head;
- ``projection_target`` ``joint`` (one class per ``(c, side)``) | ``c_only``;
- ``class_draw`` ``uniform`` over a head's classes | ``family`` first, then a setting;
- ``temporal_stride`` ``s`` (stride ``s``, as the pace-prediction code) | ``s_minus_1``
  (every stride one less, as the paper's formula reads; the clip keeps ``num_frames`` frames,
  not the formula's one more);
- ``short_video`` ``wrap`` to the start (the pace-prediction code's loop: a step past the last
  frame lands on the first) | ``skip`` the video;
- ``flip`` (true): a random horizontal flip of the content before the warp, which the paper
  does not name (the labels do not depend on it); ``false`` leaves it out.
Warping before or after the 224 resize is one map (see the sampler), so it is no option.

Pretext accuracies: ``pretext/spatial_acc``, ``pretext/temporal_acc`` and ``pretext/acc``,
their mean over the present heads.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ssl_core.config import require, require_bool, require_choice, require_int, require_number
from ssl_core.data.clips import to_tensor
from ssl_core.methods.base import PretextMethod, accuracy, register_method
from ssl_core.samplers.v3s import (
    CLASS_DRAWS, PROJECTION_TARGETS, SHORT_VIDEOS, TEMPORAL_STRIDES, V3SSampler,
)

# Table 1's sets; the defaults are the rows Table 3 keeps (the best of each family).
SPATIAL_SCALE_SETS = (
    ((1, 1.15), (1, 1.3), (1, 1.45), (1.15, 1), (1.3, 1), (1.45, 1)),
    ((1, 1.3), (1, 1.6), (1, 1.9), (1.3, 1), (1.6, 1), (1.9, 1)),
    ((1, 1.45), (1, 1.9), (1, 2.35), (1.45, 1), (1.9, 1), (2.35, 1)),
)
PROJECTION_SETS = ((0.8, 0.75, 0.7), (0.8, 0.7, 0.6), (0.8, 0.65, 0.5))
TEMPORAL_SCALE_SETS = ((1, 2), (1, 2, 3), (1, 2, 3, 4))
TEMPORAL_PROJECTION_SETS = (
    ((1, 2), (2, 3), (2, 1), (3, 2)),
    ((1, 2), (2, 3), (3, 4), (2, 1), (3, 2), (4, 3)),
    ((1, 2), (2, 3), (3, 4), (4, 5), (2, 1), (3, 2), (4, 3), (5, 4)),
)
# The paper's family names -> the option holding each family's set (empty: disabled).
FAMILIES = {"S_S": "spatial_scales", "S_P": "projections", "T_S": "temporal_scales", "T_P": "temporal_projections"}
FAMILY_OPTIONS = tuple(FAMILIES.values())
# Table 3's sets: the best Table 1 row of each family.
TABLE3_SETS = {"S_S": SPATIAL_SCALE_SETS[0], "S_P": PROJECTION_SETS[2], "T_S": TEMPORAL_SCALE_SETS[1],
               "T_P": TEMPORAL_PROJECTION_SETS[2]}

# What the V3S studies run at the ``default`` preset (README, "V3S"): 6 epochs, the
# best-pretext checkpoint chosen on 100 held-out training videos; the paper's tables report
# UCF101 fine-tuning only, so only UCF101 is evaluated (fine-tune, linear, kNN), and
# fine-tuning runs 4 epochs instead of the preset's 16: one trial measured 131 s of
# pretraining and 359 s of evaluation with 16 (2026-12-05, one core).
LAPTOP_STUDY_BUDGET = {"pretrain.epochs": 6, "pretrain.select_videos": 100, "eval_datasets": ("ucf",),
                       "eval.protocols": ("finetune", "linear", "knn"), "eval.finetune.epochs": 4}

# What the V3S studies report besides the paper's UCF101 fine-tuning top-1.
STUDY_METRICS = ("linear/ucf/top1", "knn/ucf/top1", "pretext/acc", "pretext/spatial_acc", "pretext/temporal_acc")


def family_factors(**sets) -> dict:
    """Dotted factors enabling exactly the given families (``S_S=..., T_P=...``), the others empty."""
    unknown = set(sets) - set(FAMILIES)
    if unknown:
        raise ValueError(f"unknown V3S families {sorted(unknown)} (known: {', '.join(FAMILIES)})")
    return {f"method.options.{option}": tuple(sets.get(name, ())) for name, option in FAMILIES.items()}


def set_label(family: str, values) -> str:
    """The paper's way of writing a family's set: ``S_S {(1,1.15),(1,1.3)}``, ``T_S {1,2}``."""
    def text(value):
        if isinstance(value, tuple):
            return "(" + ",".join(text(v) for v in value) + ")"
        return f"{value:g}" if isinstance(value, float) else str(value)

    return f"{family} {{{','.join(text(v) for v in values)}}}"


def _pairs(values) -> tuple:
    return tuple(tuple(v) if isinstance(v, (list, tuple)) else v for v in values)


@dataclass(frozen=True)
class V3SOptions:
    spatial_scales: tuple = SPATIAL_SCALE_SETS[0]
    projections: tuple = PROJECTION_SETS[2]
    temporal_scales: tuple = TEMPORAL_SCALE_SETS[1]
    temporal_projections: tuple = TEMPORAL_PROJECTION_SETS[2]
    identity_class: bool = True
    projection_target: str = "joint"
    class_draw: str = "uniform"
    temporal_stride: str = "s"
    short_video: str = "wrap"
    frame_size: int = 0  # the square size frames are resized to before the crop (paper 224; 0: as loaded)
    flip: bool = True

    def __post_init__(self):
        for name in FAMILY_OPTIONS:  # JSON gives lists of lists
            value = getattr(self, name)
            if isinstance(value, (list, tuple)):
                object.__setattr__(self, name, _pairs(value))

    def validate(self, prefix: str = "method.options.") -> "V3SOptions":
        for name in FAMILY_OPTIONS:
            require(isinstance(getattr(self, name), tuple), prefix + name, f"must be a list, got {getattr(self, name)!r}")
        for i, pair in enumerate(self.spatial_scales):
            field = f"{prefix}spatial_scales[{i}]"
            require(isinstance(pair, tuple) and len(pair) == 2, field, f"must be an (a, b) pair, got {pair!r}")
            a, b = (require_number(v, field, minimum=1) for v in pair)  # a shrink would show the replicated border
            require((a == 1) != (b == 1), field, f"exactly one of a, b must be 1 (the spec's S_S), got {pair!r}")
        for i, c in enumerate(self.projections):
            require_number(c, f"{prefix}projections[{i}]", minimum=1e-6, maximum=0.999999)
        for i, s in enumerate(self.temporal_scales):
            require_int(s, f"{prefix}temporal_scales[{i}]", minimum=1)
        for i, pair in enumerate(self.temporal_projections):
            field = f"{prefix}temporal_projections[{i}]"
            require(isinstance(pair, tuple) and len(pair) == 2, field, f"must be a (p1, p2) pair, got {pair!r}")
            p1, p2 = (require_int(v, field, minimum=1) for v in pair)
            require(p1 != p2, field, f"p1 and p2 must differ (equal strides are T_S), got {pair!r}")
        for name in FAMILY_OPTIONS:
            values = getattr(self, name)
            require(len(set(values)) == len(values), prefix + name, f"has repeated settings: {values!r}")
        require(any(getattr(self, name) for name in FAMILY_OPTIONS), prefix + "spatial_scales",
                "every family is disabled (all four sets empty): enable at least one")
        require_bool(self.identity_class, prefix + "identity_class")
        require_choice(self.projection_target, prefix + "projection_target", PROJECTION_TARGETS)
        require_choice(self.class_draw, prefix + "class_draw", CLASS_DRAWS)
        require_choice(self.temporal_stride, prefix + "temporal_stride", TEMPORAL_STRIDES)
        require_choice(self.short_video, prefix + "short_video", SHORT_VIDEOS)
        require_int(self.frame_size, prefix + "frame_size", minimum=0)
        require_bool(self.flip, prefix + "flip")
        return self


@register_method("v3s")
class V3S(PretextMethod):
    options_class = V3SOptions
    # The paper's setting (section 4.1.2): SGD lr 0.01, momentum 0.9, batch 32, 300 epochs, no
    # schedule named (constant), frames resized to 224 x 224 and cropped to 112, the checkpoint
    # with the best pretext accuracy on 800 held-out training videos; the VCOP-style R(2+1)D;
    # fine-tuning as VCOP: lr 1e-3, batch 8, stopped after 160 epochs (section 4.3).
    paper_factors = {"backbone.name": "r21d_vcop", "pretrain.optimiser": "sgd", "pretrain.lr": 0.01,
                     "pretrain.momentum": 0.9, "pretrain.batch_size": 32, "pretrain.epochs": 300,
                     "pretrain.warmup_epochs": 0, "pretrain.grad_clip": 0.0, "pretrain.lr_schedule": "constant",
                     "pretrain.select": "best_pretext", "pretrain.select_videos": 800,
                     "method.options.frame_size": 224, "eval.finetune.lr": 1e-3, "eval.finetune.batch_size": 8,
                     "eval.finetune.epochs": 160}
    # The laptop presets keep the paper's backbone (``smoke``) ...
    laptop_factors = {"backbone.name": "r21d_vcop", "pretrain.select": "best_pretext", "pretrain.select_videos": 16}
    # ... but ``default`` trains C3D at lr 5e-4, measured on 2026-12-06 (README, "The learning
    # check"): on R(2+1)D at lr 2e-3 or 5e-4 the temporal head stayed at or near its majority
    # answer, even with the temporal scale alone (41.5 % against a chance of 37.7 %, linear ucf
    # -2.3 points against a random-init R(2+1)D); on C3D at 5e-4 the temporal families alone
    # learned (T_S 59.1 % against 37.7; T_S + T_P 33.0 against 11.2) and gained +17.6 and +21.2
    # points of linear probe on ucf over a random-init C3D (seed 0; seed 1: +26.3, +20.8). With
    # the spatial families on as well, full V3S gains nothing (-3.4, -1.3). The same reading as CSTP's
    # ``default_factors``: C3D is one of the paper's backbones (its Table 2). A study's backbone
    # still wins; ``--set backbone.name=r21d_vcop pretrain.lr=2e-3`` gives the earlier default.
    default_factors = {"backbone.name": "c3d", "pretrain.lr": 5e-4}

    def __init__(self, backbone, options: V3SOptions, clip=None):
        super().__init__(backbone, options, clip)
        if clip is None:
            raise ValueError("clip: V3S sizes its heads from the clip config (num_frames, crop)")
        self.sampler = V3SSampler(options, clip)
        counts = {"spatial": len(self.sampler.spatial_classes), "temporal": len(self.sampler.temporal_classes)}
        self.heads = nn.ModuleDict({head: nn.Linear(backbone.feature_dim, n) for head, n in counts.items() if n})

    def sample(self, frames, clip, rng):
        """uint8 ``(T_video, H, W, 3)`` -> ``clip`` ``(C, T, S, S)`` and int64 scalar class targets
        ``spatial`` and ``temporal`` (present heads only)."""
        video, draw = self.sampler(frames, rng)
        example = {"clip": to_tensor(video, clip.normalisation)}
        for head in self.heads:
            example[head] = torch.tensor(getattr(draw, head), dtype=torch.long)
        return example

    def pretext_indices(self, videos) -> np.ndarray | None:
        if self.options.short_video != "skip":
            return None
        return np.array([i for i, length in enumerate(videos.lengths) if self.sampler.fits(length)], dtype=np.int64)

    def forward(self, batch):
        """``batch["clip"]``: ``(B, C, T, H, W)``; ``batch[head]``: ``(B,)`` class indices.
        Returns ``(L_S + L_T, metrics)``."""
        features = self.backbone(batch["clip"])
        loss, metrics, accuracies = 0.0, {}, []
        for head, layer in self.heads.items():
            logits = layer(features)
            term = F.cross_entropy(logits, batch[head])
            loss = loss + term
            metrics[f"pretext/loss_{head}"] = term.detach()
            metrics[f"pretext/{head}_acc"] = accuracy(logits, batch[head])
            accuracies.append(metrics[f"pretext/{head}_acc"])
        metrics["pretext/acc"] = torch.stack(accuracies).mean()
        return loss, metrics

    def task_targets(self, batch):
        return {f"pretext/{head}_acc": batch[head] for head in self.heads}
