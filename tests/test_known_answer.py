"""Known-answer checks: every pretext task learns a version of itself that is easy by construction.

The videos carry their own answer: frames whose red and green channels are the column and
row coordinates and whose blue channel counts the frames. Each check trains the method
through the real pretraining loop (``ssl_core.pretrain.pretrain``) and reads its held-out
accuracy on other videos of the same kind; a task that cannot reach 90 % here has a defect
(labels not aligned with the views, an augmentation that erases the label, ...), not a
hard problem. ``sts`` learns its label pipeline end to end (flow, labels, targets, head) on
the global colour label of videos whose background picks the colour bin. ``v3s`` learns its
temporal and spatial scales on the same coordinate videos; ``mfo`` matches two clips of
still patterns among a batch (a lower bar, explained at the check).
"""
import numpy as np
import pytest
import torch

from conftest import InMemoryVideos
from ssl_core.backbones import build_backbone
from ssl_core.data.config import ClipConfig
from ssl_core.methods import MethodConfig, build_method
from ssl_core.pretrain import PretrainConfig, pretrain

pytestmark = pytest.mark.slow

CLIP = ClipConfig(num_frames=8, stride=2, resize=(24, 24), crop=16)
STOR_ONLY = {"contrastive": "none", "pace": False, "rotation": False, "pace_aug": False, "rotation_aug": False}


class Videos(InMemoryVideos):
    def __init__(self, videos, clip=CLIP):
        super().__init__(videos, clip)


def coordinate_video(num_frames=40, size=24, frame_step=6, rng=None):
    """uint8 ``(T, size, size, 3)``: red = column, green = row (0..255), blue = ``frame_step * t``;
    with ``rng`` a random offset of the frame counter (so its level alone does not give the time)."""
    ramp = np.linspace(0, 255, size).round().astype(np.uint8)
    video = np.zeros((num_frames, size, size, 3), np.uint8)
    video[..., 0] = ramp[None, None, :]
    video[..., 1] = ramp[None, :, None]
    offset = int(rng.integers(0, 256 - frame_step * (num_frames - 1))) if rng is not None else 0
    video[..., 2] = (offset + frame_step * np.arange(num_frames))[:, None, None]
    return video


