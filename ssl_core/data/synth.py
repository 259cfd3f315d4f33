"""The embedded default dataset: small synthetic motion videos in the UCF101 / HMDB51 layouts.

UCF101 and HMDB51 cannot be downloaded on laptops or CI, so this module renders a small
dataset of *real encoded video files* (MJPEG in ``.avi``) laid out exactly like the real
downloads, so that the same readers that serve real data are what gets exercised.

Classes are defined by motion (direction, rotation, scaling, speed and speed changes,
oscillation), never by appearance.  A *group* (UCF101's actor/scene group) fixes the scene:
the textured background and a floor.  In ``ucf`` a group's scene is the same for every class
(its splits hold out the same groups for all classes), so the scene carries no class
information; in ``hmdb``, whose splits hold out different groups per class, the scene
depends on (class, group) so that no test scene is seen in training.  The moving object's
shape and colour are drawn per clip.  Clips in a group vary position, size, speed and phase.
About a third of the clips get a camera pan (background, floor and object translate
together), and every frame gets mild sensor noise.  The output is deterministic for a seed.

Every frame shows which way is up (so rotation prediction is learnable): the scene is lit
from above (it darkens towards the bottom) and a darker, striped floor band with a dark
horizon line fills the bottom 20-28 % of the frame (objects move in front of it).

Generator versions: 1 (scene and object per (class, group)); 4 (this one: floor and light
from above, scene per group in ``ucf``, object per clip, objects 0.28-0.42 of the frame
side, lower-contrast backgrounds, 1.6x faster linear motion, wrap-around that always leaves
part of the object in view).

Layouts (``ROOT`` is the dataset root)::

    ucf:  ROOT/UCF-101/<Class>/v_<Class>_g<GG>_c<CC>.avi
          ROOT/ucfTrainTestlist/classInd.txt            "1 ClassName"            (CRLF)
          ROOT/ucfTrainTestlist/trainlist0{1,2,3}.txt   "Class/v_..._c01.avi 1" (CRLF)
          ROOT/ucfTrainTestlist/testlist0{1,2,3}.txt    "Class/v_..._c01.avi"   (CRLF)
    hmdb: ROOT/hmdb51_org/<class>/<class>_<Group>_<n>.avi
          ROOT/testTrainMulti_7030_splits/<class>_test_split{1,2,3}.txt
                                                  "<name>.avi <mark> " (1 train, 2 test, 0 unused)

``ROOT/synth_meta.json`` records every parameter, the class list and the generator version.

CLI::

    python -m ssl_core.data.synth --out DIR --variant ucf|hmdb --seed N \
        [--width 64 --height 64 --frames 40 --groups 8 --clips-per-group 3 --fps 25]
"""
from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import shutil
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ssl_core.config import require_choice, require_int, require_number
from ssl_core.data.splits import HMDB_SPLIT_DIR, HMDB_VIDEO_DIR, UCF_SPLIT_DIR, UCF_VIDEO_DIR

GENERATOR_VERSION = 4
META_FILENAME = "synth_meta.json"

UCF_CLASSES: tuple[str, ...] = (
    "MoveRight",
    "MoveLeft",
    "MoveUp",
    "MoveDown",
    "MoveRightFast",
    "SpeedUpRight",
    "RotateClockwise",
    "RotateCounterClockwise",
    "ZoomIn",
    "ZoomOut",
    "OscillateHorizontal",
    "OscillateVertical",
)
HMDB_CLASSES: tuple[str, ...] = (
    "bounce",
    "orbit",
    "zigzag",
    "reverse",
    "pulse",
    "spin_fast",
    "stop_and_go",
    "diagonal_down_left",
)
CLASSES: dict[str, tuple[str, ...]] = {"ucf": UCF_CLASSES, "hmdb": HMDB_CLASSES}

NUM_SPLITS = 3

DEFAULTS = dict(width=40, height=40, num_frames=40, groups=32, clips_per_group=4, fps=25.0)  # embedded data v5

SHAPES = ("circle", "square", "triangle", "cross", "star")

# Group names for HMDB-like video names (like HMDB51's movie names); made unique by index.
_GROUP_WORDS = (
    "AmberField", "BlueHarbor", "CedarRoad", "DuneWalk", "ElmStreet", "FernHill",
    "GraniteBay", "HollowCreek", "IvoryGate", "JasperLake", "KestrelRun", "LinenMill",
    "MapleYard", "NorthPier", "OakMeadow", "PineRidge", "QuarryView", "RiverBend",
    "SilverDock", "TulipLane", "UpperFalls", "VioletCourt", "WillowPark", "XenonPlaza",
    "YarrowGlen", "ZephyrHall",
)

_VARIANT_CODE = {"ucf": 1, "hmdb": 2}
_TAG_GROUP, _TAG_CLIP, _TAG_SPLIT, _TAG_OBJECT = 11, 12, 13, 14

