"""Lost batch jobs, without SLURM: ``kansho batch --cluster slurm`` on a stand-in for dask-jobqueue's
SLURMCluster whose "jobs" are local process groups running the real job script (``bash``), so that
killing a group is what ``scancel`` or the end of a job's wall time does to a real job.

* every job killed while frames run (one frame already done): replacement jobs are submitted, the
  batch finishes, the frame done before is not run again, and each frame equals a run of the same
  frame in this process bit for bit;
* the workers of a job start without dask's ``MALLOC_TRIM_THRESHOLD_`` and with BLAS pinned;
* no worker left (and none coming): the batch ends after ``--no-worker-timeout`` with a one-line
  error, exit status 1, failed status records that say why, and a catalogue.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from kansho.batch.runner import DONE, FAILED, frame_out, read_status

dask_jobqueue = pytest.importorskip("dask_jobqueue", reason="optional: pip install dask-jobqueue")
from dask_jobqueue.core import Job, JobQueueCluster  # noqa: E402
from distributed.core import Status  # noqa: E402

from kansho.cli import main  # noqa: E402
from kansho.io.geotiff import read_raster  # noqa: E402
from kansho.synth import SimConfig, simulate_frame  # noqa: E402

SIM = {"shape": (40, 40), "n_epoch": 12, "interval_days": 36, "n_unw_errors": 0, "gap": False, "n_missing": 0,
       "n_long_pairs": 1, "n_dropped_pairs": 0}
PRODUCTS = ("vel.tif", "vstd.tif", "mask.tif", "coh_avg.tif")

#: the "jobs" started so far (their process groups); a test kills them to stand for scancel / wall time
JOBS: list[subprocess.Popen[bytes]] = []


class ProcessGroupJob(Job):
    """A batch "job": the generated job script run by bash in its own session (process group)."""

    config_name = "slurm"

    def __init__(self, scheduler: Any = None, name: Any = None, queue: Any = None, account: Any = None,
                 walltime: Any = None, job_extra_directives: Any = None, config_name: Any = None,
                 **kwargs: Any) -> None:
        super().__init__(scheduler=scheduler, name=name, config_name="slurm", shebang="#!/usr/bin/env bash", **kwargs)
        self.job_header = ""

    async def _submit_job(self, script_filename: str) -> str:
        script = Path(script_filename).read_text()
        proc = subprocess.Popen(["bash", "-c", script], start_new_session=True, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        JOBS.append(proc)
        return str(proc.pid)

    async def close(self) -> None:
        await super().close()
        self.status = Status.closed

    @classmethod
    async def _close_job(cls, job_id: str, cancel_command: str) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(int(job_id), signal.SIGKILL)


class FakeSLURMCluster(JobQueueCluster):
    job_cls = ProcessGroupJob


def _kill_all_jobs() -> int:
    n = 0
    for proc in JOBS:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            n += 1
    for proc in JOBS:
        proc.wait(timeout=30)
    return n


@pytest.fixture
def fake_slurm(monkeypatch: pytest.MonkeyPatch) -> Any:
    import kansho.batch.slurm as slurm

    monkeypatch.setattr(dask_jobqueue, "SLURMCluster", FakeSLURMCluster)
    monkeypatch.setattr(slurm, "LOST_JOB_GRACE_S", 1.0)
    JOBS.clear()
    yield
    _kill_all_jobs()
    JOBS.clear()


def _frames(base: Path, n: int = 2) -> Path:
    lines = ["defaults: {mask.stc: 20}", "frames:"]
    for k in range(n):
        simulate_frame(base / f"f{k}", SimConfig(**SIM, subsidence_rate=-40.0 - 30.0 * k), rng=300 + k)
        lines.append(f"  - {{id: f{k}, source: f{k}/GEOC}}")
    (base / "frames.yaml").write_text("\n".join(lines) + "\n")
    return base / "frames.yaml"


def _kill_when_running(root: Path, n_frames: int, killed: dict[str, Any], seen: list[set[str]],
                       n_workers: int) -> threading.Thread:
    """Kill every job once a frame is done, another runs and the batch's watch has seen all
    ``n_workers`` workers (the jobs' end: scancel, wall time); note in ``killed`` the worker process
    of each frame running then, under "done" the records of the frames done, and under "jobs" how
    many jobs were killed."""

    def watch() -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            recs = {f"f{k}": read_status(root, f"f{k}") or {} for k in range(n_frames)}
            running = {fid: r["pid"] for fid, r in recs.items() if r.get("state") == "running" and r.get("pid")}
            done = {fid: r for fid, r in recs.items() if r.get("state") == DONE}
            if running and done and seen and len(seen[-1]) == n_workers:
                killed.update(running)
                killed["done"] = done
                killed["jobs"] = _kill_all_jobs()
                return
            time.sleep(0.05)

    t = threading.Thread(target=watch, daemon=True)
    t.start()
    return t


@pytest.mark.slow  # three frames, four "jobs" started in fresh processes: ~50 s on two shared cores
@pytest.mark.usefixtures("fake_slurm", "no_figures")
def test_all_jobs_killed_mid_batch_are_replaced(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    import kansho.batch.slurm as slurm

    frames = _frames(tmp_path, 3)
    # the reference: the same frames one after another in this process
    assert main(["batch", str(frames), "-o", str(tmp_path / "LOCAL"), "--no-catalog"]) == 0
    root = tmp_path / "ROOT"
    killed: dict[str, Any] = {}
    seen: list[set[str]] = []  # the workers the batch's watch saw at each check
    real = slurm.WorkerWatch.worker_names

    def spy(self: slurm.WorkerWatch) -> set[str]:
        seen.append(real(self))
        return seen[-1]

    monkeypatch.setattr(slurm.WorkerWatch, "worker_names", spy)
    killer = _kill_when_running(root, 3, killed, seen, n_workers=2)
    rc = main(["batch", str(frames), "-o", str(root), "--cluster", "slurm", "--jobs", "2", "--cores", "1",
               "--memory", "2GB", "--no-worker-timeout", "120", "--no-catalog"])
    killer.join(timeout=5)
    out = capsys.readouterr().out
    assert killed.pop("jobs") == 2 and killed, killed  # both jobs were alive and killed while a frame ran
    done_before = killed.pop("done")
    assert rc == 0 and "3 done" in out, out
    assert len(JOBS) == 4  # two replacement jobs were submitted, no more
    summary = json.loads((root / "status.json").read_text())
    assert summary["jobs_replaced"] == 2 and summary["counts"] == {DONE: 3}
    for k in range(3):
        rec = read_status(root, f"f{k}")
        assert rec is not None and rec["state"] == DONE and rec["pid"] not in (os.getpid(), killed.get(f"f{k}"))
        if f"f{k}" in done_before:  # a frame finished before the kill is not run again (its result was
            assert rec == done_before[f"f{k}"]  # in the dead worker's memory: dask would recompute it)
        for name in PRODUCTS:
            a = read_raster(frame_out(root, f"f{k}") / "results" / name)
            b = read_raster(frame_out(tmp_path / "LOCAL", f"f{k}") / "results" / name)
            np.testing.assert_array_equal(a, b, err_msg=f"f{k} {name}")


@pytest.mark.slow  # starts a job of two workers: ~15 s on two shared cores
@pytest.mark.usefixtures("fake_slurm")
def test_job_workers_env() -> None:
    from distributed import Client

    from kansho.batch.slurm import make_cluster

    # the workers of a job: BLAS pinned, and dask's MALLOC_TRIM_THRESHOLD_ removed (45 % slower frames)
    jq = make_cluster("slurm", cores=2, memory="2GB", jobs=1)
    try:
        with Client(jq) as client:
            client.wait_for_workers(2, timeout=60)
            env = client.run(lambda: {k: os.environ.get(k) for k in ("MALLOC_TRIM_THRESHOLD_", "OMP_NUM_THREADS")})
    finally:
        jq.close()
    assert len(env) == 2 and all(e == {"MALLOC_TRIM_THRESHOLD_": None, "OMP_NUM_THREADS": "1"}
                                 for e in env.values()), env


@pytest.mark.usefixtures("fake_slurm")
def test_no_worker_left_ends_the_batch(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    # no job ever connects (each is gone at once, like jobs that fail to start): the batch ends after
    # --no-worker-timeout with one error line, exit 1, true status files and a catalogue
    frames = _frames(tmp_path, 1)

    async def dead_on_arrival(self: ProcessGroupJob, script_filename: str) -> str:
        return str(2**22 + 1)  # above Linux's largest pid: a job that is gone

    monkeypatch.setattr(ProcessGroupJob, "_submit_job", dead_on_arrival)
    t0 = time.monotonic()
    rc = main(["batch", str(frames), "-o", str(tmp_path / "ROOT"), "--cluster", "slurm", "--jobs", "1",
               "--cores", "1", "--memory", "2GB", "--no-worker-timeout", "3"])
    elapsed = time.monotonic() - t0
    cap = capsys.readouterr()
    assert rc == 1 and 3 <= elapsed < 30, (rc, elapsed)  # bounded: the timeout plus one poll and start/stop
    err = [line for line in cap.err.splitlines() if "error:" in line]
    assert len(err) == 1 and re.search(r"no dask worker connected for \d+ s \(--no-worker-timeout 3 s\)", err[0]), err
    rec = read_status(tmp_path / "ROOT", "f0")
    assert rec is not None and rec["state"] == FAILED and rec["error_type"] == "NoWorkerLeft"
    assert rec["error"].startswith("not finished (queued when the batch stopped): no dask worker"), rec["error"]
    summary = json.loads((tmp_path / "ROOT" / "status.json").read_text())
    assert summary["counts"] == {FAILED: 1} and summary["jobs_replaced"] == 0 and "FAILED f0" in cap.out
    assert "no dask worker connected" in (tmp_path / "ROOT" / "index.html").read_text()
