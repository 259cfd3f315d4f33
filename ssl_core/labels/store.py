"""The STS label store: quantised optical flow and curriculum scores of a whole dataset, on disk.

Written by the Ray Data pipeline ``ray_jobs/labels.py`` (one Ray task per shard calls
:func:`write_shard`), read by the STS method through :class:`FlowStore`. This module uses
NumPy and pyarrow only.

Layout of a store ``OUT/<dataset-name>-<key[:12]>/`` (:func:`store_path`)::

    manifest.json               config, key, flow settings, shards, failed videos, complete
    flow/shard-00000.parquet    video_id, start, height, width, flow_u, flow_v
    clips/shard-00000.parquet   video_id, clip_start, curriculum_score
    status/shard-00000.json     the shard's videos, the ones written, the failures

The videos are the union of the split's train and test entries, sorted by ``video_id``;
shard ``i`` holds videos ``[i * shard_size, (i + 1) * shard_size)``. A flow row holds the
flow from resized frame ``start`` to frame ``start + stride`` as the official 8-bit
quantisation (``encode_flow_jpeg``: ``H * W`` uint8 bytes each for u and v; precomputed TV-L1
images are stored as read, resized as the STS public code resizes them). A clip row
holds the curriculum score of the centre ``crop`` x ``crop`` crop of the dequantised flow of
the clip starting at ``clip_start`` (every start ``0 .. T - span``). Rows are sorted by
``(video_id, start)``. Each Parquet shard is written with fixed settings to
``<name>.tmp`` and renamed, so a store is byte-identical run to run and worker count to
worker count; the status file is written last, so a shard counts as done only when all
three files exist (:func:`shard_done`).
"""
from __future__ import annotations

import hashlib
import json
import os
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import cv2
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from ssl_core.config import from_dict, is_int, require, require_int, to_dict
from ssl_core.data.config import ClipConfig
from ssl_core.data.splits import VideoEntry, read_split
from ssl_core.data.video import VideoReadError, VideoTooShortError, read_video, require_frames
from ssl_core.io import read_json, write_json
from ssl_core.labels.flow import (
    FLOW_ALGORITHMS, TVL1_INSTALL_HINT, compute_flow, decode_flow_jpeg, encode_flow_jpeg, flow_settings,
    read_precomputed_flow_images, tvl1_available,
)
from ssl_core.labels.sts import LABEL_IMPLS, curriculum_scores

FORMAT_VERSION = 1
FLOW_SOURCES = FLOW_ALGORITHMS + ("precomputed",)
MANIFEST = "manifest.json"
FLOW_DIR, CLIPS_DIR, STATUS_DIR = "flow", "clips", "status"
PARQUET_OPTIONS = {"compression": "zstd", "compression_level": 3, "use_dictionary": ["video_id"],
                   "write_statistics": False, "row_group_size": 1 << 20}
FLOW_SCHEMA = pa.schema([("video_id", pa.string()), ("start", pa.int32()), ("height", pa.int32()),
                         ("width", pa.int32()), ("flow_u", pa.binary()), ("flow_v", pa.binary())])
CLIPS_SCHEMA = pa.schema([("video_id", pa.string()), ("clip_start", pa.int32()), ("curriculum_score", pa.float64())])


CLIP_FIELDS = ("num_frames", "stride", "resize", "crop")


