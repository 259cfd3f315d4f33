"""Backbone checkpoints: ``backbone.pt`` (state dict) + ``backbone.json`` (how to rebuild it).

Loading uses ``torch.load(weights_only=True)``: a checkpoint never executes code.
"""
from __future__ import annotations

import io
from pathlib import Path

import torch

from ssl_core.backbones import BackboneConfig
from ssl_core.config import from_dict, to_dict
from ssl_core.io import atomic_write_bytes, read_json, write_json

WEIGHTS_FILE = "backbone.pt"
CONFIG_FILE = "backbone.json"


def save_backbone(directory: str | Path, backbone, config: BackboneConfig, extra: dict | None = None) -> Path:
    """Write the backbone's weights and config into ``directory`` (each file written atomically)."""
    directory = Path(directory)
    buffer = io.BytesIO()
    torch.save(backbone.state_dict(), buffer)
    atomic_write_bytes(directory / WEIGHTS_FILE, buffer.getvalue())
    write_json(directory / CONFIG_FILE, {"backbone": to_dict(config), "extra": extra or {}})
    return directory


def check_checkpoint(directory: str | Path) -> None:
    """FileNotFoundError (one line) unless ``directory`` holds a saved backbone."""
    directory = Path(directory)
    if not directory.is_dir():
        raise FileNotFoundError(f"checkpoint {directory}: not a directory")
    for name in (WEIGHTS_FILE, CONFIG_FILE):
        if not (directory / name).is_file():
            raise FileNotFoundError(f"checkpoint {directory}: not a backbone checkpoint ({name} missing)")


def load_backbone(directory: str | Path, map_location="cpu"):
    """Rebuild the backbone saved in ``directory`` and load its weights."""
    directory = Path(directory)
    check_checkpoint(directory)
    config = from_dict(BackboneConfig, read_json(directory / CONFIG_FILE)["backbone"], prefix="backbone.")
    backbone = config.build()
    backbone.load_state_dict(torch.load(directory / WEIGHTS_FILE, map_location=map_location, weights_only=True))
    return backbone, config
