"""Static checks of ``cluster.yaml``, the Ray autoscaler config for AWS.

The config is validated against the JSON schema that ships in the ray wheel, and also the
way ``ray up`` does it: merged with the AWS defaults, then checked with Ray's
``validate_config``. The remaining tests check the properties this project relies on. No
cloud credentials, no network, no Ray runtime.
"""

import copy
import fnmatch
import json
import os
import re
import shlex
from pathlib import Path

import jsonschema
import pytest
import yaml

import ray
import ray.autoscaler

ROOT = Path(__file__).resolve().parents[1]
CLUSTER_YAML = ROOT / "cluster.yaml"
SCHEMA_PATH = Path(os.path.dirname(ray.autoscaler.__file__)) / "ray-schema.json"

RAY_PIN = re.compile(r"""["']?ray(\[[a-z,\s]+\])?==(\d+\.\d+\.\d+)["']?""")
DASHBOARD_LOCAL = re.compile(r"--dashboard-host[= ](127\.0\.0\.1|localhost)(\s|;|$)")


@pytest.fixture(scope="module")
def schema():
    with open(SCHEMA_PATH) as f:
        return json.load(f)


@pytest.fixture(scope="module")
def config():
    with open(CLUSTER_YAML) as f:
        return yaml.safe_load(f)


def _validate(cfg, schema):
    jsonschema.validate(cfg, schema, cls=jsonschema.Draft7Validator)


# --- schema ------------------------------------------------------------------------------


def test_schema_ships_with_ray(schema):
    assert schema["title"] == "Ray AutoScaler"
    assert schema.get("additionalProperties") is False  # unknown top-level keys are rejected


def test_cluster_yaml_matches_ray_schema(config, schema):
    _validate(config, schema)


def test_cluster_yaml_passes_ray_up_validation(config):
    """``ray up`` merges the config with the AWS defaults, then validates the merged one."""
    from ray.autoscaler._private.util import prepare_config, validate_config

    merged = prepare_config(copy.deepcopy(config))
    validate_config(merged)
    # A shallow merge: a top-level key missing here would come from the AWS defaults. Ours
    # must win for the keys that matter (the defaults install a nightly and bind the
    # dashboard to 0.0.0.0).
    for key in ("setup_commands", "head_start_ray_commands", "worker_start_ray_commands"):
        assert merged[key] == config[key], key
    assert any(DASHBOARD_LOCAL.search(c) for c in merged["head_start_ray_commands"])
    assert not any("0.0.0.0" in c for c in merged["head_start_ray_commands"])


@pytest.mark.parametrize(
    "mutate, what",
    [
        (lambda c: c.__setitem__("max_worker", 4), "unknown top-level key"),
        (lambda c: c.__setitem__("max_workers", "four"), "max_workers of the wrong type"),
        (lambda c: c.__setitem__("max_workers", -1), "negative max_workers"),
        (lambda c: c.pop("cluster_name"), "missing cluster_name"),
        (
            lambda c: c["available_node_types"]["ray.worker.gpu"]["resources"].__setitem__(
                "GPU", 0.5
            ),
            "fractional node resource",
        ),
        (
            lambda c: c["available_node_types"]["ray.worker.gpu"].__setitem__("min_worker", 0),
            "unknown node-type key",
        ),
        (
            lambda c: c["provider"].__setitem__(
                "security_group", {"GroupName": "x", "Ingress": []}
            ),
            "unknown security_group key",
        ),
    ],
)
def test_schema_rejects_broken_copies(config, schema, mutate, what):
    broken = copy.deepcopy(config)
    mutate(broken)
    with pytest.raises(jsonschema.ValidationError):
        _validate(broken, schema)


# --- node types --------------------------------------------------------------------------


def test_head_node_type_exists(config):
    node_types = config["available_node_types"]
    assert config["head_node_type"] in node_types
    head = node_types[config["head_node_type"]]
    assert head.get("resources", {}).get("GPU", 0) == 0
    assert head.get("max_workers", 0) == 0


