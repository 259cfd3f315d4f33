"""Small module helpers shared by methods and protocols: momentum (EMA) targets, DDP gathering,
the optimiser choice of pretraining and fine-tuning."""
from __future__ import annotations

import copy

import torch
from torch import nn


OPTIMISERS = ("sgd", "adam", "adamw")


def make_optimiser(module: nn.Module, config) -> torch.optim.Optimizer:
    """The optimiser ``config.optimiser`` names (one of :data:`OPTIMISERS`) over ``module``'s
    parameters, with ``config.lr`` and ``config.weight_decay`` (decoupled for ``"adamw"``, L2
    otherwise); ``config.momentum`` is used by ``"sgd"`` only. ``config``: a pretraining or
    fine-tuning config; its ``bias_lr_mult`` scales the learning rate of every bias
    (:func:`parameter_groups`)."""
    groups = parameter_groups(module, config.lr, config.bias_lr_mult)
    if config.optimiser == "adamw":
        return torch.optim.AdamW(groups, lr=config.lr, weight_decay=config.weight_decay)
    if config.optimiser == "adam":
        return torch.optim.Adam(groups, lr=config.lr, weight_decay=config.weight_decay)
    return torch.optim.SGD(groups, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay)


def parameter_groups(module: nn.Module, lr: float, bias_lr_mult: float = 1.0) -> list[dict]:
    """``module``'s parameters as optimiser groups: one group at ``lr`` when ``bias_lr_mult`` is 1;
    otherwise every other parameter at ``lr`` and, in a second group, every parameter whose own
    name is ``bias`` (convolutions, linear layers and batch norm alike) at ``lr * bias_lr_mult``,
    as STS's public ``train.py`` trains its biases at twice the learning rate. Weight decay is the
    same in both groups, as there. Learning-rate schedules scale each group's own rate."""
    if bias_lr_mult == 1:
        return [{"params": list(module.parameters())}]
    biases, others = [], []
    for name, parameter in module.named_parameters():
        (biases if name.rsplit(".", 1)[-1] == "bias" else others).append(parameter)
    groups = [{"params": others}, {"params": biases, "lr": lr * bias_lr_mult}]
    return [group for group in groups if group["params"]]


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
