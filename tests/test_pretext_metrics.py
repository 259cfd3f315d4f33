"""Pretext figures that mean something: per-task / per-group held-out accuracies and their chance levels."""
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import InMemoryVideos
from ssl_core.backbones import build_backbone
from ssl_core.data.config import ClipConfig
from ssl_core.methods import MethodConfig, build_method
from ssl_core.methods.base import majority_rate
from ssl_core.pretrain import held_out_metrics

ROOT = Path(__file__).resolve().parents[1]
CLIP = ClipConfig(num_frames=4, stride=1, resize=(24, 24), crop=16)


class Videos(InMemoryVideos):
    def __init__(self, videos, clip=CLIP):
        super().__init__(videos, clip)


def random_videos(count, length=24, size=24, seed=0):
    rng = np.random.default_rng(seed)
    return Videos(rng.integers(0, 256, (count, length, size, size, 3), dtype=np.uint8))


def build(name, options=None):
    torch.manual_seed(0)
    return build_method(MethodConfig(name, dict(options or {})), build_backbone("r3d_18", width=0.125), CLIP)


def test_majority_rate_by_hand():
    # (N,): values 1, 1, 2, 3 -> the most frequent value 1 covers 2 of 4
    assert majority_rate(torch.tensor([1, 1, 2, 3])) == 0.5
    # (N, L): column 0 [0, 0, 0, 1] -> 3/4, column 1 [5, 6, 7, 8] -> 1/4; mean 1/2
    assert majority_rate(torch.tensor([[0, 5], [0, 6], [0, 7], [1, 8]])) == 0.5
    assert np.isnan(majority_rate(torch.zeros(0, dtype=torch.long)))


def test_cstp_chance_levels_by_hand():
    method = build("cstp", {"contrastive": "none"})
    targets = {"pretext/stor_s_acc": torch.tensor([0, 0, 0, 1]),  # 3/4
               "pretext/stor_t_acc": torch.tensor([0, 1, 2, 3]),  # 1/4
               "pretext/pace_acc": torch.tensor([2, 2, 1, 1]),  # 1/2
               "pretext/rot_acc": torch.tensor([0, 1, 2, 2])}  # 1/2
    levels = method.chance_levels(targets)
    assert levels == pytest.approx({"pretext/stor_s_acc_chance": 0.75, "pretext/stor_t_acc_chance": 0.25,
                                    "pretext/pace_acc_chance": 0.5, "pretext/rot_acc_chance": 0.5,
                                    "pretext/acc_chance": 0.5})


def test_cstp_task_targets_follow_the_active_tasks():
    method = build("cstp", {"contrastive": "none", "pace": False, "rotation": False, "stor_temporal": False})
    batch = {"stor_spatial": torch.tensor([1, 2]), "stor_temporal": torch.tensor([0, 0]), "pace": torch.tensor([3, 3]),
             "rot1": torch.tensor([0, 1]), "rot2": torch.tensor([2, 3])}
    assert set(method.task_targets(batch)) == {"pretext/stor_s_acc"}
    method = build("cstp", {"contrastive": "none"})
    targets = method.task_targets(batch)
    assert targets["pretext/rot_acc"].tolist() == [0, 1, 2, 3] and targets["pretext/pace_acc"].tolist() == [3, 3, 3, 3]


def test_held_out_metrics_give_every_cstp_task_and_its_chance():
    method = build("cstp", {"contrastive": "none", "num_candidates": 3})
    metrics = held_out_metrics(method, random_videos(10), batch_size=4, seed=0)
    for task in ("stor_s", "stor_t", "pace", "rot"):
        assert 0 <= metrics[f"pretext/{task}_acc"] <= 1
        assert 0 < metrics[f"pretext/{task}_acc_chance"] <= 1
    mean_task = np.mean([metrics[f"pretext/{task}_acc"] for task in ("stor_s", "stor_t", "pace", "rot")])
    assert metrics["pretext/acc"] == pytest.approx(mean_task)
    assert metrics["pretext/acc_chance"] == pytest.approx(
        np.mean([metrics[f"pretext/{task}_acc_chance"] for task in ("stor_s", "stor_t", "pace", "rot")]))
    assert method.training  # restored


def test_sts_reports_per_group_accuracy_and_its_chance():
    clip = ClipConfig(num_frames=4, stride=1, resize=(24, 24), crop=24)
    torch.manual_seed(0)
    method = build_method(MethodConfig("sts", {"groups": ("motion_global", "appearance_global")}),
                          build_backbone("r3d_18", width=0.125), clip)
    videos = random_videos(6)
    videos.clip = clip
    examples = [method.sample(videos.frames(i), clip, np.random.default_rng(i)) for i in range(6)]
    batch = torch.utils.data.default_collate(examples)
    _, metrics = method(batch)
    # pretext/acc is the mean over the 3 selected labels; the groups hold 2 and 1 of them
    group_mean = (2 * metrics["pretext/acc_motion_global"] + metrics["pretext/acc_appearance_global"]) / 3
    assert metrics["pretext/acc"].item() == pytest.approx(group_mean.item())
    targets = method.task_targets(batch)
    assert targets["pretext/acc"].shape == (6, 3) and targets["pretext/acc_appearance_global"].shape == (6, 1)
    assert torch.equal(targets["pretext/acc_motion_global"], batch["labels"][:, :2])
    chance = method.chance_levels(targets)
    assert chance["pretext/acc_appearance_global_chance"] == majority_rate(batch["labels"][:, 2])