# Motion constants, in units of the frame side S = min(width, height) per frame.
_V0 = 0.035  # normal linear speed: >= 0.44 S over 16 frames even at the slowest speed factor
_PAN_SPEED = (0.004, 0.009)  # camera pan speed range (slower than any object motion)
_PAN_PROB = 1.0 / 3.0
_NOISE_SIGMA = 3.0  # sensor noise, in 0..255 units
_SIZE = (0.28, 0.42)  # object extent range, fraction of S (zoom / pulse classes: _ZOOM_SIZE)
_ZOOM_SIZE = (0.22, 0.32)
_WRAP = 0.8  # wrap period = frame side + _WRAP * object extent
_BG_CONTRAST = (25.0, 55.0)  # distance between the background texture's two colours (0..255)


# ----------------------------------------------------------------------------------------
# validation / parameters
# ----------------------------------------------------------------------------------------
def _validate(variant, seed, width, height, num_frames, groups, clips_per_group, fps) -> dict:
    require_choice(variant, "variant", sorted(CLASSES))
    params = dict(
        variant=variant,
        seed=require_int(seed, "seed", 0, 2**63 - 1),
        width=require_int(width, "width", 16, 1024),
        height=require_int(height, "height", 16, 1024),
        num_frames=require_int(num_frames, "num_frames", 16, 10_000),
        groups=require_int(groups, "groups", 3, 99),
        clips_per_group=require_int(clips_per_group, "clips_per_group", 1, 99),
    )
    params["fps"] = require_number(fps, "fps", 1.0, 240.0)  # NaN fails the range check
    return params


def _expected_meta(params: dict) -> dict:
    variant = params["variant"]
    classes = list(CLASSES[variant])
    layout = (
        {"videos": UCF_VIDEO_DIR, "splits": UCF_SPLIT_DIR, "format": "ucf101"}
        if variant == "ucf"
        else {"videos": HMDB_VIDEO_DIR, "splits": HMDB_SPLIT_DIR, "format": "hmdb51"}
    )
    return {
        "generator": "ssl_core.data.synth",
        "generator_version": GENERATOR_VERSION,
        **params,
        "classes": classes,
        "num_classes": len(classes),
        "num_videos": len(classes) * params["groups"] * params["clips_per_group"],
        "num_splits": NUM_SPLITS,
        "codec": "MJPG",
        "container": "avi",
        "layout": layout,
    }


def params_hash(variant: str, seed: int = 0, **sizes) -> str:
    """Short stable hash of the generator parameters (and generator version)."""
    params = _validate(variant, seed, **_sizes_with_defaults(sizes))
    blob = json.dumps({"generator_version": GENERATOR_VERSION, **params}, sort_keys=True)
    return hashlib.sha1(blob.encode()).hexdigest()[:10]


def _sizes_with_defaults(sizes: dict) -> dict:
    unknown = set(sizes) - set(DEFAULTS)
    if unknown:
        raise ValueError(f"unknown size argument(s) {sorted(unknown)}; allowed: {sorted(DEFAULTS)}")
    return {**DEFAULTS, **sizes}


# ----------------------------------------------------------------------------------------
# splits
# ----------------------------------------------------------------------------------------
def ucf_test_groups(groups: int, split: int) -> list[int]:
    """1-based test groups of UCF split ``split`` (1..3): the split-th third of the groups.

    Thirds are ``round(k * groups / 3)`` boundaries, so every group is a test group in
    exactly one split (e.g. 8 groups: split1 = g1-g3, split2 = g4-g5, split3 = g6-g8).
    """
    if split not in (1, 2, 3):
        raise ValueError(f"split must be 1, 2 or 3, got {split!r}")
    lo = round((split - 1) * groups / 3)
    hi = round(split * groups / 3)
    return list(range(lo + 1, hi + 1))


def hmdb_split_marks(seed: int, class_index: int, groups: int, split: int) -> dict[int, int]:
    """Seeded group-disjoint HMDB marks for one class and split: {group (1-based): mark}.

    mark 1 = train, 2 = test, 0 = unused.  ~30% of the groups test (at least 1), the rest
    train (at least 1); with >= 8 groups one group is unused.
    """
    rng = np.random.default_rng([_TAG_SPLIT, seed, _VARIANT_CODE["hmdb"], class_index, split])
    perm = [int(g) + 1 for g in rng.permutation(groups)]
    marks: dict[int, int] = {}
    if groups >= 8:
        marks[perm.pop(0)] = 0
    n_test = min(max(1, round(0.3 * len(perm))), len(perm) - 1)
    for i, g in enumerate(perm):
        marks[g] = 2 if i < n_test else 1
    return dict(sorted(marks.items()))


def hmdb_group_name(group: int) -> str:
    """Name of 1-based group ``group`` as used in HMDB-like video names."""
    word = _GROUP_WORDS[(group - 1) % len(_GROUP_WORDS)]
    cycle = (group - 1) // len(_GROUP_WORDS)
    return word if cycle == 0 else f"{word}{cycle + 1}"


def video_relpath(variant: str, class_name: str, group: int, clip: int) -> str:
    """Path of a video relative to the dataset root (group and clip are 1-based)."""
    if variant == "ucf":
        return f"{UCF_VIDEO_DIR}/{class_name}/v_{class_name}_g{group:02d}_c{clip:02d}.avi"
    if variant == "hmdb":
        return f"{HMDB_VIDEO_DIR}/{class_name}/{class_name}_{hmdb_group_name(group)}_{clip - 1}.avi"
    raise ValueError(f"variant must be one of {sorted(CLASSES)}, got {variant!r}")


