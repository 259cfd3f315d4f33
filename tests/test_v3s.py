"""V3S: the sampler's geometry and strides against the spec's formulas (worked out here
independently: the paper's 8 x 8 linear system, the crop rules, the stride lists), the class
tables and their drawing frequencies, the method's heads and loss, and best-pretext selection."""
from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
import torch

from conftest import InMemoryVideos, losses_on_fixed_batch, pretrain_until
from ssl_core.backbones import build_backbone
from ssl_core.config import ConfigError
from ssl_core.data.config import ClipConfig
from ssl_core.methods import MethodConfig, build_method
from ssl_core.methods.v3s import V3SOptions
from ssl_core.pretrain import PretrainConfig, selected_weights, selection_indices
from ssl_core.samplers.v3s import (
    SIDES, Setting, V3SSampler, head_square, perspective, projection_corners, scale_corners, wrapped_indices,
)

# ----------------------------------------------------------------- independent references


def paper_perspective(destination, width, height) -> np.ndarray:
    """The paper's Eq.: solve the 8 x 8 system for m0..m7 from the frame corners to ``destination``."""
    source = [(0, 0), (0, height), (width, height), (width, 0)]
    rows, rhs = [], []
    for (x, y), (u, _) in zip(source, destination):
        rows.append([x, y, 1, 0, 0, 0, -x * u, -y * u])
        rhs.append(u)
    for (x, y), (_, v) in zip(source, destination):
        rows.append([0, 0, 0, x, y, 1, -x * v, -y * v])
        rhs.append(v)
    m = np.linalg.solve(np.array(rows, float), np.array(rhs, float))
    return np.append(m, 1.0).reshape(3, 3)


def spec_corners(setting: Setting, side, width, height):
    """The spec's destination corners, written out case by case."""
    w, h = width, height
    if setting.family == "scale":
        a, b = setting.values
        return [(0, 0), (0, b * h), (a * w, b * h), (a * w, 0)]
    c = setting.values[0]
    lo_y, hi_y, lo_x, hi_x = (h - c * h) / 2, (h + c * h) / 2, (w - c * w) / 2, (w + c * w) / 2
    return {"right": [(0, 0), (0, h), (w, hi_y), (w, lo_y)], "left": [(0, lo_y), (0, hi_y), (w, h), (w, 0)],
            "top": [(lo_x, 0), (0, h), (w, h), (hi_x, 0)], "bottom": [(0, 0), (lo_x, h), (hi_x, h), (w, 0)]}[side]


def expected_map(draw, width, height, frame_size, crop) -> np.ndarray:
    """Loaded frame -> output clip (pixel edges) from the draw's label, flip and crop corner."""
    setting = draw.spatial_setting
    mirror = np.array([[-1, 0, width], [0, 1, 0], [0, 0, 1.0]]) if draw.flip else np.eye(3)
    warp = np.eye(3) if setting.family == "identity" else paper_perspective(spec_corners(setting, draw.side, width, height), width, height)
    fw, fh = (frame_size, frame_size) if frame_size else (width, height)
    resize = np.diag([fw / width, fh / height, 1.0])
    if setting.family == "projection":
        c = setting.values[0]
        length = min(c * fh, fw) if draw.side in ("left", "right") else min(c * fw, fh)
        x0 = {"right": fw - length, "left": 0.0}.get(draw.side, (fw - length) / 2)
        y0 = {"bottom": fh - length, "top": 0.0}.get(draw.side, (fh - length) / 2)
        assert draw.crop_corner == pytest.approx((x0, y0)) and draw.crop_size == pytest.approx(length)
        crop = np.diag([crop / length, crop / length, 1.0]) @ np.array([[1, 0, -x0], [0, 1, -y0], [0, 0, 1.0]])
    else:
        x0, y0 = draw.crop_corner
        assert x0 == int(x0) and y0 == int(y0) and 0 <= x0 <= fw - crop and 0 <= y0 <= fh - crop
        crop = np.array([[1, 0, -x0], [0, 1, -y0], [0, 0, 1.0]])
    return crop @ resize @ warp @ mirror