def test_learning_check_writes_the_documented_json(tmp_path):
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import learning_check

    out = tmp_path / "check.json"
    factors = [f"data.data_dir={tmp_path / 'data'}", "eval_datasets=[\"ucf\"]", "pretrain.epochs=1"]
    assert learning_check.main(["--preset", "smoke", "--seeds", "0", "--methods", "rotation", "--threads", "1",
                                "--json", str(out), "--set", *factors, "--variant", "slow", "pretrain.lr=1e-3"]) == 0
    found = json.loads(out.read_text())
    assert set(found) == {"random_init", "rotation", "rotation@slow"} and set(found["rotation"]) == {"0"}
    assert found["rotation@slow"]["0"]["features/ucf/effective_rank"] >= 1
    assert {"linear/ucf/top1", "knn/ucf/top1", "pretext/acc", "pretext/acc_chance"} <= set(found["rotation"]["0"])
    assert "pretext/acc" not in found["random_init"]["0"]
    assert all(0 <= value <= 1 for name, value in found["rotation"]["0"].items() if "top1" in name or "acc" in name)


def test_learning_check_variants_change_only_their_arms():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import learning_check

    variants = learning_check.parse_variants([["slow", "pretrain.lr=1e-4", "pretrain.epochs=3"]])
    assert variants == {"slow": {"pretrain.lr": 1e-4, "pretrain.epochs": 3}}
    configs = learning_check.plan_configs(["random_init", "sts", "rotation"], [0, 1], "smoke",
                                          {"pretrain.batch_size": 4}, variants)
    assert sorted({arm for arm, _ in configs}) == ["random_init", "rotation", "rotation@slow", "sts", "sts@slow"]
    smoke_lr = configs[("sts", 0)].pretrain.lr
    assert smoke_lr != 1e-4
    for seed in (0, 1):
        assert configs[("sts@slow", seed)].pretrain.lr == 1e-4 and configs[("sts@slow", seed)].pretrain.epochs == 3
        assert configs[("sts@slow", seed)].method.name == "sts" and configs[("sts@slow", seed)].seed == seed
        assert configs[("rotation", seed)].pretrain.lr == smoke_lr and configs[("rotation", seed)].pretrain.epochs == 2
        assert all(configs[(arm, seed)].pretrain.batch_size == 4 for arm in ("random_init", "sts", "sts@slow"))
    with pytest.raises(SystemExit, match="needs a name"):
        learning_check.parse_variants([["pretrain.lr=1e-4"]])
    with pytest.raises(SystemExit, match="needs a name"):
        learning_check.parse_variants([["slow"]])


def test_learning_check_compares_each_method_with_random_init_of_its_backbone():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import learning_check

    configs = learning_check.plan_configs(["random_init", "cstp", "rotation"], [0], "default", {},
                                          learning_check.parse_variants([["r3d", "backbone.name=r3d_18"]]))
    assert configs[("cstp", 0)].backbone.name == "c3d" and configs[("rotation", 0)].backbone.name == "r3d_18"
    assert configs[("random_init@c3d", 0)].backbone == configs[("cstp", 0)].backbone
    assert configs[("random_init", 0)].backbone == configs[("rotation", 0)].backbone
    assert {configs[(arm, 0)].method.name for arm in ("random_init", "random_init@c3d")} == {"scratch"}
    assert learning_check.baselines_of(configs) == {"cstp": "random_init@c3d", "rotation": "random_init",
                                                    "cstp@r3d": "random_init", "rotation@r3d": "random_init"}
    every = learning_check.plan_configs(list(learning_check.ARMS), [0], "default", {}, {})  # each arm validates
    assert {arm: every[(arm, 0)].backbone.name for arm in ("v3s", "mfo", "sts")} == \
        {"v3s": "c3d", "mfo": "r3d_18", "sts": "r3d_18"}  # V3S.default_factors: C3D
    assert learning_check.baselines_of(every)["v3s"] == "random_init@c3d"
    # only the random inits the methods need: CSTP alone plans none of R3D-18
    alone = learning_check.plan_configs(["random_init", "cstp"], [0, 1], "default", {}, {})
    assert sorted(alone) == [("cstp", 0), ("cstp", 1), ("random_init@c3d", 0), ("random_init@c3d", 1)]
    # one backbone for all (--set) keeps the plain name
    same = learning_check.plan_configs(["random_init", "cstp"], [0], "default", {"backbone.name": "c3d"}, {})
    assert sorted(arm for arm, _ in same) == ["cstp", "random_init"]
    results = {"random_init": {"0": {"linear/ucf/top1": 0.10}}, "random_init@c3d": {"0": {"linear/ucf/top1": 0.30}},
               "cstp": {"0": {"linear/ucf/top1": 0.45}}, "rotation": {"0": {"linear/ucf/top1": 0.12}}}
    rows = {line.split()[0]: line.split() for line in
            learning_check.difference_table(results, {"cstp": "random_init@c3d"}, ["linear/ucf/top1"]).splitlines()[1:]}
    assert rows["cstp"][2:] == ["+15.0", "+15.0", "random_init@c3d"]
    assert rows["rotation"][2:] == ["+2.0", "+2.0", "random_init"] and "random_init@c3d" not in rows
