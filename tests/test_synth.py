"""Tests of the embedded synthetic dataset (ssl_core.data.synth), at tiny sizes."""
from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from ssl_core.data import synth

REPO_ROOT = Path(__file__).resolve().parents[1]
TINY_UCF = dict(width=32, height=32, num_frames=20, groups=3, clips_per_group=1)
TINY_HMDB = dict(width=24, height=24, num_frames=16, groups=8, clips_per_group=1)


def decode(path) -> np.ndarray:
    cap = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, bgr = cap.read()
        if not ok:
            break
        frames.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    cap.release()
    assert frames, f"{path} does not decode"
    return np.stack(frames)


def read_lines(path: Path) -> list[str]:
    return path.read_bytes().decode().splitlines()


def all_files(root: Path) -> dict[str, int]:
    return {str(p.relative_to(root)): p.stat().st_mtime_ns for p in root.rglob("*") if p.is_file()}


@pytest.fixture(scope="module")
def ucf_root(tmp_path_factory) -> Path:
    return synth.generate_dataset(tmp_path_factory.mktemp("u") / "ucf", "ucf", seed=0, **TINY_UCF)


@pytest.fixture(scope="module")
def hmdb_root(tmp_path_factory) -> Path:
    return synth.generate_dataset(tmp_path_factory.mktemp("h") / "hmdb", "hmdb", seed=3, **TINY_HMDB)


# ---------------------------------------------------------------------------- determinism
def test_same_seed_identical_different_seed_differs(ucf_root, tmp_path):
    again = synth.generate_dataset(tmp_path / "again", "ucf", seed=0, **TINY_UCF)
    other = synth.generate_dataset(tmp_path / "other", "ucf", seed=1, **TINY_UCF)
    split_files = sorted(p.name for p in (ucf_root / synth.UCF_SPLIT_DIR).iterdir())
    assert len(split_files) == 7
    for name in split_files:
        a = (ucf_root / synth.UCF_SPLIT_DIR / name).read_bytes()
        assert a == (again / synth.UCF_SPLIT_DIR / name).read_bytes()
    rel = synth.video_relpath("ucf", "ZoomIn", 2, 1)
    np.testing.assert_array_equal(decode(ucf_root / rel), decode(again / rel))
    assert not np.array_equal(decode(ucf_root / rel), decode(other / rel))
    # the rendered clip is deterministic too
    a = synth.render_clip("hmdb", "orbit", seed=5, group=2, clip=3, width=32, height=32, num_frames=16)
    b = synth.render_clip("hmdb", "orbit", seed=5, group=2, clip=3, width=32, height=32, num_frames=16)
    np.testing.assert_array_equal(a.frames, b.frames)


# ---------------------------------------------------------------------------- UCF layout
def test_ucf_layout(ucf_root):
    split_dir = ucf_root / synth.UCF_SPLIT_DIR
    raw = (split_dir / "classInd.txt").read_bytes()
    assert raw.endswith(b"\r\n") and raw.count(b"\r\n") == len(synth.UCF_CLASSES)
    class_ind = {}
    for i, line in enumerate(read_lines(split_dir / "classInd.txt")):
        idx, name = line.split(" ")
        assert int(idx) == i + 1
        class_ind[name] = int(idx)
    assert list(class_ind) == list(synth.UCF_CLASSES)

    decoded: dict[str, tuple] = {}
    every_video = {str(p.relative_to(ucf_root / synth.UCF_VIDEO_DIR)) for p in
                   (ucf_root / synth.UCF_VIDEO_DIR).rglob("*.avi")}
    assert len(every_video) == 12 * TINY_UCF["groups"] * TINY_UCF["clips_per_group"]
    pattern = re.compile(r"^([A-Za-z]+)/v_\1_g(\d\d)_c(\d\d)\.avi$")
    for k in (1, 2, 3):
        for kind in ("train", "test"):
            raw = (split_dir / f"{kind}list{k:02d}.txt").read_bytes()
            assert raw.endswith(b"\r\n") and b"\n" not in raw.replace(b"\r\n", b"")
        train_groups, test_groups, listed = set(), set(), set()
        for line in read_lines(split_dir / f"trainlist{k:02d}.txt"):
            rel, label = line.split(" ")
            m = pattern.match(rel)
            assert m, rel
            assert int(label) == class_ind[m.group(1)]
            train_groups.add(int(m.group(2)))
            listed.add(rel)
        for line in read_lines(split_dir / f"testlist{k:02d}.txt"):
            assert " " not in line
            m = pattern.match(line)
            assert m, line
            test_groups.add(int(m.group(2)))
            listed.add(line)
        assert test_groups == set(synth.ucf_test_groups(TINY_UCF["groups"], k)) == {k}
        assert not train_groups & test_groups
        assert listed == every_video
        for rel in listed:
            if rel not in decoded:
                decoded[rel] = decode(ucf_root / synth.UCF_VIDEO_DIR / rel).shape
            assert decoded[rel] == (TINY_UCF["num_frames"], 32, 32, 3)


