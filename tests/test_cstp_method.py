"""The ``cstp`` method (ssl_core.methods.cstp) and its MLP head, without Ray."""
import numpy as np
import pytest
import torch

from conftest import losses_on_fixed_batch
from ssl_core.backbones import build_backbone
from ssl_core.config import ConfigError
from ssl_core.data.config import ClipConfig
from ssl_core.heads import MLPHead
from ssl_core.methods import MethodConfig, build_method
from ssl_core.methods.cstp import CSTPOptions

CLIP = ClipConfig(num_frames=4, stride=1, resize=(20, 20), crop=16)
FRAMEWORKS = ["none", "simclr", "moco", "byol", "simsiam"]
NO_PRETEXT = {"stor": False, "pace": False, "rotation": False}


def build(options=None, seed=0):
    torch.manual_seed(seed)
    return build_method(MethodConfig("cstp", dict(options or {})), build_backbone("r3d_18", width=0.125), CLIP)


def fixed_batch(method, num_videos=8, length=12):
    videos = np.random.default_rng(0).integers(0, 255, (num_videos, length, 20, 20, 3), dtype=np.uint8)
    items = [method.sample(video, CLIP, np.random.default_rng(i)) for i, video in enumerate(videos)]
    return torch.utils.data.default_collate(items)


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_loss_falls_on_a_fixed_batch_with_stor_pace_and_rotation(framework):
    method = build({"contrastive": framework})
    losses, metrics = losses_on_fixed_batch(method, fixed_batch(method), steps=30, lr=1e-3)
    assert losses[-1] < 0.5 * losses[0]
    expected = {"pretext/loss_stor_s", "pretext/loss_stor_t", "pretext/loss_pace", "pretext/loss_rot", "pretext/acc",
                "pretext/stor_s_acc", "pretext/stor_t_acc", "pretext/pace_acc", "pretext/rot_acc"}
    if framework != "none":
        expected |= {"pretext/loss_ctr", "pretext/ctr_acc"}
    assert set(metrics) == expected and all(not value.requires_grad for value in metrics.values())
    assert metrics["pretext/acc"].item() == pytest.approx(np.mean([metrics[f"pretext/{t}_acc"].item() for t in ("stor_s", "stor_t", "pace", "rot")]))


@pytest.mark.parametrize("framework", FRAMEWORKS[1:])
def test_contrastive_loss_alone_falls_and_reports_instance_accuracy(framework):
    # a fixed batch fills the MoCo queue with keys of its own 8 videos, so a long queue keeps most negatives unrelated
    method = build({"contrastive": framework, "lambda_ctr": 1.0, "moco_queue": 4096, **NO_PRETEXT})
    losses, metrics = losses_on_fixed_batch(method, fixed_batch(method), steps=30, lr=1e-3)
    assert losses[-1] < losses[0] - 0.3
    assert set(metrics) == {"pretext/loss_ctr", "pretext/ctr_acc", "pretext/acc"}
    assert metrics["pretext/acc"] == metrics["pretext/ctr_acc"]


def test_loss_is_the_weighted_sum_of_the_task_losses():
    options = {"contrastive": "simclr", "lambda_ctr": 0.3, "lambda_pb": 0.5, "lambda_rot": 2.0, "lambda_stor": 0.7,
               "lambda_s": 1.5, "lambda_t": 0.25}
    method = build(options)
    loss, m = method(fixed_batch(method, num_videos=4))
    expected = (0.3 * m["pretext/loss_ctr"] + 0.5 * m["pretext/loss_pace"] + 2.0 * m["pretext/loss_rot"]
                + 0.7 * (1.5 * m["pretext/loss_stor_s"] + 0.25 * m["pretext/loss_stor_t"]))
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)


def test_a_training_batch_of_one_pair_is_refused_clearly_but_evaluation_works():
    method = build()
    batch = fixed_batch(method, num_videos=1)
    with pytest.raises(ValueError, match="^batch:"):
        method(batch)
    method.eval()
    with torch.no_grad():
        assert torch.isfinite(method(batch)[0])


