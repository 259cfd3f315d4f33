"""Video datasets: load a split once, skip and list bad videos, serve clips as tensors.

:class:`VideoCollection` decodes every video of a split up front (resized to the clip
config's ``resize``), keeps the good ones (in memory when ``cache=True``) and records every
skipped one with its path and reason. :class:`TrainClips` and :class:`EvalClips` are the
torch datasets built on it: one random augmented clip per video per epoch, or the K
uniformly spaced centre-cropped clips of every video.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from torch.utils.data import Dataset

from ssl_core.data.clips import (
    center_crop,
    clip_indices,
    random_training_clip,
    to_tensor,
    uniform_clip_starts,
)
from ssl_core.data.config import ClipConfig
from ssl_core.data.splits import SplitListing, VideoEntry, read_split
from ssl_core.data.video import VideoReadError, read_video, require_frames
from ssl_core.io import write_json


@dataclass(frozen=True)
class SkippedVideo:
    path: str
    kind: str
    reason: str


class VideoCollection:
    """The usable videos of a list of entries, decoded at ``clip.resize``.

    Every entry is decoded once at construction; a :class:`VideoReadError` (missing,
    unreadable, empty, shorter than one clip span) skips that entry and records it in
    ``skipped``. With ``cache=False`` only frame counts are kept and videos are decoded
    again on access (for datasets larger than memory).
    """

    def __init__(self, entries: list[VideoEntry], clip: ClipConfig, class_names: list[str], cache: bool = True, name: str = ""):
        self.clip = clip.validate()
        self.class_names = list(class_names)
        self.cache = cache
        self.name = name
        self.entries: list[VideoEntry] = []
        self.lengths: list[int] = []
        self.skipped: list[SkippedVideo] = []
        self._frames: list[np.ndarray] = []
        for entry in entries:
            self._add(entry)

    def _add(self, entry: VideoEntry) -> None:
        try:
            video = require_frames(read_video(entry.path, self.clip.resize), self.clip.span, entry.path)
        except VideoReadError as error:
            self.skipped.append(SkippedVideo(error.path, error.kind, error.reason))
            return
        self.entries.append(entry)
        self.lengths.append(len(video))
        if self.cache:
            self._frames.append(video)

    def __len__(self) -> int:
        return len(self.entries)

    @property
    def labels(self) -> np.ndarray:
        return np.array([e.label for e in self.entries], dtype=np.int64)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def frames(self, index: int) -> np.ndarray:
        """uint8 ``(T, H, W, 3)`` frames of video ``index``, resized."""
        if self.cache:
            return self._frames[index]
        return read_video(self.entries[index].path, self.clip.resize)

    def summary(self) -> dict:
        counts = Counter(s.kind for s in self.skipped)
        return {
            "name": self.name,
            "loaded": len(self.entries),
            "skipped": len(self.skipped),
            "skipped_by_kind": dict(sorted(counts.items())),
            "skipped_videos": [s.__dict__ for s in self.skipped],
        }

    def report(self) -> str:
        counts = ", ".join(f"{n} {kind}" for kind, n in self.summary()["skipped_by_kind"].items())
        line = f"{self.name or 'dataset'}: loaded {len(self)} videos, skipped {len(self.skipped)}"
        return f"{line} ({counts})" if counts else line

    def write_manifest(self, path: str | Path) -> Path:
        return write_json(path, self.summary())


def load_split(root: str | Path, split: int, subset: str, clip: ClipConfig, cache: bool = True, video_dir: str | Path | None = None) -> VideoCollection:
    """Read a UCF101/HMDB51 split from ``root`` and decode its videos."""
    listing: SplitListing = read_split(root, split, subset, video_dir)
    name = f"{Path(root).name}/{listing.layout}/split{split}/{subset}"
    return VideoCollection(listing.entries, clip, listing.class_names, cache=cache, name=name)


class SeededExamples(Dataset):
    """One example per video per epoch, made by ``make_example(videos, index, rng)``.

    The RNG of item ``i`` in epoch ``e`` is ``default_rng((seed, e, i))``: the same examples
    whatever the number of DataLoader workers or DDP ranks, and after a resume.
    """

    def __init__(self, videos: VideoCollection, make_example, seed: int = 0):
        self.videos = videos
        self.make_example = make_example
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.videos)

    def __getitem__(self, index: int):
        return self.make_example(self.videos, index, np.random.default_rng((self.seed, self.epoch, index)))


class TrainClips(SeededExamples):
    """Labelled training clips: random start, random crop, random horizontal flip.

    Item: ``(clip (C, T, H, W) float32, label)``.
    """

    def __init__(self, videos: VideoCollection, seed: int = 0, flip: bool = True):
        super().__init__(videos, self._labelled_clip, seed)
        self.flip = flip

    def _labelled_clip(self, videos: VideoCollection, index: int, rng: np.random.Generator):
        video = random_training_clip(videos.frames(index), videos.clip, rng, self.flip)
        return to_tensor(video, videos.clip.normalisation), int(videos.entries[index].label)


class EvalClips(Dataset):
    """The ``clips_per_video`` uniformly spaced, centre-cropped clips of every video.

    Item ``i``: clip ``i % K`` of video ``i // K`` as ``(clip, label, video_index)``.
    """

    def __init__(self, videos: VideoCollection, clips_per_video: int = 10):
        if clips_per_video < 1:
            raise ValueError(f"clips_per_video must be >= 1, got {clips_per_video}")
        self.videos = videos
        self.clips_per_video = clips_per_video

    def __len__(self) -> int:
        return len(self.videos) * self.clips_per_video

    def __getitem__(self, index: int):
        video_index, clip_index = divmod(index, self.clips_per_video)
        clip = self.videos.clip
        frames = self.videos.frames(video_index)
        start = uniform_clip_starts(len(frames), clip.num_frames, clip.stride, self.clips_per_video)[clip_index]
        video = center_crop(frames[clip_indices(start, clip.num_frames, clip.stride)], clip.crop)
        return to_tensor(video, clip.normalisation), int(self.videos.entries[video_index].label), video_index
