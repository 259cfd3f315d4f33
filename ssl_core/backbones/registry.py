"""Name -> constructor registry for video backbones (timm style)."""

from __future__ import annotations

import fnmatch
from typing import Any, Callable

from .base import VideoBackbone, check_width

__all__ = ["build_backbone", "list_backbones", "register_backbone"]

_REGISTRY: dict[str, Callable[..., VideoBackbone]] = {}


def register_backbone(name: str) -> Callable[[Callable[..., VideoBackbone]], Callable[..., VideoBackbone]]:
    """Decorator registering a constructor ``fn(width=1.0, **kwargs) -> VideoBackbone`` under ``name``."""
    if not isinstance(name, str) or not name:
        raise ValueError(f"name must be a non-empty string, got {name!r}")

    def decorator(fn: Callable[..., VideoBackbone]) -> Callable[..., VideoBackbone]:
        existing = _REGISTRY.get(name)
        if existing is not None and existing is not fn:
            raise ValueError(f"name: backbone {name!r} is already registered")
        _REGISTRY[name] = fn
        return fn

    return decorator


def list_backbones(pattern: str = "*") -> list[str]:
    """Sorted registered names matching the ``fnmatch`` pattern."""
    return sorted(n for n in _REGISTRY if fnmatch.fnmatchcase(n, pattern))


def build_backbone(name: str, width: float = 1.0, **kwargs: Any) -> VideoBackbone:
    """Instantiate the backbone registered as ``name`` with channel multiplier ``width``."""
    if not isinstance(name, str) or name not in _REGISTRY:
        raise ValueError(f"name: unknown backbone {name!r}; known backbones are {list_backbones()}")
    width = check_width(width)
    return _REGISTRY[name](width=width, **kwargs)
