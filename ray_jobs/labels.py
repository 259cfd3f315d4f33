"""The STS label pipeline on Ray Data: flow + curriculum scores of a dataset, sharded, resumable.

    python -m ray_jobs.labels --dataset data/synth_ucf_<hash> --out labels [--flow dis] [--num-cpus 2]

Writes the store described in ``ssl_core.labels.store`` to ``OUT/<dataset>-<key[:12]>/`` and
prints its path. A complete store is left alone without starting Ray; an interrupted one is
finished by computing only the shards that have no final files. Each pending shard is one
row of a ``ray.data.from_items`` dataset (video paths, never video bytes), handled by a
fixed pool of :class:`ShardWriter` actors that write the shard's Parquet files themselves
(temporary name, then rename) and return a status row. Videos that cannot be decoded are
listed in the manifest and printed, never fatal. A bad config stops before any Ray work
(exit 2, message naming the field).

Pool sizing: ``workers`` actors, one per CPU the pipeline may use (``--num-cpus``, default
every CPU of the Ray cluster), each reserving ``min(1, (cluster CPUs - 0.25) / workers)``
CPUs, so the pool never takes every CPU of a small machine (a pool that does hangs Ray
Data, ray issue #44687) while 2 CPUs still give 2 workers. On a multi-node cluster
(``--address``) ``--out`` and the dataset must be on a filesystem every node sees.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import cv2
import numpy as np
import ray
from ray.data import ActorPoolStrategy, DataContext

from ray_jobs.session import start_ray
from ssl_core.config import ConfigError, require, to_dict
from ssl_core.data.config import ClipConfig
from ssl_core.data.splits import VideoEntry
from ssl_core.labels.store import (
    FLOW_SOURCES, LabelPipelineConfig, Shard, is_up_to_date, list_videos, pending_shards, plan_shards,
    remove_leftovers, store_path, write_manifest, write_shard,
)

RESERVED_CPUS = 0.25


class ShardWriter:
    """Ray Data callable class: computes and writes the shards of a batch, returns their statuses."""

    def __init__(self, config: dict[str, Any], store_dir: str):
        cv2.setNumThreads(1)
        self.config = LabelPipelineConfig.from_json(config)
        self.store_dir = Path(store_dir)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        statuses = [write_shard(self.store_dir, Shard(int(index), decode_entries(entries)), self.config)
                    for index, entries in zip(batch["shard"], batch["entries"])]
        return {"shard": np.array([s["index"] for s in statuses], np.int64),
                "ok": np.array([len(s["ok"]) for s in statuses], np.int64),
                "failed": np.array([json.dumps(s["failed"]) for s in statuses], dtype=object)}


def encode_entries(entries: Sequence[VideoEntry]) -> str:
    return json.dumps([[e.video_id, str(e.path), e.label, e.class_name] for e in entries])


def decode_entries(text: str) -> tuple[VideoEntry, ...]:
    return tuple(VideoEntry(Path(path), int(label), class_name, video_id) for video_id, path, label, class_name in json.loads(text))


def pool_size(num_cpus: float | None, cluster_cpus: float, num_pending: int) -> tuple[int, float]:
    """(actors, CPUs reserved per actor) for ``num_cpus`` CPUs (default: all) of a cluster."""
    if cluster_cpus <= RESERVED_CPUS:
        raise RuntimeError(f"the Ray cluster has {cluster_cpus} CPUs; the label pipeline needs more than {RESERVED_CPUS}")
    wanted = int(num_cpus) if num_cpus else int(cluster_cpus)
    workers = max(1, min(wanted, max(1, int(cluster_cpus)), num_pending))
    return workers, round(min(1.0, (cluster_cpus - RESERVED_CPUS) / workers), 4)


@contextlib.contextmanager
def _data_context() -> Iterator[DataContext]:
    """Ordered, quiet Ray Data execution for the duration of the block."""
    ctx = DataContext.get_current()
    saved = (ctx.execution_options.preserve_order, ctx.enable_progress_bars)
    ctx.execution_options.preserve_order = True
    ctx.enable_progress_bars = False
    try:
        yield ctx
    finally:
        ctx.execution_options.preserve_order, ctx.enable_progress_bars = saved


def run_shards(store_dir: Path, shards: Sequence[Shard], config: LabelPipelineConfig, num_cpus: float | None,
               log: Callable[[str], Any]) -> None:
    """Write ``shards`` with a pool of :class:`ShardWriter` actors on the running Ray cluster."""
    workers, actor_cpus = pool_size(num_cpus, ray.cluster_resources().get("CPU", 0.0), len(shards))
    log(f"labels: {len(shards)} shards to write, {workers} workers x {actor_cpus} CPU")
    items = [{"shard": shard.index, "entries": encode_entries(shard.entries)} for shard in shards]
    with _data_context():
        dataset = ray.data.from_items(items, override_num_blocks=len(items)).map_batches(
            ShardWriter, batch_size=1, batch_format="numpy", compute=ActorPoolStrategy(size=workers), num_cpus=actor_cpus,
            fn_constructor_kwargs={"config": to_dict(config), "store_dir": str(store_dir)})
        for done, row in enumerate(dataset.iter_rows(), start=1):
            log(f"labels: shard {int(row['shard'])} written ({done}/{len(shards)}): {int(row['ok'])} videos, "
                f"{len(json.loads(row['failed']))} failed")


def ensure_labels(dataset_dir: str | Path, out_dir: str | Path, config: LabelPipelineConfig, num_cpus: float | None = None,
                  log: Callable[[str], Any] = print, address: str | None = None) -> Path:
    """Make sure the label store of ``dataset_dir`` for ``config`` is complete under ``out_dir``; return its path.

    Validates first (``ConfigError`` naming the field, before any Ray work). Uses the running
    Ray instance if there is one, else starts one (``address``, or a local one with
    ``num_cpus`` CPUs) and shuts it down afterwards.
    """
    config.validate()
    require(num_cpus is None or num_cpus >= 1, "num_cpus", f"must be >= 1, got {num_cpus}")
    require(Path(dataset_dir).is_dir(), "dataset", f"{dataset_dir} is not a directory")
    shards = plan_shards(list_videos(dataset_dir, config.split), config.shard_size)
    store_dir = store_path(out_dir, dataset_dir, config)
    if is_up_to_date(store_dir, shards, config):
        log(f"labels: {store_dir} is up to date")
        return store_dir
    pending = pending_shards(store_dir, shards, config)
    if pending:
        started = not ray.is_initialized()
        if started:
            start_ray(address, num_cpus)
        try:
            run_shards(store_dir, pending, config, num_cpus, log)
        finally:
            if started:
                ray.shutdown()
    remove_leftovers(store_dir)
    manifest = write_manifest(store_dir, dataset_dir, shards, config)
    for record in manifest["failed"]:
        log(f"labels: skipped {record['video_id']} ({record['kind']}): {record['reason']}")
    log(f"labels: {store_dir}: {manifest['num_ok']} videos, {manifest['num_failed']} failed, {len(shards)} shards "
        f"({len(pending)} written now)")
    return store_dir


def parse_args(argv: Sequence[str] | None) -> tuple[argparse.ArgumentParser, argparse.Namespace]:
    defaults = LabelPipelineConfig()
    clip = defaults.clip
    parser = argparse.ArgumentParser(prog="python -m ray_jobs.labels", description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", required=True, help="dataset root (UCF101 or HMDB51 layout)")
    parser.add_argument("--out", required=True, help="folder that holds label stores")
    parser.add_argument("--flow", default=defaults.flow, help=f"one of {', '.join(FLOW_SOURCES)}")
    parser.add_argument("--precomputed-dir", default="", help="folder with u/ and v/ TV-L1 JPEGs (--flow precomputed)")
    parser.add_argument("--num-cpus", type=int, default=None, help="CPUs (= workers) for the pipeline; default all")
    parser.add_argument("--resize", type=int, nargs=2, metavar=("H", "W"), default=list(clip.resize))
    parser.add_argument("--num-frames", type=int, default=clip.num_frames)
    parser.add_argument("--stride", type=int, default=clip.stride)
    parser.add_argument("--crop", type=int, default=clip.crop)
    parser.add_argument("--label-impl", default=defaults.label_impl)
    parser.add_argument("--split", type=int, default=defaults.split)
    parser.add_argument("--shard-size", type=int, default=defaults.shard_size)
    parser.add_argument("--address", default=None, help="Ray cluster address; default: a local Ray")
    return parser, parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    parser, args = parse_args(argv)
    clip = ClipConfig(num_frames=args.num_frames, stride=args.stride, resize=tuple(args.resize), crop=args.crop)
    config = LabelPipelineConfig(clip=clip, flow=args.flow, label_impl=args.label_impl, split=args.split,
                                 precomputed_dir=args.precomputed_dir, shard_size=args.shard_size)
    started = time.perf_counter()
    try:
        path = ensure_labels(args.dataset, args.out, config, num_cpus=args.num_cpus, address=args.address)
    except (ConfigError, FileNotFoundError) as error:
        parser.error(str(error))
    print(f"labels: done in {time.perf_counter() - started:.1f} s")
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