def expected_steps(setting: Setting, num_frames: int, reading: str = "s") -> list[int]:
    if setting.family == "identity":
        return [1] * (num_frames - 1)
    if setting.family == "scale":
        steps = [setting.values[0]] * (num_frames - 1)
    else:
        p1, p2 = setting.values
        half = num_frames // 2
        steps = [p1] * (half - 1) + [p2] * (num_frames - half)
    return [s - 1 for s in steps] if reading == "s_minus_1" else steps


def coordinate_video(length: int, height: int, width: int) -> np.ndarray:
    """Frame t, pixel (y, x) holds (x, y, t): every output pixel says where it came from."""
    t, y, x = np.meshgrid(np.arange(length), np.arange(height), np.arange(width), indexing="ij")
    return np.stack([x, y, t], axis=-1).astype(np.uint8)


def clip(num_frames=8, crop=24, resize=(32, 32)):
    return ClipConfig(num_frames=num_frames, stride=1, resize=resize, crop=crop)


def sampler(clip_config=None, **options):
    return V3SSampler(V3SOptions(**options).validate(), clip_config or clip())


# ----------------------------------------------------------------- spatial geometry


def test_perspective_sends_the_corners_where_the_spec_says():
    rng = np.random.default_rng(0)
    for _ in range(2000):
        width, height = (float(v) for v in rng.integers(8, 400, size=2))
        if rng.random() < 0.5:
            a = float(rng.choice([1.15, 1.3, 1.45, 1.6, 1.9, 2.35]))
            setting = Setting("scale", (a, 1) if rng.random() < 0.5 else (1, a))
            destination = scale_corners(*setting.values, width, height)
            side = None
        else:
            side = SIDES[rng.integers(4)]
            setting = Setting("projection", (float(rng.uniform(0.3, 0.95)), side))
            destination = projection_corners(setting.values[0], side, width, height)
        assert np.allclose(destination, spec_corners(setting, side, width, height))
        matrix = perspective(destination, width, height)
        corners = np.array([(0, 0, 1), (0, height, 1), (width, height, 1), (width, 0, 1)], float).T
        mapped = matrix @ corners
        assert np.allclose((mapped[:2] / mapped[2]).T, destination, atol=1e-3)
        reference = paper_perspective(destination, width, height)
        assert np.allclose(matrix, reference, rtol=1e-5, atol=1e-8)


def test_the_head_square_lies_inside_the_trapezoid_and_touches_the_head_end():
    for side in SIDES:
        for c in (0.5, 0.65, 0.8):
            x0, y0, length = head_square(c, side, 100.0, 100.0)
            assert length == pytest.approx(c * 100)
            matrix = perspective(projection_corners(c, side, 100.0, 100.0), 100.0, 100.0)
            inverse = np.linalg.inv(matrix)
            for x, y in ((x0, y0), (x0 + length, y0), (x0, y0 + length), (x0 + length, y0 + length)):
                u, v, w = inverse @ (x, y, 1.0)
                assert -1e-6 <= u / w <= 100 + 1e-6 and -1e-6 <= v / w <= 100 + 1e-6  # inside the warped frame
    assert head_square(0.8, "top", 171.0, 128.0)[2] == 128.0  # at most the other side


@pytest.mark.parametrize("family", ["scale", "projection"])
def test_warping_before_or_after_the_resize_is_the_same_map(family):
    rng = np.random.default_rng(1)
    for _ in range(200):
        width, height, size = (float(v) for v in rng.integers(16, 300, size=3))
        if family == "scale":
            corners = lambda w, h: scale_corners(1.3, 1.0, w, h)  # noqa: E731
        else:
            side, c = SIDES[rng.integers(4)], float(rng.uniform(0.4, 0.9))
            corners = lambda w, h: projection_corners(c, side, w, h)  # noqa: E731
        resize = np.diag([size / width, size / height, 1.0])
        before = resize @ perspective(corners(width, height), width, height)
        after = perspective(corners(size, size), size, size) @ resize
        assert np.allclose(before / before[2, 2], after / after[2, 2], atol=1e-6)


