"""C3D with batch norm, as used by STS/MAS (Wang et al.) and VCOP (Xu et al.).

Layer layout and module names follow the public VCOP ``models/c3d.py`` (so
its checkpoints' conv/bn keys load), without the classifier::

    conv1  64  -> pool1 (1,2,2)/(1,2,2)
    conv2  128 -> pool2 (2,2,2)/(2,2,2)
    conv3a 256, conv3b 256 -> pool3 (2,2,2)/(2,2,2)
    conv4a 512, conv4b 512 -> pool4 (2,2,2)/(2,2,2)
    conv5a 512, conv5b 512 -> pool5 (2,2,2)/(2,2,2), padding (0,1,1)

Every conv is 3x3x3, padding 1, with bias (as in VCOP), followed by
BatchNorm3d and ReLU.  Channels are ``scale_channels(c, width)`` (see
:mod:`ssl_core.backbones.base`), so ``feature_dim == scale_channels(512, width)``.

Stages: ``pool3`` / ``pool4`` / ``pool5`` are literally the outputs of the
max-pools of the same name -- these are the layers the STS/MAS paper and MFO
(for C3D) take their low/mid/high features from.  Shapes at ``16x112x112``:
pool3 ``(256w, 4, 14, 14)``, pool4 ``(512w, 2, 7, 7)``, pool5 ``(512w, 1, 4, 4)``.

All pools are :class:`~ssl_core.backbones.base.ShrinkingMaxPool3d`: on inputs
too small for a window (e.g. 8 frames: pool4 sees T=2, pool5 sees T=1) the
window shrinks to the input extent instead of raising; at the papers' sizes
they are plain ``nn.MaxPool3d``.
"""

from __future__ import annotations

from torch import Tensor, nn

from .base import ShrinkingMaxPool3d, VideoBackbone, check_width, init_weights, scale_channels
from .registry import register_backbone

__all__ = ["C3D", "c3d"]

# (stage name, [(conv name, out channels), ...], pool kernel, pool stride, pool padding)
_LAYOUT = (
    ("1", [("1", 64)], (1, 2, 2), (1, 2, 2), 0),
    ("2", [("2", 128)], (2, 2, 2), (2, 2, 2), 0),
    ("3", [("3a", 256), ("3b", 256)], (2, 2, 2), (2, 2, 2), 0),
    ("4", [("4a", 512), ("4b", 512)], (2, 2, 2), (2, 2, 2), 0),
    ("5", [("5a", 512), ("5b", 512)], (2, 2, 2), (2, 2, 2), (0, 1, 1)),
)


class C3D(VideoBackbone):
    """C3D-BN trunk (no fc layers). See the module docstring."""

    def __init__(self, width: float = 1.0) -> None:
        super().__init__()
        self.width = check_width(width)
        in_ch = 3
        self._block_names: list[list[str]] = []  # module names executed per pool block
        dims: dict[str, int] = {}
        for block, convs, k, s, p in _LAYOUT:
            names = []
            for suffix, out in convs:
                out_ch = scale_channels(out, self.width)
                setattr(self, f"conv{suffix}", nn.Conv3d(in_ch, out_ch, kernel_size=3, padding=1, bias=True))
                setattr(self, f"bn{suffix}", nn.BatchNorm3d(out_ch))
                setattr(self, f"relu{suffix}", nn.ReLU(inplace=True))
                names += [f"conv{suffix}", f"bn{suffix}", f"relu{suffix}"]
                in_ch = out_ch
            setattr(self, f"pool{block}", ShrinkingMaxPool3d(kernel_size=k, stride=s, padding=p))
            names.append(f"pool{block}")
            self._block_names.append(names)
            dims[f"pool{block}"] = in_ch
        self.stage_dims = {name: dims[name] for name in self.stage_names}
        self.feature_dim = self.stage_dims["pool5"]
        # pool1..pool3 are computed together for stage 0, then one block per stage.
        self._stage_blocks = [
            self._block_names[0] + self._block_names[1] + self._block_names[2],
            self._block_names[3],
            self._block_names[4],
        ]
        init_weights(self)

    def _forward_to(self, x: Tensor, depth: int) -> list[Tensor]:
        outs = []
        for names in self._stage_blocks[: depth + 1]:
            for name in names:
                x = getattr(self, name)(x)
            outs.append(x)
        return outs


@register_backbone("c3d")
def c3d(width: float = 1.0, **kwargs) -> C3D:
    """C3D-BN (STS / VCOP variant); ``feature_dim = scale_channels(512, width)``."""
    return C3D(width=width, **kwargs)
