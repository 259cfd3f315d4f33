"""MFO: the sampler, the ME block, the losses against values worked out independently, the
official/paper differences, DDP gathering, and exact resume."""
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from conftest import losses_on_fixed_batch, pretrain_until
from ssl_core.backbones import build_backbone
from ssl_core.config import ConfigError
from ssl_core.data.config import ClipConfig
from ssl_core.heads.temporal import MotionExcitation
from ssl_core.losses.mfo import (
    graph_loss, graph_target, instance_graph, instance_info_nce, retrieval_loss, semantic_graph, sinkhorn,
    temporal_contrast_loss, temporal_views,
)
from ssl_core.methods import MethodConfig, build_method
from ssl_core.pretrain import PretrainConfig
from ssl_core.samplers.mfo import MFOViews

CLIP = ClipConfig(num_frames=8, stride=1, resize=(40, 40), crop=32)
SMALL = {"num_prototypes": 16, "queue_size": 8}


def mfo(options=None, seed=0, backbone="r3d_18"):
    torch.manual_seed(seed)
    return build_method(MethodConfig("mfo", {**SMALL, **(options or {})}), build_backbone(backbone, width=0.125), CLIP)


def moving_videos(count=4, frames=40, size=40):
    rng = np.random.default_rng(0)
    videos = []
    for v in range(count):
        video = np.repeat(rng.integers(0, 80, (1, size, size, 3), dtype=np.uint8), frames, axis=0)
        for t in range(frames):
            top, left = (v * 5 + t) % (size - 10), (2 * t + 7 * v) % (size - 10)
            video[t, top:top + 10, left:left + 10] = (60 * v % 255, 220, 40)
        videos.append(video)
    return videos


def batch_for(method, count=4):
    items = [method.sample(video, CLIP, np.random.default_rng(i)) for i, video in enumerate(moving_videos(count))]
    return torch.utils.data.default_collate(items)


# --------------------------------------------------------------------------- sampler


def test_views_are_consecutive_clips_and_the_long_view_spans_both():
    views = MFOViews(num_frames=4, size=16)
    for length in (8, 30, 200):
        for seed in range(50):
            indices = views.frame_indices(length, np.random.default_rng(seed))
            steps = np.diff(indices)
            assert len(indices) == 8 and indices.min() >= 0 and indices.max() < length
            assert np.all(steps >= 0) and steps.max() <= math.ceil(min(3, max(1, length / 8))) + 1
    frames = np.arange(40, dtype=np.uint8)[:, None, None, None].repeat(32, 1).repeat(32, 2).repeat(3, 3)
    no_colour = MFOViews(num_frames=4, size=32, crop_area=(1.0, 1.0), crop_aspect=(1.0, 1.0), jitter_p=0.0, grey_p=0.0)
    rng = np.random.default_rng(3)
    indices = no_colour.frame_indices(40, np.random.default_rng(3))
    out = no_colour(frames, rng)
    assert [int(x) for x in out["clip_a"][:, 0, 0, 0]] == list(indices[:4])
    assert [int(x) for x in out["clip_b"][:, 0, 0, 0]] == list(indices[4:])
    assert [int(x) for x in out["long"][:, 0, 0, 0]] == list(indices[::2])


def test_colour_and_grey_are_drawn_per_frame_crop_and_flip_per_clip():
    frames = np.zeros((40, 32, 32, 3), np.uint8)
    frames[:, :, :16] = (200, 40, 40)  # left half red: a flip moves it to the right half
    views = MFOViews(num_frames=8, size=32, crop_area=(1.0, 1.0), crop_aspect=(1.0, 1.0), jitter_p=0.0, grey_p=0.5)
    flips, greys = set(), []
    for seed in range(20):
        clip = views(frames, np.random.default_rng(seed))["clip_a"]
        flipped = clip[:, 16, 24].max(axis=1) > clip[:, 16, 8].max(axis=1)
        assert len(set(flipped.tolist())) == 1  # the same flip for every frame
        flips.add(bool(flipped[0]))
        grey = (clip[:, 16, :, 0] == clip[:, 16, :, 1]).all(axis=1) & (clip[:, 16, :, 1] == clip[:, 16, :, 2]).all(axis=1)
        greys.append(grey)
    assert flips == {True, False}
    greys = np.array(greys)
    assert 0.3 < greys.mean() < 0.7 and any(0 < row.sum() < len(row) for row in greys)  # decided per frame


