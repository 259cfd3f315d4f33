"""Small module helpers shared by methods and protocols: momentum (EMA) targets, DDP gathering,
the optimiser choice of pretraining and fine-tuning."""
from __future__ import annotations

import copy

import torch
from torch import nn


OPTIMISERS = ("sgd", "adam", "adamw")


def make_optimiser(parameters, config) -> torch.optim.Optimizer:
    """The optimiser ``config.optimiser`` names (one of :data:`OPTIMISERS`) with ``config.lr`` and
    ``config.weight_decay`` (decoupled for ``"adamw"``, L2 otherwise); ``config.momentum`` is used
    by ``"sgd"`` only. ``config``: a pretraining or fine-tuning config."""
    if config.optimiser == "adamw":
        return torch.optim.AdamW(parameters, lr=config.lr, weight_decay=config.weight_decay)
    if config.optimiser == "adam":
        return torch.optim.Adam(parameters, lr=config.lr, weight_decay=config.weight_decay)
    return torch.optim.SGD(parameters, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay)


def frozen_copy(module: nn.Module) -> nn.Module:
    """A deep copy with ``requires_grad = False`` everywhere (a momentum target)."""
    target = copy.deepcopy(module)
    for parameter in target.parameters():
        parameter.requires_grad_(False)
    return target


@torch.no_grad()
def momentum_update(target: nn.Module, online: nn.Module, momentum: float) -> None:
    """``theta_target <- momentum * theta_target + (1 - momentum) * theta_online`` for every parameter."""
    for target_param, online_param in zip(target.parameters(), online.parameters()):
        target_param.mul_(momentum).add_(online_param.detach(), alpha=1 - momentum)


def gather(x: torch.Tensor) -> torch.Tensor:
    """``x`` ``(B, ...)`` of every DDP worker, concatenated in rank order (``(world B, ...)``), with
    gradients flowing back to each worker's own rows; ``x`` itself without a process group."""
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return x
    from torch.distributed.nn.functional import all_gather

    return torch.cat(all_gather(x.contiguous()))
