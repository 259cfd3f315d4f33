"""Methods, the pretraining loop and trial configs, without Ray."""

import numpy as np
import pytest
import torch

from conftest import losses_on_fixed_batch, pretrain_until
from ssl_core.backbones import build_backbone
from ssl_core.config import ConfigError
from ssl_core.data.config import ClipConfig
from ssl_core.experiment import TrialConfig, with_factors
from ssl_core.methods import MethodConfig, build_method
from ssl_core.data.augment import rotate_clip
from ssl_core.eval.finetune import FinetuneConfig
from ssl_core.pretrain import PretrainConfig, warmup_cosine

CLIP = ClipConfig(num_frames=4, stride=1, resize=(20, 20), crop=16)


def test_rotate_clip_turns_counter_clockwise():
    video = np.zeros((2, 4, 4, 3), np.uint8)
    video[:, 0, 0] = 255  # top-left marker
    assert rotate_clip(video, 1)[0, 3, 0, 0] == 255  # 90 deg CCW: top-left -> bottom-left
    assert rotate_clip(video, 2)[0, 3, 3, 0] == 255  # 180 deg: -> bottom-right
    assert rotate_clip(video, 3)[0, 0, 3, 0] == 255  # 270 deg: -> top-right
    assert np.array_equal(rotate_clip(video, 4), video)


def test_rotation_sample_is_seeded_and_shaped():
    torch.manual_seed(0)
    method = build_method(MethodConfig("rotation"), build_backbone("r3d_18", width=0.125))
    frames = np.random.default_rng(0).integers(0, 255, (10, 20, 20, 3), dtype=np.uint8)
    a = method.sample(frames, CLIP, np.random.default_rng(5))
    b = method.sample(frames, CLIP, np.random.default_rng(5))
    assert a["clip"].shape == (3, 4, 16, 16) and 0 <= int(a["rotation"]) < 4
    assert torch.equal(a["clip"], b["clip"]) and int(a["rotation"]) == int(b["rotation"])


def test_rotation_loss_falls_on_a_fixed_batch():
    torch.manual_seed(0)
    method = build_method(MethodConfig("rotation"), build_backbone("c3d", width=0.125))
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 255, (8, 10, 20, 20, 3), dtype=np.uint8)
    frames[:, :, :6] = 255  # an "up": a bright band at the top, so rotation is predictable
    items = [method.sample(f, CLIP, np.random.default_rng(i)) for i, f in enumerate(frames)]
    batch = torch.utils.data.default_collate(items)
    losses, _ = losses_on_fixed_batch(method, batch, steps=25, lr=1e-3)
    assert losses[-1] < 0.5 * losses[0]


@pytest.mark.parametrize("config, field", [
    (MethodConfig("nope"), "method.name"),
    (MethodConfig("rotation", {"flop": True}), "method.options.flop"),
    (MethodConfig("rotation", {"flip": "yes"}), "method.options.flip"),
])
def test_method_config_errors_name_the_field(config, field):
    with pytest.raises(ConfigError, match=field.replace(".", r"\.")):
        config.validate()


def test_factors_set_dotted_paths_and_reject_unknown_ones():
    config = with_factors(TrialConfig(), {"pretrain.epochs": 3, "method.options.flip": False, "seed": 4})
    assert config.pretrain.epochs == 3 and config.method.options == {"flip": False} and config.seed == 4
    with pytest.raises(ConfigError, match=r"pretrain\.epochz"):
        with_factors(TrialConfig(), {"pretrain.epochz": 3})
    with pytest.raises(ConfigError, match=r"pretrain\.epochs"):
        with_factors(TrialConfig(), {"pretrain.epochs": -2}).validate()


def test_warmup_then_cosine_factors():
    factor = warmup_cosine(PretrainConfig(epochs=6, warmup_epochs=2))
    # warm-up: (e+1)/2; then cosine over the 4 remaining epochs: 0.5 * (1 + cos(pi * k / 4))
    expected = [0.5, 1.0, 1.0, 0.5 * (1 + np.cos(np.pi / 4)), 0.5, 0.5 * (1 + np.cos(3 * np.pi / 4))]
    assert np.allclose([factor(e) for e in range(6)], expected)


