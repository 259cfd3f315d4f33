"""Tests of ssl_core.backbones (CPU, small widths; the whole file runs in seconds)."""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn
import torchvision

from ssl_core.backbones import (
    ShrinkingMaxPool3d,
    VideoBackbone,
    build_backbone,
    list_backbones,
    register_backbone,
    scale_channels,
)
from ssl_core.backbones import registry as registry_mod

ALL = ["c3d", "r21d_vcop", "r2plus1d_18", "r3d_18", "r3d_18_hara", "r3d_vcop", "s3d", "slowfast"]
SMALL = (2, 3, 8, 32, 32)
PAPER = (1, 3, 16, 112, 112)
W = 0.25


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def _model(name: str, width: float = W) -> VideoBackbone:
    torch.manual_seed(0)
    return build_backbone(name, width=width)


# --------------------------------------------------------------------- registry
def test_registered_names():
    assert list_backbones() == ALL
    assert list_backbones("r*") == ["r21d_vcop", "r2plus1d_18", "r3d_18", "r3d_18_hara", "r3d_vcop"]
    assert list_backbones("*3d*") == ["c3d", "r3d_18", "r3d_18_hara", "r3d_vcop", "s3d"]
    assert list_backbones("slow*") == ["slowfast"]
    assert list_backbones("nope*") == []


def test_unknown_name_lists_known():
    with pytest.raises(ValueError, match="name") as exc:
        build_backbone("resnet9000")
    for n in ALL:
        assert n in str(exc.value)


@pytest.mark.parametrize("width", [0, -1.0, float("nan"), float("inf"), "1", True])
def test_bad_width(width):
    with pytest.raises(ValueError, match="width"):
        build_backbone("c3d", width=width)


def test_register_custom_and_duplicate(monkeypatch):
    monkeypatch.setattr(registry_mod, "_REGISTRY", dict(registry_mod._REGISTRY))

    @register_backbone("tiny_test_c3d")
    def _tiny(width=1.0, **kw):
        return build_backbone("c3d", width=width, **kw)

    assert "tiny_test_c3d" in list_backbones()
    assert isinstance(build_backbone("tiny_test_c3d", width=0.1), VideoBackbone)
    with pytest.raises(ValueError, match="name"):
        register_backbone("c3d")(lambda width=1.0: None)
    monkeypatch.undo()
    assert "tiny_test_c3d" not in list_backbones()


def test_scale_channels_rule():
    assert scale_channels(64, 1.0) == 64
    assert scale_channels(45, 1.0) == 45
    assert scale_channels(45, 0.25) == 11  # 11.25 -> 11
    assert scale_channels(45, 0.5) == 23  # 22.5 -> 23 (round half up)
    assert scale_channels(64, 0.05) == 8  # floor of 8 channels
    assert scale_channels(512, 2.0) == 1024
    with pytest.raises(ValueError, match="width"):
        scale_channels(64, 0.0)


# ------------------------------------------------------------ per-backbone contract
@pytest.mark.parametrize("name", ALL)
def test_small_input_contract_and_grads(name):
    model = _model(name)
    model.train()
    x = torch.randn(*SMALL)
    assert model.stage_names == ("pool3", "pool4", "pool5")
    assert set(model.stage_dims) == {"pool3", "pool4", "pool5"}
    assert model.feature_dim == model.stage_dims["pool5"]

    feats = model.forward_stages(x, ("pool3", "pool4", "pool5"))
    assert list(feats) == ["pool3", "pool4", "pool5"]
    for stage, f in feats.items():
        assert f.dim() == 5 and f.shape[0] == 2, (stage, f.shape)
        assert f.shape[1] == model.stage_dims[stage]
        assert torch.isfinite(f).all()

    loss = sum(f.pow(2).mean() for f in feats.values()) + model(x).pow(2).mean()
    loss.backward()
    for pname, p in model.named_parameters():
        if p.requires_grad:
            assert p.grad is not None, pname
            assert torch.isfinite(p.grad).all(), pname

    model.eval()
    with torch.no_grad():
        emb = model(x)
        assert emb.shape == (2, model.feature_dim)
        canon = model.forward_stages(x, ("pool3", "pool4", "pool5"))
        alias = model.forward_stages(x, ("low", "mid", "high"))
        assert list(alias) == ["low", "mid", "high"]
        for a, c in (("low", "pool3"), ("mid", "pool4"), ("high", "pool5")):
            assert torch.equal(alias[a], canon[c])
        mixed = model.forward_stages(x, ("high", "pool5", "low"))
        assert mixed["high"] is mixed["pool5"]
        assert torch.equal(mixed["low"], canon["pool3"])
        # forward == global average pool of pool5; a plain string is one stage
        assert torch.allclose(emb, VideoBackbone.pool(canon["pool5"]))
        assert torch.allclose(emb, canon["pool5"].mean(dim=(2, 3, 4)))
        assert torch.equal(model.forward_stages(x, "mid")["mid"], canon["pool4"])


