"""What data a trial reads: the clip geometry, the dataset roots, the embedded datasets.

:class:`ClipConfig` is how clips are cut from videos; :class:`DataConfig` where the
datasets are (a user's UCF101/HMDB51 folders, or the embedded synthetic datasets of
:class:`SynthConfig` under ``data_dir``). Accessors are pure: :meth:`DataConfig.root` names
a folder, and :func:`ensure_datasets` is the one call that generates embedded data.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ssl_core.config import require, to_dict
from ssl_core.data.clips import NORMALISATIONS, clip_span
from ssl_core.data.splits import read_split
from ssl_core.data.synth import dataset_path, ensure_dataset

DATASET_KEYS = ("ucf", "hmdb")


@dataclass(frozen=True)
class ClipConfig:
    """How clips are cut from videos and fed to the network. Papers: 16 frames, stride 1, resize
    128x171, crop 112. ``normalisation``: how frames become network input, for pretraining and
    evaluation alike (``clips.NORMALISATIONS``: "kinetics", torchvision's video models' statistics;
    "imagenet", MFO's public code's; "bgr_255", STS's public code's unnormalised BGR 0..255)."""

    num_frames: int = 16
    stride: int = 1
    resize: tuple[int, int] = (128, 171)
    crop: int = 112
    normalisation: str = "kinetics"

    def validate(self, prefix: str = "clip.") -> "ClipConfig":
        require(self.num_frames >= 1, prefix + "num_frames", f"must be >= 1, got {self.num_frames}")
        require(self.stride >= 1, prefix + "stride", f"must be >= 1, got {self.stride}")
        require(len(self.resize) == 2 and min(self.resize) >= 1, prefix + "resize", f"must be (height, width) >= 1, got {self.resize}")
        require(self.crop >= 1, prefix + "crop", f"must be >= 1, got {self.crop}")
        require(self.crop <= min(self.resize), prefix + "crop", f"{self.crop} is larger than the resized frame {tuple(self.resize)}")
        require(self.normalisation in NORMALISATIONS, prefix + "normalisation",
                f"must be one of {', '.join(NORMALISATIONS)}, got {self.normalisation!r}")
        return self

    @property
    def span(self) -> int:
        return clip_span(self.num_frames, self.stride)


@dataclass(frozen=True)
class SynthConfig:
    """Size of the embedded synthetic datasets (see ``ssl_core.data.synth``).

    Embedded data v5 (the laptop preset's data): 32 groups ("scenes") x 4 clips per class at
    40 x 40, the frame size the laptop preset trains on. v4 had 8 groups x 3 clips at 64 x 64:
    5 training scenes, which a from-scratch 3D CNN memorised (README, "The embedded default
    dataset")."""

    width: int = 40
    height: int = 40
    num_frames: int = 40
    groups: int = 32
    clips_per_group: int = 4
    seed: int = 0


@dataclass(frozen=True)
class DataConfig:
    data_dir: str = "data"
    ucf_root: str | None = None
    hmdb_root: str | None = None
    split: int = 1
    cache: bool = True
    synth: SynthConfig = field(default_factory=SynthConfig)

    def validate(self, prefix: str = "data.") -> "DataConfig":
        require(self.split in (1, 2, 3), prefix + "split", f"must be 1, 2 or 3, got {self.split}")
        for key in DATASET_KEYS:
            root = getattr(self, f"{key}_root")
            require(root is None or Path(root).is_dir(), f"{prefix}{key}_root", f"{root} is not a directory")
        return self

    def given_root(self, key: str) -> str | None:
        require(key in DATASET_KEYS, "dataset", f"unknown dataset {key!r} (known: {', '.join(DATASET_KEYS)})")
        return getattr(self, f"{key}_root")

    def root(self, key: str) -> Path:
        """The dataset root for ``key``: the user's path, or where the embedded dataset is kept
        (which may not exist yet: :func:`ensure_datasets` generates it)."""
        given = self.given_root(key)
        return Path(given) if given is not None else dataset_path(self.data_dir, key, **to_dict(self.synth))


class DatasetError(ValueError):
    """A dataset root that cannot give a split to train or evaluate on (a one-line reason)."""


def check_dataset_root(root: str | Path, split: int, key: str = "dataset") -> None:
    """DatasetError unless ``root`` is a UCF101 or HMDB51 root whose split ``split`` lists, in
    both train and test, at least one video that exists (bad videos among them are skipped
    and listed later, when decoded)."""
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"{key} root {root}: not a directory")
    for subset in ("train", "test"):
        try:
            entries = read_split(root, split, subset).entries
        except (OSError, ValueError) as error:
            raise DatasetError(f"{key} root {root}: {error}") from None
        if not any(entry.path.exists() for entry in entries):
            raise DatasetError(f"{key} root {root}: split {split} {subset} lists {len(entries)} videos and none of them "
                               f"exists (first expected: {entries[0].path if entries else 'none listed'})")


def check_given_roots(data: DataConfig, keys) -> None:
    """:func:`check_dataset_root` for every dataset in ``keys`` the user gave a root for."""
    for key in dict.fromkeys(keys):
        if (given := data.given_root(key)) is not None:
            check_dataset_root(given, data.split, key)


def ensure_datasets(data: DataConfig, keys) -> dict[str, Path]:
    """``{key: root}`` for every dataset in ``keys``, generating the embedded ones that are
    missing; DatasetError for a given root without usable videos."""
    check_given_roots(data, keys)
    roots = {}
    for key in keys:
        given = data.given_root(key)
        roots[key] = Path(given) if given is not None else ensure_dataset(data.data_dir, key, **to_dict(data.synth))
    return roots