def test_resuming_from_a_state_gives_the_same_weights_as_an_uninterrupted_run(tmp_path):
    from conftest import coloured_frames, write_video
    from ssl_core.data.dataset import VideoCollection
    from ssl_core.data.splits import VideoEntry

    entries = []
    for i in range(6):
        write_video(tmp_path / f"{i}.avi", np.roll(coloured_frames(12, 20, 20, (40 * i, 90, 200)), i, axis=2))
        entries.append(VideoEntry(tmp_path / f"{i}.avi", i % 2, "C", f"C/{i}"))
    videos = VideoCollection(entries, CLIP, ["a", "b"])
    config = PretrainConfig(epochs=3, batch_size=4, lr=0.05, warmup_epochs=1)

    def build():
        torch.manual_seed(0)
        return build_method(MethodConfig("rotation"), build_backbone("r3d_18", width=0.125))

    def run(state=None, stop_after=None):
        return pretrain_until(build, videos, config, state, stop_after)

    full, _ = run()
    _, states = run(stop_after=1)
    resumed, _ = run(state=states[-1])
    assert all(torch.equal(a, b) for a, b in zip(full.state_dict().values(), resumed.state_dict().values()))


def test_changing_the_method_drops_the_previous_methods_options():
    config = with_factors(TrialConfig(), {"method.name": "cstp", "method.options.num_candidates": 3})
    assert config.method.options == {"num_candidates": 3}
    assert with_factors(config, {"method.name": "scratch"}).method.options == {}
    assert with_factors(config, {"method.name": "cstp"}).method.options == {"num_candidates": 3}


def test_synchronised_batch_norm_needs_gpus():
    config = with_factors(TrialConfig(), {"pretrain.sync_batchnorm": True})
    with pytest.raises(ConfigError, match="pretrain.sync_batchnorm"):
        config.validate()
    with_factors(config, {"resources.use_gpu": True}).validate()


def test_optimiser_choice_is_validated_and_used():
    from ssl_core.pretrain import make_optimiser

    with pytest.raises(ConfigError, match="pretrain.optimiser"):
        PretrainConfig(optimiser="lamb").validate()
    module = torch.nn.Linear(2, 1)
    assert isinstance(make_optimiser(module, PretrainConfig(optimiser="adamw")), torch.optim.AdamW)
    sgd = make_optimiser(module, PretrainConfig(lr=0.2, momentum=0.8))
    assert isinstance(sgd, torch.optim.SGD) and sgd.defaults["momentum"] == 0.8 and sgd.defaults["lr"] == 0.2
    assert len(sgd.param_groups) == 1 and len(sgd.param_groups[0]["params"]) == 2


def test_bias_lr_mult_puts_every_bias_in_a_group_of_its_own():
    from ssl_core.pretrain import make_optimiser

    # biases: the batch norm's and the linear layer's (the conv has none)
    model = torch.nn.Sequential(torch.nn.Conv3d(3, 4, 3, bias=False), torch.nn.BatchNorm3d(4), torch.nn.Flatten(),
                                torch.nn.Linear(4, 2))
    sgd = make_optimiser(model, PretrainConfig(lr=0.1, weight_decay=5e-3, bias_lr_mult=2.0))
    weights, biases = sgd.param_groups
    assert [id(p) for p in biases["params"]] == [id(model[1].bias), id(model[3].bias)]
    assert [id(p) for p in weights["params"]] == [id(model[0].weight), id(model[1].weight), id(model[3].weight)]
    assert (weights["lr"], biases["lr"]) == (0.1, 0.2)
    assert weights["weight_decay"] == biases["weight_decay"] == 5e-3  # as train.py: decay on both groups
    with pytest.raises(ConfigError, match="pretrain.bias_lr_mult"):
        PretrainConfig(bias_lr_mult=0).validate()
    with pytest.raises(ConfigError, match="finetune.bias_lr_mult"):
        FinetuneConfig(bias_lr_mult=-1.0).validate()


def test_bias_lr_mult_steps_biases_twice_as_far_under_the_schedule():
    """Plain SGD (no momentum, no decay) on a loss whose gradient is 1 for every parameter: after
    one step at the step schedule's second epoch (factor 0.1), weights move by lr * 0.1 and biases by
    2 * lr * 0.1 (torch's LambdaLR scales each group's own initial rate)."""
    from ssl_core.pretrain import make_optimiser

    model = torch.nn.Linear(3, 1)
    config = PretrainConfig(epochs=2, lr=0.5, momentum=0.0, weight_decay=0.0, lr_schedule="step",
                            lr_step_every=1, bias_lr_mult=2.0).validate()
    optimiser = make_optimiser(model, config)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimiser, warmup_cosine(config))
    before = [p.detach().clone() for p in (model.weight, model.bias)]
    for epoch, gradient_scale in enumerate((0.0, 1.0)):  # epoch 0: a zero gradient; epoch 1: factor 0.1
        optimiser.zero_grad()
        (gradient_scale * (model.weight.sum() + model.bias.sum())).backward()
        optimiser.step()
        if epoch == 0:
            scheduler.step()
    assert torch.allclose(before[0] - model.weight.detach(), torch.full((1, 3), 0.05))
    assert torch.allclose(before[1] - model.bias.detach(), torch.full((1,), 0.1))


