"""Tests of ssl_core.labels.flow: computed flow, precomputed TV-L1 JPEG folders, crop/flip."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from ssl_core.data.video import MissingVideoError, VideoOpenError, VideoReadError
from ssl_core.labels.flow import (
    FLOW_ALGORITHMS,
    FlowBackendMissing,
    compute_flow,
    crop_flow,
    decode_flow_jpeg,
    encode_flow_jpeg,
    flip_flow,
    flow_settings,
    read_precomputed_flow,
    tvl1_available,
)

COMPUTED = ("farneback", "dis")
# tvl1 joins the generic checks where OpenCV contrib is installed.
AVAILABLE = COMPUTED + (("tvl1",) if tvl1_available() else ())


def textured_image(size=96, seed=0, sigma=2.0):
    """Smooth random texture, uint8 greyscale ``(size, size)``."""
    noise = np.random.default_rng(seed).random((size, size)).astype(np.float32)
    smooth = cv2.GaussianBlur(noise, (0, 0), sigma)
    smooth = (smooth - smooth.min()) / (smooth.max() - smooth.min())
    return np.round(smooth * 255).astype(np.uint8)


def translated_clip(dx=0, dy=0, num_frames=3, size=64, seed=0):
    """RGB ``(T, size, size, 3)`` frames of a texture moving by (dx, dy) px per frame."""
    base = textured_image(size + 32, seed)
    frames = []
    for t in range(num_frames):
        shifted = np.roll(base, shift=(t * dy, t * dx), axis=(0, 1))[16 : 16 + size, 16 : 16 + size]
        frames.append(np.repeat(shifted[..., None], 3, axis=-1))
    return np.stack(frames)


def interior(flow, margin=12):
    return flow[:, margin:-margin, margin:-margin]


@pytest.mark.parametrize("algorithm", COMPUTED)
def test_translation_in_x(algorithm):
    u, v = compute_flow(translated_clip(dx=3), algorithm)
    assert u.shape == v.shape == (2, 64, 64)
    assert u.dtype == v.dtype == np.float32
    assert abs(np.median(interior(u)) - 3) < 0.5
    assert abs(np.median(interior(v))) < 0.5


@pytest.mark.parametrize("algorithm", COMPUTED)
def test_translation_in_y(algorithm):
    u, v = compute_flow(translated_clip(dy=3), algorithm)
    assert abs(np.median(interior(v)) - 3) < 0.5
    assert abs(np.median(interior(u))) < 0.5


@pytest.mark.parametrize("algorithm", COMPUTED)
def test_static_frames_give_small_flow(algorithm):
    u, v = compute_flow(translated_clip(num_frames=3), algorithm)
    # Farneback leaves tiny (< 0.2 px) artefacts at the image border on identical frames.
    assert np.abs(u).max() < 0.5 and np.abs(v).max() < 0.5
    assert np.abs(interior(u)).max() < 0.1 and np.abs(interior(v)).max() < 0.1


@pytest.mark.parametrize("algorithm", AVAILABLE)
def test_flow_is_clipped(algorithm):
    # Unrelated random frames make large, erratic flow; a large shift as well.
    rng = np.random.default_rng(1)
    noise = rng.integers(0, 256, (2, 64, 64, 3), dtype=np.uint8)
    shifted = translated_clip(dx=25, num_frames=2, size=64)
    for clip in (noise, shifted):
        u, v = compute_flow(clip, algorithm)
        for flow in (u, v):
            assert np.isfinite(flow).all()
            assert flow.min() >= -20 and flow.max() <= 20


@pytest.mark.parametrize("algorithm", AVAILABLE)
def test_deterministic(algorithm):
    clip = translated_clip(dx=2, dy=1, num_frames=4, seed=3)
    first = compute_flow(clip, algorithm)
    second = compute_flow(clip, algorithm)
    np.testing.assert_array_equal(first[0], second[0])
    np.testing.assert_array_equal(first[1], second[1])


def test_thread_count_restored():
    before = cv2.getNumThreads()
    compute_flow(translated_clip(dx=1), "dis")
    assert cv2.getNumThreads() == before


def test_single_frame_and_bad_input():
    u, v = compute_flow(translated_clip(num_frames=1), "dis")
    assert u.shape == v.shape == (0, 64, 64)
    with pytest.raises(ValueError, match="algorithm"):
        compute_flow(translated_clip(), "brox")
    with pytest.raises(ValueError, match="uint8"):
        compute_flow(translated_clip().astype(np.float32), "dis")
    with pytest.raises(ValueError, match="shape"):
        compute_flow(translated_clip()[..., 0], "dis")


def test_flow_settings():
    assert FLOW_ALGORITHMS == ("farneback", "dis", "tvl1")
    for algorithm in FLOW_ALGORITHMS:
        settings = flow_settings(algorithm)
        assert settings["algorithm"] == algorithm and settings["clip"] == 20.0
        assert settings["params"]
    assert flow_settings("farneback")["params"]["winsize"] == 15
    assert flow_settings("dis")["params"]["preset"] == "medium"
    # returned dicts are copies, overrides are applied and checked
    flow_settings("dis")["params"]["patch_size"] = 99
    assert flow_settings("dis")["params"]["patch_size"] == 8
    assert flow_settings("farneback", {"winsize": 21})["params"]["winsize"] == 21
    with pytest.raises(ValueError, match="algorithm"):
        flow_settings("nope")
    with pytest.raises(ValueError, match="parameter"):
        flow_settings("dis", {"winsize": 3})


def test_params_override_changes_flow():
    clip = translated_clip(dx=2, num_frames=2)
    base = compute_flow(clip, "farneback")[0]
    other = compute_flow(clip, "farneback", {"winsize": 7})[0]
    assert not np.array_equal(base, other)


@pytest.mark.skipif(tvl1_available(), reason="OpenCV contrib is installed: tvl1 works")
def test_tvl1_missing_names_the_extra():
    with pytest.raises(FlowBackendMissing, match=r"tvl1\]") as info:
        compute_flow(translated_clip(dx=3), "tvl1")
    assert "ssl-video-ablations[tvl1]" in str(info.value)
    assert isinstance(info.value, ImportError)


@pytest.mark.skipif(not tvl1_available(), reason="OpenCV contrib (cv2.optflow) is not installed")
def test_tvl1_translation():
    u, v = compute_flow(translated_clip(dx=3), "tvl1")
    assert abs(np.median(interior(u)) - 3) < 0.5
    assert abs(np.median(interior(v))) < 0.5


# --------------------------------------------------------------------------- JPEG folders


def test_decode_formula_exact_values():
    decoded = decode_flow_jpeg(np.array([0, 255, 128], np.uint8))
    assert decoded.dtype == np.float32
    np.testing.assert_allclose(decoded, [-20.0, 20.0, 128 * 40 / 255 - 20], atol=1e-5)
    assert abs(decoded[2] - 0.0784314) < 1e-5


def test_encode_is_inverse_quantisation():
    flow = np.array([-25.0, -20.0, 0.0, 0.0784, 3.3, 20.0, 30.0])
    encoded = encode_flow_jpeg(flow)
    assert encoded.dtype == np.uint8
    assert encoded[0] == encoded[1] == 0 and encoded[-1] == encoded[-2] == 255
    assert encoded[2] == 128  # round(127.5) -> 128 (numpy rounds half to even: 128)
    np.testing.assert_allclose(decode_flow_jpeg(encoded), np.clip(flow, -20, 20), atol=40 / 255 / 2 + 1e-6)


def write_flow_folders(root, name, flow_u, flow_v, ext=".jpg"):
    params = [cv2.IMWRITE_JPEG_QUALITY, 100] if ext == ".jpg" else []
    for component, flow in (("u", flow_u), ("v", flow_v)):
        folder = root / component / name
        folder.mkdir(parents=True)
        for i, field in enumerate(flow, start=1):
            assert cv2.imwrite(str(folder / f"frame{i:06d}{ext}"), encode_flow_jpeg(field), params)


def test_precomputed_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    # Smooth fields (JPEG is lossy on sharp edges), spanning most of [-20, 20].
    flow_u = np.stack([cv2.GaussianBlur(rng.uniform(-18, 18, (40, 48)).astype(np.float32), (0, 0), 3) * 4 for _ in range(11)])
    flow_v = -flow_u[:, ::-1, :].copy()
    flow_u, flow_v = np.clip(flow_u, -20, 20), np.clip(flow_v, -20, 20)
    write_flow_folders(tmp_path, "v_X_g01_c01", flow_u, flow_v)
    read_u, read_v = read_precomputed_flow(tmp_path, "v_X_g01_c01")
    assert read_u.shape == read_v.shape == (11, 40, 48)
    assert read_u.dtype == np.float32
    # frame000010 must come after frame000009 (natural order) -> same per-frame content
    np.testing.assert_allclose(read_u, flow_u, atol=0.5)
    np.testing.assert_allclose(read_v, flow_v, atol=0.5)


def test_precomputed_lossless_values(tmp_path):
    values = np.array([[[0, 255, 128, 64]]], np.uint8)
    write_flow_folders(tmp_path, "vid", decode_flow_jpeg(values), decode_flow_jpeg(values[..., ::-1]), ext=".png")
    read_u, read_v = read_precomputed_flow(tmp_path, "vid")
    np.testing.assert_allclose(read_u[0, 0], [-20, 20, 128 * 40 / 255 - 20, 64 * 40 / 255 - 20], atol=1e-5)
    np.testing.assert_allclose(read_v[0, 0], read_u[0, 0, ::-1], atol=1e-5)


def test_precomputed_resize_scales_vectors(tmp_path):
    flow_u = np.full((2, 32, 40), 4.0, np.float32)
    flow_v = np.full((2, 32, 40), -6.0, np.float32)
    write_flow_folders(tmp_path, "vid", flow_u, flow_v, ext=".png")
    read_u, read_v = read_precomputed_flow(tmp_path, "vid", size=(32, 20))  # half width
    assert read_u.shape == (2, 32, 20)
    np.testing.assert_allclose(read_u, 2.0, atol=0.1)
    np.testing.assert_allclose(read_v, -6.0, atol=0.1)  # height unchanged -> v unchanged
    read_u, read_v = read_precomputed_flow(tmp_path, "vid", size=(64, 40))  # double height
    np.testing.assert_allclose(read_u, 4.0, atol=0.1)
    np.testing.assert_allclose(read_v, -12.0, atol=0.2)


def test_precomputed_errors(tmp_path):
    with pytest.raises(MissingVideoError, match="not found"):
        read_precomputed_flow(tmp_path, "absent")
    flow = np.zeros((3, 8, 8), np.float32)
    write_flow_folders(tmp_path, "vid", flow, flow[:2])
    with pytest.raises(VideoOpenError, match="3 u frames but 2 v frames") as info:
        read_precomputed_flow(tmp_path, "vid")
    assert isinstance(info.value, VideoReadError)
    (tmp_path / "u" / "only_u").mkdir()
    (tmp_path / "u" / "only_u" / "frame000001.jpg").write_bytes(cv2.imencode(".jpg", np.zeros((4, 4), np.uint8))[1].tobytes())
    with pytest.raises(MissingVideoError):
        read_precomputed_flow(tmp_path, "only_u")
    (tmp_path / "u" / "empty").mkdir()
    (tmp_path / "v" / "empty").mkdir()
    with pytest.raises(VideoOpenError, match="no .jpg"):
        read_precomputed_flow(tmp_path, "empty")


# --------------------------------------------------------------------------- crop / flip


def test_crop_flow():
    u = np.arange(2 * 6 * 8, dtype=np.float32).reshape(2, 6, 8)
    v = -u
    cu, cv = crop_flow(u, v, top=1, left=2, size=4)
    np.testing.assert_array_equal(cu, u[:, 1:5, 2:6])
    np.testing.assert_array_equal(cv, v[:, 1:5, 2:6])
    with pytest.raises(ValueError, match="does not fit"):
        crop_flow(u, v, top=3, left=0, size=4)


def test_flip_flow_official_and_paper():
    u = np.zeros((1, 4, 6), np.float32)
    v = np.zeros((1, 4, 6), np.float32)
    u[0, :, 0] = 3.0  # rightward motion at the left edge
    v[0, :, 0] = 2.0
    official_u, official_v = flip_flow(u, v, negate_u=False)
    paper_u, paper_v = flip_flow(u, v, negate_u=True)
    # both mirror the fields horizontally: the motion is now at the right edge
    np.testing.assert_array_equal(official_u[0, :, -1], 3.0)
    np.testing.assert_array_equal(paper_u[0, :, -1], -3.0)  # paper: now leftward
    assert not official_u[0, :, :-1].any() and not paper_u[0, :, :-1].any()
    for flipped_v in (official_v, paper_v):
        np.testing.assert_array_equal(flipped_v, v[..., ::-1])  # v never negated


def test_paper_flip_matches_flow_of_flipped_frames():
    clip = translated_clip(dx=3)
    u, v = compute_flow(clip, "dis")
    flipped_u, _ = compute_flow(np.ascontiguousarray(clip[:, :, ::-1]), "dis")
    paper_u, _ = flip_flow(u, v, negate_u=True)
    assert abs(np.median(interior(flipped_u)) - np.median(interior(paper_u))) < 0.5
    assert np.median(interior(flipped_u)) < -2.5