# --------------------------------------------------------------------------- ME block


def test_motion_excitation_matches_a_direct_loop():
    torch.manual_seed(0)
    block = MotionExcitation(32).eval()
    for module in block.modules():
        if isinstance(module, torch.nn.BatchNorm3d):
            module.running_mean.uniform_(-0.2, 0.2)
            module.running_var.uniform_(0.5, 1.5)
    x = torch.randn(2, 32, 5, 6, 6)
    with torch.no_grad():
        out = block(x)
        reduced = block.reduce(x)
        kernel = block.spatial
        expected = torch.empty_like(x)
        for t in range(5):
            if t < 4:
                difference = kernel(reduced[:, :, t + 1:t + 2]) - reduced[:, :, t:t + 1]
            else:
                difference = torch.zeros_like(reduced[:, :, t:t + 1])
            pooled = difference.mean(dim=(3, 4), keepdim=True)
            gate = torch.sigmoid(block.expand(pooled)) - 0.5
            expected[:, :, t:t + 1] = x[:, :, t:t + 1] * (1 + gate)
    torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-6)


# --------------------------------------------------------------------------- losses


def test_sinkhorn_rows_sum_to_one_and_columns_to_n_over_k():
    scores = torch.randn(12, 4, generator=torch.Generator().manual_seed(0))
    q = sinkhorn(scores, epsilon=0.5, iterations=200)
    torch.testing.assert_close(q.sum(dim=1), torch.ones(12))
    torch.testing.assert_close(q.sum(dim=0), torch.full((4,), 3.0), rtol=1e-4, atol=1e-4)
    q3 = sinkhorn(scores, epsilon=0.05, iterations=3)
    torch.testing.assert_close(q3.sum(dim=1), torch.ones(12))  # rows exact after the last step
    assert torch.allclose(sinkhorn(torch.zeros(6, 3)), torch.full((6, 3), 1 / 3))


def test_sinkhorn_two_by_two_by_hand():
    # exp(scores / 1) = [[e, 1], [1, 1]]; total t = e + 3. One iteration: columns to 1/2 each,
    # then rows to 1/2 each, times N = 2.
    e = math.e
    q0 = np.array([[e, 1], [1, 1]]) / (e + 3)
    q1 = q0 / q0.sum(axis=0, keepdims=True) / 2
    q1 = q1 / q1.sum(axis=1, keepdims=True) / 2
    got = sinkhorn(torch.tensor([[1.0, 0.0], [0.0, 0.0]]), epsilon=1.0, iterations=1)
    np.testing.assert_allclose(got.numpy(), 2 * q1, rtol=1e-6)


def unit(*rows):
    return F.normalize(torch.tensor(rows, dtype=torch.float32), dim=1)


Z_A = unit([1, 0], [0.9, 0.1], [0, 1], [-1, 0.2])
Z_B = unit([1, 0.1], [1, 0], [0.1, 1], [-1, 0])


def test_instance_graph_official_on_a_4x4_example():
    logits = (Z_A @ Z_B.t()).numpy() / 0.07
    softmax = np.exp(logits - logits.max(axis=1, keepdims=True))
    softmax /= softmax.sum(axis=1, keepdims=True)
    expected = np.where((softmax >= 0.05) | np.eye(4, dtype=bool), softmax, 0)
    got = instance_graph(Z_A, Z_B, 0.07, 0.05, "official").numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-7)
    assert got[0, 1] > 0 and got[0, 2] == 0  # a near neighbour kept, a far one cut


