"""The papers' training settings the ``paper`` preset needs: step decay every k epochs,
lowest-validation-loss selection, the global batch split over DDP workers, the STS paper
preset, and a study's backbone winning over a method's paper backbone."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from conftest import InMemoryVideos
from ssl_core.backbones import build_backbone
from ssl_core.config import ConfigError
from ssl_core.data.config import ClipConfig
from ssl_core.eval.finetune import FinetuneConfig, finetune_scheduler
from ssl_core.experiment import TrialConfig, with_factors
from ssl_core.methods import MethodConfig, build_method
from ssl_core.presets import method_presets
from ssl_core.pretrain import PretrainConfig, warmup_cosine, worker_batch_size

CLIP = ClipConfig(num_frames=4, stride=1, resize=(32, 32), crop=24)


def videos(count=10, seed=9):
    rng = np.random.default_rng(seed)
    return InMemoryVideos([rng.integers(0, 255, (24, 32, 32, 3), dtype=np.uint8) for _ in range(count)], CLIP)


def rotation():
    torch.manual_seed(0)
    return build_method(MethodConfig("rotation"), build_backbone("r3d_18", 0.125), CLIP)


# ----------------------------------------------------------------- learning-rate schedules


def test_step_every_k_epochs_is_torchs_steplr():
    config = PretrainConfig(epochs=25, lr=5e-4, lr_schedule="step", lr_step_every=6, lr_step_factor=0.1).validate()
    factors = [warmup_cosine(config)(epoch) for epoch in range(25)]
    # by hand: epochs 0-5 x1, 6-11 x0.1, 12-17 x0.01, 18-23 x0.001, 24 x0.0001
    expected = [1.0] * 6 + [0.1] * 6 + [0.1 ** 2] * 6 + [0.1 ** 3] * 6 + [0.1 ** 4]
    assert factors == pytest.approx(expected, rel=1e-12)
    optimiser = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=5e-4)
    steplr = torch.optim.lr_scheduler.StepLR(optimiser, step_size=6, gamma=0.1)
    reference = []
    for _ in range(25):
        reference.append(optimiser.param_groups[0]["lr"] / 5e-4)
        optimiser.step()
        steplr.step()
    assert factors == pytest.approx(reference, rel=1e-9)
    # after a warm-up the steps count from its end
    warm = PretrainConfig(epochs=6, warmup_epochs=2, lr_schedule="step", lr_step_every=2)
    assert [warmup_cosine(warm)(epoch) for epoch in range(6)] == pytest.approx([0.5, 1.0, 1.0, 1.0, 0.1, 0.1])
    # lr_step_every = 0 keeps the single step at lr_step_at
    once = PretrainConfig(epochs=6, lr_schedule="step", lr_step_at=0.5)
    assert [warmup_cosine(once)(epoch) for epoch in range(6)] == [1.0] * 3 + [0.1] * 3
    with pytest.raises(ConfigError, match=r"pretrain\.lr_step_every"):
        PretrainConfig(lr_step_every=-1).validate()


def test_finetune_step_schedule_counts_epochs_from_steps():
    config = FinetuneConfig(epochs=5, lr=3e-3, lr_schedule="step", lr_step_every=2, lr_step_factor=0.1).validate()
    optimiser = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=3e-3)
    scheduler = finetune_scheduler(optimiser, config, steps_per_epoch=3)
    lrs = []
    for _ in range(15):
        lrs.append(optimiser.param_groups[0]["lr"])
        optimiser.step()
        scheduler.step()
    # 3 steps per epoch; epochs 0-1 at 3e-3, 2-3 at 3e-4, 4 at 3e-5
    assert lrs == pytest.approx([3e-3] * 6 + [3e-4] * 6 + [3e-5] * 3)
    cosine = finetune_scheduler(torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0), FinetuneConfig(epochs=2), 3)
    assert isinstance(cosine, torch.optim.lr_scheduler.CosineAnnealingLR) and cosine.T_max == 6
    with pytest.raises(ConfigError, match=r"finetune\.lr_schedule"):
        FinetuneConfig(lr_schedule="linear").validate()
    with pytest.raises(ConfigError, match=r"finetune\.lr_step_every"):
        FinetuneConfig(lr_step_every=0).validate()


# ----------------------------------------------------------------- the global batch


def test_the_batch_is_global_and_split_over_workers():
    assert worker_batch_size(256, 4) == 64 and worker_batch_size(30, 1) == 30
    with pytest.raises(ConfigError, match=r"pretrain\.batch_size"):
        worker_batch_size(30, 4)
    config = with_factors(TrialConfig(), {"pretrain.batch_size": 30, "resources.num_workers": 4})
    with pytest.raises(ConfigError, match=r"pretrain\.batch_size.*num_workers=4"):
        config.validate()


def _steps_per_rank(rank: int, world: int, init_file: str, out: str) -> None:
    import torch.distributed as dist

    from ssl_core.pretrain import pretrain

    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    try:
        method, seen = rotation(), []
        method.on_epoch_start = lambda epoch, epochs, steps=None: seen.append(steps)
        original = method.forward

        def forward(batch):
            seen.append(len(batch["clip"]))
            return original(batch)

        method.forward = forward
        pretrain(method, videos(8), PretrainConfig(epochs=1, batch_size=4, lr=0.05), seed=0)
        torch.save(seen, f"{out}.{rank}")
    finally:
        dist.destroy_process_group()


def test_two_ddp_workers_each_read_half_the_global_batch(tmp_path):
    import torch.multiprocessing as mp

    out = str(tmp_path / "steps")
    mp.spawn(_steps_per_rank, args=(2, str(tmp_path / "init"), out), nprocs=2, join=True)
    for rank in range(2):
        # 8 videos: 4 per rank; a global batch of 4 is 2 per rank, so 2 steps of 2 clips
        assert torch.load(f"{out}.{rank}") == [2, 2, 2]


# ----------------------------------------------------------------- lowest-validation-loss selection


# (the selected epoch's weights and resuming: tests/test_v3s.py, for both selections)


def test_the_held_out_loss_is_the_methods_loss_on_the_held_out_videos():
    from ssl_core.pretrain import PretextExamples, held_out_metrics, pretrain

    data, reported = videos(), []
    config = PretrainConfig(epochs=1, batch_size=3, lr=0.05, optimiser="sgd", select="lowest_val_loss", select_videos=4)
    method = pretrain(rotation(), data, config, seed=0, on_epoch_end=lambda metrics, state: reported.append(metrics))
    assert reported[0]["pretext/videos"] == 6 and reported[0]["pretext/selected_epoch"] == 1
    assert reported[0]["pretext/select_loss"] == reported[0]["pretext/selected_loss"]
    assert "pretext/select_acc" not in reported[0]
    from ssl_core.pretrain import selection_indices

    held = selection_indices(len(data), config)
    method.eval()
    examples = PretextExamples(data, method.sample_video, 10_000, held)
    with torch.no_grad():  # the mean of the per-example losses, one example at a time (batch norm in eval mode)
        by_hand = np.mean([float(method({k: v[None] for k, v in examples[i].items()})[0]) for i in range(len(examples))])
    assert reported[0]["pretext/select_loss"] == pytest.approx(by_hand, rel=1e-5)
    assert "pretext/loss" not in held_out_metrics(method, data, 3, 0, indices=held)


# ----------------------------------------------------------------- the paper presets


def test_sts_paper_preset_carries_the_sts_papers_settings():
    paper = method_presets("sts")["paper"].validate()
    train, tune = paper.pretrain, paper.eval.finetune
    assert (train.batch_size, train.lr, train.epochs, train.optimiser, train.momentum, train.weight_decay) == \
        (30, 5e-4, 25, "sgd", 0.9, 5e-3)
    assert (train.lr_schedule, train.lr_step_every, train.lr_step_factor, train.warmup_epochs, train.grad_clip) == \
        ("step", 6, 0.1, 0, 0.0)
    assert train.select == "lowest_val_loss" and paper.resources.num_workers == 1
    assert paper.backbone.name == "r21d_vcop"
    assert (tune.lr, tune.epochs, tune.batch_size, tune.lr_schedule, tune.lr_step_every) == (3e-3, 25, 30, "step", 6)
    assert train.bias_lr_mult == tune.bias_lr_mult == 2.0  # train.py's get_2x_lr_params group
    assert paper.clip.normalisation == "bgr_255"  # read_clip.py: cv2.imread's BGR, 0..255, unnormalised


def test_input_normalisation_per_paper_preset():
    presets = {name: method_presets(name) for name in ("sts", "mfo", "cstp", "v3s")}
    assert presets["mfo"]["paper"].clip.normalisation == "imagenet"  # the MFO spec: ImageNet normalisation
    assert presets["sts"]["paper"].clip.normalisation == "bgr_255"
    assert {presets[name]["paper"].clip.normalisation for name in ("cstp", "v3s")} == {"kinetics"}
    assert {preset.clip.normalisation for name in presets for key, preset in presets[name].items()
            if key != "paper"} == {"kinetics"}


def test_a_studys_backbone_wins_over_the_methods_paper_backbone():
    assert method_presets("sts", backbone="c3d")["paper"].backbone.name == "c3d"
    assert method_presets("mfo", backbone="s3d")["paper"].backbone.name == "s3d"
    assert method_presets("v3s")["paper"].backbone.name == "r21d_vcop"
    assert method_presets("mfo")["paper"].backbone.name == "r3d_18_hara"  # the MFO public code's R3D-18
    assert method_presets("mfo")["default"].backbone.name == "r3d_18"


def test_paper_batches_are_the_papers_global_batches():
    mfo = method_presets("mfo")["paper"].validate()
    assert worker_batch_size(mfo.pretrain.batch_size, mfo.resources.num_workers) == 64  # 64 per GPU x 4
    v3s = method_presets("v3s")["paper"].validate()
    assert v3s.pretrain.batch_size == 32
    cstp = method_presets("cstp")["paper"].validate()
    assert worker_batch_size(cstp.pretrain.batch_size, cstp.resources.num_workers) == 15  # the spec's "batch 60"


def test_the_paper_preset_decodes_on_demand():
    """UCF101's decoded frames at 128 x 171 would take about 160 GB: the paper preset keeps none."""
    from ssl_core.eval.downstream import PRESETS

    assert PRESETS["paper"].data.cache is False and PRESETS["default"].data.cache is True
    assert all(method_presets(method)["paper"].data.cache is False for method in ("sts", "cstp", "mfo", "v3s"))


