"""Readers of the UCF101 and HMDB51 split files, in the datasets' real on-disk layouts.

UCF101 (the official download)::

    ROOT/UCF-101/<Class>/v_<Class>_gXX_cYY.avi
    ROOT/ucfTrainTestlist/classInd.txt        "1 ApplyEyeMakeup"
    ROOT/ucfTrainTestlist/trainlist01.txt     "ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi 1"
    ROOT/ucfTrainTestlist/testlist01.txt      "ApplyEyeMakeup/v_ApplyEyeMakeup_g01_c01.avi"

HMDB51::

    ROOT/hmdb51_org/<class>/<name>.avi
    ROOT/testTrainMulti_7030_splits/<class>_test_split1.txt   "<name>.avi 1"  (1 train, 2 test, 0 unused)

Either video tree may instead hold frame folders (``<Class>/v_X_g01_c01/img_00001.jpg`` or
``v_X_g01_c01/...`` directly under the video root). Entries whose video is absent are still
listed (with the path where it was expected); the dataset layer reports them as missing.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

UCF_VIDEO_DIR = "UCF-101"
UCF_SPLIT_DIR = "ucfTrainTestlist"
HMDB_VIDEO_DIR = "hmdb51_org"
HMDB_SPLIT_DIR = "testTrainMulti_7030_splits"
SUBSETS = ("train", "test")
HMDB_MARKS = {"train": 1, "test": 2}


@dataclass(frozen=True)
class VideoEntry:
    """One labelled video of a split. ``video_id`` is ``<class>/<stem>``, unique in a dataset."""

    path: Path
    label: int
    class_name: str
    video_id: str


@dataclass(frozen=True)
class SplitListing:
    entries: list[VideoEntry]
    class_names: list[str]
    layout: str

    @property
    def num_classes(self) -> int:
        return len(self.class_names)


def detect_layout(root: str | Path) -> str:
    """``"ucf101"`` or ``"hmdb51"`` from the split files found under ``root``."""
    root = Path(root)
    if (root / UCF_SPLIT_DIR / "classInd.txt").is_file():
        return "ucf101"
    if any((root / HMDB_SPLIT_DIR).glob("*_test_split1.txt")):
        return "hmdb51"
    raise FileNotFoundError(
        f"{root}: no UCF101 split files ({UCF_SPLIT_DIR}/classInd.txt) and no HMDB51 split files "
        f"({HMDB_SPLIT_DIR}/*_test_split1.txt) found"
    )


def read_split(root: str | Path, split: int = 1, subset: str = "train", video_dir: str | Path | None = None) -> SplitListing:
    """Read split ``split`` (1, 2 or 3), subset ``train`` or ``test``, of the dataset at ``root``."""
    _check_split_args(split, subset)
    layout = detect_layout(root)
    reader = read_ucf101_split if layout == "ucf101" else read_hmdb51_split
    return reader(root, split, subset, video_dir)


def _check_split_args(split: int, subset: str) -> None:
    if split not in (1, 2, 3):
        raise ValueError(f"split must be 1, 2 or 3, got {split!r}")
    if subset not in SUBSETS:
        raise ValueError(f"subset must be one of {SUBSETS}, got {subset!r}")


def _lines(path: Path) -> list[str]:
    text = path.read_text(encoding="utf-8-sig", errors="replace")  # -sig: a file re-saved with a byte-order mark
    return [line.strip() for line in text.splitlines() if line.strip()]


def read_ucf101_class_index(split_dir: Path) -> list[str]:
    names: dict[int, str] = {}
    for line in _lines(split_dir / "classInd.txt"):
        index, name = line.split(maxsplit=1)
        names[int(index)] = name.strip()
    if sorted(names) != list(range(1, len(names) + 1)):
        raise ValueError(f"{split_dir / 'classInd.txt'}: class indices are not 1..{len(names)}")
    return [names[i] for i in range(1, len(names) + 1)]


def read_ucf101_split(root: str | Path, split: int = 1, subset: str = "train", video_dir: str | Path | None = None) -> SplitListing:
    _check_split_args(split, subset)
    root = Path(root)
    split_dir = root / UCF_SPLIT_DIR
    videos = Path(video_dir) if video_dir else root / UCF_VIDEO_DIR
    class_names = read_ucf101_class_index(split_dir)
    class_of = {name.lower(): i for i, name in enumerate(class_names)}
    entries = []
    for line in _lines(split_dir / f"{subset}list0{split}.txt"):
        relative = line.split()[0]
        class_dir = relative.split("/")[0]
        label = class_of.get(class_dir.lower())
        if label is None:
            raise ValueError(f"{subset}list0{split}.txt: class {class_dir!r} is not in classInd.txt")
        entries.append(_entry(videos, relative, label, class_names[label]))
    return SplitListing(entries, class_names, "ucf101")


def read_hmdb51_split(root: str | Path, split: int = 1, subset: str = "train", video_dir: str | Path | None = None) -> SplitListing:
    _check_split_args(split, subset)
    root = Path(root)
    split_files = sorted((root / HMDB_SPLIT_DIR).glob(f"*_test_split{split}.txt"))
    if not split_files:
        raise FileNotFoundError(f"{root / HMDB_SPLIT_DIR}: no *_test_split{split}.txt files")
    videos = Path(video_dir) if video_dir else root / HMDB_VIDEO_DIR
    suffix = f"_test_split{split}.txt"
    class_names = [f.name[: -len(suffix)] for f in split_files]
    wanted = HMDB_MARKS[subset]
    entries = []
    for label, (class_name, split_file) in enumerate(zip(class_names, split_files)):
        for line in _lines(split_file):
            name, mark = line.split()[:2]
            if int(mark) == wanted:
                entries.append(_entry(videos, f"{class_name}/{name}", label, class_name))
    return SplitListing(entries, class_names, "hmdb51")


def _entry(video_root: Path, relative: str, label: int, class_name: str) -> VideoEntry:
    stem = Path(relative).stem
    video_id = f"{class_name}/{stem}"
    return VideoEntry(resolve_video_path(video_root, relative), label, class_name, video_id)


VIDEO_EXTENSIONS = (".avi", ".mp4", ".mkv", ".webm", ".mov")


def resolve_video_path(video_root: Path, relative: str) -> Path:
    """The video file if present (a list entry without its extension: the file with one of
    VIDEO_EXTENSIONS), else a frame folder of the same stem, else the expected file path."""
    as_file = video_root / relative
    if as_file.exists():
        return as_file
    for extension in VIDEO_EXTENSIONS:
        if (with_extension := video_root / f"{relative}{extension}").is_file():
            return with_extension
    stem = Path(relative).stem
    for folder in (as_file.with_suffix(""), video_root / stem):
        if folder.is_dir():
            return folder
    return as_file
