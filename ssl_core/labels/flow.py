"""Dense optical flow for the motion labels (STS / MAS), computed or read from disk.

Two sources of flow, both returning ``(flow_u, flow_v)``: float32 arrays ``(T-1, H, W)``
(pixels, ``u`` = horizontal / x, ``v`` = vertical / y, from frame ``t`` to ``t+1``),
clipped to ``[-FLOW_CLIP, FLOW_CLIP] = [-20, 20]`` like the reference TV-L1 flow:

* :func:`compute_flow` on the same resized uint8 RGB frames the network sees (e.g. 128x171
  before the crop), with an algorithm that is a setting (:data:`FLOW_ALGORITHMS`):

  - ``"farneback"``: ``cv2.calcOpticalFlowFarneback`` with the parameters of OpenCV's
    dense-flow tutorial (pyr_scale 0.5, 3 levels, window 15, 3 iterations, poly_n 5,
    poly_sigma 1.2).
  - ``"dis"`` (default): ``cv2.DISOpticalFlow`` built from ``PRESET_MEDIUM``; every
    parameter of the preset is then set explicitly (values below) so the recorded
    settings are exactly what ran, whatever a future OpenCV preset says.
  - ``"tvl1"``: ``cv2.optflow.DualTVL1OpticalFlow`` with OpenCV's default parameters (the
    flow of the papers' public code). Needs OpenCV's contrib build:
    ``pip install "ssl-video-ablations[tvl1]"``; without it a :class:`FlowBackendMissing`
    (an ``ImportError``) says so.

  Flow is computed on greyscale (``cv2.COLOR_RGB2GRAY``). Determinism: OpenCV is switched
  to one thread (``cv2.setNumThreads(1)``) for the duration of the call and the previous
  thread count is restored afterwards, so the same input gives bit-identical output.
  ``setNumThreads`` is process-global: another thread using OpenCV during the call also
  runs single-threaded (a speed effect only).

* :func:`read_precomputed_flow` for existing TV-L1 JPEG folders in the common UCF101
  layout ``ROOT/u/<video>/frame000001.jpg`` and ``ROOT/v/<video>/...``: 8-bit greyscale,
  decoded as ``value * 40 / 255 - 20``. :func:`encode_flow_jpeg` is the inverse
  quantisation, used to write such folders.

:func:`flow_settings` gives the settings of an algorithm as a plain JSON-able dict that a
pipeline manifest records and hashes. :func:`crop_flow` and :func:`flip_flow` apply the
RGB clip's crop / horizontal flip to the flow (``negate_u=False`` is the official STS code,
``True`` the physically correct flip of the paper behaviour).
"""
from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ssl_core.data.video import FrameGapError, MissingVideoError, VideoOpenError, first_missing_frame, list_frame_files

FLOW_ALGORITHMS = ("farneback", "dis", "tvl1")
DEFAULT_ALGORITHM = "dis"
FLOW_CLIP = 20.0
TVL1_INSTALL_HINT = 'pip install "ssl-video-ablations[tvl1]"'

# Positional order of cv2.calcOpticalFlowFarneback after (prev, next, flow).
_FARNEBACK_PARAMS = {
    "pyr_scale": 0.5,
    "levels": 3,
    "winsize": 15,
    "iterations": 3,
    "poly_n": 5,
    "poly_sigma": 1.2,
    "flags": 0,
}

# cv2.DISOpticalFlow PRESET_MEDIUM, every value set explicitly after creation.
_DIS_PARAMS = {
    "preset": "medium",
    "finest_scale": 1,
    "patch_size": 8,
    "patch_stride": 3,
    "gradient_descent_iterations": 25,
    "variational_refinement_iterations": 5,
    "variational_refinement_alpha": 20.0,
    "variational_refinement_delta": 5.0,
    "variational_refinement_gamma": 10.0,
    "use_mean_normalization": True,
    "use_spatial_propagation": True,
}

# OpenCV's DualTVL1OpticalFlow defaults, in the positional order of
# cv2.optflow.DualTVL1OpticalFlow_create.
_TVL1_PARAMS = {
    "tau": 0.25,
    "lambda": 0.15,
    "theta": 0.3,
    "nscales": 5,
    "warps": 5,
    "epsilon": 0.01,
    "inner_iterations": 30,
    "outer_iterations": 10,
    "scale_step": 0.8,
    "gamma": 0.0,
    "median_filtering": 5,
    "use_initial_flow": False,
}

_DEFAULT_PARAMS = {"farneback": _FARNEBACK_PARAMS, "dis": _DIS_PARAMS, "tvl1": _TVL1_PARAMS}

_DIS_PRESETS = {
    "ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST,
    "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
    "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM,
}