def test_ucf_test_groups_are_thirds():
    assert [synth.ucf_test_groups(8, k) for k in (1, 2, 3)] == [[1, 2, 3], [4, 5], [6, 7, 8]]
    for groups in range(3, 26):
        parts = [synth.ucf_test_groups(groups, k) for k in (1, 2, 3)]
        assert sum(parts, []) == list(range(1, groups + 1))
        assert all(parts) and max(map(len, parts)) - min(map(len, parts)) <= 1


# ---------------------------------------------------------------------------- HMDB layout
def test_hmdb_layout(hmdb_root):
    video_dir, split_dir = hmdb_root / synth.HMDB_VIDEO_DIR, hmdb_root / synth.HMDB_SPLIT_DIR
    assert sorted(p.name for p in video_dir.iterdir()) == sorted(synth.HMDB_CLASSES)
    assert len(list(split_dir.iterdir())) == 3 * len(synth.HMDB_CLASSES)
    shapes = {}
    for cname in synth.HMDB_CLASSES:
        assert cname == cname.lower()
        for k in (1, 2, 3):
            marks: dict[str, int] = {}
            for line in read_lines(split_dir / f"{cname}_test_split{k}.txt"):
                name, mark = line.split()
                assert name.startswith(f"{cname}_") and name.endswith(".avi")
                assert re.fullmatch(rf"{cname}_[A-Za-z0-9]+_\d+\.avi", name), name
                marks[name] = int(mark)
            assert sorted(marks) == sorted(p.name for p in (video_dir / cname).iterdir())
            assert set(marks.values()) <= {0, 1, 2}
            by_group: dict[str, set] = {}
            for name, mark in marks.items():
                by_group.setdefault(name.split("_")[-2], set()).add(mark)
            assert all(len(m) == 1 for m in by_group.values())  # group-disjoint
            group_marks = [m.pop() for m in by_group.values()]
            assert group_marks.count(1) >= 1 and group_marks.count(2) >= 1
            assert group_marks.count(0) == 1  # >= 8 groups: one unused group
            for name in marks:
                if name not in shapes:
                    shapes[name] = decode(video_dir / cname / name).shape
                assert shapes[name] == (16, 24, 24, 3)
    meta = json.loads((hmdb_root / synth.META_FILENAME).read_text())
    assert meta["classes"] == list(synth.HMDB_CLASSES) and meta["num_videos"] == 64
    assert meta["variant"] == "hmdb" and meta["seed"] == 3 and meta["generator_version"] >= 1


@pytest.mark.parametrize("groups", [3, 4, 5, 7, 8, 10, 25])
def test_hmdb_split_marks(groups):
    for cidx in range(len(synth.HMDB_CLASSES)):
        seen = []
        for k in (1, 2, 3):
            marks = synth.hmdb_split_marks(0, cidx, groups, k)
            assert sorted(marks) == list(range(1, groups + 1))
            vals = list(marks.values())
            assert vals.count(1) >= 1 and vals.count(2) >= 1
            assert vals.count(0) == (1 if groups >= 8 else 0)
            n = groups - vals.count(0)
            assert abs(vals.count(2) - 0.3 * n) <= 1
            seen.append(marks)
        if groups >= 8:
            assert len({tuple(m.values()) for m in seen}) > 1  # splits differ


