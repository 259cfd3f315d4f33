"""The study engine end to end: Tune trials, resume after SIGKILL, retry from checkpoint, two nodes."""
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest
import ray
import torch

from ray_jobs.cli import run_study_cli
from ssl_core.study import Arm
from tiny_study import tiny_study

TESTS = Path(__file__).resolve().parent


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return str(tmp_path_factory.mktemp("data"))


def attempts(study_dir: Path) -> list[dict]:
    lines = (study_dir / "attempts.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


def summaries(study_dir: Path) -> dict:
    found = {}
    for path in (study_dir / "trials").glob("*/trial_summary.json"):
        summary = json.loads(path.read_text())
        found[(summary["arm"], summary["seed"])] = summary
    return found


@pytest.mark.parametrize("factors, field", [
    ({"pretrain.epochz": 3}, "arms[bad].pretrain.epochz"),
    ({"pretrain.epochs": -1}, "arms[bad].pretrain.epochs"),
    ({"method.name": "nope"}, "arms[bad].method.name"),
    ({"resources.num_workers": 512}, "resources"),
])
def test_bad_config_fails_before_ray_starts_naming_the_field(data_dir, tmp_path, capsys, factors, field):
    study = tiny_study(data_dir, arms=(Arm("bad", factors),))
    assert run_study_cli(study, ["--preset", "smoke", "--out", str(tmp_path), "--quiet"]) == 2
    assert field in capsys.readouterr().err
    assert not ray.is_initialized()


def test_two_arm_study_completes_with_summaries_and_report(data_dir, tmp_path):
    study = tiny_study(data_dir, epochs=2)
    assert run_study_cli(study, ["--preset", "smoke", "--out", str(tmp_path), "--quiet"]) == 0
    study_dir = tmp_path / "tiny"
    found = summaries(study_dir)
    assert set(found) == {("scratch", 0), ("scratch", 1), ("rotation", 0), ("rotation", 1)}
    assert "pretext/acc" in found[("rotation", 0)]["metrics"] and "pretext/acc" not in found[("scratch", 0)]["metrics"]
    assert all(0 <= s["metrics"]["knn/ucf/top1"] <= 1 for s in found.values())
    trial_configs = list((study_dir / "tune").glob("*/config.json"))
    assert len(trial_configs) == 4 and all("config_hash" in json.loads(p.read_text()) for p in trial_configs)
    assert json.loads((study_dir / "study.json").read_text())["seeds"] == [0, 1]
    import pandas as pd

    table = pd.read_csv(study_dir / "results.csv")
    assert set(table["status"]) == {"completed"} and len(table[table["metric"] == "knn/ucf/top1"]) == 4
    assert set(table.loc[table["metric"] == "pretext/acc", "arm"]) == {"rotation"}
    report = (study_dir / "report.md").read_text()
    assert report.count("| scratch | method.name=scratch |") == 3 and report.count("| rotation | method.name=rotation |") == 3
    check_pretrained_backbone_handed_off(study, study_dir)
    # same directory again without --resume: refused, nothing touched
    assert run_study_cli(study, ["--preset", "smoke", "--out", str(tmp_path), "--quiet"]) == 2


def check_pretrained_backbone_handed_off(study, study_dir: Path) -> None:
    """The backbone a trial evaluates and saves is the trained one: the rotation arm's saved
    backbone gives other features than random init's, and the scratch arm's is random init's."""
    import torch

    from ssl_core.checkpoint import load_backbone
    from ssl_core.experiment import build_trial_method

    saved = {}
    for config_path in (study_dir / "tune").glob("*/config.json"):
        identity = json.loads(config_path.read_text())
        saved[(identity["arm"], identity["seed"])] = load_backbone(config_path.parent / "backbone")[0].eval()
    random_init = build_trial_method(study.trial_configs("smoke", [0])[("scratch", 0)]).backbone.eval()
    clip = torch.randn(2, 3, 4, 24, 24, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        features = {key: net(clip) for key, net in {**saved, "init": random_init}.items()}
    assert torch.equal(features[("scratch", 0)], features["init"])
    change = (features[("rotation", 0)] - features["init"]).norm() / features["init"].norm()
    assert change > 0.05, f"the pretrained backbone's features moved by only {change:.3f} of their norm"


def test_each_trial_keeps_its_newest_checkpoints_on_storage(data_dir, tmp_path):
    """``--keep-checkpoints`` (default 2) bounds what a trial leaves on storage, its newest
    epochs; 0 keeps every epoch's (at the paper presets a checkpoint is hundreds of MB)."""
    study = tiny_study(data_dir, epochs=4, arms=(Arm("rotation", {"method.name": "rotation"}),))

    def kept_epochs(out: Path) -> list[int]:
        return sorted(json.loads(meta.read_text())["epoch"] for meta in out.glob("tiny/tune/*/checkpoint_*/meta.json"))

    args = ["--preset", "smoke", "--seeds", "1", "--quiet"]
    assert run_study_cli(study, args + ["--out", str(tmp_path / "default")]) == 0
    assert kept_epochs(tmp_path / "default") == [3, 4]
    assert run_study_cli(study, args + ["--out", str(tmp_path / "all"), "--keep-checkpoints", "0"]) == 0
    assert kept_epochs(tmp_path / "all") == [1, 2, 3, 4]
    summary = {name: summaries(tmp_path / name / "tiny")[("rotation", 0)]["metrics"] for name in ("default", "all")}
    assert {k: v for k, v in summary["default"].items() if "clips_per_s" not in k} == \
        {k: v for k, v in summary["all"].items() if "clips_per_s" not in k}


def test_a_trial_that_fails_at_epoch_2_resumes_from_its_checkpoint(data_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("SSL_ABLATE_FAIL_ONCE", f"2:{tmp_path / 'failed-once'}")
    study = tiny_study(data_dir, epochs=3, arms=(Arm("rotation", {"method.name": "rotation"}),))
    assert run_study_cli(study, ["--preset", "smoke", "--out", str(tmp_path / "out"), "--seeds", "1", "--quiet"]) == 0
    runs = attempts(tmp_path / "out/tiny")
    assert [r["start_epoch"] for r in runs] == [0, 2]  # the retry started after epoch 2, not from scratch
    assert (tmp_path / "failed-once").exists() and set(summaries(tmp_path / "out/tiny")) == {("rotation", 0)}


def test_killed_and_moved_study_resumes_in_its_new_place_without_rerunning_completed_trials(data_dir, tmp_path):
    """Killed (SIGKILL to the process group) once a trial completed, moved, resumed at the new
    path: every trial completes there, the old path is not recreated, the completed trials do
    not run again, and a trial that had checkpoints continues from the moved ones."""
    command = [sys.executable, str(TESTS / "tiny_study.py"), data_dir, "4", "--preset", "smoke", "--max-concurrent", "1", "--quiet"]
    old_dir, new_dir = tmp_path / "old/tiny", tmp_path / "new/tiny"
    process = subprocess.Popen(command + ["--out", str(tmp_path / "old")], start_new_session=True,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 240
    while time.time() < deadline and not list(old_dir.glob("tune/*/checkpoint_*/meta.json")):
        time.sleep(0.5)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    done_before = set(summaries(old_dir))
    assert done_before, "no trial completed before the kill"
    shutil.move(tmp_path / "old", tmp_path / "new")
    result = subprocess.run(command + ["--out", str(tmp_path / "new"), "--resume"], capture_output=True, text=True, timeout=400)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "tiny: 4 of 4 trials completed" in result.stdout
    assert not (tmp_path / "old").exists()
    assert len(summaries(new_dir)) == 4 and "Trials completed: 4 of 4" in (new_dir / "report.md").read_text()
    starts = {}
    for run in attempts(new_dir):
        starts.setdefault((run["arm"], run["seed"]), []).append(run)
    for key in done_before:
        assert len(starts[key]) == 1, f"completed trial {key} ran again: {starts[key]}"
    resumed = [run for runs in starts.values() for run in runs if run.get("resumed_from")]
    assert resumed and all(run["resumed_from"].startswith(str(new_dir)) and run["start_epoch"] >= 1 for run in resumed)


def test_a_moved_study_resumed_from_another_checkout_reruns_nothing(tmp_path, monkeypatch):
    """A trial is identified by its config as declared, not by the absolute paths a run gives it:
    the study's relative ``data`` resolves elsewhere from another checkout, and the moved study
    (Tune's own state gone, so every trial asks for its summary) runs 0 trials again."""
    study = tiny_study("data", epochs=1)
    for checkout in ("checkout_a", "checkout_b"):
        (tmp_path / checkout).mkdir()
    monkeypatch.chdir(tmp_path / "checkout_a")
    args = ["--preset", "smoke", "--seeds", "1", "--quiet"]
    assert run_study_cli(study, args + ["--out", str(tmp_path / "old")]) == 0
    shutil.move(tmp_path / "old", tmp_path / "new")
    shutil.rmtree(tmp_path / "new/tiny/tune")
    monkeypatch.chdir(tmp_path / "checkout_b")
    ran_before = len(attempts(tmp_path / "new/tiny"))
    assert run_study_cli(study, args + ["--out", str(tmp_path / "new"), "--resume"]) == 0
    assert len(attempts(tmp_path / "new/tiny")) == ran_before == 2
    assert set(summaries(tmp_path / "new/tiny")) == {("scratch", 0), ("rotation", 0)}


def test_trials_land_on_both_nodes_of_a_two_node_cluster(data_dir, tmp_path):
    from ray.cluster_utils import Cluster

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
    cluster.add_node(num_cpus=1)
    try:
        study = tiny_study(data_dir, epochs=1)
        code = run_study_cli(study, ["--preset", "smoke", "--out", str(tmp_path), "--address", cluster.address,
                                     "--max-concurrent", "2", "--quiet"])
        assert code == 0
        nodes = {run["node_id"] for run in attempts(tmp_path / "tiny")}
        assert len(nodes) == 2
    finally:
        ray.shutdown()
        cluster.shutdown()


def test_optuna_search_with_asha_runs_per_arm_and_resumes_without_rerunning(data_dir, tmp_path):
    from dataclasses import replace

    from ssl_core.study import Search

    search = Search(params={"pretrain.lr": ("loguniform", 0.01, 0.2)}, metric="knn/ucf/top1", num_samples=2, asha=True)
    study = replace(tiny_study(data_dir, epochs=2, arms=(Arm("rotation", {"method.name": "rotation"}),)), search=search)
    args = ["--preset", "smoke", "--out", str(tmp_path), "--quiet"]
    assert run_study_cli(study, args) == 0
    found = list((tmp_path / "tiny/trials").glob("rotation__*/trial_summary.json"))
    learning_rates = {json.loads(p.read_text())["factors"]["pretrain.lr"] for p in found}
    assert len(found) == 2 and len(learning_rates) == 2 and all(0.01 <= lr <= 0.2 for lr in learning_rates)
    assert (tmp_path / "tiny/tune_rotation/tuner.pkl").exists()
    before = len(attempts(tmp_path / "tiny"))
    assert run_study_cli(study, args + ["--resume"]) == 0
    assert len(attempts(tmp_path / "tiny")) == before

    # A sample whose summary is gone (as after an interruption) is sampled again, and only
    # that one: the finished sample goes to Optuna as an evaluated point (a point without
    # its reward would be run again as the one new sample).
    gone, kept = found
    kept_summary = json.loads(kept.read_text())
    shutil.rmtree(gone.parent)
    assert run_study_cli(study, args + ["--resume"]) == 0
    new = attempts(tmp_path / "tiny")[before:]
    assert len(new) == 1 and new[0]["searched"]["pretrain.lr"] != kept_summary["factors"]["pretrain.lr"]
    assert json.loads(kept.read_text()) == kept_summary
    assert len(list((tmp_path / "tiny/trials").glob("rotation__*/trial_summary.json"))) == 2


def test_search_bounds_are_validated_before_ray(data_dir, tmp_path, capsys):
    from dataclasses import replace

    from ssl_core.study import Search

    search = Search(params={"pretrain.lr": ("loguniform", 0.0, 0.2)}, metric="knn/ucf/top1")
    study = replace(tiny_study(data_dir), search=search)
    assert run_study_cli(study, ["--preset", "smoke", "--out", str(tmp_path), "--quiet"]) == 2
    assert "search.params[pretrain.lr]" in capsys.readouterr().err and not ray.is_initialized()


def test_multi_worker_trial_runs_ddp_through_torch_trainer(data_dir, tmp_path):
    """Two DDP workers, with best-pretext selection: the evaluated backbone is the selected epoch's.
    Each trial writes one attempt line: the DDP one from its rank 0, the scratch one (declared
    with two workers, nothing to pretrain) from the Tune function."""
    from ssl_core.checkpoint import load_backbone

    arms = (Arm("rotation_ddp", {"method.name": "rotation", "resources.num_workers": 2, "resources.cpus_per_worker": 0.5,
                                 "pretrain.select": "best_pretext", "pretrain.select_videos": 4}),
            Arm("scratch_ddp", {"method.name": "scratch", "resources.num_workers": 2, "resources.cpus_per_worker": 0.5}))
    study = tiny_study(data_dir, epochs=2, arms=arms)
    assert run_study_cli(study, ["--preset", "smoke", "--out", str(tmp_path), "--seeds", "1", "--quiet"]) == 0
    logged = attempts(tmp_path / "tiny")
    assert sorted(a["key"] for a in logged) == ["rotation_ddp__seed0", "scratch_ddp__seed0"]
    assert [a.get("workers") for a in logged if a["arm"] == "rotation_ddp"] == [2]
    summary = summaries(tmp_path / "tiny")[("rotation_ddp", 0)]
    assert {"pretext/acc", "pretext/loss", "knn/ucf/top1", "pretext/selected_epoch"} <= set(summary["metrics"])
    checkpoints = sorted(p for p in (tmp_path / "tiny").glob("train_rotation_ddp__seed0_*/checkpoint_*") if p.is_dir())  # TorchTrainer's run dir
    assert checkpoints
    state = torch.load(checkpoints[-1] / "state.pt", weights_only=True)
    assert state["best"]["epoch"] == summary["metrics"]["pretext/selected_epoch"]
    backbone, _ = load_backbone(next(path.parent for path in (tmp_path / "tiny").rglob("backbone/backbone.json")
                                     if json.loads(path.read_text())["extra"]["arm"] == "rotation_ddp"))
    for name, value in backbone.state_dict().items():
        assert torch.equal(value, state["best"]["model"]["backbone." + name]), name


def _loadable_epoch(checkpoint: Path) -> int:
    """The epoch of a checkpoint directory whose state loads, else -1 (cut off by the kill)."""
    try:
        return int(torch.load(checkpoint / "state.pt", weights_only=True)["epoch"])
    except Exception:  # noqa: BLE001 - a partly written state of any kind
        return -1


def _settled_newest_epoch(study_dir: Path, quiet_s: float = 3.0, timeout_s: float = 60.0) -> int:
    """The newest loadable checkpoint epoch of ``study_dir``'s run folders once it has not changed
    for ``quiet_s`` seconds. Ray Train's workers are not in the killed process group: one can
    finish writing a checkpoint after the kill (seen once in a full run on 2 loaded cores)."""
    def newest() -> int:
        return max(_loadable_epoch(meta.parent) for meta in study_dir.glob("train_*/checkpoint_*/meta.json"))

    deadline = time.time() + timeout_s
    last, since = newest(), time.time()
    while time.time() - since < quiet_s and time.time() < deadline:
        time.sleep(0.5)
        if (now := newest()) != last:
            last, since = now, time.time()
    return last


def test_a_killed_and_moved_multi_worker_trial_continues_from_its_checkpoint_to_the_same_result(data_dir, tmp_path):
    """A DDP trial (Ray Train keeps its checkpoints in the run folder ``train_<key>_<hash>``)
    killed with the study's process group after two checkpoints, the study moved and resumed:
    it continues from the newest loadable checkpoint in its run folder (Ray Train may have
    registered an older one), writes no second epoch-1 checkpoint, and the metrics equal those
    of an uninterrupted run."""
    command = [sys.executable, str(TESTS / "tiny_study.py"), data_dir, "8", "--ddp", "--preset", "smoke", "--seeds", "1", "--quiet"]
    keep_all = ["--keep-checkpoints", "0"]  # every epoch's checkpoint stays, to see none is trained twice
    old_dir, new_dir = tmp_path / "old/tiny", tmp_path / "new/tiny"
    process = subprocess.Popen(command + keep_all + ["--out", str(tmp_path / "old")], start_new_session=True,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 240
    while time.time() < deadline and len(list(old_dir.glob("train_*/checkpoint_*/meta.json"))) < 2:
        time.sleep(0.2)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    assert not summaries(old_dir), "the trial finished before the kill"
    newest_on_disk = _settled_newest_epoch(old_dir)
    shutil.move(tmp_path / "old", tmp_path / "new")
    result = subprocess.run(command + keep_all + ["--out", str(tmp_path / "new"), "--resume"], capture_output=True, text=True, timeout=400)
    assert result.returncode == 0, result.stderr[-2000:]
    epochs = sorted(json.loads(meta.read_text())["epoch"] for meta in new_dir.glob("train_*/checkpoint_*/meta.json"))
    assert set(epochs) == set(range(1, 9)) and all(epochs.count(e) == 1 for e in range(1, newest_on_disk + 1)), \
        f"epochs trained again after the resume: checkpoints of epochs {epochs}"
    # the newest loadable checkpoint, also when Ray Train had registered an older one
    assert attempts(new_dir)[-1]["start_epoch"] == newest_on_disk >= 2 and attempts(new_dir)[-1]["workers"] == 2
    uninterrupted = subprocess.run(command + ["--out", str(tmp_path / "whole")], capture_output=True, text=True, timeout=400)
    assert uninterrupted.returncode == 0, uninterrupted.stderr[-2000:]
    kept = sorted(json.loads(meta.read_text())["epoch"] for meta in (tmp_path / "whole/tiny").glob("train_*/checkpoint_*/meta.json"))
    assert kept == [7, 8], f"the run folder keeps the default newest 2 checkpoints, not {kept}"

    def comparable(study_dir):
        return {k: v for k, v in summaries(study_dir)[("rotation_ddp", 0)]["metrics"].items() if not k.endswith("clips_per_s")}

    assert comparable(new_dir) == comparable(tmp_path / "whole/tiny")


def test_each_multi_worker_search_sample_trains_its_own_weights(data_dir, tmp_path):
    """Two DDP samples of a search, one after the other. Ray Train resumes a run of the same
    name and storage from its latest checkpoint; when every sample of an arm shared one run
    folder, the second sample restored the first one's final checkpoint, trained no epoch at
    its own learning rate, and reported the first sample's metrics as its own."""
    from dataclasses import replace

    from ssl_core.study import Search

    arms = (Arm("rotation_ddp", {"method.name": "rotation", "resources.num_workers": 2, "resources.cpus_per_worker": 0.5}),)
    search = Search(params={"pretrain.lr": ("loguniform", 0.01, 0.2)}, metric="knn/ucf/top1", num_samples=2)
    study = replace(tiny_study(data_dir, epochs=1, arms=arms), search=search)
    assert run_study_cli(study, ["--preset", "smoke", "--out", str(tmp_path), "--quiet", "--max-concurrent", "1"]) == 0
    found = [json.loads(p.read_text()) for p in (tmp_path / "tiny/trials").glob("rotation_ddp__*/trial_summary.json")]
    assert len(found) == 2 and found[0]["factors"]["pretrain.lr"] != found[1]["factors"]["pretrain.lr"]
    trained = [json.loads(meta.read_text()) for meta in (tmp_path / "tiny").glob("train_*/checkpoint_*/meta.json")]
    assert sorted(m["epoch"] for m in trained) == [1, 1], "each sample trains its one epoch in a run folder of its own"
    assert found[0]["metrics"]["pretext/loss"] != found[1]["metrics"]["pretext/loss"]


def test_sts_study_runs_the_label_pipeline_once_and_trains_from_its_store(data_dir, tmp_path):
    arms = (Arm("sts", {"method.name": "sts", "method.options.groups": ["motion_p1"]}),)
    study = replace(tiny_study(data_dir, epochs=1, arms=arms, name="tiny_sts"), seeds=(0,))
    assert run_study_cli(study, ["--preset", "smoke", "--out", str(tmp_path / "a"), "--quiet"]) == 0
    manifests = list((Path(data_dir) / "labels").glob("*/manifest.json"))
    assert len(manifests) == 1 and json.loads(manifests[0].read_text())["complete"]
    written = {p: p.stat().st_mtime_ns for p in manifests[0].parent.rglob("*.parquet")}
    assert written
    found = summaries(tmp_path / "a" / "tiny_sts")
    assert 0 <= found[("sts", 0)]["metrics"]["pretext/acc"] <= 1
    # a second study reuses the store: nothing rewritten
    assert run_study_cli(study, ["--preset", "smoke", "--out", str(tmp_path / "b"), "--quiet"]) == 0
    assert {p: p.stat().st_mtime_ns for p in manifests[0].parent.rglob("*.parquet")} == written


def test_code_version_names_the_commit_and_marks_uncommitted_changes(tmp_path):
    from ray_jobs.trial import code_version

    assert code_version(tmp_path) == "unknown"  # not a git checkout
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-c", "commit.gpgsign=false"]

    def commit_all() -> str:
        subprocess.run(git + ["add", "."], cwd=tmp_path, check=True)
        subprocess.run(git + ["commit", "-qm", "c"], cwd=tmp_path, check=True)
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=tmp_path, capture_output=True,
                              text=True, check=True).stdout.strip()

    subprocess.run(git + ["init", "-q"], cwd=tmp_path, check=True)
    (tmp_path / "docs").mkdir()
    for name in ("code.py", "README.md", "docs/report.md"):
        (tmp_path / name).write_text("first\n")
    commit = commit_all()
    (tmp_path / "results.txt").write_text("untracked output\n")  # untracked files are not code changes
    assert code_version(tmp_path) == f"git:{commit}"
    for doc in ("README.md", "docs/report.md"):  # documentation edited while a study runs is no code change
        (tmp_path / doc).write_text("edited\n")
    assert code_version(tmp_path / "docs") == code_version(tmp_path) == f"git:{commit}"
    (tmp_path / "code.py").write_text("edited\n")
    assert code_version(tmp_path / "docs") == code_version(tmp_path) == f"git:{commit}-dirty"
