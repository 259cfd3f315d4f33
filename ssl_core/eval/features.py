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
