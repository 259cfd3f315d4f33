"""Heads on time-resolved features ``(B, C, T)`` / ``(B, C, T, H, W)``, used by MFO.

- :class:`StepMLP`: ``Conv1d(1x1) -> ReLU -> Conv1d(1x1)`` on ``(B, C, T)``: a per-time-step MLP.
- :class:`MotionExcitation` (the ME block): ``r = BN(conv1x1(x))`` to ``C / 16`` channels; a
  depthwise 3x3 spatial conv ``k``; ``m_t = k(r_{t+1}) - r_t`` (0 at the last step); spatial
  average pool; ``BN(conv1x1)`` back to ``C``; ``out = x + (sigmoid(m) - 0.5) * x``.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ssl_core.config import require_int


class StepMLP(nn.Module):
    """``(B, in_dim, T) -> (B, out_dim, T)``, the same MLP at every time step."""

    def __init__(self, in_dim: int, hidden_dim: int, out_dim: int):
        super().__init__()
        for name, value in (("in_dim", in_dim), ("hidden_dim", hidden_dim), ("out_dim", out_dim)):
            require_int(value, name, minimum=1)
        self.net = nn.Sequential(nn.Conv1d(in_dim, hidden_dim, 1), nn.ReLU(inplace=True), nn.Conv1d(hidden_dim, out_dim, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 3:
            raise ValueError(f"x: must be (B, C, T), got {tuple(x.shape)}")
        return self.net(x)


class MotionExcitation(nn.Module):
    """The ME block on ``(B, C, T, H, W)`` feature maps; keeps the shape."""

    def __init__(self, channels: int, reduction: int = 16):
        super().__init__()
        require_int(channels, "channels", minimum=1)
        require_int(reduction, "reduction", minimum=1)
        reduced = max(1, channels // reduction)
        self.reduce = nn.Sequential(nn.Conv3d(channels, reduced, 1, bias=False), nn.BatchNorm3d(reduced))
        self.spatial = nn.Conv3d(reduced, reduced, (1, 3, 3), padding=(0, 1, 1), groups=reduced, bias=False)
        self.expand = nn.Sequential(nn.Conv3d(reduced, channels, 1, bias=False), nn.BatchNorm3d(channels))

    def motion(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, C', T, 1, 1)``: the pooled feature differences ``k(r_{t+1}) - r_t``, 0 at the last step."""
        reduced = self.reduce(x)
        if reduced.shape[2] < 2:  # one step: no next step to differ from
            return reduced.new_zeros(reduced.shape[:3] + (1, 1))
        difference = self.spatial(reduced[:, :, 1:]) - reduced[:, :, :-1]
        difference = F.pad(difference, (0, 0, 0, 0, 0, 1))
        return F.adaptive_avg_pool3d(difference, (x.shape[2], 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 5:
            raise ValueError(f"x: must be (B, C, T, H, W), got {tuple(x.shape)}")
        gate = torch.sigmoid(self.expand(self.motion(x))) - 0.5
        return x + gate * x