@pytest.mark.parametrize("frame_size", [0, 48])
def test_every_output_pixel_comes_from_where_the_label_says(frame_size):
    """Full pipeline (warp, resize, crop, flip) on coordinate-coded videos of many frame
    sizes: each interior output pixel shows the source (x, y) the spec's map predicts, within
    one pixel, and the frame index the temporal label predicts."""
    rng = np.random.default_rng(2)
    checked = {"identity": 0, "scale": 0, "projection": 0}
    for trial in range(300):
        height, width = (int(v) for v in rng.integers(24, 120, size=2))
        crop = int(rng.integers(8, min(height, width, frame_size or 999) + 1))
        num_frames = int(rng.choice([4, 8, 16]))
        length = int(rng.integers(num_frames * 6, 250))
        s = sampler(clip(num_frames, crop, (height, width)), frame_size=frame_size,
                    projection_target="joint" if trial % 2 else "c_only")
        video = coordinate_video(length, height, width)
        out, draw = s(video, rng)
        assert out.shape == (num_frames, crop, crop, 3)
        inverse = np.linalg.inv(expected_map(draw, width, height, frame_size, crop))
        j, i = np.meshgrid(np.arange(crop) + 0.5, np.arange(crop) + 0.5)
        source = inverse @ np.stack([j.ravel(), i.ravel(), np.ones(crop * crop)])
        sx, sy = source[0] / source[2] - 0.5, source[1] / source[2] - 0.5  # pixel-centre coordinates
        inside = (sx > 1) & (sx < width - 2) & (sy > 1) & (sy < height - 2)
        assert inside.mean() > 0.3
        frame = out[0].reshape(-1, 3).astype(float)
        assert np.abs(frame[inside, 0] - sx[inside]).max() <= 1.0
        assert np.abs(frame[inside, 1] - sy[inside]).max() <= 1.0
        shown = out[:, :, :, 2].reshape(num_frames, -1)[:, inside]
        assert (shown == draw.indices[:, None]).all()
        checked[draw.spatial_setting.family] += 1
    assert min(checked.values()) > 5


def test_a_scale_label_is_the_stretch_measured_in_the_clip():
    """After crop and resize, the source step per output pixel is W / (S a) across and H / (S b) down."""
    rng = np.random.default_rng(3)
    s = sampler(clip(4, 32, (40, 60)), projections=(), temporal_scales=(), temporal_projections=(),
                identity_class=False, flip=False, frame_size=48)
    for _ in range(100):
        out, draw = s(coordinate_video(30, 40, 60), rng)
        a, b = draw.spatial_setting.values
        across = np.diff(out[0, 16, :, 0].astype(float))
        down = np.diff(out[0, :, 16, 1].astype(float))
        assert across.mean() == pytest.approx(60 / (48 * a), abs=0.04)
        assert down.mean() == pytest.approx(40 / (48 * b), abs=0.04)


# ----------------------------------------------------------------- temporal sampling


@pytest.mark.parametrize("reading", ["s", "s_minus_1"])
def test_realised_strides_equal_the_label(reading):
    rng = np.random.default_rng(4)
    s = sampler(clip(8), spatial_scales=(), projections=(), temporal_stride=reading)
    seen = set()
    for _ in range(2000):
        length = int(rng.integers(40, 200))  # every span fits (wrapping: the tests below)
        out, draw = s(coordinate_video(length, 24, 24), rng)
        setting = s.temporal_classes[draw.temporal]
        assert setting == draw.temporal_setting
        steps = np.diff(out[:, 12, 12, 2].astype(int))
        assert steps.tolist() == expected_steps(setting, 8, reading)
        seen.add(setting)
    assert seen == set(s.temporal_classes)


def pace_code_loop(start, stride, count, length):
    """The pace-prediction code's ``loop_load_rgb``, 0-based: when the next frame would pass the
    last one, restart at frame 0 and count the stride from there."""
    frames, step = [], 0
    for _ in range(count):
        frames.append(start + step * stride)
        if start + (step + 1) * stride > length - 1:
            start, step = 0, 0
        else:
            step += 1
    return frames


