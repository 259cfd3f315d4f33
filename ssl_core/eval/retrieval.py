"""Nearest-neighbour protocols on frozen video features: retrieval R@k and kNN top-1.

Features are video-level (the mean of the video's K clip features). Test videos query the
train videos by cosine similarity, as in VCOP / VCP / STS: a query counts as retrieved at k
when any of its k nearest train videos has its class. Every test video is counted.
"""
from __future__ import annotations

import numpy as np
import torch

DEFAULT_KS = (1, 5, 10, 20, 50)


def cosine_similarity(queries: np.ndarray, gallery: np.ndarray) -> np.ndarray:
    """``(Q, D)`` x ``(G, D)`` -> ``(Q, G)`` cosine similarities."""
    q = torch.nn.functional.normalize(torch.as_tensor(queries, dtype=torch.float64), dim=1)
    g = torch.nn.functional.normalize(torch.as_tensor(gallery, dtype=torch.float64), dim=1)
    return (q @ g.T).numpy()


def _ranked_neighbours(similarity: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` most similar gallery items per query, best first (stable on ties)."""
    order = np.argsort(-similarity, axis=1, kind="stable")
    return order[:, :k]


def retrieval_recall(query_features, query_labels, gallery_features, gallery_labels, ks=DEFAULT_KS) -> dict[int, float]:
    """Recall@k for each ``k`` in ``ks``: fraction of queries with a same-class item in their top k.

    ``k`` larger than the gallery is capped at the gallery size.
    """
    query_labels = np.asarray(query_labels)
    gallery_labels = np.asarray(gallery_labels)
    if len(query_labels) == 0 or len(gallery_labels) == 0:
        raise ValueError("retrieval needs at least one query and one gallery video")
    similarity = cosine_similarity(query_features, gallery_features)
    neighbours = _ranked_neighbours(similarity, min(max(ks), len(gallery_labels)))
    hits = gallery_labels[neighbours] == query_labels[:, None]
    return {k: float(hits[:, :k].any(axis=1).mean()) for k in ks}


def knn_accuracy(train_features, train_labels, test_features, test_labels, k: int = 5) -> float:
    """Top-1 accuracy of a k-nearest-neighbour classifier: each of the ``k`` most similar train
    videos votes for its class with its cosine similarity; only the neighbours' classes can win
    (with negative similarities an absent class's empty 0 would otherwise outscore them), and a
    tie goes to the lower class index. No paper defines kNN: k = 5, cosine-weighted, is ours."""
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    train_labels = np.asarray(train_labels)
    test_labels = np.asarray(test_labels)
    similarity = cosine_similarity(test_features, train_features)
    k = min(k, len(train_labels))
    neighbours = _ranked_neighbours(similarity, k)
    num_classes = int(max(train_labels.max(), test_labels.max())) + 1
    votes = np.zeros((len(test_labels), num_classes))
    rows = np.repeat(np.arange(len(test_labels)), k)
    classes = train_labels[neighbours].ravel()
    np.add.at(votes, (rows, classes), np.take_along_axis(similarity, neighbours, axis=1).ravel())
    voted = np.zeros(votes.shape, dtype=bool)
    voted[rows, classes] = True
    return float((np.where(voted, votes, -np.inf).argmax(axis=1) == test_labels).mean())