# ----------------------------------------------------------------------------------------
# rendering
# ----------------------------------------------------------------------------------------
@dataclass
class RenderedClip:
    """One rendered clip. ``frames`` is what gets encoded (RGB, with noise)."""

    frames: np.ndarray  # (T, H, W, 3) uint8 RGB, with sensor noise
    masks: np.ndarray  # (T, H, W) bool, object pixels
    background: np.ndarray  # (T, H, W, 3) uint8 RGB, background only, no noise
    centers: np.ndarray  # (T, 2) float (x, y) object centre in frame pixels (wrapped)
    angles: np.ndarray  # (T,) rotation in radians (increasing = clockwise on screen)
    extents: np.ndarray  # (T,) object extent (diameter) in pixels
    object_rgb: tuple[int, int, int]
    shape: str
    panned: bool
    pan_velocity: tuple[float, float]  # px/frame of the camera (scene moves opposite)


@dataclass
class _Group:
    canvas: np.ndarray  # (Hc, Wc, 3) uint8 RGB background canvas
    margin: int
    shape: str
    object_rgb: tuple[int, int, int]
    marker_rgb: tuple[int, int, int]
    colours: tuple  # the background's two colours
    floor_rgb: tuple[float, float, float]
    floor_frac: float  # floor band height / frame height
    floor_period: float  # px period of the floor's horizontal stripes


def _margin(width: int, height: int, num_frames: int) -> int:
    side = min(width, height)
    return int(math.ceil(_PAN_SPEED[1] * side * (num_frames - 1) / 2.0)) + 3


def _hsv_to_rgb(h: float, s: float, v: float) -> np.ndarray:
    hsv = np.array([[[h * 180.0, s * 255.0, v * 255.0]]], dtype=np.float32)
    hsv[..., 0] = np.clip(hsv[..., 0], 0, 179.99)
    return cv2.cvtColor(hsv.astype(np.uint8), cv2.COLOR_HSV2RGB)[0, 0].astype(np.float64)


def _render_group(variant: str, class_index: int, group: int, seed: int,
                  width: int, height: int, num_frames: int) -> _Group:
    # ucf: the scene depends on the group only, so every class of group g shares it and
    # appearance carries no class information (its splits hold out the same groups for every
    # class, so no test scene is seen in training). hmdb holds out different groups per class:
    # a shared scene would put one class's test scene into the others' training set, so there
    # the scene depends on (class, group), like HMDB51's per-class movie clips.
    key = [group] if variant == "ucf" else [class_index, group]
    rng = np.random.default_rng([_TAG_GROUP, seed, _VARIANT_CODE[variant], *key])
    side = min(width, height)
    margin = _margin(width, height, num_frames)
    hc, wc = height + 2 * margin, width + 2 * margin
    yy, xx = np.mgrid[0:hc, 0:wc].astype(np.float32)

    kind = ("noise", "stripes", "checker")[int(rng.integers(3))]
    if kind == "noise":
        cells = rng.uniform(2.5, 6.0)
        gh = int(math.ceil(hc / side * cells)) + 3
        gw = int(math.ceil(wc / side * cells)) + 3
        low = rng.random((gh, gw)).astype(np.float32)
        tex = cv2.resize(low, (wc, hc), interpolation=cv2.INTER_CUBIC)
    elif kind == "stripes":
        theta = rng.uniform(0, math.pi)
        lam = rng.uniform(0.15, 0.35) * side
        phase = rng.uniform(0, 2 * math.pi)
        wave = np.sin(2 * math.pi * (xx * math.cos(theta) + yy * math.sin(theta)) / lam + phase)
        tex = 0.5 + 0.5 * np.clip(1.6 * wave, -1, 1)
    else:
        cell = rng.uniform(0.12, 0.25) * side
        ox, oy = rng.uniform(0, cell, size=2)
        tex = ((np.floor((xx + ox) / cell) + np.floor((yy + oy) / cell)) % 2).astype(np.float32)
        tex = cv2.GaussianBlur(tex, (3, 3), 0)
    tex = tex.astype(np.float32)
    tex = (tex - tex.min()) / max(float(tex.max() - tex.min()), 1e-6)
    tex = tex + rng.normal(0.0, 0.06, size=tex.shape).astype(np.float32)  # fine static grain

    c1 = rng.uniform(25, 230, size=3)
    direction = rng.normal(size=3)
    direction /= np.linalg.norm(direction) + 1e-9
    c2 = np.clip(c1 + direction * rng.uniform(*_BG_CONTRAST), 0, 255)
    canvas = c1[None, None, :] + (c2 - c1)[None, None, :] * tex[..., None]
    canvas = np.clip(canvas + 0.5, 0, 255).astype(np.uint8)

    shape, obj, marker = _draw_object(rng, c1, c2)
    # orientation cues: a darker floor band at the bottom (horizontal stripes, a horizon line)
    floor = _hsv_to_rgb(rng.uniform(0, 1), rng.uniform(0.2, 0.6), rng.uniform(0.25, 0.45))
    return _Group(canvas=canvas, margin=margin, shape=shape, object_rgb=obj, marker_rgb=marker,
                  colours=(tuple(float(v) for v in c1), tuple(float(v) for v in c2)), floor_rgb=tuple(float(v) for v in floor), floor_frac=float(rng.uniform(0.2, 0.28)),
                  floor_period=float(rng.uniform(0.06, 0.1) * side))


