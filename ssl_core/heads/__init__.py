"""Heads shared by the methods (projectors, predictors, classifiers)."""
from ssl_core.heads.mlp import MLPHead

__all__ = ["MLPHead"]
