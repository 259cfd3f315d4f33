"""The STS sampler: one clip of a video and its 27 motion + appearance statistics labels.

It draws a clip window (``data.clips.random_window``: random start, or with
``non_overlapping`` one of the video's back-to-back clips as the STS paper does on UCF101,
random square crop, random horizontal flip), takes the optical flow of the resized frames the network sees
(from the Ray Data label pipeline's store when ``label_store`` names one, computed on the
fly otherwise; both give the official 8-bit quantised flow, so both give the same labels),
crops and flips it with the clip (flip semantics per ``label_impl``), and computes the
labels of ``ssl_core.labels.sts`` on the result.

All randomness comes from the ``np.random.Generator`` passed in.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ssl_core.data.clips import ClipWindow, clip_indices, random_window
from ssl_core.labels.flow import compute_flow, decode_flow_jpeg, encode_flow_jpeg
from ssl_core.labels.store import MANIFEST, FlowStore, clip_scores, strided_flow
from ssl_core.labels.sts import compute_labels, flip_clip


def quantised_flow(video: np.ndarray, algorithm: str) -> tuple[np.ndarray, np.ndarray]:
    """Flow between consecutive frames of ``video`` (T, H, W, 3), through the official 8-bit
    quantisation (what the label pipeline stores): float32 ``(T-1, H, W)`` each."""
    flow_u, flow_v = compute_flow(video, algorithm)
    return decode_flow_jpeg(encode_flow_jpeg(flow_u)), decode_flow_jpeg(encode_flow_jpeg(flow_v))


def crop_labels(video: np.ndarray, flow_u: np.ndarray, flow_v: np.ndarray, top: int, left: int, size: int,
                flip: bool, label_impl: str):
    """(cropped/flipped RGB clip, the 27 labels) of a clip ``video`` (T, H, W, 3) and its
    full-frame flow ``(T-1, H, W)``: the flow is cropped (and flipped) with the RGB."""
    window = (slice(None), slice(top, top + size), slice(left, left + size))
    rgb, flow_u, flow_v = video[window], flow_u[window], flow_v[window]
    if flip:
        rgb, flow_u, flow_v = flip_clip(rgb, flow_u, flow_v, label_impl)
    labels = compute_labels(np.ascontiguousarray(rgb), flow_u, flow_v, label_impl)
    return rgb, np.concatenate([labels["motion"], labels["appearance"]])


def clip_labels(video: np.ndarray, top: int, left: int, size: int, flip: bool, flow: str, label_impl: str):
    """(cropped/flipped RGB clip, the 27 labels) for resized clip frames ``video`` (T, H, W, 3),
    with the ``flow`` algorithm's flow computed on the fly on the whole resized frames."""
    return crop_labels(video, *quantised_flow(video, flow), top, left, size, flip, label_impl)


@dataclass
class STSSampler:
    """Clips and labels of STS. ``flow``: a flow algorithm, or ``"precomputed"`` (read from
    ``label_store`` only); ``label_store``: a label-pipeline store folder, or ``""``."""

    flow: str = "dis"
    label_impl: str = "official"
    label_store: str = ""
    non_overlapping: bool = False

    def __post_init__(self):
        self._store: FlowStore | None = None
        self._store_missing = False
        self._length_warned = False

    def __call__(self, frames: np.ndarray, clip, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """uint8 frames ``(T_video, H, W, 3)`` -> (uint8 clip ``(T, S, S, 3)``, int labels ``(27,)``),
        flow computed on the fly."""
        if self.flow == "precomputed":
            raise ValueError("method.options.flow: precomputed flow is read from a label store (method.options.label_store)")
        window = random_window(frames.shape, clip, rng, non_overlapping=self.non_overlapping)
        video = frames[clip_indices(window.start, clip.num_frames, clip.stride)]
        return self._labelled(video, *quantised_flow(video, self.flow), window, clip)

    def sample_video(self, videos, index: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Video ``index`` of a VideoCollection: the same as :meth:`__call__`, with the stored
        flow when there is a store."""
        if self.store is None:
            return self(videos.frames(index), videos.clip, rng)
        clip = videos.clip
        self.check_store(clip)
        frames, video_id = videos.frames(index), videos.entries[index].video_id
        length = self._common_length(video_id, len(frames))
        window = random_window((length,) + frames.shape[1:], clip, rng, non_overlapping=self.non_overlapping)
        video = frames[clip_indices(window.start, clip.num_frames, clip.stride)]
        flow_u, flow_v = self.store.flow(video_id, window.start, clip.num_frames)
        return self._labelled(video, flow_u, flow_v, window, clip)

    def _common_length(self, video_id: str, decoded: int) -> int:
        """The frames that both the decoded video and its stored flow cover. Precomputed flow
        made by another tool can hold another number of frames than the decode gives (flow
        frames + 1); clips are then drawn from the frames both have, with one warning."""
        stored = self.store.num_video_frames(video_id)
        if stored != decoded and not self._length_warned:
            warnings.warn(f"method.options.label_store: {video_id} decodes to {decoded} frames but its stored flow "
                          f"covers {stored}; clips are drawn from the first {min(stored, decoded)} (further "
                          f"mismatches are not reported)")
            self._length_warned = True
        return min(stored, decoded)

    def usable(self, videos) -> np.ndarray | None:
        """The indices of the videos the store holds (None without a store: every video). A video
        whose flow failed in the label pipeline is listed in the store's manifest, not sampled."""
        if self.store is None:
            return None
        return np.array([i for i, entry in enumerate(videos.entries) if entry.video_id in self.store], dtype=np.int64)

    def _labelled(self, video, flow_u, flow_v, window: ClipWindow, clip):
        return crop_labels(video, flow_u, flow_v, window.top, window.left, clip.crop, window.flip, self.label_impl)

    @property
    def store(self) -> FlowStore | None:
        """The label store, or None (flow on the fly). A store that is not on this node (a
        multi-node cluster without shared storage) is replaced by the on-the-fly flow, which
        gives the same examples, with a warning."""
        path = self.label_store
        if self._store is None and path and not self._store_missing and self.flow != "precomputed" \
                and not Path(path, MANIFEST).is_file():
            warnings.warn(f"method.options.label_store: {path} is not on this node; computing the same flow on the fly")
            self._store_missing = True
        if self._store is None and path and not self._store_missing:
            self._store = FlowStore.open(path)
        return self._store

    def check_store(self, clip) -> None:
        """Refuse a store computed for other frames than ``clip``'s."""
        stored = self.store.config
        if (tuple(stored.clip.resize), stored.clip.stride) != (tuple(clip.resize), clip.stride) or stored.flow != self.flow:
            raise ValueError(f"label store {self.label_store} holds flow {stored.flow} at resize {stored.clip.resize} stride "
                             f"{stored.clip.stride}; this trial needs {self.flow} at {clip.resize} stride {clip.stride}")

    def curriculum_scores(self, videos) -> np.ndarray:
        """One score per video: the mean over its clip starts, as the label pipeline computes it."""
        if self.store is not None:
            self.check_store(videos.clip)
            # a video the store lacks is left out of pretraining (usable); NaN keeps the positions
            return np.array([self.store.video_score(entry.video_id) if entry.video_id in self.store else np.nan
                             for entry in videos.entries])
        scores = []
        for index in range(len(videos)):
            flow_u, flow_v = strided_flow(videos.frames(index), videos.clip.stride, self.flow)
            scores.append(float(np.mean(clip_scores(encode_flow_jpeg(flow_u), encode_flow_jpeg(flow_v), videos.clip, self.label_impl))))
        return np.array(scores)