def _draw_object(rng: np.random.Generator, c1, c2):
    """``(shape, object colour, marker colour)``: a saturated colour that stands out from both
    background colours ``c1``, ``c2``."""
    c1, c2 = np.asarray(c1, float), np.asarray(c2, float)
    shape = SHAPES[int(rng.integers(len(SHAPES)))]
    best, best_d = None, -1.0
    for _ in range(64):
        cand = _hsv_to_rgb(rng.uniform(0, 1), rng.uniform(0.6, 1.0), rng.uniform(0.6, 1.0))
        d = min(np.linalg.norm(cand - c1), np.linalg.norm(cand - c2))
        if d > best_d:
            best, best_d = cand, d
        if d >= 110:
            break
    return shape, tuple(int(v) for v in best), tuple(int(v * 0.3) for v in best)


def _floor_and_light(bg: np.ndarray, grp: _Group, light: np.ndarray, rows: np.ndarray,
                     floor_top: float) -> np.ndarray:
    """The background lit from above, with the group's floor band from row ``floor_top`` down
    (it moves with the camera's vertical pan): what makes "up" visible in every frame."""
    out = bg.astype(np.float32) * light
    depth = rows - floor_top  # (H, 1, 1) rows below the horizon
    stripes = 0.85 + 0.15 * np.cos(2 * math.pi * depth / grp.floor_period)
    floor = np.asarray(grp.floor_rgb, np.float32)[None, None, :] * stripes * (1.0 - 0.25 * depth / bg.shape[0])
    on_floor = np.broadcast_to(depth >= 0, out.shape)
    out = np.where(on_floor, floor, out)
    horizon = np.abs(depth) < 0.75  # a dark horizon line
    out = np.where(np.broadcast_to(horizon, out.shape), out * 0.4, out)
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def _shape_polygon(shape: str) -> np.ndarray:
    """Unit-extent polygon (K, 2) of a shape, centred at 0."""
    if shape == "circle":
        a = np.linspace(0, 2 * math.pi, 40, endpoint=False)
        return np.stack([0.5 * np.cos(a), 0.5 * np.sin(a)], 1)
    if shape == "square":
        a = np.array([0.25, 0.75, 1.25, 1.75]) * math.pi
        return np.stack([0.55 * np.cos(a), 0.55 * np.sin(a)], 1)
    if shape == "triangle":
        a = -math.pi / 2 + np.arange(3) * 2 * math.pi / 3
        return np.stack([0.6 * np.cos(a), 0.6 * np.sin(a)], 1)
    if shape == "cross":
        w, l = 0.18, 0.5
        return np.array([[-w, -l], [w, -l], [w, -w], [l, -w], [l, w], [w, w], [w, l], [-w, l],
                         [-w, w], [-l, w], [-l, -w], [-w, -w]])
    if shape == "star":
        a = -math.pi / 2 + np.arange(10) * math.pi / 5
        r = np.where(np.arange(10) % 2 == 0, 0.58, 0.3)
        return np.stack([r * np.cos(a), r * np.sin(a)], 1)
    raise ValueError(f"unknown shape {shape!r}")


def _tri(x: np.ndarray) -> np.ndarray:
    """Triangle wave with period 1 in [-1, 1]."""
    return 4 * np.abs(x - np.floor(x + 0.5)) - 1


