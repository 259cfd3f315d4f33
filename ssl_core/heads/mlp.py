"""Two-layer MLP head: ``Linear -> [BatchNorm1d] -> ReLU -> Linear``.

CSTP uses it for the STOR, pace and rotation classifiers (hidden = feature dim) and for the
contrastive projector / predictor (public code: 512 -> 4096 -> BN -> ReLU -> 512).
"""
from __future__ import annotations

import torch
from torch import nn


def _check_dim(name: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name}: must be a positive integer, got {value!r}")
    return value


class MLPHead(nn.Module):
    """``(B, in_dim) -> (B, out_dim)``; with ``bn`` the hidden layer is batch-normalised
    (so training needs ``B >= 2``)."""

    def __init__(self, in_dim: int, hidden_dim: int, out_dim: int, bn: bool = True):
        super().__init__()
        _check_dim("in_dim", in_dim)
        _check_dim("hidden_dim", hidden_dim)
        _check_dim("out_dim", out_dim)
        if not isinstance(bn, bool):
            raise ValueError(f"bn: must be true or false, got {bn!r}")
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
