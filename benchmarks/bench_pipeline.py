"""Label pipeline throughput with 1 and 2 Ray CPUs (a script, not a test).

On the embedded UCF-layout dataset of the ``default`` preset (generated into ``--data-dir``
if missing), runs ``ray_jobs.labels.ensure_labels`` into a fresh output folder once per CPU
count, on a fresh local Ray started with that many CPUs (Ray start-up not timed; actor
start-up is). Prints videos/s, flow pairs/s and clips/s for each, and the 2-CPU/1-CPU ratio, plus the
time to the first finished shard (actor start-up) and the rate after it (from the shards'
status-file times).
The label config is the clip of the ``default`` preset (``--paper``: 16 frames, stride 1,
128x171, crop 112).

What "1 CPU" means is a reading, so both are run by default (``--affinity both``):

- ``pinned`` (the reading issue 14's target is judged on): each run, Ray's own processes
  included (driver, GCS, raylet, service actors, workers), is confined to as many cores as it
  has Ray CPUs (``sched_setaffinity``, inherited by every process Ray starts). A 1-CPU run is
  a 1-core machine, as on a node or container with that many cores.
- ``shared``: every run may use every core of the machine; only Ray's CPU count changes. A
  run with fewer Ray CPUs than cores lends Ray's own processes the idle cores, which the
  1-CPU baseline gets and the 2-CPU run on 2 cores does not.

Issue 14 asks for 1, 2 and 4 workers: the default runs all three; on a machine with fewer cores
than 4, the 4-CPU run is simulated with ``num_cpus`` (four actors share the cores).

The machine's own ceiling (``--ceiling``, on by default, run first): the same shards written
without Ray, by 1 and then 2 forked processes, each confined to a core of its own and taking
shards from a shared queue, as the actors do. Their ratio is what 2 cores give this work on
this machine, with no start-up and no orchestration.

``--repeats N`` runs N rounds of the Ray runs, each taking every run (1, 2 and 4 CPUs, in each
reading) once in turn, so a drift of the machine's speed within the benchmark hits every run
alike. The ceiling's 1 and 2 processes alternate N times too, but all before the first Ray
session (forking a process that has run Ray is not safe), so a drift between the two phases
still shows between the ceiling and the Ray runs. The fastest run of each is shown, and every
ratio is also given for each round (smallest first), with their median.

    python benchmarks/bench_pipeline.py [--data-dir data] [--paper] [--cpus 1 2 4] [--repeats 1] [--affinity both]
                                        [--no-ceiling]
"""
from __future__ import annotations

import argparse
import multiprocessing
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path
from typing import Sequence

import pyarrow.parquet as pq
import ray

from ray_jobs.labels import ensure_labels
from ssl_core.config import to_dict
from ssl_core.data.config import DataConfig, ensure_datasets
from ssl_core.eval.downstream import preset
from ssl_core.io import read_json
from ssl_core.labels.store import LabelPipelineConfig, Shard, list_videos, plan_shards, write_shard


def label_config(paper: bool) -> LabelPipelineConfig:
    if paper:
        return LabelPipelineConfig()
    return LabelPipelineConfig(clip=preset("default").clip)


def count_rows(store: Path, folder: str) -> int:
    return sum(pq.ParquetFile(path).metadata.num_rows for path in sorted((store / folder).glob("*.parquet")))


def cores_of_run(cpus: int, pin: bool) -> tuple[int, ...]:
    """The cores a run with ``cpus`` Ray CPUs gets: pinned, the first ``cpus`` of this
    process's (all of them, for more CPUs than cores: simulated workers); else all."""
    allowed = sorted(os.sched_getaffinity(0))
    return tuple(allowed[:cpus] if pin else allowed)