def colour_bin_video(rng, num_frames=12, size=24):
    """A background of one of the 8 colour bins of the STS appearance labels (each channel 64 or
    192, plus noise of +-40) with a random-texture square moving across it."""
    video = np.empty((num_frames, size, size, 3), np.uint8)
    video[:] = rng.choice([64, 192], 3) + rng.integers(-40, 41, 3)
    texture = rng.integers(0, 256, (5, 5, 3), dtype=np.uint8)
    top, left = rng.integers(0, size - 5 - num_frames // 2, 2)
    for t in range(num_frames):
        video[t, top + t // 2:top + t // 2 + 5, left:left + 5] = texture
    return video


def held_out_after_training(method_name, options, train, held_out, epochs, lr=2e-3, seed=0):
    """Train through ``pretrain`` (AdamW) and return the last epoch's metrics (held-out accuracies)."""
    torch.manual_seed(seed)
    method = build_method(MethodConfig(method_name, options), build_backbone("r3d_18", width=0.25), train.clip)
    history = []
    config = PretrainConfig(epochs=epochs, batch_size=16, lr=lr, weight_decay=0.0, optimiser="adamw")
    pretrain(method, train, config, seed, val_videos=held_out, on_epoch_end=lambda metrics, state: history.append(metrics))
    return history[-1]


def coordinate_sets(num_train=96, num_held_out=32, **kwargs):
    rng = np.random.default_rng(0)
    make = lambda n: Videos(coordinate_video(rng=rng, **kwargs) for _ in range(n))
    return make(num_train), make(num_held_out)


def test_stor_spatial_learns_coordinate_frames():
    metrics = held_out_after_training("cstp", {**STOR_ONLY, "num_candidates": 2, "stor_temporal": False, "base_aug_p": 0.0},
                                      *coordinate_sets(), epochs=12)
    assert metrics["pretext/stor_s_acc_chance"] < 0.7
    assert metrics["pretext/stor_s_acc"] >= 0.9, metrics


def test_stor_temporal_learns_a_frame_counter():
    metrics = held_out_after_training("cstp", {**STOR_ONLY, "num_candidates": 2, "stor_spatial": False, "base_aug_p": 0.0},
                                      *coordinate_sets(), epochs=24)
    assert metrics["pretext/stor_t_acc_chance"] < 0.7
    assert metrics["pretext/stor_t_acc"] >= 0.9, metrics


def test_pace_learns_a_frame_counter():
    train, held_out = coordinate_sets(num_frames=64, frame_step=3)
    options = {**STOR_ONLY, "stor": False, "pace": True, "pace_aug": True, "base_aug_p": 0.0}
    metrics = held_out_after_training("cstp", options, train, held_out, epochs=12)
    # not 1/4: the sampler lowers the playback rate when the drawn temporal overlap has no
    # placement at it (spec), so the low rates are more frequent (measured majority share 0.53)
    assert metrics["pretext/pace_acc_chance"] < 0.6
    assert metrics["pretext/pace_acc"] >= 0.9, metrics


def test_rotation_learns_coordinate_frames():
    metrics = held_out_after_training("rotation", {}, *coordinate_sets(), epochs=6)
    assert metrics["pretext/acc_chance"] < 0.4
    assert metrics["pretext/acc"] >= 0.9, metrics


def test_sts_learns_the_background_colour_label():
    rng = np.random.default_rng(0)
    clip = ClipConfig(num_frames=8, stride=1, resize=(24, 24), crop=24)
    train = Videos((colour_bin_video(rng) for _ in range(192)), clip)
    held_out = Videos((colour_bin_video(rng) for _ in range(32)), clip)
    options = {"target": "classification", "groups": ("appearance_global",)}
    metrics = held_out_after_training("sts", options, train, held_out, epochs=8)
    assert metrics["pretext/acc_chance"] < 0.4
    assert metrics["pretext/acc"] >= 0.9, metrics


V3S_NONE = {"spatial_scales": [], "projections": [], "temporal_scales": [], "temporal_projections": []}


def test_v3s_temporal_scale_learns_a_frame_counter():
    train, held_out = coordinate_sets(num_frames=64, frame_step=3)
    metrics = held_out_after_training("v3s", {**V3S_NONE, "temporal_scales": [1, 2, 3]}, train, held_out, epochs=30)
    assert metrics["pretext/temporal_acc_chance"] < 0.6
    assert metrics["pretext/temporal_acc"] >= 0.9, metrics


def test_v3s_spatial_scale_learns_coordinate_frames():
    metrics = held_out_after_training("v3s", {**V3S_NONE, "spatial_scales": [[1, 1.3], [1.3, 1]]},
                                      *coordinate_sets(), epochs=30, lr=5e-4)
    assert metrics["pretext/spatial_acc_chance"] < 0.6
    assert metrics["pretext/spatial_acc"] >= 0.9, metrics


def symmetric_pattern_video(rng, num_frames=16, size=24, block=4):
    """A still grey pattern of ``block``-pixel squares, mirrored left to right: MFO's crop (half
    the area or more) keeps most of it, its flip and colour augmentation change nothing that
    tells two videos apart, and two clips of one video show the same pattern."""
    half = rng.integers(0, 256, (size // block, size // (2 * block)))
    grid = np.concatenate([half, half[:, ::-1]], axis=1).repeat(block, 0).repeat(block, 1)
    return np.repeat(np.repeat(grid.astype(np.uint8)[None, ..., None], num_frames, 0), 3, -1)


def test_mfo_instance_discrimination_learns_still_patterns():
    rng = np.random.default_rng(0)
    clip = ClipConfig(num_frames=4, stride=1, resize=(24, 24), crop=16)
    train = Videos((symmetric_pattern_video(rng) for _ in range(128)), clip)
    held_out = Videos((symmetric_pattern_video(rng) for _ in range(32)), clip)
    metrics = held_out_after_training("mfo", {"num_prototypes": 16, "queue_size": 64}, train, held_out, epochs=12)
    # Not 90 %: matching two crops of a pattern through per-frame colour jitter plateaus at
    # 53-69 % here whatever term is switched off (measured 2026-12-07: without temporal
    # modelling, the graph, L_sem or the stage split). A clip B paired with the wrong video, or
    # a loss whose positives are off the diagonal, leaves the accuracy at chance (1 / 16).
    assert metrics["pretext/acc_chance"] == pytest.approx(1 / 16)
    assert metrics["pretext/acc"] >= 0.4, metrics
