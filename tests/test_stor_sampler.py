"""The STOR two-clip sampler (ssl_core.samplers.cstp) and the base augmentation (ssl_core.data.augment).

Rounding tolerances, derived from the integer pixel / frame placements:
- spatial: the overlap width ``s_w`` is an integer and ``s_h = round(r_s * w * h / s_w)``, so the
  realised rate ``s_w * s_h / (w * h)`` is off by at most ``0.5 * s_w / (w * h) <= 0.5 / h``.
- temporal: ``|start2 - start1| = round((1 - r_t) * L)`` with ``L = (T - 1) * p``, so the realised
  ``(L - |start2 - start1|) / L`` is off by at most ``0.5 / L``.
"""
import numpy as np
import pytest

from ssl_core.data.augment import BaseAugment, blur_kernel_size, random_quarter_turn, rotate_clip
from ssl_core.samplers.cstp import (
    PLAYBACK_RATES, Box, STORSampler, STORSettings, candidate_rates, fallback_boxes, place_spatial, sample_temporal,
)

FRAME_SIZES = [(64, 80), (128, 171), (32, 32), (120, 40), (16, 16), (17, 33)]
CANDIDATES = range(2, 8)


def frame_counter_video(length, height=24, width=32):
    """Frames whose every pixel holds the frame index (mod 256), so clip frames reveal their source index."""
    return np.broadcast_to((np.arange(length) % 256).astype(np.uint8)[:, None, None, None], (length, height, width, 3)).copy()


def test_candidate_rates_are_i_over_n():
    assert np.allclose(candidate_rates(2), [0.5, 1.0])
    assert np.allclose(candidate_rates(3), [1 / 3, 2 / 3, 1.0])
    assert np.allclose(candidate_rates(5), [0.2, 0.4, 0.6, 0.8, 1.0])
    assert len(candidate_rates(7)) == 7 and candidate_rates(7)[-1] == 1.0


@pytest.mark.parametrize("height, width", FRAME_SIZES)
def test_spatial_overlap_equals_the_rate_within_pixel_rounding(height, width):
    rng = np.random.default_rng(height * 1000 + width)
    for num_candidates in CANDIDATES:
        settings = STORSettings(num_candidates=num_candidates)
        for label, rate in enumerate(candidate_rates(num_candidates)):
            for _ in range(25):
                first, second = place_spatial(height, width, rate, settings, rng)
                assert first.inside(height, width) and second.inside(height, width)
                assert (first.height, first.width) == (second.height, second.width)
                realised = first.intersection(second) / first.area
                assert abs(realised - rate) <= 0.5 / first.height + 1e-9, (num_candidates, label, first, second)


@pytest.mark.parametrize("height, width", [(64, 80), (120, 40), (1, 1), (2, 3), (5, 4)])
def test_fallback_boxes_are_inside_the_frame(height, width):
    rng = np.random.default_rng(0)
    for rate in candidate_rates(7):
        first, second = fallback_boxes(height, width, rate, rng)
        assert first.inside(height, width) and second.inside(height, width)
        if height >= 16 and width >= 16:
            assert abs(first.intersection(second) / first.area - rate) <= 0.5 / first.height + 1e-9


def test_v1_box_area_and_aspect_follow_the_spec_ranges():
    rng = np.random.default_rng(1)
    settings = STORSettings()
    for _ in range(300):
        first, _ = place_spatial(128, 171, 0.6, settings, rng)
        assert 0.2 - 0.02 <= first.area / (128 * 171) <= 1.0
        assert 3 / 4 - 0.05 <= first.width / first.height <= 4 / 3 + 0.05


@pytest.mark.parametrize("num_frames", [16, 8, 4])
def test_temporal_overlap_equals_the_rate_within_frame_rounding(num_frames):
    rng = np.random.default_rng(num_frames)
    for num_candidates in CANDIDATES:
        settings = STORSettings(num_candidates=num_candidates, num_frames=num_frames)
        rates = candidate_rates(num_candidates)
        for video_length in (num_frames, num_frames + 3, 2 * num_frames, 60, 150, 400):
            for _ in range(30):
                temporal, pace, start1, start2, looped = sample_temporal(video_length, settings, rng)
                p = PLAYBACK_RATES[pace]
                span = (num_frames - 1) * p + 1
                assert not looped and 0 <= start1 <= video_length - span and 0 <= start2 <= video_length - span
                overlap = (span - 1 - abs(start2 - start1)) / (span - 1)
                assert abs(overlap - rates[temporal]) <= 0.5 / (span - 1) + 1e-9


def test_every_class_and_rate_is_drawn_for_long_videos():
    rng = np.random.default_rng(3)
    settings = STORSettings(num_candidates=4)
    draws = [sample_temporal(400, settings, rng)[:2] for _ in range(400)]
    assert {t for t, _ in draws} == set(range(4)) and {p for _, p in draws} == set(range(4))


def test_playback_rate_is_capped_by_the_video_length():
    rng = np.random.default_rng(4)
    settings = STORSettings(num_candidates=5, num_frames=16)
    for _ in range(100):
        _, pace, *_ = sample_temporal(40, settings, rng)  # p = 4 needs 61 frames
        assert PLAYBACK_RATES[pace] <= 2


def test_a_video_shorter_than_a_clip_loops_with_full_temporal_overlap():
    sampler = STORSampler(STORSettings(num_candidates=6, num_frames=16, size=16, rotate=False))
    video = frame_counter_video(10)
    for seed in range(20):
        pair = sampler(video, np.random.default_rng(seed))
        assert pair.temporal == 5 and pair.looped and pair.starts == (0, 0)
        assert pair.pace == 0 and pair.clip1.shape == (16, 16, 16, 3)
        assert list(pair.clip1[:, 8, 8, 0]) == [t % 10 for t in range(16)]