def test_step_schedule_and_adam():
    config = PretrainConfig(epochs=9, lr=1.0, lr_schedule="step", lr_step_at=2 / 3, lr_step_factor=0.1).validate()
    assert [warmup_cosine(config)(epoch) for epoch in range(9)] == [1.0] * 6 + [0.1] * 3
    warm = PretrainConfig(epochs=4, warmup_epochs=2, lr_schedule="step", lr_step_at=0.75)
    assert [warmup_cosine(warm)(epoch) for epoch in range(4)] == [0.5, 1.0, 1.0, 0.1]
    from ssl_core.pretrain import make_optimiser

    optimiser = make_optimiser(torch.nn.Linear(2, 1), PretrainConfig(optimiser="adam", lr=1e-3, weight_decay=1e-5))
    assert type(optimiser) is torch.optim.Adam and optimiser.defaults["weight_decay"] == 1e-5
    with pytest.raises(ConfigError, match=r"pretrain\.lr_schedule"):
        PretrainConfig(lr_schedule="linear").validate()


def test_method_presets_add_paper_and_laptop_factors_and_a_default_budget():
    from ssl_core.methods.mfo import MFO
    from ssl_core.presets import method_presets

    presets = method_presets("mfo", budget={"pretrain.epochs": 3})
    assert presets["paper"].method.typed_options().num_prototypes == 200 and "num_prototypes" not in presets["paper"].method.options
    assert presets["paper"].pretrain.optimiser == "adam" and presets["paper"].pretrain.lr_schedule == "step"
    assert presets["default"].method.options["num_prototypes"] == MFO.laptop_factors["method.options.num_prototypes"]
    assert presets["default"].pretrain.epochs == 3 and presets["smoke"].pretrain.epochs == 2  # the budget is default's only
    base = method_presets("rotation")
    sts = method_presets("sts", budget={"pretrain.lr": 1e-4})
    assert method_presets("sts")["default"].pretrain.lr == 5e-4 != base["default"].pretrain.lr  # STS.default_factors
    assert sts["smoke"].pretrain.lr == base["smoke"].pretrain.lr and sts["paper"].pretrain.lr == 5e-4  # paper: paper_factors
    assert sts["default"].pretrain.lr == 1e-4  # a study's budget still wins
    cstp = method_presets("cstp")  # CSTP.default_factors: C3D at lr 5e-4, at default only
    scratch_arm = with_factors(cstp["default"], {"method.name": "scratch"})  # a study's random init
    assert (scratch_arm.backbone.name, scratch_arm.backbone.width, scratch_arm.pretrain.lr) == ("c3d", 0.25, 5e-4)
    assert (cstp["smoke"].backbone.name, cstp["paper"].backbone.name) == ("r3d_18", "r2plus1d_18")
    assert cstp["smoke"].pretrain.lr == base["smoke"].pretrain.lr and cstp["paper"].pretrain.lr == 0.03
    assert method_presets("cstp", backbone="r3d_18")["default"].backbone.name == "r3d_18"  # a study's backbone wins
    v3s = method_presets("v3s", budget={"pretrain.epochs": 6})  # V3S.default_factors: C3D at 5e-4 at default only
    assert [(v3s[p].backbone.name, v3s[p].pretrain.lr) for p in ("smoke", "default", "paper")] == \
        [("r21d_vcop", base["smoke"].pretrain.lr), ("c3d", 5e-4), ("r21d_vcop", 0.01)]
    assert {preset.eval.finetune.optimiser for preset in (*cstp.values(), *sts.values())} == {"sgd"}
    assert sts["default"].eval.finetune.lr == cstp["default"].eval.finetune.lr == 0.01
    with pytest.raises(ConfigError, match=r"method\.name"):
        method_presets("nope")


def test_a_study_can_replace_its_arms_at_a_preset():
    from ssl_core.presets import BASE_PRESETS
    from ssl_core.study import Arm, Metric, Study

    laptop, smoke = (Arm("a", {"pretrain.epochs": 1}),), (Arm("b", {"pretrain.epochs": 2}), Arm("c", {"pretrain.epochs": 3}))
    study = Study(name="s", title="s", arms=laptop, metrics=(Metric("knn/ucf/top1"),), presets=dict(BASE_PRESETS),
                  preset_arms={"smoke": smoke})
    assert study.for_preset("default").arms == laptop and study.for_preset("smoke").arms == smoke
    assert sorted(study.for_preset("smoke").trial_configs("smoke", (0,))) == [("b", 0), ("c", 0)]