class FlowBackendMissing(ImportError):
    """The requested flow algorithm needs an OpenCV build that is not installed."""


# --------------------------------------------------------------------------- settings


def _check_algorithm(algorithm: str) -> str:
    if algorithm not in FLOW_ALGORITHMS:
        raise ValueError(f"unknown flow algorithm={algorithm!r}; expected one of {FLOW_ALGORITHMS}")
    return algorithm


def flow_settings(algorithm: str = DEFAULT_ALGORITHM, params: dict[str, Any] | None = None) -> dict[str, Any]:
    """Everything that determines the computed flow, as a JSON-able dict for a manifest.

    Args:
        algorithm: one of :data:`FLOW_ALGORITHMS`.
        params: optional overrides of the algorithm's parameters (keys as in the returned
            ``"params"``); an unknown key is a ``ValueError``.
    Returns:
        ``{"algorithm", "params", "colour", "clip", "threads"}``.
    """
    _check_algorithm(algorithm)
    merged = copy.deepcopy(_DEFAULT_PARAMS[algorithm])
    for key, value in (params or {}).items():
        if key not in merged:
            raise ValueError(f"unknown parameter {key!r} for flow algorithm={algorithm!r}; expected one of {sorted(merged)}")
        merged[key] = value
    if algorithm == "dis" and merged["preset"] not in _DIS_PRESETS:
        raise ValueError(f"unknown DIS preset {merged['preset']!r}; expected one of {sorted(_DIS_PRESETS)}")
    return {
        "algorithm": algorithm,
        "params": merged,
        "colour": "grey (cv2.COLOR_RGB2GRAY)",
        "clip": FLOW_CLIP,
        "threads": 1,
    }


def tvl1_available() -> bool:
    """Whether OpenCV's contrib TV-L1 (``cv2.optflow.DualTVL1OpticalFlow_create``) exists."""
    return hasattr(getattr(cv2, "optflow", None), "DualTVL1OpticalFlow_create")


# --------------------------------------------------------------------------- computing


def _make_flow_fn(algorithm: str, p: dict[str, Any]):
    """A function ``(grey0, grey1) -> (H, W, 2) float32`` for the algorithm."""
    if algorithm == "farneback":
        args = (p["pyr_scale"], int(p["levels"]), int(p["winsize"]), int(p["iterations"]),
                int(p["poly_n"]), p["poly_sigma"], int(p["flags"]))
        return lambda a, b: cv2.calcOpticalFlowFarneback(a, b, None, *args)
    if algorithm == "dis":
        dis = cv2.DISOpticalFlow_create(_DIS_PRESETS[p["preset"]])
        dis.setFinestScale(int(p["finest_scale"]))
        dis.setPatchSize(int(p["patch_size"]))
        dis.setPatchStride(int(p["patch_stride"]))
        dis.setGradientDescentIterations(int(p["gradient_descent_iterations"]))
        dis.setVariationalRefinementIterations(int(p["variational_refinement_iterations"]))
        dis.setVariationalRefinementAlpha(float(p["variational_refinement_alpha"]))
        dis.setVariationalRefinementDelta(float(p["variational_refinement_delta"]))
        dis.setVariationalRefinementGamma(float(p["variational_refinement_gamma"]))
        dis.setUseMeanNormalization(bool(p["use_mean_normalization"]))
        dis.setUseSpatialPropagation(bool(p["use_spatial_propagation"]))
        return lambda a, b: dis.calc(a, b, None)
    # tvl1
    if not tvl1_available():
        raise FlowBackendMissing(
            "flow algorithm='tvl1' needs OpenCV's contrib build (cv2.optflow), which is not "
            f"installed (cv2 {cv2.__version__}). Install the tvl1 extra: {TVL1_INSTALL_HINT} "
            "(it installs opencv-contrib-python-headless; uninstall opencv-python-headless first "
            "if both end up installed), or use algorithm='dis' / 'farneback'."
        )
    tvl1 = cv2.optflow.DualTVL1OpticalFlow_create(
        float(p["tau"]), float(p["lambda"]), float(p["theta"]), int(p["nscales"]), int(p["warps"]),
        float(p["epsilon"]), int(p["inner_iterations"]), int(p["outer_iterations"]),
        float(p["scale_step"]), float(p["gamma"]), int(p["median_filtering"]), bool(p["use_initial_flow"]),
    )
    return lambda a, b: tvl1.calc(a, b, None)


