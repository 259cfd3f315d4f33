"""Which backbone a trial builds: a registered name and a width multiplier."""
from __future__ import annotations

from dataclasses import dataclass

from ssl_core.backbones.registry import build_backbone, list_backbones
from ssl_core.config import require


@dataclass(frozen=True)
class BackboneConfig:
    name: str = "r3d_18"
    width: float = 1.0

    def validate(self, prefix: str = "backbone.") -> "BackboneConfig":
        require(self.name in list_backbones(), prefix + "name", f"unknown backbone {self.name!r} (known: {', '.join(list_backbones())})")
        require(self.width > 0, prefix + "width", f"must be > 0, got {self.width}")
        return self

    def build(self):
        return build_backbone(self.validate().name, width=self.width)
