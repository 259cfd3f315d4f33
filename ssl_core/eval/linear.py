"""Linear probe: a linear classifier trained on frozen clip features.

Train clips' features are standardised with the train statistics; the classifier is trained
full-batch with Adam on every train clip; a test video's prediction averages the softmax of
its K clips (video accuracy), and each clip's own argmax gives clip accuracy.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


def _standardise(train: torch.Tensor, test: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    mean = train.mean(dim=0, keepdim=True)
    std = train.std(dim=0, keepdim=True).clamp_min(1e-6)
    return (train - mean) / std, (test - mean) / std


def linear_probe(train_features: np.ndarray, train_labels, test_features: np.ndarray, test_labels,
                 steps: int = 300, lr: float = 0.01, weight_decay: float = 1e-4, seed: int = 0) -> dict[str, float]:
    """Fit and score a linear classifier.

    Args:
        train_features: ``(N, K, D)`` clip features of N train videos.
        test_features: ``(M, K, D)``.
        train_labels / test_labels: ``(N,)`` / ``(M,)`` integer classes.
    Returns:
        ``{"top1": video accuracy, "clip_top1": clip accuracy}``.
    """
    if train_features.ndim != 3 or test_features.ndim != 3:
        raise ValueError("train_features and test_features must be (videos, clips, dim)")
    num_videos, clips, dim = train_features.shape
    train_y = torch.as_tensor(np.repeat(np.asarray(train_labels), clips), dtype=torch.long)
    test_y = torch.as_tensor(np.asarray(test_labels), dtype=torch.long)
    num_classes = int(max(train_y.max(), test_y.max())) + 1
    train_x, test_x = _standardise(torch.as_tensor(train_features.reshape(-1, dim), dtype=torch.float32),
                                   torch.as_tensor(test_features.reshape(-1, dim), dtype=torch.float32))
    generator = torch.Generator().manual_seed(seed)
    classifier = torch.nn.Linear(dim, num_classes)
    with torch.no_grad():
        classifier.weight.normal_(0.0, 0.01, generator=generator)
        classifier.bias.zero_()
    optimiser = torch.optim.Adam(classifier.parameters(), lr=lr, weight_decay=weight_decay)
    for _ in range(steps):
        optimiser.zero_grad()
        F.cross_entropy(classifier(train_x), train_y).backward()
        optimiser.step()
    with torch.no_grad():
        probabilities = classifier(test_x).softmax(dim=1).view(len(test_y), -1, num_classes)
    return video_and_clip_accuracy(probabilities, test_y)


def video_and_clip_accuracy(probabilities: torch.Tensor, labels: torch.Tensor) -> dict[str, float]:
    """``probabilities (videos, clips, classes)`` -> video accuracy (mean softmax) and clip accuracy."""
    video_top1 = (probabilities.mean(dim=1).argmax(dim=1) == labels).float().mean().item()
    clip_top1 = (probabilities.argmax(dim=2) == labels[:, None]).float().mean().item()
    return {"top1": video_top1, "clip_top1": clip_top1}