def test_sampled_pair_shares_size_length_and_pace_and_reads_the_placed_frames():
    settings = STORSettings(num_candidates=5, num_frames=8, size=12, rotate=False)
    sampler = STORSampler(settings)
    video = frame_counter_video(120, 40, 50)
    for seed in range(40):
        pair = sampler(video, np.random.default_rng(seed))
        assert pair.clip1.shape == pair.clip2.shape == (8, 12, 12, 3) and pair.clip1.dtype == np.uint8
        assert pair.playback_rate == PLAYBACK_RATES[pair.pace]
        for clip, start in zip((pair.clip1, pair.clip2), pair.starts):
            assert list(clip[:, 6, 6, 0]) == [start + pair.playback_rate * t for t in range(8)]
        first, second = pair.boxes
        assert abs(first.intersection(second) / first.area - candidate_rates(5)[pair.spatial]) <= 0.5 / first.height + 1e-9


def test_sampler_is_seeded_and_rotations_match_their_labels():
    settings = STORSettings(num_candidates=3, num_frames=4, size=16)
    video = np.random.default_rng(0).integers(0, 255, (30, 24, 32, 3), dtype=np.uint8)
    a = STORSampler(settings)(video, np.random.default_rng(11))
    b = STORSampler(settings)(video, np.random.default_rng(11))
    assert np.array_equal(a.clip1, b.clip1) and np.array_equal(a.clip2, b.clip2) and a.rotations == b.rotations
    plain = STORSampler(STORSettings(num_candidates=3, num_frames=4, size=16, rotate=False))
    turns = {STORSampler(settings)(video, np.random.default_rng(s)).rotations for s in range(40)}
    assert {r for pair in turns for r in pair} == {0, 1, 2, 3}
    seed = 5
    rotated = STORSampler(settings)(video, np.random.default_rng(seed))
    upright = plain(video, np.random.default_rng(seed))
    assert np.array_equal(rotated.clip1, rotate_clip(upright.clip1, rotated.rotations[0]))


@pytest.mark.parametrize("field, value", [("num_candidates", 1), ("num_candidates", 8), ("num_frames", 0), ("size", 0),
                                          ("playback_rates", (2, 1)), ("area", (0.0, 1.0)), ("aspect", (2.0, 1.0)), ("max_tries", 0)])
def test_invalid_settings_name_the_field(field, value):
    with pytest.raises(ValueError, match=field):
        STORSettings(**{field: value})


def test_sampler_rejects_frames_that_are_not_t_h_w_3():
    with pytest.raises(ValueError, match="frames"):
        STORSampler(STORSettings())(np.zeros((10, 20, 20), np.uint8), np.random.default_rng(0))


def test_box_geometry():
    a, b = Box(0, 0, 4, 6), Box(2, 3, 4, 6)
    assert a.area == 24 and a.intersection(b) == 2 * 3 and a.intersection(Box(10, 10, 2, 2)) == 0
    assert a.inside(4, 6) and not b.inside(5, 8)


# base augmentation


def test_augmentation_uses_the_same_parameters_for_every_frame():
    frame = np.random.default_rng(0).integers(0, 255, (24, 24, 3), dtype=np.uint8)
    clip = np.repeat(frame[None], 4, axis=0)
    augment = BaseAugment(p=1.0)
    for seed in range(10):
        out = augment(clip, np.random.default_rng(seed))
        assert out.shape == clip.shape and out.dtype == np.uint8
        assert all(np.array_equal(out[0], out[t]) for t in range(1, 4))


def test_augmentation_is_seeded_and_p_zero_only_flips():
    clip = np.random.default_rng(1).integers(0, 255, (3, 16, 20, 3), dtype=np.uint8)
    augment = BaseAugment(p=1.0)
    assert np.array_equal(augment(clip, np.random.default_rng(3)), augment(clip, np.random.default_rng(3)))
    flips = 0
    for seed in range(20):
        out = BaseAugment(p=0.0)(clip, np.random.default_rng(seed))
        flipped = np.array_equal(out, clip[:, :, ::-1])
        assert flipped or np.array_equal(out, clip)
        flips += flipped
    assert 0 < flips < 20
    assert np.array_equal(BaseAugment(p=0.0, flip=False)(clip, np.random.default_rng(0)), clip)


def test_augmentation_changes_clips_when_applied():
    clip = np.random.default_rng(2).integers(0, 255, (2, 16, 16, 3), dtype=np.uint8)
    changed = [not np.array_equal(BaseAugment(p=1.0, flip=False)(clip, np.random.default_rng(s)), clip) for s in range(5)]
    assert all(changed)


def test_augmentation_validates_arguments():
    with pytest.raises(ValueError, match="grey_p"):
        BaseAugment(grey_p=1.5)
    with pytest.raises(ValueError, match="blur_sigma"):
        BaseAugment(blur_sigma=(0.0, 2.0))
    with pytest.raises(ValueError, match="clip"):
        BaseAugment()(np.zeros((2, 8, 8, 3), np.float32), np.random.default_rng(0))


def test_blur_kernel_is_odd_and_about_a_tenth_of_the_side():
    assert blur_kernel_size(16, 20) == 3 and blur_kernel_size(112, 112) == 11 and blur_kernel_size(224, 300) == 23


def test_random_quarter_turn_returns_its_label():
    clip = np.random.default_rng(0).integers(0, 255, (2, 8, 8, 3), dtype=np.uint8)
    for seed in range(8):
        out, turns = random_quarter_turn(clip, np.random.default_rng(seed))
        assert 0 <= turns < 4 and np.array_equal(out, rotate_clip(clip, turns))
