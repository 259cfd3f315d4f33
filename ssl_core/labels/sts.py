"""Spatio-temporal statistics labels of STS / MAS (14 motion + 13 appearance labels per clip).

Definitions follow ``shared/spec/sts_labels.md``; two variants are selected by
``label_impl``:

* ``"official"`` (default): what the authors' public code computes (and what produced the
  papers' tables): motion boundaries as a true convolution with the Prewitt-style kernels
  (= negated difference), linear split of each orientation vote between two adjacent bins,
  dominant colour = the modal exact (R, G, B) triple mapped to its bin, pattern-1 labels
  ``(0, 0)`` when all magnitudes are zero, horizontal flip without negating ``u``.
* ``"paper"``: the paper text: plain gradient (sign flipped w.r.t. official), hard
  orientation vote, dominant colour = per-pixel bin vote, flip negates ``u``.

Shapes: ``rgb`` uint8 ``(T, S, S, 3)`` RGB; ``flow_u`` / ``flow_v`` float ``(T-1, S, S)``
(``u`` horizontal / x / column axis, ``v`` vertical / y / row axis), already cropped (and
flipped, see :func:`flip_clip`) like the RGB clip. ``S`` must be divisible by 8 (``e = S/8``).

Angles are those of ``cv2.cartToPolar(dx, dy, angleInDegrees=True)`` (0..360, from the +x
column axis toward the +y row axis); this module calls OpenCV itself so the angles are
bit-identical to the official code (OpenCV's atan approximation is ~0.01 degree off on
diagonals; exact on the axes).

Label values are 1-based (location 1..16 / 1..4 / 1..8, orientation 1..8, colour 1..8,
global motion 1..T-1), except the official pattern-1 motion labels which are ``0`` when the
summed motion-boundary magnitude of the clip is zero everywhere (as the public code does).

Choices where the spec leaves room (documented here and in the project report):

* Ties everywhere resolve to the first index (region, orientation bin, colour bin), as
  ``np.argmax`` / ``np.argmin`` / the public code's strict ``>`` do. In the ``paper``
  variant an all-zero clip therefore gets pattern-1 labels ``(1, 1)`` (no special case).
* Official modal-triple ties: the public code ravels pixels as (B, G, R) (OpenCV order) and
  takes ``np.bincount(...).argmax()``, i.e. the smallest ``B*65536 + G*256 + R`` among the
  most frequent triples wins; replicated here on RGB input.
* Motion boundaries are computed in float64 (the public code works in the flow's dtype);
  the difference is rounding only.
* :func:`curriculum_score` is 0 for a clip whose summed magnitude is zero everywhere
  (0/0 in the spec's formula). It does not depend on ``label_impl`` (magnitudes do not
  depend on the sign convention) but validates it. The largest block follows the tie rule
  above (first block).
* Pattern-2 colour uses the ring masks (the public code's slicing slip at region size 56 is
  not copied, as the spec says). Colour IoU counts only the region's own pixels.
* :data:`NUM_CLASSES` is for N = 16 frames (global motion: 15 classes); use
  :func:`num_classes` for other clip lengths. The official pattern-1 motion labels may be 0
  (static clip), which is outside the 1..16 / 1..8 class range: a classification head must
  map or ignore it (not done here).
"""
from __future__ import annotations

import threading
from functools import lru_cache
from typing import NamedTuple, Sequence

import cv2
import numpy as np

from ssl_core.labels import sts_kernels
from ssl_core.labels.flow import flip_flow

LABEL_IMPLS = ("official", "paper")
DEFAULT_LABEL_IMPL = "official"

LABEL_NAMES_MOTION = (
    "u_loc1", "u_ori1", "v_loc1", "v_ori1",
    "u_loc2", "u_ori2", "v_loc2", "v_ori2",
    "u_loc3", "u_ori3", "v_loc3", "v_ori3",
    "u_global", "v_global",
)
LABEL_NAMES_APPEARANCE = (
    "div_loc1", "div_col1", "con_loc1", "con_col1",
    "div_loc2", "div_col2", "con_loc2", "con_col2",
    "div_loc3", "div_col3", "con_loc3", "con_col3",
    "global_col",
)

NUM_REGIONS = {1: 16, 2: 4, 3: 8}
NUM_ORIENTATION_BINS = 8
NUM_COLOUR_BINS = 8

# Colour bin index (label - 1) from the code 4*[R>=128] + 2*[G>=128] + [B>=128]:
# table of the spec: 0: (0,0,1) 1: (0,1,1) 2: (1,0,1) 3: (1,1,1) 4: (0,0,0) 5: (0,1,0)
# 6: (1,0,0) 7: (1,1,0).
_COLOUR_BIN_FROM_CODE = np.array([4, 0, 5, 1, 6, 2, 7, 3], dtype=np.int64)


