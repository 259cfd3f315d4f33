"""The V3S sampler (spec ``v3s.md``): one spatial and one temporal transformation per clip,
each a class of its head.

**Spatial** (the same warp for every frame). A perspective map sends the frame corners
(0, 0), (0, H), (W, H), (W, 0) (pixel edges: the frame spans ``[0, W] x [0, H]``) to
- identity: themselves;
- scale ``S_S(a, b)``: (0, 0), (0, bH), (aW, bH), (aW, 0); the canvas stays ``W x H``, so the
  stretched frame's overflow is cut off (a canvas of ``aW x bH`` resized back to the square
  training size would undo the scale);
- projection ``S_P(c, side)``: a trapezoid whose head end (``side``, one of :data:`SIDES`) is
  shortened to ``c`` times its length, centred; right head: (0, 0), (0, H), (W, (H + cH) / 2),
  (W, (H - cH) / 2).
Then the frame is resized to ``frame_size`` (the paper's 224 x 224; the loaded size when 0)
and cut to the training crop: a uniform random ``crop x crop`` window for identity and
scale; for projection the ``l x l`` square on the head end, centred along it (``l`` the head
length, at most the frame's other side), resized to ``crop x crop``. The paper gives the
crop's size, not its place: the head-end square is our reading, the one square of that
size that lies inside the trapezoid and touches the head end. A horizontal flip (``flip``)
mirrors the content *before* the warp, so the head side stays the label.

Warp, resize and crop are one projective map, applied once per frame with
``cv2.warpPerspective`` (bilinear, edges replicated). Warping before or after the resize is the
same map: the corners are defined relative to the frame, so resize o warp(W, H) = warp(S, S) o
resize (``tests/test_v3s.py`` checks the identity); the two readings differ only in
interpolation, and we interpolate once.

**Temporal**: ``T = clip.num_frames`` frame indices from a random start:
- identity: stride 1; scale ``T_S(s)``: stride ``s``;
- projection ``T_P(p1, p2)``: ``T // 2`` frames at stride ``p1``, then the rest at stride ``p2``
  (the second part starts ``p2`` after the first part's last frame).
``temporal_stride="s_minus_1"`` takes the paper's formula literally: every stride is one
less (``T_S(1)`` is then a still clip; the clip keeps ``T`` frames, not the formula's ``T + 1``).
A span longer than the video wraps to the start (``short_video="wrap"``, start uniform over
the video; as in the pace-prediction code, a step that would pass the last frame goes to the
first frame instead, and the next steps continue from there: :func:`wrapped_indices`) or the
video is left out of pretraining (``"skip"``, :meth:`V3SSampler.fits`).

**Classes** per head: ``identity`` first (with ``identity_class``; on the temporal head it is
merged with a ``T_S`` setting of stride 1), then the scale, then the projection settings; S_P
targets are ``(c, side)`` pairs (``projection_target="joint"``: c-major, sides in
:data:`SIDES` order) or ``c`` alone (the side then drawn at random). Drawing: uniform over a
head's classes, or a uniform family (identity is a family of one) and then a uniform
setting in it (``class_draw="family"``). A head none of whose families is enabled does not
exist. Draw order: spatial class, temporal class, side (``c_only``), flip, crop corner,
start. All randomness comes from the ``np.random.Generator`` passed in.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

SIDES = ("left", "top", "right", "bottom")
PROJECTION_TARGETS = ("joint", "c_only")
CLASS_DRAWS = ("uniform", "family")
TEMPORAL_STRIDES = ("s", "s_minus_1")
SHORT_VIDEOS = ("wrap", "skip")


@dataclass(frozen=True)
class Setting:
    """One class of a head: ``family`` ``identity``, ``scale`` or ``projection`` and its
    ``values`` (spatial scale ``(a, b)``, projection ``(c,)`` or ``(c, side)``, temporal
    scale ``(s,)``, temporal projection ``(p1, p2)``)."""

    family: str
    values: tuple = ()

    @property
    def name(self) -> str:
        return self.family if not self.values else f"{self.family}{self.values}"


@dataclass(frozen=True)
class V3SDraw:
    """What one example drew: class indices (None for an absent head), the spatial and
    temporal settings, the flip, the crop's corner in the resized frame (projection: the
    head square's corner and side length ``crop_size``), the frame indices and the map
    from loaded-frame to output coordinates (pixel edges, ``3 x 3``)."""

    spatial: int | None
    temporal: int | None
    spatial_setting: Setting
    temporal_setting: Setting
    side: str | None
    flip: bool
    crop_corner: tuple[float, float]
    crop_size: float
    indices: np.ndarray
    matrix: np.ndarray


FRAME_CORNERS = ((0.0, 0.0), (0.0, 1.0), (1.0, 1.0), (1.0, 0.0))  # (x, y) as fractions of (W, H)


def scale_corners(a: float, b: float, width: float, height: float) -> np.ndarray:
    """Where ``S_S(a, b)`` sends the frame corners, ``(4, 2)`` (x, y) in :data:`FRAME_CORNERS` order."""
    return np.array([(0, 0), (0, b * height), (a * width, b * height), (a * width, 0)], dtype=np.float64)


def projection_corners(c: float, side: str, width: float, height: float) -> np.ndarray:
    """Where ``S_P(c, side)`` sends the frame corners: the ``side`` edge shortened to ``c``
    times its length about its centre, the opposite edge kept."""
    w, h = width, height
    short_y = ((h - c * h) / 2, (h + c * h) / 2)
    short_x = ((w - c * w) / 2, (w + c * w) / 2)
    corners = {
        "right": [(0, 0), (0, h), (w, short_y[1]), (w, short_y[0])],
        "left": [(0, short_y[0]), (0, short_y[1]), (w, h), (w, 0)],
        "top": [(short_x[0], 0), (0, h), (w, h), (short_x[1], 0)],
        "bottom": [(0, 0), (short_x[0], h), (short_x[1], h), (w, 0)],
    }[side]
    return np.array(corners, dtype=np.float64)


def head_square(c: float, side: str, width: float, height: float) -> tuple[float, float, float]:
    """``(x0, y0, l)``: the ``l x l`` square on the head end of ``S_P(c, side)``, centred along
    it; ``l`` is the head length, at most the frame's other side."""
    if side in ("left", "right"):
        length = min(c * height, width)
        return (width - length if side == "right" else 0.0), (height - length) / 2, length
    length = min(c * width, height)
    return (width - length) / 2, (height - length if side == "bottom" else 0.0), length