def test_wrapping_restarts_at_the_first_frame_as_the_pace_code():
    assert wrapped_indices(8, np.full(7, 3), 10).tolist() == [8, 0, 3, 6, 9, 0, 3, 6]  # by hand
    assert pace_code_loop(8, 3, 8, 10) == [8, 0, 3, 6, 9, 0, 3, 6]
    assert wrapped_indices(5, np.array([1, 1, 1, 2, 2, 2]), 8).tolist() == [5, 6, 7, 0, 2, 4, 6]  # T_P: the steps go on


def test_too_short_videos_wrap_to_the_start_or_are_skipped():
    rng = np.random.default_rng(5)
    wrap = sampler(clip(8), spatial_scales=(), projections=(), temporal_scales=(4,), temporal_projections=())
    video = coordinate_video(20, 24, 24)  # T_S(4) spans 29 frames
    for _ in range(50):
        out, draw = wrap(video, rng)
        if draw.temporal_setting.values == (4,):
            frames = out[:, 12, 12, 2].astype(int)
            assert frames.tolist() == pace_code_loop(frames[0], 4, 8, 20)
    skip = sampler(clip(8), spatial_scales=(), projections=(), temporal_scales=(4,), temporal_projections=(),
                   short_video="skip", identity_class=False)
    assert not skip.fits(20) and skip.fits(29)
    with pytest.raises(ValueError, match="shorter than the span 29"):
        skip(video, rng)
    method = build_method(MethodConfig("v3s", {"spatial_scales": [], "projections": [], "temporal_scales": [4],
                                               "temporal_projections": [], "short_video": "skip"}),
                          build_backbone("r3d_18", 0.125), clip(8))
    videos = InMemoryVideos([coordinate_video(n, 24, 24) for n in (20, 29, 40, 28)], clip(8))
    assert method.pretext_indices(videos).tolist() == [1, 2]


# ----------------------------------------------------------------- classes and their frequencies


def test_class_tables_follow_the_readings():
    def sizes(**options):
        s = sampler(**options)
        return len(s.spatial_classes), len(s.temporal_classes)

    assert sizes() == (1 + 6 + 12, 3 + 8)  # identity merged with T_S(1)
    assert sizes(identity_class=False) == (6 + 12, 3 + 8)
    assert sizes(projection_target="c_only") == (1 + 6 + 3, 11)
    # s - 1: T_S(1) is a still clip and T_S(2) the untransformed one (the identity merges with it)
    assert sizes(temporal_stride="s_minus_1") == (19, 3 + 8)
    assert sizes(temporal_stride="s_minus_1", temporal_scales=(1, 3)) == (19, 1 + 2 + 8)
    assert sizes(temporal_scales=(), temporal_projections=()) == (19, 0)
    assert sizes(spatial_scales=(), projections=(), temporal_scales=(2, 3)) == (0, 1 + 2 + 8)
    s = sampler()
    assert s.spatial_classes[0] == Setting("identity") and s.spatial_classes[7] == Setting("projection", (0.8, "left"))
    assert s.temporal_classes[0] == Setting("scale", (1,))


def chi_square(counts: np.ndarray, probabilities: np.ndarray) -> float:
    expected = probabilities * counts.sum()
    return float(((counts - expected) ** 2 / expected).sum())


def chi_square_bound(dof: int) -> float:
    """An upper bound of the chi-square 0.999 quantile (Wilson-Hilferty plus margin)."""
    z = 3.09
    return dof * (1 - 2 / (9 * dof) + z * math.sqrt(2 / (9 * dof))) ** 3 + 2