def test_gpu_worker_type_scales_from_zero(config):
    node_types = config["available_node_types"]
    workers = {k: v for k, v in node_types.items() if k != config["head_node_type"]}
    gpu = {k: v for k, v in workers.items() if v["resources"].get("GPU", 0) >= 1}
    assert gpu, "no worker node type declares a GPU resource"
    for name, node_type in gpu.items():
        assert node_type["min_workers"] == 0, name
        assert 1 <= node_type["max_workers"] <= config["max_workers"], name
        assert node_type["resources"].get("CPU", 0) >= 1, name
        assert node_type["node_config"]["InstanceType"], name
    assert config["idle_timeout_minutes"] > 0
    assert sum(t.get("min_workers", 0) for t in node_types.values()) <= config["max_workers"]


# --- setup -------------------------------------------------------------------------------


def test_setup_commands_pin_ray(config):
    pins = [m for c in config["setup_commands"] for m in RAY_PIN.finditer(c)]
    assert pins, "setup_commands must pin Ray (ray[...]==X.Y.Z); the default is a nightly"
    versions = {m.group(2) for m in pins}
    assert len(versions) == 1, f"setup_commands pin different Ray versions: {versions}"
    # Every Ray requirement passed to pip is pinned (no bare `ray` or `ray>=...`).
    for cmd in config["setup_commands"]:
        if "pip install" not in cmd:
            continue
        for token in shlex.split(cmd):
            if re.fullmatch(r"ray(\[[^\]]*\])?([<>=!~].*)?", token):
                assert RAY_PIN.fullmatch(token), f"unpinned Ray {token!r} in: {cmd}"


def test_pinned_ray_matches_installed_ray(config):
    """The cluster runs the Ray the tests (and `ray up`/`ray job submit`) run against."""
    pinned = {m.group(2) for c in config["setup_commands"] for m in RAY_PIN.finditer(c)}
    assert pinned == {ray.__version__}, (
        f"cluster.yaml pins Ray {pinned}, the local environment has {ray.__version__}"
    )


def test_ray_extras_include_default(config):
    """``ray[tune,train,data]`` alone has no dashboard: no `ray job submit`, no autoscaler UI."""
    extras = {
        e.strip()
        for c in config["setup_commands"]
        for m in RAY_PIN.finditer(c)
        if m.group(1)
        for e in m.group(1).strip("[]").split(",")
    }
    assert {"default", "tune", "train"} <= extras


def test_setup_commands_install_this_project(config):
    mounts = config["file_mounts"]
    remote = [r for r, local in mounts.items() if local in (".", "./")]
    assert remote, "file_mounts must copy the repository ('.') to the nodes"
    name = remote[0].rstrip("/").split("/")[-1]
    assert any(
        "pip install" in c and "-e" in c.split() and f"{name}[dev]" in c
        for c in config["setup_commands"]
    ), "setup_commands must `pip install -e` the mounted repository"
    assert (ROOT / "pyproject.toml").exists()


def _rsync_excluded(rel_path, is_dir, patterns):
    """Minimal rsync --exclude semantics (enough for the patterns in cluster.yaml)."""
    for pattern in patterns:
        dir_only = pattern.endswith("/")
        p = pattern.rstrip("/")
        if dir_only and not is_dir:
            continue
        if p.startswith("/"):
            if fnmatch.fnmatchcase(rel_path, p[1:]):
                return True
        elif "/" in p:
            parts = rel_path.split("/")
            if any(fnmatch.fnmatchcase("/".join(parts[i:]), p) for i in range(len(parts))):
                return True
        elif fnmatch.fnmatchcase(rel_path.rsplit("/", 1)[-1], p):
            return True
    return False


def _is_excluded(rel_path, patterns):
    """True if the file or one of its parent directories is excluded."""
    parts = rel_path.split("/")
    for i in range(1, len(parts)):
        if _rsync_excluded("/".join(parts[:i]), True, patterns):
            return True
    return _rsync_excluded(rel_path, False, patterns)


