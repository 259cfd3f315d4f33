"""``mfo``: multi-level feature optimisation (MFO, spec ``mfo.md``).

Views (``ssl_core.samplers.mfo``): clip A and clip B (consecutive clips of one video, the
positive pair) and the long view spanning both. The backbone's ``forward_stages`` gives the
``low``, ``mid`` and ``high`` levels; each level is pooled to ``(B, C, T_l)`` (space averaged),
the lower levels through the motion-excitation block first when ``temporal = "feature"``.

Heads per level (``StepMLP``: a per-time-step MLP to ``proj_dim``): high: ``ins``, ``graph``,
``fine`` and ``global`` (Linear-BN-ReLU-Linear on the time-pooled feature, L2-normalised,
into the ``K`` prototypes); low and mid: ``graph``, ``fine`` and, with feature-level temporal
modelling, ``temporal``.

Losses (``ssl_core.losses.mfo``), on the batch gathered across DDP workers:
- ``ins``: InfoNCE (tau 0.07) between clips A and B of the high ``ins`` head; with
  ``temporal = "input"`` the time-reversed (paper: and shuffled) input clips are extra negatives;
- ``sem``: swapped prediction against Sinkhorn targets of the prototype logits, weight
  ``lambda_sem`` (0.5), with a queue of ``queue_size`` past entries per view;
- ``ret_<level>``: timestamp retrieval of clips A + B against the long view (levels whose
  ``T_l`` is even and >= 2; at the laptop preset's 8 frames R3D-18's high level has T = 1);
  part of the feature-level temporal modelling unless ``retrieval="always"``;
- ``aug_<level>`` (low, mid; ``temporal = "feature"``): feature-level temporal contrast: the
  level's feature map is time-reversed (paper: and shuffled) *before* the ME block, and each
  clip's ``temporal`` head output, averaged over time, is contrasted with the other clip of its
  video against the augmented ones (see the table);
- ``mul_<level>``: the graph constraint, from the stage split on; target ``graph_lower`` at
  low and mid, ``graph_high`` at high.
Weights: high 1, mid 0.5, low 0.3 (``ret``, ``aug``, ``mul``).

``mfo_impl`` picks where the public code and the paper differ (``official`` default):

| | official | paper |
|---|---|---|
| before the stage split E | everything but L_mul | L_ins + L_sem only |
| L_mul at the high level (``graph_high="auto"``) | combined | none |
| instance graph | softmax of A x B, thresholded | Eq. 8 (mean of the four view pairs), Eq. 6 |
| prototype queue | raw logits, used from ``queue_start_epoch`` | the distributions, used at once |
| Sinkhorn's start | ``exp(logits / epsilon)`` | the distributions themselves ("transform a set of distributions"; ``sinkhorn_epsilon`` unused) |
| L_mul reduction | mean over all (i, j) | mean of the rows' cross-entropies |
| L_aug augmentations | time reversal | reversal and shuffle |
| L_aug negatives | both clips of the other videos, and the augmentations of both clips of the query's video | the query clip's own augmentations (Eq. 12) |

Pretext accuracy ``pretext/acc``: in-batch instance discrimination of the high ``ins``
embeddings (is clip B of the same video the nearest?); chance is 1 / batch size.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ssl_core.config import require_choice, require_int, require_number
from ssl_core.data.clips import to_tensor
from ssl_core.heads.temporal import MotionExcitation, StepMLP
from ssl_core.losses.mfo import (
    GRAPH_TARGETS, IMPLS, graph_loss, graph_target, instance_graph, instance_info_nce, retrieval_loss, semantic_graph,
    sinkhorn, swapped_prediction, temporal_contrast_loss, temporal_views,
)
from ssl_core.methods.base import PretextMethod, instance_accuracy, register_method
from ssl_core.nn_utils import gather
from ssl_core.samplers.mfo import MFOViews

# What the MFO studies run at the ``default`` preset: MFO trains at 7.1 clips/s on one core
# (benchmarks/bench_mfo.py; CSTP 11.5), so 10 epochs on all 1,008 training videos would take
# about 24 minutes of training per trial; 3 epochs on a quarter of the videos, the frozen
# protocols on one centre clip, the split after the first epoch.
LAPTOP_STUDY_BUDGET = {"pretrain.epochs": 3, "pretrain.warmup_epochs": 0, "pretrain.schedule.data_fraction_k": 4,
                       "method.options.stage_split": 1 / 3, "method.options.queue_start_epoch": 1,
                       "eval.protocols": ("linear", "knn", "retrieval"), "eval.clips_per_video": 1}

# What every MFO study report states under its title.
IMPL_NOTE = "mfo_impl: official (the public code's reading; `--set method.options.mfo_impl=\"paper\"` runs the text's)."

LEVELS = ("low", "mid", "high")
LOWER_LEVELS = ("low", "mid")
LEVEL_WEIGHTS = {"low": 0.3, "mid": 0.5, "high": 1.0}
TEMPORAL = ("none", "input", "feature")
RETRIEVALS = ("with_feature", "always")
STAGE_SPLIT_UNITS = ("epoch", "step")


@dataclass(frozen=True)
class MFOOptions:
    """MFO's settings. ``stage_split`` is E as a fraction of the pretraining epochs (public
    code: 50 of 300 on UCF101), applied at whole epochs (``stage_split_unit="epoch"``, the
    public code: from epoch ``round(E x epochs)``) or at the optimiser step where that fraction
    of the training is done (``"step"``: a short laptop run can tell E = 0.1 from 0.2);
    ``graph_high="auto"`` follows ``mfo_impl``. ``retrieval``: timestamp retrieval (L_ret) is
    part of the feature-level temporal modelling (``"with_feature"``, the default: the paper's
    section 3.3 gives L_aug and L_ret together as its temporal modelling, so Table 3's "no
    temporal modeling" and input-level rows train without it) or is on whatever ``temporal``
    is (``"always"``)."""

    mfo_impl: str = "official"
    num_prototypes: int = 200
    queue_size: int = 1024
    queue_start_epoch: int = 10
    stage_split: float = 50 / 300  # the public code's 50 of 300 epochs
    stage_split_unit: str = "epoch"
    graph_lower: str = "combined"
    graph_high: str = "auto"
    temporal: str = "feature"
    retrieval: str = "with_feature"
    proj_dim: int = 128
    temperature: float = 0.07
    proto_temperature: float = 0.1
    sinkhorn_epsilon: float = 0.05
    sinkhorn_iterations: int = 3
    eta: float = 0.05
    lambda_sem: float = 0.5
    max_stride: float = 3.0

    def validate(self, prefix: str = "method.options.") -> "MFOOptions":
        require_choice(self.mfo_impl, prefix + "mfo_impl", IMPLS)
        require_int(self.num_prototypes, prefix + "num_prototypes", minimum=2)
        require_int(self.queue_size, prefix + "queue_size", minimum=0)
        require_int(self.queue_start_epoch, prefix + "queue_start_epoch", minimum=0)
        require_number(self.stage_split, prefix + "stage_split", 0, 1)
        require_choice(self.stage_split_unit, prefix + "stage_split_unit", STAGE_SPLIT_UNITS)
        require_choice(self.graph_lower, prefix + "graph_lower", GRAPH_TARGETS)
        require_choice(self.graph_high, prefix + "graph_high", GRAPH_TARGETS + ("auto",))
        require_choice(self.temporal, prefix + "temporal", TEMPORAL)
        require_choice(self.retrieval, prefix + "retrieval", RETRIEVALS)
        require_int(self.proj_dim, prefix + "proj_dim", minimum=1)
        for name in ("temperature", "proto_temperature", "sinkhorn_epsilon"):
            require_number(getattr(self, name), prefix + name, minimum=1e-6)
        require_int(self.sinkhorn_iterations, prefix + "sinkhorn_iterations", minimum=1)
        require_number(self.eta, prefix + "eta", 0, 1)
        require_number(self.lambda_sem, prefix + "lambda_sem", minimum=0)
        require_number(self.max_stride, prefix + "max_stride", minimum=1)
        return self

    @property
    def retrieves(self) -> bool:
        """Whether L_ret is trained."""
        return self.retrieval == "always" or self.temporal == "feature"

    @property
    def graph_targets(self) -> dict[str, str]:
        """The L_mul target per level (``none``: no term)."""
        high = self.graph_high if self.graph_high != "auto" else ("combined" if self.mfo_impl == "official" else "none")
        return {"low": self.graph_lower, "mid": self.graph_lower, "high": high}


@register_method("mfo")
class MFO(PretextMethod):
    options_class = MFOOptions
    uses_every_parameter = False  # graph heads before the split, prototypes in epoch 0, short levels' heads
    # The public code: Adam, lr 1e-3, weight decay 1e-5, lr x 0.1 at 2/3 of the epochs, batch 64
    # per GPU on 4 GPUs (a global batch of 256: the paper preset's 4 workers), SyncBN, 300 epochs on
    # UCF101, K = 200, E = 50 epochs; its R3D-18 (Hara et al.'s: a 7 x 7 x 7 stem and a max pool);
    # ImageNet normalisation (evaluation takes the trial's clip config, so it sees the same inputs).
    paper_factors = {"backbone.name": "r3d_18_hara", "pretrain.optimiser": "adam", "pretrain.lr": 1e-3,
                     "pretrain.weight_decay": 1e-5, "pretrain.warmup_epochs": 0, "pretrain.lr_schedule": "step",
                     "pretrain.batch_size": 256, "pretrain.sync_batchnorm": True, "pretrain.grad_clip": 0.0,
                     "method.options.stage_split": 50 / 300, "clip.normalisation": "imagenet"}
    # The embedded data has 12 (UCF-layout) classes and 1,008 training videos: fewer
    # prototypes, a shorter queue that is used sooner, the split at 20 % of the epochs.
    laptop_factors = {"method.options.num_prototypes": 32, "method.options.queue_size": 256,
                      "method.options.queue_start_epoch": 2, "method.options.stage_split": 0.2}

    def __init__(self, backbone, options: MFOOptions, clip=None):
        super().__init__(backbone, options, clip)
        dims = {level: backbone.stage_dims[backbone.canonical_stage(level)] for level in LEVELS}
        graph = {level: ("graph",) if target != "none" else () for level, target in options.graph_targets.items()}
        fine = ("fine",) if options.retrieves else ()
        kinds = {"high": ("ins",) + fine + graph["high"],
                 **{level: fine + graph[level] + (("temporal",) if options.temporal == "feature" else ()) for level in LOWER_LEVELS}}
        self.heads = nn.ModuleDict({f"{level}_{kind}": StepMLP(dims[level], dims[level], options.proj_dim)
                                    for level, names in kinds.items() for kind in names})
        self.motion = nn.ModuleDict({level: MotionExcitation(dims[level]) for level in LOWER_LEVELS}) \
            if options.temporal == "feature" else None
        self.global_head = nn.Sequential(nn.Linear(dims["high"], dims["high"]), nn.BatchNorm1d(dims["high"]),
                                         nn.ReLU(inplace=True), nn.Linear(dims["high"], options.proj_dim))
        self.prototypes = nn.Linear(options.proj_dim, options.num_prototypes, bias=False)
        self._normalise_prototypes()
        for view in ("a", "b"):
            self.register_buffer(f"queue_{view}", torch.zeros(options.queue_size, options.num_prototypes))
        self.register_buffer("queue_count", torch.zeros((), dtype=torch.long))
        self.epoch, self.epochs = 0, 1
        self.steps_per_epoch, self.step_in_epoch = None, 0
        self.views = MFOViews(clip.num_frames if clip is not None else 16, clip.crop if clip is not None else 112,
                              max_stride=options.max_stride)

    # ------------------------------------------------------------------ data and schedule
    def sample(self, frames, clip, rng):
        """``clip_a``, ``clip_b``, ``long``: ``(C, T, S, S)`` each."""
        views = self.views if (self.views.num_frames, self.views.size) == (clip.num_frames, clip.crop) \
            else MFOViews(clip.num_frames, clip.crop, max_stride=self.options.max_stride)
        return {name: to_tensor(view, clip.normalisation) for name, view in views(frames, rng).items()}

    def on_epoch_start(self, epoch: int, epochs: int, steps: int | None = None) -> None:
        self.epoch, self.epochs = epoch, epochs
        self.steps_per_epoch, self.step_in_epoch = steps, 0

    @property
    def multi_level(self) -> bool:
        """Past the stage split E: the graph constraint is on."""
        split = self.options.stage_split * self.epochs
        if self.options.stage_split_unit == "epoch":
            return self.epoch >= round(split)
        if not self.steps_per_epoch:
            raise RuntimeError("stage_split_unit='step' needs the epoch's step count (on_epoch_start(epoch, epochs, steps))")
        return self.epoch * self.steps_per_epoch + self.step_in_epoch >= round(split * self.steps_per_epoch)

    def after_step(self) -> None:
        self._normalise_prototypes()
        self.step_in_epoch += 1

    @torch.no_grad()
    def _normalise_prototypes(self) -> None:
        self.prototypes.weight.copy_(F.normalize(self.prototypes.weight, dim=1))

    # ------------------------------------------------------------------ embeddings
    def _level_steps(self, level: str, feature_map: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """``(N, C, T, H, W)`` -> ``(N, C, T)`` steps (space averaged), through the ME block at the
        lower levels, and the steps of each temporal augmentation of the map (:func:`temporal_views`
        applied to the feature *before* the ME block, as the paper's Eq. 11-12 and the public
        code's ``temporal_shuffle``; with feature-level temporal modelling only). The original and
        augmented maps pass the ME block as one batch, as in the public code, so its batch norm
        sees both."""
        if self.motion is None or level not in LOWER_LEVELS:
            return self._pool_space(feature_map), []
        views = temporal_views(feature_map, self.options.mfo_impl, dim=2) if feature_map.shape[2] >= 2 else []
        excited = self._pool_space(self.motion[level](torch.cat([feature_map, *views])))
        original, *augmented = excited.split(len(feature_map))
        return original, augmented

    @staticmethod
    def _pool_space(feature_map: torch.Tensor) -> torch.Tensor:
        return F.adaptive_avg_pool3d(feature_map, (feature_map.shape[2], 1, 1)).flatten(2)

    def embed(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Every embedding the losses use, for the local batch (``B`` videos); ``(B, D)`` are
        normalised, ``(B, D, T)`` are per-step projections."""
        a, b = batch["clip_a"], batch["clip_b"]
        size = len(a)
        steps, augmented = {}, {}
        clips = torch.cat([a, b, batch["long"]] if self.options.retrieves else [a, b])  # the long view serves L_ret only
        for level, x in self.backbone.forward_stages(clips, LEVELS).items():
            steps[level], augmented[level] = self._level_steps(level, x)
        out = {}
        ins = F.normalize(self.heads["high_ins"](steps["high"][: 2 * size]).mean(-1), dim=1)
        out["ins_a"], out["ins_b"] = ins[:size], ins[size:]
        out["global_a"], out["global_b"] = F.normalize(self.global_head(steps["high"][: 2 * size].mean(-1)), dim=1).split(size)
        for level in LEVELS:
            if self.options.graph_targets[level] != "none":
                graph = F.normalize(self.heads[f"{level}_graph"](steps[level][: 2 * size]).mean(-1), dim=1)
                out[f"graph_{level}_a"], out[f"graph_{level}_b"] = graph.split(size)
            if self.options.retrieves and steps[level].shape[-1] >= 2 and steps[level].shape[-1] % 2 == 0:
                fine = self.heads[f"{level}_fine"](steps[level])
                halves = [F.avg_pool1d(fine[i * size:(i + 1) * size], 2) for i in range(2)]
                out[f"fine_{level}_clips"], out[f"fine_{level}_long"] = torch.cat(halves, dim=-1), fine[2 * size:]
            if augmented[level]:
                clip_embedding = lambda x: self.heads[f"{level}_temporal"](x[: 2 * size]).mean(-1)  # noqa: E731
                out[f"temporal_{level}_a"], out[f"temporal_{level}_b"] = clip_embedding(steps[level]).split(size)
                views = torch.stack([clip_embedding(view) for view in augmented[level]], dim=1)
                out[f"temporal_{level}_aug_a"], out[f"temporal_{level}_aug_b"] = views.split(size)
        if self.options.temporal == "input":
            out["input_negatives"] = self._input_level_negatives(a, b)
        return out

    def _input_level_negatives(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """High ``ins`` embeddings of the temporally augmented input clips (Table 3's input level)."""
        clips = torch.cat([view for x in (a, b) for view in temporal_views(x, self.options.mfo_impl, dim=2)])
        high = self._pool_space(self.backbone.forward_stages(clips, ("high",))["high"])
        return F.normalize(self.heads["high_ins"](high).mean(-1), dim=1)

    # ------------------------------------------------------------------ losses
    def forward(self, batch):
        """``batch``: ``clip_a``, ``clip_b``, ``long`` ``(B, C, T, H, W)``. Returns ``(L, metrics)``."""
        embeddings = self.embed(batch)
        losses = self.losses(embeddings)
        weights = self.loss_weights(losses)
        loss = sum(weights[name] * value for name, value in losses.items())
        metrics = {f"pretext/loss_{name}": value.detach() for name, value in losses.items()}
        metrics["pretext/acc"] = instance_accuracy(embeddings["ins_a"].detach(), embeddings["ins_b"].detach())
        return loss, metrics

    def loss_weights(self, losses: dict) -> dict[str, float]:
        """Each term's weight; the paper's first stage keeps L_ins and L_sem only."""
        weights = {}
        for name in losses:
            kind, _, level = name.partition("_")
            weights[name] = {"ins": 1.0, "sem": self.options.lambda_sem}.get(kind, LEVEL_WEIGHTS.get(level, 1.0))
            if self.options.mfo_impl == "paper" and not self.multi_level and kind not in ("ins", "sem"):
                weights[name] = 0.0
        return weights

    def losses(self, e: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Every active term on embeddings from :meth:`embed`, over the batch gathered across workers."""
        o = self.options
        ins_a, ins_b = gather(e["ins_a"]), gather(e["ins_b"])
        extra = gather(e["input_negatives"]) if "input_negatives" in e else None
        losses = {"ins": instance_info_nce(ins_a, ins_b, o.temperature, extra)}
        prototypes = self.prototypes.weight if self.epoch > 0 else self.prototypes.weight.detach()
        logits_a, logits_b = gather(e["global_a"]) @ prototypes.t(), gather(e["global_b"]) @ prototypes.t()
        (q_a, rows_a), (q_b, rows_b) = self.targets(logits_a, self.queue_a), self.targets(logits_b, self.queue_b)
        if self.training:
            self._enqueue(rows_a, rows_b)
        losses["sem"] = swapped_prediction(logits_a, logits_b, q_a, q_b, o.proto_temperature)
        for level in LEVELS:
            if f"fine_{level}_clips" in e:
                losses[f"ret_{level}"] = retrieval_loss(gather(e[f"fine_{level}_clips"]), gather(e[f"fine_{level}_long"]), o.temperature)
            if f"temporal_{level}_a" in e:
                losses[f"aug_{level}"] = temporal_contrast_loss(
                    *(gather(e[f"temporal_{level}_{part}"]) for part in ("a", "b", "aug_a", "aug_b")), o.temperature, o.mfo_impl)
        if self.multi_level:
            losses.update(self._graph_losses(e, ins_a, ins_b, q_a, q_b))
        return losses

    def _graph_losses(self, e, ins_a, ins_b, q_a, q_b) -> dict[str, torch.Tensor]:
        o = self.options
        size = len(ins_a)
        instance = instance_graph(ins_a.detach(), ins_b.detach(), o.temperature, o.eta, o.mfo_impl)
        semantic = semantic_graph(q_a, q_b)
        losses = {}
        for level, kind in o.graph_targets.items():
            if kind == "none":
                continue
            target = graph_target(kind, size, instance, semantic, device=ins_a.device)
            losses[f"mul_{level}"] = graph_loss(target, gather(e[f"graph_{level}_a"]), gather(e[f"graph_{level}_b"]),
                                                o.temperature, o.mfo_impl)
        return losses

    @torch.no_grad()
    def targets(self, logits: torch.Tensor, queue: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Sinkhorn targets ``(N, K)`` of one view's (gathered) prototype logits with that view's
        queue, and the rows to queue for this batch.

        official: the queue holds raw logits; from epoch ``queue_start_epoch`` on, once the queue
        is full, Sinkhorn runs over the queue with the batch pushed in (the batch's rows last)
        and the targets are the last ``N`` rows; before, over the batch alone. paper: the queue
        holds the distributions ``softmax(logits / proto_temperature)``, and Sinkhorn transforms
        the queued and the current distributions together as soon as the queue holds any.
        """
        o = self.options
        size, filled = len(logits), min(int(self.queue_count), len(queue))
        if o.mfo_impl == "official":
            rows = logits.detach()
            full = len(queue) > size and filled + size >= len(queue)
            scores = torch.cat([queue[size:], rows]) if self.epoch >= o.queue_start_epoch and full else rows
            return sinkhorn(scores, o.sinkhorn_epsilon, o.sinkhorn_iterations)[-size:], rows
        rows = F.softmax(logits.detach() / o.proto_temperature, dim=1)
        scores = torch.cat([queue[len(queue) - filled:], rows]) if filled else rows
        return sinkhorn(scores, o.sinkhorn_epsilon, o.sinkhorn_iterations, exponentiate=False)[-size:], rows

    @torch.no_grad()
    def _enqueue(self, rows_a: torch.Tensor, rows_b: torch.Tensor) -> None:
        """Append each view's rows at the end of its queue (the oldest rows drop off the front)."""
        if len(self.queue_a) == 0:
            return
        for queue, rows in ((self.queue_a, rows_a), (self.queue_b, rows_b)):
            rows = rows[-len(queue):].to(queue.dtype)
            queue.copy_(torch.cat([queue[len(rows):], rows]))
        self.queue_count.add_(len(rows_a))

    def task_targets(self, batch):
        return {"pretext/acc": torch.arange(len(batch["clip_a"]), device=batch["clip_a"].device)}