@pytest.mark.parametrize("draw", ["uniform", "family"])
def test_each_class_is_drawn_with_the_intended_frequency(draw):
    rng = np.random.default_rng(6)
    s = sampler(clip(4, 8, (12, 12)), class_draw=draw, projection_target="joint")
    video = coordinate_video(40, 12, 12)
    spatial, temporal = np.zeros(len(s.spatial_classes)), np.zeros(len(s.temporal_classes))
    sides = {side: 0 for side in SIDES}
    for _ in range(8000):
        _, d = s(video, rng)
        spatial[d.spatial] += 1
        temporal[d.temporal] += 1
        if d.side:
            sides[d.side] += 1
    if draw == "uniform":
        p_spatial = np.full(19, 1 / 19)
        p_temporal = np.full(11, 1 / 11)
    else:  # identity, 6 scales, 12 projections: a third per family
        p_spatial = np.array([1 / 3] + [1 / 18] * 6 + [1 / 36] * 12)
        p_temporal = np.array([1 / 6] * 3 + [1 / 16] * 8)  # T_S (identity merged), T_P
    assert chi_square(spatial, p_spatial) < chi_square_bound(18)
    assert chi_square(temporal, p_temporal) < chi_square_bound(10)
    assert chi_square(np.array(list(sides.values())), np.full(4, 0.25)) < chi_square_bound(3)


# ----------------------------------------------------------------- method


def small_method(**options):
    torch.manual_seed(0)
    return build_method(MethodConfig("v3s", options), build_backbone("r3d_18", 0.125), clip(8, 24, (32, 32)))


def test_heads_targets_and_chance():
    method = small_method(temporal_scales=[], temporal_projections=[])
    assert set(method.heads) == {"spatial"} and method.heads["spatial"].out_features == 19
    rng = np.random.default_rng(7)
    video = np.random.default_rng(0).integers(0, 255, (40, 32, 32, 3), dtype=np.uint8)
    example = method.sample(video, method.clip, rng)
    assert set(example) == {"clip", "spatial"} and example["clip"].shape == (3, 8, 24, 24)
    both = small_method()
    batch = {k: torch.stack([v, v]) for k, v in both.sample(video, both.clip, rng).items()}
    loss, metrics = both(batch)
    assert {"pretext/spatial_acc", "pretext/temporal_acc", "pretext/acc"} <= set(metrics)
    assert metrics["pretext/acc"] == pytest.approx((metrics["pretext/spatial_acc"] + metrics["pretext/temporal_acc"]) / 2)
    levels = both.chance_levels({"pretext/spatial_acc": torch.tensor([0, 0, 1, 2]), "pretext/temporal_acc": torch.tensor([1, 1, 1, 1])})
    assert levels == {"pretext/spatial_acc_chance": 0.5, "pretext/temporal_acc_chance": 1.0, "pretext/acc_chance": 0.75}


def test_loss_is_the_sum_of_two_cross_entropies_and_falls():
    method = small_method()
    rng = np.random.default_rng(8)
    videos = [np.random.default_rng(i).integers(0, 255, (40, 32, 32, 3), dtype=np.uint8) for i in range(6)]
    examples = [method.sample(v, method.clip, rng) for v in videos]
    batch = {k: torch.stack([e[k] for e in examples]) for k in examples[0]}
    method.eval()
    loss, metrics = method(batch)
    features = method.backbone(batch["clip"])
    by_hand = sum(torch.nn.functional.cross_entropy(method.heads[h](features), batch[h]) for h in ("spatial", "temporal"))
    assert loss.item() == pytest.approx(by_hand.item(), rel=1e-5)
    method.train()
    losses, _ = losses_on_fixed_batch(method, batch, steps=25, lr=3e-3)
    assert losses[-1] < 0.5 * losses[0]


@pytest.mark.parametrize("options, field", [
    ({"spatial_scales": [[1.3, 1.3]]}, "method.options.spatial_scales[0]"),
    ({"spatial_scales": [[1.3]]}, "method.options.spatial_scales[0]"),
    ({"spatial_scales": [[0.7, 1]]}, "method.options.spatial_scales[0]"),
    ({"projections": [1.2]}, "method.options.projections[0]"),
    ({"temporal_scales": [0]}, "method.options.temporal_scales[0]"),
    ({"temporal_projections": [[2, 2]]}, "method.options.temporal_projections[0]"),
    ({"temporal_scales": [2, 2]}, "method.options.temporal_scales"),
    ({"spatial_scales": [], "projections": [], "temporal_scales": [], "temporal_projections": []}, "method.options.spatial_scales"),
    ({"projection_target": "side"}, "method.options.projection_target"),
    ({"class_draw": "x"}, "method.options.class_draw"),
    ({"temporal_stride": "s-1"}, "method.options.temporal_stride"),
    ({"short_video": "pad"}, "method.options.short_video"),
    ({"frame_size": -1}, "method.options.frame_size"),
])
def test_bad_options_name_the_field(options, field):
    with pytest.raises(ConfigError, match=field.replace(".", r"\.").replace("[", r"\[")):
        MethodConfig("v3s", options).validate()


