"""Tests of the STS label pipeline: ssl_core.labels.store (no Ray) and ray_jobs.labels (Ray Data).

One tiny generated HMDB-layout dataset (24 videos of 16 frames at 32x32) plus one corrupt
video, one shared local Ray instance (2 CPUs) for the module, and one reference store
written with 1 worker that the other runs are compared with byte for byte.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest
import ray

from ray_jobs import labels
from ssl_core.config import ConfigError
from ssl_core.data.clips import clip_indices
from ssl_core.data.config import ClipConfig
from ssl_core.data.synth import ensure_dataset
from ssl_core.data.video import read_video
from ssl_core.io import read_json
from ssl_core.labels.flow import compute_flow, decode_flow_jpeg, encode_flow_jpeg, tvl1_available
from ssl_core.labels.sts import curriculum_score
from ssl_core.labels.store import (
    CLIP_FIELDS, SCORE_BATCH, FlowStore, LabelPipelineConfig, clip_scores, compute_shard, compute_video_rows, list_videos,
    shard_files, store_path,
)

ROOT = Path(__file__).resolve().parents[1]
CONFIG = LabelPipelineConfig(clip=ClipConfig(num_frames=4, stride=2, resize=(32, 32), crop=24), shard_size=4)


def changed(config: LabelPipelineConfig, **changes) -> LabelPipelineConfig:
    """``config`` with ``changes``; the clip's fields (resize, num_frames, stride, crop) go to its clip."""
    clip = {name: changes.pop(name) for name in CLIP_FIELDS if name in changes}
    return replace(config, clip=replace(config.clip, **clip), **changes)


CLI_ARGS = ["--resize", "32", "32", "--num-frames", "4", "--stride", "2", "--crop", "24", "--shard-size", "4"]
CORRUPT_ID = "bounce/bounce_Corrupt_0"


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    root = ensure_dataset(tmp_path_factory.mktemp("data"), "hmdb", width=32, height=32, num_frames=16, groups=3, clips_per_group=1)
    (root / "hmdb51_org" / "bounce" / "bounce_Corrupt_0.avi").write_bytes(b"RIFF not a video " * 64)
    with open(root / "testTrainMulti_7030_splits" / "bounce_test_split1.txt", "a") as handle:
        handle.write("bounce_Corrupt_0.avi 1 \n")
    return root


@pytest.fixture(scope="module")
def ray_instance():
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def reference(dataset, ray_instance, tmp_path_factory) -> Path:
    return labels.ensure_labels(dataset, tmp_path_factory.mktemp("ref"), CONFIG, num_cpus=1, log=lambda _: None)


def store_files(store: Path) -> dict[str, bytes]:
    return {str(p.relative_to(store)): p.read_bytes() for p in sorted(store.rglob("*")) if p.is_file()}


def mtimes(store: Path) -> dict[str, int]:
    return {str(p.relative_to(store)): p.stat().st_mtime_ns for p in sorted(store.rglob("*")) if p.is_file()}


def expected_flow(frames: np.ndarray, start: int, config: LabelPipelineConfig) -> tuple[np.ndarray, np.ndarray]:
    u, v = compute_flow(frames[clip_indices(start, config.clip.num_frames, config.clip.stride)], config.flow)
    return decode_flow_jpeg(encode_flow_jpeg(u)), decode_flow_jpeg(encode_flow_jpeg(v))


def centre(flow: np.ndarray, size: int) -> np.ndarray:
    top, left = (flow.shape[1] - size) // 2, (flow.shape[2] - size) // 2
    return flow[:, top:top + size, left:left + size]


# --------------------------------------------------------------------------- Ray pipeline


def test_corrupt_video_is_listed_and_the_others_are_stored(dataset, reference):
    manifest = read_json(reference / "manifest.json")
    assert manifest["complete"] is True
    assert manifest["num_videos"] == 25 and manifest["num_failed"] == 1 and manifest["num_shards"] == 7
    (failure,) = manifest["failed"]
    assert failure["video_id"] == CORRUPT_ID and failure["kind"] == "unreadable"
    assert failure["path"].endswith("bounce_Corrupt_0.avi") and failure["reason"]
    store = FlowStore.open(reference)
    assert store.failed == manifest["failed"]
    assert CORRUPT_ID not in store
    expected = [e.video_id for e in list_videos(dataset, 1) if e.video_id != CORRUPT_ID]
    assert store.video_ids == expected and len(expected) == 24
    assert store.config == CONFIG
    assert reference.name.startswith(dataset.name + "-")


