"""Two-layer MLP head: ``Linear -> [BatchNorm1d] -> ReLU -> Linear``.

CSTP uses it for the STOR, pace and rotation classifiers (hidden = feature dim) and for the
contrastive projector / predictor (public code: 512 -> 4096 -> BN -> ReLU -> 512).
"""
from __future__ import annotations

import torch
from torch import nn

from ssl_core.config import require_bool, require_int


class MLPHead(nn.Module):
    """``(B, in_dim) -> (B, out_dim)``; with ``bn`` the hidden layer is batch-normalised
    (so training needs ``B >= 2``)."""

    def __init__(self, in_dim: int, hidden_dim: int, out_dim: int, bn: bool = True):
        super().__init__()
        for name, value in (("in_dim", in_dim), ("hidden_dim", hidden_dim), ("out_dim", out_dim)):
            require_int(value, name, minimum=1)
        require_bool(bn, "bn")
        layers: list[nn.Module] = [nn.Linear(in_dim, hidden_dim, bias=not bn)]
        if bn:
            layers.append(nn.BatchNorm1d(hidden_dim))
        layers += [nn.ReLU(inplace=True), nn.Linear(hidden_dim, out_dim)]
        self.net = nn.Sequential(*layers)
        self.in_dim, self.hidden_dim, self.out_dim = in_dim, hidden_dim, out_dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x``: ``(B, in_dim)`` -> ``(B, out_dim)``."""
        if x.ndim != 2 or x.shape[1] != self.in_dim:
            raise ValueError(f"x: must be (B, {self.in_dim}), got {tuple(x.shape)}")
        return self.net(x)