@dataclass(frozen=True)
class LabelPipelineConfig:
    """What the label pipeline computes: the flow and curriculum scores of the clips ``clip``
    cuts (its ``resize``, ``num_frames``, ``stride``, ``crop``). ``flow``: an algorithm of
    ``ssl_core.labels.flow`` or ``"precomputed"`` (TV-L1 JPEG folders
    ``precomputed_dir/{u,v}/<video>/``, stride 1)."""

    clip: ClipConfig = field(default_factory=ClipConfig)
    flow: str = "dis"
    label_impl: str = "official"
    split: int = 1
    precomputed_dir: str = ""
    shard_size: int = 16

    @classmethod
    def from_json(cls, data: dict) -> "LabelPipelineConfig":
        """From ``to_dict`` output; manifests written before the clip was embedded held its fields flat."""
        data = dict(data)
        flat = {name: data.pop(name) for name in CLIP_FIELDS if name in data}
        if flat:
            data["clip"] = {**data.get("clip", {}), **flat}
        return from_dict(cls, data)

    def validate(self, prefix: str = "labels.") -> "LabelPipelineConfig":
        clip = self.clip
        require(is_int(clip.num_frames) and clip.num_frames >= 2, prefix + "clip.num_frames",
                f"must be an integer >= 2 (flow needs two frames), got {clip.num_frames!r}")
        require(len(clip.resize) == 2 and all(is_int(v) and v >= 8 for v in clip.resize), prefix + "clip.resize",
                f"must be (height, width), each >= 8, got {clip.resize}")
        require(is_int(clip.crop) and clip.crop >= 8 and clip.crop % 8 == 0, prefix + "clip.crop",
                f"must be a multiple of 8 (the STS partition patterns), got {clip.crop}")
        clip.validate(prefix + "clip.")
        require(self.flow in FLOW_SOURCES, prefix + "flow", f"must be one of {FLOW_SOURCES}, got {self.flow!r}")
        require(self.flow != "tvl1" or tvl1_available(), prefix + "flow",
                f"'tvl1' needs OpenCV's contrib build (cv2.optflow), not installed; install the tvl1 extra: "
                f"{TVL1_INSTALL_HINT}, or use 'dis' / 'farneback'")
        if self.flow == "precomputed":
            require(bool(self.precomputed_dir), prefix + "precomputed_dir", "flow='precomputed' needs the folder holding u/ and v/")
            require(Path(self.precomputed_dir).is_dir(), prefix + "precomputed_dir", f"{self.precomputed_dir} is not a directory")
            require(clip.stride == 1, prefix + "clip.stride", f"precomputed flow is between consecutive frames: stride must be 1, got {clip.stride}")
        require(self.label_impl in LABEL_IMPLS, prefix + "label_impl", f"must be one of {LABEL_IMPLS}, got {self.label_impl!r}")
        require(self.split in (1, 2, 3), prefix + "split", f"must be 1, 2 or 3, got {self.split}")
        require_int(self.shard_size, prefix + "shard_size", minimum=1)
        return self

    def flow_settings(self) -> dict[str, Any]:
        """Everything that determines the stored flow (JSON-able)."""
        if self.flow == "precomputed":
            return {"algorithm": "precomputed", "dir": str(Path(self.precomputed_dir).resolve()),
                    "decode": "value * 40 / 255 - 20", "resized_to": list(self.clip.resize),
                    "resize": "the 8-bit images, bilinear, values kept (STS public code)"}
        return flow_settings(self.flow)

    def key(self) -> str:
        """sha256 (hex) of everything that affects the store's content and layout."""
        clip = self.clip
        keyed = {"format": FORMAT_VERSION, "flow": self.flow_settings(), "resize": list(clip.resize),
                 "num_frames": clip.num_frames, "stride": clip.stride, "crop": clip.crop,
                 "label_impl": self.label_impl, "split": self.split, "shard_size": self.shard_size,
                 "quantisation": "official 8-bit: round((clip(f, -20, 20) + 20) * 255 / 40)"}
        return hashlib.sha256(json.dumps(keyed, sort_keys=True).encode()).hexdigest()


@dataclass(frozen=True)
class VideoRows:
    """One video's rows: uint8 quantised flow ``(P, H, W)`` (``P = T - stride`` pairs, row ``t``
    = frame ``t`` -> ``t + stride``) and float64 curriculum scores ``(T - span + 1,)``."""

    video_id: str
    flow_u: np.ndarray
    flow_v: np.ndarray
    clip_scores: np.ndarray


@dataclass(frozen=True)
class Shard:
    index: int
    entries: tuple[VideoEntry, ...]

    @property
    def video_ids(self) -> list[str]:
        return [entry.video_id for entry in self.entries]


# --------------------------------------------------------------------------- planning


def list_videos(dataset_dir: str | Path, split: int) -> list[VideoEntry]:
    """Train and test entries of ``split``, deduplicated and sorted by ``video_id``."""
    by_id: dict[str, VideoEntry] = {}
    for subset in ("train", "test"):
        for entry in read_split(dataset_dir, split, subset).entries:
            by_id.setdefault(entry.video_id, entry)
    return [by_id[video_id] for video_id in sorted(by_id)]


def plan_shards(entries: Sequence[VideoEntry], shard_size: int) -> list[Shard]:
    return [Shard(i, tuple(entries[start:start + shard_size])) for i, start in enumerate(range(0, len(entries), shard_size))]


def _file_stamp(path: Path) -> str:
    stat = path.stat()
    return f"{stat.st_size}:{stat.st_mtime_ns}"


