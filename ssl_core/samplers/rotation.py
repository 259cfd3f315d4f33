"""The rotation sampler: a random training clip, turned by a random multiple of 90 degrees.

All randomness comes from the ``np.random.Generator`` passed in.
"""
from __future__ import annotations

import numpy as np

from ssl_core.data.augment import NUM_QUARTER_TURNS, rotate_clip
from ssl_core.data.clips import random_training_clip


def rotated_clip(frames: np.ndarray, clip, rng: np.random.Generator, flip: bool = True) -> tuple[np.ndarray, int]:
    """uint8 frames ``(T_video, H, W, 3)`` -> (uint8 clip ``(T, S, S, 3)`` rotated counter-clockwise
    by ``k`` x 90 degrees, ``k``); ``k`` is drawn first, then the clip (``random_training_clip``)."""
    quarter_turns = int(rng.integers(NUM_QUARTER_TURNS))
    return rotate_clip(random_training_clip(frames, clip, rng, flip), quarter_turns), quarter_turns
