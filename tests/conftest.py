import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def write_video(path, frames_rgb, fps=25, fourcc="MJPG"):
    """Write uint8 RGB frames ``(T, H, W, 3)`` as a real encoded video file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    height, width = frames_rgb.shape[1:3]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, (width, height))
    for frame in frames_rgb:
        writer.write(cv2.cvtColor(np.ascontiguousarray(frame), cv2.COLOR_RGB2BGR))
    writer.release()
    return path


def coloured_frames(num_frames, height=24, width=32, colour=(220, 30, 30)):
    """Frames of one flat colour with a white bar whose width grows with the frame index."""
    frames = np.zeros((num_frames, height, width, 3), np.uint8)
    frames[:] = colour
    for t in range(num_frames):
        frames[t, :, : 2 * t] = 255
    return frames


@pytest.fixture
def video_writer():
    return write_video


def losses_on_fixed_batch(method, batch, steps, lr):
    """Train ``method`` with Adam on one fixed batch; returns (loss per step, last metrics)."""
    import torch

    optimiser = torch.optim.Adam(method.parameters(), lr=lr)
    losses, metrics = [], {}
    for _ in range(steps):
        loss, metrics = method(batch)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        losses.append(loss.item())
    return losses, metrics


class InMemoryVideos:
    """The part of a VideoCollection the pretraining loop and the samplers read: ``len``,
    ``frames(i)`` (uint8 ``(T, H, W, 3)``) and ``clip``."""

    def __init__(self, videos, clip):
        self.videos, self.clip = list(videos), clip

    def __len__(self):
        return len(self.videos)

    def frames(self, index):
        return self.videos[index]

    @property
    def lengths(self):
        return [len(video) for video in self.videos]


def pretrain_until(build_method, videos, config, state=None, stop_after=None):
    """Pretrain a fresh ``build_method()`` from ``state``; stop (as a kill would) after epoch
    ``stop_after``. Returns (method, the deep-copied state of every finished epoch)."""
    import copy

    from ssl_core.pretrain import pretrain

    method = build_method()
    states = []

    def on_epoch_end(metrics, epoch_state):
        states.append(copy.deepcopy(epoch_state))
        if metrics["epoch"] == stop_after:
            raise KeyboardInterrupt

    try:
        pretrain(method, videos, config, seed=0, val_videos=videos, state=state, on_epoch_end=on_epoch_end)
    except KeyboardInterrupt:
        pass
    return method, states


STUDIES_DIR = Path(__file__).resolve().parents[1] / "studies"


@pytest.fixture(scope="session")
def smoke_data_dir(tmp_path_factory):
    """One embedded-data folder for the study smoke tests (generated once per session)."""
    return str(tmp_path_factory.mktemp("smoke_data"))


def smoke_study(name):
    """``STUDY`` of ``studies/<name>.py``, with its arms at the ``smoke`` preset."""
    import runpy

    return runpy.run_path(str(STUDIES_DIR / f"{name}.py"))["STUDY"].for_preset("smoke")


def smoke_assignments(data_dir, settings):
    """The ``--set`` assignments of a smoke study run: the data folder, one epoch, ``settings``."""
    return (f"data.data_dir={data_dir}", "pretrain.epochs=1", *settings)


def run_arms_in_process(name, out_dir, data_dir, *settings):
    """Every arm of ``studies/<name>.py`` at ``smoke`` (seed 0, one epoch, ``settings`` as in
    ``--set``), trained and evaluated in this process by ``ssl_core.experiment.run_trial`` (the
    code a Tune trial runs) after the runner's own data and label preparation. The study folder is
    written as the runner writes it (declaration, a completed summary per arm, results, report);
    returns (the Study, its trial summaries, its report text), as ``run_smoke_study`` does.

    Without Ray, an arm costs its work (about a second at smoke) and not a new Ray worker
    process, whose imports of torch, torchvision and Ray Tune take 6-8 s on 2 cores."""
    from analysis.report import write_report
    from analysis.results import write_results
    from ray_jobs.cli import resolved_configs
    from ray_jobs.runner import prepare_data, prepare_labels, write_summary
    from ssl_core.config import parse_assignment
    from ssl_core.experiment import run_trial
    from ssl_core.io import write_json
    from ssl_core.study import trial_key

    study = smoke_study(name)
    overrides = dict(parse_assignment(text, "set") for text in smoke_assignments(data_dir, settings))
    declared = study.trial_configs("smoke", (0,), overrides)
    hashes = {key: entry["config_hash"] for key, entry in resolved_configs(declared).items()}
    study_dir = Path(out_dir) / name
    write_json(study_dir / "study.json", study.declaration("smoke", (0,), overrides, hashes))
    for (arm, seed), config in prepare_labels(prepare_data(declared)).items():
        key = trial_key(arm, seed)
        write_summary(study_dir, study, {**run_trial(config).metrics, "arm": arm, "seed": seed, "key": key,
                                         "config_hash": hashes[key], "done": True})
    write_results(study_dir)
    write_report(study_dir)
    return study_outcome(study, study_dir)


def study_outcome(study, study_dir):
    """(``study``, its trial summaries, its report text) once every arm's trial has completed."""
    import json

    summaries = [json.loads(p.read_text()) for p in (study_dir / "trials").glob("*/trial_summary.json")]
    assert sorted(s["arm"] for s in summaries) == sorted(arm.name for arm in study.arms)
    report = (study_dir / "report.md").read_text()
    assert f"Trials completed: {len(study.arms)} of {len(study.arms)}" in report
    return study, summaries, report


def run_smoke_study(name, out_dir, data_dir, *settings):
    """Run ``studies/<name>.py`` at ``smoke`` with one seed (``settings``: extra ``--set``
    assignments) through the CLI and Ray; returns (the Study, its trial summaries, its report text)."""
    from ray_jobs.cli import run_study_cli

    study = smoke_study(name)
    args = ["--preset", "smoke", "--seeds", "1", "--out", str(out_dir), "--quiet",
            "--set", *smoke_assignments(data_dir, settings)]
    assert run_study_cli(study, args) == 0
    return study_outcome(study, Path(out_dir) / name)
