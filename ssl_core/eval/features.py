"""Clip and video features of a frozen backbone at chosen stages (pool3 / pool4 / pool5)."""
from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import DataLoader

from ssl_core.data.dataset import EvalClips, VideoCollection


@torch.no_grad()
def extract_clip_features(backbone, videos: VideoCollection, clips_per_video: int, stages=("pool5",), batch_size: int = 16, device="cpu") -> dict[str, np.ndarray]:
    """Pooled features of every clip: ``{stage: (num_videos, clips_per_video, C_stage)}``.

    The backbone is put in eval mode for the pass and restored to its previous mode after.
    """
    was_training = backbone.training
    backbone.eval()
    loader = DataLoader(EvalClips(videos, clips_per_video), batch_size=batch_size, shuffle=False)
    chunks: dict[str, list[torch.Tensor]] = {stage: [] for stage in stages}
    try:
        for clips, _, _ in loader:
            maps = backbone.forward_stages(clips.to(device), stages)
            for stage in stages:
                chunks[stage].append(backbone.pool(maps[stage]).float().cpu())
    finally:
        backbone.train(was_training)
    return {stage: torch.cat(parts).view(len(videos), clips_per_video, -1).numpy() for stage, parts in chunks.items()}


def effective_rank(features: np.ndarray) -> float:
    """Effective rank (Roy & Vetterli, 2007) of ``features`` ``(N, D)``, one row per clip, after
    centring each column: ``exp(H(p))`` with ``p_k = s_k / sum(s)`` over the singular values
    ``s``, and ``0 log 0 = 0``. 1 when every clip lies on one line (or all are equal: 0 spread
    is reported as 1), up to ``min(N - 1, D)`` when the spread is even over every direction. A
    pretrained backbone far below random init's value has collapsed its features onto a few
    directions, which fine-tuning has to undo."""
    matrix = np.asarray(features, dtype=np.float64)
    if matrix.ndim != 2 or matrix.shape[0] < 2:
        raise ValueError(f"features must be (N, D) with N >= 2, got shape {matrix.shape}")
    singular = np.linalg.svd(matrix - matrix.mean(axis=0), compute_uv=False)
    total = singular.sum()
    if total <= 0:
        return 1.0
    p = singular[singular > 0] / total
    return float(np.exp(-(p * np.log(p)).sum()))