def test_instance_graph_paper_eq8_on_a_4x4_example():
    h = lambda x, y: np.exp(float(x @ y) / 0.07)  # noqa: E731
    views = (Z_A.numpy(), Z_B.numpy())
    weights = np.empty((4, 4))
    for i in range(4):
        for j in range(4):
            weights[i, j] = h(views[0][i], views[1][j]) if i == j else \
                sum(h(views[m][i], views[n][j]) for m in range(2) for n in range(2)) / 4
    shares = weights / weights.sum(axis=1, keepdims=True)
    expected = np.where((shares >= 0.05) | np.eye(4, dtype=bool), weights, 0)
    got = instance_graph(Z_A, Z_B, 0.07, 0.05, "paper").numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-4)
    assert not np.allclose(got / got.sum(1, keepdims=True), instance_graph(Z_A, Z_B, impl="official").numpy())


def test_semantic_and_combined_targets_on_a_4x4_example():
    q_a = torch.tensor([[0.9, 0.1, 0.0], [0.6, 0.4, 0.0], [0.1, 0.8, 0.1], [0.0, 0.2, 0.8]])
    q_b = torch.tensor([[0.8, 0.2, 0.0], [0.5, 0.3, 0.2], [0.2, 0.7, 0.1], [0.1, 0.1, 0.8]])
    semantic = semantic_graph(q_a, q_b)  # classes 0, 0, 1, 2
    expected = torch.tensor([[1, 1, 0, 0], [1, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]], dtype=torch.float32)
    assert torch.equal(semantic, expected)
    instance = torch.tensor([[4.0, 2.0, 2.0, 0.0], [1.0, 3.0, 0.0, 0.0], [0.5, 0.0, 1.0, 0.5], [0.0, 0.0, 1.0, 2.0]])
    combined = graph_target("combined", 4, instance, semantic)
    by_hand = torch.tensor([[4 / 6, 2 / 6, 0, 0], [1 / 4, 3 / 4, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]])
    torch.testing.assert_close(combined, by_hand)
    torch.testing.assert_close(graph_target("instance", 4, instance, semantic)[0], torch.tensor([0.5, 0.25, 0.25, 0.0]))
    torch.testing.assert_close(graph_target("semantic", 4, instance, semantic)[1], torch.tensor([0.5, 0.5, 0.0, 0.0]))
    assert torch.equal(graph_target("onehot", 4), torch.eye(4))


def test_graph_loss_official_is_the_cross_entropy_over_b_and_paper_the_row_mean():
    target = graph_target("semantic", 4, semantic=semantic_graph(torch.eye(4)[[0, 0, 1, 2]], torch.eye(4)[[0, 0, 1, 2]]))
    log_p = F.log_softmax(Z_A @ Z_B.t() / 0.07, dim=1)
    row_ce = [-(target[i] * log_p[i]).sum() for i in range(4)]
    torch.testing.assert_close(graph_loss(target, Z_A, Z_B, impl="paper"), sum(row_ce) / 4)
    torch.testing.assert_close(graph_loss(target, Z_A, Z_B, impl="official"), sum(row_ce) / 16)


def test_instance_info_nce_by_loop():
    z_a, z_b = Z_A, Z_B
    z = torch.cat([z_a, z_b])
    total = 0.0
    for i in range(8):
        partner = (i + 4) % 8
        logits = torch.tensor([float(z[i] @ z[j]) / 0.07 for j in range(8) if j != i])
        positive = float(z[i] @ z[partner]) / 0.07
        total += -(positive - torch.logsumexp(logits, 0))
    torch.testing.assert_close(instance_info_nce(z_a, z_b, 0.07), total / 8)


def test_retrieval_loss_is_low_when_steps_match_and_high_when_shuffled():
    steps = F.normalize(torch.randn(3, 16, 6, generator=torch.Generator().manual_seed(1)), dim=1)
    matched = retrieval_loss(steps, steps, 0.07)
    shuffled = retrieval_loss(steps, steps[:, :, [1, 2, 3, 4, 5, 0]], 0.07)
    assert matched < 0.1 < math.log(6) < shuffled


