"""Common contract of every video backbone, plus small shared layers.

Layout everywhere is ``(B, C, T, H, W)`` with ``C == 3`` at the input.

A :class:`VideoBackbone` exposes three named intermediate stages, ``pool3``,
``pool4`` and ``pool5`` (the names come from C3D, whose 3rd/4th/5th max-pool
outputs they are; the other architectures map them onto comparable depths, see
each module's docstring).  The aliases ``low`` / ``mid`` / ``high`` (the
feature levels of MFO) are accepted wherever a stage name is.

Width scaling rule (shared by all backbones, see :func:`scale_channels`)::

    channels(c, width) = max(8, floor(c * width + 0.5))

i.e. round-half-up of ``c * width`` with a floor of 8 channels; at
``width == 1.0`` every channel count equals the paper's / torchvision's.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.modules.utils import _triple

__all__ = [
    "MIN_CHANNELS",
    "STAGE_ALIASES",
    "STAGE_NAMES",
    "ShrinkingMaxPool3d",
    "VideoBackbone",
    "check_width",
    "init_weights",
    "scale_channels",
]

MIN_CHANNELS = 8
STAGE_NAMES: tuple[str, ...] = ("pool3", "pool4", "pool5")
STAGE_ALIASES: dict[str, str] = {"low": "pool3", "mid": "pool4", "high": "pool5"}


def check_width(width: float) -> float:
    """Validate a channel multiplier; returns it as a float."""
    if isinstance(width, bool) or not isinstance(width, numbers.Real):
        raise ValueError(f"width must be a positive real number, got {width!r}")
    width = float(width)
    if not math.isfinite(width) or width <= 0:
        raise ValueError(f"width must be a positive finite number, got {width!r}")
    return width


def scale_channels(channels: int, width: float, min_channels: int = MIN_CHANNELS) -> int:
    """``max(min_channels, floor(channels * width + 0.5))`` (round half up).

    At ``width == 1.0`` this is the identity for every ``channels >= min_channels``.
    """
    width = check_width(width)
    return max(int(min_channels), int(math.floor(channels * width + 0.5)))


class ShrinkingMaxPool3d(nn.MaxPool3d):
    """``nn.MaxPool3d`` that never fails on inputs smaller than its window.

    In every dimension where the (padded) input is smaller than the kernel,
    i.e. ``size + 2 * padding < kernel`` -- exactly the case where
    ``nn.MaxPool3d`` would raise -- the kernel is shrunk to the input extent and
    the padding in that dimension set to 0, so that dimension becomes a global
    max and has output size 1.  Whenever ``nn.MaxPool3d`` works, the result is
    bit-identical to it (so at the papers' input sizes nothing changes).
    Only ``dilation == 1`` and ``ceil_mode=False`` are supported.
    """

    def __init__(self, kernel_size, stride=None, padding=0) -> None:
        super().__init__(kernel_size, stride=stride, padding=padding)

    def forward(self, x: Tensor) -> Tensor:  # noqa: D102
        kernel = _triple(self.kernel_size)
        stride = _triple(self.stride if self.stride is not None else self.kernel_size)
        padding = _triple(self.padding)
        sizes = tuple(x.shape[-3:])
        if all(n + 2 * p >= k for n, k, p in zip(sizes, kernel, padding)):
            return super().forward(x)
        new_k, new_p = [], []
        for n, k, p in zip(sizes, kernel, padding):
            if n + 2 * p < k:
                new_k.append(max(int(n), 1))
                new_p.append(0)
            else:
                new_k.append(k)
                new_p.append(p)
        return F.max_pool3d(x, tuple(new_k), stride, tuple(new_p))


def init_weights(module: nn.Module) -> None:
    """Kaiming-normal (fan_out, relu) for conv, zero conv/linear bias, BN weight 1 bias 0.

    Uses only the global torch RNG, so it is deterministic under ``torch.manual_seed``.
    """
    for m in module.modules():
        if isinstance(m, (nn.Conv3d, nn.Conv2d, nn.Conv1d)):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm3d, nn.BatchNorm2d, nn.BatchNorm1d, nn.GroupNorm)):
            if m.weight is not None:
                nn.init.ones_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0.0, 0.01)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


class VideoBackbone(nn.Module):
    """Base class of all video backbones.

    Subclasses must set ``feature_dim`` and ``stage_dims`` in ``__init__`` and
    implement :meth:`_forward_to`.

    Attributes:
        feature_dim: size of the pooled feature returned by :meth:`forward`
            (== ``stage_dims["pool5"]``).
        stage_names: ``("pool3", "pool4", "pool5")``.
        stage_dims: channels of each stage, keyed by canonical stage name.
        width: the channel multiplier the backbone was built with.
    """

    stage_names: tuple[str, ...] = STAGE_NAMES
    stage_aliases: dict[str, str] = STAGE_ALIASES

    feature_dim: int
    stage_dims: dict[str, int]
    width: float

    # ------------------------------------------------------------------ helpers
    @classmethod
    def canonical_stage(cls, stage: str) -> str:
        """Map ``low``/``mid``/``high`` (or a canonical name) to ``pool3/4/5``."""
        if isinstance(stage, str):
            if stage in cls.stage_names:
                return stage
            if stage in cls.stage_aliases:
                return cls.stage_aliases[stage]
        known = list(cls.stage_names) + list(cls.stage_aliases)
        raise ValueError(f"stages: unknown stage {stage!r}; known stages are {known}")

    @staticmethod
    def check_input(x: Tensor) -> None:
        """Raise ``ValueError`` unless ``x`` is ``(B, 3, T, H, W)``."""
        if not isinstance(x, Tensor):
            raise ValueError(f"x must be a torch.Tensor of shape (B, 3, T, H, W), got {type(x).__name__}")
        if x.dim() != 5 or x.shape[1] != 3:
            raise ValueError(
                f"x must have shape (B, 3, T, H, W) (5-D, 3 channels), got shape {tuple(x.shape)}"
            )

    @staticmethod
    def pool(feature_map: Tensor) -> Tensor:
        """Global average over T, H, W: ``(B, C, T, H, W) -> (B, C)``."""
        if feature_map.dim() != 5:
            raise ValueError(
                f"feature_map must be 5-D (B, C, T, H, W), got shape {tuple(feature_map.shape)}"
            )
        return feature_map.mean(dim=(2, 3, 4))

    # ------------------------------------------------------------------ forward
    def _forward_to(self, x: Tensor, depth: int) -> list[Tensor]:
        """Run the network up to stage ``stage_names[depth]`` (inclusive).

        Must return the list of the ``depth + 1`` stage feature maps
        ``[pool3, ..., stage_names[depth]]`` and compute nothing deeper.
        """
        raise NotImplementedError

    def forward_stages(self, x: Tensor, stages: Sequence[str] | str = ("pool5",)) -> dict[str, Tensor]:
        """Feature maps of the requested stages, each ``(B, C_s, T_s, H_s, W_s)``.

        The result is keyed by the names exactly as asked (aliases included);
        an alias and its canonical name map to the same tensor.  Only the layers
        up to the deepest requested stage are evaluated.
        """
        if isinstance(stages, str):
            stages = (stages,)
        if not isinstance(stages, Iterable):
            raise ValueError(f"stages must be a sequence of stage names, got {stages!r}")
        stages = tuple(stages)
        if not stages:
            raise ValueError("stages must name at least one stage, got an empty sequence")
        canonical = [self.canonical_stage(s) for s in stages]
        self.check_input(x)
        depth = max(self.stage_names.index(c) for c in canonical)
        maps = self._forward_to(x, depth)
        by_name = dict(zip(self.stage_names, maps))
        return {s: by_name[c] for s, c in zip(stages, canonical)}

    def forward(self, x: Tensor) -> Tensor:
        """``(B, 3, T, H, W) -> (B, feature_dim)``: global average pool of pool5."""
        return self.pool(self.forward_stages(x, ("pool5",))["pool5"])

    def extra_repr(self) -> str:
        return f"width={getattr(self, 'width', None)}, feature_dim={getattr(self, 'feature_dim', None)}"
