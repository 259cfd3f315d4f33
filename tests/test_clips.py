import numpy as np
import pytest
import torch

from ssl_core.data.clips import (
    KINETICS_MEAN,
    KINETICS_STD,
    center_crop,
    clip_indices,
    clip_span,
    random_clip_start,
    to_tensor,
    uniform_clip_starts,
)


def test_span_and_indices():
    assert clip_span(16, 1) == 16 and clip_span(8, 2) == 15
    assert list(clip_indices(3, 4, 2)) == [3, 5, 7, 9]


def test_uniform_starts_cover_first_to_last():
    # 40 frames, 8 at stride 2: span 15, last start 25; linspace(0, 25, 3) = 0, 12.5, 25
    assert list(uniform_clip_starts(40, 8, 2, 3)) == [0, 12, 25]
    assert list(uniform_clip_starts(40, 8, 2, 1)) == [12]
    assert list(uniform_clip_starts(15, 8, 2, 4)) == [0, 0, 0, 0]
    with pytest.raises(ValueError):
        uniform_clip_starts(14, 8, 2, 2)


def test_random_start_stays_inside():
    rng = np.random.default_rng(0)
    starts = {random_clip_start(20, 8, 2, rng) for _ in range(200)}
    assert starts == set(range(6))


def test_center_crop_and_tensor_layout():
    video = np.zeros((4, 10, 12, 3), np.uint8)
    video[:, 3:7, 4:8] = 255
    crop = center_crop(video, 4)
    assert crop.shape == (4, 4, 4, 3) and crop.min() == 255
    tensor = to_tensor(crop)
    assert tensor.shape == (3, 4, 4, 4) and tensor.dtype == torch.float32
    expected = [(1 - m) / s for m, s in zip(KINETICS_MEAN, KINETICS_STD)]
    assert torch.allclose(tensor[:, 0, 0, 0], torch.tensor(expected))
