"""The STS pretext method: sampler labels, heads, losses, options."""
import numpy as np
import pytest
import torch

from conftest import losses_on_fixed_batch
from ssl_core.backbones import build_backbone
from ssl_core.config import ConfigError
from ssl_core.data.config import ClipConfig
from ssl_core.labels.flow import compute_flow, decode_flow_jpeg, encode_flow_jpeg
from ssl_core.labels.sts import compute_labels, flip_clip, labels_2d, location_coordinates
from ssl_core.methods import MethodConfig, build_method
from ssl_core.methods.sts import STSOptions
from ssl_core.samplers.sts import clip_labels

CLIP = ClipConfig(num_frames=6, stride=1, resize=(32, 32), crop=24)


def moving_square_video(frames=8, size=32, step=2):
    """A bright square moving right over a dark textured background."""
    rng = np.random.default_rng(1)
    background = rng.integers(0, 60, (size, size, 3), dtype=np.uint8)
    video = np.repeat(background[None], frames, axis=0)
    for t in range(frames):
        video[t, 10:18, 4 + step * t : 12 + step * t] = (230, 40, 40)
    return video


def test_clip_labels_crop_flow_after_computing_it_on_the_full_frames():
    video = moving_square_video()
    options = STSOptions(label_impl="paper")
    rgb, labels = clip_labels(video, 4, 2, 24, flip=True, flow=options.flow, label_impl=options.label_impl)
    # independent composition: flow on the full frames, official 8-bit quantisation, crop, flip (paper negates u), labels
    u, v = (decode_flow_jpeg(encode_flow_jpeg(f)) for f in compute_flow(video, "dis"))
    window = (slice(None), slice(4, 28), slice(2, 26))
    expected_rgb, eu, ev = flip_clip(video[window], u[window], v[window], "paper")
    expected = compute_labels(np.ascontiguousarray(expected_rgb), eu, ev, "paper")
    assert np.array_equal(rgb, expected_rgb)
    assert list(labels) == list(expected["motion"]) + list(expected["appearance"])


def _method(target, groups=None):
    torch.manual_seed(0)
    options = {"target": target} if groups is None else {"target": target, "groups": groups}
    return build_method(MethodConfig("sts", options), build_backbone("c3d", width=0.125), CLIP)


def test_sample_gives_the_selected_labels():
    method = _method("regression", ["motion_p1", "appearance_global"])
    item = method.sample(moving_square_video(), CLIP, np.random.default_rng(0))
    assert item["clip"].shape == (3, 6, 24, 24) and item["labels"].shape == (5,)
    assert method.head.out_features == 5


@pytest.mark.parametrize("target", ["regression", "regression_2d", "classification"])
def test_loss_falls_on_a_fixed_batch(target):
    method = _method(target)
    videos = [np.roll(moving_square_video(), shift, axis=2) for shift in range(0, 16, 2)]
    items = [method.sample(v, CLIP, np.random.default_rng(i)) for i, v in enumerate(videos)]
    batch = torch.utils.data.default_collate(items)
    losses, metrics = losses_on_fixed_batch(method, batch, steps=30, lr=3e-3)
    assert losses[-1] < 0.5 * losses[0]
    assert 0.0 <= float(metrics["pretext/acc"]) <= 1.0


def test_classification_heads_are_sized_by_label_range():
    method = _method("classification", ["motion_p1", "motion_global"])
    # u_loc1 16+1, u_ori1 8+1, v_loc1 16+1, v_ori1 8+1, u_global / v_global (6 frames -> 5)+1
    assert [head.out_features for head in method.heads] == [17, 9, 17, 9, 6, 6]


@pytest.mark.parametrize("options, field", [
    ({"target": "2d"}, "method.options.target"),
    ({"target": "regression_3d"}, "method.options.target"),
    ({"groups": ["motion_p4"]}, "method.options.groups"),
    ({"label_impl": "mine"}, "method.options.label_impl"),
    ({"flow": "brox"}, "method.options.flow"),
])
def test_bad_options_name_the_field(options, field):
    with pytest.raises(ConfigError, match=field.replace(".", r"\.")):
        MethodConfig("sts", options).validate()


def test_2d_regression_has_35_outputs_and_coordinate_targets():
    method = _method("regression_2d")
    assert method.head.out_features == 35
    labels = np.ones(27, np.int64)
    labels[0], labels[8], labels[14] = 7, 6, 0  # u_loc1 block 7, u_loc3 triangle 6, div_loc1 0
    targets = method._regression_targets(torch.from_numpy(labels)[None])[0].long().tolist()
    assert targets == labels_2d(labels).tolist()
    assert targets[:3] == [2, 3, 1]  # block 7 -> (row 2, col 3), then u_ori1
    assert targets[10:12] == [3, 2]  # triangle 6 -> (quadrant 3, half 2); after 8 numbers (2 per pattern-1 loc)


def test_2d_label_counts_as_right_only_when_both_coordinates_are():
    method = _method("regression_2d", ["motion_p1"])  # u_loc1 (2 columns), u_ori1, v_loc1 (2), v_ori1
    column_correct = torch.tensor([[1.0, 0.0, 1.0, 1.0, 1.0, 1.0]])
    assert method._label_correct(column_correct).tolist() == [[0.0, 1.0, 1.0, 1.0]]


def test_labels_2d_by_hand():
    labels = np.arange(1, 28) % 8 + 1
    out = labels_2d(labels)
    assert out.shape == (35,)
    # u_loc1 = 2 -> block 2 = (1, 2); u_loc3 = labels[8] = 2 -> triangle 2 = (quadrant 1, half 2)
    assert out[:2].tolist() == [1, 2] and out[10:12].tolist() == [1, 2]
    assert location_coordinates(1)[16].tolist() == [4, 4] and location_coordinates(3)[8].tolist() == [4, 2]