def test_options_from_json_lists_equal_the_python_tuples():
    from_json = MethodConfig("v3s", {"spatial_scales": [[1, 1.15], [1.15, 1]]}).typed_options()
    assert from_json.spatial_scales == ((1, 1.15), (1.15, 1))


# ----------------------------------------------------------------- best-pretext selection


def selection_videos(count=10):
    rng = np.random.default_rng(9)
    return InMemoryVideos([rng.integers(0, 255, (24, 32, 32, 3), dtype=np.uint8) for _ in range(count)], clip(4, 24, (32, 32)))


def rotation():
    torch.manual_seed(0)
    return build_method(MethodConfig("rotation"), build_backbone("r3d_18", 0.125), clip(4, 24, (32, 32)))


def test_selection_holds_out_fixed_videos_and_refuses_too_many():
    config = PretrainConfig(select="best_pretext", select_videos=3)
    held = selection_indices(10, config)
    assert len(held) == 3 and (held == selection_indices(10, config)).all() and held.tolist() == sorted(held.tolist())
    assert selection_indices(10, replace(config, select="last")) is None
    with pytest.raises(ConfigError, match="pretrain.select_videos"):
        selection_indices(3, config)
    with pytest.raises(ConfigError, match="pretrain.select"):
        PretrainConfig(select="best").validate()


@pytest.mark.parametrize("select, key, best", [("best_pretext", "acc", np.argmax), ("lowest_val_loss", "loss", np.argmin)])
def test_selection_returns_the_selected_epochs_weights_and_survives_resume(select, key, best):
    videos = selection_videos()
    config = PretrainConfig(epochs=4, batch_size=3, lr=0.05, optimiser="sgd", select=select, select_videos=4)
    full, states = pretrain_until(rotation, videos, config)
    values = [s["best"]["last_" + key] for s in states]
    best_epoch = int(best(values)) + 1  # the earliest of the best
    assert states[-1]["best"]["epoch"] == best_epoch and states[-1]["best"][key] == values[best_epoch - 1]
    for name, value in full.state_dict().items():
        assert torch.equal(value, states[best_epoch - 1]["model"][name]), name
    _, partial = pretrain_until(rotation, videos, config, stop_after=2)
    resumed, _ = pretrain_until(rotation, videos, config, state=partial[-1])
    for name, value in full.state_dict().items():
        assert torch.equal(value, resumed.state_dict()[name]), name
    last = PretrainConfig(epochs=1, batch_size=3, lr=0.05, optimiser="sgd")
    assert pretrain_until(rotation, videos, last)[1][0].get("best") is None
    # what the DDP path (TorchTrainer) loads from the final checkpoint
    assert selected_weights(states[-1]) is states[-1]["best"]["model"]
    assert selected_weights(partial[-1] | {"best": None}) is partial[-1]["model"]


def test_selection_videos_are_left_out_of_pretraining():
    from ssl_core.pretrain import pretrain

    videos, epochs = selection_videos(), []
    config = PretrainConfig(epochs=1, batch_size=3, lr=0.05, optimiser="sgd", select="best_pretext", select_videos=4)
    pretrain(rotation(), videos, config, seed=0, on_epoch_end=lambda metrics, state: epochs.append(metrics))
    assert epochs[0]["pretext/videos"] == 6 and epochs[0]["pretext/selected_epoch"] == 1
    assert 0 <= epochs[0]["pretext/select_acc"] <= 1
