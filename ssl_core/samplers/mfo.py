"""The MFO sampler (spec ``mfo.md``, "Views"): two consecutive clips of one video and the
long view spanning both.

From a video (uint8 ``(T_video, H, W, 3)``) it takes ``2 T`` frames at a random real-valued
stride ``s ~ U[1, min(max_stride, T_video / 2T)]`` (indices ``round(start + s k)``, start
uniform over the positions that fit; a video shorter than ``2 T`` frames repeats its last
frame). Clip A = frames ``0 .. T-1``, clip B = frames ``T .. 2T-1``, the long view = every other
frame of the ``2 T`` (``T`` frames). Each of the three clips gets its own augmentation:

- a random resized crop (area fraction ``U(0.5, 1)``, aspect ``w / h`` log-uniform in
  ``[3/4, 4/3]``, 10 tries, then the centred square) to ``size x size``, and a horizontal
  flip with probability 0.5, both the same for every frame of the clip;
- colour jitter (brightness, contrast, saturation 0.5, hue 0.25, in a random order) drawn
  **per frame**, with probability ``jitter_p`` (1);
- "grey" per frame with probability ``grey_p`` (0.5). The public code's grey is a channel
  split; we read it as one of the three channels, drawn per frame, copied to all three.

Frames are the dataset's resized frames (the public code first resizes to 200 x 150). All
randomness comes from the ``np.random.Generator`` passed in.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torchvision.transforms.v2.functional as TF

from ssl_core.data.augment import color_jitter


@dataclass(frozen=True)
class MFOViews:
    """``num_frames`` T per clip, output ``size``; the augmentation settings of the spec."""

    num_frames: int
    size: int
    max_stride: float = 3.0
    crop_area: tuple[float, float] = (0.5, 1.0)
    crop_aspect: tuple[float, float] = (3 / 4, 4 / 3)
    jitter: tuple[float, float, float, float] = (0.5, 0.5, 0.5, 0.25)
    jitter_p: float = 1.0
    grey_p: float = 0.5

    def __post_init__(self):
        if self.num_frames < 1 or self.size < 1:
            raise ValueError(f"num_frames and size: must be >= 1, got {self.num_frames}, {self.size}")
        if self.max_stride < 1:
            raise ValueError(f"max_stride: must be >= 1, got {self.max_stride}")

    def frame_indices(self, video_length: int, rng: np.random.Generator) -> np.ndarray:
        """The ``2 T`` frame indices (int, within the video)."""
        count = 2 * self.num_frames
        stride = float(rng.uniform(1.0, max(1.0, min(self.max_stride, video_length / count))))
        last_start = max(0.0, video_length - 1 - stride * (count - 1))
        start = float(rng.uniform(0.0, last_start))
        return np.minimum(np.round(start + stride * np.arange(count)).astype(int), video_length - 1)

    def __call__(self, frames: np.ndarray, rng: np.random.Generator) -> dict[str, np.ndarray]:
        """``{"clip_a", "clip_b", "long"}``: uint8 ``(T, size, size, 3)`` each."""
        if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3:
            raise ValueError(f"frames: must be uint8 (T, H, W, 3), got {frames.dtype} {frames.shape}")
        window = frames[self.frame_indices(len(frames), rng)]
        views = {"clip_a": window[: self.num_frames], "clip_b": window[self.num_frames:], "long": window[::2]}
        return {name: self.augment(clip, rng) for name, clip in views.items()}

    def augment(self, clip: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """One clip's augmentation: shared crop and flip, per-frame jitter and grey."""
        frames = torch.from_numpy(np.ascontiguousarray(clip)).permute(0, 3, 1, 2)
        top, left, height, width = self.crop_box(*frames.shape[-2:], rng)
        frames = TF.resized_crop(frames, top, left, height, width, [self.size, self.size], antialias=True)
        if rng.random() < 0.5:
            frames = TF.horizontal_flip(frames)
        out = []
        for frame in frames:
            frame = frame[None]
            if rng.random() < self.jitter_p:
                frame = color_jitter(frame, self.jitter, rng)
            if rng.random() < self.grey_p:
                frame = frame[:, int(rng.integers(3))].unsqueeze(1).expand(-1, 3, -1, -1)
            out.append(frame)
        return np.ascontiguousarray(torch.cat(out).permute(0, 2, 3, 1).numpy())

    def crop_box(self, height: int, width: int, rng: np.random.Generator) -> tuple[int, int, int, int]:
        """``(top, left, box height, box width)`` of the random resized crop."""
        area = height * width
        log_low, log_high = math.log(self.crop_aspect[0]), math.log(self.crop_aspect[1])
        for _ in range(10):
            target = area * float(rng.uniform(*self.crop_area))
            aspect = math.exp(float(rng.uniform(log_low, log_high)))
            box_w, box_h = int(round(math.sqrt(target * aspect))), int(round(math.sqrt(target / aspect)))
            if 0 < box_w <= width and 0 < box_h <= height:
                return int(rng.integers(0, height - box_h + 1)), int(rng.integers(0, width - box_w + 1)), box_h, box_w
        side = min(height, width)
        return (height - side) // 2, (width - side) // 2, side, side