def test_temporal_views_reverse_official_and_reverse_plus_shuffle_paper():
    x = torch.arange(5.0).view(1, 1, 5)
    official = temporal_views(x, "official")
    paper = temporal_views(x, "paper", torch.Generator().manual_seed(0))
    assert len(official) == 1 and official[0].flatten().tolist() == [4, 3, 2, 1, 0]
    assert len(paper) == 2 and torch.equal(paper[0], official[0])
    assert sorted(paper[1].flatten().tolist()) == [0, 1, 2, 3, 4] and paper[1].flatten().tolist() != [0, 1, 2, 3, 4]


def test_temporal_contrast_loss_on_orthogonal_embeddings_by_hand():
    # every cosine 0, so each query's loss is log(1 + number of negatives): official, 2 videos,
    # one reversal: the other video's 2 clips + the 2 reversed clips of its own video -> log 5;
    # paper, reversal and shuffle: the query clip's own 2 augmentations -> log 3
    basis = torch.eye(12)
    a, b = basis[0:2], basis[2:4]
    official = temporal_contrast_loss(a, b, basis[4:6].unsqueeze(1), basis[6:8].unsqueeze(1), 0.07, "official")
    paper = temporal_contrast_loss(a, b, basis[4:8].view(2, 2, 12), basis[8:12].view(2, 2, 12), 0.07, "paper")
    torch.testing.assert_close(official, torch.tensor(math.log(5)))
    torch.testing.assert_close(paper, torch.tensor(math.log(3)))


@pytest.mark.parametrize("impl", ["official", "paper"])
def test_temporal_contrast_loss_by_loop(impl):
    g = torch.Generator().manual_seed(3)
    n, views = 3, (1 if impl == "official" else 2)
    a, b = torch.randn(n, 5, generator=g), torch.randn(n, 5, generator=g)
    aug_a, aug_b = torch.randn(n, views, 5, generator=g), torch.randn(n, views, 5, generator=g)
    cos = lambda u, v: float(F.cosine_similarity(u, v, dim=0)) / 0.07  # noqa: E731
    total = 0.0
    for i in range(n):
        for query, partner, own, partners_own in ((a[i], b[i], aug_a[i], aug_b[i]), (b[i], a[i], aug_b[i], aug_a[i])):
            negatives = list(own)
            if impl == "official":
                negatives += list(partners_own) + [clip[j] for clip in (a, b) for j in range(n) if j != i]
            logits = torch.tensor([cos(query, partner)] + [cos(query, k) for k in negatives])
            total += float(torch.logsumexp(logits, 0) - logits[0])
    torch.testing.assert_close(temporal_contrast_loss(a, b, aug_a, aug_b, 0.07, impl), torch.tensor(total / (2 * n)))


def test_feature_level_augmentation_is_applied_before_the_me_block():
    # With the ME gate at 0 (out = x) the time-averaged per-step head cannot tell a reversed
    # feature from the original; an active ME block, which is not symmetric in time, can.
    method = mfo().eval()
    batch = batch_for(method)
    with torch.no_grad():
        for block in method.motion.values():
            block.expand[1].weight.zero_()
        still = method.embed(batch)
        for block in method.motion.values():
            block.expand[1].weight.fill_(1.0)
        active = method.embed(batch)
    for level in ("low", "mid"):
        for view in ("a", "b"):
            assert still[f"temporal_{level}_aug_{view}"].shape == (4, 1, 128)
            torch.testing.assert_close(still[f"temporal_{level}_aug_{view}"][:, 0], still[f"temporal_{level}_{view}"])
            assert not torch.allclose(active[f"temporal_{level}_aug_{view}"][:, 0], active[f"temporal_{level}_{view}"], atol=1e-4)
    paper = mfo({"mfo_impl": "paper"})
    assert paper.embed(batch_for(paper))["temporal_low_aug_a"].shape == (4, 2, 128)  # reversed and shuffled


# --------------------------------------------------------------------------- the method


