"""CSTP's augmentations in fine-tuning (``eval.finetune.augment``), for the from-scratch rows of
CSTP Tables 1, 2 and 5, and the CSTP studies that use them."""
import runpy
from pathlib import Path

import numpy as np
import pytest

from analysis.paper import load_paper_table
from ssl_core.config import ConfigError
from ssl_core.data.clips import random_training_clip
from ssl_core.data.config import ClipConfig
from ssl_core.eval.finetune import FinetuneConfig, augmented_training_clip

STUDIES = Path(__file__).resolve().parents[1] / "studies"
CLIP = ClipConfig(num_frames=8, stride=2, resize=(32, 32), crop=24)


def frame_coded_video(length=40, size=32):
    """Frame t is filled with t in the red channel, and a bright square in its top-left corner
    (so a quarter turn moves it)."""
    video = np.zeros((length, size, size, 3), dtype=np.uint8)
    video[..., 0] = np.arange(length, dtype=np.uint8)[:, None, None]
    video[:, :8, :8, 1] = 255
    return video


def test_no_augmentation_is_the_plain_training_clip():
    video = frame_coded_video()
    for seed in range(20):
        plain = random_training_clip(video, CLIP, np.random.default_rng(seed), flip=False)
        assert np.array_equal(augmented_training_clip(video, CLIP, (), np.random.default_rng(seed), flip=False), plain)


def test_pace_draws_every_playback_rate_whose_span_fits():
    video = frame_coded_video(40)  # 8 frames at rate 8 span 57 frames: only 1, 2 and 4 fit
    strides = set()
    for seed in range(200):
        clip = augmented_training_clip(video, CLIP, ("pace",), np.random.default_rng(seed), flip=False)
        steps = np.diff(clip[:, 0, 0, 0].astype(int))
        assert len(set(steps)) == 1
        strides.add(int(steps[0]))
    assert strides == {1, 2, 4}


def test_rotation_turns_the_clip_by_a_random_quarter():
    video = frame_coded_video()
    turns = set()
    for seed in range(100):
        clip = augmented_training_clip(video, CLIP, ("rotation",), np.random.default_rng(seed), flip=False)
        rng = np.random.default_rng(seed)
        plain = random_training_clip(video, CLIP, rng, flip=False)
        k = int(rng.integers(4))  # the draw after the window
        assert np.array_equal(clip, np.rot90(plain, k=k, axes=(1, 2)))
        turns.add(k)
    assert turns == {0, 1, 2, 3}


def test_base_augmentation_changes_about_three_clips_in_ten():
    video = frame_coded_video()
    changed = sum(not np.array_equal(augmented_training_clip(video, CLIP, ("base",), np.random.default_rng(seed), flip=False),
                                     random_training_clip(video, CLIP, np.random.default_rng(seed), flip=False))
                  for seed in range(300))
    assert 60 <= changed <= 120  # p = 0.3: 90 expected, sd 8


@pytest.mark.parametrize("augment", [("colour",), ("base", "base"), "base"])
def test_bad_augmentations_name_the_field(augment):
    with pytest.raises(ConfigError, match="finetune.augment"):
        FinetuneConfig(augment=augment).validate()


def test_cstp_table_1_runs_rows_1_to_4_from_scratch_and_no_row_with_contrastive_learning():
    study = runpy.run_path(str(STUDIES / "cstp_augmentation.py"))["STUDY"]
    configs = study.trial_configs("smoke", [0])
    paper = load_paper_table()
    rows = paper[(paper["paper"] == "CSTP") & (paper["table"] == "T1")]
    assert [arm.paper["setting"] for arm in study.arms] == list(dict.fromkeys(rows["setting"]))
    augment = {"base aug": ("base",), "base + pb-rate aug": ("base", "pace"), "base + rotation aug": ("base", "rotation"),
               "base + pb-rate aug + rotation aug": ("base", "pace", "rotation")}
    for arm in study.arms:
        config = configs[(arm.name, 0)]
        if arm.paper["setting"] in augment:
            assert config.method.name == "scratch" and config.eval.finetune.augment == augment[arm.paper["setting"]]
        else:
            options = config.method.typed_options()
            assert config.method.name == "cstp" and options.contrastive == "none" and config.eval.finetune.augment == ()
            assert options.pace_aug == ("pb-rate aug" in arm.paper["setting"])
            assert options.rotation_aug == ("rotation aug" in arm.paper["setting"])
            assert (options.pace, options.rotation, options.stor) == tuple(
                task in arm.paper["setting"] for task in ("pb-rate task", "rotation task", "STOR task"))


def test_the_scratch_rows_of_cstp_tables_2_and_5_train_with_their_tables_augmentation():
    t2, t5 = (runpy.run_path(str(STUDIES / f"{name}.py"))["STUDY"] for name in ("cstp_components", "cstp_overlap_parts"))
    assert t2.trial_configs("smoke", [0])[("scratch", 0)].eval.finetune.augment == ("base", "pace", "rotation")  # 71.1 = T1 row 4
    assert t5.trial_configs("smoke", [0])[("scratch", 0)].eval.finetune.augment == ("base",)  # 60.3 = T1 row 1
