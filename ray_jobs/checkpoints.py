"""Where each trial of an earlier run stopped: its checkpoints on storage, newest first.

A resumed study does not restore Tune's experiment state (``tuner.pkl``): that state pins the
storage path and callbacks of the run that wrote it, so a moved study kept writing to its old
place, and it names one checkpoint per trial, so a deleted checkpoint failed every later
resume. Instead every run starts a fresh Tuner over the trials that have no summary yet, and
each of them continues from the newest checkpoint of the same trial (same key, same declared
config hash) found under the storage path by this module.

Layout read: ``<storage>/tune*/<trial dir>/checkpoint_*/{state.pt, meta.json}``, and for a
multi-worker trial its TorchTrainer run folder ``<storage>/train_<key>_<hash>/checkpoint_*``
(``meta.json``: the epoch, the trial's key and declared config hash, written by
``ray_jobs.trial``); for checkpoints without them, the trial dir's ``config.json`` and Tune's
``result.json``, whose ``checkpoint_dir_name`` lines also say which checkpoints a run
recorded (to warn when a recorded one has gone).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field

import pyarrow.fs as pafs

STATE_FILE = "state.pt"
META_FILE = "meta.json"
CONFIG_FILE = "config.json"
RESULT_FILE = "result.json"
TUNE_PREFIX = "tune"


@dataclass
class TrialCheckpoints:
    """The checkpoints of one trial found on storage: ``(epoch, uri)`` newest first, and the
    recorded ones newer than the newest found that are gone (``missing``, as ``uri (epoch n)``)."""

    found: list[tuple[int, str]] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)


def _filesystem(storage: str) -> tuple[pafs.FileSystem, str, str]:
    """``(filesystem, root path in it, uri prefix)`` of a local path or a ``scheme://`` URI."""
    filesystem, root = pafs.FileSystem.from_uri(storage)
    prefix = storage.split("://", 1)[0] + "://" if "://" in storage else ""
    return filesystem, root.rstrip("/"), prefix


def _read_text(filesystem, path: str) -> str | None:
    try:
        with filesystem.open_input_stream(path) as stream:
            return stream.read().decode("utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def _json(filesystem, path: str) -> dict | None:
    text = _read_text(filesystem, path)
    try:
        value = json.loads(text) if text is not None else None
    except json.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


def _children(filesystem, path: str) -> list[pafs.FileInfo]:
    try:
        return filesystem.get_file_info(pafs.FileSelector(path, allow_not_found=True))
    except OSError:
        return []


def _recorded_epochs(filesystem, trial_dir: str) -> dict[str, int]:
    """Checkpoint directory name -> epoch, for every checkpoint Tune recorded in ``result.json``."""
    recorded = {}
    for line in (_read_text(filesystem, f"{trial_dir}/{RESULT_FILE}") or "").splitlines():
        try:
            result = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line cut off by a kill
        if isinstance(result, dict) and result.get("checkpoint_dir_name") and "epoch" in result:
            recorded[result["checkpoint_dir_name"]] = int(result["epoch"])
    return recorded


def _usable_checkpoints(filesystem, folder: str, prefix: str, expected_hashes: dict[str, str],
                        identity: dict | None = None, recorded: dict[str, int] | None = None) -> list[tuple[str, int, str]]:
    """``(key, epoch, uri)`` of each ``checkpoint_*`` directly in ``folder`` whose trial key and
    declared config hash (its ``meta.json``, else the folder's ``identity``) are expected, whose
    epoch is known (``meta.json``, else the ``recorded`` result line) and whose state is not empty."""
    identity, recorded, usable = identity or {}, recorded or {}, []
    for entry in _children(filesystem, folder):
        if entry.type != pafs.FileType.Directory or not entry.base_name.startswith("checkpoint_"):
            continue
        meta = _json(filesystem, f"{entry.path}/{META_FILE}") or {}
        key, config = meta.get("key", identity.get("key")), meta.get("config_hash", identity.get("config_hash"))
        epoch = meta.get("epoch", recorded.get(entry.base_name))  # checkpoints before meta.json: their result line
        state = filesystem.get_file_info(f"{entry.path}/{STATE_FILE}")
        if (key is not None and expected_hashes.get(key) == config and epoch is not None
                and state.type == pafs.FileType.File and state.size):
            usable.append((key, int(epoch), prefix + entry.path))
    return usable


def run_folder_checkpoints(folder: str, key: str, declared_hash: str) -> list[tuple[int, str]]:
    """``(epoch, uri)``, newest epoch first, of the usable checkpoints of trial ``key`` (with
    ``declared_hash``) directly in one run folder: a multi-worker trial's TorchTrainer run
    (``<storage>/train_<key>_<hash>/checkpoint_*``)."""
    filesystem, root, prefix = _filesystem(folder)
    found = _usable_checkpoints(filesystem, root, prefix, {key: declared_hash})
    return sorted(((epoch, uri) for _, epoch, uri in found), reverse=True)


def find_checkpoints(storage: str, expected_hashes: dict[str, str]) -> dict[str, TrialCheckpoints]:
    """For every trial key in ``expected_hashes`` (key -> declared config hash) with checkpoints
    under ``storage``: the usable ones (``state.pt`` present, epoch known), newest epoch
    first, over every earlier run, and the recorded ones that have gone."""
    filesystem, root, prefix = _filesystem(storage)
    trials: dict[str, TrialCheckpoints] = {}
    recorded_by_key: dict[str, list[tuple[int, str]]] = {}
    for experiment in _children(filesystem, root):
        if experiment.type != pafs.FileType.Directory or not experiment.base_name.startswith(TUNE_PREFIX):
            continue
        for trial_dir in _children(filesystem, experiment.path):
            if trial_dir.type != pafs.FileType.Directory:
                continue
            # Tune copies a running trial's files (config.json, result.json) to storage only
            # now and then, its checkpoints at once: each checkpoint's meta.json names its trial
            identity = _json(filesystem, f"{trial_dir.path}/{CONFIG_FILE}") or {}
            if "key" in identity and expected_hashes.get(identity["key"]) != identity.get("config_hash"):
                continue  # another trial's folder (or another declaration's): one read, not one per file
            recorded = _recorded_epochs(filesystem, trial_dir.path)
            for key, epoch, uri in _usable_checkpoints(filesystem, trial_dir.path, prefix, expected_hashes, identity, recorded):
                trials.setdefault(key, TrialCheckpoints()).found.append((epoch, uri))
            if identity.get("key") and expected_hashes.get(identity["key"]) == identity.get("config_hash"):
                recorded_by_key.setdefault(identity["key"], []).extend(
                    (epoch, f"{prefix}{trial_dir.path}/{name}") for name, epoch in recorded.items())
    for key in recorded_by_key:
        trials.setdefault(key, TrialCheckpoints())
    for key, checkpoints in trials.items():
        checkpoints.found.sort(reverse=True)
        newest = checkpoints.found[0][0] if checkpoints.found else 0
        present = {uri for _, uri in checkpoints.found}
        checkpoints.missing = [f"{uri} (epoch {epoch})" for epoch, uri in sorted(recorded_by_key.get(key, []), reverse=True)
                               if epoch > newest and uri not in present]
    return trials