def _motion(class_name: str, rng: np.random.Generator, num_frames: int, width: int,
            height: int, size: float):
    """Object trajectory in frame pixels (before camera pan and wrapping).

    Returns (x, y, scale, angle) arrays of length ``num_frames``; the object's extent at
    frame t is ``size * scale[t]`` and its rotation ``angle[t]`` (radians, positive =
    clockwise on screen since y points down).
    """
    side = float(min(width, height))
    t = np.arange(num_frames, dtype=np.float64)
    T = num_frames
    sf = rng.uniform(0.8, 1.2)  # per-clip speed factor (+-20%)
    v0 = _V0 * side * sf
    a0 = rng.uniform(0, 2 * math.pi)
    x = np.full(T, rng.uniform(0.3, 0.7) * width)
    y = np.full(T, rng.uniform(0.3, 0.7) * height)
    scale = np.ones(T)
    angle = np.full(T, a0)
    half = size / 2.0

    def inside(lo_frac_margin: float, extent: float, axis_len: float) -> float:
        lo = extent / 2 + lo_frac_margin * side
        hi = axis_len - extent / 2 - lo_frac_margin * side
        return rng.uniform(lo, hi) if hi > lo else axis_len / 2

    mid = (T - 1) // 2

    def centred(pos: np.ndarray, axis_len: float) -> np.ndarray:
        # moving coordinate: the object is in the central region at the middle frame, so
        # at normal speed it stays in view; faster objects wrap around (leave, re-enter)
        return pos - pos[mid] + rng.uniform(0.3, 0.7) * axis_len

    def linear(vx: float, vy: float):
        x = centred(vx * t, width) if vx != 0 else np.full(T, inside(0.05, size, width))
        y = centred(vy * t, height) if vy != 0 else np.full(T, inside(0.05, size, height))
        return x, y

    def integrate(v: np.ndarray) -> np.ndarray:
        return np.concatenate([[0.0], np.cumsum(v[:-1])])

    name = class_name
    if name in ("MoveRight", "MoveLeft", "MoveUp", "MoveDown", "MoveRightFast",
                "diagonal_down_left"):
        vx, vy = {"MoveRight": (1, 0), "MoveLeft": (-1, 0), "MoveUp": (0, -1),
                  "MoveDown": (0, 1), "MoveRightFast": (2.5, 0),
                  "diagonal_down_left": (-math.sqrt(0.5), math.sqrt(0.5))}[name]
        x, y = linear(vx * v0, vy * v0)
    elif name == "SpeedUpRight":
        # speed ramps 0.3 v0 -> 2.8 v0 over a 40-frame cycle (restarts in longer videos)
        cycle = 40
        off = rng.integers(0, max(0, cycle - T) + 1)
        tau = (t + off) % cycle
        v = v0 * (0.3 + 2.5 * tau / (cycle - 1))
        x = centred(integrate(v), width)
        y = np.full(T, inside(0.05, size, height))
    elif name in ("RotateClockwise", "RotateCounterClockwise", "spin_fast"):
        omega = (0.14 if name != "spin_fast" else 0.4) * sf
        sign = {"RotateClockwise": 1.0, "RotateCounterClockwise": -1.0}.get(
            name, float(rng.choice([-1.0, 1.0])))
        angle = a0 + sign * omega * t
    elif name in ("ZoomIn", "ZoomOut"):
        lo, hi = math.log(0.5), math.log(1.8)
        rate = 0.025 * sf  # log-size per frame
        cycle = (hi - lo) / rate
        off = rng.uniform(0, max(0.0, cycle - (T - 1)))
        tau = np.mod(t + off, cycle)
        logs = lo + rate * tau
        if name == "ZoomOut":
            logs = hi - rate * tau
        scale = np.exp(logs)
    elif name in ("OscillateHorizontal", "OscillateVertical"):
        period = 18.0 / sf
        amp = 0.2 * side
        phase = rng.uniform(0, 2 * math.pi)
        osc = amp * np.sin(2 * math.pi * t / period + phase)
        if name == "OscillateHorizontal":
            x = width / 2 + rng.uniform(-0.05, 0.05) * side + osc
            y = np.full(T, inside(0.05, size, height))
        else:
            y = height / 2 + rng.uniform(-0.05, 0.05) * side + osc
            x = np.full(T, inside(0.05, size, width))
    elif name == "bounce":
        period = 20.0 / sf
        h = 0.42 * side
        tau = np.mod(t + rng.uniform(0, period), period) / period
        floor = height - half - 0.04 * side
        y = floor - h * 4 * tau * (1 - tau)
        x = np.full(T, inside(0.05, size, width))
    elif name == "orbit":
        radius = 0.22 * side
        omega = 2 * math.pi / 20.0 * sf * float(rng.choice([-1.0, 1.0]))
        phase = rng.uniform(0, 2 * math.pi)
        cx = width / 2 + rng.uniform(-0.04, 0.04) * side
        cy = height / 2 + rng.uniform(-0.04, 0.04) * side
        x = cx + radius * np.cos(omega * t + phase)
        y = cy + radius * np.sin(omega * t + phase)
    elif name == "zigzag":
        direction = float(rng.choice([-1.0, 1.0]))
        x = centred(direction * v0 * t, width)
        period = 16.0 / sf
        y = height / 2 + 0.15 * side * _tri(t / period + rng.uniform(0, 1))
    elif name == "reverse":
        t_turn = int(round(T / 2 + rng.uniform(-0.1, 0.1) * T))
        v = np.where(t < t_turn, v0, -v0)
        travel = v0 * t_turn
        x0 = inside(0.0, size, width - travel) if width - travel > size else half
        x = x0 + integrate(v)
        y = np.full(T, inside(0.05, size, height))
    elif name == "pulse":
        period = 20.0 / sf
        scale = np.exp(math.log(1.6) * np.sin(2 * math.pi * t / period + rng.uniform(0, 2 * math.pi)))
    elif name == "stop_and_go":
        period = 14.0
        on = np.mod(t + rng.uniform(0, period), period) < period / 2
        heading = rng.integers(8) * math.pi / 4
        v = np.where(on, 1.6 * v0, 0.0)
        x = integrate(v * math.cos(heading))
        y = integrate(v * math.sin(heading))
        x = centred(x, width) if abs(math.cos(heading)) > 1e-6 else x + inside(0.05, size, width)
        y = centred(y, height) if abs(math.sin(heading)) > 1e-6 else y + inside(0.05, size, height)
    else:
        raise ValueError(f"unknown class {class_name!r}")
    return (np.asarray(x, float), np.asarray(y, float), np.asarray(scale, float),
            np.asarray(angle, float))


def _wrap(pos: np.ndarray, length: float, extent: float) -> np.ndarray:
    """Wrap positions into [-w/2, length + w/2) with w = _WRAP * extent (objects leaving
    re-enter; w < extent so that some part of the object is always in view)."""
    period = length + _WRAP * extent
    return np.mod(pos + _WRAP * extent / 2, period) - _WRAP * extent / 2


