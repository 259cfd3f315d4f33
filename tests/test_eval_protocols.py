"""Every downstream protocol end to end on a tiny generated dataset."""
import json
import shutil
from dataclasses import replace

import numpy as np
import pytest
import torch

from ssl_core.backbones import BackboneConfig
from ssl_core.checkpoint import load_backbone, save_backbone
from ssl_core.config import ConfigError
from ssl_core.eval import EvalConfig, evaluate
from ssl_core.eval.__main__ import main as eval_main
from ssl_core.eval.downstream import load_datasets, preset, run_downstream
from ssl_core.eval.features import effective_rank, extract_clip_features


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("data")
    config = preset("smoke")
    config = replace(config, data=replace(config.data, data_dir=str(data_dir)))
    return config, load_datasets(config.data, config.clip, config.datasets)


def _backbone(config):
    torch.manual_seed(0)
    return config.backbone.build()


def test_splits_of_the_embedded_datasets_load_without_skips(smoke):
    config, datasets = smoke
    for key, (train, test) in datasets.items():
        assert len(train) > 0 and len(test) > 0 and not train.skipped and not test.skipped
        assert set(train.labels) == set(test.labels) == set(range(train.num_classes))
    assert datasets["ucf"][0].class_names != datasets["hmdb"][0].class_names


def test_every_protocol_gives_its_namespaced_metrics(smoke):
    config, datasets = smoke
    eval_config = replace(config.eval, retrieval_stages=("pool3", "pool5"), retrieval_ks=(1, 5, 10, 20, 50))
    metrics = evaluate(_backbone(config), {"ucf": datasets["ucf"]}, eval_config)
    expected = {"finetune/ucf/clip_top1", "finetune/ucf/video_top1", "linear/ucf/top1", "linear/ucf/clip_top1", "knn/ucf/top1"}
    expected |= {f"retrieval/ucf/r@{k}" for k in (1, 5, 10, 20, 50)}
    expected |= {f"retrieval/ucf/pool3/r@{k}" for k in (1, 5, 10, 20, 50)}
    assert set(metrics) == expected | {"features/ucf/effective_rank"}
    assert all(0.0 <= metrics[name] <= 1.0 for name in expected)
    train_features = extract_clip_features(_backbone(config), datasets["ucf"][0], config.eval.clips_per_video)["pool5"]
    assert metrics["features/ucf/effective_rank"] == pytest.approx(effective_rank(train_features.reshape(len(train_features) * config.eval.clips_per_video, -1)))
    assert 1.0 <= metrics["features/ucf/effective_rank"] <= train_features.shape[-1]
    recalls = [metrics[f"retrieval/ucf/r@{k}"] for k in (1, 5, 10, 20, 50)]
    assert recalls == sorted(recalls)
    train, test = datasets["ucf"]
    if len(train) <= 50:  # the whole gallery is retrieved and every test class is in it
        assert metrics["retrieval/ucf/r@50"] == 1.0


def test_finetune_leaves_the_given_backbone_untouched(smoke):
    config, datasets = smoke
    backbone = _backbone(config)
    before = {k: v.clone() for k, v in backbone.state_dict().items()}
    evaluate(backbone, {"hmdb": datasets["hmdb"]}, replace(config.eval, protocols=("finetune",)))
    assert all(torch.equal(before[k], v) for k, v in backbone.state_dict().items())


@pytest.mark.parametrize("flip", [True, False])
def test_finetune_flips_training_clips_only_when_asked(smoke, monkeypatch, flip):
    import ssl_core.eval.finetune as finetune_module

    config, datasets = smoke
    made = []
    original = finetune_module.TrainClips
    monkeypatch.setattr(finetune_module, "TrainClips", lambda *a, **k: made.append(k["flip"]) or original(*a, **k))
    finetune_config = replace(config.eval.finetune, flip=flip)
    finetune_module.finetune(_backbone(config), *datasets["hmdb"], finetune_config, clips_per_video=1)
    assert made == [flip]


class ZeroFeatures(torch.nn.Module):
    """A backbone whose features are all zero: the classifier sees only its bias."""
    feature_dim = 8

    def forward(self, clips):
        return clips.new_zeros(len(clips), self.feature_dim)