def video_fingerprint(entry: VideoEntry) -> str:
    """What identifies one video's content without reading it: the size and modification time
    of its file, or of every file of its frame folder ("missing" if it is not there)."""
    try:
        if entry.path.is_dir():
            return ",".join(f"{f.name}={_file_stamp(f)}" for f in sorted(entry.path.iterdir()))
        return _file_stamp(entry.path)
    except OSError:
        return "missing"


def videos_hash(entries: Sequence[VideoEntry]) -> str:
    """Fingerprint of a video list: each video's id, its path relative to its dataset root
    (the part after the class folder's parent) and :func:`video_fingerprint`. Two datasets
    with the same folder name but other files, or a video rewritten in place, differ."""
    text = "\n".join(f"{entry.video_id}\t{Path(*entry.path.parts[-2:])}\t{video_fingerprint(entry)}" for entry in entries)
    return hashlib.sha256(text.encode()).hexdigest()


def store_path(out_dir: str | Path, dataset_dir: str | Path, config: LabelPipelineConfig) -> Path:
    """``out_dir/<dataset folder name>-<hash[:12]>``, the hash over the config's key and the
    fingerprint of the dataset's video list (:func:`videos_hash`): another dataset of the same
    name, or changed videos, get their own store."""
    fingerprint = videos_hash(list_videos(dataset_dir, config.split))
    digest = hashlib.sha256(f"{config.key()}\n{fingerprint}".encode()).hexdigest()
    return Path(out_dir) / f"{Path(dataset_dir).resolve().name}-{digest[:12]}"


def shard_name(index: int) -> str:
    return f"shard-{index:05d}"


def shard_files(store_dir: Path, index: int) -> tuple[Path, Path, Path]:
    """(flow parquet, clips parquet, status json) of shard ``index``."""
    name = shard_name(index)
    return (store_dir / FLOW_DIR / f"{name}.parquet", store_dir / CLIPS_DIR / f"{name}.parquet",
            store_dir / STATUS_DIR / f"{name}.json")


# --------------------------------------------------------------------------- per video


def strided_flow(frames: np.ndarray, stride: int, algorithm: str) -> tuple[np.ndarray, np.ndarray]:
    """Flow from frame ``t`` to ``t + stride`` for ``t = 0 .. T-1-stride``: float32 ``(T - stride, H, W)`` each.

    Computed per residue ``r`` on ``frames[r::stride]``, i.e. exactly what ``compute_flow``
    gives on the frames of a clip taken at that stride.
    """
    num_pairs, height, width = len(frames) - stride, frames.shape[1], frames.shape[2]
    flow_u = np.empty((num_pairs, height, width), np.float32)
    flow_v = np.empty((num_pairs, height, width), np.float32)
    for residue in range(min(stride, num_pairs)):
        u, v = compute_flow(frames[residue::stride], algorithm)
        flow_u[residue::stride], flow_v[residue::stride] = u, v
    return flow_u, flow_v


def _precomputed_name(entry: VideoEntry, root: Path) -> str:
    path = Path(entry.path)
    stem = path.name if path.is_dir() else path.stem
    nested = f"{path.parent.name}/{stem}"
    return stem if (root / "u" / stem).is_dir() or not (root / "u" / nested).is_dir() else nested


def video_flow(entry: VideoEntry, config: LabelPipelineConfig) -> tuple[np.ndarray, np.ndarray]:
    """The stored flow of a video, quantised (uint8 ``(T - stride, H, W)`` u and v) at
    ``config.clip.resize``: computed flow is encoded with :func:`encode_flow_jpeg`; precomputed
    TV-L1 images are kept as they are, resized as the STS public code resizes them
    (:func:`read_precomputed_flow_images`). Raises ``VideoReadError``."""
    if config.flow == "precomputed":
        root = Path(config.precomputed_dir)
        quant_u, quant_v = read_precomputed_flow_images(root, _precomputed_name(entry, root), config.clip.resize)
        if len(quant_u) + 1 < config.clip.span:
            raise VideoTooShortError(entry.path, f"{len(quant_u)} precomputed flow frames, {config.clip.span - 1} needed")
        return quant_u, quant_v
    frames = require_frames(read_video(entry.path, config.clip.resize), config.clip.span, entry.path)
    flow_u, flow_v = strided_flow(frames, config.clip.stride, config.flow)
    return encode_flow_jpeg(flow_u), encode_flow_jpeg(flow_v)


