"""R3D-18 and R(2+1)D-18 trunks (Tran et al., CVPR 2018) with a width multiplier.

Assembled from torchvision's own building blocks
(:mod:`torchvision.models.video.resnet`: ``BasicBlock``, ``Conv3DSimple``,
``Conv2Plus1D``) with the same module names as ``torchvision.models.video.
r3d_18()`` / ``r2plus1d_18()`` -- ``stem``, ``layer1`` .. ``layer4`` -- minus
``avgpool`` and ``fc``.  At ``width=1.0`` the state_dict keys and shapes are
exactly torchvision's without ``fc.*``, so Kinetics checkpoints load with
``strict=False`` (or after dropping ``fc.*``).

Width scaling (``scale_channels`` from :mod:`ssl_core.backbones.base`):

* stage planes 64/128/256/512 -> ``scale_channels(p, width)``;
* R3D stem: ``Conv3d(3, c64, (3,7,7))``;
* R(2+1)D stem: its hard-coded 45 mid channels -> ``scale_channels(45, width)``
  (45 at width 1.0, torchvision's value);
* R(2+1)D block mid channels are given by torchvision's own ``BasicBlock``
  formula ``(in*out*27) // (9*in + 3*out)`` applied to the *scaled* in/out
  planes.  The formula is homogeneous of degree 1, so this is ``~width`` times
  the original mid channels, i.e. consistent with the rest of the scaling.

Stages (same as MFO's public code, low/mid/high = layer2/3/4):

* ``pool3`` = output of ``layer2`` (128w channels; 16x112x112 -> (8, 28, 28)),
* ``pool4`` = output of ``layer3`` (256w; (4, 14, 14)),
* ``pool5`` = output of ``layer4`` (512w; (2, 7, 7)).

These are the ResNet layers at the same depth / resolution as C3D's pool3/4/5
(the last three resolution levels), hence the names.
"""

from __future__ import annotations

from torch import Tensor, nn
from torchvision.models.video.resnet import BasicBlock, Conv2Plus1D, Conv3DSimple

from .base import VideoBackbone, check_width, init_weights, scale_channels
from .registry import register_backbone

__all__ = ["VideoResNetBackbone", "r21d_vcop", "r2plus1d_18", "r3d_18", "r3d_18_hara", "r3d_vcop"]


class ScaledBasicStem(nn.Sequential):
    """torchvision ``BasicStem`` with ``out_planes`` output channels."""

    def __init__(self, out_planes: int = 64) -> None:
        super().__init__(
            nn.Conv3d(3, out_planes, kernel_size=(3, 7, 7), stride=(1, 2, 2), padding=(1, 3, 3), bias=False),
            nn.BatchNorm3d(out_planes),
            nn.ReLU(inplace=True),
        )


class ScaledHaraStem(nn.Sequential):
    """The stem of Hara et al.'s 3D ResNets as MFO's public code builds it (``r3d.py``): a
    7 x 7 x 7 convolution (stride 1, 2, 2) to ``out_planes`` channels, batch norm, ReLU and a
    1 x 3 x 3 max pool (stride 1, 2, 2): time kept, space quartered."""

    def __init__(self, out_planes: int = 64) -> None:
        super().__init__(
            nn.Conv3d(3, out_planes, kernel_size=(7, 7, 7), stride=(1, 2, 2), padding=(3, 3, 3), bias=False),
            nn.BatchNorm3d(out_planes),
            nn.ReLU(inplace=True),
            nn.MaxPool3d(kernel_size=(1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1)),
        )


class ScaledR2Plus1dStem(nn.Sequential):
    """torchvision ``R2Plus1dStem`` with ``mid_planes`` (45) and ``out_planes`` (64) scaled."""

    def __init__(self, out_planes: int = 64, mid_planes: int = 45) -> None:
        super().__init__(
            nn.Conv3d(3, mid_planes, kernel_size=(1, 7, 7), stride=(1, 2, 2), padding=(0, 3, 3), bias=False),
            nn.BatchNorm3d(mid_planes),
            nn.ReLU(inplace=True),
            nn.Conv3d(mid_planes, out_planes, kernel_size=(3, 1, 1), stride=(1, 1, 1), padding=(1, 0, 0), bias=False),
            nn.BatchNorm3d(out_planes),
            nn.ReLU(inplace=True),
        )


class VideoResNetBackbone(VideoBackbone):
    """torchvision ``VideoResNet`` trunk (BasicBlock) with scaled widths and no head."""

    def __init__(
        self,
        conv_builder: type[Conv3DSimple] | type[Conv2Plus1D],
        stem: nn.Module,
        stem_planes: int,
        planes: tuple[int, int, int, int],
        layers: tuple[int, int, int, int] = (2, 2, 2, 2),
        width: float = 1.0,
        zero_init_residual: bool = False,
    ) -> None:
        super().__init__()
        self.width = check_width(width)
        self.inplanes = stem_planes
        self.stem = stem
        self.layer1 = self._make_layer(conv_builder, planes[0], layers[0], stride=1)
        self.layer2 = self._make_layer(conv_builder, planes[1], layers[1], stride=2)
        self.layer3 = self._make_layer(conv_builder, planes[2], layers[2], stride=2)
        self.layer4 = self._make_layer(conv_builder, planes[3], layers[3], stride=2)
        self.stage_dims = {"pool3": planes[1], "pool4": planes[2], "pool5": planes[3]}
        self.feature_dim = planes[3]
        init_weights(self)
        if zero_init_residual:
            for m in self.modules():
                if isinstance(m, BasicBlock):
                    nn.init.zeros_(m.conv2[1].weight)

    def _make_layer(self, conv_builder, planes: int, blocks: int, stride: int) -> nn.Sequential:
        # Same logic as torchvision.models.video.resnet.VideoResNet._make_layer (BasicBlock).
        downsample = None
        if stride != 1 or self.inplanes != planes * BasicBlock.expansion:
            ds_stride = conv_builder.get_downsample_stride(stride)
            downsample = nn.Sequential(
                nn.Conv3d(self.inplanes, planes * BasicBlock.expansion, kernel_size=1, stride=ds_stride, bias=False),
                nn.BatchNorm3d(planes * BasicBlock.expansion),
            )
        layers = [BasicBlock(self.inplanes, planes, conv_builder, stride, downsample)]
        self.inplanes = planes * BasicBlock.expansion
        for _ in range(1, blocks):
            layers.append(BasicBlock(self.inplanes, planes, conv_builder))
        return nn.Sequential(*layers)

    def _forward_to(self, x: Tensor, depth: int) -> list[Tensor]:
        x = self.stem(x)
        x = self.layer1(x)
        outs = []
        for layer in (self.layer2, self.layer3, self.layer4)[: depth + 1]:
            x = layer(x)
            outs.append(x)
        return outs