def test_finetune_reports_each_epochs_training_loss_and_accuracy(smoke):
    from ssl_core.eval.finetune import finetune

    config, datasets = smoke
    train, test = datasets["hmdb"]
    # one batch of every training video, and a step too small to move the bias: each epoch's
    # logits are the classifier's initial bias for every clip
    settings = replace(config.eval.finetune, epochs=2, batch_size=len(train), lr=1e-12, dropout=0.0)
    seen = []
    finetune(ZeroFeatures(), train, test, settings, clips_per_video=1, seed=3, on_epoch=lambda *row: seen.append(row))
    torch.manual_seed(3)
    bias = torch.nn.Linear(ZeroFeatures.feature_dim, train.num_classes).bias.detach()  # drawn as finetune draws it
    labels = torch.as_tensor(train.labels)
    expected_loss = float(torch.nn.functional.cross_entropy(bias.expand(len(labels), -1), labels))
    expected_accuracy = float((labels == bias.argmax()).double().mean())
    assert [epoch for epoch, _, _ in seen] == [0, 1]
    for _, loss, accuracy in seen:
        assert loss == pytest.approx(expected_loss, rel=1e-5) and accuracy == pytest.approx(expected_accuracy)


@pytest.mark.parametrize("optimiser,bias_lr_mult", [("sgd", 1.0), ("adamw", 1.0), ("sgd", 2.0)])
def test_finetune_takes_the_named_optimisers_first_step(smoke, optimiser, bias_lr_mult):
    from ssl_core.eval.finetune import finetune

    config, datasets = smoke
    train, test = datasets["hmdb"]
    lr, decay = 0.5, 0.1
    settings = replace(config.eval.finetune, epochs=2, batch_size=len(train), lr=lr, weight_decay=decay, momentum=0.9,
                       dropout=0.0, optimiser=optimiser, bias_lr_mult=bias_lr_mult)
    seen = []
    finetune(ZeroFeatures(), train, test, settings, clips_per_video=1, seed=3, on_epoch=lambda *row: seen.append(row))
    # zero features: only the bias moves. Its gradient is softmax(b0) - the label frequencies;
    # epoch 1's loss is that of the bias after the first step, taken at the full lr (times
    # bias_lr_mult: it is a bias)
    torch.manual_seed(3)
    bias = torch.nn.Linear(ZeroFeatures.feature_dim, train.num_classes).bias.detach().double()
    labels = torch.as_tensor(train.labels)
    gradient = bias.softmax(0) - torch.bincount(labels, minlength=train.num_classes).double() / len(labels)
    step = lr * bias_lr_mult
    if optimiser == "sgd":  # L2 weight decay in the gradient; the momentum buffer starts at the gradient
        stepped = bias - step * (gradient + decay * bias)
    else:  # decoupled decay, then Adam's bias-corrected first step: lr * g / (|g| + eps)
        stepped = bias * (1 - step * decay) - step * gradient / (gradient.abs() + 1e-8)
    expected = float(torch.nn.functional.cross_entropy(stepped.expand(len(labels), -1), labels))
    assert seen[1][1] == pytest.approx(expected, rel=1e-5)


def test_finetune_optimiser_is_validated_by_name():
    from ssl_core.eval.finetune import FinetuneConfig

    with pytest.raises(ConfigError, match=r"finetune\.optimiser"):
        FinetuneConfig(optimiser="lamb").validate()


def test_finetune_scores_do_not_depend_on_the_epoch_report(smoke):
    from ssl_core.eval.finetune import finetune

    config, datasets = smoke
    quiet = finetune(_backbone(config), *datasets["ucf"], config.eval.finetune, clips_per_video=1, seed=1)
    rows = []
    reported = finetune(_backbone(config), *datasets["ucf"], config.eval.finetune, clips_per_video=1, seed=1,
                        on_epoch=lambda *row: rows.append(row))
    assert reported == quiet and len(rows) == config.eval.finetune.epochs
    assert all(loss > 0 and 0 <= accuracy <= 1 for _, loss, accuracy in rows)


def test_checkpoint_round_trip_gives_identical_features(smoke, tmp_path):
    config, datasets = smoke
    backbone = _backbone(config)
    save_backbone(tmp_path / "ckpt", backbone, config.backbone, extra={"method": "none"})
    loaded, saved_config = load_backbone(tmp_path / "ckpt")
    assert saved_config == config.backbone
    test = datasets["ucf"][1]
    a = extract_clip_features(backbone, test, 2, ("pool4",))["pool4"]
    b = extract_clip_features(loaded, test, 2, ("pool4",))["pool4"]
    assert a.shape[:2] == (len(test), 2) and np.array_equal(a, b)


