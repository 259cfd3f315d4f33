import json

import numpy as np
import pytest

from conftest import coloured_frames, write_video
from ssl_core.data.config import ClipConfig
from ssl_core.data.dataset import VideoCollection
from ssl_core.data.splits import VideoEntry
from ssl_core.data.video import (
    EmptyVideoError,
    MissingVideoError,
    VideoOpenError,
    read_video,
    require_frames,
    VideoTooShortError,
)


def test_video_file_round_trip_keeps_rgb_order_and_frame_count(tmp_path):
    frames = coloured_frames(12, colour=(220, 30, 30))
    video = read_video(write_video(tmp_path / "v.avi", frames))
    assert video.shape == (12, 24, 32, 3) and video.dtype == np.uint8
    # right half of the first frame is the flat red colour, within MJPEG tolerance
    assert np.abs(video[0, :, 16:].reshape(-1, 3).mean(0) - (220, 30, 30)).max() < 12
    # the white bar grows: frame 10 is white up to column 20
    assert video[10, :, :18].mean() > 240 and video[10, :, 22:, 1].mean() < 60


def test_resize_on_read(tmp_path):
    video = read_video(write_video(tmp_path / "v.avi", coloured_frames(5)), size=(12, 16))
    assert video.shape == (5, 12, 16, 3)


def test_frame_folder_sorted_naturally(tmp_path):
    import cv2

    folder = tmp_path / "v_X_g01_c01"
    folder.mkdir()
    for t in range(12):  # img_2.jpg must come before img_10.jpg
        frame = np.full((8, 8, 3), 20 * t, np.uint8)
        cv2.imwrite(str(folder / f"img_{t + 1}.jpg"), frame)
    video = read_video(folder)
    assert video.shape == (12, 8, 8, 3)
    assert list(np.round(video[:, 4, 4, 0] / 20).astype(int)) == list(range(12))


def _bad_files(tmp_path):
    good = write_video(tmp_path / "good.avi", coloured_frames(20))
    data = good.read_bytes()
    (tmp_path / "truncated.avi").write_bytes(data[: len(data) // 10])
    (tmp_path / "zero.avi").write_bytes(b"")
    (tmp_path / "text.avi").write_text("this is not a video\n" * 50)
    write_video(tmp_path / "three.avi", coloured_frames(3))
    return good


def test_each_bad_file_raises_its_typed_error(tmp_path):
    _bad_files(tmp_path)
    with pytest.raises(VideoOpenError):
        read_video(tmp_path / "truncated.avi")
    with pytest.raises(EmptyVideoError):
        read_video(tmp_path / "zero.avi")
    with pytest.raises(VideoOpenError):
        read_video(tmp_path / "text.avi")
    with pytest.raises(MissingVideoError):
        read_video(tmp_path / "absent.avi")
    with pytest.raises(VideoTooShortError):
        require_frames(read_video(tmp_path / "three.avi"), 8, tmp_path / "three.avi")


def test_collection_skips_bad_videos_and_lists_them(tmp_path):
    _bad_files(tmp_path)
    names = ["good", "truncated", "zero", "text", "three", "absent"]
    entries = [VideoEntry(tmp_path / f"{n}.avi", 0, "C", f"C/{n}") for n in names]
    clip = ClipConfig(num_frames=8, stride=1, resize=(24, 32), crop=16)
    videos = VideoCollection(entries, clip, ["C"], name="bad-files")
    assert len(videos) == 1 and videos.entries[0].video_id == "C/good"
    kinds = {s.path.split("/")[-1]: s.kind for s in videos.skipped}
    assert kinds == {"truncated.avi": "unreadable", "zero.avi": "empty", "text.avi": "unreadable",
                     "three.avi": "too_short", "absent.avi": "missing"}
    assert videos.report() == "bad-files: loaded 1 videos, skipped 5 (1 empty, 1 missing, 1 too_short, 2 unreadable)"
    manifest = json.loads(videos.write_manifest(tmp_path / "out" / "manifest.json").read_text())
    assert manifest["loaded"] == 1 and manifest["skipped"] == 5
    assert {row["kind"] for row in manifest["skipped_videos"]} == {"empty", "missing", "too_short", "unreadable"}


def test_uncached_collection_decodes_on_access(tmp_path):
    write_video(tmp_path / "a.avi", coloured_frames(10))
    clip = ClipConfig(num_frames=4, stride=2, resize=(12, 16), crop=8)
    cached = VideoCollection([VideoEntry(tmp_path / "a.avi", 0, "C", "C/a")], clip, ["C"])
    lazy = VideoCollection([VideoEntry(tmp_path / "a.avi", 0, "C", "C/a")], clip, ["C"], cache=False)
    assert lazy.lengths == cached.lengths == [10]
    assert np.array_equal(lazy.frames(0), cached.frames(0))
