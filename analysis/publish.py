"""Publish finished studies into a folder of results kept with the code (``docs/results``), and
rewrite that folder's index.

    python -m analysis.publish STUDY_DIR [STUDY_DIR ...] [--to docs/results]

Each study directory's ``study.json``, ``results.csv``, ``report.md`` and ``report.png`` are
copied, as they are, to ``DEST/<study name>/`` (each file atomically); checkpoints, trial
folders and Parquet stay behind. The copy reads back like the study: ``analysis.results``
takes its trials from ``results.csv`` when no trial summary is on disk, so ``python -m
analysis.report DEST`` indexes it with the same rows, and its "last ran" is the time its
report was generated (the runner writes the report when the study ends). Every study is checked
before anything is copied: a missing file names the study and the file, and nothing is written.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from analysis.index import write_index
from analysis.results import RESULTS_CSV, load_study
from analysis.tables import FIGURE, REPORT
from ssl_core.io import atomic_write_bytes

PUBLISHED_FILES = ("study.json", RESULTS_CSV, REPORT, FIGURE)
DEFAULT_DESTINATION = "docs/results"


def check_publishable(study_dir: str | Path) -> str:
    """The study's name; ValueError naming the directory and the file when one is missing."""
    study_dir = Path(study_dir)
    missing = [name for name in PUBLISHED_FILES if not (study_dir / name).is_file()]
    if missing:
        hint = " (run `python -m analysis.report` on it first)" if "study.json" not in missing else ""
        raise ValueError(f"{study_dir}: cannot publish, no {', '.join(missing)} there{hint}")
    return load_study(study_dir)["name"]


def publish(study_dirs: list[str | Path], destination: str | Path = DEFAULT_DESTINATION) -> list[Path]:
    """Copy each study's published files to ``destination/<name>/`` and rewrite the index there;
    returns the folders written. Raises ValueError before copying anything if a study lacks a file."""
    names = [check_publishable(study_dir) for study_dir in study_dirs]
    if len(set(names)) != len(names):
        raise ValueError(f"two of the studies to publish have the same name: {', '.join(names)}")
    targets = [Path(destination) / name for name in names]
    for study_dir, target in zip(study_dirs, targets):
        if target.resolve() == Path(study_dir).resolve():
            raise ValueError(f"{study_dir}: this is already the published copy")
    for study_dir, target in zip(study_dirs, targets):
        target.mkdir(parents=True, exist_ok=True)
        for file_name in PUBLISHED_FILES:
            atomic_write_bytes(target / file_name, (Path(study_dir) / file_name).read_bytes())
    write_index(destination)
    return targets


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m analysis.publish", description=__doc__.split("\n\n")[0])
    parser.add_argument("study_dirs", nargs="+", metavar="STUDY_DIR")
    parser.add_argument("--to", default=DEFAULT_DESTINATION, metavar="DEST", help=f"default: {DEFAULT_DESTINATION}")
    args = parser.parse_args(argv)
    try:
        written = publish(args.study_dirs, args.to)
    except (OSError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    for target in written:
        print(f"published {target}")
    print(f"wrote {Path(args.to) / 'index.md'} and {Path(args.to) / 'index.html'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