def _class_index(variant: str, class_name: str) -> int:
    if variant not in CLASSES:
        raise ValueError(f"variant must be one of {sorted(CLASSES)}, got {variant!r}")
    try:
        return CLASSES[variant].index(class_name)
    except ValueError:
        raise ValueError(f"class_name {class_name!r} is not a {variant} class") from None


def render_clip(variant: str, class_name: str, *, seed: int = 0, group: int = 1, clip: int = 1,
                width: int = 64, height: int = 64, num_frames: int = 40,
                pan: bool | None = None, _group: _Group | None = None) -> RenderedClip:
    """Render one clip (group and clip are 1-based, as in the file names).

    ``pan`` forces the camera pan on/off (None: the seeded ~1/3 choice used by the
    dataset; the other clip parameters do not depend on it).
    """
    cidx = _class_index(variant, class_name)
    T, W, H = num_frames, width, height
    side = float(min(W, H))
    grp = _group or _render_group(variant, cidx, group, seed, W, H, T)
    rng = np.random.default_rng([_TAG_CLIP, seed, _VARIANT_CODE[variant], cidx, group, clip])
    # the object (shape, colour) is drawn per clip, so the class cannot be read off it
    shape, object_rgb, marker_rgb = _draw_object(
        np.random.default_rng([_TAG_OBJECT, seed, _VARIANT_CODE[variant], cidx, group, clip]), *grp.colours)

    size = rng.uniform(*_SIZE) * side
    if class_name in ("ZoomIn", "ZoomOut", "pulse"):
        size = rng.uniform(*_ZOOM_SIZE) * side
    do_pan = rng.random() < _PAN_PROB
    pan_speed = rng.uniform(*_PAN_SPEED) * side
    pan_dir = rng.uniform(0, 2 * math.pi)
    static_off = rng.uniform(0, 2 * grp.margin, size=2)
    noise_seed = int(rng.integers(2**63 - 1))
    x, y, scale, angle = _motion(class_name, rng, T, W, H, size)
    if pan is not None:
        do_pan = bool(pan)

    t = np.arange(T, dtype=np.float64)
    if do_pan:
        pv = np.array([math.cos(pan_dir), math.sin(pan_dir)]) * pan_speed
        rel = t - (T - 1) / 2.0
        cam = grp.margin + rel[:, None] * pv[None, :]  # window offset in the canvas
        x = x - rel * pv[0]  # the scene (object included) moves opposite to the camera
        y = y - rel * pv[1]
    else:
        pv = np.zeros(2)
        cam = np.repeat(static_off[None, :], T, axis=0)

    extents = size * scale
    max_ext = float(extents.max())
    xw, yw = _wrap(x, W, max_ext), _wrap(y, H, max_ext)
    poly = _shape_polygon(shape)
    # the dark marker (which makes rotation visible) points at a vertex of the shape
    mdeg = {"triangle": 30.0, "star": -18.0, "square": 45.0}.get(shape, 0.0)
    marker_dir = 0.22 * np.array([math.cos(math.radians(mdeg)), math.sin(math.radians(mdeg))])

    background = np.empty((T, H, W, 3), np.uint8)
    frames = np.empty((T, H, W, 3), np.uint8)
    masks = np.zeros((T, H, W), np.uint8)
    fix = 16.0  # cv2 drawing with 4 fractional bits
    rows = np.arange(H, dtype=np.float32)[:, None, None]
    light = 1.18 - 0.4 * rows / H  # light from above: the scene darkens towards the bottom
    cam_ref = grp.margin if do_pan else float(cam[0, 1])
    for i in range(T):
        m = np.array([[1.0, 0.0, -cam[i, 0]], [0.0, 1.0, -cam[i, 1]]], dtype=np.float64)
        bg = cv2.warpAffine(grp.canvas, m, (W, H), flags=cv2.INTER_LINEAR,
                            borderMode=cv2.BORDER_REFLECT)
        bg = _floor_and_light(bg, grp, light, rows, H * (1 - grp.floor_frac) - (cam[i, 1] - cam_ref))
        background[i] = bg
        frame = bg.copy()
        ca, sa = math.cos(angle[i]), math.sin(angle[i])
        rot = np.array([[ca, -sa], [sa, ca]])
        ext = extents[i]
        local = (poly @ rot.T) * ext
        marker_local = rot @ marker_dir * ext
        marker_r = max(1.0, 0.15 * ext)
        for dx in (0.0, -(W + _WRAP * max_ext)):
            cx = xw[i] + dx
            if cx + ext < 0 or cx - ext > W:
                continue
            for dy in (0.0, -(H + _WRAP * max_ext)):
                cy = yw[i] + dy
                if cy + ext < 0 or cy - ext > H:
                    continue
                pts = np.round((local + [cx, cy]) * fix).astype(np.int32)
                cv2.fillPoly(frame, [pts], object_rgb, cv2.LINE_AA, 4)
                cv2.fillPoly(masks[i], [pts], 1, cv2.LINE_8, 4)
                mc = np.round((marker_local + [cx, cy]) * fix).astype(np.int32)
                cv2.circle(frame, (int(mc[0]), int(mc[1])), int(round(marker_r * fix)),
                           marker_rgb, -1, cv2.LINE_AA, 4)
        frames[i] = frame

    noise_rng = np.random.default_rng(noise_seed)
    noisy = frames.astype(np.float32)
    noisy += noise_rng.standard_normal(noisy.shape, dtype=np.float32) * _NOISE_SIGMA
    np.clip(noisy + 0.5, 0, 255, out=noisy)
    return RenderedClip(
        frames=noisy.astype(np.uint8),
        masks=masks.astype(bool),
        background=background,
        centers=np.stack([xw, yw], 1),
        angles=angle,
        extents=extents,
        object_rgb=object_rgb,
        shape=shape,
        panned=do_pan,
        pan_velocity=(float(pv[0]), float(pv[1])),
    )


