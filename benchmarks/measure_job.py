"""Wall time and peak memory of a whole job, Ray workers included.

    python benchmarks/measure_job.py [--interval 0.5] -- python studies/stor_candidates.py

Samples, every ``--interval`` seconds, the summed proportional set size (PSS, from /proc,
Linux: shared pages such as torch's libraries and Ray's object store are split between the
processes that map them, so the sum is the memory the job really holds) of the command's
process tree and of every Ray process that appears meanwhile (Ray's GCS and some workers are
not children of the driver); prints wall seconds, the peak and the exit status.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

RAY_MARKERS = ("raylet", "gcs_server", "ray::", "ray/", "default_worker", "dashboard", "log_monitor", "monitor.py")


def _processes() -> dict[int, tuple[int, str, int]]:
    """pid -> (parent pid, command line, PSS bytes) from /proc (Linux)."""
    table = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            fields = stat[stat.rindex(")") + 2:].split()
            memory = _pss_bytes(entry)
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except (OSError, ValueError, IndexError):
            continue
        table[int(entry.name)] = (int(fields[1]), cmdline, memory)
    return table


def _pss_bytes(entry: Path) -> int:
    """Proportional set size (shared pages split between their users), else RSS."""
    try:
        for line in (entry / "smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return int((entry / "statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def tree_memory(root_pid: int, exclude: set[int]) -> int:
    """Summed PSS of ``root_pid``, its descendants and the Ray processes not in ``exclude`` (those
    that ran before the job: another session's Ray)."""
    table = _processes()
    members, frontier = {root_pid}, [root_pid]
    children: dict[int, list[int]] = {}
    for pid, (parent, _, _) in table.items():
        children.setdefault(parent, []).append(pid)
    while frontier:
        for child in children.get(frontier.pop(), []):
            if child not in members:
                members.add(child)
                frontier.append(child)
    ray_pids = {pid for pid, (_, line, _) in table.items() if any(m in line for m in RAY_MARKERS)} - exclude
    return sum(table[pid][2] for pid in members | ray_pids)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--interval", type=float, default=0.5)
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("give the command after --")
    before = {pid for pid, (_, line, _) in _processes().items() if any(m in line for m in RAY_MARKERS)}
    started = time.time()
    process = subprocess.Popen(command)
    peak = 0
    while process.poll() is None:
        peak = max(peak, tree_memory(process.pid, before))
        time.sleep(args.interval)
    seconds = time.time() - started
    print(f"measure_job: exit {process.returncode}, wall {seconds:.0f} s, peak PSS (process tree + Ray) {peak / 2**30:.2f} GiB")
    return process.returncode


if __name__ == "__main__":
    sys.exit(main())
