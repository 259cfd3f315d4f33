"""Which pretraining videos each epoch uses: dataset scale (1/k) and the STS curriculum.

STS journal section 3.4 / Table 3 and Fig. 8 (``../shared/spec/sts_labels.md``):
- ``data_fraction_k``: keep one video in every k of the (sorted) pretraining list, k in
  {16, 8, 4, 2, 4/3, 1}; k = 4/3 keeps half (every even index), then one in two of the rest
  (indices 1 mod 4), i.e. 3 in 4.
- ``curriculum``: videos sorted by descending difficulty score f (high = easy), then
  - ``easy_first``: single-step pacing, the easiest half for the first ``switch_at`` fraction
    of the pretraining epochs (rounded), then all;
  - ``easiest_half`` / ``hardest_half``: only that half, every epoch;
  - ``random_half``: a seeded random half, every epoch;
  - ``none``: all videos.
The subset is applied first, the curriculum to what it keeps.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ssl_core.config import require

CURRICULA = ("none", "easy_first", "easiest_half", "hardest_half", "random_half")
SCORED_CURRICULA = ("easy_first", "easiest_half", "hardest_half")
FOUR_THIRDS = 4 / 3


@dataclass(frozen=True)
class CurriculumConfig:
    curriculum: str = "none"
    switch_at: float = 0.5
    data_fraction_k: float = 1.0

    def validate(self, prefix: str = "pretrain.schedule.") -> "CurriculumConfig":
        require(self.curriculum in CURRICULA, prefix + "curriculum", f"must be one of {CURRICULA}, got {self.curriculum!r}")
        require(0 <= self.switch_at <= 1, prefix + "switch_at", f"must be a fraction of the epochs in [0, 1], got {self.switch_at}")
        require(_is_integer_k(self.data_fraction_k) or math.isclose(self.data_fraction_k, FOUR_THIRDS),
                prefix + "data_fraction_k", f"must be an integer >= 1 or 4/3, got {self.data_fraction_k!r}")
        return self

    @property
    def needs_scores(self) -> bool:
        return self.curriculum in SCORED_CURRICULA


def _is_integer_k(k: float) -> bool:
    return float(k) >= 1 and float(k).is_integer()


def subset_indices(num_videos: int, k: float) -> np.ndarray:
    """The indices kept by "one in every k" (k = 4/3: indices 0 mod 2 and 1 mod 4)."""
    index = np.arange(num_videos)
    if math.isclose(k, FOUR_THIRDS):
        return index[(index % 2 == 0) | (index % 4 == 1)]
    if not _is_integer_k(k):
        raise ValueError(f"data_fraction_k must be an integer >= 1 or 4/3, got {k!r}")
    return index[index % int(k) == 0]


def easy_to_hard(scores: np.ndarray) -> np.ndarray:
    """Positions sorted by descending score; ties keep their order (stable)."""
    return np.argsort(-np.asarray(scores, np.float64), kind="stable")


def active_indices(config: CurriculumConfig, num_videos: int, epoch: int, epochs: int, seed: int,
                   scores: np.ndarray | None = None) -> np.ndarray:
    """Sorted video indices to train on in ``epoch`` (0-based) of ``epochs``.

    ``scores`` (one per video, high = easy) is needed for the scored curricula. The halves
    hold ``ceil(n / 2)`` (easiest, random) or ``n // 2`` (hardest) videos of the subset.
    """
    kept = subset_indices(num_videos, config.data_fraction_k)
    if config.curriculum == "none" or (config.curriculum == "easy_first" and epoch >= round(config.switch_at * epochs)):
        return kept
    if config.curriculum == "random_half":
        chosen = np.random.default_rng((seed, 4242)).permutation(len(kept))[: math.ceil(len(kept) / 2)]
        return np.sort(kept[chosen])
    if scores is None or len(scores) != num_videos:
        raise ValueError(f"curriculum {config.curriculum!r} needs one score per video ({num_videos})")
    order = kept[easy_to_hard(np.asarray(scores)[kept])]
    half = math.ceil(len(kept) / 2)
    chosen = order[len(kept) - len(kept) // 2:] if config.curriculum == "hardest_half" else order[:half]
    return np.sort(chosen)
