"""Downstream evaluation: fine-tune, linear probe, retrieval R@k and kNN, with namespaced metrics."""
from ssl_core.eval.protocols import PROTOCOLS, EvalConfig, evaluate

__all__ = ["PROTOCOLS", "EvalConfig", "evaluate"]
