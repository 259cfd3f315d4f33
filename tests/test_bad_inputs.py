"""Bad inputs get a one-line error, exit code 2 and nothing written (issue 13, items 7 and 8)."""
import shutil

import cv2
import numpy as np
import pytest
import ray

from ray_jobs.cli import run_study_cli
from ssl_core.data.config import ClipConfig
from ssl_core.data.dataset import VideoCollection
from ssl_core.data.splits import VideoEntry
from ssl_core.data.video import read_video
from ssl_core.eval.__main__ import main as eval_main
from test_splits import _ucf_tree
from tiny_study import tiny_study


def frame_folder(folder, numbers, name="img_{:05d}.jpg"):
    folder.mkdir(parents=True)
    for number in numbers:
        cv2.imwrite(str(folder / name.format(number)), np.full((8, 8, 3), 10 * number, np.uint8))
    return folder


def test_a_frame_folder_with_a_missing_middle_frame_is_skipped_and_listed(tmp_path):
    from ssl_core.data.video import FrameGapError

    gap = frame_folder(tmp_path / "C/v_gap", [n for n in range(1, 13) if n != 10])
    whole = frame_folder(tmp_path / "C/v_whole", range(1, 13))
    with pytest.raises(FrameGapError, match="gap: img_00010 missing"):
        read_video(gap)
    assert read_video(whole).shape == (12, 8, 8, 3)
    entries = [VideoEntry(gap, 0, "C", "C/v_gap"), VideoEntry(whole, 0, "C", "C/v_whole")]
    videos = VideoCollection(entries, ClipConfig(num_frames=8, stride=1, resize=(8, 8), crop=8), ["C"], name="frames")
    assert [e.video_id for e in videos.entries] == ["C/v_whole"]
    assert [(s.kind, s.reason) for s in videos.skipped] == [("gap", "gap: img_00010 missing")]


def test_a_rawframes_folder_gives_its_img_frames_and_an_ambiguous_one_is_skipped(tmp_path):
    """mmaction's rawframes layout keeps the flow images beside the RGB ones: only img_ are frames."""
    from ssl_core.data.video import MixedFramesError

    rawframes = frame_folder(tmp_path / "C/v_raw", range(1, 9))
    for axis in ("x", "y"):
        for number in range(1, 8):
            cv2.imwrite(str(rawframes / f"flow_{axis}_{number:05d}.jpg"), np.full((8, 8), 255, np.uint8))
    cv2.imwrite(str(rawframes / "thumb.jpg"), np.zeros((8, 8, 3), np.uint8))
    video = read_video(rawframes)
    # 8 frames, each the value its number gave it (10 * n, within JPEG error), in order
    assert video.shape == (8, 8, 8, 3)
    np.testing.assert_allclose(video.reshape(8, -1).mean(axis=1), [10 * n for n in range(1, 9)], atol=2)
    ambiguous = frame_folder(tmp_path / "C/v_ambiguous", range(1, 9), name="{:05d}.jpg")
    cv2.imwrite(str(ambiguous / "thumb.jpg"), np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(MixedFramesError, match="several name patterns"):
        read_video(ambiguous)
    entries = [VideoEntry(rawframes, 0, "C", "C/v_raw"), VideoEntry(ambiguous, 0, "C", "C/v_ambiguous")]
    videos = VideoCollection(entries, ClipConfig(num_frames=8, stride=1, resize=(8, 8), crop=8), ["C"], name="frames")
    assert [e.video_id for e in videos.entries] == ["C/v_raw"]
    assert [s.kind for s in videos.skipped] == ["mixed_frames"]


def test_a_flow_folder_with_a_missing_image_is_refused(tmp_path):
    from ssl_core.data.video import FrameGapError
    from ssl_core.labels.flow import read_precomputed_flow

    for axis in ("u", "v"):
        frame_folder(tmp_path / axis / "v_X", [n for n in range(1, 9) if n != 5], name="frame{:06d}.jpg")
    with pytest.raises(FrameGapError, match="frame000005 missing"):
        read_precomputed_flow(tmp_path, "v_X")


@pytest.mark.parametrize("names, missing", [
    (["img_00001", "img_00002", "img_00004"], "img_00003"),
    (["img_1", "img_2", "img_3"], None),
    (["frame0007", "frame0008", "frame0010"], "frame0009"),
    (["img_00002", "img_00003"], None),  # a folder may start anywhere
    (["a", "b"], None),  # not numbered: not checked
    (["img_00001", "flow_00003"], None),  # two prefixes: not one run of frames
])
def test_first_missing_frame(tmp_path, names, missing):
    from ssl_core.data.video import first_missing_frame

    assert first_missing_frame([tmp_path / f"{name}.jpg" for name in names]) == missing


@pytest.fixture
def roots(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    no_videos = _ucf_tree(tmp_path / "no_videos")
    shutil.rmtree(no_videos / "UCF-101")
    checkpoint = tmp_path / "checkpoint"
    checkpoint.mkdir()
    return {"empty": empty, "no_videos": no_videos, "checkpoint": checkpoint}


@pytest.mark.parametrize("case, args, message", [
    ("width 0", ["--width", "0"], "backbone.width: must be > 0, got 0"),
    ("empty checkpoint", ["--checkpoint", "{checkpoint}"], "not a backbone checkpoint (backbone.pt missing)"),
    ("empty root", ["--ucf-root", "{empty}", "--datasets", "ucf"], "no UCF101 split files"),
    ("no existing video", ["--ucf-root", "{no_videos}", "--datasets", "ucf"], "split 1 train lists 2 videos and none of them exists"),
])
def test_eval_cli_bad_inputs(tmp_path, roots, capsys, case, args, message):
    out = tmp_path / "out"
    args = [arg.format(**roots) for arg in args]
    assert eval_main(["--preset", "smoke", "--out", str(out), "--data-dir", str(tmp_path / "data"), *args]) == 2
    error = capsys.readouterr().err
    assert message in error and len(error.strip().splitlines()) == 1, error
    assert not out.exists() and not (tmp_path / "data").exists()


@pytest.mark.parametrize("root, message", [("empty", "no UCF101 split files"), ("no_videos", "none of them exists")])
def test_study_with_a_dataset_root_without_videos_fails_before_ray(tmp_path, roots, capsys, root, message):
    study = tiny_study(str(tmp_path / "data"))
    code = run_study_cli(study, ["--preset", "smoke", "--out", str(tmp_path / "out"), "--set", f"data.ucf_root={roots[root]}"])
    error = capsys.readouterr().err
    assert code == 2 and f"ucf root {roots[root]}" in error and message in error, error
    assert not (tmp_path / "out").exists() and not ray.is_initialized()
