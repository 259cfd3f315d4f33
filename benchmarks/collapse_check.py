"""Have a study's pretrained backbones collapsed their features, and what does fine-tuning make
of them? A Ray-free check of the backbones a study saved (a script that prints figures).

For every trial of ``STUDY_DIR`` with a saved backbone (``<trial>/backbone``), in one process:
- the effective rank of its frozen pool5 features on the training clips of ``--dataset``
  (``ssl_core.eval.features.effective_rank``, the ``features/<ds>/effective_rank`` metric),
  and the share of the feature variance in the top direction;
- with ``--variants``, a fine-tuning run per variant (the trial's own fine-tuning settings,
  ``--epochs`` epochs, one seed), printing clip and video top-1 on the test split:
  ``saved`` (the backbone as saved), ``reset_bn`` (every batch-norm layer's statistics and
  affine weights reset), ``reinit:P1,P2,...`` (the modules whose names start with a prefix
  re-initialised from a fresh build of the same backbone, seeded with the fine-tuning seed), e.g.
  ``reinit:conv4,bn4,conv5,bn5`` for C3D's last two blocks.

    python benchmarks/collapse_check.py results/sts_patterns [--dataset ucf] [--arms random_init pattern1]
        [--seeds 1] [--variants saved reset_bn reinit:conv4,bn4,conv5,bn5] [--finetune-seeds 0 1 2]
        [--epochs 16] [--data-dir data]

Every number of a run comes from the same process on the same data, so the arms and variants
compare directly; the random-init arm of the study is the baseline.
"""
from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ssl_core.checkpoint import load_backbone  # noqa: E402
from ssl_core.config import from_dict  # noqa: E402
from ssl_core.eval.downstream import load_datasets  # noqa: E402
from ssl_core.eval.features import effective_rank, extract_clip_features  # noqa: E402
from ssl_core.eval.finetune import finetune  # noqa: E402
from ssl_core.experiment import TrialConfig  # noqa: E402


def saved_trials(study_dir: Path, arms, seeds) -> list[tuple[str, int, Path, TrialConfig]]:
    """``(arm, seed, backbone dir, trial config)`` of every trial that saved a backbone, sorted."""
    found = []
    for backbone_dir in sorted(study_dir.rglob("backbone")):
        config_file = backbone_dir.parent / "config.json"
        if not (backbone_dir / "backbone.pt").is_file() or not config_file.is_file():
            continue
        saved = json.loads(config_file.read_text())
        if (arms and saved["arm"] not in arms) or (seeds and saved["seed"] not in seeds):
            continue
        found.append((saved["arm"], int(saved["seed"]), backbone_dir, from_dict(TrialConfig, saved["config"])))
    return sorted(found, key=lambda item: (item[0], item[1]))


def variance_share_of_top_direction(features: np.ndarray) -> float:
    singular = np.linalg.svd(features - features.mean(axis=0), compute_uv=False)
    return float(singular[0] ** 2 / max((singular ** 2).sum(), 1e-30))


def reset_batch_norm(backbone) -> None:
    for module in backbone.modules():
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
            module.reset_parameters()


def reinitialise(backbone, config: TrialConfig, prefixes: list[str], seed: int) -> list[str]:
    """Copy the parameters and buffers of the modules named ``prefix*`` from a fresh build; the names copied."""
    torch.manual_seed(seed)
    fresh = config.backbone.build().state_dict()
    state = backbone.state_dict()
    copied = [name for name in state if any(name.startswith(prefix) for prefix in prefixes)]
    if not copied:
        raise SystemExit(f"reinit: no module of {type(backbone).__name__} starts with {prefixes}")
    state.update({name: fresh[name] for name in copied})
    backbone.load_state_dict(state)
    return copied


def variant_backbone(backbone, variant: str, config: TrialConfig, seed: int):
    model = copy.deepcopy(backbone)
    if variant == "reset_bn":
        reset_batch_norm(model)
    elif variant.startswith("reinit:"):
        reinitialise(model, config, variant.split(":", 1)[1].split(","), seed)
    elif variant != "saved":
        raise SystemExit(f"unknown variant {variant!r} (saved, reset_bn, reinit:PREFIX,...)")
    return model


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("study_dir", type=Path)
    parser.add_argument("--dataset", default="ucf")
    parser.add_argument("--arms", nargs="*", default=[])
    parser.add_argument("--seeds", nargs="*", type=int, default=[])
    parser.add_argument("--variants", nargs="*", default=[])
    parser.add_argument("--epochs", type=int, default=0, help="fine-tuning epochs (0: the trial's own)")
    parser.add_argument("--finetune-seeds", nargs="+", type=int, default=[0],
                        help="a fine-tuning run per seed and variant (the seed also draws a re-initialisation)")
    parser.add_argument("--data-dir", default="", help="the embedded datasets' folder (default: the trial's)")
    args = parser.parse_args(argv)
    trials = saved_trials(args.study_dir, set(args.arms), set(args.seeds))
    if not trials:
        raise SystemExit(f"no trial with a saved backbone under {args.study_dir}")
    config = trials[0][3]
    data = dataclasses.replace(config.data, data_dir=args.data_dir) if args.data_dir else config.data
    train, test = load_datasets(data, config.clip, (args.dataset,))[args.dataset]
    print(f"{args.study_dir}: {len(trials)} trial(s), {args.dataset} {len(train)} train / {len(test)} test videos, "
          f"clip {config.clip.num_frames}x{config.clip.crop}, {torch.get_num_threads()} thread(s)")
    for arm, seed, backbone_dir, trial in trials:
        backbone, _ = load_backbone(backbone_dir)
        features = extract_clip_features(backbone, train, trial.eval.clips_per_video, batch_size=trial.eval.batch_size)["pool5"]
        flat = features.reshape(-1, features.shape[-1])
        print(f"{arm:>16} seed {seed}: effective rank {effective_rank(flat):5.1f} of {flat.shape[-1]}, "
              f"top direction {100 * variance_share_of_top_direction(flat):5.1f} % of the variance", flush=True)
        finetune_config = trial.eval.finetune if not args.epochs else dataclasses.replace(trial.eval.finetune, epochs=args.epochs)
        for variant in args.variants:
            clip_top1 = []
            for seed in args.finetune_seeds:
                started = time.perf_counter()
                scores = finetune(variant_backbone(backbone, variant, trial, seed), train, test, finetune_config,
                                  trial.eval.clips_per_video, seed)
                clip_top1.append(100 * scores["clip_top1"])
                print(f"{'':>16}   fine-tuned ({variant}, {finetune_config.epochs} epochs, seed {seed}): clip top-1 "
                      f"{clip_top1[-1]:5.1f} %, video top-1 {100 * scores['video_top1']:5.1f} % "
                      f"({time.perf_counter() - started:.0f} s)", flush=True)
            if len(clip_top1) > 1:
                print(f"{'':>16}   fine-tuned ({variant}): clip top-1 {np.mean(clip_top1):5.1f} ± {np.std(clip_top1, ddof=1):.1f} % "
                      f"over seeds {args.finetune_seeds}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