def compute_flow(
    rgb: np.ndarray, algorithm: str = DEFAULT_ALGORITHM, params: dict[str, Any] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Dense flow between consecutive frames of a clip or video.

    Args:
        rgb: uint8 ``(T, H, W, 3)`` RGB frames (the resized frames the network sees).
        algorithm: one of :data:`FLOW_ALGORITHMS` (see the module docstring).
        params: optional parameter overrides, as in :func:`flow_settings`.
    Returns:
        ``(flow_u, flow_v)``, float32 ``(T-1, H, W)`` each, clipped to [-20, 20]; a single
        frame gives two ``(0, H, W)`` arrays.
    Raises:
        ValueError: unknown algorithm / parameter, wrong shape or dtype.
        FlowBackendMissing: ``"tvl1"`` without OpenCV's contrib build.
    """
    settings = flow_settings(algorithm, params)
    rgb = np.asarray(rgb)
    if rgb.ndim != 4 or rgb.shape[-1] != 3:
        raise ValueError(f"rgb must be (T, H, W, 3), got shape {rgb.shape}")
    if rgb.dtype != np.uint8:
        raise ValueError(f"rgb must be uint8, got {rgb.dtype}")
    if len(rgb) == 0:
        raise ValueError("rgb has no frames")
    num_pairs, height, width = len(rgb) - 1, rgb.shape[1], rgb.shape[2]
    flow_u = np.empty((num_pairs, height, width), np.float32)
    flow_v = np.empty((num_pairs, height, width), np.float32)
    if num_pairs == 0:
        return flow_u, flow_v
    previous_threads = cv2.getNumThreads()
    cv2.setNumThreads(1)
    try:
        flow_fn = _make_flow_fn(algorithm, settings["params"])
        grey = [cv2.cvtColor(np.ascontiguousarray(frame), cv2.COLOR_RGB2GRAY) for frame in rgb]
        for t in range(num_pairs):
            flow = flow_fn(grey[t], grey[t + 1])
            flow_u[t] = flow[..., 0]
            flow_v[t] = flow[..., 1]
    finally:
        cv2.setNumThreads(previous_threads)
    np.clip(flow_u, -FLOW_CLIP, FLOW_CLIP, out=flow_u)
    np.clip(flow_v, -FLOW_CLIP, FLOW_CLIP, out=flow_v)
    return flow_u, flow_v


# --------------------------------------------------------------------------- JPEG folders


def decode_flow_jpeg(values: np.ndarray) -> np.ndarray:
    """8-bit flow image(s) -> float32 pixels: ``value * 40 / 255 - 20``."""
    return (np.asarray(values, np.float32) * np.float32(2 * FLOW_CLIP / 255) - np.float32(FLOW_CLIP)).astype(np.float32)


def encode_flow_jpeg(flow: np.ndarray) -> np.ndarray:
    """Float flow -> uint8, the inverse quantisation: ``round((clip(f, -20, 20) + 20) * 255 / 40)``.

    The round trip ``decode(encode(f))`` is within 40/255/2 ~ 0.08 px of ``clip(f)`` before
    any JPEG loss; write with PNG or JPEG quality 100 to keep it close.
    """
    flow = np.clip(np.asarray(flow, np.float64), -FLOW_CLIP, FLOW_CLIP)
    return np.round((flow + FLOW_CLIP) * 255.0 / (2 * FLOW_CLIP)).astype(np.uint8)


def _read_flow_folder(folder: Path) -> list[np.ndarray]:
    if not folder.is_dir():
        raise MissingVideoError(folder, "precomputed flow folder not found")
    files = list_frame_files(folder)
    if not files:
        raise VideoOpenError(folder, "precomputed flow folder has no .jpg/.png frames")
    if (missing := first_missing_frame(files)) is not None:
        raise FrameGapError(folder, f"gap: flow frame {missing} missing")
    images = []
    for path in files:
        image = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
        if image is None:
            raise VideoOpenError(folder, f"flow frame {path.name} cannot be decoded")
        images.append(image)
    shapes = {image.shape for image in images}
    if len(shapes) != 1:
        raise VideoOpenError(folder, f"flow frames of different sizes {sorted(shapes)}")
    return images


def read_precomputed_flow(
    root: str | Path, video_name: str, size: tuple[int, int] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Read TV-L1 flow JPEGs from ``root/u/<video_name>/`` and ``root/v/<video_name>/``.

    Frames are taken in natural order (``frame2`` before ``frame10``) and decoded as
    ``value * 40 / 255 - 20``.

    Args:
        root: folder holding ``u/`` and ``v/``.
        video_name: the video's folder name under ``u/`` and ``v/``.
        size: optional ``(height, width)``. The flow field is resized (area averaging when
            shrinking, bilinear otherwise) **and its vectors are rescaled**: ``u`` by
            ``new_width / old_width`` and ``v`` by ``new_height / old_height``, so the flow is
            in pixels of the resized frames. The result is not re-clipped, so an upscale can
            exceed 20 px (downscaling, the usual case, cannot). The label store does not use
            this: see :func:`read_precomputed_flow_images`.
    Returns:
        ``(flow_u, flow_v)``, float32 ``(N, H, W)`` each, ``N`` = number of frame pairs.
    Raises:
        MissingVideoError: ``u/<video>`` or ``v/<video>`` does not exist.
        VideoOpenError: empty or undecodable folder, or u and v disagree in frame count / size.
    """
    images_u, images_v = read_precomputed_flow_images(root, video_name)
    flow_u, flow_v = decode_flow_jpeg(images_u), decode_flow_jpeg(images_v)
    if size is not None:
        flow_u, flow_v = resize_flow(flow_u, flow_v, size)
    return flow_u, flow_v


def read_precomputed_flow_images(
    root: str | Path, video_name: str, size: tuple[int, int] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """The 8-bit TV-L1 images of ``root/{u,v}/<video_name>/``: uint8 ``(N, H, W)`` each, in natural
    frame order. With ``size`` ``(height, width)`` each image is resized as the STS public code
    does (``cv2.resize`` of the 8-bit image, bilinear): the values are not rescaled, so the flow
    stays in pixels of the original frames (the STS labels and curriculum scores depend on the
    flow's directions and relative magnitudes only), and no precision is lost to a second
    quantisation. Raises as :func:`read_precomputed_flow`."""
    root = Path(root)
    u_dir, v_dir = root / "u" / video_name, root / "v" / video_name
    u_images = _read_flow_folder(u_dir)
    v_images = _read_flow_folder(v_dir)
    if len(u_images) != len(v_images):
        raise VideoOpenError(
            root / "{u,v}" / video_name,
            f"precomputed flow has {len(u_images)} u frames but {len(v_images)} v frames",
        )
    if u_images[0].shape != v_images[0].shape:
        raise VideoOpenError(
            root / "{u,v}" / video_name,
            f"u frames are {u_images[0].shape} but v frames are {v_images[0].shape}",
        )
    if size is not None and tuple(u_images[0].shape) != (int(size[0]), int(size[1])):
        target = (int(size[1]), int(size[0]))
        u_images = [cv2.resize(image, target, interpolation=cv2.INTER_LINEAR) for image in u_images]
        v_images = [cv2.resize(image, target, interpolation=cv2.INTER_LINEAR) for image in v_images]
    return np.stack(u_images), np.stack(v_images)


def resize_flow(flow_u: np.ndarray, flow_v: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Resize ``(N, H, W)`` flow to ``size = (height, width)``, scaling u by the x factor and v by the y factor."""
    height, width = int(size[0]), int(size[1])
    old_height, old_width = flow_u.shape[1:3]
    if (old_height, old_width) == (height, width):
        return flow_u, flow_v
    shrinking = height * width < old_height * old_width
    interpolation = cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
    scale_x = np.float32(width / old_width)
    scale_y = np.float32(height / old_height)

    def resize_all(flow: np.ndarray, scale: np.float32) -> np.ndarray:
        out = np.empty((len(flow), height, width), np.float32)
        for i, field in enumerate(flow):
            out[i] = cv2.resize(np.ascontiguousarray(field, np.float32), (width, height), interpolation=interpolation)
        return out * scale

    return resize_all(flow_u, scale_x), resize_all(flow_v, scale_y)


# --------------------------------------------------------------------------- clip transforms


def crop_flow(flow_u: np.ndarray, flow_v: np.ndarray, top: int, left: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    """The square crop ``[top:top+size, left:left+size]`` of ``(N, H, W)`` flow (as the RGB clip's crop)."""
    height, width = flow_u.shape[-2:]
    if flow_v.shape != flow_u.shape:
        raise ValueError(f"flow_u {flow_u.shape} and flow_v {flow_v.shape} differ in shape")
    if top < 0 or left < 0 or top + size > height or left + size > width:
        raise ValueError(f"crop top={top} left={left} size={size} does not fit the flow {(height, width)}")
    window = (..., slice(top, top + size), slice(left, left + size))
    return flow_u[window], flow_v[window]


def flip_flow(flow_u: np.ndarray, flow_v: np.ndarray, negate_u: bool) -> tuple[np.ndarray, np.ndarray]:
    """Mirror ``(N, H, W)`` flow horizontally (as the RGB clip's flip).

    ``negate_u=False`` is the official STS code (the u image is mirrored but keeps its sign);
    ``negate_u=True`` is the physically correct flip (``paper`` behaviour): a rightward motion
    becomes a leftward one. v is mirrored and never negated.
    """
    flipped_u = np.ascontiguousarray(flow_u[..., ::-1])
    flipped_v = np.ascontiguousarray(flow_v[..., ::-1])
    if negate_u:
        flipped_u = -flipped_u
    return flipped_u, flipped_v