# ---------------------------------------------------------------------------- content
def test_red_object_decodes_red(tmp_path):
    frames = np.full((16, 32, 32, 3), 128, np.uint8)
    frames[:, 8:24, 8:24] = (220, 20, 20)  # RGB red
    synth._write_video(tmp_path / "red.avi", frames, 25.0)
    got = decode(tmp_path / "red.avi")
    centre = got[:, 11:21, 11:21].reshape(-1, 3).astype(int)
    r, g, b = np.median(centre, axis=0)
    assert r > 180 and g < 60 and b < 60


def test_object_colour_survives_encoding(tmp_path):
    for cname, group in (("MoveRight", 1), ("ZoomOut", 2), ("OscillateVertical", 3)):
        clip = synth.render_clip("ucf", cname, seed=0, group=group, clip=1, width=64, height=64,
                                 num_frames=16)
        synth._write_video(tmp_path / "c.avi", clip.frames, 25.0)
        got = decode(tmp_path / "c.avi")
        kernel = np.ones((3, 3), np.uint8)
        inner = np.stack([cv2.erode(m.astype(np.uint8), kernel) for m in clip.masks]).astype(bool)
        assert inner.sum() > 50
        median = np.median(got[inner].astype(int), axis=0)
        assert np.abs(median - np.array(clip.object_rgb)).max() < 30, (cname, median, clip.object_rgb)


def _centroid_x(frames: np.ndarray, background: np.ndarray) -> list[float]:
    diff = np.abs(frames.astype(int) - background.astype(int)).max(axis=3)
    xs = []
    for d in diff:
        ys, x = np.nonzero(d > 45)
        if len(x) >= 4:
            xs.append(float(x.mean()))
    return xs


@pytest.mark.parametrize("cname,sign", [("MoveRight", 1), ("MoveLeft", -1)])
def test_horizontal_motion_direction(ucf_root, cname, sign):
    for group in range(1, TINY_UCF["groups"] + 1):
        video = decode(ucf_root / synth.video_relpath("ucf", cname, group, 1))
        clip = synth.render_clip("ucf", cname, seed=0, group=group, clip=1, width=32, height=32,
                                 num_frames=20)
        assert np.abs(video.astype(int) - clip.frames.astype(int)).mean() < 14  # same content
        xs = _centroid_x(video, clip.background)
        assert len(xs) >= 12
        assert sign * np.median(np.diff(xs)) > 0.3, (group, xs)
        mask_x = [np.nonzero(m)[1].mean() for m in clip.masks if m.any()]
        assert sign * np.median(np.diff(mask_x)) > 0.3


def test_rotation_zoom_and_pan():
    for group in (1, 2, 3):
        for cname, sign in (("RotateClockwise", 1), ("RotateCounterClockwise", -1)):
            clip = synth.render_clip("ucf", cname, seed=1, group=group, clip=1, width=64,
                                     height=64, num_frames=16, pan=False)
            # the dark marker inside the object turns clockwise on screen (y points down)
            obj = np.array(clip.object_rgb, float).sum()
            angles = []
            for frame, mask, (cx, cy) in zip(clip.frames, clip.masks, clip.centers):
                dark = mask & (frame.astype(float).sum(axis=2) < 0.6 * obj)
                ys, xs = np.nonzero(dark)
                angles.append(math.atan2(ys.mean() - cy, xs.mean() - cx))
            steps = np.angle(np.exp(1j * np.diff(angles)))
            assert sign * np.median(steps) > 0.05, (cname, group, steps)
        zin = synth.render_clip("ucf", "ZoomIn", seed=1, group=group, clip=1, width=64, height=64,
                                num_frames=16)
        zout = synth.render_clip("ucf", "ZoomOut", seed=1, group=group, clip=1, width=64,
                                 height=64, num_frames=16)
        assert zin.masks[-1].sum() > 1.3 * zin.masks[0].sum()
        assert zout.masks[-1].sum() < zout.masks[0].sum() / 1.3
    still = synth.render_clip("ucf", "MoveUp", seed=0, group=1, clip=1, width=32, height=32,
                              num_frames=16, pan=False)
    moving = synth.render_clip("ucf", "MoveUp", seed=0, group=1, clip=1, width=32, height=32,
                               num_frames=16, pan=True)
    np.testing.assert_array_equal(still.background[0], still.background[-1])
    assert not np.array_equal(moving.background[0], moving.background[-1])
    assert moving.panned and not still.panned