def clip_rows(start: int, num_frames: int, stride: int) -> np.ndarray:
    """Indices of the flow rows of the clip at ``start``: ``start + k * stride``, ``k < num_frames - 1``."""
    return start + stride * np.arange(num_frames - 1)


SCORE_BATCH = 64  # clip starts scored together: their fields are decoded and differentiated once


def clip_scores(quant_u: np.ndarray, quant_v: np.ndarray, clip: ClipConfig, label_impl: str) -> np.ndarray:
    """Scores of every start of a ``clip`` in a video from its uint8 flow ``(P, H, W)``: float64
    ``(P + stride - span + 1,)``; each is the curriculum score of the centre ``crop`` x ``crop``
    window of the clip's fields. Starts are taken ``SCORE_BATCH`` at a time, so a long video
    never holds all its fields' derivatives at once."""
    num_starts = max(len(quant_u) + clip.stride - clip.span + 1, 0)
    top, left = (quant_u.shape[1] - clip.crop) // 2, (quant_u.shape[2] - clip.crop) // 2
    scores = [np.empty(0, np.float64)]
    for first in range(0, num_starts, SCORE_BATCH):
        clips = [clip_rows(start, clip.num_frames, clip.stride) - first
                 for start in range(first, min(first + SCORE_BATCH, num_starts))]
        last = first + int(clips[-1][-1])
        u, v = (decode_flow_jpeg(quant[first:last + 1, top:top + clip.crop, left:left + clip.crop])
                for quant in (quant_u, quant_v))
        scores.append(curriculum_scores(u, v, clips, label_impl))
    return np.concatenate(scores)


def compute_video_rows(entry: VideoEntry, config: LabelPipelineConfig) -> VideoRows:
    """Decode, flow, quantise and score one video. Raises ``VideoReadError`` (missing, unreadable,
    empty, too short for one clip)."""
    quant_u, quant_v = video_flow(entry, config)
    return VideoRows(entry.video_id, quant_u, quant_v, clip_scores(quant_u, quant_v, config.clip, config.label_impl))


def failure_record(entry: VideoEntry, error: VideoReadError) -> dict[str, str]:
    return {"video_id": entry.video_id, "path": str(entry.path), "kind": error.kind, "reason": error.reason}


def compute_shard(entries: Sequence[VideoEntry], config: LabelPipelineConfig) -> tuple[list[VideoRows], list[dict[str, str]]]:
    """Rows of every readable video of ``entries`` and a failure record for each other one."""
    rows, failed = [], []
    for entry in entries:
        try:
            rows.append(compute_video_rows(entry, config))
        except VideoReadError as error:
            failed.append(failure_record(entry, error))
    return rows, failed


# --------------------------------------------------------------------------- writing


def flow_table(rows: Sequence[VideoRows]) -> pa.Table:
    columns: dict[str, list] = {name: [] for name in FLOW_SCHEMA.names}
    for video in rows:
        pairs, height, width = video.flow_u.shape
        columns["video_id"] += [video.video_id] * pairs
        columns["start"] += list(range(pairs))
        columns["height"] += [height] * pairs
        columns["width"] += [width] * pairs
        columns["flow_u"] += [np.ascontiguousarray(field).tobytes() for field in video.flow_u]
        columns["flow_v"] += [np.ascontiguousarray(field).tobytes() for field in video.flow_v]
    return pa.table(columns, schema=FLOW_SCHEMA)


def clips_table(rows: Sequence[VideoRows]) -> pa.Table:
    columns: dict[str, list] = {name: [] for name in CLIPS_SCHEMA.names}
    for video in rows:
        columns["video_id"] += [video.video_id] * len(video.clip_scores)
        columns["clip_start"] += list(range(len(video.clip_scores)))
        columns["curriculum_score"] += [float(score) for score in video.clip_scores]
    return pa.table(columns, schema=CLIPS_SCHEMA)


