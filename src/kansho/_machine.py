"""What this process may use of the machine: its memory and its cores.

A process inside a container or a batch job (SLURM, PBS, a ``docker run --memory``) may use less than the
machine has. The kernel enforces a control group's memory limit (cgroup v2's ``memory.max``, v1's
``memory.limit_in_bytes``, on the process's group or any group above it) by killing the process, and the
scheduler pins it to its allotted cores (its CPU affinity). A memory budget drawn from the whole machine's
RAM and core count would then plan for memory the job cannot have: a 4-core SLURM job with ``--mem=16G`` on a
64-core, 256 GB node would get a 128 GB default budget and be killed. Here the memory is the smaller of the RAM
and the limits, and the cores are the affinity's.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["cgroup_memory_limit", "usable_cores", "usable_memory"]

#: a limit at least this large is none (cgroup v1 writes 2**63 - 4096 for "unlimited")
NO_LIMIT = 1 << 60
#: where the kernel lists this process's control groups, and where they are mounted
PROC_CGROUP = Path("/proc/self/cgroup")
CGROUP_ROOT = Path("/sys/fs/cgroup")


def usable_cores() -> int:
    """Cores this process may run on: its CPU affinity (a batch job's or a ``taskset``'s), else the machine's."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # not on Linux
        return max(1, os.cpu_count() or 1)


def _limit(path: Path) -> int | None:
    """The limit in the file ``path`` in bytes; None for none ("max", a huge value) or where it cannot be read."""
    try:
        text = path.read_text().strip()
        value = int(text)
    except (OSError, ValueError):  # absent, unreadable, or "max"
        return None
    return value if 0 < value < NO_LIMIT else None


def _group_limits(base: Path, group: str, name: str) -> list[int]:
    """The limits ``name`` of the control group ``group`` under the hierarchy mounted at ``base`` and of every group
    above it (a job's limit is often set on its parent, not on the step's own group)."""
    d = base / group.strip("/")
    found = []
    while True:
        v = _limit(d / name)
        if v is not None:
            found.append(v)
        if d == base or base not in d.parents:
            return found
        d = d.parent


def cgroup_memory_limit(proc_cgroup: Path = PROC_CGROUP, root: Path = CGROUP_ROOT) -> int | None:
    """The smallest memory limit, in bytes, of this process's control group and the groups above it (cgroup v2
    ``memory.max``, v1 ``memory.limit_in_bytes``); None where there is none (no cgroups, none set, unreadable)."""
    try:
        lines = proc_cgroup.read_text().splitlines()
    except OSError:
        return None
    limits: list[int] = []
    for line in lines:
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        hierarchy, controllers, group = parts
        if hierarchy == "0" and controllers == "":  # v2 (mounted at the root, or at unified/ beside v1's)
            hybrid = not (root / "cgroup.controllers").exists() and (root / "unified").is_dir()
            base = root / "unified" if hybrid else root
            limits += _group_limits(base, group, "memory.max")
        elif "memory" in controllers.split(","):  # v1's memory controller
            limits += _group_limits(root / "memory", group, "memory.limit_in_bytes")
    return min(limits) if limits else None


def usable_memory() -> int | None:
    """Bytes of memory this process may use: the machine's RAM, or its control group's limit where that is less;
    None where neither can be told."""
    try:
        ram: int | None = int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        ram = None
    limit = cgroup_memory_limit()
    known = [v for v in (ram, limit) if v is not None]
    return min(known) if known else None
