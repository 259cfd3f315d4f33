"""Run the downstream protocols on a backbone and name their metrics.

Metric names: ``finetune/<ds>/clip_top1``, ``finetune/<ds>/video_top1``, ``linear/<ds>/top1``,
``linear/<ds>/clip_top1``, ``retrieval/<ds>/r@<k>`` (pool5; other stages
``retrieval/<ds>/<stage>/r@<k>``) and ``knn/<ds>/top1``, where ``<ds>`` is the dataset key
(``ucf``, ``hmdb``). Frozen features are extracted once per dataset and shared by the
linear, retrieval and kNN protocols, and with them comes ``features/<ds>/effective_rank``:
the effective rank of the training clips' pool5 features (``features.effective_rank``; a
number between 1 and the feature dimension, not a fraction), which shows a pretrained
backbone whose features have collapsed onto a few directions.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ssl_core.config import require
from ssl_core.data.dataset import VideoCollection
from ssl_core.eval.features import effective_rank, extract_clip_features
from ssl_core.eval.finetune import FinetuneConfig, finetune
from ssl_core.eval.linear import linear_probe
from ssl_core.eval.retrieval import DEFAULT_KS, knn_accuracy, retrieval_recall

PROTOCOLS = ("finetune", "linear", "retrieval", "knn")
STAGES = ("pool3", "pool4", "pool5")


@dataclass(frozen=True)
class EvalConfig:
    protocols: tuple[str, ...] = PROTOCOLS
    clips_per_video: int = 10
    batch_size: int = 16
    retrieval_stages: tuple[str, ...] = ("pool5",)
    retrieval_ks: tuple[int, ...] = DEFAULT_KS
    knn_k: int = 5
    linear_steps: int = 300
    linear_lr: float = 0.01
    finetune: FinetuneConfig = field(default_factory=FinetuneConfig)
    seed: int = 0

    def validate(self, prefix: str = "eval.") -> "EvalConfig":
        for name in self.protocols:
            require(name in PROTOCOLS, prefix + "protocols", f"unknown protocol {name!r} (known: {', '.join(PROTOCOLS)})")
        require(len(self.protocols) > 0, prefix + "protocols", "at least one protocol is needed")
        require(self.clips_per_video >= 1, prefix + "clips_per_video", f"must be >= 1, got {self.clips_per_video}")
        require(self.batch_size >= 1, prefix + "batch_size", f"must be >= 1, got {self.batch_size}")
        for stage in self.retrieval_stages:
            require(stage in STAGES, prefix + "retrieval_stages", f"unknown stage {stage!r} (known: {', '.join(STAGES)})")
        require(all(k >= 1 for k in self.retrieval_ks), prefix + "retrieval_ks", f"every k must be >= 1, got {self.retrieval_ks}")
        require(self.knn_k >= 1, prefix + "knn_k", f"must be >= 1, got {self.knn_k}")
        require(self.linear_steps >= 1, prefix + "linear_steps", f"must be >= 1, got {self.linear_steps}")
        self.finetune.validate(prefix + "finetune.")
        return self


def evaluate(backbone, datasets: dict[str, tuple[VideoCollection, VideoCollection]], config: EvalConfig, device="cpu") -> dict[str, float]:
    """Every protocol of ``config`` on every ``{key: (train, test)}`` dataset; returns namespaced metrics."""
    config.validate()
    metrics: dict[str, float] = {}
    for key, (train, test) in datasets.items():
        metrics.update(_frozen_protocols(backbone, key, train, test, config, device))
        if "finetune" in config.protocols:
            scores = finetune(backbone, train, test, config.finetune, config.clips_per_video, config.seed, device)
            metrics.update({f"finetune/{key}/{name}": value for name, value in scores.items()})
    return metrics


def _frozen_protocols(backbone, key, train, test, config: EvalConfig, device) -> dict[str, float]:
    frozen = [p for p in config.protocols if p != "finetune"]
    if not frozen:
        return {}
    stages = tuple(dict.fromkeys(("pool5",) + tuple(config.retrieval_stages)))
    extract = lambda videos: extract_clip_features(backbone, videos, config.clips_per_video, stages, config.batch_size, device)
    train_features, test_features = extract(train), extract(test)
    pool5 = train_features["pool5"]
    metrics = {f"features/{key}/effective_rank": effective_rank(pool5.reshape(-1, pool5.shape[-1]))}
    if "linear" in frozen:
        scores = linear_probe(train_features["pool5"], train.labels, test_features["pool5"], test.labels,
                              steps=config.linear_steps, lr=config.linear_lr, seed=config.seed)
        metrics.update({f"linear/{key}/{name}": value for name, value in scores.items()})
    if "retrieval" in frozen:
        for stage in config.retrieval_stages:
            recall = retrieval_recall(test_features[stage].mean(axis=1), test.labels,
                                      train_features[stage].mean(axis=1), train.labels, config.retrieval_ks)
            prefix = f"retrieval/{key}/" if stage == "pool5" else f"retrieval/{key}/{stage}/"
            metrics.update({f"{prefix}r@{k}": value for k, value in recall.items()})
    if "knn" in frozen:
        metrics[f"knn/{key}/top1"] = knn_accuracy(train_features["pool5"].mean(axis=1), train.labels,
                                                   test_features["pool5"].mean(axis=1), test.labels, config.knn_k)
    return metrics
