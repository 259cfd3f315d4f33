"""The cluster path end to end on this machine (issue 13), marked slow.

A Ray cluster of a head node and one worker node is started from a cluster config by Ray's
autoscaler, with Ray's fake multi-node provider (``RAY_FAKE_CLUSTER=1``: the autoscaler
"launches" a worker node as a second raylet on this machine). A smoke study runs against it
with ``--address``; its trials land on both nodes; the worker node is killed (SIGKILL to
every process of that node, trial processes included) while a trial runs there; the study
still completes, with the same metrics as an in-process run, and every process the test
started is gone at the end.

Not covered: SSH and ``ray up`` (the fake provider cannot be driven by ``ray up``, and no
SSH server runs here), separate machines and their network, file sync, GPUs.
"""
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import pytest
import yaml

from ray_jobs.cli import run_study_cli
from tiny_study import tiny_study

pytestmark = pytest.mark.slow

TESTS = Path(__file__).resolve().parent
RAY = str(Path(sys.executable).with_name("ray"))
EPOCHS = 48  # ~0.2 s each here: the trial on the worker node is still pretraining when it is killed


def fake_cluster_config(port: int) -> dict:
    """A head (1 CPU) and one worker node type (1 CPU, exactly one node), every key given:
    the ray wheel does not ship the fake provider's defaults file."""
    return {
        "cluster_name": "ssl-ablate-e2e", "max_workers": 1, "upscaling_speed": 1.0, "idle_timeout_minutes": 60,
        "provider": {"type": "fake_multinode", "gcs_address": f"127.0.0.1:{port}", "launch_multiple": True,
                     "disable_node_updaters": True, "disable_launch_config_check": True},
        "auth": {"ssh_user": "ray"}, "docker": {},
        "available_node_types": {
            "ray.head.default": {"resources": {"CPU": 1}, "node_config": {}, "max_workers": 0},
            "ray.worker.cpu": {"resources": {"CPU": 1}, "node_config": {}, "min_workers": 1, "max_workers": 1},
        },
        "head_node_type": "ray.head.default",
        "file_mounts": {}, "cluster_synced_files": [], "file_mounts_sync_continuously": False,
        "rsync_exclude": [], "rsync_filter": [], "initialization_commands": [], "setup_commands": [],
        "head_setup_commands": [], "worker_setup_commands": [], "head_start_ray_commands": [],
        "worker_start_ray_commands": [],
    }


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def processes_with(marker: str) -> list[int]:
    """PIDs whose command line or environment mentions ``marker`` (this cluster's temp dir or node id)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            text = (entry / "cmdline").read_bytes() + (entry / "environ").read_bytes()
        except OSError:
            continue
        if marker.encode() in text:
            found.append(int(entry.name))
    return found


def kill(pids) -> None:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def alive_worker_nodes(address: str, env: dict) -> list[str]:
    """IDs of the cluster's alive nodes other than the head."""
    script = ("import ray; ray.init(address=%r, log_to_driver=False); "
              "print(' '.join(n['NodeID'] for n in ray.nodes() if n['Alive'] "
              "and 'node:__internal_head__' not in n['Resources']) or '-')" % address)
    result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
    last = result.stdout.strip().splitlines()[-1] if result.returncode == 0 and result.stdout.strip() else "-"
    return [] if last == "-" else last.split()


def summaries(study_dir: Path) -> dict:
    found = {}
    for path in (study_dir / "trials").glob("*/trial_summary.json"):
        summary = json.loads(path.read_text())
        found[(summary["arm"], summary["seed"])] = summary["metrics"]
    return found


@pytest.fixture
def fake_cluster(tmp_path):
    """``(address, env, worker node id)`` of a head + one worker node started by the autoscaler
    from a config; afterwards every process of the cluster (found by its marker) is stopped."""
    port = free_port()
    temp_dir = Path(tempfile.mkdtemp(prefix="ray-e2e-"))  # short: Ray's socket paths must stay under 108 characters
    config_path = tmp_path / "fake_cluster.yaml"
    config_path.write_text(yaml.safe_dump(fake_cluster_config(port)))
    marker = f"SSL_ABLATE_E2E={tmp_path}"  # inherited by every process of this cluster, and by nothing else
    # `ray start --head` turns token authentication on (Ray 2.60); its clients need
    # RAY_AUTH_MODE=token. The cluster gets a token of its own, not the one in ~/.ray (a fresh
    # machine has none, and `ray start` does not create one).
    env = {**os.environ, "RAY_FAKE_CLUSTER": "1", "SSL_ABLATE_E2E": str(tmp_path), "RAY_AUTH_MODE": "token",
           "RAY_AUTH_TOKEN": secrets.token_hex(32)}
    subprocess.run([RAY, "start", "--head", f"--port={port}", "--node-ip-address=127.0.0.1", "--num-cpus=1",
                    f"--autoscaling-config={config_path}", f"--temp-dir={temp_dir}", "--include-dashboard=false",
                    "--disable-usage-stats"], env=env, check=True, capture_output=True, timeout=180)
    address = f"127.0.0.1:{port}"
    try:
        deadline = time.time() + 180
        while not (workers := alive_worker_nodes(address, env)):
            assert time.time() < deadline, "the autoscaler did not start the worker node"
            time.sleep(2)
        assert len(workers) == 1, workers
        yield address, env, workers[0]
    finally:
        # not `ray stop`, which stops every Ray of the machine: the processes of this cluster
        # (head, autoscaler, worker nodes, trial processes orphaned on a killed node) all
        # inherited the marker
        kill(processes_with(marker))
        time.sleep(1)
        shutil.rmtree(temp_dir, ignore_errors=True)
        assert not processes_with(marker), "processes of the test cluster survived the cleanup"