def _expected_paper_shapes(name: str, w: float) -> dict[str, tuple[int, ...]]:
    c = lambda ch: scale_channels(ch, w)  # noqa: E731
    if name == "c3d":
        # 16x112x112 -pool1(1,2,2)-> 16x56x56 -pool2-> 8x28x28 -pool3-> 4x14x14
        # -pool4-> 2x7x7 -pool5 (k2 s2 pad(0,1,1))-> 1 x (7+2-2)//2+1=4 x 4
        return {"pool3": (c(256), 4, 14, 14), "pool4": (c(512), 2, 7, 7), "pool5": (c(512), 1, 4, 4)}
    if name in ("r3d_18", "r2plus1d_18", "r21d_vcop", "r3d_vcop"):
        # stem stride (1,2,2): 16x56x56; layer1 same; layer2/3/4 stride 2 each
        return {"pool3": (c(128), 8, 28, 28), "pool4": (c(256), 4, 14, 14), "pool5": (c(512), 2, 7, 7)}
    if name == "r3d_18_hara":
        # stem stride (1,2,2) and a (1,3,3)/(1,2,2) max pool: 16x28x28; layer2/3/4 stride 2 each
        return {"pool3": (c(128), 8, 14, 14), "pool4": (c(256), 4, 7, 7), "pool5": (c(512), 2, 4, 4)}
    if name == "s3d":
        # Conv1a s2 (T: (16+6-7)//2+1=8, 56x56), two (1,3,3)/2 pools -> 8x14x14 (Mixed_3c)
        # MaxPool4a (3,3,3)/2 pad 1 -> 4x7x7 (Mixed_4f); MaxPool5a (2,2,2)/2 -> 2x3x3 (Mixed_5c)
        def inc(cfg):
            b0, _, b1, _, b2, b3 = (c(v) for v in cfg)
            return b0 + b1 + b2 + b3

        return {
            "pool3": (inc((128, 128, 192, 32, 96, 64)), 8, 14, 14),
            "pool4": (inc((256, 160, 320, 32, 128, 128)), 4, 7, 7),
            "pool5": (inc((384, 192, 384, 48, 128, 128)), 2, 3, 3),
        }
    if name == "slowfast":
        # slow pathway: 16 / alpha = 4 frames throughout; stems stride (1,2,2): 56x56; stages 2-4 halve H, W
        f = lambda ch: scale_channels(ch / 8, w)  # noqa: E731
        return {"pool3": (c(128) + f(128), 4, 28, 28), "pool4": (c(256) + f(256), 4, 14, 14),
                "pool5": (c(512) + f(512), 4, 7, 7)}
    raise AssertionError(name)


def slowfast_parameters(width: float) -> int:
    """SlowFast's parameter count from its documented architecture (module docstring)."""
    c = lambda ch: scale_channels(ch, width)  # noqa: E731
    f = lambda ch: scale_channels(ch / 8, width)  # noqa: E731
    conv = lambda i, o, k: i * o * k  # noqa: E731  (k: kernel volume)
    slow, fast = [c(p) for p in (64, 128, 256, 512)], [f(p) for p in (64, 128, 256, 512)]
    total = conv(3, slow[0], 49) + 2 * slow[0] + conv(3, fast[0], 5 * 49) + 2 * fast[0]

    def stage(i, o, strided):
        shortcut = conv(i, o, 1) + 2 * o if strided or i != o else 0
        return conv(i, o, 27) + 2 * o + conv(o, o, 27) + 2 * o + shortcut + 2 * (conv(o, o, 27) + 2 * o)

    entering = (fast[0], fast[0], fast[1], fast[2])
    for k in range(4):
        total += conv(entering[k], 2 * entering[k], 5)  # lateral
        total += stage(slow[max(k - 1, 0)] + 2 * entering[k], slow[k], k > 0) + stage(fast[max(k - 1, 0)], fast[k], k > 0)
    return total


