"""Resume that never lies (issue 13): a resume runs exactly the trials a study lacks, refuses to
mix declarations, survives lost checkpoints and garbage Tune state, and a run that cannot
start writes nothing."""
import json
import time
from pathlib import Path

import pytest
import ray

from ray_jobs.cli import run_study_cli
from ssl_core.study import Arm
from tiny_study import tiny_study


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return str(tmp_path_factory.mktemp("data"))


def attempts(study_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (study_dir / "attempts.jsonl").read_text().splitlines()]


def recorded(study, tmp_path, seeds=(0, 1), overrides=None) -> Path:
    """A study directory holding only the declaration of ``study`` at smoke (as a run writes it)."""
    from ray_jobs.cli import resolved_configs

    configs = study.trial_configs("smoke", seeds, overrides)
    hashes = {key: entry["config_hash"] for key, entry in resolved_configs(configs).items()}
    study_dir = tmp_path / study.name
    study_dir.mkdir(parents=True)
    (study_dir / "study.json").write_text(json.dumps(study.declaration("smoke", seeds, overrides, hashes)))
    return study_dir


def snapshot(root: Path) -> dict:
    return {str(p.relative_to(root)): p.read_bytes() if p.is_file() else None for p in sorted(root.rglob("*"))}


def refused(study, out: Path, capsys, *extra) -> str:
    """Run ``study`` at smoke with ``--resume``; assert exit 2 with no Ray and nothing changed; the error text."""
    before = snapshot(out) if out.exists() else None
    code = run_study_cli(study, ["--preset", "smoke", "--out", str(out), "--quiet", "--resume", *extra])
    error = capsys.readouterr().err
    assert code == 2, error
    assert not ray.is_initialized()
    assert (snapshot(out) if out.exists() else None) == before
    return error


@pytest.mark.parametrize("layout", ["missing", "empty", "other files"])
def test_resume_where_there_is_no_study_says_so_and_creates_nothing(tmp_path, capsys, layout):
    study = tiny_study(str(tmp_path / "data"))
    if layout != "missing":
        (tmp_path / "tiny").mkdir()
    if layout == "other files":
        (tmp_path / "tiny/notes.txt").write_text("mine\n")
    error = refused(study, tmp_path, capsys)
    assert f"nothing to resume at {tmp_path / 'tiny'}" in error and "Traceback" not in error
    assert (tmp_path / "tiny").exists() == (layout != "missing")


@pytest.mark.parametrize("damage, message", [
    ("file", "is a file, not a study directory"),
    ("garbage json", "study.json is not a study declaration"),
    ("json list", "study.json is not a study declaration"),
])
def test_a_damaged_study_path_gives_a_one_line_error(tmp_path, capsys, damage, message):
    study = tiny_study(str(tmp_path / "data"))
    if damage == "file":
        (tmp_path / "tiny").write_text("not a directory\n")
    else:
        (tmp_path / "tiny").mkdir()
        (tmp_path / "tiny/study.json").write_text("{not json" if damage == "garbage json" else "[1, 2]")
    error = refused(study, tmp_path, capsys)
    assert message in error and len(error.strip().splitlines()) == 1


@pytest.mark.parametrize("change, extra, field", [
    ("fewer seeds", ["--seeds", "1"], "seeds: the study has [0, 1], this run [0]"),
    ("another --set", ["--set", "eval.clips_per_video=2"], "set: the study has {}"),
    ("another preset value", [], "trials[rotation__seed0]: its config changed"),
    ("changed arm", [], "arms[rotation].factors"),
    ("dropped arm", [], "arms[rotation]: in the study, not in this run"),
    ("another study", [], "name: the study has 'other'"),
])
def test_resume_with_another_declaration_is_refused_naming_what_differs(tmp_path, capsys, change, extra, field):
    data = str(tmp_path / "data")
    study = tiny_study(data)
    study_dir = recorded(study, tmp_path)
    if change == "another preset value":
        study = tiny_study(data, epochs=4)
    elif change == "changed arm":
        study = tiny_study(data, arms=(Arm("scratch", {"method.name": "scratch"}),
                                       Arm("rotation", {"method.name": "rotation", "pretrain.lr": 0.5})))
    elif change == "dropped arm":
        study = tiny_study(data, arms=(Arm("scratch", {"method.name": "scratch"}),))
    elif change == "another study":
        declaration = json.loads((study_dir / "study.json").read_text())
        (study_dir / "study.json").write_text(json.dumps({**declaration, "name": "other"}))
    error = refused(study, tmp_path, capsys, *extra)
    assert field in error and "resuming would mix results" in error