def num_classes(num_frames: int = 16) -> dict[str, int]:
    """Number of classes per label name for clips of ``num_frames`` RGB frames.

    Location 16 / 4 / 8 (patterns 1 / 2 / 3), orientation 8, colour 8, global motion
    ``num_frames - 1``, global colour 8.
    """
    if num_frames < 2:
        raise ValueError(f"num_frames must be >= 2, got {num_frames}")
    out: dict[str, int] = {}
    for name in LABEL_NAMES_MOTION + LABEL_NAMES_APPEARANCE:
        if name in ("u_global", "v_global"):
            out[name] = num_frames - 1
        elif "_loc" in name:
            out[name] = NUM_REGIONS[int(name[-1])]
        else:  # ori / col / global_col
            out[name] = 8
    return out


NUM_CLASSES = num_classes(16)

# 2-D regression targets (STS journal Table 4): the location labels of patterns 1 and 3
# become coordinates. Pattern 1 block k -> (row, col), 1-based (block 7 -> (2, 3));
# pattern 3 triangle k -> (quadrant 1..4, half 1..2) (the spec's interpretation). The
# official "no motion" pattern-1 label 0 -> (0, 0).
LOCATION_2D_LABELS = ("u_loc1", "v_loc1", "u_loc3", "v_loc3", "div_loc1", "con_loc1", "div_loc3", "con_loc3")


