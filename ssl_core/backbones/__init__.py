"""Video backbones with a timm-style registry.

Usage::

    from ssl_core.backbones import build_backbone, list_backbones
    list_backbones()          # ['c3d', 'r2plus1d_18', 'r3d_18', 's3d', 'slowfast']
    net = build_backbone("r3d_18", width=0.25)
    feats = net.forward_stages(x, ("low", "mid", "high"))  # x: (B, 3, T, H, W)
    emb = net(x)              # (B, net.feature_dim)

Every backbone is a :class:`VideoBackbone` (see :mod:`ssl_core.backbones.base`
for the contract and the width rounding rule
``channels = max(8, floor(c * width + 0.5))``).
"""

from .base import (
    STAGE_ALIASES,
    STAGE_NAMES,
    ShrinkingMaxPool3d,
    VideoBackbone,
    init_weights,
    scale_channels,
)
from .registry import build_backbone, list_backbones, register_backbone
from .config import BackboneConfig

# Importing the architecture modules registers them.
from . import c3d as _c3d  # noqa: E402,F401
from . import resnet3d as _resnet3d  # noqa: E402,F401
from . import s3d as _s3d  # noqa: E402,F401
from . import slowfast as _slowfast  # noqa: E402,F401
from .c3d import C3D  # noqa: E402
from .resnet3d import VideoResNetBackbone  # noqa: E402
from .s3d import S3DBackbone  # noqa: E402
from .slowfast import SlowFastBackbone  # noqa: E402

__all__ = [
    "BackboneConfig",
    "C3D",
    "S3DBackbone",
    "SlowFastBackbone",
    "STAGE_ALIASES",
    "STAGE_NAMES",
    "ShrinkingMaxPool3d",
    "VideoBackbone",
    "VideoResNetBackbone",
    "build_backbone",
    "init_weights",
    "list_backbones",
    "register_backbone",
    "scale_channels",
]