def write_parquet(table: pa.Table, path: Path) -> Path:
    """Write ``table`` with the fixed settings to ``path.tmp``, then rename it to ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    pq.write_table(table, tmp, **PARQUET_OPTIONS)
    os.replace(tmp, path)
    return path


def write_shard(store_dir: str | Path, shard: Shard, config: LabelPipelineConfig) -> dict[str, Any]:
    """Compute and write one shard (flow, clips, then status last); returns the status."""
    flow_path, clips_path, status_path = shard_files(Path(store_dir), shard.index)
    status_path.unlink(missing_ok=True)
    rows, failed = compute_shard(shard.entries, config)
    write_parquet(flow_table(rows), flow_path)
    write_parquet(clips_table(rows), clips_path)
    status = {"index": shard.index, "key": config.key(), "video_ids": shard.video_ids,
              "videos_hash": videos_hash(shard.entries), "ok": [video.video_id for video in rows], "failed": failed}
    write_json(status_path, status)
    return status


def read_status(store_dir: Path, index: int) -> dict[str, Any] | None:
    path = shard_files(store_dir, index)[2]
    try:
        return read_json(path)
    except (OSError, ValueError):
        return None


def shard_done(store_dir: str | Path, shard: Shard, config: LabelPipelineConfig) -> bool:
    """Both Parquet files and a status for this key and these videos (ids and fingerprints) exist."""
    store_dir = Path(store_dir)
    flow_path, clips_path, _ = shard_files(store_dir, shard.index)
    status = read_status(store_dir, shard.index)
    return (status is not None and status.get("key") == config.key() and status.get("video_ids") == shard.video_ids
            and status.get("videos_hash") == videos_hash(shard.entries) and flow_path.is_file() and clips_path.is_file())


def pending_shards(store_dir: str | Path, shards: Sequence[Shard], config: LabelPipelineConfig) -> list[Shard]:
    return [shard for shard in shards if not shard_done(store_dir, shard, config)]


def is_up_to_date(store_dir: str | Path, shards: Sequence[Shard], config: LabelPipelineConfig) -> bool:
    """The manifest says complete for this key and video list, and every shard is done."""
    try:
        manifest = read_json(Path(store_dir) / MANIFEST)
    except (OSError, ValueError):
        return False
    entries = [entry for shard in shards for entry in shard.entries]
    return (manifest.get("complete") is True and manifest.get("key") == config.key()
            and manifest.get("videos_hash") == videos_hash(entries) and not pending_shards(store_dir, shards, config))


def remove_leftovers(store_dir: Path) -> list[Path]:
    """Delete temporary files of interrupted writes (``*.tmp``) in the store's folders."""
    removed = []
    for folder in (FLOW_DIR, CLIPS_DIR, STATUS_DIR):
        for path in sorted(set((store_dir / folder).glob("*.tmp"))):
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed


def write_manifest(store_dir: str | Path, dataset_dir: str | Path, shards: Sequence[Shard],
                   config: LabelPipelineConfig) -> dict[str, Any]:
    """Gather the shard statuses into ``manifest.json`` (written atomically, ``complete: true``)."""
    store_dir = Path(store_dir)
    statuses = [read_status(store_dir, shard.index) for shard in shards]
    missing = [shard.index for shard, status in zip(shards, statuses) if status is None]
    if missing:
        raise RuntimeError(f"{store_dir}: shards {missing} have no status; the pipeline did not finish them")
    entries = [entry for shard in shards for entry in shard.entries]
    failed = [record for status in statuses for record in status["failed"]]
    manifest = {
        "format": FORMAT_VERSION, "complete": True, "key": config.key(), "config": to_dict(config),
        "flow_settings": config.flow_settings(), "dataset": str(Path(dataset_dir).resolve()),
        "videos_hash": videos_hash(entries), "num_videos": len(entries), "num_ok": len(entries) - len(failed),
        "num_failed": len(failed), "num_shards": len(shards), "failed": failed,
        "shards": [{"index": status["index"], "video_ids": status["ok"]} for status in statuses],
        "versions": {"opencv": cv2.__version__, "numpy": np.__version__, "pyarrow": pa.__version__},
    }
    write_json(store_dir / MANIFEST, manifest)
    return manifest


# --------------------------------------------------------------------------- reading