def test_stor_parts_can_be_switched_off_separately():
    method = build({"contrastive": "none", "pace": False, "rotation": False, "stor_temporal": False})
    _, metrics = method(fixed_batch(method, num_videos=4))
    assert set(metrics) == {"pretext/loss_stor_s", "pretext/stor_s_acc", "pretext/acc"}
    assert list(method.stor_heads) == ["spatial"] and method.stor_heads["spatial"].out_dim == 5


@pytest.mark.parametrize("framework, momentum_field", [("byol", "byol_tau"), ("moco", "moco_momentum")])
def test_after_step_moves_the_target_by_the_momentum_formula(framework, momentum_field):
    method = build({"contrastive": framework, momentum_field: 0.9})
    losses_on_fixed_batch(method, fixed_batch(method, num_videos=4), steps=2, lr=1e-2)
    branch = method.contrastive
    pairs = list(zip(branch.target_backbone.parameters(), method.backbone.parameters()))
    pairs += list(zip(branch.target_projector.parameters(), branch.projector.parameters()))
    before = [(target.clone(), online.clone()) for target, online in pairs]
    assert any(not torch.equal(t, o) for t, o in before)
    method.after_step()
    for (target, _), (old_target, online) in zip(pairs, before):
        assert torch.allclose(target, 0.9 * old_target + 0.1 * online, atol=1e-6, rtol=0)


