"""What a process has used, read from /proc: CPU time, memory, waiting for a CPU, children.

Figures are per process (every thread of it), so they are what that process itself burnt,
whatever else the machine runs.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def _stat(pid: int) -> tuple[str, list[str]]:
    """(command name, the fields after it) of /proc/PID/stat."""
    text = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    return text[text.index("(") + 1:text.rindex(")")], text.rsplit(")", 1)[1].split()


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds the process has used so far."""
    _, fields = _stat(pid)
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def system_seconds(pid: int) -> float:
    """System time alone: the kernel's share (on loopback, mostly the sends to the clients)."""
    _, fields = _stat(pid)
    return int(fields[12]) / CLOCK_TICKS


def runqueue_wait_seconds(pid: int) -> float:
    """Time the process's main thread spent runnable but waiting for a CPU (schedstat)."""
    try:
        return int(Path(f"/proc/{pid}/schedstat").read_text().split()[1]) / 1e9
    except (OSError, IndexError, ValueError):
        return float("nan")


def rss_bytes(pid: int) -> int:
    return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE


def child_pids(parent: int) -> list[int]:
    try:
        return [int(pid) for pid in
                Path(f"/proc/{parent}/task/{parent}/children").read_text().split()]
    except OSError:
        return []


def children_cpu(parent: int, *, group: str, others: str) -> dict[str, float]:
    """CPU seconds so far of `parent`'s children, summed in two groups: those whose command
    name starts with `group`, and the `others`."""
    totals = {group: 0.0, others: 0.0}
    for pid in child_pids(parent):
        with contextlib.suppress(OSError, IndexError, ValueError):
            comm, fields = _stat(pid)
            seconds = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
            totals[group if comm.startswith(group) else others] += seconds
    return totals