def test_the_loss_and_each_term_fall_on_a_fixed_batch():
    method = mfo()
    method.on_epoch_start(20, 30)  # past the split and the queue start: every term on
    batch = batch_for(method)
    with torch.no_grad():
        method.train()
        _, before = method(batch)
    losses, after = losses_on_fixed_batch(method, batch, steps=40, lr=3e-3)
    assert losses[-1] < 0.5 * losses[0]
    for name in before:
        if name.startswith("pretext/loss_"):
            assert after[name] < before[name], f"{name}: {float(before[name]):.3f} -> {float(after[name]):.3f}"
    assert float(after["pretext/acc"]) == 1.0


def test_stage_split_switches_the_graph_terms_on():
    method = mfo({"stage_split": 0.5})
    batch = batch_for(method)
    method.on_epoch_start(4, 10)
    assert not any(name.startswith("pretext/loss_mul") for name in method(batch)[1])
    method.on_epoch_start(5, 10)
    assert {"pretext/loss_mul_low", "pretext/loss_mul_mid", "pretext/loss_mul_high"} <= set(method(batch)[1])


def test_a_step_level_stage_split_switches_the_graph_terms_on_mid_epoch():
    # E = 0.2 of 3 epochs of 10 steps: the constraint joins after 0.2 x 30 = 6 steps, in epoch 0
    # (at whole epochs it would join at epoch round(0.6) = 1).
    method = mfo({"stage_split": 0.2, "stage_split_unit": "step"})
    batch = batch_for(method)
    method.on_epoch_start(0, 3, 10)
    on = []
    for _ in range(10):
        on.append(any(name.startswith("pretext/loss_mul") for name in method(batch)[1]))
        method.after_step()
    assert on == [False] * 6 + [True] * 4
    method.on_epoch_start(1, 3, 10)
    assert method.multi_level
    by_epoch = mfo({"stage_split": 0.2})
    by_epoch.on_epoch_start(0, 3, 10)
    for _ in range(10):
        assert not by_epoch.multi_level
        by_epoch.after_step()
    by_epoch.on_epoch_start(1, 3, 10)
    assert by_epoch.multi_level


def test_a_step_level_split_at_a_whole_epoch_equals_the_epoch_split():
    for split in (0.0, 0.1, 0.2, 0.3, 0.5, 0.7, 1.0):  # 0.7 x 10 = 7.000000000000001
        by_step, by_epoch = mfo({"stage_split": split, "stage_split_unit": "step"}), mfo({"stage_split": split})
        switched = []
        for method in (by_step, by_epoch):
            states = []
            for epoch in range(10):
                method.on_epoch_start(epoch, 10, 4)
                for _ in range(4):
                    states.append(method.multi_level)
                    method.after_step()
            switched.append(states)
        assert switched[0] == switched[1], split


def test_impl_stage_one_loss_sets_differ():
    official, paper = mfo({"stage_split": 0.5}), mfo({"stage_split": 0.5, "mfo_impl": "paper"})
    for method in (official, paper):
        method.on_epoch_start(0, 10)
    batch = batch_for(official)
    weights = {name: method.loss_weights(method.losses(method.embed(batch))) for name, method in
               (("official", official), ("paper", paper))}
    assert weights["official"]["ret_low"] == 0.3 and weights["official"]["aug_mid"] == 0.5
    assert {k for k, w in weights["paper"].items() if w > 0} == {"ins", "sem"}


def test_impl_graph_at_the_high_level_differs():
    assert MethodConfig("mfo").typed_options().graph_targets["high"] == "combined"
    assert MethodConfig("mfo", {"mfo_impl": "paper"}).typed_options().graph_targets["high"] == "none"
    assert MethodConfig("mfo", {"mfo_impl": "paper", "graph_high": "combined"}).typed_options().graph_targets["high"] == "combined"


def test_impl_queue_contents_differ():
    official, paper = mfo(), mfo({"mfo_impl": "paper"})
    batch = batch_for(official)
    for method in (official, paper):
        method.train()
        method.on_epoch_start(0, 10)
        method(batch)
        assert int(method.queue_count) == 4
    assert official.queue_a[-4:].abs().max() <= 1.0001 and not torch.allclose(official.queue_a[-4:].sum(1), torch.ones(4))
    torch.testing.assert_close(paper.queue_a[-4:].sum(1), torch.ones(4))
    paper.eval()
    paper(batch)
    assert int(paper.queue_count) == 4  # held-out forwards leave the queue alone