def test_added_seeds_and_arms_are_additions_not_refusals(tmp_path):
    from ssl_core.study import resume_differences

    study = tiny_study(str(tmp_path / "data"))
    old = study.declaration("smoke", (0, 1), trial_hashes={"scratch__seed0": "a"})
    grown = tiny_study(str(tmp_path / "data"), arms=study.arms + (Arm("rotation_fast", {"method.name": "rotation", "pretrain.lr": 0.5}),))
    new = grown.declaration("smoke", (0, 1, 2), trial_hashes={"scratch__seed0": "a", "scratch__seed2": "b"})
    assert resume_differences(old, new) == ([], ["arms ['rotation_fast']", "seeds [2]"])
    assert resume_differences(old, old) == ([], [])


@pytest.mark.parametrize("extra, message", [
    (["--set", "resources.use_gpu=true"], "a trial needs 1 GPUs, there are 0"),
    (["--storage-path", "/proc/ssl-ablate/x"], "--storage-path /proc/ssl-ablate/x cannot be created"),
    (["--out", "/proc/ssl-ablate"], "--out /proc/ssl-ablate/tiny cannot be created"),
    (["--set", "pretrain.epochs=three"], "set[pretrain.epochs]: must be an integer, got 'three'"),
    (["--address", "127.0.0.1:1", "--connect-timeout", "1"], "no Ray cluster at 127.0.0.1:1"),
    (["--keep-checkpoints", "-1"], "--keep-checkpoints must be 0 (keep every checkpoint) or more, got -1"),
])
def test_a_run_that_cannot_start_writes_nothing_and_leaves_the_path_usable(tmp_path, capsys, extra, message):
    study = tiny_study(str(tmp_path / "data"))
    started = time.monotonic()
    code = run_study_cli(study, ["--preset", "smoke", "--out", str(tmp_path / "out"), "--quiet", *extra])
    error = capsys.readouterr().err
    assert code == 2 and message in error, error
    assert "Traceback" not in error and time.monotonic() - started < 30
    assert not (tmp_path / "out").exists() and not (tmp_path / "data").exists()
    assert not ray.is_initialized()