def test_pan_fraction_and_sizes():
    panned, extents = [], []
    for cname in synth.UCF_CLASSES:
        for group in (1, 2, 3):
            clip = synth.render_clip("ucf", cname, seed=0, group=group, clip=1, width=32,
                                     height=32, num_frames=16)
            panned.append(clip.panned)
            assert clip.masks.any(axis=(1, 2)).all()  # object visible in every frame
            if cname not in ("ZoomIn", "ZoomOut"):
                extents.append(clip.extents.mean() / 32)
    assert 0.15 < np.mean(panned) < 0.55
    # generator v4: objects of 0.28..0.42 S (larger than v1's 0.20..0.35, so that motion is
    # visible at the default preset's 32 px crops)
    assert 0.26 <= min(extents) and max(extents) <= 0.44


# ---------------------------------------------------------------------------- caching
def test_second_call_is_noop_and_conflicts_raise(ucf_root, tmp_path):
    before = all_files(ucf_root)
    assert synth.generate_dataset(ucf_root, "ucf", seed=0, **TINY_UCF) == ucf_root
    assert all_files(ucf_root) == before
    with pytest.raises(FileExistsError, match="different parameters"):
        synth.generate_dataset(ucf_root, "ucf", seed=1, **TINY_UCF)
    other = tmp_path / "not_a_dataset"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="not a synthetic dataset"):
        synth.generate_dataset(other, "ucf", **TINY_UCF)
    assert (other / "notes.txt").read_text() == "mine"
    empty = tmp_path / "empty"
    empty.mkdir()
    small = dict(TINY_UCF, num_frames=16, width=16, height=16)
    assert synth.generate_dataset(empty, "hmdb", **dict(small, groups=3)) == empty.absolute()
    assert (empty / synth.META_FILENAME).exists()


def test_interrupted_run_leaves_nothing(tmp_path, monkeypatch):
    calls = {"n": 0}
    real = synth._write_video

    def flaky(path, frames, fps):
        calls["n"] += 1
        if calls["n"] == 5:
            raise KeyboardInterrupt("simulated interruption")
        real(path, frames, fps)

    monkeypatch.setattr(synth, "_write_video", flaky)
    root = tmp_path / "ds"
    with pytest.raises(KeyboardInterrupt):
        synth.generate_dataset(root, "ucf", **TINY_UCF)
    assert not root.exists()
    assert list(tmp_path.iterdir()) == []  # no temporary sibling left behind either


def test_ensure_dataset(tmp_path):
    sizes = dict(width=16, height=16, num_frames=16, groups=3, clips_per_group=1)
    root = synth.ensure_dataset(tmp_path, "hmdb", seed=2, **sizes)
    assert root.parent == tmp_path.absolute()
    assert re.fullmatch(r"synth_hmdb_[0-9a-f]{10}", root.name)
    before = all_files(root)
    assert synth.ensure_dataset(tmp_path, "hmdb", seed=2, **sizes) == root
    assert all_files(root) == before
    assert synth.params_hash("hmdb", 2, **sizes) != synth.params_hash("hmdb", 3, **sizes)
    assert synth.params_hash("hmdb", 2, **sizes) != synth.params_hash("ucf", 2, **sizes)
    with pytest.raises(ValueError, match="frames_per_video"):
        synth.ensure_dataset(tmp_path, "hmdb", frames_per_video=16)