@pytest.mark.parametrize("width", [0.25, 1.0])
def test_slowfast_parameter_count_follows_its_architecture(width):
    model = build_backbone("slowfast", width=width)
    assert sum(p.numel() for p in model.parameters()) == slowfast_parameters(width)
    if width == 1.0:
        assert 33e6 < slowfast_parameters(1.0) < 40e6  # R3D-18 (33.2 M) plus the fast pathway and laterals


@pytest.mark.parametrize("name", ALL)
def test_paper_size_shapes(name):
    model = _model(name).eval()
    x = torch.randn(*PAPER)
    with torch.no_grad():
        feats = model.forward_stages(x, ("pool3", "pool4", "pool5"))
        emb = model(x)
    expected = _expected_paper_shapes(name, W)
    assert {k: tuple(v.shape[1:]) for k, v in feats.items()} == expected
    assert emb.shape == (1, model.feature_dim)
    assert {k: v[0] for k, v in expected.items()} == model.stage_dims


def vcop_r21d_parameters() -> int:
    """VCOP's R(2+1)D (Xu et al. 2019, models/r21d.py) counted by hand: every (2+1)D conv of
    kernel t x d x d is a spatial 1 x d x d conv to M = floor(t d^2 i o / (d^2 i + t o)) channels,
    batch norm, and a temporal t x 1 x 1 conv; no biases; one residual block per stage."""
    def conv21(i, o, t=3, d=3):
        mid = (t * d * d * i * o) // (d * d * i + t * o)
        return i * mid * d * d + 2 * mid + mid * o * t

    bn = lambda c: 2 * c  # noqa: E731
    total = conv21(3, 64, 3, 7) + bn(64)  # stem: M = 83
    for i, o in ((64, 64), (64, 128), (128, 256), (256, 512)):
        total += conv21(i, o) + bn(o) + conv21(o, o) + bn(o)
        if i != o:
            total += i * o + bn(o)  # 1 x 1 x 1 shortcut (ours; VCOP factorises it, see the backbone's docstring)
    return total


def sts_r3d_parameters() -> int:
    """The STS public code's ``R3DNet(layer_sizes=(1, 1, 1, 1))`` counted by hand: 3 x 7 x 7 stem
    3 -> 64, then per stage one block of two 3 x 3 x 3 convolutions (no biases) with batch norm,
    and a 1 x 1 x 1 shortcut with batch norm where the channels change."""
    bn = lambda c: 2 * c  # noqa: E731
    total = 3 * 64 * 3 * 7 * 7 + bn(64)
    for i, o in ((64, 64), (64, 128), (128, 256), (256, 512)):
        total += i * o * 27 + bn(o) + o * o * 27 + bn(o)
        if i != o:
            total += i * o + bn(o)
    return total


@pytest.mark.parametrize("name, by_hand", [("r21d_vcop", vcop_r21d_parameters), ("r3d_vcop", sts_r3d_parameters)])
def test_one_block_nets_have_the_papers_parameter_count(name, by_hand):
    """V3S Table 2 (VCOP's R(2+1)D) and STS Table 2 (its R3D-18 and R(2+1)D): 14.4 M parameters
    (torchvision's r2plus1d_18 and r3d_18: 31.3 M and 33.2 M)."""
    model = build_backbone(name, width=1.0)
    count = sum(p.numel() for p in model.parameters())
    assert count == by_hand()
    assert round(count / 1e6, 1) == 14.4
    assert len(model.layer1) == len(model.layer4) == 1
    if name == "r21d_vcop":
        assert model.stem[0].out_channels == 83


def test_c3d_paper_pool5_width1_shape_literal():
    assert _expected_paper_shapes("c3d", 1.0)["pool5"] == (512, 1, 4, 4)
    assert _expected_paper_shapes("s3d", 1.0)["pool5"][0] == 1024
    assert _expected_paper_shapes("s3d", 1.0)["pool3"][0] == 480
    assert _expected_paper_shapes("s3d", 1.0)["pool4"][0] == 832