def test_errored_trials_are_counted_as_missing_and_resume_past_a_deleted_checkpoint(data_dir, tmp_path, monkeypatch, capsys):
    """One run where the rotation trial fails at epoch 2 (no retries): exit 1 and "1 of 2"; its
    epoch-2 checkpoint is then deleted, and the resume continues from epoch 1 with a warning.
    A later resume with one more seed runs exactly the two new trials, and a garbage
    ``tuner.pkl`` changes nothing."""
    monkeypatch.setenv("SSL_ABLATE_FAIL_ONCE", f"2:{tmp_path / 'failed-once'}")
    study = tiny_study(data_dir, epochs=3)
    args = ["--preset", "smoke", "--out", str(tmp_path / "out"), "--seeds", "1", "--max-concurrent", "1", "--quiet"]
    assert run_study_cli(study, args + ["--max-failures", "0"]) == 1
    output = capsys.readouterr()
    assert "tiny: 1 of 2 trials completed" in output.out and "rotation seed 0 (missing)" in output.err
    assert "run this study's command again with --resume (Tune's own 'Tuner.restore' hint" in output.err
    study_dir = tmp_path / "out/tiny"
    assert "Trials completed: 1 of 2" in (study_dir / "report.md").read_text()
    checkpoints = {json.loads((p / "meta.json").read_text())["epoch"]: p for p in study_dir.glob("tune/*/checkpoint_*")}
    assert sorted(checkpoints) == [1, 2]
    for path in checkpoints[2].iterdir():
        path.unlink()
    checkpoints[2].rmdir()

    assert run_study_cli(study, args + ["--resume"]) == 0
    output = capsys.readouterr()
    assert "rotation__seed0: recorded checkpoint(s) gone" in output.err and "it continues from epoch 1" in output.err
    assert "tiny: 2 of 2 trials completed" in output.out
    rotation = [a for a in attempts(study_dir) if a["arm"] == "rotation"]
    assert [a["start_epoch"] for a in rotation] == [0, 1]
    assert rotation[1]["resumed_from"] == str(checkpoints[1])

    args[args.index("--seeds") + 1] = "2"
    ran = len(attempts(study_dir))
    assert run_study_cli(study, args + ["--resume"]) == 0
    assert "resuming adds seeds [1]" in capsys.readouterr().out
    assert sorted((a["arm"], a["seed"]) for a in attempts(study_dir)[ran:]) == [("rotation", 1), ("scratch", 1)]
    assert json.loads((study_dir / "study.json").read_text())["seeds"] == [0, 1]

    (study_dir / "tune/tuner.pkl").write_bytes(b"garbage")
    ran = len(attempts(study_dir))
    assert run_study_cli(study, args + ["--resume"]) == 0
    assert "tiny: 4 of 4 trials completed" in capsys.readouterr().out and len(attempts(study_dir)) == ran


def _checkpoint_on_storage(trial_dir: Path, epoch: int, key: str, declared_hash: str) -> Path:
    """A checkpoint of ``epoch`` as a trial uploads it (``_report_with_state``, copied to storage)."""
    import shutil

    from ray_jobs.trial import _report_with_state

    target = trial_dir / f"checkpoint_{epoch - 1:06d}"

    def report(metrics, checkpoint):
        shutil.copytree(checkpoint.path, target)

    _report_with_state(report, {"epoch": epoch}, {"epoch": epoch, "weights": [epoch]},
                       {"key": key, "config_hash": declared_hash})
    return target


def test_a_retried_trial_starts_from_its_newest_checkpoint_on_storage_when_tune_has_none(tmp_path):
    """The CI failure of stop 18: a trial killed with its node after uploading a checkpoint but
    before the driver received the report is retried without a Tune checkpoint. It continues
    from the newest readable checkpoint of the same key and config hash on storage, or from
    Tune's own checkpoint when nothing readable there is newer."""
    from ray import tune

    from ray_jobs.trial import starting_state

    storage = tmp_path / "study"
    trial_dir = storage / "tune" / "run_trial_abc_00000"
    paths = {epoch: _checkpoint_on_storage(trial_dir, epoch, "rotation__seed0", "h1") for epoch in (1, 2, 3)}
    _checkpoint_on_storage(storage / "tune" / "run_trial_abc_00001", 5, "rotation__seed1", "h1")  # another trial
    _checkpoint_on_storage(storage / "tune_old" / "run_trial_xyz_00000", 4, "rotation__seed0", "h0")  # another config

    state, uri, unreadable = starting_state(None, str(storage), "rotation__seed0", "h1")
    assert (state["epoch"], uri, unreadable) == (3, str(paths[3]), [])

    (paths[3] / "state.pt").write_bytes(b"cut off by a kill")
    state, uri, unreadable = starting_state(None, str(storage), "rotation__seed0", "h1")
    assert (state["epoch"], uri) == (2, str(paths[2]))
    assert len(unreadable) == 1 and unreadable[0].startswith(str(paths[3]))

    # Tune registered epoch 1 only: the newer readable one on storage wins (epochs 2 and 3
    # are not trained again); Tune's own wins when nothing readable on storage is newer
    state, uri, unreadable = starting_state(tune.Checkpoint(str(paths[1])), str(storage), "rotation__seed0", "h1")
    assert (state["epoch"], uri, len(unreadable)) == (2, str(paths[2]), 1)
    state, uri, unreadable = starting_state(tune.Checkpoint(str(paths[2])), str(storage), "rotation__seed0", "h1")
    assert (state["epoch"], uri, len(unreadable)) == (2, None, 1)
    (paths[3] / "state.pt").unlink()
    state, uri, unreadable = starting_state(tune.Checkpoint(str(paths[2])), str(storage), "rotation__seed0", "h1")
    assert (state["epoch"], uri, unreadable) == (2, None, [])
    assert starting_state(None, str(storage), "rotation__seed0", "h2") == (None, None, [])
    assert starting_state(None, str(tmp_path / "nowhere"), "rotation__seed0", "h1") == (None, None, [])