@pytest.mark.parametrize("kwargs,name", [
    (dict(width=8), "width"),
    (dict(height=15), "height"),
    (dict(num_frames=10), "num_frames"),
    (dict(groups=2), "groups"),
    (dict(clips_per_group=0), "clips_per_group"),
    (dict(fps=0), "fps"),
    (dict(seed=-1), "seed"),
    (dict(width=32.5), "width"),
    (dict(variant="kinetics"), "variant"),
])
def test_bad_arguments(tmp_path, kwargs, name):
    with pytest.raises(ValueError, match=name):
        synth.generate_dataset(tmp_path / "x", **kwargs)
    assert not (tmp_path / "x").exists()


# ---------------------------------------------------------------------------- CLI
def test_cli(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    cmd = [sys.executable, "-m", "ssl_core.data.synth", "--out", str(tmp_path / "cli"),
           "--variant", "hmdb", "--seed", "4", "--width", "16", "--height", "16", "--frames",
           "16", "--groups", "3", "--clips-per-group", "1", "--fps", "10"]
    res = subprocess.run(cmd, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert "classes=8" in res.stdout and "videos=24" in res.stdout and "seconds=" in res.stdout
    assert str(tmp_path / "cli") in res.stdout
    meta = json.loads((tmp_path / "cli" / synth.META_FILENAME).read_text())
    assert meta["fps"] == 10.0 and meta["seed"] == 4
    bad = subprocess.run(cmd[:-4] + ["--groups", "2", "--fps", "10"], cwd=REPO_ROOT, env=env,
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "groups" in bad.stderr


def test_orientation_cues_and_scene_sharing():
    """Generator v4: every frame shows which way is up (a floor band at the bottom, light
    from above), ucf scenes are shared by all classes of a group, objects vary per clip."""
    for cname in ("MoveRight", "RotateClockwise", "ZoomIn"):
        clip = synth.render_clip("ucf", cname, seed=0, group=2, clip=1, width=64, height=64,
                                 num_frames=16, pan=False)
        bg = clip.background.astype(float).mean(axis=(0, 3))  # (H, W) mean brightness
        top, bottom = bg[:8].mean(), bg[-8:].mean()
        assert bottom < top - 15, (cname, top, bottom)
        rows = bg.mean(axis=1)
        assert np.abs(np.diff(rows)).max() > 10  # the horizon edge
    grp_a = synth._render_group("ucf", 0, 2, 0, 32, 32, 16)
    grp_b = synth._render_group("ucf", 9, 2, 0, 32, 32, 16)
    np.testing.assert_array_equal(grp_a.canvas, grp_b.canvas)  # one scene per ucf group
    h1 = synth._render_group("hmdb", 0, 2, 0, 32, 32, 16)
    h2 = synth._render_group("hmdb", 1, 2, 0, 32, 32, 16)
    assert not np.array_equal(h1.canvas, h2.canvas)  # hmdb: per (class, group)
    objects = {(c.shape, c.object_rgb) for c in
               (synth.render_clip("ucf", "MoveUp", seed=0, group=1, clip=k, width=32, height=32,
                                  num_frames=16) for k in (1, 2, 3, 4))}
    assert len(objects) > 1  # the object is drawn per clip


def test_data_config_root_is_pure_and_ensure_datasets_generates(tmp_path):
    from ssl_core.data.config import DataConfig, SynthConfig, ensure_datasets

    data = DataConfig(data_dir=str(tmp_path), synth=SynthConfig(width=32, height=32, num_frames=16, groups=3, clips_per_group=1))
    root = data.root("hmdb")
    assert not root.exists() and list(tmp_path.iterdir()) == []  # naming a dataset generates nothing
    assert ensure_datasets(data, ["hmdb"]) == {"hmdb": root} and root.is_dir()
    given = DataConfig(hmdb_root=str(root))
    assert given.root("hmdb") == root and ensure_datasets(given, ["hmdb"]) == {"hmdb": root}
