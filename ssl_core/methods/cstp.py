"""``cstp``: contrastive spatio-temporal pretext learning (STOR + pace + rotation + contrastive).

Sampling (``ssl_core.samplers.cstp``): two clips ``v1``, ``v2`` of one video with a spatial
overlap class ``s``, a temporal overlap class ``t`` (rates ``i / N``), a shared playback
rate class ``r`` (``p`` in 1, 2, 4, 8; ``p = clip.stride`` and ``r = 0`` without
``pace_aug``) and a 4-way rotation class per clip ``o1``, ``o2`` (0 without
``rotation_aug``); each clip gets the base augmentation (``ssl_core.data.augment``) with
probability ``base_aug_p`` and a random horizontal flip.

Model, with ``f`` the backbone and ``y_i = f(v_i)`` its pooled features ``(B, F)``:

- STOR: ``L_stor = l_s * CE(e_s([y1, y2]), s) + l_t * CE(e_t([y1, y2]), t)``, ``e_s``, ``e_t``
  MLPs ``2F -> F -> N`` (``stor_spatial`` / ``stor_temporal`` drop one part);
- pace: ``L_pace = CE(c(y_i), r)`` averaged over both clips (``c``: ``F -> F -> 4``);
- rotation: ``L_rot = CE(d(y_i), o_i)`` averaged over both clips (``d``: ``F -> F -> 4``);
- contrastive, on projections ``g`` (``F -> H -> D``) of ``y1``, ``y2``:
  - ``simclr``: ``L_ctr = NT-Xent(g(y1), g(y2); temperature)``;
  - ``moco``: ``q_i = g(y_i)``, keys ``k_i = g'(f'(v_i))`` from the momentum copy ``(f', g')``,
    ``L_ctr = (InfoNCE(q1, k2, Q) + InfoNCE(q2, k1, Q)) / 2`` with the queue ``Q`` of past
    ``k1`` (``moco_queue`` long); ``(f', g') <- m (f', g') + (1 - m) (f, g)``;
  - ``byol``: ``p_i = h(g(y_i))`` (predictor ``h``: ``D -> H -> D``), targets
    ``z'_i = g'(f'(v_i))``, ``L_ctr = (2 - 2 cos(p1, z'2)) + (2 - 2 cos(p2, z'1))`` (BYOL's
    symmetric sum); ``(f', g') <- tau (f', g') + (1 - tau) (f, g)``;
  - ``simsiam``: ``p_i = h(g(y_i))``, ``z_i = g(y_i)``,
    ``L_ctr = (-cos(p1, sg(z2)) - cos(p2, sg(z1))) / 2``.
- ``L = lambda_ctr L_ctr + lambda_pb L_pace + lambda_rot L_rot + lambda_stor L_stor``.

The momentum copies (MoCo key encoder, BYOL target) have ``requires_grad = False``, so no
optimiser ever updates them (they get no gradient); they and the MoCo queue are submodules
and buffers, so ``state_dict`` holds them and a resume is exact. The training loop calls
:meth:`CSTP.after_step` after each ``optimiser.step()`` for the momentum update. Under DDP
each rank keeps its own queue (per-rank negatives, no all-gather) and the MoCo batch norm is
not shuffled across ranks.

Sizes: the heads use hidden = ``F`` (backbone ``feature_dim``); the projector / predictor
hidden size is ``proj_hidden_dim`` (0: ``4 F``) and output ``proj_dim``. The public code's
projector 512 -> 4096 -> 512 (R(2+1)D-18, ``F`` = 512) is ``proj_hidden_dim=4096,
proj_dim=512``. The default ``moco_queue`` (256) suits laptop datasets of a few hundred
videos (a queue longer than the dataset holds stale keys of the same videos); papers use
4096 to 65536. Heads use batch norm: training batches need ``B >= 2``.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ssl_core.config import require, require_bool, require_choice, require_int, require_number
from ssl_core.data.augment import NUM_QUARTER_TURNS, BaseAugment
from ssl_core.data.clips import to_tensor
from ssl_core.heads import MLPHead
from ssl_core.losses import byol_loss, info_nce, nt_xent, simsiam_loss
from ssl_core.methods.base import PretextMethod, accuracy, instance_accuracy, register_method
from ssl_core.nn_utils import frozen_copy, momentum_update
from ssl_core.samplers.cstp import MAX_CANDIDATES, MIN_CANDIDATES, PLAYBACK_RATES, STORSampler, STORSettings

CONTRASTIVE = ("none", "simclr", "moco", "byol", "simsiam")
# CSTP arms with the STOR task only and base augmentation only (Tables 4 and 5), as dotted factors.
STOR_ONLY = {"method.options.contrastive": "none", "method.options.pace": False, "method.options.rotation": False,
             "method.options.pace_aug": False, "method.options.rotation_aug": False}
DEFAULT_TEMPERATURE = {"simclr": 0.1, "moco": 0.07}


@dataclass(frozen=True)
class CSTPOptions:
    """Switches and weights of CSTP (defaults: the public code's full BYOL + STOR + pace +
    rotation setting and loss weights; the projector sizes are laptop-sized, the public code's
    512 -> 4096 -> 512 is the ``paper`` preset's). ``temperature`` 0 means the framework's usual
    value (SimCLR 0.1, MoCo 0.07); ``proj_hidden_dim`` 0 means 4 x the backbone's feature dim."""

    num_candidates: int = 5
    stor: bool = True
    stor_spatial: bool = True
    stor_temporal: bool = True
    pace: bool = True
    rotation: bool = True
    pace_aug: bool = True
    rotation_aug: bool = True
    contrastive: str = "byol"
    lambda_ctr: float = 0.1
    lambda_pb: float = 1.0
    lambda_rot: float = 1.0
    lambda_stor: float = 1.0
    lambda_s: float = 1.0
    lambda_t: float = 1.0
    base_aug_p: float = 0.3
    temperature: float = 0.0
    moco_momentum: float = 0.99
    moco_queue: int = 256
    byol_tau: float = 0.996
    proj_dim: int = 128
    proj_hidden_dim: int = 0

    def validate(self, prefix: str = "method.options.") -> "CSTPOptions":
        for name in ("stor", "stor_spatial", "stor_temporal", "pace", "rotation", "pace_aug", "rotation_aug"):
            require_bool(getattr(self, name), prefix + name)
        require_int(self.num_candidates, prefix + "num_candidates", MIN_CANDIDATES, MAX_CANDIDATES)
        require_choice(self.contrastive, prefix + "contrastive", CONTRASTIVE)
        for name in ("lambda_ctr", "lambda_pb", "lambda_rot", "lambda_stor", "lambda_s", "lambda_t", "temperature"):
            require_number(getattr(self, name), prefix + name, minimum=0)
        for name in ("base_aug_p", "moco_momentum", "byol_tau"):
            require_number(getattr(self, name), prefix + name, 0, 1)
        require_int(self.moco_queue, prefix + "moco_queue", minimum=1)
        require_int(self.proj_dim, prefix + "proj_dim", minimum=1)
        require_int(self.proj_hidden_dim, prefix + "proj_hidden_dim", minimum=0)  # 0: 4 x feature dim
        require(not self.stor or self.stor_spatial or self.stor_temporal, prefix + "stor",
                "STOR needs stor_spatial or stor_temporal (or set stor: false)")
        require(not self.pace or self.pace_aug, prefix + "pace", "predicting the playback rate needs pace_aug (every rate would be 1)")
        require(not self.rotation or self.rotation_aug, prefix + "rotation", "predicting the rotation needs rotation_aug (every clip would be upright)")
        require(self.stor or self.pace or self.rotation or self.contrastive != "none", prefix + "contrastive",
                "no loss left: enable stor, pace, rotation or a contrastive framework")
        return self

    @property
    def stor_parts(self) -> tuple[str, ...]:
        """The active STOR predictions, among ``("spatial", "temporal")``."""
        if not self.stor:
            return ()
        return tuple(part for part, on in (("spatial", self.stor_spatial), ("temporal", self.stor_temporal)) if on)

    def temperature_for(self, framework: str) -> float:
        return float(self.temperature) if self.temperature > 0 else DEFAULT_TEMPERATURE.get(framework, 0.1)


class Contrastive(nn.Module):
    """One contrastive framework on online features ``y`` ``(2B, F)`` (rows ``[y1; y2]``) and
    the clips ``x`` ``(2B, C, T, H, W)`` they came from; ``forward`` returns ``(L_ctr, (a1, a2))``
    where ``a1``, ``a2`` ``(B, D)`` are the embeddings matched for the instance accuracy."""

    def __init__(self, framework: str, backbone: nn.Module, options: CSTPOptions):
        super().__init__()
        self.framework = framework
        self.options = options
        hidden = options.proj_hidden_dim or 4 * backbone.feature_dim
        self.projector = MLPHead(backbone.feature_dim, hidden, options.proj_dim)
        if framework in ("byol", "simsiam"):
            self.predictor = MLPHead(options.proj_dim, hidden, options.proj_dim)
        if framework in ("moco", "byol"):
            self.target_backbone = frozen_copy(backbone)
            self.target_projector = frozen_copy(self.projector)
        if framework == "moco":
            self.register_buffer("queue", F.normalize(torch.randn(options.moco_queue, options.proj_dim), dim=1))
            self.register_buffer("queue_ptr", torch.zeros((), dtype=torch.long))

    def forward(self, y: torch.Tensor, x: torch.Tensor):
        z = self.projector(y)
        if self.framework == "simclr":
            z1, z2 = z.chunk(2)
            return nt_xent(z1, z2, self.options.temperature_for("simclr")), (z1, z2)
        if self.framework == "simsiam":
            p1, p2 = self.predictor(z).chunk(2)
            z1, z2 = z.chunk(2)
            return (simsiam_loss(p1, z2) + simsiam_loss(p2, z1)) / 2, (p1, z2)
        with torch.no_grad():
            t1, t2 = self.target_projector(self.target_backbone(x)).chunk(2)
        if self.framework == "byol":
            p1, p2 = self.predictor(z).chunk(2)
            return byol_loss(p1, t2) + byol_loss(p2, t1), (p1, t2)
        q1, q2 = z.chunk(2)
        queue = self.queue.clone()
        temperature = self.options.temperature_for("moco")
        loss = (info_nce(q1, t2, queue, temperature) + info_nce(q2, t1, queue, temperature)) / 2
        if self.training:
            self._enqueue(F.normalize(t1, dim=1))
        return loss, (q1, t2)

    @torch.no_grad()
    def _enqueue(self, keys: torch.Tensor) -> None:
        """Write ``keys`` ``(B, D)`` over the oldest queue rows (ring buffer)."""
        keys = keys[-len(self.queue):]
        rows = (self.queue_ptr + torch.arange(len(keys), device=keys.device)) % len(self.queue)
        self.queue[rows] = keys
        self.queue_ptr.copy_((self.queue_ptr + len(keys)) % len(self.queue))

    def momentum_update(self, online_backbone: nn.Module) -> None:
        """Move the MoCo key encoder / BYOL target towards the online ``(backbone, projector)``."""
        if self.framework not in ("moco", "byol"):
            return
        momentum = self.options.moco_momentum if self.framework == "moco" else self.options.byol_tau
        momentum_update(self.target_backbone, online_backbone, momentum)
        momentum_update(self.target_projector, self.projector, momentum)


@register_method("cstp")
class CSTP(PretextMethod):
    options_class = CSTPOptions
    # The public code's setting (spec): R(2+1)D (the base paper preset), batch 60 (read as the
    # global batch: 15 on each of the 4 workers), lr 0.03, 300 epochs with half of them warm-up,
    # gradient-norm clip 18, synchronised batch norm, BYOL heads 512 -> 4096 -> 512.
    paper_factors = {"pretrain.batch_size": 60, "pretrain.sync_batchnorm": True, "method.options.proj_dim": 512,
                     "method.options.proj_hidden_dim": 4096}
    # The default preset's backbone and learning rate, measured on the embedded data (README,
    # "The learning check"): on R3D-18 the motion task (pace) stayed at its majority answer at lr
    # 2e-3, 5e-4 and 1e-4, and on C3D at 2e-3; on C3D at 5e-4 it learned (59 % against a chance of
    # 47 %) and full CSTP gained +11.6 points of linear probe on ucf over a random-init C3D (2
    # seeds; R3D-18 at 2e-3, seed 0: +4.9). C3D is one of the paper's backbones (Tables 6, 7); the
    # ablation tables use R(2+1)D. Fine-tuning keeps the preset's SGD: with AdamW a random-init C3D
    # reaches 85 %, near the embedded ucf's ceiling (README, "Fine-tuning from random init").
    default_factors = {"backbone.name": "c3d", "pretrain.lr": 5e-4}

    def __init__(self, backbone, options: CSTPOptions, clip=None):
        super().__init__(backbone, options, clip)
        dim, candidates = backbone.feature_dim, options.num_candidates
        self.stor_heads = nn.ModuleDict({part: MLPHead(2 * dim, dim, candidates) for part in options.stor_parts})
        self.pace_head = MLPHead(dim, dim, len(PLAYBACK_RATES)) if options.pace else None
        self.rotation_head = MLPHead(dim, dim, NUM_QUARTER_TURNS) if options.rotation else None
        self.contrastive = Contrastive(options.contrastive, backbone, options) if options.contrastive != "none" else None

    def sampler(self, clip) -> STORSampler:
        """The STOR sampler for ``clip`` (a ClipConfig: ``num_frames``, ``crop``, ``stride``)."""
        options = self.options
        settings = STORSettings(num_candidates=options.num_candidates, num_frames=clip.num_frames, size=clip.crop,
                                playback_rates=PLAYBACK_RATES if options.pace_aug else (clip.stride,),
                                rotate=options.rotation_aug)
        return STORSampler(settings, BaseAugment(p=options.base_aug_p))

    def sample(self, frames, clip, rng):
        """uint8 ``(T_video, H, W, 3)`` -> ``clip1``, ``clip2`` ``(C, T, S, S)`` and int64 scalar labels
        ``stor_spatial``, ``stor_temporal`` (0..N-1), ``pace`` (0..3), ``rot1``, ``rot2`` (0..3)."""
        pair = self.sampler(clip)(frames, rng)
        labels = {"stor_spatial": pair.spatial, "stor_temporal": pair.temporal, "pace": pair.pace,
                  "rot1": pair.rotations[0], "rot2": pair.rotations[1]}
        return {"clip1": to_tensor(pair.clip1, clip.normalisation), "clip2": to_tensor(pair.clip2, clip.normalisation),
                **{name: torch.tensor(value, dtype=torch.long) for name, value in labels.items()}}

    def forward(self, batch):
        """``batch["clip1"]``, ``batch["clip2"]``: ``(B, C, T, H, W)``; labels ``(B,)``.

        Returns ``(L, metrics)``; metrics (detached): ``pretext/loss_<task>``,
        ``pretext/<task>_acc`` for the active tasks among ``stor_s``, ``stor_t``, ``pace``,
        ``rot``, ``ctr``, and ``pretext/acc``: the mean accuracy of the prediction tasks (the
        contrastive instance accuracy when there are none).
        """
        if self.training and len(batch["clip1"]) < 2:
            raise ValueError(f"batch: training CSTP needs >= 2 clip pairs per batch (batch norm in its heads), "
                             f"got {len(batch['clip1'])}; drop the last incomplete batch")
        clips = torch.cat([batch["clip1"], batch["clip2"]])
        features = self.backbone(clips)
        losses, accuracies = self._prediction_losses(features, batch)
        weights = self._weights()
        if self.contrastive is not None:
            losses["ctr"], (a1, a2) = self.contrastive(features, clips)
            accuracies["ctr"] = instance_accuracy(a1.detach(), a2.detach())
        loss = sum(weights[task] * value for task, value in losses.items())
        metrics = {f"pretext/loss_{task}": value.detach() for task, value in losses.items()}
        metrics.update({f"pretext/{task}_acc": value for task, value in accuracies.items()})
        predicted = [value for task, value in accuracies.items() if task != "ctr"]
        metrics["pretext/acc"] = torch.stack(predicted).mean() if predicted else accuracies["ctr"]
        return loss, metrics

    def _prediction_losses(self, features: torch.Tensor, batch) -> tuple[dict, dict]:
        """Cross-entropies and accuracies of the STOR, pace and rotation heads on ``(2B, F)`` features."""
        y1, y2 = features.chunk(2)
        heads_and_targets = {}
        for part, head in self.stor_heads.items():
            heads_and_targets["stor_" + part[0]] = (head(torch.cat([y1, y2], dim=1)), batch["stor_" + part])
        if self.pace_head is not None:
            heads_and_targets["pace"] = (self.pace_head(features), torch.cat([batch["pace"], batch["pace"]]))
        if self.rotation_head is not None:
            heads_and_targets["rot"] = (self.rotation_head(features), torch.cat([batch["rot1"], batch["rot2"]]))
        losses = {task: F.cross_entropy(logits, targets) for task, (logits, targets) in heads_and_targets.items()}
        accuracies = {task: accuracy(logits, targets) for task, (logits, targets) in heads_and_targets.items()}
        return losses, accuracies

    def task_targets(self, batch):
        """Targets of the active prediction tasks (pace and rotation: both clips)."""
        targets = {f"pretext/stor_{part[0]}_acc": batch["stor_" + part] for part in self.stor_heads}
        if self.pace_head is not None:
            targets["pretext/pace_acc"] = torch.cat([batch["pace"], batch["pace"]])
        if self.rotation_head is not None:
            targets["pretext/rot_acc"] = torch.cat([batch["rot1"], batch["rot2"]])
        return targets

    def _weights(self) -> dict[str, float]:
        o = self.options
        return {"stor_s": o.lambda_stor * o.lambda_s, "stor_t": o.lambda_stor * o.lambda_t, "pace": o.lambda_pb,
                "rot": o.lambda_rot, "ctr": o.lambda_ctr}

    def after_step(self) -> None:
        """Momentum update of the MoCo key encoder / BYOL target; call after each ``optimiser.step()``."""
        if self.contrastive is not None:
            self.contrastive.momentum_update(self.backbone)