def run_once(dataset: Path, config: LabelPipelineConfig, cpus: int, pin: bool = False) -> dict[str, float]:
    """One fresh run on a fresh Ray with ``cpus`` CPUs: seconds and counts. ``pin``: every
    process of the run on the first ``cpus`` cores of this process's affinity (all, if fewer)."""
    allowed = os.sched_getaffinity(0)
    os.sched_setaffinity(0, cores_of_run(cpus, pin))
    ray.init(address="local", num_cpus=cpus, include_dashboard=False, log_to_driver=False)
    try:
        with tempfile.TemporaryDirectory(prefix="bench_pipeline_") as out:
            start, wall_start = time.perf_counter(), time.time()
            store = ensure_labels(dataset, out, config, num_cpus=cpus, log=lambda _: None)
            seconds = time.perf_counter() - start
            manifest = read_json(store / "manifest.json")
            done = sorted(path.stat().st_mtime for path in (store / "status").glob("*.json"))
            return {"seconds": seconds, "videos": manifest["num_ok"], "failed": manifest["num_failed"],
                    "pairs": count_rows(store, "flow"), "clips": count_rows(store, "clips"),
                    "first_shard": done[0] - wall_start, "steady": (len(done) - 1) / max(done[-1] - done[0], 1e-9)}
    finally:
        ray.shutdown()
        os.sched_setaffinity(0, allowed)


AFFINITIES = {"pinned": True, "shared": False}


def _write_from_queue(store: str, config: LabelPipelineConfig, shards: dict[int, Shard], queue) -> None:
    """A plain process (no Ray): writes the shards whose indices it takes from ``queue`` until ``None``."""
    for index in iter(queue.get, None):
        write_shard(store, shards[index], config)


def run_without_ray(shards: dict[int, Shard], config: LabelPipelineConfig, processes: int) -> float:
    """Seconds for ``processes`` forked processes, each confined to a core of its own, to write
    every shard of ``shards`` (index -> shard). Forked, so no start-up is timed: the work alone.
    Run before any Ray session."""
    cores = sorted(os.sched_getaffinity(0))[:processes]
    context = multiprocessing.get_context("fork")
    queue = context.SimpleQueue()  # no feeder thread: safe to fork with
    for index in [*shards, *[None] * len(cores)]:
        queue.put(index)
    allowed = os.sched_getaffinity(0)
    with tempfile.TemporaryDirectory(prefix="bench_pipeline_") as out:
        start, workers = time.perf_counter(), []
        try:
            for core in cores:
                os.sched_setaffinity(0, {core})  # inherited by the forked process and every thread it starts
                workers.append(context.Process(target=_write_from_queue, args=(out, config, shards, queue)))
                workers[-1].start()
        finally:
            os.sched_setaffinity(0, allowed)
        for worker in workers:
            worker.join()
        seconds = time.perf_counter() - start
    if any(worker.exitcode != 0 for worker in workers):
        raise RuntimeError(f"a plain label process failed (exit codes {[w.exitcode for w in workers]})")
    return seconds


def ratios_by_round(ones: Sequence[float], twos: Sequence[float]) -> str:
    """The ratio of each round's runs (smallest first), and their median: rounds alternate the runs,
    so a drift of the machine's speed within the benchmark shows as a spread here rather than as one ratio."""
    ratios = sorted(one / two for one, two in zip(ones, twos))
    if len(ratios) < 2:
        return ""
    return f" (per round, smallest first: {', '.join(f'{r:.2f}' for r in ratios)}; median {statistics.median(ratios):.2f}x)"


def report_ceiling(dataset: Path, config: LabelPipelineConfig, repeats: int) -> None:
    """The work alone, 1 then 2 processes, in ``repeats`` alternating rounds; the fastest of each is shown."""
    cores = len(os.sched_getaffinity(0))
    if cores < 2:
        print("-- without Ray: skipped (one core)")
        return
    shards = {shard.index: shard for shard in plan_shards(list_videos(dataset, config.split), config.shard_size)}
    ones, twos = [], []
    for _ in range(repeats):
        ones.append(run_without_ray(shards, config, 1))
        twos.append(run_without_ray(shards, config, 2))
    one, two = min(ones), min(twos)
    print(f"-- without Ray (forked processes, one core each, a shared queue of shards): 1 process {one:.1f} s, "
          f"2 processes {two:.1f} s, ratio {one / two:.2f}x{ratios_by_round(ones, twos)}: "
          "what 2 cores give this work on this machine")


RunKey = tuple  # (Ray CPUs, the cores the run is confined to)


