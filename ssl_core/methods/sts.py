"""``sts``: predict the spatio-temporal statistics labels of a clip (STS journal / MAS).

Views and labels come from ``ssl_core.samplers.sts`` (a random clip, its flow from the label
store or on the fly, the 14 motion + 13 appearance labels). Before a study runs, the
method's :meth:`STS.label_pipeline` names the store it needs (the Ray Data pipeline fills
it once per dataset) and :meth:`STS.with_label_store` points the trial at it.

Targets (``options.target``):
- ``regression``: one linear layer regressing the selected raw integer labels with MSE;
  loss = lambda_m * MSE(motion numbers) + lambda_a * MSE(appearance numbers).
- ``regression_2d``: the same with the location labels of patterns 1 and 3 as 2-D
  coordinates (``ssl_core.labels.sts.labels_2d``: 35 numbers for all 27 labels).
- ``classification``: one linear head + cross-entropy per selected label (the official
  pattern-1 "no motion" label 0 is class 0 of its head); the same lambda weighting of the
  mean cross-entropy of each kind.
Pretext accuracy ``pretext/acc``: the mean per-label accuracy, i.e. the fraction of (clip,
selected label) pairs predicted exactly (regression rounded; a 2-D label counts only when
both coordinates are right); ``pretext/acc_<group>`` the same over one label group. Each
has a ``_chance`` companion on held-out videos (the most frequent value of each label).
Curriculum score of a video: the mean score over its clip starts of the centre crop.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ssl_core.config import require, require_choice, require_number
from ssl_core.data.clips import to_tensor
from ssl_core.labels.flow import FLOW_ALGORITHMS
from ssl_core.labels.store import LabelPipelineConfig
from ssl_core.labels.sts import LABEL_IMPLS, LABEL_NAMES_APPEARANCE, LABEL_NAMES_MOTION, LOCATION_2D_LABELS, location_coordinates, num_classes
from ssl_core.methods.base import PretextMethod, register_method
from ssl_core.samplers.sts import STSSampler

LABEL_NAMES = LABEL_NAMES_MOTION + LABEL_NAMES_APPEARANCE
NUM_MOTION = len(LABEL_NAMES_MOTION)
# Label groups of STS Table 1 (a: patterns, b: local/global, c: motion/appearance), as indices into LABEL_NAMES.
LABEL_GROUPS = {
    "motion_p1": (0, 1, 2, 3), "motion_p2": (4, 5, 6, 7), "motion_p3": (8, 9, 10, 11), "motion_global": (12, 13),
    "appearance_p1": (14, 15, 16, 17), "appearance_p2": (18, 19, 20, 21), "appearance_p3": (22, 23, 24, 25),
    "appearance_global": (26,),
}
TARGETS = ("regression", "regression_2d", "classification")
CLIP_STARTS = ("any", "non_overlapping")


@dataclass(frozen=True)
class STSOptions:
    target: str = "regression"
    groups: tuple[str, ...] = tuple(LABEL_GROUPS)
    lambda_m: float = 1.0
    lambda_a: float = 0.1
    label_impl: str = "official"
    flow: str = "dis"
    flow_dir: str = ""
    label_store: str = ""
    # "any": a clip at a random start; "non_overlapping": one of the video's back-to-back clips
    # (the paper on UCF101: "split into nonoverlapped 16 frame video clips ... randomly selected")
    clip_starts: str = "any"

    def validate(self, prefix: str = "method.options.") -> "STSOptions":
        require_choice(self.target, prefix + "target", TARGETS)
        require(len(self.groups) > 0, prefix + "groups", "at least one label group is needed")
        for group in self.groups:
            require(group in LABEL_GROUPS, prefix + "groups", f"unknown group {group!r} (known: {', '.join(LABEL_GROUPS)})")
        require_number(self.lambda_m, prefix + "lambda_m", minimum=0)
        require_number(self.lambda_a, prefix + "lambda_a", minimum=0)
        require_choice(self.label_impl, prefix + "label_impl", LABEL_IMPLS)
        require_choice(self.clip_starts, prefix + "clip_starts", CLIP_STARTS)
        require_choice(self.flow, prefix + "flow", FLOW_ALGORITHMS + ("precomputed",))
        require(self.flow != "precomputed" or bool(self.flow_dir), prefix + "flow_dir",
                "flow='precomputed' reads TV-L1 JPEG folders through the label pipeline: give their root (u/, v/)")
        return self

    @property
    def label_indices(self) -> tuple[int, ...]:
        return tuple(sorted({i for group in self.groups for i in LABEL_GROUPS[group]}))


@register_method("sts")
class STS(PretextMethod):
    options_class = STSOptions
    # The STS journal paper (section 4.2): batch 30, SGD at lr 5e-4 divided by 10 every 6 epochs,
    # 25 epochs, the model with the lowest validation loss; fine-tuning "the same ... except the
    # initial learning rate 3e-3". Where the paper is silent, its public code (train.py): momentum
    # 0.9, weight decay 5e-3, one GPU (so one worker: batch norm over the batch of 30), and the
    # 14.4 M-parameter R(2+1)D of its Table 5 (one block per stage), and every bias at twice the
    # learning rate (its two parameter groups); fine-tuning takes that too, being "the same". Its
    # input: OpenCV's BGR frames as 0..255 floats, not normalised (utils/read_clip.py). Clips from
    # UCF101's back-to-back 16-frame clips (set clip_starts="any" for Kinetics, as the paper does).
    paper_factors = {"backbone.name": "r21d_vcop", "resources.num_workers": 1, "pretrain.optimiser": "sgd",
                     "pretrain.batch_size": 30, "pretrain.lr": 5e-4, "pretrain.momentum": 0.9,
                     "pretrain.weight_decay": 5e-3, "pretrain.bias_lr_mult": 2.0, "pretrain.epochs": 25,
                     "pretrain.warmup_epochs": 0, "pretrain.grad_clip": 0.0, "pretrain.lr_schedule": "step",
                     "pretrain.lr_step_every": 6, "pretrain.lr_step_factor": 0.1, "pretrain.select": "lowest_val_loss",
                     "eval.finetune.epochs": 25, "eval.finetune.batch_size": 30, "eval.finetune.lr": 3e-3,
                     "eval.finetune.weight_decay": 5e-3, "eval.finetune.bias_lr_mult": 2.0,
                     "eval.finetune.lr_schedule": "step", "eval.finetune.lr_step_every": 6,
                     "eval.finetune.lr_step_factor": 0.1,
                     "method.options.clip_starts": "non_overlapping", "clip.normalisation": "bgr_255"}
    # The paper's learning rate at the default preset (with its AdamW): at the preset's 2e-3 the
    # pooled features collapsed (effective rank 23-29 of 128 on R3D-18, 3-8 on C3D) and the linear
    # probe gained +8.7 to +29.9 points over random init; 5e-4 gave ranks 32-36 and +19.9 to +38.3
    # (3 seeds; README, "The learning check").
    default_factors = {"pretrain.lr": 5e-4}

    def __init__(self, backbone, options: STSOptions, clip=None):
        super().__init__(backbone, options, clip)
        self.indices = options.label_indices
        self.sampler = STSSampler(flow=options.flow, label_impl=options.label_impl, label_store=options.label_store,
                                  non_overlapping=options.clip_starts == "non_overlapping")
        self.columns = columns = self._columns()
        # per selected label group: its positions among the selected labels (pretext/acc_<group>)
        self.group_columns = {group: [self.indices.index(i) for i in LABEL_GROUPS[group]] for group in options.groups}
        self.register_buffer("column_label", torch.tensor([k for k, _, _ in columns]), persistent=False)
        self.register_buffer("column_is_motion", torch.tensor([self.indices[k] < NUM_MOTION for k, _, _ in columns]), persistent=False)
        self.register_buffer("label_is_motion", torch.tensor([i < NUM_MOTION for i in self.indices]), persistent=False)
        if options.target == "classification":
            classes = num_classes(clip.num_frames if clip is not None else 16)
            # +1: class 0 is the official "no motion" pattern-1 label; labels are otherwise 1-based
            self.heads = nn.ModuleList(nn.Linear(backbone.feature_dim, classes[LABEL_NAMES[i]] + 1) for i in self.indices)
        else:
            self.head = nn.Linear(backbone.feature_dim, len(columns))
            for k, pattern, _ in columns:
                if pattern and not hasattr(self, f"coordinates{pattern}"):
                    self.register_buffer(f"coordinates{pattern}", torch.from_numpy(location_coordinates(pattern)), persistent=False)

    def _columns(self) -> list[tuple[int, int, int]]:
        """Regression outputs as (position of the label in ``indices``, pattern of a 2-D label or 0, coordinate)."""
        columns = []
        for k, index in enumerate(self.indices):
            name = LABEL_NAMES[index]
            if self.options.target == "regression_2d" and name in LOCATION_2D_LABELS:
                columns += [(k, int(name[-1]), 0), (k, int(name[-1]), 1)]
            else:
                columns.append((k, 0, 0))
        return columns

    # ------------------------------------------------------------------ data
    @classmethod
    def label_pipeline(cls, options: STSOptions, clip, split: int) -> LabelPipelineConfig | None:
        """The flow store this method reads (None when the options already name one)."""
        if options.label_store:
            return None
        return LabelPipelineConfig(clip=clip, flow=options.flow, precomputed_dir=options.flow_dir,
                                   label_impl=options.label_impl, split=split)

    @classmethod
    def with_label_store(cls, options: dict, store: str) -> dict:
        return {**options, "label_store": store}

    def sample(self, frames, clip, rng):
        return self._example(*self.sampler(frames, clip, rng), clip.normalisation)

    def sample_video(self, videos, index, rng):
        return self._example(*self.sampler.sample_video(videos, index, rng), videos.clip.normalisation)

    def _example(self, rgb: np.ndarray, labels: np.ndarray, normalisation: str) -> dict[str, torch.Tensor]:
        """``clip`` ``(C, T, H, W)`` and the selected integer ``labels`` ``(L,)``."""
        return {"clip": to_tensor(rgb, normalisation), "labels": torch.from_numpy(labels[list(self.indices)].astype(np.int64))}

    def curriculum_scores(self, videos) -> np.ndarray:
        return self.sampler.curriculum_scores(videos)

    def pretext_indices(self, videos) -> np.ndarray | None:
        return self.sampler.usable(videos)

    # ------------------------------------------------------------------ loss
    def forward(self, batch):
        """``batch["clip"]``: ``(B, C, T, H, W)``; ``batch["labels"]``: ``(B, L)`` selected integer labels."""
        features = self.backbone(batch["clip"])
        labels = batch["labels"]
        if self.options.target == "classification":
            logits = [head(features) for head in self.heads]
            per_column = torch.stack([F.cross_entropy(l, labels[:, k]) for k, l in enumerate(logits)])
            correct = torch.stack([l.argmax(dim=1) == labels[:, k] for k, l in enumerate(logits)], dim=1).float()
        else:
            targets = self._regression_targets(labels)
            outputs = self.head(features)
            per_column = ((outputs - targets) ** 2).mean(dim=0)
            correct = self._label_correct((outputs.round() == targets).float())
        loss = self._weighted(per_column, self.label_is_motion if self.options.target == "classification" else self.column_is_motion)
        correct = correct.detach()
        metrics = {"pretext/acc": correct.mean()}
        metrics.update({f"pretext/acc_{group}": correct[:, columns].mean() for group, columns in self.group_columns.items()})
        return loss, metrics

    def task_targets(self, batch):
        """The selected labels (each scored alone), and per label group its columns."""
        labels = batch["labels"]
        return {"pretext/acc": labels, **{f"pretext/acc_{group}": labels[:, columns] for group, columns in self.group_columns.items()}}

    def _regression_targets(self, labels: torch.Tensor) -> torch.Tensor:
        """``(B, L)`` labels -> ``(B, columns)`` float targets (2-D coordinates where asked)."""
        columns = []
        for k, pattern, coordinate in self.columns:
            value = labels[:, k]
            columns.append(getattr(self, f"coordinates{pattern}")[value, coordinate] if pattern else value)
        return torch.stack(columns, dim=1).float()

    def _label_correct(self, column_correct: torch.Tensor) -> torch.Tensor:
        """``(B, columns)`` -> ``(B, L)``: a label is right when all its columns are."""
        return torch.stack([column_correct[:, self.column_label == k].min(dim=1).values for k in range(len(self.indices))], dim=1)

    def _weighted(self, per_column: torch.Tensor, is_motion: torch.Tensor) -> torch.Tensor:
        """lambda_m * mean over motion terms + lambda_a * mean over appearance terms (kinds present)."""
        loss = per_column.new_zeros(())
        if is_motion.any():
            loss = loss + self.options.lambda_m * per_column[is_motion].mean()
        if (~is_motion).any():
            loss = loss + self.options.lambda_a * per_column[~is_motion].mean()
        return loss