def perspective(destination: np.ndarray, width: float, height: float) -> np.ndarray:
    """The ``3 x 3`` map sending the frame corners to ``destination`` (``(4, 2)``)."""
    source = np.array([(x * width, y * height) for x, y in FRAME_CORNERS], dtype=np.float32)
    return cv2.getPerspectiveTransform(source, destination.astype(np.float32)).astype(np.float64)


def _translate(dx: float, dy: float) -> np.ndarray:
    return np.array([[1, 0, dx], [0, 1, dy], [0, 0, 1]], dtype=np.float64)


def _scale(sx: float, sy: float) -> np.ndarray:
    return np.diag([sx, sy, 1.0])


def warp_frames(frames: np.ndarray, matrix: np.ndarray, size: int) -> np.ndarray:
    """uint8 ``(T, H, W, 3)`` -> ``(T, size, size, 3)`` through ``matrix`` (pixel-edge
    coordinates; shifted by half a pixel to OpenCV's pixel centres), bilinear, edge pixels
    replicated outside (the maps of the spec's sets stay inside the frame: only the half-pixel
    rim would otherwise blend with black)."""
    centred = _translate(-0.5, -0.5) @ matrix @ _translate(0.5, 0.5)
    out = np.empty((len(frames), size, size, frames.shape[3]), dtype=np.uint8)
    for i, frame in enumerate(frames):
        out[i] = cv2.warpPerspective(frame, centred, (size, size), flags=cv2.INTER_LINEAR,
                                     borderMode=cv2.BORDER_REPLICATE)
    return out


def effective_steps(setting: Setting, num_frames: int, stride_reading: str = "s") -> np.ndarray:
    """The ``num_frames - 1`` index steps of a temporal setting."""
    if setting.family == "projection":
        p1, p2 = setting.values
        first = num_frames // 2
        steps = np.array([p1] * (first - 1) + [p2] * (num_frames - first), dtype=np.int64)
    else:
        stride = setting.values[0] if setting.family == "scale" else 1
        steps = np.full(num_frames - 1, stride, dtype=np.int64)
    if stride_reading == "s_minus_1" and setting.family != "identity":
        steps = steps - 1
    return steps


def wrapped_indices(start: int, steps: np.ndarray, length: int) -> np.ndarray:
    """Frame indices from ``start`` by ``steps`` in a video of ``length`` frames, the pace code's
    loop: a step that would pass the last frame lands on frame 0 instead."""
    indices = [start]
    for step in steps:
        following = indices[-1] + int(step)
        indices.append(following if following < length else 0)
    return np.array(indices, dtype=np.int64)


def temporal_span(setting: Setting, num_frames: int, stride_reading: str = "s") -> int:
    return int(effective_steps(setting, num_frames, stride_reading).sum()) + 1