def location_coordinates(pattern: int) -> np.ndarray:
    """Table ``(regions + 1, 2)``: row ``k`` holds the 2-D target of location label ``k`` (row 0: label 0)."""
    if pattern not in (1, 3):
        raise ValueError(f"pattern must be 1 or 3 (2-D targets exist for those), got {pattern}")
    k = np.arange(1, NUM_REGIONS[pattern] + 1)
    if pattern == 1:
        coordinates = np.stack([(k - 1) // 4 + 1, (k - 1) % 4 + 1], axis=1)
    else:
        coordinates = np.stack([(k + 1) // 2, (k - 1) % 2 + 1], axis=1)
    return np.concatenate([np.zeros((1, 2), np.int64), coordinates]).astype(np.int64)


def labels_2d(labels: np.ndarray) -> np.ndarray:
    """The 35 2-D regression targets (18 motion + 17 appearance) from the 27 labels in order
    :data:`LABEL_NAMES_MOTION` + :data:`LABEL_NAMES_APPEARANCE`; each location label of
    :data:`LOCATION_2D_LABELS` is replaced in place by its two coordinates."""
    labels = np.asarray(labels, np.int64)
    names = LABEL_NAMES_MOTION + LABEL_NAMES_APPEARANCE
    if labels.shape != (len(names),):
        raise ValueError(f"labels must have shape ({len(names)},), got {labels.shape}")
    parts = [location_coordinates(int(name[-1]))[value] if name in LOCATION_2D_LABELS else np.array([value])
             for name, value in zip(names, labels)]
    return np.concatenate(parts)


# --------------------------------------------------------------------------------------
# validation
# --------------------------------------------------------------------------------------
def _check_impl(label_impl: str) -> str:
    if label_impl not in LABEL_IMPLS:
        raise ValueError(f"label_impl must be one of {LABEL_IMPLS}, got {label_impl!r}")
    return label_impl


def _check_size(S: int, name: str = "S") -> int:
    if int(S) != S or S <= 0 or S % 8:
        raise ValueError(f"{name}: frame size must be a positive multiple of 8, got {S}")
    return int(S)


def _check_rgb(rgb) -> np.ndarray:
    rgb = np.asarray(rgb)
    if rgb.dtype != np.uint8:
        raise ValueError(f"rgb must be uint8, got dtype {rgb.dtype}")
    if rgb.ndim != 4 or rgb.shape[-1] != 3:
        raise ValueError(f"rgb must have shape (T, H, W, 3), got {rgb.shape}")
    T, H, W, _ = rgb.shape
    if T < 2:
        raise ValueError(f"rgb needs at least 2 frames, got shape {rgb.shape}")
    if H != W:
        raise ValueError(f"rgb frames must be square (H == W), got shape {rgb.shape}")
    _check_size(H, "rgb")
    return rgb


def _check_flow(flow_u, flow_v, num_frames: int | None = None, size: int | None = None):
    out = []
    for name, f in (("flow_u", flow_u), ("flow_v", flow_v)):
        f = np.asarray(f)
        if not np.issubdtype(f.dtype, np.floating):
            raise ValueError(f"{name} must be a float array, got dtype {f.dtype}")
        if f.ndim != 3 or f.shape[0] < 1:
            raise ValueError(f"{name} must have shape (T-1, H, W), got {f.shape}")
        if f.shape[1] != f.shape[2]:
            raise ValueError(f"{name} frames must be square (H == W), got shape {f.shape}")
        _check_size(f.shape[1], name)
        if num_frames is not None and f.shape[0] != num_frames - 1:
            raise ValueError(f"{name} must have T-1 = {num_frames - 1} fields, got shape {f.shape}")
        if size is not None and f.shape[1] != size:
            raise ValueError(f"{name} must be {size}x{size} like rgb, got shape {f.shape}")
        out.append(f)
    if out[0].shape != out[1].shape:
        raise ValueError(f"flow_u and flow_v shapes differ: {out[0].shape} vs {out[1].shape}")
    return out[0], out[1]


# --------------------------------------------------------------------------------------
# partition patterns
# --------------------------------------------------------------------------------------
@lru_cache(maxsize=8)
def pattern_masks(S: int) -> dict[int, np.ndarray]:
    """Boolean region masks of the three partition patterns for an ``S x S`` frame.

    Returns ``{1: (16, S, S), 2: (4, S, S), 3: (8, S, S)}``, region ``k`` (1-based) at
    index ``k - 1``:

    * pattern 1: 4x4 blocks of ``S/4``, row-major (block = 4*row + col + 1);
    * pattern 2: rings, centre ``[3e:5e]^2`` first, outermost (frame minus ``[e:7e]^2``)
      last, ``e = S/8``;
    * pattern 3: triangles cut by the centre lines and the diagonals (official order:
      1 TL/left edge, 2 TL/top, 3 TR/top, 4 TR/right, 5 BL/left, 6 BL/bottom,
      7 BR/bottom, 8 BR/right); every triangle includes its diagonal pixels, so the
      diagonal pixels belong to two triangles.
    """
    S = _check_size(S)
    e, q, h = S // 8, S // 4, S // 2
    rows = np.arange(S)[:, None]
    cols = np.arange(S)[None, :]

    block = (rows // q) * 4 + cols // q  # 0..15
    p1 = block[None] == np.arange(16)[:, None, None]

    def square(a, b):
        return (rows >= a) & (rows < b) & (cols >= a) & (cols < b)

    s1, s2, s3 = square(3 * e, 5 * e), square(2 * e, 6 * e), square(e, 7 * e)
    p2 = np.stack([s1, s2 & ~s1, s3 & ~s2, ~s3])

    r, c = rows % h, cols % h  # coordinates inside the quadrant
    top, left = rows < h, cols < h
    main = r - c      # 0 on the quadrant's main diagonal (TL->BR)
    anti = r + c - (h - 1)  # 0 on its anti-diagonal (TR->BL)
    tl, tr, bl, br = top & left, top & ~left, ~top & left, ~top & ~left
    p3 = np.stack([
        tl & (main >= 0),  # 1: top-left, lower half (left edge)
        tl & (main <= 0),  # 2: top-left, upper half (top edge)
        tr & (anti <= 0),  # 3: top-right, upper half (top edge)
        tr & (anti >= 0),  # 4: top-right, lower half (right edge)
        bl & (anti <= 0),  # 5: bottom-left, upper half (left edge)
        bl & (anti >= 0),  # 6: bottom-left, lower half (bottom edge)
        br & (main >= 0),  # 7: bottom-right, lower half (bottom edge)
        br & (main <= 0),  # 8: bottom-right, upper half (right edge)
    ])
    for masks in (p1, p2, p3):
        masks.setflags(write=False)  # cached and shared: read-only
    return {1: p1, 2: p2, 3: p3}


# --------------------------------------------------------------------------------------
# motion
# --------------------------------------------------------------------------------------
def flow_derivatives(flow: np.ndarray, label_impl: str = DEFAULT_LABEL_IMPL) -> tuple[np.ndarray, np.ndarray]:
    """x- and y-derivatives of each field of ``flow`` ``(..., H, W)`` -> two ``(..., H, W)``
    float64 arrays.

    3x3 Prewitt-style kernels ``kx = [[-1,0,1]]*3``, ``ky = [[-1]*3,[0]*3,[1]*3]``; border
    mode ``reflect`` of ``scipy.ndimage`` (= numpy ``symmetric`` padding). ``official``: true
    convolution (kernel flipped: ``dx = f[:, j-1] - f[:, j+1]`` summed over the 3 rows);
    ``paper``: the plain gradient (the negation of that).
    """
    _check_impl(label_impl)
    f = np.asarray(flow, dtype=np.float64)
    pad = [(0, 0)] * (f.ndim - 2) + [(1, 1), (1, 1)]
    p = np.pad(f, pad, mode="symmetric")
    rowsum = p[..., :-2, :] + p[..., 1:-1, :] + p[..., 2:, :]  # (..., H, W+2)
    colsum = p[..., :, :-2] + p[..., :, 1:-1] + p[..., :, 2:]  # (..., H+2, W)
    dx = rowsum[..., :, :-2] - rowsum[..., :, 2:]
    dy = colsum[..., :-2, :] - colsum[..., 2:, :]
    if label_impl == "paper":
        dx, dy = -dx, -dy
    return dx, dy


def magnitude_angle(dx: np.ndarray, dy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Magnitude and angle (degrees, 0..360) of ``(dx, dy)``, any equal shapes ``(..., W)``,
    exactly as ``cv2.cartToPolar(dx, dy, angleInDegrees=True)``; float64 outputs."""
    dx = np.ascontiguousarray(dx, dtype=np.float64)
    dy = np.ascontiguousarray(dy, dtype=np.float64)
    if dx.shape != dy.shape:
        raise ValueError(f"dx and dy shapes differ: {dx.shape} vs {dy.shape}")
    if dx.size == 0:
        return np.zeros(dx.shape), np.zeros(dx.shape)
    shape = dx.shape
    w = shape[-1] if dx.ndim >= 1 else 1
    mag, ang = cv2.cartToPolar(dx.reshape(-1, w), dy.reshape(-1, w), angleInDegrees=True)
    return mag.reshape(shape), ang.reshape(shape)


def motion_boundaries(flow_u, flow_v, label_impl: str = DEFAULT_LABEL_IMPL) -> tuple[np.ndarray, np.ndarray]:
    """Summed motion boundaries ``Mu = (sum u_x, sum u_y)`` and ``Mv = (sum v_x, sum v_y)``
    over the ``T-1`` fields of ``flow_u`` / ``flow_v`` ``(T-1, S, S)``; each ``(2, S, S)``
    float64 (index 0: x-derivative, 1: y-derivative). Sign per :func:`flow_derivatives`."""
    _check_impl(label_impl)
    flow_u, flow_v = _check_flow(flow_u, flow_v)
    out = []
    for f in (flow_u, flow_v):
        dx, dy = flow_derivatives(f, label_impl)
        out.append(np.stack([dx.sum(axis=0), dy.sum(axis=0)]))
    return out[0], out[1]


def orientation_histogram(mag: np.ndarray, ang: np.ndarray, label_impl: str = DEFAULT_LABEL_IMPL) -> np.ndarray:
    """8-bin magnitude-weighted histogram ``(8,)`` of angles ``ang`` (degrees) of any shape.

    Bin = ``floor(angle / 45) mod 8``. ``official``: each vote split linearly between the
    bin (weight ``1 - r/45``) and the next bin cyclically (``r/45``), ``r = angle mod 45``;
    ``paper``: hard vote.
    """
    _check_impl(label_impl)
    mag = np.asarray(mag, dtype=np.float64).ravel()
    ang = np.asarray(ang, dtype=np.float64).ravel()
    b = np.floor(ang / 45.0).astype(np.int64) % 8
    if label_impl == "paper":
        return np.bincount(b, weights=mag, minlength=8)
    frac = np.mod(ang, 45.0) / 45.0
    return (np.bincount(b, weights=mag * (1.0 - frac), minlength=8)
            + np.bincount((b + 1) % 8, weights=mag * frac, minlength=8))


def region_magnitudes(mag: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """Sum of ``mag`` ``(S, S)`` over each region of ``masks`` ``(R, S, S)`` -> ``(R,)``."""
    return np.tensordot(masks.astype(np.float64, copy=False), np.asarray(mag, dtype=np.float64), axes=([1, 2], [0, 1]))


def location_orientation(mag: np.ndarray, ang: np.ndarray, pattern: int,
                         label_impl: str = DEFAULT_LABEL_IMPL, compiled: bool = False) -> tuple[int, int]:
    """(location, orientation) labels of one summed motion boundary for one pattern.

    ``mag`` / ``ang`` ``(S, S)``. Location: region with the largest magnitude sum
    (patterns 1, 3) or mean (pattern 2), first region on ties; orientation: argmax + 1 of
    :func:`orientation_histogram` over that region. Official pattern 1 returns ``(0, 0)``
    when every block sum is zero. ``compiled``: the histogram by
    :func:`sts_kernels.orientation_votes` (the same sums; for the fast path).
    """
    _check_impl(label_impl)
    if pattern not in NUM_REGIONS:
        raise ValueError(f"pattern must be 1, 2 or 3, got {pattern!r}")
    masks, sizes, pixels = _pattern_layout(mag.shape[-1], pattern)
    scores = region_magnitudes(mag, masks)
    if pattern == 2:
        scores = scores / sizes
    if pattern == 1 and label_impl == "official" and not np.any(scores > 0):
        return 0, 0
    k = int(np.argmax(scores))
    region = pixels[k]  # flat indices, row-major: the order of boolean indexing
    if compiled:
        hist = sts_kernels.orientation_votes(np.ascontiguousarray(mag, np.float64), np.ascontiguousarray(ang, np.float64),
                                             region, label_impl == "official")
    else:
        hist = orientation_histogram(np.ravel(mag)[region], np.ravel(ang)[region], label_impl)
    return k + 1, int(np.argmax(hist)) + 1


@lru_cache(maxsize=32)
def _pattern_layout(S: int, pattern: int) -> tuple[np.ndarray, np.ndarray, tuple[np.ndarray, ...]]:
    """One pattern's regions for an ``S x S`` frame, made once per size: float64 0/1 masks
    ``(R, S, S)`` (the region sums), pixels per region as float64 ``(R,)`` (the pattern-2
    means) and each region's flat pixel indices."""
    masks = pattern_masks(S)[pattern]
    return (masks.astype(np.float64), masks.reshape(len(masks), -1).sum(axis=1).astype(np.float64),
            _region_pixels(S)[pattern])


def global_motion_labels(flow_u, flow_v, label_impl: str = DEFAULT_LABEL_IMPL) -> np.ndarray:
    """``(u_global, v_global)`` int array ``(2,)``: for each component, 1 + the index of the
    flow field whose motion-boundary magnitude ``|(f_x, f_y)|`` summed over pixels is the
    largest (first on ties), range 1..T-1."""
    _check_impl(label_impl)
    flow_u, flow_v = _check_flow(flow_u, flow_v)
    out = []
    for f in (flow_u, flow_v):
        dx, dy = flow_derivatives(f, label_impl)
        mag, _ = magnitude_angle(dx, dy)
        out.append(int(np.argmax(mag.reshape(len(f), -1).sum(axis=1))) + 1)
    return np.array(out, dtype=np.int64)


def motion_labels(flow_u, flow_v, label_impl: str = DEFAULT_LABEL_IMPL) -> np.ndarray:
    """The 14 motion labels ``(14,)`` int64 in the order of :data:`LABEL_NAMES_MOTION`
    from ``flow_u`` / ``flow_v`` ``(T-1, S, S)``."""
    _check_impl(label_impl)
    flow_u, flow_v = _check_flow(flow_u, flow_v)
    Mu, Mv = motion_boundaries(flow_u, flow_v, label_impl)
    polar = [magnitude_angle(M[0], M[1]) for M in (Mu, Mv)]
    labels: list[int] = []
    for pattern in (1, 2, 3):
        for mag, ang in polar:
            labels.extend(location_orientation(mag, ang, pattern, label_impl))
    labels.extend(global_motion_labels(flow_u, flow_v, label_impl).tolist())
    return np.array(labels, dtype=np.int64)


def curriculum_score(flow_u, flow_v, label_impl: str = DEFAULT_LABEL_IMPL) -> float:
    """Curriculum difficulty score f (STS journal 3.4): for each of ``Mu``, ``Mv`` the
    magnitude sum of the largest-motion pattern-1 block divided by the magnitude sum over
    the whole frame; f is the larger of the two (0 for a zero-magnitude component).
    High = easy. ``flow_u`` / ``flow_v`` ``(T-1, S, S)``."""
    _check_impl(label_impl)
    Mu, Mv = motion_boundaries(flow_u, flow_v, label_impl)
    return _boundary_score(Mu, Mv, pattern_masks(Mu.shape[-1])[1])


def curriculum_scores(flow_u, flow_v, clips: Sequence[np.ndarray], label_impl: str = DEFAULT_LABEL_IMPL) -> np.ndarray:
    """:func:`curriculum_score` of many clips made of the fields of ``flow_u`` / ``flow_v``
    ``(P, S, S)``: ``clips[i]`` holds the indices of clip ``i``'s ``T-1`` fields -> float64
    ``(len(clips),)``.

    Each field's derivatives are computed once, not once per clip that holds it (with
    overlapping clips, up to ``T-1`` times), by a compiled loop of :func:`flow_derivatives`'
    arithmetic. The scores equal :func:`curriculum_score` of ``flow_u[clips[i]],
    flow_v[clips[i]]`` bit for bit: a field's derivatives do not depend on the other fields,
    and each clip's sum adds the same values in the same order.
    """
    _check_impl(label_impl)
    flow_u, flow_v = _check_flow(flow_u, flow_v)
    if len(clips) == 0:
        return np.empty(0, np.float64)
    rows = np.asarray(clips, dtype=np.int64).reshape(len(clips), -1)
    if rows.min() < 0 or rows.max() >= len(flow_u):
        raise IndexError(f"clips index fields 0..{len(flow_u) - 1}, got {rows.min()}..{rows.max()}")
    Mu, Mv = (sts_kernels.clip_derivative_sums(np.ascontiguousarray(f, dtype=np.float64), rows, label_impl == "paper")
              for f in (flow_u, flow_v))
    masks = pattern_masks(flow_u.shape[-1])[1]
    return np.array([_boundary_score(Mu[i], Mv[i], masks) for i in range(len(rows))], dtype=np.float64)


def _boundary_score(Mu: np.ndarray, Mv: np.ndarray, block_masks: np.ndarray) -> float:
    """The curriculum score of summed motion boundaries ``Mu``, ``Mv`` ``(2, S, S)`` given the
    pattern-1 block masks."""
    best = 0.0
    for M in (Mu, Mv):
        mag, _ = magnitude_angle(M[0], M[1])
        total = float(mag.sum())
        if total > 0:
            best = max(best, float(region_magnitudes(mag, block_masks).max()) / total)
    return best


# --------------------------------------------------------------------------------------
# appearance
# --------------------------------------------------------------------------------------
def colour_bin(pixels: np.ndarray) -> np.ndarray:
    """Colour bin labels 1..8 (spec table) of RGB ``pixels`` ``(..., 3)`` -> ``(...)`` int64."""
    p = np.asarray(pixels)
    hi = (p >= 128).astype(np.int64)
    return _COLOUR_BIN_FROM_CODE[4 * hi[..., 0] + 2 * hi[..., 1] + hi[..., 2]] + 1


def dominant_colour(pixels: np.ndarray, label_impl: str = DEFAULT_LABEL_IMPL) -> int:
    """Dominant colour label 1..8 of uint8 RGB ``pixels`` ``(..., 3)`` (all pixels of a region
    over all frames). ``paper``: bin with most pixels (first on ties); ``official``: bin of
    the most frequent exact triple (ties: smallest ``B*65536 + G*256 + R``)."""
    _check_impl(label_impl)
    p = np.asarray(pixels).reshape(-1, 3).astype(np.int64)
    if len(p) == 0:
        raise ValueError("pixels: empty region")
    if label_impl == "paper":
        return int(np.argmax(np.bincount(colour_bin(p), minlength=9)[1:])) + 1
    keys = (p[:, 2] << 16) | (p[:, 1] << 8) | p[:, 0]
    uniq, counts = np.unique(keys, return_counts=True)
    k = int(uniq[np.argmax(counts)])
    return int(colour_bin(np.array([k & 255, (k >> 8) & 255, k >> 16])))


def colour_iou(rgb: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """Colour IoU over time of each region: ``rgb`` uint8 ``(T, S, S, 3)``, ``masks``
    ``(R, S, S)`` -> ``(R,)`` float64.

    Per channel and frame a 256-bin histogram of the region's pixels; IoU = sum over bins of
    the min over frames / sum of the max over frames; the three channel IoUs are averaged
    (summed in R, G, B order). Low = diverse, high = consistent.
    """
    T = rgb.shape[0]
    offs = (np.arange(3)[None, None, :] * T + np.arange(T)[:, None, None]) * 256
    out = np.empty(len(masks))
    for i, m in enumerate(masks):
        sub = rgb[:, m].astype(np.int64)  # (T, n, 3)
        h = np.bincount((sub + offs).ravel(), minlength=3 * T * 256).reshape(3, T, 256)
        iou = h.min(axis=1).sum(axis=1) / h.max(axis=1).sum(axis=1)
        out[i] = (iou[0] + iou[1] + iou[2]) / 3.0
    return out


def appearance_labels(rgb, label_impl: str = DEFAULT_LABEL_IMPL) -> np.ndarray:
    """The 13 appearance labels ``(13,)`` int64 in the order of
    :data:`LABEL_NAMES_APPEARANCE` from uint8 RGB ``rgb`` ``(T, S, S, 3)``."""
    _check_impl(label_impl)
    rgb = _check_rgb(rgb)
    masks = pattern_masks(rgb.shape[1])
    labels: list[int] = []
    for pattern in (1, 2, 3):
        iou = colour_iou(rgb, masks[pattern])
        for k in (int(np.argmin(iou)), int(np.argmax(iou))):
            labels.extend([k + 1, dominant_colour(rgb[:, masks[pattern][k]], label_impl)])
    labels.append(global_appearance_label(rgb, label_impl))
    return np.array(labels, dtype=np.int64)


def global_appearance_label(rgb, label_impl: str = DEFAULT_LABEL_IMPL) -> int:
    """Dominant colour label 1..8 of the whole clip ``rgb`` ``(T, S, S, 3)``."""
    return dominant_colour(rgb, label_impl)


# --------------------------------------------------------------------------------------
# clip-level API
# --------------------------------------------------------------------------------------
def flip_clip(rgb, flow_u, flow_v, label_impl: str = DEFAULT_LABEL_IMPL):
    """Horizontal flip of a clip and its flow -> ``(rgb, flow_u, flow_v)`` (new arrays).

    ``rgb`` ``(T, H, W, 3)``, flows ``(T-1, H, W)``. ``official``: u is mirrored but keeps its
    sign (public code); ``paper``: u is also negated (physically correct). v keeps its sign.
    """
    _check_impl(label_impl)
    rgb = np.ascontiguousarray(np.asarray(rgb)[:, :, ::-1])
    u, v = flip_flow(np.asarray(flow_u), np.asarray(flow_v), negate_u=label_impl == "paper")
    return rgb, u, v


def compute_labels_reference(rgb, flow_u, flow_v, label_impl: str = DEFAULT_LABEL_IMPL) -> dict[str, np.ndarray]:
    """All STS labels of one clip, computed function by function as the spec reads (the
    reference :func:`compute_labels` must equal, bit for bit; slower)."""
    _check_impl(label_impl)
    rgb = _check_rgb(rgb)
    flow_u, flow_v = _check_flow(flow_u, flow_v, num_frames=rgb.shape[0], size=rgb.shape[1])
    return {"motion": motion_labels(flow_u, flow_v, label_impl),
            "appearance": appearance_labels(rgb, label_impl)}


def _motion_labels_shared(flow_u, flow_v, label_impl: str) -> np.ndarray:
    """:func:`motion_labels` with each component's derivatives computed once, by a compiled
    loop of the same arithmetic, and used for both the summed boundaries and the global
    labels (the reference computes them twice); the same values, so the same labels."""
    polar, global_labels = [], []
    for f in (flow_u, flow_v):
        sum_dx, sum_dy, approximate = sts_kernels.boundary_sums(np.ascontiguousarray(f), label_impl == "paper")
        polar.append(magnitude_angle(sum_dx, sum_dy))
        global_labels.append(_strongest_field(f, approximate, label_impl))
    labels: list[int] = []
    for pattern in (1, 2, 3):
        for mag, ang in polar:
            labels.extend(location_orientation(mag, ang, pattern, label_impl, compiled=True))
    return np.array(labels + global_labels, dtype=np.int64)


GLOBAL_MARGIN = 1e-4  # relative gap between the two largest approximate sums that decides alone


def _strongest_field(flow: np.ndarray, approximate: np.ndarray, label_impl: str) -> int:
    """1 + the field of ``flow`` ``(N, S, S)`` with the largest summed motion-boundary
    magnitude, as :func:`global_motion_labels` finds it with ``cartToPolar``. ``approximate``
    holds the sums taken with a single-precision ``sqrt`` (each magnitude within about 1e-7
    relative of OpenCV's, so the sums by far less than the margin); when its two largest are closer
    than the margin, the reference computation decides, so the label is always the reference's."""
    if len(approximate) > 1:
        second, top = np.sort(approximate)[-2:]
        if top - second > GLOBAL_MARGIN * top:
            return int(np.argmax(approximate)) + 1
    dx, dy = flow_derivatives(flow, label_impl)
    magnitudes, _ = magnitude_angle(dx, dy)
    return int(np.argmax(magnitudes.reshape(len(flow), -1).sum(axis=1))) + 1


class RegionAtoms(NamedTuple):
    """The regions of all three patterns as unions of atoms (:func:`_region_atoms`)."""

    atom_of: np.ndarray  # (S, S) int64: each pixel's atom
    count: int  # how many atoms
    indptr: np.ndarray  # CSR: region r's atoms are indices[indptr[r]:indptr[r + 1]]
    indices: np.ndarray
    slices: dict[int, slice]  # each pattern's regions in the numbering 0-27


@lru_cache(maxsize=8)
def _region_atoms(S: int) -> RegionAtoms:
    """The regions of all three patterns as unions of atoms: the sets of pixels that belong
    to the same region of every pattern (64 for ``S >= 16``: parts of the ``S/8``-pixel
    cells, the cells on a pattern-3 diagonal split into their two sides and the diagonal).
    Regions are numbered pattern 1 0-15, pattern 2 16-19, pattern 3 20-27."""
    masks = pattern_masks(S)
    stacked = np.concatenate([masks[1], masks[2], masks[3]])  # (28, S, S)
    signatures, atom_of = np.unique(stacked.reshape(len(stacked), -1).T, axis=0, return_inverse=True)
    members = [np.flatnonzero(signatures[:, region]) for region in range(len(stacked))]
    indptr = np.cumsum([0] + [len(atoms) for atoms in members]).astype(np.int64)
    slices, start = {}, 0
    for pattern in (1, 2, 3):
        slices[pattern] = slice(start, start + len(masks[pattern]))
        start += len(masks[pattern])
    return RegionAtoms(atom_of.reshape(S, S).astype(np.int64), len(signatures), indptr,
                       np.concatenate(members).astype(np.int64), slices)


_SCRATCH = threading.local()


def _scratch(name: str, shape: tuple[int, ...], dtype) -> np.ndarray:
    """A per-thread array reused from call to call. The fast path's large temporaries (about
    2.7 MB a 16x112x112 clip) would otherwise come from fresh pages on every call whenever
    glibc serves them by mmap: about 670 page faults, 1 ms of a 5 ms clip."""
    buffers = _SCRATCH.__dict__.setdefault("buffers", {})
    buffer = buffers.get(name)
    if buffer is None or buffer.shape != shape or buffer.dtype != dtype:
        buffer = buffers[name] = np.empty(shape, dtype)
    return buffer


@lru_cache(maxsize=8)
def _region_pixels(S: int) -> dict[int, tuple[np.ndarray, ...]]:
    """Per pattern, the flat (row-major) pixel indices of each region of :func:`pattern_masks`."""
    return {pattern: tuple(np.flatnonzero(mask) for mask in masks) for pattern, masks in pattern_masks(S).items()}


def _dominant_colour_of_keys(keys: np.ndarray, pixels: np.ndarray | None, label_impl: str) -> int:
    """:func:`dominant_colour` of the pixels at flat indices ``pixels`` (None: all), given the
    clip's packed keys ``B*65536 + G*256 + R`` ``(T, S, S)``."""
    if pixels is None:
        selected = keys.ravel()
    else:
        gathered = _scratch("selected", (keys.size,), np.uint32)
        selected = gathered[:sts_kernels.gather_region(keys.reshape(len(keys), -1), pixels, gathered)]
    if label_impl == "paper":  # the bin with most pixels, the first on ties
        per_bin = np.zeros(8, np.int64)
        np.add.at(per_bin, _COLOUR_BIN_FROM_CODE, sts_kernels.colour_code_counts(selected))
        return int(np.argmax(per_bin)) + 1
    k = sts_kernels.modal_key(selected, _scratch("lows", (keys.size,), np.uint16))
    return int(colour_bin(np.array([k & 255, (k >> 8) & 255, k >> 16])))


def _appearance_labels_shared(rgb: np.ndarray, label_impl: str) -> np.ndarray:
    """:func:`appearance_labels` with every region histogram of the three patterns counted in
    one compiled pass, the colour keys packed once for the whole clip, and each modal triple
    found by a counting pass instead of ``np.unique``."""
    pixels = _region_pixels(rgb.shape[1])
    atoms = _region_atoms(rgb.shape[1])
    slices = atoms.slices
    frames, size = rgb.shape[:2]
    histograms = _scratch("histograms", (frames, slices[3].stop, 3, 256), np.int32)  # every region of the three patterns
    keys = _scratch("keys", (frames, size, size), np.uint32)
    atom_histograms = _scratch("atom_histograms", (atoms.count, 3, 256), np.int32)
    sts_kernels.region_histograms(rgb, atoms.atom_of, atoms.indptr, atoms.indices, atom_histograms, histograms, keys)
    region_ious = sts_kernels.ious(histograms)
    labels: list[int] = []
    for pattern in (1, 2, 3):
        iou = region_ious[slices[pattern]]
        for k in (int(np.argmin(iou)), int(np.argmax(iou))):
            labels.extend([k + 1, _dominant_colour_of_keys(keys, pixels[pattern][k], label_impl)])
    labels.append(_dominant_colour_of_keys(keys, None, label_impl))
    return np.array(labels, dtype=np.int64)


def compute_labels(rgb, flow_u, flow_v, label_impl: str = DEFAULT_LABEL_IMPL) -> dict[str, np.ndarray]:
    """All STS labels of one (cropped, flipped) clip.

    ``rgb`` uint8 ``(T, S, S, 3)`` RGB with ``S`` divisible by 8; ``flow_u`` / ``flow_v``
    float ``(T-1, S, S)``. Returns ``{"motion": int64 (14,), "appearance": int64 (13,)}``
    in the orders :data:`LABEL_NAMES_MOTION` / :data:`LABEL_NAMES_APPEARANCE`.
    """
    _check_impl(label_impl)
    rgb = _check_rgb(rgb)
    flow_u, flow_v = _check_flow(flow_u, flow_v, num_frames=rgb.shape[0], size=rgb.shape[1])
    return {"motion": _motion_labels_shared(flow_u, flow_v, label_impl),
            "appearance": _appearance_labels_shared(rgb, label_impl)}


__all__ = [
    "LABEL_IMPLS", "DEFAULT_LABEL_IMPL", "LABEL_NAMES_MOTION", "LABEL_NAMES_APPEARANCE",
    "NUM_CLASSES", "NUM_REGIONS", "num_classes", "LOCATION_2D_LABELS", "location_coordinates", "labels_2d", "pattern_masks", "flow_derivatives",
    "magnitude_angle", "motion_boundaries", "orientation_histogram", "region_magnitudes",
    "location_orientation", "global_motion_labels", "motion_labels", "curriculum_score", "curriculum_scores",
    "colour_bin", "dominant_colour", "colour_iou", "appearance_labels",
    "global_appearance_label", "flip_clip", "compute_labels", "compute_labels_reference",
]