def pretraining_trial_on(study_dir: Path, node_id: str) -> dict | None:
    """An attempt of a pretraining trial on ``node_id`` that has uploaded two checkpoints to
    storage (so the first is complete) and not finished, if any. Checkpoints are found by the
    key in their ``meta.json`` (uploaded with each checkpoint), as resume finds them; the trial
    dir's ``config.json`` is a trial artifact that reaches storage only when the trial ends."""
    path = study_dir / "attempts.jsonl"
    lines = path.read_text().splitlines() if path.exists() else []
    checkpoints = Counter()
    for meta in study_dir.glob("tune/*/checkpoint_*/meta.json"):
        try:
            checkpoints[json.loads(meta.read_text())["key"]] += 1
        except (OSError, ValueError, KeyError):
            continue  # being written
    for attempt in (json.loads(line) for line in lines):
        running = not (study_dir / "trials" / attempt["key"] / "trial_summary.json").exists()
        if running and attempt["node_id"] == node_id and attempt["arm"] == "rotation" and checkpoints[attempt["key"]] >= 2:
            return attempt
    return None


def comparable(found: dict) -> dict:
    """Metrics without the throughput figures (they depend on the machine's load)."""
    return {trial: {k: v for k, v in metrics.items() if not k.endswith("clips_per_s")} for trial, metrics in found.items()}


def test_a_study_on_a_two_node_cluster_survives_losing_the_worker_node(fake_cluster, tmp_path):
    address, env, worker_node = fake_cluster
    data_dir = str(tmp_path / "data")
    # the two rotation trials start first, one on each 1-CPU node, so one of them always runs
    # on the worker node (with scratch first, a slow start there could leave both on the head)
    command = [sys.executable, str(TESTS / "tiny_study.py"), data_dir, str(EPOCHS), "--pretraining-first",
               "--preset", "smoke", "--seeds", "2",
               "--out", str(tmp_path / "cluster"), "--address", address, "--max-concurrent", "2", "--quiet"]
    study = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    study_dir = tmp_path / "cluster/tiny"
    deadline = time.time() + 300
    while time.time() < deadline and study.poll() is None and pretraining_trial_on(study_dir, worker_node) is None:
        time.sleep(0.2)
    killed = pretraining_trial_on(study_dir, worker_node)
    if not killed:
        study.kill()
        out, err = study.communicate()
        attempts = study_dir / "attempts.jsonl"
        pytest.fail(f"no pretraining trial checkpointed on the worker node {worker_node}; attempts:\n"
                    + (attempts.read_text() if attempts.exists() else "(none)") + "\nstdout:\n" + out[-2000:]
                    + "\nstderr:\n" + err[-4000:])
    worker_processes = processes_with(worker_node)
    assert worker_processes, "the worker node's processes were not found"
    kill(worker_processes)
    out, err = study.communicate(timeout=600)
    assert study.returncode == 0, err[-3000:]
    assert "tiny: 4 of 4 trials completed" in out
    attempts = [json.loads(line) for line in (study_dir / "attempts.jsonl").read_text().splitlines()]
    assert len({a["node_id"] for a in attempts}) >= 2, "the trials did not land on both nodes"
    again = [a for a in attempts if a["key"] == killed["key"]][1:]
    assert again and again[-1]["start_epoch"] >= 1, f"the killed trial did not continue from its checkpoint: {again}"
    assert not processes_with(worker_node), "processes of the killed node are still alive"

    local = tiny_study(data_dir, epochs=EPOCHS)
    assert run_study_cli(local, ["--preset", "smoke", "--out", str(tmp_path / "local"), "--quiet"]) == 0
    assert comparable(summaries(study_dir)) == comparable(summaries(tmp_path / "local/tiny"))
