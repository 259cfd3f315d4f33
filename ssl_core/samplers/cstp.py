"""The two-clip spatio-temporal overlap rate (STOR) sampler of CSTP.

From one video (uint8 ``(T_video, H, W, 3)``) it draws two clips ``v1``, ``v2`` of
``num_frames`` frames, resized to ``size x size``, whose spatial and temporal overlap
rates are known classes (spec ``cstp_stor.md``, "Two-clip sampling"):

- rates: with ``N`` candidates the overlap rates are ``i / N``, ``i = 1..N``; the class
  label of rate ``i / N`` is ``i - 1``. Spatial and temporal rates are drawn independently.
- playback rate ``p``: uniform over the rates whose clip span ``(num_frames - 1) * p + 1``
  fits in the video, shared by both clips (label: index into ``playback_rates``).
- temporal: ``L = (num_frames - 1) * p``; ``start2 = start1 +- round((1 - r_t) * L)``, so the
  spans ``[start, start + L]`` overlap by ``L - |start2 - start1| ~ r_t * L``. Draws with
  ``start2`` outside the video are rejected and redrawn (``max_tries``). When no placement
  can exist for the drawn ``r_t`` at ``p``, ``p`` is lowered to the largest rate that
  allows one (the STOR label is kept); when none does, ``r_t = 1`` (label ``N - 1``).
  A video shorter than one clip at ``p = 1`` loops its frames, with ``r_t = 1``.
- spatial: ``v1`` is a box of area fraction ``U(0.2, 1)`` of the frame and aspect ``w / h``
  ``U(3/4, 4/3)`` (redrawn until it fits); ``v2`` has the same ``w x h``. With overlap width
  ``s_w ~ U{max(1, int(r_s * w)) .. w}`` and ``s_h = round(r_s * w * h / s_w)``, ``v2`` is
  shifted by ``(h - s_h, w - s_w)`` towards one of the 4 corners of ``v1`` (drawn uniformly),
  so the intersection is ``s_w x s_h``. The pair is placed uniformly among the positions
  where both boxes are inside the frame; draws where no position exists (the union
  ``(2h - s_h) x (2w - s_w)`` exceeds the frame) or ``s_h`` is outside ``1..h`` are
  rejected and redrawn (box, ``s_w``, corner) up to ``max_tries`` times. (Placing ``v1``
  first and rejecting an out-of-frame ``v2`` gives the same placement for a given box,
  ``s_w`` and corner, but weights those draws by their share of feasible positions and
  needs ~60 tries per pair at ``r_s = 1/7``.) The fallback after ``max_tries`` (not
  reached in practice for frames of 16 px or more) uses half-frame boxes, where every
  shift fits.
  Rounding ``s_h`` to pixels bounds the error of the realised rate:
  ``|s_w * s_h_int / (w * h) - r_s| <= 0.5 * s_w / (w * h) <= 0.5 / h``.
- each clip then gets the optional base augmentation (a callable) and, when ``rotate``,
  an independent 4-way rotation (label 0..3).

All randomness comes from the ``np.random.Generator`` passed in.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import cv2
import numpy as np

from ssl_core.data.augment import random_quarter_turn
from ssl_core.data.clips import clip_indices, clip_span, random_clip_start

PLAYBACK_RATES: tuple[int, ...] = (1, 2, 4, 8)
MIN_CANDIDATES, MAX_CANDIDATES = 2, 7
CORNERS = ((-1, -1), (-1, 1), (1, -1), (1, 1))  # (vertical, horizontal) direction of v2 from v1

Augment = Callable[[np.ndarray, np.random.Generator], np.ndarray]


@dataclass(frozen=True)
class Box:
    """A crop ``frames[:, top:top + height, left:left + width]``."""

    top: int
    left: int
    height: int
    width: int

    @property
    def area(self) -> int:
        return self.height * self.width

    def intersection(self, other: "Box") -> int:
        rows = min(self.top + self.height, other.top + other.height) - max(self.top, other.top)
        cols = min(self.left + self.width, other.left + other.width) - max(self.left, other.left)
        return max(rows, 0) * max(cols, 0)

    def inside(self, height: int, width: int) -> bool:
        return self.top >= 0 and self.left >= 0 and self.top + self.height <= height and self.left + self.width <= width


@dataclass(frozen=True)
class STORSettings:
    """``num_candidates`` N (rates i/N); clips of ``num_frames`` frames resized to ``size``;
    ``playback_rates`` to draw ``p`` from (``(1,)`` turns pace off); ``rotate``: random 4-way
    rotations; ``area`` / ``aspect``: the ranges of the v1 box; ``max_tries`` per rejection loop."""

    num_candidates: int = 5
    num_frames: int = 16
    size: int = 112
    playback_rates: tuple[int, ...] = PLAYBACK_RATES
    rotate: bool = True
    area: tuple[float, float] = (0.2, 1.0)
    aspect: tuple[float, float] = (3 / 4, 4 / 3)
    max_tries: int = 100

    def __post_init__(self):
        if not MIN_CANDIDATES <= self.num_candidates <= MAX_CANDIDATES:
            raise ValueError(f"num_candidates: must be in {MIN_CANDIDATES}..{MAX_CANDIDATES}, got {self.num_candidates}")
        if self.num_frames < 1:
            raise ValueError(f"num_frames: must be >= 1, got {self.num_frames}")
        if self.size < 1:
            raise ValueError(f"size: must be >= 1, got {self.size}")
        if not self.playback_rates or any(p < 1 for p in self.playback_rates) or list(self.playback_rates) != sorted(set(self.playback_rates)):
            raise ValueError(f"playback_rates: must be increasing rates >= 1, got {self.playback_rates}")
        if not 0 < self.area[0] <= self.area[1] <= 1:
            raise ValueError(f"area: must be 0 < low <= high <= 1, got {self.area}")
        if not 0 < self.aspect[0] <= self.aspect[1]:
            raise ValueError(f"aspect: must be 0 < low <= high, got {self.aspect}")
        if self.max_tries < 1:
            raise ValueError(f"max_tries: must be >= 1, got {self.max_tries}")


@dataclass(frozen=True)
class STORPair:
    """Two clips uint8 ``(T, S, S, 3)``, their labels and the realised placement."""

    clip1: np.ndarray
    clip2: np.ndarray
    spatial: int
    temporal: int
    pace: int
    rotations: tuple[int, int]
    boxes: tuple[Box, Box]
    starts: tuple[int, int]
    playback_rate: int
    looped: bool


def candidate_rates(num_candidates: int) -> np.ndarray:
    """The overlap rates ``i / N`` for ``i = 1..N``; class ``k`` is rate ``(k + 1) / N``."""
    return np.arange(1, num_candidates + 1) / num_candidates


def temporal_offset(rate: float, num_frames: int, playback_rate: int) -> int:
    """``round((1 - r_t) * L)`` with ``L = (num_frames - 1) * p``."""
    return int(round((1 - rate) * (num_frames - 1) * playback_rate))


def draw_playback_rate(video_length: int, num_frames: int, rates: tuple[int, ...], rng: np.random.Generator) -> int:
    """Index into ``rates``, uniform over those whose span fits in the video (0 when none does)."""
    fitting = [i for i, p in enumerate(rates) if clip_span(num_frames, p) <= video_length]
    return int(rng.choice(fitting)) if fitting else 0


def place_temporal(video_length: int, num_frames: int, playback_rate: int, rate: float,
                   rng: np.random.Generator, max_tries: int) -> tuple[int, int] | None:
    """``(start1, start2)`` with ``|start2 - start1| = round((1 - rate) * L)``, both clips inside
    the video; ``None`` when no such placement exists."""
    last_start = video_length - clip_span(num_frames, playback_rate)
    offset = temporal_offset(rate, num_frames, playback_rate)
    if last_start < offset:
        return None
    for _ in range(max_tries):
        start1 = int(rng.integers(0, last_start + 1))
        start2 = start1 + offset * (1 if rng.random() < 0.5 else -1)
        if 0 <= start2 <= last_start:
            return start1, start2
    start1 = int(rng.integers(0, last_start - offset + 1))
    return (start1, start1 + offset) if rng.random() < 0.5 else (start1 + offset, start1)


def sample_temporal(video_length: int, settings: STORSettings, rng: np.random.Generator):
    """``(temporal class, pace class, start1, start2, looped)`` for a video of ``video_length``."""
    num_frames, rates = settings.num_frames, settings.playback_rates
    temporal = int(rng.integers(settings.num_candidates))
    pace = draw_playback_rate(video_length, num_frames, rates, rng)
    if clip_span(num_frames, rates[pace]) > video_length:
        return settings.num_candidates - 1, pace, 0, 0, True
    rate = candidate_rates(settings.num_candidates)[temporal]
    for index in range(pace, -1, -1):
        starts = place_temporal(video_length, num_frames, rates[index], rate, rng, settings.max_tries)
        if starts is not None:
            return temporal, index, starts[0], starts[1], False
    start = random_clip_start(video_length, num_frames, rates[pace], rng)
    return settings.num_candidates - 1, pace, start, start, False


def draw_box_size(height: int, width: int, settings: STORSettings, rng: np.random.Generator) -> tuple[int, int]:
    """``(h, w)`` of area fraction ``U(area)`` of the frame and aspect ``w / h ~ U(aspect)``, rounded
    to pixels and redrawn until it fits; ``(H // 2, W // 2)`` after ``max_tries``."""
    for _ in range(settings.max_tries):
        area = rng.uniform(*settings.area) * height * width
        aspect = rng.uniform(*settings.aspect)
        box_w, box_h = int(round(np.sqrt(area * aspect))), int(round(np.sqrt(area / aspect)))
        if 1 <= box_w <= width and 1 <= box_h <= height:
            return box_h, box_w
    return max(height // 2, 1), max(width // 2, 1)


def overlap_size(height: int, width: int, rate: float, rng: np.random.Generator, low: int | None = None) -> tuple[int, int]:
    """``(s_h, s_w)``: ``s_w ~ U{low .. w}`` (``low`` default ``max(1, int(rate * w))``, the public
    code's bound), ``s_h = round(rate * w * h / s_w)``; ``s_h`` may fall outside ``1..h``."""
    low = max(1, int(rate * width)) if low is None else low
    overlap_w = int(rng.integers(low, width + 1))
    return int(round(rate * width * height / overlap_w)), overlap_w


def shifted_box(first: Box, overlap_h: int, overlap_w: int, corner: tuple[int, int]) -> Box:
    """The box of ``first``'s size whose intersection with ``first`` is ``overlap_h x overlap_w``,
    at ``corner`` (``(+-1, +-1)``: down/up, right/left) of ``first``."""
    return Box(first.top + corner[0] * (first.height - overlap_h), first.left + corner[1] * (first.width - overlap_w),
               first.height, first.width)


def place_pair(top: int, left: int, box_h: int, box_w: int, overlap_h: int, overlap_w: int,
               corner: tuple[int, int]) -> tuple[Box, Box]:
    """``(v1, v2)`` whose union's bounding box has its top-left corner at ``(top, left)``."""
    shift_h, shift_w = box_h - overlap_h, box_w - overlap_w
    first = Box(top + (shift_h if corner[0] < 0 else 0), left + (shift_w if corner[1] < 0 else 0), box_h, box_w)
    return first, shifted_box(first, overlap_h, overlap_w, corner)


def place_spatial(height: int, width: int, rate: float, settings: STORSettings, rng: np.random.Generator) -> tuple[Box, Box]:
    """Boxes ``(v1, v2)`` inside a ``height x width`` frame with ``area(v1 & v2) / area(v1) ~ rate``."""
    for _ in range(settings.max_tries):
        box_h, box_w = draw_box_size(height, width, settings, rng)
        overlap_h, overlap_w = overlap_size(box_h, box_w, rate, rng)
        corner = CORNERS[int(rng.integers(4))]
        union_h, union_w = 2 * box_h - overlap_h, 2 * box_w - overlap_w
        if 1 <= overlap_h <= box_h and union_h <= height and union_w <= width:
            top, left = int(rng.integers(0, height - union_h + 1)), int(rng.integers(0, width - union_w + 1))
            return place_pair(top, left, box_h, box_w, overlap_h, overlap_w, corner)
    return fallback_boxes(height, width, rate, rng)


def fallback_boxes(height: int, width: int, rate: float, rng: np.random.Generator) -> tuple[Box, Box]:
    """Half-frame boxes, which fit every shift: ``s_w >= ceil(rate * w)`` keeps ``s_h <= h``;
    ``s_h`` is raised to 1 where it rounds to 0 (frames of a few pixels only)."""
    box_h, box_w = max(height // 2, 1), max(width // 2, 1)
    overlap_h, overlap_w = overlap_size(box_h, box_w, rate, rng, low=max(1, int(np.ceil(rate * box_w - 1e-9))))
    overlap_h = min(max(overlap_h, 1), box_h)
    union_h, union_w = 2 * box_h - overlap_h, 2 * box_w - overlap_w
    top, left = int(rng.integers(0, height - union_h + 1)), int(rng.integers(0, width - union_w + 1))
    return place_pair(top, left, box_h, box_w, overlap_h, overlap_w, CORNERS[int(rng.integers(4))])


def crop_resize(video: np.ndarray, box: Box, size: int) -> np.ndarray:
    """uint8 ``(T, H, W, 3)`` -> the box of every frame resized to ``(T, size, size, 3)`` (bilinear)."""
    window = video[:, box.top : box.top + box.height, box.left : box.left + box.width]
    if box.height == size and box.width == size:
        return np.ascontiguousarray(window)
    return np.stack([cv2.resize(np.ascontiguousarray(frame), (size, size), interpolation=cv2.INTER_LINEAR) for frame in window])


def frame_indices(start: int, num_frames: int, playback_rate: int, video_length: int) -> np.ndarray:
    """``start + p * arange(num_frames)``, looped modulo the video length."""
    return clip_indices(start, num_frames, playback_rate) % video_length


class STORSampler:
    """Draws a :class:`STORPair` from one video; ``augment(clip, rng)`` is the base augmentation
    applied to each clip independently (before the 4-way rotation)."""

    def __init__(self, settings: STORSettings, augment: Augment | None = None):
        self.settings = settings
        self.augment = augment

    def __call__(self, frames: np.ndarray, rng: np.random.Generator) -> STORPair:
        """``frames``: uint8 ``(T_video, H, W, 3)``."""
        if frames.ndim != 4 or frames.shape[-1] != 3 or len(frames) == 0:
            raise ValueError(f"frames: must be a non-empty (T, H, W, 3) array, got shape {frames.shape}")
        settings = self.settings
        temporal, pace, start1, start2, looped = sample_temporal(len(frames), settings, rng)
        spatial = int(rng.integers(settings.num_candidates))
        boxes = place_spatial(frames.shape[1], frames.shape[2], candidate_rates(settings.num_candidates)[spatial], settings, rng)
        rate = settings.playback_rates[pace]
        clips, rotations = [], []
        for start, box in zip((start1, start2), boxes):
            clip = crop_resize(frames[frame_indices(start, settings.num_frames, rate, len(frames))], box, settings.size)
            if self.augment is not None:
                clip = self.augment(clip, rng)
            clip, turns = random_quarter_turn(clip, rng) if settings.rotate else (clip, 0)
            clips.append(np.ascontiguousarray(clip))
            rotations.append(turns)
        return STORPair(clips[0], clips[1], spatial, temporal, pace, (rotations[0], rotations[1]), boxes, (start1, start2), rate, looped)