@pytest.mark.parametrize("name", ALL)
def test_tiny_input_does_not_crash(name):
    # below every pooling window (kernel-shrinking pools) -- 4 frames of 16 px and 1x1x1
    model = _model(name).eval()
    with torch.no_grad():
        for shape in [(2, 3, 4, 16, 16), (1, 3, 1, 1, 1)]:
            out = model.forward_stages(torch.randn(*shape), ("low", "mid", "high"))
            assert out["high"].shape[1] == model.feature_dim


@pytest.mark.parametrize("name", ALL)
def test_computes_only_up_to_deepest_stage(name):
    model = _model(name).eval()
    # the module producing each stage's output
    if name == "c3d":
        last = {s: model.get_submodule(s) for s in ("pool3", "pool4", "pool5")}
    elif name == "s3d":
        last = {"pool3": model.features[6], "pool4": model.features[12], "pool5": model.features[15]}
    elif name == "slowfast":
        last = {"pool3": model.slow_stages[1], "pool4": model.slow_stages[2], "pool5": model.slow_stages[3]}
    else:
        last = {"pool3": model.layer2, "pool4": model.layer3, "pool5": model.layer4}
    calls: list[str] = []
    for stage, mod in last.items():
        mod.register_forward_hook(lambda m, i, o, s=stage: calls.append(s))
    x = torch.randn(*SMALL)
    with torch.no_grad():
        model.forward_stages(x, ("low",))
        assert calls == ["pool3"]
        calls.clear()
        model.forward_stages(x, ("mid", "low"))
        assert calls == ["pool3", "pool4"]
        calls.clear()
        model(x)
        assert calls == ["pool3", "pool4", "pool5"]


@pytest.mark.parametrize("name", ALL)
def test_deterministic_init(name):
    a = _model(name).state_dict()
    b = _model(name).state_dict()
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_init_scheme():
    model = _model("c3d")
    assert torch.all(model.bn1.weight == 1) and torch.all(model.bn1.bias == 0)
    assert torch.all(model.conv1.bias == 0)
    # kaiming_normal_(fan_out, relu): std = sqrt(2 / (out * 27))
    std = (2.0 / (model.conv3a.out_channels * 27)) ** 0.5
    assert abs(model.conv3a.weight.std().item() - std) / std < 0.05


# --------------------------------------------------------------- bad arguments
@pytest.mark.parametrize("name", ALL)
def test_bad_inputs(name):
    model = _model(name)
    with pytest.raises(ValueError, match=r"x must have shape.*\(2, 3, 32, 32\)"):
        model(torch.randn(2, 3, 32, 32))
    with pytest.raises(ValueError, match=r"x must have shape.*\(2, 1, 8, 32, 32\)"):
        model.forward_stages(torch.randn(2, 1, 8, 32, 32))
    x = torch.randn(*SMALL)
    with pytest.raises(ValueError, match="stages") as exc:
        model.forward_stages(x, ("pool3", "pool6"))
    assert "pool6" in str(exc.value) and "low" in str(exc.value)
    with pytest.raises(ValueError, match="stages"):
        model.forward_stages(x, ())
    with pytest.raises(ValueError, match="feature_map"):
        VideoBackbone.pool(torch.randn(2, 8))


def test_direct_constructor_validates_width():
    from ssl_core.backbones.c3d import C3D
    from ssl_core.backbones.s3d import S3DBackbone

    for cls in (C3D, S3DBackbone):
        with pytest.raises(ValueError, match="width"):
            cls(width=0)


# ------------------------------------------------ equality with torchvision / hand count
def _shapes(sd, prefix=None, drop=None):
    return {
        k: tuple(v.shape)
        for k, v in sd.items()
        if (prefix is None or k.startswith(prefix)) and (drop is None or not k.startswith(drop))
    }


@pytest.mark.parametrize(
    "name, ref_fn",
    [("r3d_18", torchvision.models.video.r3d_18), ("r2plus1d_18", torchvision.models.video.r2plus1d_18)],
)
def test_resnet_state_dict_matches_torchvision(name, ref_fn):
    ours = _shapes(build_backbone(name, width=1.0).state_dict())
    ref = _shapes(ref_fn(weights=None).state_dict(), drop="fc.")
    assert list(ours) == list(ref)  # same keys, same order
    assert ours == ref


