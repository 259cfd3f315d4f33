"""Typed, validated configuration dataclasses.

Every config is a frozen dataclass whose ``validate()`` raises :class:`ConfigError` naming
the offending field (``"clip.crop: 128 is larger than resize height 112"``). Configs turn
into plain dicts for JSON (``to_dict``) and back (``from_dict``), unknown keys rejected.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import typing
from typing import Any, TypeVar

T = TypeVar("T")


class ConfigError(ValueError):
    """A configuration value is invalid; the message starts with the field's dotted name."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field


def require(condition: bool, field: str, message: str) -> None:
    if not condition:
        raise ConfigError(field, message)


def to_dict(config: Any) -> dict:
    return dataclasses.asdict(config)


def config_hash(config: Any) -> str:
    """Short stable hash of a config's JSON form."""
    text = json.dumps(to_dict(config), sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def from_dict(cls: type[T], data: dict, prefix: str = "") -> T:
    """Build dataclass ``cls`` from ``data``, recursing into nested dataclass fields."""
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(prefix + unknown[0], f"unknown field (known: {', '.join(sorted(fields))})")
    hints = typing.get_type_hints(cls)
    values = {}
    for name, value in data.items():
        kind = hints[name]
        if dataclasses.is_dataclass(kind) and isinstance(value, dict):
            value = from_dict(kind, value, prefix=f"{prefix}{name}.")
        elif isinstance(value, list) and typing.get_origin(kind) is tuple:
            value = tuple(value)
        values[name] = value
    return cls(**values)