def test_rsync_excludes_local_state_but_not_the_code(config):
    patterns = config["rsync_exclude"]
    for top in (".venv", "data", "results", ".git"):
        assert _rsync_excluded(top, True, patterns), f"{top}/ is copied to the cluster"
    # An unanchored "data" would also drop the ssl_core/data/ package.
    skip_top = {".venv", ".git", "data", "results", "build"}
    needed = []
    for dirpath, dirnames, filenames in os.walk(ROOT):
        rel_dir = os.path.relpath(dirpath, ROOT)
        if rel_dir == ".":
            dirnames[:] = [d for d in dirnames if d not in skip_top]
        dirnames[:] = [
            d
            for d in dirnames
            if d != "__pycache__" and not d.endswith(".egg-info") and not d.startswith(".")
        ]
        for fn in filenames:
            if fn.endswith((".py", ".toml", ".md", ".json", ".yaml", ".csv")):
                needed.append(fn if rel_dir == "." else f"{rel_dir}/{fn}".replace(os.sep, "/"))
    assert "pyproject.toml" in needed
    assert any(p.startswith("ssl_core/data/") for p in needed)
    dropped = [p for p in needed if _is_excluded(p, patterns)]
    assert not dropped, f"rsync_exclude drops project files: {dropped[:5]}"


# --- network -----------------------------------------------------------------------------


def test_security_group_opens_only_ssh(config):
    sg = config["provider"].get("security_group", {})
    for rule in sg.get("IpPermissions", []) or []:
        assert rule.get("IpProtocol") == "tcp", rule
        assert rule.get("FromPort") == 22 and rule.get("ToPort") == 22, rule
    for node_type in config["available_node_types"].values():
        # Network interfaces with a hand-made public IP config bypass the checks above.
        assert "NetworkInterfaces" not in node_type["node_config"]


def test_dashboard_bound_to_localhost(config):
    head_cmds = config["head_start_ray_commands"]
    start = [c for c in head_cmds if "ray start" in c and "--head" in c]
    assert len(start) == 1
    assert DASHBOARD_LOCAL.search(start[0]), start[0]
    assert "--autoscaling-config=~/ray_bootstrap_config.yaml" in start[0]
    everything = yaml.safe_dump(config)
    assert "0.0.0.0" not in everything
    assert "--ray-client-server-port" not in everything


def test_workers_join_the_head(config):
    start = [c for c in config["worker_start_ray_commands"] if "ray start" in c]
    assert len(start) == 1 and "--address=$RAY_HEAD_IP:6379" in start[0]
    assert "--head" not in start[0]


# --- the on-premise config and token authentication ------------------------------------

LOCAL_YAML = ROOT / "cluster.local.yaml"


@pytest.fixture(scope="module")
def local_config():
    with open(LOCAL_YAML) as f:
        return yaml.safe_load(f)


def test_local_yaml_matches_ray_schema_and_ray_up_validation(local_config, schema):
    from ray.autoscaler._private.util import prepare_config, validate_config

    _validate(local_config, schema)
    assert local_config["provider"]["type"] == "local"
    assert local_config["provider"]["head_ip"] and isinstance(local_config["provider"]["worker_ips"], list)
    merged = prepare_config(copy.deepcopy(local_config))
    validate_config(merged)
    for key in ("setup_commands", "head_start_ray_commands", "worker_start_ray_commands", "file_mounts"):
        assert merged[key] == local_config[key], key


@pytest.mark.parametrize("path", [CLUSTER_YAML, LOCAL_YAML], ids=["aws", "local"])
def test_every_node_starts_ray_with_token_authentication(path):
    """RAY_AUTH_MODE=token on every `ray start`, and for every later command (~/.bashrc); the
    token is copied from outside the repository and kept private on the node."""
    with open(path) as f:
        cfg = yaml.safe_load(f)
    starts = [c for key in ("head_start_ray_commands", "worker_start_ray_commands") for c in cfg[key] if "ray start" in c]
    assert len(starts) == 2 and all("RAY_AUTH_MODE=token ray start" in c for c in starts), starts
    assert cfg["file_mounts"]["~/.ray/auth_token"] == "~/.ray/auth_token"
    assert any("export RAY_AUTH_MODE=token" in c for c in cfg["setup_commands"])
    assert "chmod 600 ~/.ray/auth_token" in cfg["setup_commands"]
    assert DASHBOARD_LOCAL.search(next(c for c in starts if "--head" in c))


def test_no_token_is_committed():
    tracked = [p for p in ROOT.rglob("*") if ".git" not in p.parts and ".venv" not in p.parts]
    assert not [p for p in tracked if p.name == "auth_token"]