def test_r3d_18_hara_is_the_mfo_codes_network():
    """MFO's ``r3d.py`` (Hara et al.'s ``generate_model(18)``): torchvision's R3D-18 blocks after
    a 7 x 7 x 7 stem and a spatial max pool. Ours, with torchvision's weights in the blocks and a
    7 x 7 x 7 stem, equals the hand-built reference."""
    ours = build_backbone("r3d_18_hara", width=1.0).eval()
    ref = torchvision.models.video.r3d_18(weights=None)
    ref.stem = nn.Sequential(nn.Conv3d(3, 64, (7, 7, 7), stride=(1, 2, 2), padding=(3, 3, 3), bias=False),
                             nn.BatchNorm3d(64), nn.ReLU(inplace=True),
                             nn.MaxPool3d((1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1)))
    ref.fc = nn.Identity()
    ref.eval()
    ours.load_state_dict({k: v for k, v in ref.state_dict().items() if not k.startswith("fc.")})
    x = torch.randn(1, 3, 8, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), ref(x), rtol=1e-5, atol=1e-5)
    torchvision_count = sum(p.numel() for p in build_backbone("r3d_18", width=1.0).parameters())
    count = sum(p.numel() for p in ours.parameters())
    assert count - torchvision_count == 3 * 64 * (7 - 3) * 7 * 7  # the stem's 7 frames against 3


def test_s3d_state_dict_matches_torchvision():
    ours = _shapes(build_backbone("s3d", width=1.0).state_dict())
    ref = _shapes(torchvision.models.video.s3d(weights=None).state_dict(), prefix="features.")
    assert list(ours) == list(ref)
    assert ours == ref


def test_resnet_width1_output_matches_torchvision_with_same_weights():
    # load torchvision's weights into ours: identical trunk computation
    ref = torchvision.models.video.r2plus1d_18(weights=None).eval()
    ours = build_backbone("r2plus1d_18", width=1.0).eval()
    ours.load_state_dict({k: v for k, v in ref.state_dict().items() if not k.startswith("fc.")})
    ref.fc = nn.Identity()
    x = torch.randn(1, 3, 8, 32, 32)
    with torch.no_grad():
        assert torch.allclose(ours(x), ref(x), atol=1e-5)


def test_c3d_param_count_by_hand():
    def conv(cin, cout):  # 3x3x3 conv with bias + BatchNorm3d(weight, bias)
        return cin * cout * 27 + cout + 2 * cout

    expected = (
        conv(3, 64)
        + conv(64, 128)
        + conv(128, 256)
        + conv(256, 256)
        + conv(256, 512)
        + conv(512, 512)
        + conv(512, 512)
        + conv(512, 512)
    )
    assert expected == 27_661_440
    model = build_backbone("c3d", width=1.0)
    assert sum(p.numel() for p in model.parameters()) == expected
    assert model.feature_dim == 512
    assert model.stage_dims == {"pool3": 256, "pool4": 512, "pool5": 512}


def test_resnet_width_scaling_consistent():
    m = build_backbone("r2plus1d_18", width=0.5)
    # stem mid channels 45 -> 23, stem out 64 -> 32
    assert m.stem[0].out_channels == 23 and m.stem[3].out_channels == 32
    # block midplanes follow torchvision's formula on the scaled planes
    conv = m.layer2[0].conv1[0]
    inp, out = 32, 64
    assert conv[0].in_channels == inp and conv[3].out_channels == out
    assert conv[0].out_channels == (inp * out * 27) // (inp * 9 + 3 * out)
    assert m.stage_dims == {"pool3": 64, "pool4": 128, "pool5": 256}


# ------------------------------------------------------------------- pooling
def test_shrinking_maxpool_identical_when_valid_and_global_when_too_small():
    x = torch.randn(2, 4, 6, 9, 9)
    for k, s, p in [((2, 2, 2), (2, 2, 2), 0), ((2, 2, 2), (2, 2, 2), (0, 1, 1)), ((3, 3, 3), 2, 1), ((1, 3, 3), (1, 2, 2), (0, 1, 1))]:
        assert torch.equal(ShrinkingMaxPool3d(k, s, p)(x), nn.MaxPool3d(k, s, p)(x))
    small = torch.randn(2, 4, 1, 5, 5)
    pool = ShrinkingMaxPool3d((2, 2, 2), (2, 2, 2), 0)
    out = pool(small)
    assert out.shape == (2, 4, 1, 2, 2)
    assert torch.equal(out, nn.MaxPool3d((1, 2, 2), (2, 2, 2))(small))
    with pytest.raises(RuntimeError):
        nn.MaxPool3d((2, 2, 2), (2, 2, 2))(small)
