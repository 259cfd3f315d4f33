"""Clip sampling and the functional clip transforms.

Videos are uint8 arrays ``(T, H, W, 3)``; the network input is a float tensor
``(C, T, H, W)`` per clip, ``(B, C, T, H, W)`` per batch.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Kinetics statistics used by torchvision's video models.
KINETICS_MEAN = (0.43216, 0.394666, 0.37645)
KINETICS_STD = (0.22803, 0.22145, 0.216989)
# ImageNet statistics (torchvision's image models; MFO's public code normalises with them).
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class InputNormalisation:
    """How uint8 frames become network input: scaled to [0, 1] (``to_unit``), channels in BGR
    order (``bgr``), then less ``mean`` and over ``std`` per channel (in the output's order)."""

    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    to_unit: bool = True
    bgr: bool = False


# ClipConfig.normalisation -> InputNormalisation. "bgr_255" is STS's public code: OpenCV's BGR
# frames as 0..255 floats, not normalised (utils/read_clip.py; its ToTensor only transposes).
NORMALISATIONS = {
    "kinetics": InputNormalisation(KINETICS_MEAN, KINETICS_STD),
    "imagenet": InputNormalisation(IMAGENET_MEAN, IMAGENET_STD),
    "bgr_255": InputNormalisation((0.0, 0.0, 0.0), (1.0, 1.0, 1.0), to_unit=False, bgr=True),
}


def clip_span(num_frames: int, stride: int) -> int:
    """Frames of the source video covered by ``num_frames`` frames taken at ``stride``."""
    return (num_frames - 1) * stride + 1


def clip_indices(start: int, num_frames: int, stride: int) -> np.ndarray:
    return start + stride * np.arange(num_frames)


def random_clip_start(video_length: int, num_frames: int, stride: int, rng: np.random.Generator,
                      step: int = 1) -> int:
    """A uniform random start among 0, ``step``, 2 ``step``, ... that leaves room for the clip
    (``step`` = the clip span: one of the video's non-overlapping clips)."""
    last_start = video_length - clip_span(num_frames, stride)
    if last_start < 0:
        raise ValueError(f"video of {video_length} frames is shorter than a clip span of {clip_span(num_frames, stride)}")
    return step * int(rng.integers(0, last_start // step + 1))


def uniform_clip_starts(video_length: int, num_frames: int, stride: int, num_clips: int) -> np.ndarray:
    """Starts of ``num_clips`` clips spaced uniformly from the first to the last possible start."""
    last_start = video_length - clip_span(num_frames, stride)
    if last_start < 0:
        raise ValueError(f"video of {video_length} frames is shorter than a clip span of {clip_span(num_frames, stride)}")
    if num_clips == 1:
        return np.array([last_start // 2])
    return np.round(np.linspace(0, last_start, num_clips)).astype(int)


def center_crop(video: np.ndarray, size: int) -> np.ndarray:
    height, width = video.shape[1:3]
    top, left = (height - size) // 2, (width - size) // 2
    return _crop(video, top, left, size)


def _crop(video: np.ndarray, top: int, left: int, size: int) -> np.ndarray:
    if top < 0 or left < 0:
        raise ValueError(f"crop {size} is larger than the frame {video.shape[1:3]}")
    return video[:, top : top + size, left : left + size]


def horizontal_flip(video: np.ndarray) -> np.ndarray:
    return video[:, :, ::-1]


@dataclass(frozen=True)
class ClipWindow:
    """Where a training clip is cut from a video: its first frame, the corner of its square
    crop, and whether it is mirrored left-right."""

    start: int
    top: int
    left: int
    flip: bool


def random_window(shape: tuple[int, ...], clip, rng: np.random.Generator, flip: bool = True,
                  non_overlapping: bool = False) -> ClipWindow:
    """A uniform random window of ``clip`` (a ClipConfig) in a video of ``shape`` ``(T, H, W, ...)``:
    start (with ``non_overlapping``, one of the video's back-to-back clips from frame 0), crop
    top, crop left, then (when ``flip``) a fair coin for the flip, drawn in this order."""
    length, height, width = shape[:3]
    if clip.crop > min(height, width):
        raise ValueError(f"crop {clip.crop} is larger than the frame {(height, width)}")
    step = clip_span(clip.num_frames, clip.stride) if non_overlapping else 1
    start = random_clip_start(length, clip.num_frames, clip.stride, rng, step)
    top = int(rng.integers(0, height - clip.crop + 1))
    left = int(rng.integers(0, width - clip.crop + 1))
    return ClipWindow(start, top, left, bool(flip and rng.random() < 0.5))


def cut_clip(frames: np.ndarray, window: ClipWindow, clip) -> np.ndarray:
    """The clip of ``frames`` (T, H, W, 3) in ``window``: ``(num_frames, crop, crop, 3)``."""
    video = _crop(frames[clip_indices(window.start, clip.num_frames, clip.stride)], window.top, window.left, clip.crop)
    return horizontal_flip(video) if window.flip else video


def random_training_clip(frames: np.ndarray, clip, rng: np.random.Generator, flip: bool = True) -> np.ndarray:
    """A random clip of ``frames`` for ``clip`` (a ClipConfig): random start, random square crop,
    random horizontal flip."""
    return cut_clip(frames, random_window(frames.shape, clip, rng, flip), clip)


def to_tensor(video: np.ndarray, normalisation: str = "kinetics") -> "torch.Tensor":
    """uint8 RGB ``(T, H, W, 3)`` -> float32 ``(3, T, H, W)`` as ``NORMALISATIONS[normalisation]``
    says (:class:`InputNormalisation`)."""
    import torch  # here, not at the top: the label pipeline's workers use this module without torch

    settings = NORMALISATIONS[normalisation]
    clip = torch.from_numpy(np.ascontiguousarray(video)).permute(3, 0, 1, 2).float()
    if settings.to_unit:
        clip.div_(255.0)
    if settings.bgr:
        clip = clip.flip(0)
    mean, std = settings.mean, settings.std
    mean_t = torch.tensor(mean, dtype=torch.float32).view(3, 1, 1, 1)
    std_t = torch.tensor(std, dtype=torch.float32).view(3, 1, 1, 1)
    return clip.sub_(mean_t).div_(std_t)