# ----------------------------------------------------------------------------------------
# writing
# ----------------------------------------------------------------------------------------
class SynthWriteError(RuntimeError):
    """A generated video did not round-trip through OpenCV."""


def _open_writer(path: Path, fps: float, width: int, height: int) -> cv2.VideoWriter:
    fourcc = cv2.VideoWriter_fourcc(*"MJPG")
    # OpenCV's built-in MJPEG encoder: deterministic, no FFmpeg dependency for writing.
    writer = cv2.VideoWriter(str(path), cv2.CAP_OPENCV_MJPEG, fourcc, fps, (width, height))
    if not writer.isOpened():
        writer = cv2.VideoWriter(str(path), fourcc, fps, (width, height))
    if not writer.isOpened():
        raise SynthWriteError(f"{path}: cv2.VideoWriter cannot open an MJPG .avi for writing")
    return writer


def _write_video(path: str | Path, frames_rgb: np.ndarray, fps: float) -> None:
    """Encode RGB frames (T, H, W, 3) as MJPEG .avi, then check it decodes to T frames."""
    path = Path(path)
    T, H, W = frames_rgb.shape[:3]
    writer = _open_writer(path, fps, W, H)
    try:
        for frame in frames_rgb:
            writer.write(np.ascontiguousarray(frame[..., ::-1]))  # RGB -> BGR for OpenCV
    finally:
        writer.release()
    _verify_video(path, T, W, H)


def _verify_video(path: Path, num_frames: int, width: int, height: int) -> None:
    cap = cv2.VideoCapture(str(path))
    try:
        if not cap.isOpened():
            raise SynthWriteError(f"{path}: written video does not re-open with cv2.VideoCapture")
        n = 0
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            if frame.shape[:2] != (height, width):
                raise SynthWriteError(
                    f"{path}: decoded frame size {frame.shape[1]}x{frame.shape[0]}, "
                    f"expected {width}x{height}")
            n += 1
    finally:
        cap.release()
    if n != num_frames:
        raise SynthWriteError(f"{path}: decodes to {n} frames, expected {num_frames}")


def _write_lines(path: Path, lines: list[str], newline: str) -> None:
    with open(path, "w", encoding="utf-8", newline="") as fh:
        fh.write("".join(line + newline for line in lines))


def _write_all(tmp: Path, params: dict) -> None:
    variant = params["variant"]
    classes = CLASSES[variant]
    W, H, T = params["width"], params["height"], params["num_frames"]
    G, C, seed = params["groups"], params["clips_per_group"], params["seed"]
    for cidx, cname in enumerate(classes):
        (tmp / video_relpath(variant, cname, 1, 1)).parent.mkdir(parents=True, exist_ok=True)
        for g in range(1, G + 1):
            grp = _render_group(variant, cidx, g, seed, W, H, T)
            for c in range(1, C + 1):
                clip = render_clip(variant, cname, seed=seed, group=g, clip=c, width=W,
                                   height=H, num_frames=T, _group=grp)
                _write_video(tmp / video_relpath(variant, cname, g, c), clip.frames,
                             params["fps"])

    if variant == "ucf":
        split_dir = tmp / UCF_SPLIT_DIR
        split_dir.mkdir()
        _write_lines(split_dir / "classInd.txt",
                     [f"{i + 1} {c}" for i, c in enumerate(classes)], "\r\n")
        for k in range(1, NUM_SPLITS + 1):
            test_groups = set(ucf_test_groups(G, k))
            train, test = [], []
            for cidx, cname in enumerate(classes):
                for g in range(1, G + 1):
                    for c in range(1, C + 1):
                        rel = video_relpath(variant, cname, g, c).split("/", 1)[1]
                        if g in test_groups:
                            test.append(rel)
                        else:
                            train.append(f"{rel} {cidx + 1}")
            _write_lines(split_dir / f"trainlist{k:02d}.txt", train, "\r\n")
            _write_lines(split_dir / f"testlist{k:02d}.txt", test, "\r\n")
    else:
        split_dir = tmp / HMDB_SPLIT_DIR
        split_dir.mkdir()
        for cidx, cname in enumerate(classes):
            for k in range(1, NUM_SPLITS + 1):
                marks = hmdb_split_marks(seed, cidx, G, k)
                lines = [f"{Path(video_relpath(variant, cname, g, c)).name} {marks[g]} "
                         for g in range(1, G + 1) for c in range(1, C + 1)]
                _write_lines(split_dir / f"{cname}_test_split{k}.txt", lines, "\n")

    meta = _expected_meta(params)
    with open(tmp / META_FILENAME, "w", encoding="utf-8") as fh:
        json.dump(meta, fh, indent=2, sort_keys=True)
        fh.write("\n")