def test_official_queue_enters_sinkhorn_only_from_the_queue_start_epoch():
    method = mfo({"queue_size": 8, "queue_start_epoch": 2})
    logits = torch.randn(4, 16, generator=torch.Generator().manual_seed(0))
    method.queue_a.copy_(torch.randn(8, 16, generator=torch.Generator().manual_seed(1)))
    method.queue_count.fill_(8)
    method.on_epoch_start(1, 10)
    alone, _ = method.targets(logits, method.queue_a)
    torch.testing.assert_close(alone, sinkhorn(logits))
    method.on_epoch_start(2, 10)
    queued, _ = method.targets(logits, method.queue_a)
    torch.testing.assert_close(queued, sinkhorn(torch.cat([method.queue_a[4:], logits]))[-4:])


def test_input_level_temporal_augmentation_adds_negatives_without_the_me_block():
    method = mfo({"temporal": "input"})
    assert method.motion is None
    embeddings = method.embed(batch_for(method))
    assert embeddings["input_negatives"].shape == (8, 128)  # reversed A and B of 4 videos
    assert not any(name.startswith("temporal_") for name in embeddings)
    paper = mfo({"temporal": "input", "mfo_impl": "paper"})
    assert paper.embed(batch_for(paper))["input_negatives"].shape == (16, 128)  # reversed and shuffled


@pytest.mark.parametrize("temporal", ["none", "input"])
def test_timestamp_retrieval_goes_with_the_feature_level_temporal_modelling(temporal):
    def retrieval_terms(options):
        method = mfo(options)
        method.on_epoch_start(20, 30)
        return {name for name in method.losses(method.embed(batch_for(method))) if name.startswith("ret_")}

    assert retrieval_terms({"temporal": "feature"}) == {"ret_low", "ret_mid"}  # 8 frames: the high level has T = 1
    assert retrieval_terms({"temporal": temporal}) == set()
    assert retrieval_terms({"temporal": temporal, "retrieval": "always"}) == {"ret_low", "ret_mid"}


def test_prototypes_stay_unit_norm_and_get_no_gradient_in_epoch_0():
    method = mfo()
    batch = batch_for(method)
    method.on_epoch_start(0, 10)
    loss, _ = method(batch)
    loss.backward()
    assert method.prototypes.weight.grad is None
    method.zero_grad()
    method.on_epoch_start(1, 10)
    method(batch)[0].backward()
    assert method.prototypes.weight.grad is not None
    with torch.no_grad():
        method.prototypes.weight.mul_(3)
    method.after_step()
    torch.testing.assert_close(method.prototypes.weight.norm(dim=1), torch.ones(16))


@pytest.mark.parametrize("options, field", [
    ({"mfo_impl": "code"}, "method.options.mfo_impl"),
    ({"graph_lower": "both"}, "method.options.graph_lower"),
    ({"temporal": "pixel"}, "method.options.temporal"),
    ({"retrieval": "never"}, "method.options.retrieval"),
    ({"stage_split": 1.5}, "method.options.stage_split"),
    ({"stage_split_unit": "batch"}, "method.options.stage_split_unit"),
    ({"num_prototypes": 1}, "method.options.num_prototypes"),
])
def test_bad_options_name_the_field(options, field):
    with pytest.raises(ConfigError, match=field.replace(".", r"\.")):
        MethodConfig("mfo", options).validate()