class FlowStore:
    """Read access to a complete label store. Shards are loaded on first use and kept
    (at most ``max_cached_shards`` of them when given, least recently used evicted)."""

    def __init__(self, path: Path, manifest: dict[str, Any], max_cached_shards: int | None = None):
        self.path = path
        self.manifest = manifest
        self._config = LabelPipelineConfig.from_json(manifest["config"])
        self._shard_of = {video_id: shard["index"] for shard in manifest["shards"] for video_id in shard["video_ids"]}
        self._cache: OrderedDict[int, dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]] = OrderedDict()
        self._max_cached = max_cached_shards

    @classmethod
    def open(cls, path: str | Path, max_cached_shards: int | None = None) -> "FlowStore":
        path = Path(path)
        try:
            manifest = read_json(path / MANIFEST)
        except OSError as error:
            raise FileNotFoundError(f"{path}: not a label store (no readable {MANIFEST}); run python -m ray_jobs.labels") from error
        if not manifest.get("complete"):
            raise ValueError(f"{path}: the label store is incomplete; rerun python -m ray_jobs.labels to finish it")
        return cls(path, manifest, max_cached_shards)

    @property
    def config(self) -> LabelPipelineConfig:
        return self._config

    @property
    def video_ids(self) -> list[str]:
        return sorted(self._shard_of)

    @property
    def failed(self) -> list[dict[str, str]]:
        return list(self.manifest["failed"])

    def __contains__(self, video_id: object) -> bool:
        return video_id in self._shard_of

    def __len__(self) -> int:
        return len(self._shard_of)

    def _video(self, video_id: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if video_id not in self._shard_of:
            raise KeyError(f"{video_id!r} is not in the label store {self.path}")
        index = self._shard_of[video_id]
        if index not in self._cache:
            self._cache[index] = load_shard(self.path, index)
            if self._max_cached is not None and len(self._cache) > self._max_cached:
                self._cache.popitem(last=False)
        self._cache.move_to_end(index)
        return self._cache[index][video_id]

    def quantised(self, video_id: str) -> tuple[np.ndarray, np.ndarray]:
        """The stored uint8 flow ``(P, H, W)`` of a video (row ``t``: frame ``t`` -> ``t + stride``)."""
        flow_u, flow_v, _ = self._video(video_id)
        return flow_u, flow_v

    def num_video_frames(self, video_id: str) -> int:
        return len(self._video(video_id)[0]) + self._config.clip.stride

    def __contains__(self, video_id: str) -> bool:
        """Whether the store holds the video (one that failed in the pipeline is in the manifest's ``failed``)."""
        return video_id in self._shard_of

    def flow(self, video_id: str, start: int, num_frames: int) -> tuple[np.ndarray, np.ndarray]:
        """Dequantised flow of the clip of ``num_frames`` frames at ``start`` (store's stride):
        float32 ``(num_frames - 1, H, W)`` each."""
        flow_u, flow_v, _ = self._video(video_id)
        stride, length = self._config.clip.stride, len(flow_u) + self._config.clip.stride
        if start < 0 or num_frames < 1 or start + (num_frames - 1) * stride >= length:
            raise IndexError(f"{video_id}: clip start={start} num_frames={num_frames} stride={stride} "
                             f"does not fit its {length} frames")
        rows = clip_rows(start, num_frames, stride)
        return decode_flow_jpeg(flow_u[rows]), decode_flow_jpeg(flow_v[rows])

    def clip_scores(self, video_id: str) -> np.ndarray:
        """Curriculum score per clip start ``0 .. T - span``: float64."""
        return self._video(video_id)[2].copy()

    def video_score(self, video_id: str) -> float:
        return float(np.mean(self._video(video_id)[2]))


def load_shard(store_dir: Path, index: int) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """``video_id -> (uint8 u (P, H, W), uint8 v (P, H, W), float64 scores)`` of one shard."""
    flow_path, clips_path, _ = shard_files(store_dir, index)
    flow = pq.read_table(flow_path).to_pydict()
    clips = pq.read_table(clips_path).to_pydict()
    fields: dict[str, tuple[list, list]] = {}
    for video_id, height, width, u, v in zip(flow["video_id"], flow["height"], flow["width"], flow["flow_u"], flow["flow_v"]):
        us, vs = fields.setdefault(video_id, ([], []))
        us.append(np.frombuffer(u, np.uint8).reshape(height, width))
        vs.append(np.frombuffer(v, np.uint8).reshape(height, width))
    scores: dict[str, list[float]] = {}
    for video_id, score in zip(clips["video_id"], clips["curriculum_score"]):
        scores.setdefault(video_id, []).append(score)
    return {video_id: (np.stack(us), np.stack(vs), np.asarray(scores.get(video_id, []), np.float64))
            for video_id, (us, vs) in fields.items()}


__all__ = [
    "LabelPipelineConfig", "VideoRows", "Shard", "FlowStore", "list_videos", "plan_shards", "store_path",
    "compute_video_rows", "compute_shard", "write_shard", "shard_done", "pending_shards", "is_up_to_date",
    "write_manifest", "remove_leftovers", "strided_flow",
]