def _planes(width: float) -> tuple[int, int, int, int]:
    return tuple(scale_channels(p, width) for p in (64, 128, 256, 512))  # type: ignore[return-value]


def _r3d(width: float, layers: tuple[int, int, int, int], stem=ScaledBasicStem, **kwargs) -> VideoResNetBackbone:
    planes = _planes(width)
    return VideoResNetBackbone(conv_builder=Conv3DSimple, stem=stem(planes[0]), stem_planes=planes[0],
                               planes=planes, layers=layers, width=width, **kwargs)


@register_backbone("r3d_18")
def r3d_18(width: float = 1.0, **kwargs) -> VideoResNetBackbone:
    """R3D-18 trunk; keys/shapes == ``torchvision.models.video.r3d_18()`` minus ``fc.*`` at width 1."""
    return _r3d(width, (2, 2, 2, 2), **kwargs)


@register_backbone("r3d_18_hara")
def r3d_18_hara(width: float = 1.0, **kwargs) -> VideoResNetBackbone:
    """The R3D-18 of MFO's public code (Hara et al.'s ``generate_model(18)``): :func:`r3d_18`'s
    blocks after :class:`ScaledHaraStem`, so each stage has half the spatial size of torchvision's."""
    return _r3d(width, (2, 2, 2, 2), stem=ScaledHaraStem, **kwargs)


@register_backbone("r3d_vcop")
def r3d_vcop(width: float = 1.0, **kwargs) -> VideoResNetBackbone:
    """The VCOP-style R3D the STS public code trains as "R3D-18" (``R3DNet(layer_sizes=(1, 1, 1, 1))``;
    STS Table 2: 14.4 M parameters): :func:`r3d_18`'s stem and blocks with one basic block per stage."""
    return _r3d(width, (1, 1, 1, 1), **kwargs)


@register_backbone("r2plus1d_18")
def r2plus1d_18(width: float = 1.0, **kwargs) -> VideoResNetBackbone:
    """R(2+1)D-18 trunk; keys/shapes == ``torchvision.models.video.r2plus1d_18()`` minus ``fc.*`` at width 1."""
    planes = _planes(width)
    return VideoResNetBackbone(
        conv_builder=Conv2Plus1D,
        stem=ScaledR2Plus1dStem(planes[0], scale_channels(45, width)),
        stem_planes=planes[0],
        planes=planes,
        width=width,
        **kwargs,
    )


# The VCOP stem's (2+1)D factorisation of a 3 x 7 x 7 convolution 3 -> 64: Tran et al.'s
# mid-channel rule floor(t d^2 N_in N_out / (d^2 N_in + t N_out)) = floor(3*49*3*64 / (49*3 + 3*64)).
VCOP_STEM_MID = 83


class VCOPConv2Plus1D(Conv2Plus1D):
    """torchvision's ``Conv2Plus1D`` with its mid channels from its own in/out channels (VCOP's
    ``SpatioTemporalConv``); torchvision's ``BasicBlock`` gives both its convolutions the first one's."""

    def __init__(self, in_planes: int, out_planes: int, midplanes: int, stride: int = 1, padding: int = 1) -> None:
        super().__init__(in_planes, out_planes, (in_planes * out_planes * 27) // (in_planes * 9 + 3 * out_planes), stride, padding)


@register_backbone("r21d_vcop")
def r21d_vcop(width: float = 1.0, **kwargs) -> VideoResNetBackbone:
    """The VCOP-style R(2+1)D of V3S Table 2 (Xu et al., CVPR 2019; 14.4 M parameters at width 1):
    one (2+1)D basic block per stage (layer sizes 1, 1, 1, 1), a factorised 3 x 7 x 7 stem with
    83 mid channels, and every (2+1)D convolution's mid channels by the same rule from its own
    in/out channels (:class:`VCOPConv2Plus1D`); the shortcut projections are plain 1 x 1 x 1 convolutions as in torchvision
    (VCOP factorises them too: 0.2 k parameters fewer in all)."""
    planes = _planes(width)
    return VideoResNetBackbone(
        conv_builder=VCOPConv2Plus1D,
        stem=ScaledR2Plus1dStem(planes[0], scale_channels(VCOP_STEM_MID, width)),
        stem_planes=planes[0],
        planes=planes,
        layers=(1, 1, 1, 1),
        width=width,
        **kwargs,
    )