@pytest.mark.parametrize("framework", ["byol", "moco"])
def test_momentum_targets_get_no_gradient_and_no_optimiser_update(framework):
    method = build({"contrastive": framework})
    branch = method.contrastive
    targets = list(branch.target_backbone.parameters()) + list(branch.target_projector.parameters())
    assert targets and not any(p.requires_grad for p in targets)
    snapshot = [p.clone() for p in targets]
    optimiser = torch.optim.SGD(method.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
    loss, _ = method(fixed_batch(method, num_videos=4))
    loss.backward()
    optimiser.step()
    assert all(p.grad is None for p in targets)
    assert all(torch.equal(p, s) for p, s in zip(targets, snapshot))


def test_moco_queue_is_a_ring_buffer_filled_in_training_only():
    method = build({"contrastive": "moco", "moco_queue": 6, **NO_PRETEXT})
    batch = fixed_batch(method, num_videos=4)
    method.eval()
    with torch.no_grad():
        method(batch)
    assert int(method.contrastive.queue_ptr) == 0
    method.train()
    method(batch)
    method(batch)
    assert int(method.contrastive.queue_ptr) == (4 + 4) % 6
    assert torch.allclose(method.contrastive.queue.norm(dim=1), torch.ones(6))


@pytest.mark.parametrize("framework", ["byol", "moco"])
def test_state_dict_round_trip_includes_the_target_and_the_queue(framework):
    method = build({"contrastive": framework})
    batch = fixed_batch(method, num_videos=4)
    losses_on_fixed_batch(method, batch, steps=2, lr=1e-2)
    method.after_step()
    state = method.state_dict()
    assert any(key.startswith("contrastive.target_backbone.") for key in state)
    assert any(key.startswith("contrastive.target_projector.") for key in state)
    if framework == "moco":
        assert "contrastive.queue" in state and "contrastive.queue_ptr" in state
    restored = build({"contrastive": framework}, seed=1)
    restored.load_state_dict(state)
    assert all(torch.equal(value, restored.state_dict()[key]) for key, value in state.items())
    method.eval()
    restored.eval()
    with torch.no_grad():
        assert torch.equal(method(batch)[0], restored(batch)[0])


def test_sample_shapes_label_ranges_and_seeding():
    method = build({"num_candidates": 3})
    frames = np.random.default_rng(0).integers(0, 255, (40, 20, 20, 3), dtype=np.uint8)
    seen = {name: set() for name in ("stor_spatial", "stor_temporal", "pace", "rot1", "rot2")}
    for seed in range(30):
        example = method.sample(frames, CLIP, np.random.default_rng(seed))
        assert example["clip1"].shape == example["clip2"].shape == (3, 4, 16, 16)
        assert example["clip1"].dtype == torch.float32
        for name in seen:
            assert example[name].dtype == torch.long and example[name].shape == ()
            seen[name].add(int(example[name]))
    assert seen["stor_spatial"] == seen["stor_temporal"] == {0, 1, 2}
    assert seen["pace"] == {0, 1, 2, 3} and seen["rot1"] == seen["rot2"] == {0, 1, 2, 3}
    a = method.sample(frames, CLIP, np.random.default_rng(7))
    b = method.sample(frames, CLIP, np.random.default_rng(7))
    assert all(torch.equal(a[key], b[key]) for key in a)


def test_without_pace_and_rotation_augmentation_all_those_labels_are_zero():
    method = build({"pace": False, "rotation": False, "pace_aug": False, "rotation_aug": False})
    frames = np.random.default_rng(0).integers(0, 255, (40, 20, 20, 3), dtype=np.uint8)
    for seed in range(15):
        example = method.sample(frames, CLIP, np.random.default_rng(seed))
        assert int(example["pace"]) == int(example["rot1"]) == int(example["rot2"]) == 0


@pytest.mark.parametrize("options, field", [
    ({"num_candidates": 8}, "num_candidates"),
    ({"num_candidates": 1}, "num_candidates"),
    ({"contrastive": "swav"}, "contrastive"),
    ({"contrastive": "none", **NO_PRETEXT}, "contrastive"),
    ({"stor_spatial": False, "stor_temporal": False}, "stor"),
    ({"pace_aug": False}, "pace"),
    ({"rotation_aug": False}, "rotation"),
    ({"lambda_ctr": -1.0}, "lambda_ctr"),
    ({"base_aug_p": 1.5}, "base_aug_p"),
    ({"byol_tau": 2.0}, "byol_tau"),
    ({"moco_queue": 0}, "moco_queue"),
    ({"proj_dim": 0}, "proj_dim"),
    ({"temperature": -0.1}, "temperature"),
    ({"pace": "yes"}, "pace"),
    ({"lambda_stoor": 1.0}, "lambda_stoor"),
])
def test_invalid_options_name_the_field(options, field):
    with pytest.raises(ConfigError, match=rf"^method\.options\.{field}:"):
        MethodConfig("cstp", options).validate()


def test_default_options_are_the_full_byol_setting():
    options = MethodConfig("cstp").validate().typed_options()
    assert options == CSTPOptions() and options.contrastive == "byol" and options.num_candidates == 5
    assert options.temperature_for("moco") == 0.07 and options.temperature_for("simclr") == 0.1
    assert CSTPOptions(temperature=0.2).temperature_for("moco") == 0.2


def test_projector_sizes_follow_the_options():
    method = build({"contrastive": "byol", "proj_dim": 16, "proj_hidden_dim": 40})
    branch = method.contrastive
    assert (branch.projector.in_dim, branch.projector.hidden_dim, branch.projector.out_dim) == (64, 40, 16)
    assert (branch.predictor.in_dim, branch.predictor.out_dim) == (16, 16)
    assert build({"contrastive": "simclr"}).contrastive.projector.hidden_dim == 4 * 64


def test_mlp_head_shapes_and_validation():
    head = MLPHead(6, 10, 3)
    assert head(torch.randn(4, 6)).shape == (4, 3)
    assert isinstance(head.net[1], torch.nn.BatchNorm1d)
    assert not any(isinstance(m, torch.nn.BatchNorm1d) for m in MLPHead(6, 10, 3, bn=False).modules())
    with pytest.raises(ValueError, match="hidden_dim"):
        MLPHead(6, 0, 3)
    with pytest.raises(ValueError, match="x:"):
        head(torch.randn(4, 5))