def _read_meta(root: Path):
    try:
        with open(root / META_FILENAME, encoding="utf-8") as fh:
            return json.load(fh)
    except (OSError, ValueError):
        return None


def _check_existing(root: Path, meta: dict) -> bool:
    """True if ``root`` holds exactly this dataset; False if absent/empty; raise otherwise."""
    if not root.exists():
        return False
    if not root.is_dir():
        raise FileExistsError(f"{root} exists and is not a directory; refusing to overwrite it")
    if not any(root.iterdir()):
        return False
    found = _read_meta(root)
    if found == meta:
        return True
    if found is None:
        raise FileExistsError(
            f"{root} exists and is not a synthetic dataset (no readable {META_FILENAME}); "
            "refusing to overwrite it - choose another --out or remove it")
    diff = sorted(k for k in set(found) | set(meta) if found.get(k) != meta.get(k))
    raise FileExistsError(
        f"{root} already holds a synthetic dataset with different parameters "
        f"(differing: {', '.join(diff)}); refusing to overwrite it - choose another --out "
        "or remove it")


def generate_dataset(out_dir: str | Path, variant: str = "ucf", seed: int = 0, width: int = DEFAULTS["width"],
                     height: int = DEFAULTS["height"], num_frames: int = DEFAULTS["num_frames"],
                     groups: int = DEFAULTS["groups"], clips_per_group: int = DEFAULTS["clips_per_group"],
                     fps: float = DEFAULTS["fps"]) -> Path:
    """Write the synthetic dataset with ``out_dir`` as its root; return the root.

    The dataset is written into a temporary sibling directory and renamed into place at
    the end, so an interrupted run never leaves a complete-looking dataset behind.  If
    ``out_dir`` already holds this exact dataset (same meta) nothing is done; if it holds
    anything else, ``FileExistsError`` is raised.  Bad arguments raise ``ValueError``.
    """
    params = _validate(variant, seed, width, height, num_frames, groups, clips_per_group, fps)
    meta = _expected_meta(params)
    root = Path(out_dir).absolute()
    if _check_existing(root, meta):
        return root
    root.parent.mkdir(parents=True, exist_ok=True)
    tmp = root.parent / f".{root.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        _write_all(tmp, params)
        if root.exists() and root.is_dir() and not any(root.iterdir()):
            root.rmdir()
        try:
            os.replace(tmp, root)
        except OSError:
            # Lost a race with a concurrent generator of the same dataset?
            if _check_existing(root, meta):
                shutil.rmtree(tmp, ignore_errors=True)
                return root
            raise
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return root


def dataset_path(data_dir: str | Path, variant: str, seed: int = 0, **sizes) -> Path:
    """Where :func:`ensure_dataset` keeps this dataset: ``data_dir / f"synth_{variant}_{hash}"`` (pure)."""
    return Path(data_dir) / f"synth_{variant}_{params_hash(variant, seed, **_sizes_with_defaults(sizes))}"


def ensure_dataset(data_dir: str | Path, variant: str, seed: int = 0, **sizes) -> Path:
    """Cached form used by studies: :func:`dataset_path`, generated if missing.

    ``sizes`` are any of width, height, num_frames, groups, clips_per_group, fps.
    """
    root = dataset_path(data_dir, variant, seed, **sizes)
    return generate_dataset(root, variant=variant, seed=seed, **_sizes_with_defaults(sizes))


# ----------------------------------------------------------------------------------------
# CLI
# ----------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m ssl_core.data.synth",
        description="Generate the synthetic motion dataset in the UCF101 or HMDB51 layout.")
    p.add_argument("--out", required=True, help="dataset root directory to create")
    p.add_argument("--variant", choices=sorted(CLASSES), default="ucf")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--width", type=int, default=DEFAULTS["width"])
    p.add_argument("--height", type=int, default=DEFAULTS["height"])
    p.add_argument("--frames", type=int, default=DEFAULTS["num_frames"], help="frames per video")
    p.add_argument("--groups", type=int, default=DEFAULTS["groups"], help="groups per class")
    p.add_argument("--clips-per-group", type=int, default=DEFAULTS["clips_per_group"])
    p.add_argument("--fps", type=float, default=DEFAULTS["fps"])
    a = p.parse_args(argv)
    start = time.perf_counter()
    try:
        params = _validate(a.variant, a.seed, a.width, a.height, a.frames, a.groups,
                           a.clips_per_group, a.fps)
        existed = _check_existing(Path(a.out).absolute(), _expected_meta(params))
        root = generate_dataset(a.out, variant=a.variant, seed=a.seed, width=a.width,
                                height=a.height, num_frames=a.frames, groups=a.groups,
                                clips_per_group=a.clips_per_group, fps=a.fps)
    except (ValueError, FileExistsError) as exc:
        p.error(str(exc))
    meta = _expected_meta(params)
    print(f"synth: root={root} variant={a.variant} classes={meta['num_classes']} "
          f"videos={meta['num_videos']} seconds={time.perf_counter() - start:.2f}"
          + (" (already present, unchanged)" if existed else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