class V3SSampler:
    """Turns a video into ``(clip, V3SDraw)``; ``options`` carries the V3S option fields
    (``spatial_scales``, ``projections``, ``temporal_scales``, ``temporal_projections``,
    ``identity_class``, ``projection_target``, ``class_draw``, ``temporal_stride``,
    ``short_video``, ``frame_size``, ``flip``), ``clip`` the ClipConfig (``num_frames``, ``crop``)."""

    def __init__(self, options, clip):
        self.options = options
        self.num_frames = clip.num_frames
        self.crop = clip.crop
        self.spatial_families = self._spatial_families()
        self.temporal_families = self._temporal_families()
        self.spatial_classes = [s for family in self.spatial_families for s in family]
        self.temporal_classes = [s for family in self.temporal_families for s in family]

    def _spatial_families(self) -> list[list[Setting]]:
        o = self.options
        families = [[Setting("scale", tuple(pair)) for pair in o.spatial_scales]]
        if o.projection_target == "joint":
            families.append([Setting("projection", (c, side)) for c in o.projections for side in SIDES])
        else:
            families.append([Setting("projection", (c,)) for c in o.projections])
        return self._with_identity(families)

    def _temporal_families(self) -> list[list[Setting]]:
        o = self.options
        scales = [Setting("scale", (s,)) for s in o.temporal_scales]
        families = [f for f in (scales, [Setting("projection", tuple(pair)) for pair in o.temporal_projections]) if f]
        has_identity = any(set(effective_steps(s, 2, o.temporal_stride)) == {1} for s in scales)
        return families if has_identity else self._with_identity(families)

    def _with_identity(self, families: list[list[Setting]]) -> list[list[Setting]]:
        families = [f for f in families if f]
        if families and self.options.identity_class:
            families.insert(0, [Setting("identity")])
        return families

    @property
    def has_spatial(self) -> bool:
        return bool(self.spatial_classes)

    @property
    def has_temporal(self) -> bool:
        return bool(self.temporal_classes)

    def spans(self) -> list[int]:
        settings = self.temporal_classes or [Setting("identity")]
        return [temporal_span(s, self.num_frames, self.options.temporal_stride) for s in settings]

    def fits(self, length: int) -> bool:
        """Whether a video of ``length`` frames holds every temporal setting without wrapping."""
        return length >= max(self.spans())

    def draw_class(self, families: list[list[Setting]], rng: np.random.Generator) -> int | None:
        if not families:
            return None
        if self.options.class_draw == "family":
            family = int(rng.integers(len(families)))
            return sum(len(f) for f in families[:family]) + int(rng.integers(len(families[family])))
        return int(rng.integers(sum(len(f) for f in families)))

    def __call__(self, frames: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, V3SDraw]:
        """uint8 frames ``(T_video, H, W, 3)`` -> (uint8 clip ``(num_frames, crop, crop, 3)``, its draw)."""
        spatial = self.draw_class(self.spatial_families, rng)
        temporal = self.draw_class(self.temporal_families, rng)
        spatial_setting = self.spatial_classes[spatial] if spatial is not None else Setting("identity")
        temporal_setting = self.temporal_classes[temporal] if temporal is not None else Setting("identity")
        side = None
        if spatial_setting.family == "projection":
            side = spatial_setting.values[1] if len(spatial_setting.values) == 2 else SIDES[int(rng.integers(len(SIDES)))]
        flip = bool(self.options.flip and rng.random() < 0.5)
        height, width = frames.shape[1:3]
        matrix, corner, size = self._spatial_map(spatial_setting, side, flip, width, height, rng)
        indices = self._indices(temporal_setting, len(frames), rng)
        clip = warp_frames(frames[indices], matrix, self.crop)
        return clip, V3SDraw(spatial, temporal, spatial_setting, temporal_setting, side, flip, corner, size, indices, matrix)

    def _spatial_map(self, setting: Setting, side, flip: bool, width: int, height: int, rng):
        """(loaded frame -> output map, crop corner in the resized frame, crop side length)."""
        frame_w, frame_h = (self.options.frame_size,) * 2 if self.options.frame_size else (width, height)
        if self.crop > min(frame_w, frame_h):
            raise ValueError(f"crop {self.crop} is larger than the frame {(frame_h, frame_w)}")
        mirror = np.array([[-1, 0, width], [0, 1, 0], [0, 0, 1]], dtype=np.float64) if flip else np.eye(3)
        if setting.family == "scale":
            warp = perspective(scale_corners(*setting.values, width, height), width, height)
        elif setting.family == "projection":
            warp = perspective(projection_corners(setting.values[0], side, width, height), width, height)
        else:
            warp = np.eye(3)
        resize = _scale(frame_w / width, frame_h / height)
        if setting.family == "projection":
            x0, y0, length = head_square(setting.values[0], side, frame_w, frame_h)
            crop = _scale(self.crop / length, self.crop / length) @ _translate(-x0, -y0)
        else:
            y0 = float(rng.integers(0, frame_h - self.crop + 1))
            x0 = float(rng.integers(0, frame_w - self.crop + 1))
            length = float(self.crop)
            crop = _translate(-x0, -y0)
        return crop @ resize @ warp @ mirror, (x0, y0), length

    def _indices(self, setting: Setting, length: int, rng: np.random.Generator) -> np.ndarray:
        offsets = np.concatenate([[0], np.cumsum(effective_steps(setting, self.num_frames, self.options.temporal_stride))])
        span = int(offsets[-1]) + 1
        if span <= length:
            return int(rng.integers(0, length - span + 1)) + offsets
        if self.options.short_video == "skip":
            raise ValueError(f"video of {length} frames is shorter than the span {span} of {setting.name} "
                             "(short_video='skip' leaves such videos out; see V3SSampler.fits)")
        return wrapped_indices(int(rng.integers(0, length)), np.diff(offsets), length)
