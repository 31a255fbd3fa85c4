"""What a process may use of the machine (kansho._machine): a container's or batch job's memory limit and cores,
read from fake /proc and /sys trees of cgroup v1 and v2, and the default budget they give."""

from __future__ import annotations

from pathlib import Path

import pytest

from kansho import _machine, parallel

GB = 10**9


def _tree(tmp: Path, proc: str, files: dict[str, str]) -> tuple[Path, Path]:
    """A fake /proc/self/cgroup holding ``proc`` and a /sys/fs/cgroup holding ``files`` (relative path -> text)."""
    root = tmp / "cgroup"
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text + "\n")
    root.mkdir(parents=True, exist_ok=True)
    (tmp / "proc_cgroup").write_text(proc)
    return tmp / "proc_cgroup", root


def test_v2_job_limit_set_above_its_step(tmp_path: Path) -> None:
    """SLURM on cgroup v2: the job's limit sits on the job's group, the step's own says "max"; the smallest of the
    groups from the step up to the root is the limit."""
    proc, root = _tree(tmp_path, "0::/system.slice/slurmstepd.scope/job_42/step_0/user/task_0\n", {
        "cgroup.controllers": "cpu memory",
        "system.slice/slurmstepd.scope/job_42/memory.max": str(16 * GB),
        "system.slice/slurmstepd.scope/job_42/step_0/memory.max": "max",
        "system.slice/slurmstepd.scope/job_42/step_0/user/task_0/memory.max": "max",
        "system.slice/memory.max": str(200 * GB)})
    assert _machine.cgroup_memory_limit(proc, root) == 16 * GB


def test_v2_container_sees_its_own_group_as_root(tmp_path: Path) -> None:
    proc, root = _tree(tmp_path, "0::/\n", {"cgroup.controllers": "memory", "memory.max": str(4 * GB)})
    assert _machine.cgroup_memory_limit(proc, root) == 4 * GB


def test_v1_memory_controller_and_unlimited(tmp_path: Path) -> None:
    """cgroup v1 (or hybrid): the memory controller's line; v1's "unlimited" (2**63 - 4096) is no limit."""
    proc, root = _tree(tmp_path, "9:cpuset:/\n4:memory:/slurm/uid_0/job_7/step_batch\n0::/\n", {
        "memory/slurm/uid_0/job_7/memory.limit_in_bytes": str(8 * GB),
        "memory/slurm/uid_0/job_7/step_batch/memory.limit_in_bytes": str(2**63 - 4096),
        "memory/memory.limit_in_bytes": str(2**63 - 4096)})
    assert _machine.cgroup_memory_limit(proc, root) == 8 * GB
    proc, root = _tree(tmp_path / "free", "4:memory:/process_api/x\n0::/\n", {
        "memory/process_api/x/memory.limit_in_bytes": str(2**63 - 4096)})
    assert _machine.cgroup_memory_limit(proc, root) is None


@pytest.mark.parametrize("proc", ["", "garbage\n", "0::/missing/group\n"])
def test_no_cgroup_no_limit(tmp_path: Path, proc: str) -> None:
    proc_file, root = _tree(tmp_path, proc, {})
    assert _machine.cgroup_memory_limit(proc_file, root) is None
    assert _machine.cgroup_memory_limit(tmp_path / "absent", root) is None


def test_default_budget_follows_the_job_not_the_node(monkeypatch: pytest.MonkeyPatch) -> None:
    """A 4-core job with an 8 GB limit on a 64-core, 256 GB node: 60 % of the job's 8 GB (4.8 GB), not the
    node's 2 GB a core (128 GB, as before the job's limit and cores were read); without a limit, the laptop cap
    of 8 GB (2 GB a core of the job's 4 is less)."""
    monkeypatch.setattr(_machine.os, "sched_getaffinity", lambda pid: set(range(4)), raising=False)
    monkeypatch.setattr(_machine.os, "cpu_count", lambda: 64)
    monkeypatch.setattr(_machine.os, "sysconf", lambda name: 4096 if name == "SC_PAGE_SIZE" else 256 * GB // 4096)
    monkeypatch.setattr(_machine, "cgroup_memory_limit", lambda: 8 * GB)
    assert _machine.usable_cores() == 4
    assert _machine.usable_memory() == 8 * GB
    assert parallel.default_memory_limit() == pytest.approx(4.8 * GB, rel=1e-9)
    monkeypatch.setattr(_machine, "cgroup_memory_limit", lambda: None)  # no limit: the node's RAM and the job's cores
    assert _machine.usable_memory() == 256 * GB
    assert parallel.default_memory_limit() == 8 * GB
