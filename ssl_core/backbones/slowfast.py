"""SlowFast (Feichtenhofer et al., ICCV 2019) with R3D-18-sized residual stages (our choice).

Two pathways over the same clip ``(B, 3, T, H, W)``:

* **slow**: every ``alpha``-th frame (``T / alpha`` frames, ``alpha = 4``), channels
  64/128/256/512 (x ``width``);
* **fast**: every frame, ``beta = 1/8`` of the slow channels (``scale_channels(c / 8, width)``,
  at least 8), and temporal kernels of 5 in its stem and 3 in its blocks.

Each pathway has a stem (slow ``1x7x7``, fast ``5x7x7``, both spatial stride 2, no temporal
stride) and four stages of two 3x3x3 basic residual blocks (as R3D-18's ``layer1..layer4``);
stages 2-4 halve the spatial size and keep the temporal size (SlowFast keeps the frame rate of
each pathway). Lateral connections after the stem and after stages 1-3: a ``5x1x1`` conv with
temporal stride ``alpha`` takes the fast features to ``2 x`` the fast channels at the slow frame
rate, concatenated to the slow features. (The paper's slow pathway uses 1x1 temporal kernels in
its early stages and a ResNet-50; here every block is 3x3x3 and the depth is R3D-18's, so the
backbone compares with R3D-18 at the same depth.)

Stages, like the other backbones (MFO's levels): ``pool3`` / ``pool4`` / ``pool5`` = the outputs of
stages 2 / 3 / 4, each the slow features concatenated with the fast features averaged over
every ``alpha`` frames (so both have ``T / alpha`` steps): ``stage_dims`` are the sums of the two
pathways' channels, and ``feature_dim = 512 w + 64 w`` (576 at width 1). With ``T`` not
divisible by ``alpha`` the slow pathway has ``ceil(T / alpha)`` frames and the fast features are
averaged over the matching windows (adaptive pooling).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .base import VideoBackbone, check_width, init_weights, scale_channels
from .registry import register_backbone

__all__ = ["SlowFastBackbone", "slowfast"]

ALPHA = 4
BETA = 1 / 8


def _conv_bn_relu(in_planes: int, out_planes: int, kernel, stride, padding) -> nn.Sequential:
    return nn.Sequential(nn.Conv3d(in_planes, out_planes, kernel, stride=stride, padding=padding, bias=False),
                         nn.BatchNorm3d(out_planes), nn.ReLU(inplace=True))


class Block(nn.Module):
    """Basic residual block of two 3x3x3 convs; ``spatial_stride`` on the first (time kept)."""

    def __init__(self, in_planes: int, planes: int, spatial_stride: int = 1) -> None:
        super().__init__()
        stride = (1, spatial_stride, spatial_stride)
        self.conv1 = _conv_bn_relu(in_planes, planes, 3, stride, 1)
        self.conv2 = nn.Sequential(nn.Conv3d(planes, planes, 3, padding=1, bias=False), nn.BatchNorm3d(planes))
        self.shortcut = None
        if spatial_stride != 1 or in_planes != planes:
            self.shortcut = nn.Sequential(nn.Conv3d(in_planes, planes, 1, stride=stride, bias=False), nn.BatchNorm3d(planes))

    def forward(self, x: Tensor) -> Tensor:
        identity = x if self.shortcut is None else self.shortcut(x)
        return F.relu(self.conv2(self.conv1(x)) + identity)


def _stage(in_planes: int, planes: int, spatial_stride: int) -> nn.Sequential:
    return nn.Sequential(Block(in_planes, planes, spatial_stride), Block(planes, planes))


class SlowFastBackbone(VideoBackbone):
    """The two pathways, their lateral connections, and the stage outputs described above."""

    def __init__(self, width: float = 1.0, alpha: int = ALPHA) -> None:
        super().__init__()
        self.width = check_width(width)
        self.alpha = alpha
        slow = tuple(scale_channels(p, width) for p in (64, 128, 256, 512))
        fast = tuple(scale_channels(p * BETA, width) for p in (64, 128, 256, 512))
        self.slow_stem = _conv_bn_relu(3, slow[0], (1, 7, 7), (1, 2, 2), (0, 3, 3))
        self.fast_stem = _conv_bn_relu(3, fast[0], (5, 7, 7), (1, 2, 2), (2, 3, 3))
        # lateral i takes the fast features entering stage i into the slow input of stage i
        entering = (fast[0], fast[0], fast[1], fast[2])
        self.laterals = nn.ModuleList(
            nn.Conv3d(c, 2 * c, (5, 1, 1), stride=(alpha, 1, 1), padding=(2, 0, 0), bias=False) for c in entering)
        self.slow_stages = nn.ModuleList(
            _stage(slow[max(i - 1, 0)] + 2 * fast[max(i - 1, 0)], slow[i], 1 if i == 0 else 2) for i in range(4))
        self.fast_stages = nn.ModuleList(_stage(fast[max(i - 1, 0)], fast[i], 1 if i == 0 else 2) for i in range(4))
        self.stage_dims = {name: slow[i] + fast[i] for i, name in zip((1, 2, 3), self.stage_names)}
        self.feature_dim = self.stage_dims["pool5"]
        init_weights(self)

    def _forward_to(self, x: Tensor, depth: int) -> list[Tensor]:
        slow, fast = self.slow_stem(x[:, :, :: self.alpha]), self.fast_stem(x)
        outs = []
        for i in range(depth + 2):  # stage 0 is layer1; pool3 is stage 1's output
            slow = self.slow_stages[i](torch.cat([slow, self.laterals[i](fast)], dim=1))
            fast = self.fast_stages[i](fast)
            if i >= 1:
                outs.append(torch.cat([slow, F.adaptive_avg_pool3d(fast, slow.shape[2:])], dim=1))
        return outs


@register_backbone("slowfast")
def slowfast(width: float = 1.0, **kwargs) -> SlowFastBackbone:
    """SlowFast with R3D-18-sized stages, alpha 4, beta 1/8."""
    return SlowFastBackbone(width=width, **kwargs)
