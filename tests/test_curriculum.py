"""Dataset scale (1/k) and the STS curriculum schedules, alone and inside the training loop."""
import numpy as np
import pytest
import torch

from conftest import coloured_frames, write_video
from ssl_core.backbones import build_backbone
from ssl_core.config import ConfigError
from ssl_core.curriculum import CurriculumConfig, active_indices, subset_indices
from ssl_core.data.config import ClipConfig
from ssl_core.data.dataset import VideoCollection
from ssl_core.data.splits import VideoEntry
from ssl_core.methods import MethodConfig, build_method
from ssl_core.pretrain import PretrainConfig, pretrain


@pytest.mark.parametrize("k, expected", [
    (1, list(range(8))),
    (2, [0, 2, 4, 6]),
    (4, [0, 4]),
    (4 / 3, [0, 1, 2, 4, 5, 6]),  # half (even), then one in two of the rest (1 mod 4)
])
def test_one_in_k_subsets(k, expected):
    assert subset_indices(8, k).tolist() == expected


def test_subset_sizes_follow_one_over_k():
    for k in (16, 8, 4, 2, 4 / 3, 1):
        assert len(subset_indices(96, k)) == 96 / k


SCORES = np.array([0.1, 0.9, 0.5, 0.7, 0.3])  # easy -> hard: 1, 3, 2, 4, 0


@pytest.mark.parametrize("curriculum, expected", [
    ("none", [0, 1, 2, 3, 4]),
    ("easiest_half", [1, 2, 3]),  # ceil(5 / 2) easiest
    ("hardest_half", [0, 4]),  # floor(5 / 2) hardest
])
def test_halves_by_descending_score(curriculum, expected):
    config = CurriculumConfig(curriculum=curriculum)
    assert active_indices(config, 5, epoch=3, epochs=4, seed=0, scores=SCORES).tolist() == expected


def test_easy_first_switches_to_everything_at_the_switch_epoch():
    config = CurriculumConfig(curriculum="easy_first", switch_at=0.5)
    assert [active_indices(config, 5, e, 4, 0, SCORES).tolist() for e in range(4)] == [[1, 2, 3], [1, 2, 3]] + [[0, 1, 2, 3, 4]] * 2


def test_random_half_is_seeded_and_the_same_every_epoch():
    config = CurriculumConfig(curriculum="random_half")
    halves = {tuple(active_indices(config, 10, e, 4, seed=3)) for e in range(4)}
    assert len(halves) == 1 and len(next(iter(halves))) == 5
    others = {tuple(active_indices(config, 10, 0, 4, seed=s)) for s in range(10)}
    assert len(others) > 1


def test_curriculum_applies_to_the_subset():
    config = CurriculumConfig(curriculum="easiest_half", data_fraction_k=2)
    scores = np.array([0.0, 9.0, 1.0, 9.0, 2.0, 9.0])  # kept: 0, 2, 4 -> easiest two: 4, 2
    assert active_indices(config, 6, 0, 1, 0, scores).tolist() == [2, 4]


@pytest.mark.parametrize("fields, field", [
    ({"curriculum": "hard_first"}, "curriculum"),
    ({"switch_at": 1.5}, "switch_at"),
    ({"data_fraction_k": 1.5}, "data_fraction_k"),
    ({"data_fraction_k": 0.5}, "data_fraction_k"),
])
def test_bad_schedules_name_the_field(fields, field):
    with pytest.raises(ConfigError, match=f"pretrain.schedule.{field}"):
        PretrainConfig(schedule=CurriculumConfig(**fields)).validate()


CLIP = ClipConfig(num_frames=4, stride=1, resize=(20, 20), crop=16)


def _videos(tmp_path, count=6):
    entries = []
    for i in range(count):
        write_video(tmp_path / f"{i}.avi", np.roll(coloured_frames(8, 20, 20, (40 * i, 90, 200)), i, axis=2))
        entries.append(VideoEntry(tmp_path / f"{i}.avi", i % 2, "C", f"C/{i}"))
    return VideoCollection(entries, CLIP, ["a", "b"])


def test_training_loop_visits_the_scheduled_videos(tmp_path):
    videos = _videos(tmp_path)
    method = build_method(MethodConfig("rotation"), build_backbone("r3d_18", width=0.125))
    scores = np.array([0.2, 0.1, 0.9, 0.8, 0.7, 0.0])
    method.curriculum_scores = lambda _: scores
    seen, per_epoch = [], []
    sample_video = method.sample_video
    method.sample_video = lambda v, index, rng: seen.append(index) or sample_video(v, index, rng)
    schedule = CurriculumConfig(curriculum="easy_first", switch_at=0.5)
    config = PretrainConfig(epochs=2, batch_size=3, lr=0.01, schedule=schedule)

    def on_epoch_end(metrics, state):
        per_epoch.append((metrics["pretext/videos"], sorted(seen)))
        seen.clear()

    pretrain(method, videos, config, seed=0, on_epoch_end=on_epoch_end)
    assert per_epoch == [(3, [2, 3, 4]), (6, [0, 1, 2, 3, 4, 5])]


def test_a_method_without_scores_rejects_a_scored_curriculum(tmp_path):
    method = build_method(MethodConfig("rotation"), build_backbone("r3d_18", width=0.125))
    config = PretrainConfig(epochs=1, batch_size=2, schedule=CurriculumConfig(curriculum="hardest_half"))
    with pytest.raises(ConfigError, match="pretrain.schedule.curriculum"):
        pretrain(method, _videos(tmp_path, 2), config, seed=0)


def test_sts_scores_rank_a_moving_clip_above_a_static_one(tmp_path):
    frames = coloured_frames(8, 32, 32, (20, 20, 20))
    static = np.repeat(frames[:1], 8, axis=0)
    moving = static.copy()
    for t in range(8):
        moving[t, 4:12, 2 + 2 * t: 10 + 2 * t] = 230
    entries = []
    for name, video in (("static", static), ("moving", moving)):
        write_video(tmp_path / f"{name}.avi", video)
        entries.append(VideoEntry(tmp_path / f"{name}.avi", 0, "C", f"C/{name}"))
    clip = ClipConfig(num_frames=6, stride=1, resize=(32, 32), crop=24)
    videos = VideoCollection(entries, clip, ["C"])
    torch.manual_seed(0)
    method = build_method(MethodConfig("sts"), build_backbone("c3d", width=0.125), clip)
    scores = method.curriculum_scores(videos)
    assert scores[0] == 0.0 and scores[1] > 0.1
