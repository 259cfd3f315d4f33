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

import numpy as np

T = TypeVar("T")


class ConfigError(ValueError):
    """A configuration value is invalid; the message starts with the field's dotted name."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field


def require(condition: bool, field: str, message: str) -> None:
    if not condition:
        raise ConfigError(field, message)


def is_int(value: Any) -> bool:
    """An integer that is not a bool (NumPy integers count)."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def is_number(value: Any) -> bool:
    """An int or float that is not a bool (NumPy scalars count)."""
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))


def _range_text(minimum, maximum) -> str:
    if minimum is not None and maximum is not None:
        return f" in [{minimum}, {maximum}]"
    if minimum is not None:
        return f" >= {minimum}"
    return f" <= {maximum}" if maximum is not None else ""


def _in_range(value, minimum, maximum) -> bool:
    return (minimum is None or value >= minimum) and (maximum is None or value <= maximum)


def require_int(value: Any, field: str, minimum: int | None = None, maximum: int | None = None) -> int:
    """``value`` as an int, or :class:`ConfigError` naming ``field`` (bools are not integers)."""
    require(is_int(value) and _in_range(value, minimum, maximum), field,
            f"must be an integer{_range_text(minimum, maximum)}, got {value!r}")
    return int(value)


def require_number(value: Any, field: str, minimum: float | None = None, maximum: float | None = None) -> float:
    """``value`` as a float, or :class:`ConfigError` naming ``field``."""
    require(is_number(value) and _in_range(value, minimum, maximum), field,
            f"must be a number{_range_text(minimum, maximum)}, got {value!r}")
    return float(value)


def require_bool(value: Any, field: str) -> bool:
    require(isinstance(value, bool), field, f"must be true or false, got {value!r}")
    return value


def require_choice(value: Any, field: str, choices) -> Any:
    require(value in tuple(choices), field, f"must be one of {tuple(choices)}, got {value!r}")
    return value


def require_type(value: Any, hint: Any, field: str) -> None:
    """ConfigError naming ``field`` unless ``value`` fits a field annotated ``hint`` (int, float,
    bool and str are checked; an int fits float; other annotations are left to validate())."""
    if hint is bool:
        require_bool(value, field)
    elif hint is int:
        require(is_int(value), field, f"must be an integer, got {value!r}")
    elif hint is float:
        require(is_number(value), field, f"must be a number, got {value!r}")
    elif hint is str:
        require(isinstance(value, str), field, f"must be a string, got {value!r}")


def parse_assignment(text: str, field: str = "set") -> tuple[str, Any]:
    """``"pretrain.epochs=4"`` -> ``("pretrain.epochs", 4)``: the value parsed as JSON when it
    parses (numbers, true/false, null, lists, quoted strings), else kept as the string."""
    path, separator, value = text.partition("=")
    require(bool(separator) and bool(path.strip()), field, f"expected PATH=VALUE, got {text!r}")
    try:
        return path.strip(), json.loads(value)
    except ValueError:
        return path.strip(), value


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
