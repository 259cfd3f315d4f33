"""The contract every registered method keeps (as solo-learn tests its methods): a method is
covered here the moment it is registered.

For each method that pretrains: build on the smoke preset, sample a batch from one video and
collate it, a finite loss with a gradient, ``after_step``, a ``state_dict`` round trip that
reproduces the loss, the class hooks (label pipeline, paper factors), and one pretraining
epoch through ``ssl_core.experiment.run_trial`` on the smoke dataset.
"""
import copy
import dataclasses

import numpy as np
import pytest
import torch

from ssl_core.data.clips import KINETICS_MEAN, KINETICS_STD
from ssl_core.experiment import TrialConfig, load_trial_data, run_trial, with_factors
from ssl_core.labels.store import LabelPipelineConfig
from ssl_core.methods import METHODS, build_method
from ssl_core.presets import method_presets

PRETRAINING = sorted(name for name, cls in METHODS.items() if cls.pretrains)


def smoke_config(name: str, data_dir) -> TrialConfig:
    return with_factors(method_presets(name)["smoke"], {
        "data.data_dir": str(data_dir), "eval_datasets": ("ucf",), "pretrain.epochs": 1,
        "eval.protocols": ("knn",), "eval.clips_per_video": 1}).validate()


def video(config: TrialConfig, seed: int = 0) -> np.ndarray:
    """A textured video with a moving bright square, at the preset's resized frame size."""
    rng = np.random.default_rng(seed)
    height, width = config.clip.resize
    frames = np.repeat(rng.integers(0, 90, (1, height, width, 3), dtype=np.uint8), 3 * config.clip.span + 8, axis=0)
    for t in range(len(frames)):
        top, left = (2 * t) % (height - 8), (3 * t) % (width - 8)
        frames[t, top:top + 8, left:left + 8] = (230, 200, 40)
    return frames


def built(config: TrialConfig):
    torch.manual_seed(config.seed)
    return build_method(config.method, config.backbone.build(), config.clip)


def batch_of(method, config: TrialConfig, size: int = 4) -> dict:
    items = [method.sample(video(config, seed), config.clip, np.random.default_rng(seed)) for seed in range(size)]
    return torch.utils.data.default_collate(items)


def test_every_registered_method_is_covered():
    assert {"cstp", "rotation", "sts"} <= set(PRETRAINING)
    assert not METHODS["scratch"].pretrains


@pytest.mark.parametrize("name", PRETRAINING)
def test_sample_collate_loss_backward_after_step(name, tmp_path):
    config = smoke_config(name, tmp_path)
    method = built(config)
    batch = batch_of(method, config)
    again = batch_of(method, config)
    for key, value in batch.items():
        assert isinstance(value, torch.Tensor) and len(value) == 4, key
        assert torch.equal(value, again[key]), f"{key}: the same seeds gave other examples"
    method.train()
    loss, metrics = method(batch)
    assert loss.ndim == 0 and torch.isfinite(loss)
    assert "pretext/acc" in metrics and all(not value.requires_grad for value in metrics.values())
    loss.backward()
    grads = [p.grad for p in method.backbone.parameters() if p.requires_grad]
    assert any(g is not None and g.abs().sum() > 0 for g in grads), "no gradient reaches the backbone"
    torch.optim.SGD([p for p in method.parameters() if p.requires_grad], lr=0.01).step()
    method.after_step()
    assert set(method.task_targets(batch)) <= set(metrics)


@pytest.mark.parametrize("name", PRETRAINING)
def test_every_clip_of_an_example_takes_the_clip_configs_normalisation(name, tmp_path):
    """The same draw with ``bgr_255`` (raw BGR 0..255) and the default ``kinetics``: each clip of
    the example is the other's, channel-flipped, scaled and normalised; other entries are equal."""
    config = smoke_config(name, tmp_path)
    method = built(config)
    raw_clip = dataclasses.replace(config.clip, normalisation="bgr_255")
    kinetics = method.sample(video(config), config.clip, np.random.default_rng(5))
    raw = method.sample(video(config), raw_clip, np.random.default_rng(5))
    mean, std = (torch.tensor(values).view(3, 1, 1, 1) for values in (KINETICS_MEAN, KINETICS_STD))
    clips = [key for key, value in kinetics.items() if value.is_floating_point() and value.dim() == 4]
    assert clips, "no (C, T, H, W) clip in the example"
    for key, value in kinetics.items():
        if key in clips:
            assert torch.allclose(value, (raw[key].flip(0) / 255 - mean) / std, atol=1e-5), key
            assert torch.equal(raw[key], raw[key].round()), key  # 0..255 integers, unscaled
        else:
            assert torch.equal(value, raw[key]), key


@pytest.mark.parametrize("name", PRETRAINING)
def test_state_dict_round_trip_reproduces_the_loss(name, tmp_path):
    config = smoke_config(name, tmp_path)
    method = built(config)
    batch = batch_of(method, config)
    method.eval()
    copy_config = with_factors(config, {"seed": config.seed + 1})  # other initial weights
    restored = built(copy_config)
    restored.load_state_dict(copy.deepcopy(method.state_dict()))
    restored.eval()
    with torch.no_grad():
        assert torch.equal(method(batch)[0], restored(batch)[0])


@pytest.mark.parametrize("name", sorted(METHODS))
def test_class_hooks(name, tmp_path):
    cls = METHODS[name]
    config = smoke_config(name, tmp_path)
    labels = config.label_pipeline()
    if labels is not None:
        assert isinstance(labels.validate(), LabelPipelineConfig) and labels.clip == config.clip
        assert config.with_label_store(tmp_path / "store").label_pipeline() is None
    paper = method_presets(name)["paper"].validate()
    assert with_factors(paper, cls.paper_factors) == paper


@pytest.mark.slow
@pytest.mark.parametrize("name", PRETRAINING)
def test_one_pretraining_epoch_on_the_smoke_preset(name, tmp_path_factory):
    data_dir = tmp_path_factory.getbasetemp() / "contract_data"
    config = smoke_config(name, data_dir)
    epochs = []
    outcome = run_trial(config, load_trial_data(config), on_epoch_end=lambda metrics, state: epochs.append((metrics, state)),
                        backbone_dir=tmp_path_factory.mktemp(name) / "backbone")
    assert [int(metrics["epoch"]) for metrics, _ in epochs] == [1]
    metrics, state = epochs[0]
    assert np.isfinite(metrics["pretext/loss"]) and "model" in state
    assert 0 <= outcome.metrics["knn/ucf/top1"] <= 1 and "pretext/acc" in outcome.metrics
