"""``sts``: predict the spatio-temporal statistics labels of a clip (STS journal / MAS).

The sampler draws a clip (random start, random square crop, random horizontal flip), takes
the optical flow of the resized frames the network sees (from the Ray Data label pipeline's
store when ``options.label_store`` names one, computed on the fly otherwise; both give the
official 8-bit quantised flow, so both give the same labels), crops and flips it with the
clip (flip semantics per ``label_impl``), and computes the 14 motion + 13 appearance labels
of ``ssl_core.labels.sts`` on the result.

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

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ssl_core.config import require
from ssl_core.data.clips import clip_indices, random_clip_start, to_tensor
from ssl_core.labels.flow import FLOW_ALGORITHMS, compute_flow, decode_flow_jpeg, encode_flow_jpeg
from ssl_core.labels.sts import (
    LABEL_IMPLS,
    LABEL_NAMES_APPEARANCE,
    LABEL_NAMES_MOTION,
    LOCATION_2D_LABELS,
    compute_labels,
    flip_clip,
    location_coordinates,
    num_classes,
)
from ssl_core.labels.store import MANIFEST, FlowStore, LabelPipelineConfig, clip_scores, strided_flow
from ssl_core.methods.base import PretextMethod, register_method

LABEL_NAMES = LABEL_NAMES_MOTION + LABEL_NAMES_APPEARANCE
NUM_MOTION = len(LABEL_NAMES_MOTION)
# Label groups of STS Table 1 (a: patterns, b: local/global, c: motion/appearance), as indices into LABEL_NAMES.
LABEL_GROUPS = {
    "motion_p1": (0, 1, 2, 3), "motion_p2": (4, 5, 6, 7), "motion_p3": (8, 9, 10, 11), "motion_global": (12, 13),
    "appearance_p1": (14, 15, 16, 17), "appearance_p2": (18, 19, 20, 21), "appearance_p3": (22, 23, 24, 25),
    "appearance_global": (26,),
}
TARGETS = ("regression", "regression_2d", "classification")


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

    def validate(self, prefix: str = "method.options.") -> "STSOptions":
        require(self.target in TARGETS, prefix + "target", f"must be one of {TARGETS}, got {self.target!r}")
        require(len(self.groups) > 0, prefix + "groups", "at least one label group is needed")
        for group in self.groups:
            require(group in LABEL_GROUPS, prefix + "groups", f"unknown group {group!r} (known: {', '.join(LABEL_GROUPS)})")
        require(self.lambda_m >= 0 and self.lambda_a >= 0, prefix + "lambda_m", "loss weights must be >= 0")
        require(self.label_impl in LABEL_IMPLS, prefix + "label_impl", f"must be one of {LABEL_IMPLS}, got {self.label_impl!r}")
        require(self.flow in FLOW_ALGORITHMS + ("precomputed",), prefix + "flow",
                f"must be one of {FLOW_ALGORITHMS + ('precomputed',)}, got {self.flow!r}")
        require(self.flow != "precomputed" or bool(self.flow_dir), prefix + "flow_dir",
                "flow='precomputed' reads TV-L1 JPEG folders through the label pipeline: give their root (u/, v/)")
        return self

    @property
    def label_indices(self) -> tuple[int, ...]:
        return tuple(sorted({i for group in self.groups for i in LABEL_GROUPS[group]}))


def quantised_flow(video: np.ndarray, algorithm: str) -> tuple[np.ndarray, np.ndarray]:
    """Flow between consecutive frames of ``video`` (T, H, W, 3), through the official 8-bit
    quantisation (what the label pipeline stores): float32 ``(T-1, H, W)`` each."""
    flow_u, flow_v = compute_flow(video, algorithm)
    return decode_flow_jpeg(encode_flow_jpeg(flow_u)), decode_flow_jpeg(encode_flow_jpeg(flow_v))


def crop_labels(video: np.ndarray, flow_u: np.ndarray, flow_v: np.ndarray, top: int, left: int, size: int,
                flip: bool, label_impl: str):
    """(cropped/flipped RGB clip, the 27 labels) of a clip ``video`` (T, H, W, 3) and its
    full-frame flow ``(T-1, H, W)``: the flow is cropped (and flipped) with the RGB."""
    window = (slice(None), slice(top, top + size), slice(left, left + size))
    rgb, flow_u, flow_v = video[window], flow_u[window], flow_v[window]
    if flip:
        rgb, flow_u, flow_v = flip_clip(rgb, flow_u, flow_v, label_impl)
    labels = compute_labels(np.ascontiguousarray(rgb), flow_u, flow_v, label_impl)
    return rgb, np.concatenate([labels["motion"], labels["appearance"]])


def clip_labels(video: np.ndarray, top: int, left: int, size: int, flip: bool, options: STSOptions):
    """(cropped/flipped RGB clip, the 27 labels) for resized clip frames ``video`` (T, H, W, 3),
    with the flow computed on the fly on the whole resized frames."""
    return crop_labels(video, *quantised_flow(video, options.flow), top, left, size, flip, options.label_impl)


@register_method("sts")
class STS(PretextMethod):
    options_class = STSOptions

    def __init__(self, backbone, options: STSOptions, clip=None):
        super().__init__(backbone, options, clip)
        self.indices = options.label_indices
        self._store = None
        self._store_missing = False
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

    # ------------------------------------------------------------------ sampling
    @property
    def store(self) -> FlowStore | None:
        """The label store, or None (flow on the fly). A store that is not on this node (a
        multi-node cluster without shared storage) is replaced by the on-the-fly flow, which
        gives the same examples, with a warning."""
        path = self.options.label_store
        if self._store is None and path and not self._store_missing and self.options.flow != "precomputed" \
                and not Path(path, MANIFEST).is_file():
            warnings.warn(f"method.options.label_store: {path} is not on this node; computing the same flow on the fly")
            self._store_missing = True
        if self._store is None and path and not self._store_missing:
            self._store = FlowStore.open(path)
        return self._store

    def _check_store(self, clip) -> None:
        stored = self.store.config
        if (tuple(stored.resize), stored.stride) != (tuple(clip.resize), clip.stride) or stored.flow != self.options.flow:
            raise ValueError(f"label store {self.options.label_store} holds flow {stored.flow} at resize {stored.resize} stride "
                             f"{stored.stride}; this trial needs {self.options.flow} at {clip.resize} stride {clip.stride}")

    def sample(self, frames, clip, rng):
        if self.options.flow == "precomputed":
            raise ValueError("method.options.flow: precomputed flow is read from a label store (method.options.label_store)")
        start, top, left, flip = self._draw(frames.shape, clip, rng)
        video = frames[clip_indices(start, clip.num_frames, clip.stride)]
        return self._example(*crop_labels(video, *quantised_flow(video, self.options.flow), top, left, clip.crop, flip,
                                          self.options.label_impl))

    def sample_video(self, videos, index, rng):
        if self.store is None:
            return self.sample(videos.frames(index), videos.clip, rng)
        clip = videos.clip
        self._check_store(clip)
        frames = videos.frames(index)
        start, top, left, flip = self._draw(frames.shape, clip, rng)
        video = frames[clip_indices(start, clip.num_frames, clip.stride)]
        flow_u, flow_v = self.store.flow(videos.entries[index].video_id, start, clip.num_frames)
        return self._example(*crop_labels(video, flow_u, flow_v, top, left, clip.crop, flip, self.options.label_impl))

    @staticmethod
    def _draw(shape, clip, rng) -> tuple[int, int, int, bool]:
        """Clip start, crop corner and flip, in this order from ``rng``."""
        start = random_clip_start(shape[0], clip.num_frames, clip.stride, rng)
        top = int(rng.integers(0, shape[1] - clip.crop + 1))
        left = int(rng.integers(0, shape[2] - clip.crop + 1))
        return start, top, left, bool(rng.random() < 0.5)

    def _example(self, rgb: np.ndarray, labels: np.ndarray) -> dict[str, torch.Tensor]:
        return {"clip": to_tensor(rgb), "labels": torch.from_numpy(labels[list(self.indices)].astype(np.int64))}

    def curriculum_scores(self, videos) -> np.ndarray:
        if self.store is not None:
            self._check_store(videos.clip)
            return np.array([self.store.video_score(entry.video_id) for entry in videos.entries])
        return np.array([self._video_score(videos.frames(i), videos.clip) for i in range(len(videos))])

    def _video_score(self, frames: np.ndarray, clip) -> float:
        """Mean over clip starts, computed like the label pipeline does (the same numbers)."""
        config = LabelPipelineConfig(flow=self.options.flow, resize=tuple(clip.resize), num_frames=clip.num_frames,
                                     stride=clip.stride, crop=clip.crop, label_impl=self.options.label_impl)
        flow_u, flow_v = strided_flow(frames, clip.stride, self.options.flow)
        return float(np.mean(clip_scores(encode_flow_jpeg(flow_u), encode_flow_jpeg(flow_v), config)))

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
