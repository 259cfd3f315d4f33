"""Contrastive / self-distillation losses on embeddings (plain functions, means over the batch).

Shapes: ``B`` examples, ``D`` embedding dims, ``K`` queued negatives. Embeddings are
L2-normalised inside every loss, so callers pass raw projector / predictor outputs.

- ``nt_xent`` (SimCLR): the ``2B`` views ``z = [z1; z2]``, ``s_ij = cos(z_i, z_j) / t``;
  view ``i``'s positive is its other view ``j(i)``, every other view is a negative:
  ``L = mean_i [-s_{i j(i)} + log sum_{k != i} exp(s_ik)]``.
- ``info_nce`` (MoCo): ``l_pos = cos(q_i, k_i) / t``, ``l_neg = cos(q_i, queue_n) / t``;
  ``L = mean_i [-l_pos + log(exp(l_pos) + sum_n exp(l_neg_n))]``; keys and queue carry no
  gradient.
- ``byol_loss``: ``mean_i [2 - 2 cos(p_i, z_i)]`` (BYOL uses it symmetrically: the caller
  adds both directions); no gradient through ``z``.
- ``simsiam_loss``: ``mean_i [-cos(p_i, stopgrad(z_i))]``.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def _check_pair(name_a: str, a: torch.Tensor, name_b: str, b: torch.Tensor) -> None:
    if a.ndim != 2:
        raise ValueError(f"{name_a}: must be (B, D), got {tuple(a.shape)}")
    if b.shape != a.shape:
        raise ValueError(f"{name_b}: must have the shape of {name_a} {tuple(a.shape)}, got {tuple(b.shape)}")


def _check_temperature(temperature: float) -> None:
    if not temperature > 0:
        raise ValueError(f"temperature: must be > 0, got {temperature}")


def nt_xent(z1: torch.Tensor, z2: torch.Tensor, temperature: float) -> torch.Tensor:
    """SimCLR's NT-Xent over the ``2B`` views; ``z1``, ``z2``: ``(B, D)`` (``B >= 1``) -> scalar."""
    _check_pair("z1", z1, "z2", z2)
    _check_temperature(temperature)
    batch = z1.shape[0]
    z = F.normalize(torch.cat([z1, z2]), dim=1)
    logits = z @ z.t() / temperature
    logits = logits.masked_fill(torch.eye(2 * batch, dtype=torch.bool, device=z.device), float("-inf"))
    targets = torch.cat([torch.arange(batch, 2 * batch), torch.arange(batch)]).to(z.device)
    return F.cross_entropy(logits, targets)


def info_nce(q: torch.Tensor, k: torch.Tensor, queue: torch.Tensor, temperature: float) -> torch.Tensor:
    """MoCo's InfoNCE; ``q``, ``k``: ``(B, D)``, ``queue``: ``(K, D)`` negatives -> scalar."""
    _check_pair("q", q, "k", k)
    _check_temperature(temperature)
    if queue.ndim != 2 or queue.shape[1] != q.shape[1]:
        raise ValueError(f"queue: must be (K, {q.shape[1]}), got {tuple(queue.shape)}")
    q = F.normalize(q, dim=1)
    k = F.normalize(k.detach(), dim=1)
    queue = F.normalize(queue.detach(), dim=1)
    positives = (q * k).sum(dim=1, keepdim=True)
    logits = torch.cat([positives, q @ queue.t()], dim=1) / temperature
    return F.cross_entropy(logits, torch.zeros(len(q), dtype=torch.long, device=q.device))


def byol_loss(p: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """``mean(2 - 2 cos(p, z))``; ``p`` online predictions, ``z`` target projections, ``(B, D)``
    -> scalar in ``[0, 4]``."""
    _check_pair("p", p, "z", z)
    return (2 - 2 * F.cosine_similarity(p, z.detach(), dim=1)).mean()


def simsiam_loss(p: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """``-mean(cos(p, stopgrad(z)))``; ``p``, ``z``: ``(B, D)`` -> scalar in ``[-1, 1]``."""
    _check_pair("p", p, "z", z)
    return -F.cosine_similarity(p, z.detach(), dim=1).mean()