def test_resume_is_bit_identical_including_queue_and_prototypes(tmp_path):
    from conftest import write_video
    from ssl_core.data.dataset import VideoCollection
    from ssl_core.data.splits import VideoEntry

    entries = []
    for i, video in enumerate(moving_videos(6)):
        write_video(tmp_path / f"{i}.avi", video)
        entries.append(VideoEntry(tmp_path / f"{i}.avi", i % 2, "C", f"C/{i}"))
    videos = VideoCollection(entries, CLIP, ["a", "b"])
    config = PretrainConfig(epochs=3, batch_size=3, lr=1e-3, optimiser="adam", weight_decay=1e-5)
    options = {"stage_split": 0.34, "queue_start_epoch": 1, "queue_size": 6}

    def run(state=None, stop_after=None):
        return pretrain_until(lambda: mfo(options), videos, config, state, stop_after)

    full, _ = run()
    _, states = run(stop_after=1)
    resumed, _ = run(state=states[-1])
    assert "queue_a" in states[-1]["model"] and "prototypes.weight" in states[-1]["model"]
    assert int(full.queue_count) == 18
    # the loop told the method each epoch and its steps (stage split, queue start): 6 videos, batch 3
    assert (full.epoch, full.epochs, full.steps_per_epoch) == (2, 3, 2)
    for (name, a), b in zip(full.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), name


# --------------------------------------------------------------------------- DDP


def _ddp_losses(rank: int, world: int, init_file: str, embeddings: dict, out: str) -> None:
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    try:
        method = mfo()
        method.on_epoch_start(20, 30)
        method.train()
        size = len(embeddings["ins_a"]) // world
        local = {name: value[rank * size:(rank + 1) * size].clone().requires_grad_(True) for name, value in embeddings.items()}
        losses = method.losses(local)
        total = sum(method.loss_weights(losses)[name] * value for name, value in losses.items())
        total.backward()
        torch.save({"losses": {k: v.detach() for k, v in losses.items()}, "grad": local["ins_a"].grad}, f"{out}.{rank}")
    finally:
        dist.destroy_process_group()


def test_two_gloo_workers_give_the_single_process_loss_on_the_concatenated_batch(tmp_path):
    import torch.multiprocessing as mp

    method = mfo()
    method.on_epoch_start(20, 30)
    method.train()
    with torch.no_grad():
        embeddings = {name: value.detach() for name, value in method.embed(batch_for(method, 6)).items()}
    single = {name: value.clone().requires_grad_(True) for name, value in embeddings.items()}
    losses = method.losses(single)
    sum(method.loss_weights(losses)[name] * value for name, value in losses.items()).backward()
    out = str(tmp_path / "ddp")
    mp.spawn(_ddp_losses, args=(2, str(tmp_path / "init"), embeddings, out), nprocs=2, join=True)
    for rank in range(2):
        result = torch.load(f"{out}.{rank}", weights_only=True)
        assert set(result["losses"]) == set(losses)
        for name, value in losses.items():
            torch.testing.assert_close(result["losses"][name], value.detach(), rtol=1e-5, atol=1e-6)
        # DDP averages the two ranks' parameter gradients; each rank's loss is the full loss, so the
        # gradient reaching its rows is world x the single-process gradient of those rows
        torch.testing.assert_close(result["grad"] / 2, single["ins_a"].grad[3 * rank:3 * (rank + 1)], rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("backbone", ["c3d", "r21d_vcop", "r2plus1d_18", "r3d_18", "r3d_18_hara", "r3d_vcop", "s3d", "slowfast"])
def test_mfo_trains_on_every_backbones_levels(backbone):
    from ssl_core.backbones import list_backbones

    assert backbone in list_backbones()
    method = mfo(backbone=backbone)
    method.on_epoch_start(20, 30)
    method.train()
    loss, metrics = method(batch_for(method))
    loss.backward()
    assert torch.isfinite(loss) and {"pretext/loss_ins", "pretext/loss_sem", "pretext/loss_mul_low"} <= set(metrics)
    assert all(p.grad is not None for p in method.backbone.parameters())


def test_every_registered_backbone_is_in_the_backbone_test():
    from ssl_core.backbones import list_backbones

    assert list_backbones() == ["c3d", "r21d_vcop", "r2plus1d_18", "r3d_18", "r3d_18_hara", "r3d_vcop", "s3d", "slowfast"]