def run_rounds(dataset: Path, config: LabelPipelineConfig, runs: Sequence[tuple[int, bool]],
               repeats: int) -> dict[RunKey, list[dict[str, float]]]:
    """Each distinct run of ``runs`` ((CPUs, pinned) pairs) ``repeats`` times, in rounds that take
    every run once in turn, so a drift of the machine's speed hits every run alike. Two pairs
    that give the same cores (as many CPUs as cores, or more) are one run."""
    distinct: dict[RunKey, tuple[int, bool]] = {}
    for cpus, pin in runs:
        distinct.setdefault((cpus, cores_of_run(cpus, pin)), (cpus, pin))
    results: dict[RunKey, list[dict[str, float]]] = {key: [] for key in distinct}
    for _ in range(repeats):
        for key, (cpus, pin) in distinct.items():
            results[key].append(run_once(dataset, config, cpus, pin))
    return results


def report(config: LabelPipelineConfig, cpu_counts: Sequence[int], pin: bool,
           runs: dict[RunKey, list[dict[str, float]]], shown: set[RunKey]) -> None:
    """Print one reading: a line per CPU count (its fastest run) and its ratio against 1 CPU.
    ``shown``: the runs an earlier reading printed (a run both readings share is marked)."""
    results, rounds = {}, {}
    for cpus in cpu_counts:
        key = (cpus, cores_of_run(cpus, pin))
        shared_run = " (same cores in both readings: the run shown above)" if key in shown else ""
        shown.add(key)
        rounds[cpus] = [run["seconds"] for run in runs[key]]
        r = results[cpus] = min(runs[key], key=lambda run: run["seconds"])
        print(f"{cpus} CPU: {r['seconds']:6.1f} s  {r['videos'] / r['seconds']:7.2f} videos/s  "
              f"{r['pairs'] / r['seconds']:8.1f} flow pairs/s  {r['clips'] / r['seconds']:8.1f} clips/s  "
              f"| first shard after {r['first_shard']:.1f} s, then {r['steady'] * config.shard_size:.1f} videos/s{shared_run}")
    first = next(iter(results.values()))
    print(f"({first['videos']} videos, {first['failed']} failed, {first['pairs']} flow pairs, {first['clips']} clips, "
          f"{config.shard_size} videos per shard)")
    for cpus in (c for c in results if c != 1 and 1 in results):
        simulated = " (simulated: more CPUs than cores)" if cpus > len(os.sched_getaffinity(0)) else ""
        print(f"ratio {cpus}-CPU/1-CPU: {results[1]['seconds'] / results[cpus]['seconds']:.2f}x"
              f"{ratios_by_round(rounds[1], rounds[cpus])}{simulated}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default="data")
    parser.add_argument("--paper", action="store_true", help="paper-size labels: 16 frames, stride 1, 128x171, crop 112")
    parser.add_argument("--cpus", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--repeats", type=int, default=1,
                        help="rounds: each runs every CPU count once in turn (the ceiling's 1 and 2 processes "
                             "alternate as often, before any Ray run); the fastest run of each is shown, with the "
                             "ratio of every round")
    parser.add_argument("--affinity", choices=[*AFFINITIES, "both"], default="both",
                        help="pinned: each run on as many cores as Ray CPUs; shared: every run may use every core")
    parser.add_argument("--ceiling", action=argparse.BooleanOptionalAction, default=True,
                        help="also write the shards without Ray with 1 and 2 forked processes (the machine's ceiling)")
    args = parser.parse_args()
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")

    dataset = ensure_datasets(DataConfig(data_dir=args.data_dir, synth=preset("default").data.synth), ["ucf"])["ucf"]
    config = label_config(args.paper)
    print(f"dataset {dataset} | labels {to_dict(config)}")
    print(f"{platform.machine()}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}, OMP_NUM_THREADS="
          f"{os.environ.get('OMP_NUM_THREADS', '-')}")
    if args.ceiling:
        report_ceiling(dataset, config, args.repeats)
    affinities = list(AFFINITIES) if args.affinity == "both" else [args.affinity]
    runs = run_rounds(dataset, config, [(cpus, AFFINITIES[a]) for a in affinities for cpus in args.cpus], args.repeats)
    shown: set[RunKey] = set()
    for affinity in affinities:
        print(f"-- {affinity}: " + ("each run on as many cores as it has Ray CPUs" if AFFINITIES[affinity]
                                    else "every run may use every core"))
        report(config, args.cpus, AFFINITIES[affinity], runs, shown)


if __name__ == "__main__":
    main()