# ----------------------------------------------------------------- STS's non-overlapping clips


def test_non_overlapping_starts_are_the_back_to_back_clips():
    from ssl_core.data.clips import random_clip_start, random_window

    # 40 frames, 8 frames at stride 2: a span of 15 (frames s, s+2, ..., s+14), so the
    # back-to-back clips start at 0 and 15 (a third at 30 would need 45 frames)
    rng = np.random.default_rng(0)
    starts = {random_clip_start(40, 8, 2, rng, step=15) for _ in range(200)}
    assert starts == {0, 15}
    # step 1 draws exactly as before (the same generator calls): starts 0 .. 40 - 15
    a, b = np.random.default_rng(5), np.random.default_rng(5)
    assert [random_clip_start(40, 8, 2, a) for _ in range(50)] == [int(b.integers(0, 26)) for _ in range(50)]
    clip = ClipConfig(num_frames=8, stride=2, resize=(32, 32), crop=24)
    windows = [random_window((40, 32, 32, 3), clip, rng, non_overlapping=True) for _ in range(200)]
    assert {w.start for w in windows} == {0, 15}


def test_sts_clip_starts_option_reaches_the_sampler():
    from ssl_core.methods.sts import STSOptions

    method = build_method(MethodConfig("sts", {"clip_starts": "non_overlapping"}), build_backbone("r3d_18", 0.125), CLIP)
    assert method.sampler.non_overlapping
    assert not build_method(MethodConfig("sts"), build_backbone("r3d_18", 0.125), CLIP).sampler.non_overlapping
    assert method_presets("sts")["paper"].method.typed_options().clip_starts == "non_overlapping"
    with pytest.raises(ConfigError, match=r"method\.options\.clip_starts"):
        STSOptions(clip_starts="grid").validate()