def test_finding_a_trials_checkpoints_reads_only_the_config_of_other_trials_folders(tmp_path, monkeypatch):
    """On object storage every read is a request: a trial folder whose config.json names
    another trial (or another declaration of this one) costs that one read; its result.json,
    checkpoints and meta files are not opened. A folder without config.json (not yet copied
    by Tune) is still searched through its checkpoints' meta.json."""
    from ray_jobs import checkpoints
    from ssl_core.io import write_json

    storage = tmp_path / "study"
    own = storage / "tune" / "run_trial_00000"
    expected = {epoch: _checkpoint_on_storage(own, epoch, "rotation__seed0", "h1") for epoch in (1, 2)}
    write_json(own / "config.json", {"key": "rotation__seed0", "config_hash": "h1"})
    unsynced = storage / "tune" / "run_trial_00001"  # config.json not copied yet: found through meta.json
    expected[3] = _checkpoint_on_storage(unsynced, 3, "rotation__seed0", "h1")
    others = []
    for index, (key, declared_hash) in enumerate([("rotation__seed1", "h1"), ("scratch__seed0", "h1"), ("rotation__seed0", "h0")]):
        folder = storage / "tune" / f"run_trial_{index + 2:05d}"
        for epoch in (1, 2):
            _checkpoint_on_storage(folder, epoch, key, declared_hash)
        write_json(folder / "config.json", {"key": key, "config_hash": declared_hash})
        (folder / "result.json").write_text(json.dumps({"epoch": 2, "checkpoint_dir_name": "checkpoint_000001"}) + "\n")
        others.append(folder)

    opened, listed = [], []  # files read, folders listed
    read_text, children = checkpoints._read_text, checkpoints._children
    monkeypatch.setattr(checkpoints, "_read_text", lambda fs, path: opened.append(path) or read_text(fs, path))
    monkeypatch.setattr(checkpoints, "_children", lambda fs, path: listed.append(path) or children(fs, path))
    found = checkpoints.find_checkpoints(str(storage), {"rotation__seed0": "h1"})
    assert found["rotation__seed0"].found == [(epoch, str(expected[epoch])) for epoch in (3, 2, 1)]
    assert found["rotation__seed0"].missing == []
    for folder in others:
        assert [path for path in opened if path.startswith(f"{folder}/")] == [f"{folder}/config.json"]
        assert [path for path in listed if path.startswith(str(folder))] == []
    assert f"{unsynced}/checkpoint_000002/meta.json" in opened and str(unsynced) in listed


def test_run_folder_checkpoints_are_the_trials_own_newest_first(tmp_path):
    """A multi-worker trial's TorchTrainer run folder: its checkpoints of the same key and hash,
    newest epoch first (folder names are timestamps, not epochs); empty or foreign ones left out."""
    from ray_jobs.checkpoints import run_folder_checkpoints

    folder = tmp_path / "train_rotation_ddp__seed0_h1"
    made = {epoch: _checkpoint_on_storage(folder, epoch, "rotation_ddp__seed0", "h1") for epoch in (2, 1, 3)}
    _checkpoint_on_storage(folder, 9, "rotation_ddp__seed1", "h1")
    (made[3] / "state.pt").write_bytes(b"")
    assert run_folder_checkpoints(str(folder), "rotation_ddp__seed0", "h1") == [(2, str(made[2])), (1, str(made[1]))]
    assert run_folder_checkpoints(str(tmp_path / "none"), "rotation_ddp__seed0", "h1") == []
