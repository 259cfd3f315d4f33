import numpy as np
import pytest
import torch

from ssl_core.config import ConfigError
from ssl_core.data.clips import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    KINETICS_MEAN,
    KINETICS_STD,
    center_crop,
    clip_indices,
    clip_span,
    random_clip_start,
    to_tensor,
    uniform_clip_starts,
)
from ssl_core.data.config import ClipConfig
from ssl_core.data.dataset import EvalClips, TrainClips


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


PIXEL = (10, 128, 250)  # R, G, B


@pytest.mark.parametrize("normalisation,expected", [
    ("kinetics", [(v / 255 - m) / s for v, m, s in zip(PIXEL, KINETICS_MEAN, KINETICS_STD)]),
    ("imagenet", [(v / 255 - m) / s for v, m, s in zip(PIXEL, IMAGENET_MEAN, IMAGENET_STD)]),
    ("bgr_255", [250.0, 128.0, 10.0]),  # STS's public code: cv2's BGR frames, 0..255, as they are
])
def test_each_normalisation_of_one_pixel(normalisation, expected):
    video = np.broadcast_to(np.array(PIXEL, np.uint8), (2, 3, 3, 3))
    tensor = to_tensor(video, normalisation)
    assert tensor.shape == (3, 2, 3, 3)
    assert torch.allclose(tensor, torch.tensor(expected, dtype=torch.float32).view(3, 1, 1, 1).expand(3, 2, 3, 3))


def test_normalisation_is_validated_by_name():
    with pytest.raises(ConfigError, match=r"clip\.normalisation"):
        ClipConfig(normalisation="zca").validate()


class _OneVideo:
    """The part of a VideoCollection the evaluation datasets read: one still video of PIXEL."""

    def __init__(self, clip: ClipConfig):
        self.clip = clip
        self.entries = [type("Entry", (), {"label": 0})()]

    def __len__(self):
        return 1

    def frames(self, index):
        return np.broadcast_to(np.array(PIXEL, np.uint8), (self.clip.span, *self.clip.resize, 3)).copy()


def test_evaluation_clips_take_the_collections_normalisation():
    clip = ClipConfig(num_frames=2, stride=1, resize=(6, 6), crop=4, normalisation="bgr_255")
    for dataset in (EvalClips(_OneVideo(clip), clips_per_video=1), TrainClips(_OneVideo(clip))):
        tensor = dataset[0][0]
        assert tensor.shape == (3, 2, 4, 4) and tensor[:, 0, 0, 0].tolist() == [250.0, 128.0, 10.0]
