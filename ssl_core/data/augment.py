"""Clip-level augmentations on uint8 ``(T, H, W, 3)`` numpy clips (CSTP's base augmentation).

Every parameter is drawn once per clip from the passed ``np.random.Generator`` and applied
alike to all its frames. The image operations are ``torchvision.transforms.v2.functional``
on a uint8 ``(T, 3, H, W)`` tensor.

:class:`BaseAugment` (spec ``cstp_stor.md``, public code): with probability ``p`` (0.3) a
clip gets, in this order,
- a small rotation by ``U(-max_degrees, max_degrees)`` degrees (10, bilinear, black fill);
- colour jitter with probability ``jitter_p`` (0.8): brightness, contrast, saturation
  factors ``U(1 - x, 1 + x)`` for ``x`` = (0.4, 0.4, 0.4) and a hue shift ``U(-0.1, 0.1)``,
  in a random order (as ``torchvision``'s ``ColorJitter``);
- greyscale with probability ``grey_p`` (0.2);
- Gaussian blur with probability ``blur_p`` (0.5), sigma ``U(0.1, 2)``, kernel the odd size
  nearest to 10 % of the shorter side (at least 3);
and, independently of ``p``, a horizontal flip with probability 0.5 (when ``flip``).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torchvision.transforms.v2.functional as TF

NUM_QUARTER_TURNS = 4  # the 4-way rotation task: 0, 90, 180, 270 degrees


@dataclass(frozen=True)
class BaseAugment:
    """Callable ``(clip, rng) -> clip`` on uint8 ``(T, H, W, 3)`` clips."""

    p: float = 0.3
    max_degrees: float = 10.0
    jitter: tuple[float, float, float, float] = (0.4, 0.4, 0.4, 0.1)
    jitter_p: float = 0.8
    grey_p: float = 0.2
    blur_sigma: tuple[float, float] = (0.1, 2.0)
    blur_p: float = 0.5
    flip: bool = True

    def __post_init__(self):
        for name in ("p", "jitter_p", "grey_p", "blur_p"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name}: must be a probability in [0, 1], got {getattr(self, name)}")
        if self.max_degrees < 0:
            raise ValueError(f"max_degrees: must be >= 0, got {self.max_degrees}")
        if len(self.jitter) != 4 or min(self.jitter) < 0 or max(self.jitter[:3]) > 1 or self.jitter[3] > 0.5:
            raise ValueError(f"jitter: must be (brightness, contrast, saturation) in [0, 1] and hue in [0, 0.5], got {self.jitter}")
        if not 0 < self.blur_sigma[0] <= self.blur_sigma[1]:
            raise ValueError(f"blur_sigma: must be 0 < low <= high, got {self.blur_sigma}")

    def __call__(self, clip: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """uint8 ``(T, H, W, 3)`` -> augmented uint8 ``(T, H, W, 3)``."""
        _check_clip(clip)
        frames = torch.from_numpy(np.ascontiguousarray(clip)).permute(0, 3, 1, 2)
        if rng.random() < self.p:
            frames = self._strong(frames, rng)
        if self.flip and rng.random() < 0.5:
            frames = TF.horizontal_flip(frames)
        return np.ascontiguousarray(frames.permute(0, 2, 3, 1).numpy())

    def _strong(self, frames: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
        """Rotation jitter, colour jitter, greyscale, blur on uint8 ``(T, 3, H, W)``."""
        angle = float(rng.uniform(-self.max_degrees, self.max_degrees))
        frames = TF.rotate(frames, angle, interpolation=TF.InterpolationMode.BILINEAR)
        if rng.random() < self.jitter_p:
            frames = color_jitter(frames, self.jitter, rng)
        if rng.random() < self.grey_p:
            frames = TF.rgb_to_grayscale(frames, num_output_channels=3)
        if rng.random() < self.blur_p:
            sigma = float(rng.uniform(*self.blur_sigma))
            kernel = blur_kernel_size(*frames.shape[-2:])
            frames = TF.gaussian_blur(frames, [kernel, kernel], [sigma, sigma])
        return frames


def color_jitter(frames: torch.Tensor, strengths: tuple[float, float, float, float], rng: np.random.Generator) -> torch.Tensor:
    """Brightness, contrast, saturation, hue on uint8 ``(T, 3, H, W)`` in a random order."""
    brightness, contrast, saturation, hue = strengths
    factors = [rng.uniform(1 - brightness, 1 + brightness), rng.uniform(1 - contrast, 1 + contrast),
               rng.uniform(1 - saturation, 1 + saturation), rng.uniform(-hue, hue)]
    operations = (TF.adjust_brightness, TF.adjust_contrast, TF.adjust_saturation, TF.adjust_hue)
    for index in rng.permutation(4):
        frames = operations[index](frames, float(factors[index]))
    return frames


def blur_kernel_size(height: int, width: int) -> int:
    """The odd kernel size nearest to 10 % of the shorter side, at least 3."""
    return max(3, 2 * int(round((0.1 * min(height, width) - 1) / 2)) + 1)


def rotate_clip(video: np.ndarray, quarter_turns: int) -> np.ndarray:
    """Rotate uint8 ``(T, H, W, 3)`` frames counter-clockwise by ``quarter_turns`` x 90 degrees."""
    return np.rot90(video, k=quarter_turns, axes=(1, 2))


def random_quarter_turn(clip: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, int]:
    """``(clip rotated by k x 90 degrees counter-clockwise, k)`` with ``k`` uniform in 0..3;
    uint8 ``(T, H, W, 3)``."""
    quarter_turns = int(rng.integers(NUM_QUARTER_TURNS))
    return rotate_clip(clip, quarter_turns), quarter_turns


def _check_clip(clip: np.ndarray) -> None:
    if clip.dtype != np.uint8 or clip.ndim != 4 or clip.shape[-1] != 3:
        raise ValueError(f"clip: must be uint8 (T, H, W, 3), got {clip.dtype} {clip.shape}")