def test_label_store_and_on_the_fly_flow_give_identical_examples_and_scores(tmp_path):
    from ssl_core.data.dataset import load_split
    from ssl_core.data.synth import ensure_dataset
    from ssl_core.labels.store import LabelPipelineConfig, list_videos, plan_shards, store_path, write_manifest, write_shard

    root = ensure_dataset(tmp_path / "data", "ucf", width=32, height=32, num_frames=20, groups=3, clips_per_group=1)
    clip = ClipConfig(num_frames=4, stride=2, resize=(32, 32), crop=24)
    config = LabelPipelineConfig(clip=clip, flow="dis")
    shards = plan_shards(list_videos(root, 1), config.shard_size)
    store_dir = store_path(tmp_path / "labels", root, config)
    for shard in shards:
        write_shard(store_dir, shard, config)
    write_manifest(store_dir, root, shards, config)
    videos = load_split(root, 1, "train", clip)
    backbone = build_backbone("c3d", width=0.125)
    on_the_fly = build_method(MethodConfig("sts"), backbone, clip)
    stored = build_method(MethodConfig("sts", {"label_store": str(store_dir)}), backbone, clip)
    for index in range(0, len(videos), 5):
        a = on_the_fly.sample_video(videos, index, np.random.default_rng(index))
        b = stored.sample_video(videos, index, np.random.default_rng(index))
        assert torch.equal(a["clip"], b["clip"]) and torch.equal(a["labels"], b["labels"])
    assert np.array_equal(on_the_fly.curriculum_scores(videos), stored.curriculum_scores(videos))


def test_a_store_made_for_other_frames_is_refused(tmp_path):
    from ssl_core.labels.store import LabelPipelineConfig

    method = build_method(MethodConfig("sts", {"label_store": str(tmp_path)}), build_backbone("c3d", width=0.125), CLIP)
    method.sampler._store = type("Stored", (), {"config": LabelPipelineConfig(clip=ClipConfig(resize=(64, 64), stride=1))})()
    with pytest.raises(ValueError, match="label store"):
        method.sampler.check_store(CLIP)


def test_a_store_missing_on_this_node_falls_back_to_the_same_flow_on_the_fly(tmp_path):
    video = moving_square_video()
    options = {"label_store": str(tmp_path / "elsewhere")}
    method = build_method(MethodConfig("sts", options), build_backbone("c3d", width=0.125), CLIP)
    with pytest.warns(UserWarning, match="not on this node"):
        assert method.sampler.store is None
    reference = _method("regression").sample(video, CLIP, np.random.default_rng(3))
    item = method.sample(video, CLIP, np.random.default_rng(3))
    assert torch.equal(item["labels"], reference["labels"])


class LongerDecode:
    """``videos`` whose every decode gives ``extra`` frames more than the store's flow covers
    (precomputed flow made by another tool than the decoder)."""

    def __init__(self, videos, extra):
        self.videos, self.extra = videos, extra
        self.entries, self.clip = videos.entries, videos.clip

    def __len__(self):
        return len(self.videos)

    def frames(self, index):
        frames = self.videos.frames(index)
        return np.concatenate([frames, frames[-1:].repeat(self.extra, axis=0)])


def test_a_store_lacking_videos_or_frames_leaves_them_out_instead_of_stopping(tmp_path):
    import warnings

    from ssl_core.data.dataset import load_split
    from ssl_core.data.synth import ensure_dataset
    from ssl_core.labels.store import LabelPipelineConfig, list_videos, plan_shards, store_path, write_manifest, write_shard

    root = ensure_dataset(tmp_path / "data", "ucf", width=32, height=32, num_frames=20, groups=3, clips_per_group=1)
    clip = ClipConfig(num_frames=4, stride=2, resize=(32, 32), crop=24)
    config = LabelPipelineConfig(clip=clip, flow="dis")
    videos = load_split(root, 1, "train", clip)
    missing = {videos.entries[1].video_id, videos.entries[4].video_id}  # as if their flow had failed
    shards = plan_shards([e for e in list_videos(root, 1) if e.video_id not in missing], config.shard_size)
    store_dir = store_path(tmp_path / "labels", root, config)
    for shard in shards:
        write_shard(store_dir, shard, config)
    write_manifest(store_dir, root, shards, config)
    stored = build_method(MethodConfig("sts", {"label_store": str(store_dir)}), build_backbone("c3d", width=0.125), clip)
    usable = stored.pretext_indices(videos)
    assert sorted(set(range(len(videos))) - set(usable.tolist())) == [1, 4]
    scores = stored.curriculum_scores(videos)
    assert np.isnan(scores[[1, 4]]).all() and not np.isnan(np.delete(scores, [1, 4])).any()
    assert build_method(MethodConfig("sts"), build_backbone("c3d", width=0.125), clip).pretext_indices(videos) is None
    # a decode 7 frames longer than the flow: clips come from the frames both cover, as if it were not longer
    longer = LongerDecode(videos, extra=7)
    with pytest.warns(UserWarning, match="decodes to 27 frames but its stored flow covers 20"):
        first = stored.sample_video(longer, 0, np.random.default_rng(0))
    reference = stored.sample_video(videos, 0, np.random.default_rng(0))
    assert torch.equal(first["clip"], reference["clip"]) and torch.equal(first["labels"], reference["labels"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # one warning only
        for seed in range(40):
            stored.sample_video(longer, 2, np.random.default_rng(seed))