def test_two_workers_write_byte_identical_files(dataset, reference, tmp_path):
    logged: list[str] = []
    store = labels.ensure_labels(dataset, tmp_path, CONFIG, num_cpus=2, log=logged.append)
    assert any("2 workers" in line for line in logged)
    assert store.name == reference.name
    assert store_files(store) == store_files(reference)


def test_second_run_does_nothing_and_starts_no_ray_work(dataset, reference, monkeypatch):
    before = mtimes(reference)

    def no_ray(*args, **kwargs):
        raise AssertionError("Ray work on an up-to-date store")

    monkeypatch.setattr(labels, "run_shards", no_ray)
    monkeypatch.setattr(labels, "start_ray", no_ray)
    logged: list[str] = []
    assert labels.ensure_labels(dataset, reference.parent, CONFIG, log=logged.append) == reference
    assert mtimes(reference) == before
    assert any("up to date" in line for line in logged)


def test_resume_rewrites_only_unfinished_shards(dataset, reference, tmp_path):
    store = tmp_path / reference.name
    shutil.copytree(reference, store)
    flow2, _, _ = shard_files(store, 2)
    _, _, status5 = shard_files(store, 5)
    flow2.unlink()
    status5.unlink()
    (store / "manifest.json").unlink()
    leftover = store / "clips" / "shard-00003.parquet.tmp"
    leftover.write_bytes(b"half a file")
    before = mtimes(store)
    logged: list[str] = []
    labels.ensure_labels(dataset, tmp_path, CONFIG, num_cpus=2, log=logged.append)
    after = mtimes(store)
    rewritten = {name for name in after if after[name] != before.get(name)}
    assert rewritten == {"manifest.json"} | {f"{d}/shard-0000{i}.{ext}" for i in (2, 5)
                                             for d, ext in (("flow", "parquet"), ("clips", "parquet"), ("status", "json"))}
    assert not leftover.exists()
    assert any("2 shards to write" in line for line in logged)
    assert store_files(store) == store_files(reference)


def run_cli(dataset: Path, out: Path, **kwargs) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "ray_jobs.labels", "--dataset", str(dataset), "--out", str(out), "--num-cpus", "1", *CLI_ARGS]
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True, **kwargs)


def test_cli_killed_mid_run_resumes_to_identical_files(dataset, reference, tmp_path):
    store = tmp_path / reference.name
    process = run_cli(dataset, tmp_path)
    deadline = time.monotonic() + 120
    while not (store / "status" / "shard-00000.json").exists():
        assert process.poll() is None, process.communicate()[0]
        assert time.monotonic() < deadline, "no shard written within 120 s"
        time.sleep(0.005)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    if (store / "manifest.json").exists():
        pytest.skip("the run finished before the kill arrived")
    assert len(list((store / "status").glob("*.json"))) < 7
    finished = run_cli(dataset, tmp_path)
    output, _ = finished.communicate(timeout=180)
    assert finished.returncode == 0, output
    assert str(store) in output and "1 failed" in output
    assert store_files(store) == store_files(reference)


# --------------------------------------------------------------------------- stored values


def test_stored_flow_and_scores_match_an_independent_computation(dataset, reference):
    store = FlowStore.open(reference)
    entry = next(e for e in list_videos(dataset, 1) if e.video_id == store.video_ids[5])
    frames = read_video(entry.path, CONFIG.clip.resize)
    assert store.num_video_frames(entry.video_id) == len(frames) == 16
    scores = store.clip_scores(entry.video_id)
    assert scores.shape == (len(frames) - CONFIG.clip.span + 1,) and scores.dtype == np.float64
    for start in range(len(scores)):
        u, v = expected_flow(frames, start, CONFIG)
        got_u, got_v = store.flow(entry.video_id, start, CONFIG.clip.num_frames)
        assert got_u.dtype == np.float32 and got_u.shape == (CONFIG.clip.num_frames - 1, 32, 32)
        np.testing.assert_array_equal(got_u, u)
        np.testing.assert_array_equal(got_v, v)
        assert scores[start] == curriculum_score(centre(u, CONFIG.clip.crop), centre(v, CONFIG.clip.crop), CONFIG.label_impl)
    assert store.video_score(entry.video_id) == pytest.approx(float(scores.mean()), abs=0)
    assert scores.max() > 0
    with pytest.raises(IndexError):
        store.flow(entry.video_id, len(scores), CONFIG.clip.num_frames)
    with pytest.raises(KeyError):
        store.flow(CORRUPT_ID, 0, CONFIG.clip.num_frames)