def test_run_downstream_writes_config_metrics_and_manifests(smoke, tmp_path):
    config, _ = smoke
    config = replace(config, datasets=("hmdb",), eval=replace(config.eval, protocols=("knn", "retrieval")))
    metrics = run_downstream(config, tmp_path / "out", log=lambda *_: None)
    written = json.loads((tmp_path / "out/metrics.json").read_text())
    assert written["metrics"] == metrics and "knn/hmdb/top1" in metrics and written["device"] == "cpu"
    assert json.loads((tmp_path / "out/config.json").read_text())["config"]["datasets"] == ["hmdb"]
    assert json.loads((tmp_path / "out/manifest_hmdb.json").read_text())["test"]["skipped"] == 0


def test_a_corrupt_video_is_skipped_and_listed(smoke, tmp_path):
    config, _ = smoke
    source = config.data.root("ucf")
    root = tmp_path / "ucf_copy"
    shutil.copytree(source, root)
    victim = next(iter(sorted((root / "UCF-101").rglob("*.avi"))))
    victim.write_bytes(b"not a video at all" * 10)
    copy_config = replace(config, datasets=("ucf",), data=replace(config.data, ucf_root=str(root)),
                          eval=replace(config.eval, protocols=("knn",)))
    run_downstream(copy_config, tmp_path / "out", log=lambda *_: None)
    manifest = json.loads((tmp_path / "out/manifest_ucf.json").read_text())
    skipped = manifest["train"]["skipped_videos"] + manifest["test"]["skipped_videos"]
    assert [(s["path"], s["kind"]) for s in skipped] == [(str(victim), "unreadable")]


def test_cli_rejects_bad_config_and_refuses_to_overwrite(smoke, tmp_path, capsys):
    config, _ = smoke
    assert eval_main(["--preset", "smoke", "--split", "5", "--out", str(tmp_path / "x")]) == 2
    assert "data.split" in capsys.readouterr().err
    assert eval_main(["--preset", "smoke", "--protocols", "knn,magic", "--out", str(tmp_path / "x")]) == 2
    assert "eval.protocols" in capsys.readouterr().err
    if not torch.cuda.is_available():  # this machine: asking for a GPU is a clear error, before any work
        assert eval_main(["--preset", "smoke", "--device", "cuda", "--out", str(tmp_path / "x")]) == 2
        assert "device" in capsys.readouterr().err and not (tmp_path / "x").exists()
    (tmp_path / "x").mkdir()
    (tmp_path / "x/metrics.json").write_text("{}")
    assert eval_main(["--preset", "smoke", "--out", str(tmp_path / "x"), "--data-dir", config.data.data_dir]) == 2
    assert "exists" in capsys.readouterr().err


@pytest.mark.parametrize("a, b, expected", [
    (3.0, 1.0, 1.754765),  # singular values 3*sqrt(2), sqrt(2): p = (3/4, 1/4), exp(0.75 ln(4/3) + 0.25 ln 4)
    (2.0, 2.0, 2.0),       # an even spread over two directions
    (5.0, 0.0, 1.0),       # every clip on one line
])
def test_effective_rank_by_hand(a, b, expected):
    # four clips at +-a on one axis and +-b on the other: centred, with orthogonal columns of norm a*sqrt(2), b*sqrt(2)
    features = np.array([[a, 0.0, 0.0], [-a, 0.0, 0.0], [0.0, b, 0.0], [0.0, -b, 0.0]])
    assert effective_rank(features) == pytest.approx(expected, abs=1e-6)
    assert effective_rank(features + 7.0) == pytest.approx(expected, abs=1e-6)  # an offset is centred away
    rotated = features @ np.linalg.qr(np.random.default_rng(0).normal(size=(3, 3)))[0]
    assert effective_rank(rotated) == pytest.approx(expected, abs=1e-6)


def test_effective_rank_of_equal_clips_is_one_and_bad_shapes_are_refused():
    assert effective_rank(np.ones((5, 4))) == 1.0
    with pytest.raises(ValueError, match="N >= 2"):
        effective_rank(np.ones((1, 4)))
    with pytest.raises(ValueError, match=r"\(N, D\)"):
        effective_rank(np.ones(4))
