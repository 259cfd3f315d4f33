"""Decoding videos and frame folders into uint8 RGB arrays of shape (T, H, W, 3).

Two on-disk forms are read: encoded video files (OpenCV / FFmpeg) and folders of
JPEG/PNG frames (the common preprocessed UCF101 form, e.g. ``v_X_g01_c01/img_00001.jpg``).
Every failure is a :class:`VideoReadError` subclass carrying the path and a reason, so the
dataset layer can skip the video and list it instead of crashing.
"""
from __future__ import annotations

import re
from pathlib import Path

import cv2
import numpy as np

FRAME_SUFFIXES = (".jpg", ".jpeg", ".png")


class VideoReadError(Exception):
    """A video could not be used. ``kind`` is a short machine-readable tag."""

    kind = "unreadable"

    def __init__(self, path: str | Path, reason: str):
        super().__init__(f"{path}: {reason}")
        self.path = str(path)
        self.reason = reason


class VideoOpenError(VideoReadError):
    kind = "unreadable"


class EmptyVideoError(VideoReadError):
    kind = "empty"


class VideoTooShortError(VideoReadError):
    kind = "too_short"


class MissingVideoError(VideoReadError):
    kind = "missing"


class FrameGapError(VideoReadError):
    """A frame folder whose numbered frames skip a number (it would load as a video with a jump in time)."""

    kind = "gap"


class MixedFramesError(VideoReadError):
    """A frame folder whose images follow several name patterns and none is the RGB one
    (``img_``/``image_``): which of them are the video's frames is unknown."""

    kind = "mixed_frames"


def read_video(path: str | Path, size: tuple[int, int] | None = None) -> np.ndarray:
    """Decode every frame of ``path`` (a video file or a frame folder).

    Args:
        path: video file or folder of image frames.
        size: optional ``(height, width)`` every frame is resized to.
    Returns:
        uint8 array ``(T, H, W, 3)`` in RGB order.
    Raises:
        MissingVideoError, VideoOpenError, EmptyVideoError.
    """
    path = Path(path)
    if not path.exists():
        raise MissingVideoError(path, "file not found")
    frames = _read_frame_folder(path, size) if path.is_dir() else _read_video_file(path, size)
    if not frames:
        raise EmptyVideoError(path, "no decodable frames")
    return np.stack(frames)


def _read_video_file(path: Path, size: tuple[int, int] | None) -> list[np.ndarray]:
    if path.stat().st_size == 0:
        raise EmptyVideoError(path, "zero-byte file")
    capture = cv2.VideoCapture(str(path))
    try:
        if not capture.isOpened():
            raise VideoOpenError(path, "OpenCV cannot open it (not a video or unsupported codec)")
        frames = []
        while True:
            ok, bgr = capture.read()
            if not ok:
                break
            frames.append(_to_rgb(bgr, size))
        return frames
    finally:
        capture.release()


def _natural_key(name: str) -> list:
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


def list_frame_files(folder: Path) -> list[Path]:
    files = [p for p in folder.iterdir() if p.suffix.lower() in FRAME_SUFFIXES]
    return sorted(files, key=lambda p: _natural_key(p.name))


FRAME_NUMBER = re.compile(r"^(.*?)(\d+)$")
RGB_FRAME_PREFIXES = ("img", "image")


def _name_pattern(path: Path) -> str | None:
    """``img_`` for ``img_00012.jpg``; None for a name without a trailing number."""
    match = FRAME_NUMBER.match(path.stem)
    return match.group(1) if match else None


def video_frame_files(folder: Path) -> list[Path]:
    """The frames of the video in ``folder``, in natural order. A folder that also holds other
    images (mmaction's ``rawframes`` layout keeps ``flow_x_00001.jpg`` and ``flow_y_00001.jpg``
    beside ``img_00001.jpg``; a stray ``thumb.jpg``) gives its ``img_``/``image_`` frames; when
    no such pattern tells the frames apart, MixedFramesError."""
    files = list_frame_files(folder)
    patterns = sorted({_name_pattern(path) for path in files}, key=str)
    if len(patterns) <= 1:
        return files
    rgb = [pattern for pattern in patterns if pattern and pattern.lower().rstrip("_-") in RGB_FRAME_PREFIXES]
    if len(rgb) != 1:
        shown = ", ".join("a name without a number" if p is None else f"{p}<n>" for p in patterns)
        raise MixedFramesError(folder, f"its images follow several name patterns ({shown}); keep only the "
                               f"video's RGB frames in it, or name them img_<n>")
    return [path for path in files if _name_pattern(path) == rgb[0]]


def first_missing_frame(files: list[Path]) -> str | None:
    """The name (stem) of the first frame missing from a run of numbered frames
    (``img_00001`` ... ``img_00012`` without ``img_00010`` gives ``img_00010``), else None.
    Folders whose frames are not all ``<prefix><number>`` are not checked."""
    matches = [FRAME_NUMBER.match(path.stem) for path in files]
    if not matches or any(match is None for match in matches) or len({m.group(1) for m in matches}) != 1:
        return None
    for previous, match in zip(matches, matches[1:]):
        expected = int(previous.group(2)) + 1
        if int(match.group(2)) != expected:
            return f"{match.group(1)}{str(expected).zfill(len(previous.group(2)))}"
    return None


def _read_frame_folder(folder: Path, size: tuple[int, int] | None) -> list[np.ndarray]:
    files = video_frame_files(folder)
    if (missing := first_missing_frame(files)) is not None:
        raise FrameGapError(folder, f"gap: {missing} missing")
    frames = []
    for frame_path in files:
        bgr = cv2.imread(str(frame_path), cv2.IMREAD_COLOR)
        if bgr is None:
            raise VideoOpenError(folder, f"frame {frame_path.name} cannot be decoded")
        frames.append(_to_rgb(bgr, size))
    return frames


def _to_rgb(bgr: np.ndarray, size: tuple[int, int] | None) -> np.ndarray:
    if size is not None:
        bgr = resize_frame(bgr, size)
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def resize_frame(frame: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize one ``(H, W, C)`` frame to ``size = (height, width)``."""
    height, width = size
    if frame.shape[:2] == (height, width):
        return frame
    shrinking = height * width < frame.shape[0] * frame.shape[1]
    interpolation = cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
    return cv2.resize(frame, (width, height), interpolation=interpolation)


def require_frames(video: np.ndarray, needed: int, path: str | Path) -> np.ndarray:
    """Raise :class:`VideoTooShortError` when ``video`` has fewer than ``needed`` frames."""
    if len(video) < needed:
        raise VideoTooShortError(path, f"{len(video)} frames, {needed} needed")
    return video