def scores_clip_by_clip(quant_u: np.ndarray, quant_v: np.ndarray, clip: ClipConfig, label_impl: str) -> np.ndarray:
    """The reference: each clip's fields on their own, decoded, centre-cropped and scored."""
    starts = range(len(quant_u) - (clip.num_frames - 2) * clip.stride)  # a clip's last field: start + (T-2) stride
    fields = [start + clip.stride * np.arange(clip.num_frames - 1) for start in starts]
    return np.array([curriculum_score(centre(decode_flow_jpeg(quant_u[rows]), clip.crop),
                                      centre(decode_flow_jpeg(quant_v[rows]), clip.crop), label_impl) for rows in fields])


def test_clip_scores_equal_scoring_each_clip_alone_bit_for_bit():
    """``clip_scores`` differentiates each field once for all the clips that hold it, in
    batches of SCORE_BATCH starts; on 300 seeded videos (random lengths up to several
    batches, frame sizes, crops, strides, clip lengths, few-level flows for ties, static
    and zero-motion videos) every score equals the clip-by-clip one exactly."""
    rng = np.random.default_rng(2026)
    crossed_batches = 0
    for case in range(300):
        num_frames, stride = int(rng.integers(2, 17)), int(rng.integers(1, 4))
        crop = 8 * int(rng.integers(1, 5))
        height, width = crop + int(rng.integers(0, 9)), crop + int(rng.integers(0, 9))
        clip = ClipConfig(num_frames=num_frames, stride=stride, resize=(height, width), crop=crop)
        fields = (num_frames - 2) * stride + 1 + int(rng.integers(0, 3 * SCORE_BATCH if case % 10 == 0 else 20))
        levels = int(rng.choice([2, 3, 256]))
        quant_u, quant_v = (rng.integers(0, levels, (fields, height, width)).astype(np.uint8) * (255 // (levels - 1))
                            for _ in range(2))
        if case % 25 == 0:
            quant_u[:], quant_v[:] = 128, 77  # no motion boundary anywhere: score 0
        label_impl = ("official", "paper")[case % 2]
        got, expected = clip_scores(quant_u, quant_v, clip, label_impl), scores_clip_by_clip(quant_u, quant_v, clip, label_impl)
        assert got.dtype == np.float64 and got.shape == expected.shape
        assert np.array_equal(got, expected), (case, clip, label_impl)
        crossed_batches += len(got) > SCORE_BATCH
        if case % 25 == 0:
            assert not got.any()
    assert crossed_batches >= 10


def test_video_rows_with_stride_one_are_the_quantised_flow_of_all_frames(dataset):
    config = changed(CONFIG, stride=1, num_frames=8)
    entry = list_videos(dataset, 1)[0]
    rows = compute_video_rows(entry, config)
    u, v = compute_flow(read_video(entry.path, config.clip.resize), "dis")
    np.testing.assert_array_equal(rows.flow_u, encode_flow_jpeg(u))
    np.testing.assert_array_equal(rows.flow_v, encode_flow_jpeg(v))
    assert rows.clip_scores.shape == (16 - 8 + 1,)


def test_videos_shorter_than_a_clip_become_failure_records(dataset):
    entries = list_videos(dataset, 1)[:2]
    rows, failed = compute_shard(entries, changed(CONFIG, num_frames=16))
    assert rows == []
    assert [(f["video_id"], f["kind"]) for f in failed] == [(e.video_id, "too_short") for e in entries]


def rows_of_precomputed_images(dataset, folder, images):
    """Write ``images`` ``{"u": (N, H, W), "v": ...}`` as PNG flow folders of the first video
    and compute its rows at 16 x 16 from them."""
    entry = list_videos(dataset, 1)[0]
    stem = Path(entry.path).stem
    for axis, stack in images.items():
        (folder / axis / stem).mkdir(parents=True)
        for t, image in enumerate(stack, start=1):
            cv2.imwrite(str(folder / axis / stem / f"frame{t:06d}.png"), image)
    config = changed(CONFIG, flow="precomputed", precomputed_dir=str(folder), stride=1, resize=(16, 16), crop=16)
    return compute_video_rows(entry, config.validate())


def test_precomputed_flow_is_stored_as_read_and_resized_as_the_public_code(dataset, tmp_path):
    # The STS public code resizes each 8-bit flow image with cv2.resize (bilinear) and decodes
    # it, without rescaling the values: the store keeps exactly those bytes. Adjacent levels
    # (128, 129: 0.16 px apart) survive a 2x shrink; decoding, halving and re-encoding would
    # round both to 128.
    rng = np.random.default_rng(1)
    images = {"u": rng.integers(0, 256, size=(9, 32, 32), dtype=np.uint8),
              "v": np.where(np.arange(32) < 16, 128, 129).astype(np.uint8)[None, None, :].repeat(32, 1).repeat(9, 0)}
    rows = rows_of_precomputed_images(dataset, tmp_path, images)
    for axis, stored in (("u", rows.flow_u), ("v", rows.flow_v)):
        np.testing.assert_array_equal(stored, np.stack([cv2.resize(image, (16, 16)) for image in images[axis]]))
    assert set(np.unique(rows.flow_v)) == {128, 129}


def test_precomputed_flow_at_the_frame_size_is_stored_unchanged(dataset, tmp_path):
    rng = np.random.default_rng(0)
    images = {axis: rng.integers(0, 256, size=(9, 16, 16), dtype=np.uint8) for axis in "uv"}
    rows = rows_of_precomputed_images(dataset, tmp_path, images)
    np.testing.assert_array_equal(rows.flow_u, images["u"])
    np.testing.assert_array_equal(rows.flow_v, images["v"])
    assert rows.clip_scores.shape == (10 - 4 + 1,)


# --------------------------------------------------------------------------- configs


def test_changed_parameters_go_to_another_directory(dataset, tmp_path):
    base = store_path(tmp_path, dataset, CONFIG)
    assert store_path(tmp_path, dataset, changed(CONFIG)) == base
    changes = [{"flow": "farneback"}, {"resize": (40, 40)}, {"num_frames": 8}, {"stride": 1}, {"crop": 16},
               {"label_impl": "paper"}, {"split": 2}, {"shard_size": 8}]
    paths = {store_path(tmp_path, dataset, changed(CONFIG, **change)) for change in changes}
    assert len(paths) == len(changes) and base not in paths


BAD_CONFIGS = [
    ({"flow": "sift"}, "labels.flow"),
    ({"crop": 40}, "labels.clip.crop"),
    ({"crop": 20}, "labels.clip.crop"),
    ({"resize": (32,)}, "labels.clip.resize"),
    ({"num_frames": 1}, "labels.clip.num_frames"),
    ({"stride": 0}, "labels.clip.stride"),
    ({"label_impl": "mine"}, "labels.label_impl"),
    ({"split": 4}, "labels.split"),
    ({"shard_size": 0}, "labels.shard_size"),
    ({"flow": "precomputed"}, "labels.precomputed_dir"),
]


@pytest.mark.parametrize("change,field", BAD_CONFIGS)
def test_bad_config_fails_naming_the_field_before_ray(dataset, tmp_path, monkeypatch, change, field):
    def no_ray(*args, **kwargs):
        raise AssertionError("Ray work with a bad config")

    monkeypatch.setattr(labels, "run_shards", no_ray)
    monkeypatch.setattr(labels, "start_ray", no_ray)
    with pytest.raises(ConfigError) as error:
        labels.ensure_labels(dataset, tmp_path / "out", changed(CONFIG, **change))
    assert error.value.field == field
    assert not (tmp_path / "out").exists()


@pytest.mark.skipif(tvl1_available(), reason="OpenCV contrib is installed")
def test_tvl1_without_contrib_points_at_the_extra():
    with pytest.raises(ConfigError, match=r"tvl1\]") as error:
        changed(CONFIG, flow="tvl1").validate()
    assert error.value.field == "labels.flow"


def test_cli_bad_config_exits_2_naming_the_field(dataset, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        labels.main(["--dataset", str(dataset), "--out", str(tmp_path), "--flow", "sift"])
    assert exit_info.value.code == 2
    assert "labels.flow" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        labels.main(["--dataset", str(tmp_path / "missing"), "--out", str(tmp_path)])
    assert exit_info.value.code == 2


def test_another_dataset_of_the_same_name_gets_its_own_flow(dataset, reference, tmp_path):
    """Two datasets whose folders have the same name (here: a copy with one video rewritten
    with another's frames) never share a store: the second computes its own flow."""
    other = tmp_path / "elsewhere" / dataset.name
    shutil.copytree(dataset, other)
    rewritten, source = sorted(p for p in (other / "hmdb51_org").rglob("*.avi") if "Corrupt" not in p.name)[:2]
    rewritten.write_bytes(source.read_bytes())
    logs = []
    store = labels.ensure_labels(other, reference.parent, CONFIG, num_cpus=1, log=logs.append)
    assert store != reference and "(0 written now)" not in logs[-1]
    ours, theirs = FlowStore.open(store), FlowStore.open(reference)
    rewritten_id, source_id = (f"{p.parent.name}/{p.stem}" for p in (rewritten, source))
    np.testing.assert_array_equal(ours.quantised(rewritten_id)[0], theirs.quantised(source_id)[0])
    assert not np.array_equal(ours.quantised(rewritten_id)[0], theirs.quantised(rewritten_id)[0])
    # and the first dataset's store is still the one reused for it
    assert labels.ensure_labels(dataset, reference.parent, CONFIG, num_cpus=1, log=lambda _: None) == reference
