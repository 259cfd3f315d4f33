"""S3D (Xie et al., ECCV 2018) trunk with a width multiplier.

Reassembled from torchvision's building blocks (:mod:`torchvision.models.video.s3d`:
``TemporalSeparableConv``, ``SepInceptionBlock3D``; ``Conv3dNormActivation``)
as a ``features`` ``nn.Sequential`` with the same indices as
``torchvision.models.video.S3D().features``; at ``width=1.0`` the
``features.*`` state_dict keys and shapes equal torchvision's (no ``avgpool`` /
``classifier`` here)::

    0  TemporalSeparableConv(3 -> 64, k7, s2)        (Conv1a)
    1  MaxPool (1,3,3)/(1,2,2)                       (MaxPool2a)
    2  Conv 1x1x1 64                                 (Conv2b)
    3  TemporalSeparableConv(64 -> 192, k3)          (Conv2c)
    4  MaxPool (1,3,3)/(1,2,2)                       (MaxPool3a)
    5  Mixed_3b (256)   6  Mixed_3c (480)            -> pool3
    7  MaxPool (3,3,3)/(2,2,2) pad 1                 (MaxPool4a)
    8..12  Mixed_4b..Mixed_4f (512,512,512,528,832)  -> pool4
    13 MaxPool (2,2,2)/(2,2,2)                       (MaxPool5a)
    14 Mixed_5b (832)  15 Mixed_5c (1024)            -> pool5

Stages: ``pool3`` = output of Mixed_3c (features[6], before the (3,3,3)
max-pool), ``pool4`` = output of Mixed_4f (features[12], before the (2,2,2)
max-pool), ``pool5`` = output of Mixed_5c (features[15]).  These are the last
block of each of the three deepest resolution levels, i.e. the features that
C3D's pool3/4/5 would *feed into the next level*; taking them before the
pool keeps the highest resolution of each level (at 16x112x112: pool3
``(480w, 8, 14, 14)``, pool4 ``(832w, 4, 7, 7)``, pool5 ``(1024w, 2, 3, 3)``).

Width scaling: every branch width of every Inception block, and the stem's
64/64/192, is ``scale_channels(c, width)`` (see :mod:`ssl_core.backbones.base`);
block input channels are the sum of the previous block's (scaled) branch
outputs, so ``feature_dim`` is the sum of Mixed_5c's four scaled branches
(1024 at width 1, 256 at width 0.25).

Differences from torchvision's ``S3D`` (none affect state_dict keys/shapes):

* BatchNorm is ``BatchNorm3d(eps=1e-3)`` with PyTorch's default momentum
  (0.1) instead of torchvision's TF-port momentum 0.001, which would leave the
  running statistics nearly at their init after a short from-scratch run.
  Pass ``norm_layer=`` to override.
* Weights get the usual Kaiming/BN init (torchvision leaves PyTorch defaults).
* The four downsampling max-pools are
  :class:`~ssl_core.backbones.base.ShrinkingMaxPool3d` (identical at normal
  sizes, shrink instead of raising on tiny inputs).
"""

from __future__ import annotations

from functools import partial
from typing import Callable, Optional

from torch import Tensor, nn
from torchvision.models.video.s3d import SepInceptionBlock3D, TemporalSeparableConv
from torchvision.ops.misc import Conv3dNormActivation

from .base import ShrinkingMaxPool3d, VideoBackbone, check_width, init_weights, scale_channels
from .registry import register_backbone

__all__ = ["S3DBackbone", "s3d"]

# b0_out, b1_mid, b1_out, b2_mid, b2_out, b3_out  (torchvision / paper values)
_MIXED = {
    "3b": (64, 96, 128, 16, 32, 32),
    "3c": (128, 128, 192, 32, 96, 64),
    "4b": (192, 96, 208, 16, 48, 64),
    "4c": (160, 112, 224, 24, 64, 64),
    "4d": (128, 128, 256, 24, 64, 64),
    "4e": (112, 144, 288, 32, 64, 64),
    "4f": (256, 160, 320, 32, 128, 128),
    "5b": (256, 160, 320, 32, 128, 128),
    "5c": (384, 192, 384, 48, 128, 128),
}

# features index (inclusive) at which each stage ends
_STAGE_END = {"pool3": 6, "pool4": 12, "pool5": 15}


class S3DBackbone(VideoBackbone):
    """S3D trunk (``features`` only). See the module docstring."""

    def __init__(self, width: float = 1.0, norm_layer: Optional[Callable[..., nn.Module]] = None) -> None:
        super().__init__()
        self.width = check_width(width)
        if norm_layer is None:
            norm_layer = partial(nn.BatchNorm3d, eps=1e-3)

        def sc(c: int) -> int:
            return scale_channels(c, self.width)

        def mixed(in_planes: int, cfg: tuple[int, ...]) -> tuple[SepInceptionBlock3D, int]:
            b0, b1m, b1, b2m, b2, b3 = (sc(c) for c in cfg)
            return SepInceptionBlock3D(in_planes, b0, b1m, b1, b2m, b2, b3, norm_layer), b0 + b1 + b2 + b3

        c1, c2, c3 = sc(64), sc(64), sc(192)
        layers: list[nn.Module] = [
            TemporalSeparableConv(3, c1, 7, 2, 3, norm_layer),
            ShrinkingMaxPool3d(kernel_size=(1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1)),
            Conv3dNormActivation(c1, c2, kernel_size=1, stride=1, norm_layer=norm_layer),
            TemporalSeparableConv(c2, c3, 3, 1, 1, norm_layer),
            ShrinkingMaxPool3d(kernel_size=(1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1)),
        ]
        ch = c3
        dims: dict[str, int] = {}
        for name in ("3b", "3c"):
            block, ch = mixed(ch, _MIXED[name])
            layers.append(block)
        dims["pool3"] = ch
        layers.append(ShrinkingMaxPool3d(kernel_size=(3, 3, 3), stride=(2, 2, 2), padding=(1, 1, 1)))
        for name in ("4b", "4c", "4d", "4e", "4f"):
            block, ch = mixed(ch, _MIXED[name])
            layers.append(block)
        dims["pool4"] = ch
        layers.append(ShrinkingMaxPool3d(kernel_size=(2, 2, 2), stride=(2, 2, 2), padding=(0, 0, 0)))
        for name in ("5b", "5c"):
            block, ch = mixed(ch, _MIXED[name])
            layers.append(block)
        dims["pool5"] = ch
        self.features = nn.Sequential(*layers)
        assert len(self.features) == _STAGE_END["pool5"] + 1
        self.stage_dims = {name: dims[name] for name in self.stage_names}
        self.feature_dim = self.stage_dims["pool5"]
        init_weights(self)

    def _forward_to(self, x: Tensor, depth: int) -> list[Tensor]:
        outs = []
        start = 0
        for stage in self.stage_names[: depth + 1]:
            end = _STAGE_END[stage]
            for i in range(start, end + 1):
                x = self.features[i](x)
            outs.append(x)
            start = end + 1
        return outs


@register_backbone("s3d")
def s3d(width: float = 1.0, **kwargs) -> S3DBackbone:
    """S3D trunk; ``features.*`` keys/shapes == torchvision ``S3D().features`` at width 1."""
    return S3DBackbone(width=width, **kwargs)
