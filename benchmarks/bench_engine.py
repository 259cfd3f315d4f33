"""Engine overhead (a script, not a test).

Measures, in one process on this machine:
  * Ray start (``ray.init`` of a local instance);
  * pretraining throughput of the same loop (rotation, the chosen preset's model and batch)
    in plain PyTorch, inside a Tune trial (the one-worker fast path), and inside a
    TorchTrainer with 1 and 2 workers (DDP, gloo), as clips/s and the ratio to plain PyTorch;
  * the wall-clock overhead per trial of the fast path and of the TorchTrainer path
    (trial wall time minus the time of its epochs);
  * the cost of one checkpoint (state saved + handed to Ray).

    python benchmarks/bench_engine.py [--preset default] [--epochs 2] [--data-dir data]
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time

import torch

from ssl_core.experiment import load_trial_data, pretrain_trial, with_factors
from ssl_core.presets import BASE_PRESETS


def plain(config, data) -> tuple[float, float]:
    """(clips/s of the last epoch, seconds of all epochs) of the loop in plain PyTorch."""
    seen = []
    started = time.perf_counter()
    pretrain_trial(config, data, on_epoch_end=lambda metrics, state: seen.append(metrics))
    return seen[-1]["pretext/clips_per_s"], time.perf_counter() - started


def fast_path(config, storage) -> tuple[float, float, float]:
    from ray import tune

    from ray_jobs.trial import _epoch_reporter

    def trainable(_):
        torch.set_num_threads(1)
        data = load_trial_data(config)[0]
        pretrain_trial(config, data, on_epoch_end=_epoch_reporter(tune.report))

    started = time.perf_counter()
    result = tune.Tuner(trainable, run_config=tune.RunConfig(name="fast", storage_path=storage, verbose=0)).fit()[0]
    wall = time.perf_counter() - started
    epochs_seconds = float(result.metrics_dataframe["time_this_iter_s"].sum())
    return float(result.metrics["pretext/clips_per_s"]), wall, epochs_seconds


def torch_trainer(config, workers: int, storage) -> tuple[float, float, float]:
    from ray.train import RunConfig, ScalingConfig
    from ray.train.torch import TorchTrainer

    from ray_jobs.trial import train_loop_per_worker

    config = with_factors(config, {"resources.num_workers": workers})
    trainer = TorchTrainer(train_loop_per_worker, train_loop_config={"trial_config": config},
                           scaling_config=ScalingConfig(num_workers=workers, resources_per_worker={"CPU": 1}),
                           run_config=RunConfig(name=f"ddp{workers}", storage_path=storage))
    started = time.perf_counter()
    result = trainer.fit()
    wall = time.perf_counter() - started
    clips_per_s = float(result.metrics["pretext/clips_per_s"]) * workers  # each rank reports its own shard
    epoch_seconds = len(load_trial_data(config)[0][0]) * config.pretrain.epochs / clips_per_s
    return clips_per_s, wall, epoch_seconds


def checkpoint_cost(config, data) -> float:
    from ray import tune

    from ray_jobs.trial import STATE_FILE

    states = []
    pretrain_trial(with_factors(config, {"pretrain.epochs": 1}), data, on_epoch_end=lambda m, s: states.append(s))
    started = time.perf_counter()
    for _ in range(5):
        with tempfile.TemporaryDirectory() as directory:
            torch.save(states[-1], os.path.join(directory, STATE_FILE))
            tune.Checkpoint.from_directory(directory).to_directory(tempfile.mkdtemp())
    return (time.perf_counter() - started) / 5


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="default")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--data-dir", default="data")
    args = parser.parse_args()
    config = with_factors(BASE_PRESETS[args.preset], {"method.name": "rotation", "pretrain.epochs": args.epochs,
                                                      "data.data_dir": os.path.abspath(args.data_dir)}).validate()
    data = load_trial_data(config)[0]
    torch.set_num_threads(1)
    plain_rate, plain_seconds = plain(config, data)
    print(f"plain PyTorch (1 thread)       {plain_rate:8.1f} clips/s   ({args.epochs} epochs in {plain_seconds:.1f} s)")
    import ray

    started = time.perf_counter()
    ray.init(address="local", num_cpus=os.cpu_count(), include_dashboard=False, _node_ip_address="127.0.0.1", log_to_driver=False)
    print(f"ray.init                       {time.perf_counter() - started:8.1f} s")
    storage = tempfile.mkdtemp(prefix="bench_engine_")
    rate, wall, work = fast_path(config, storage)
    print(f"Tune fast path (1 thread)      {rate:8.1f} clips/s   ratio to plain {rate / plain_rate:.2f}   trial overhead {wall - work:.1f} s")
    for workers in (1, 2):
        rate, wall, work = torch_trainer(config, workers, storage)
        print(f"TorchTrainer, {workers} worker(s)       {rate:8.1f} clips/s   ratio to plain {rate / plain_rate:.2f}   trial overhead {wall - work:.1f} s")
    print(f"checkpoint (save + hand over)  {1000 * checkpoint_cost(config, data):8.1f} ms")
    ray.shutdown()


if __name__ == "__main__":
    main()
