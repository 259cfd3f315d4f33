"""The study command line without Ray: --set, --show-config, and the factor order of with_factors."""
import json

import pytest
import ray

from ray_jobs.cli import run_study_cli
from ssl_core.config import ConfigError, config_hash, parse_assignment
from ssl_core.experiment import with_factors
from ssl_core.presets import BASE_PRESETS
from tiny_study import tiny_study


def show(study, tmp_path, capsys, *extra) -> dict:
    code = run_study_cli(study, ["--preset", "smoke", "--out", str(tmp_path), "--show-config", *extra])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    return json.loads(captured.out)


def test_show_config_prints_every_trial_and_starts_nothing(tmp_path, capsys):
    shown = show(tiny_study(str(tmp_path / "data")), tmp_path, capsys)
    assert sorted(shown) == ["rotation__seed0", "rotation__seed1", "scratch__seed0", "scratch__seed1"]
    assert shown["rotation__seed1"]["config"]["seed"] == 1
    assert shown["scratch__seed0"]["config"]["method"] == {"name": "scratch", "options": {}}
    assert not ray.is_initialized() and not (tmp_path / "tiny").exists()


def test_set_applies_to_every_arm_after_the_preset(tmp_path, capsys):
    study = tiny_study(str(tmp_path / "data"))
    plain = show(study, tmp_path, capsys)
    changed = show(study, tmp_path, capsys, "--set", "pretrain.epochs=4", "backbone.width=0.5", 'eval.protocols=["knn"]')
    for key, trial in changed.items():
        assert trial["config"]["pretrain"]["epochs"] == 4 and trial["config"]["backbone"]["width"] == 0.5
        assert trial["config"]["eval"]["protocols"] == ["knn"]
        assert trial["config_hash"] != plain[key]["config_hash"]
    configs = study.trial_configs("smoke", (0,), {"eval.protocols": ["knn"]})
    assert configs[("rotation", 0)].eval.protocols == ("knn",)  # a JSON list becomes the field's tuple


@pytest.mark.parametrize("assignment, field", [
    ("pretrain.epochz=4", "set[pretrain.epochz]"),
    ("pretrain.epochs=-1", "arms[scratch].pretrain.epochs"),
    ("method.name=rotation", "set[method.name]"),  # every arm sets it: the arm would win, so refused
    ("seed=3", "set[seed]"),
    ("epochs", "set"),
])
def test_bad_set_fails_naming_the_field_before_ray(tmp_path, capsys, assignment, field):
    study = tiny_study(str(tmp_path / "data"))
    assert run_study_cli(study, ["--preset", "smoke", "--out", str(tmp_path), "--set", assignment]) == 2
    assert field in capsys.readouterr().err
    assert not ray.is_initialized() and not (tmp_path / "tiny").exists()


def test_parse_assignment_reads_json_values_and_keeps_other_text():
    assert parse_assignment("pretrain.lr=0.01") == ("pretrain.lr", 0.01)
    assert parse_assignment("pretrain.sync_batchnorm=true") == ("pretrain.sync_batchnorm", True)
    assert parse_assignment("method.options.contrastive=byol") == ("method.options.contrastive", "byol")
    assert parse_assignment("clip.resize=[32, 40]") == ("clip.resize", [32, 40])
    with pytest.raises(ConfigError, match="^set:"):
        parse_assignment("=3")


@pytest.mark.parametrize("order", ["name first", "name last"])
def test_with_factors_applies_method_name_first_whatever_the_order(order):
    factors = {"method.options.num_candidates": 3}
    factors = {"method.name": "cstp", **factors} if order == "name first" else {**factors, "method.name": "cstp"}
    config = with_factors(BASE_PRESETS["smoke"], factors)
    assert config.method.name == "cstp" and config.method.options == {"num_candidates": 3}
    assert config.method.typed_options().num_candidates == 3


def test_the_trial_hash_is_the_declared_config_whatever_the_working_directory(tmp_path, monkeypatch, capsys):
    study = tiny_study("data")  # relative, as the presets declare it
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    monkeypatch.chdir(tmp_path / "a")
    first = show(study, tmp_path, capsys)
    monkeypatch.chdir(tmp_path / "b")
    assert show(study, tmp_path, capsys) == first
    assert first["rotation__seed0"]["config_hash"] == config_hash(study.trial_configs("smoke", (0,))[("rotation", 0)])
