"""Parallel and out-of-core execution: a real dask LocalCluster, a worker killed mid-step, block sizes."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
import zarr
from hypothesis import given, settings
from hypothesis import strategies as st
from tests._shared import figures_skipped, work_arrays

from kansho.chain import budget, runner
from kansho.chain.runner import plan_block, run_timeseries
from kansho.chain.steps import invert as invert_step
from kansho.chain.tasks import Task
from kansho.config import RunConfig
from kansho.parallel import (
    HUGEPAGE_ENV,
    cluster,
    heap_arrays,
    map_tasks,
    parse_memory,
    release_memory,
    run_all,
    small_pages,
    trim_heap,
    worker_env,
)
from kansho.synth import SimConfig, simulate_frame

SHAPE = (64, 72)
#: work arrays every run writes (compared between runs)
ARRAYS = ("cum", "cum_filt", "vel", "vel_filt", "vstd", "stc", "mask", "resid_rms", "n_loop_err", "loop_rms",
          "n_gap", "maxTlen", "coh_avg", "n_unw")


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("psim")
    simulate_frame(d, SimConfig(shape=SHAPE, n_epoch=24, interval_days=24, n_unw_errors=2), rng=3)
    return d / "GEOC"


def _run(sim: Path, out: Path, **cfg: Any) -> dict[str, np.ndarray]:
    with figures_skipped():  # compared by their numbers only
        run_timeseries(sim, out, RunConfig(**cfg), progress=False)
    return work_arrays(out, ARRAYS)


@pytest.fixture(scope="module")
def serial(sim: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, np.ndarray]:
    """One block after another (a run without workers otherwise takes as many at once as cores)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(runner, "block_threads", lambda *a: 1)
        return _run(sim, tmp_path_factory.mktemp("serial"), block_size=32)


def test_blocks_on_threads_give_identical_results(sim: Path, serial: dict[str, np.ndarray], tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """A run without workers takes several blocks at once on threads (each block's kernels on one
    thread): bit for bit what one block after another gives, whatever the number of threads."""
    for n in (2, 3):
        monkeypatch.setattr(runner, "block_threads", lambda *a, n=n: n)
        _same(serial, _run(sim, tmp_path / f"t{n}", block_size=32))


def test_first_inversion_pass_leaves_its_histograms_in_the_work_store(sim: Path, tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """Each block of step 1-3's first pass writes its residual histograms ((n_epoch, 4000) counts, for the epochs'
    noise) to the work store and returns only per-pair counts: the step holds one block's histograms, not every
    block's (811 MB for the 169 blocks of a 400 x 400 px, 300-epoch frame under --memory-limit 600MB, before).
    The epochs' noise is the same for any block size."""
    import json
    import pickle

    from kansho.chain import context
    from kansho.chain.steps import epoch_noise
    from kansho.velocity import N_RESID_BINS

    sizes: list[int] = []
    real = context.Context._run_tasks

    def recording(self: Any, kernel: Any, tasks: Any, desc: str, *rest: Any) -> list[Any]:
        out = real(self, kernel, tasks, desc, *rest)
        if desc == "1-3 invert":
            sizes.extend(len(pickle.dumps(o)) for o in out)
        return out

    monkeypatch.setattr(context.Context, "_run_tasks", recording)
    sigma = {}
    for b in (32, 64):
        out = tmp_path / f"b{b}"
        with figures_skipped():
            run_timeseries(sim, out, RunConfig(block_size=b), steps=["ingest", "qc", "loops", "invert"], progress=False)
        res = json.loads((out / "work" / "state.json").read_text())["invert"]["result"]
        sigma[b] = res["epoch_sigma"]
        n_pair = len(res["resid_fixed"])
        hist = zarr.open_group(str(out / "work" / "ts.zarr"), mode="r")[epoch_noise.EPOCH_HIST]
        assert hist.shape == (-(-SHAPE[0] // b) * -(-SHAPE[1] // b), len(sigma[b]), N_RESID_BINS)
        assert int(np.asarray(hist[:]).sum()) > 0
    assert len(sigma[32]) == 24 and all(np.isfinite(sigma[32]))
    assert sigma[32] == sigma[64]
    assert len(sizes) == 6 + 2 and max(sizes) < 1000 + 2 * 8 * n_pair  # a histogram alone: 24 x 4000 x 4 bytes


def test_block_threads_follow_cores_and_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    import numba

    monkeypatch.setattr(numba, "get_num_threads", lambda: 4)
    assert runner.block_threads(256, 222, 60, RunConfig(memory_limit="8GB")) == 4  # ~0.44 GB a block by the model
    assert runner.block_threads(256, 222, 60, RunConfig(memory_limit="1.3GB")) == 2
    assert runner.block_threads(256, 222, 60, RunConfig(memory_limit="1GB")) == 1  # never fewer than one
    assert runner.block_threads(256, 222, 60, RunConfig(memory_limit="8GB", workers=2)) == 1  # the workers have them
    monkeypatch.setattr(numba, "get_num_threads", lambda: 1)  # NUMBA_NUM_THREADS=1, a pinned worker
    assert runner.block_threads(64, 20, 10, RunConfig(memory_limit="8GB")) == 1


def test_map_tasks_on_threads_in_order_with_errors() -> None:
    """On threads: results in item order, an error yielded in its place, each task's numba on one thread."""
    res = list(map_tasks(_reciprocal, [1.0, 0.0, 4.0, 8.0], progress=False, threads=2))
    assert [(i, r) for i, r, e in res if e is None] == [(0, 1.0), (2, 0.25), (3, 0.125)]
    assert isinstance(res[1][2], ZeroDivisionError)
    with pytest.raises(ZeroDivisionError):
        run_all(_reciprocal, [1.0, 0.0, 2.0], progress=False, threads=2)
    assert run_all(_numba_threads, list(range(6)), progress=False, threads=3) == [1] * 6


def _numba_threads(_: int) -> int:
    import numba

    return int(numba.get_num_threads())


def _same(a: dict[str, np.ndarray], b: dict[str, np.ndarray], rtol: float = 0.0, atol: float = 0.0) -> None:
    for k in ARRAYS:
        assert a[k].shape == b[k].shape, k
        np.testing.assert_array_equal(np.isnan(a[k]), np.isnan(b[k]), err_msg=k)
        np.testing.assert_allclose(a[k], b[k], rtol=rtol, atol=atol, equal_nan=True, err_msg=k)


def kill_once(task: Task) -> int:
    """The inversion of one block, whose worker process dies right after writing it, the first time."""
    n = invert_step.invert_block(task)
    marker = Path(task.out) / "killed-once"
    if task.rows.start == 32 and task.cols.start == 32 and not marker.exists():
        marker.touch()
        os._exit(1)  # the worker process dies mid-step, its task unfinished
    return n


# slow tier: a LocalCluster of two processes (~40 s); the default tier keeps the resume of a step
# interrupted half-way (test_interrupted_step_resumes_its_unfinished_blocks_only), in this process
@pytest.mark.slow
def test_local_cluster_with_a_killed_worker_gives_identical_results(
        sim: Path, serial: dict[str, np.ndarray], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two worker processes give bit-identical results, even when one dies in the middle of step 1-3."""
    import cloudpickle

    cloudpickle.register_pickle_by_value(sys.modules[__name__])  # the workers cannot import this test module
    monkeypatch.setattr(invert_step, "invert_block", kill_once)
    out = tmp_path / "cluster"
    before = dict(os.environ)
    got = _run(sim, out, block_size=32, workers=2, memory_limit="3GB")
    assert (out / "killed-once").exists(), "the worker was never killed: the test did not test anything"
    _same(serial, got)
    assert dict(os.environ) == before  # the workers' variables (NUMBA_NUM_THREADS=1...) not left here by dask


def test_results_do_not_depend_on_block_size(sim: Path, serial: dict[str, np.ndarray], tmp_path: Path) -> None:
    # other blocks group pixels differently in the inversion (per-pattern SVD or normal equations,
    # both ~1e-8 relative) and sum loop phases in another order: equal to float round-off
    got = _run(sim, tmp_path / "b48", block_size=48)
    _same(serial, got, rtol=1e-5, atol=1e-4)


def test_map_tasks_reports_errors_without_stopping_the_others() -> None:
    res = list(map_tasks(_reciprocal, [1.0, 0.0, 4.0], progress=False))
    assert [(i, r) for i, r, e in res if e is None] == [(0, 1.0), (2, 0.25)]
    assert isinstance(res[1][2], ZeroDivisionError)
    with pytest.raises(ZeroDivisionError):
        run_all(_reciprocal, [1.0, 0.0], progress=False)


def _reciprocal(x: float) -> float:
    return 1.0 / x


def test_cluster_none_runs_here() -> None:
    with cluster(None, None) as client:
        assert client is None


def _hugepages(enabled: bool) -> bool:
    """Set numpy's huge-page switch, returning what it was."""
    return bool(np._core.multiarray._set_madvise_hugepage(enabled))


@pytest.mark.parametrize("start", [True, False])
def test_small_pages_while_the_chain_runs_then_restored(monkeypatch: pytest.MonkeyPatch, start: bool) -> None:
    """numpy's arrays come in small pages inside :func:`small_pages`, whatever it was before, and the switch is
    as it was afterwards (also after an error); a user's own ``NUMPY_MADVISE_HUGEPAGE`` is left alone."""
    monkeypatch.delenv(HUGEPAGE_ENV, raising=False)
    before = _hugepages(start)
    try:
        with small_pages():
            assert _hugepages(False) is False
        assert _hugepages(start) is start
        with pytest.raises(RuntimeError), small_pages():
            raise RuntimeError("a failed step")
        assert _hugepages(start) is start
        monkeypatch.setenv(HUGEPAGE_ENV, "1")
        with small_pages():
            assert _hugepages(start) is start
    finally:
        _hugepages(before)


def test_workers_start_with_small_pages_unless_the_user_chose(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(HUGEPAGE_ENV, raising=False)
    env = worker_env()
    assert env[HUGEPAGE_ENV] == "0" and env["NUMBA_NUM_THREADS"] == "1"
    monkeypatch.setenv(HUGEPAGE_ENV, "1")  # inherited by the workers as it is
    assert HUGEPAGE_ENV not in worker_env()


GLIBC = sys.platform.startswith("linux") and os.confstr("CS_GNU_LIBC_VERSION") is not None


def test_memory_released_here_after_a_step() -> None:
    """Each step ends with the freed heap given back (glibc's malloc_trim) here and in every worker; elsewhere
    it does nothing and says so. The chain's process takes its large arrays from the heap (glibc only)."""
    assert trim_heap() is GLIBC
    assert release_memory(None) == int(GLIBC)
    with heap_arrays() as ok:  # the chain's process, while it runs
        assert ok is GLIBC


def test_a_pass_here_gives_its_memory_back(monkeypatch: pytest.MonkeyPatch) -> None:
    """A pass run one task after another ends with the heap trimmed, as one on threads does."""
    import kansho.parallel as par

    calls: list[int] = []
    monkeypatch.setattr(par, "trim_heap", lambda: calls.append(1) or True)
    assert run_all(lambda x: 2 * x, [1, 2, 3], progress=False) == [2, 4, 6]
    assert len(calls) == 1


@pytest.mark.slow
def test_memory_released_in_every_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    """After a step, and after each pass on the workers: the workers' heaps are trimmed (a pass's freed
    temporaries are not carried into the next pass, whose peak they raised)."""
    import kansho.parallel as par

    seen: list[tuple[int, ...]] = []
    real = par.on_workers
    monkeypatch.setattr(par, "on_workers", lambda c, f, what: seen.append(tuple(real(c, f, what).values())) or {})
    with cluster(2, None, memory_limit="2GB", dashboard=False) as client:
        assert run_all(lambda x: 2 * x, [1, 2, 3], client=client, progress=False) == [2, 4, 6]
        assert seen == [(GLIBC, GLIBC)]  # the pass's end: both workers trimmed
        monkeypatch.setattr(par, "on_workers", real)
        assert release_memory(client) == 3 * int(GLIBC)


def test_memory_sizes_and_block_planning() -> None:
    assert parse_memory("6GB") == 6 * 10**9
    assert parse_memory("512MiB") == 512 * 2**20
    assert parse_memory("2e9") == 2 * 10**9
    with pytest.raises(ValueError):
        parse_memory("lots")
    # a full frame's 450 pairs in 2 GB over 2 workers: blocks shrink below 256 to fit
    b = plan_block(450, 150, RunConfig(memory_limit="2GB", workers=2))
    assert 32 <= b < 256 and b % 16 == 0
    assert b * b * budget.block_bytes(450, 150) <= 2e9 / 2 - budget.WORKER_RESERVE
    assert plan_block(40, 20, RunConfig(memory_limit="8GB")) == 256


def test_a_long_series_keeps_both_cores_and_large_blocks_under_the_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    """The block model is what the passes were measured to take (19-24 bytes a pair and pixel with one block in
    flight), not three times that: a 300-epoch frame's 1,182 pairs get both cores under the default 8 GB (the
    former model gave them one) and 64 px blocks, not 32, under 600MB; the M frame keeps its 256 px and two."""
    import numba

    monkeypatch.setattr(numba, "get_num_threads", lambda: 2)
    for n_pair, n_epoch in ((1182, 300), (222, 60)):
        cfg = RunConfig(memory_limit="8GB")
        assert plan_block(n_pair, n_epoch, cfg) == 256
        assert runner.block_threads(256, n_pair, n_epoch, cfg) == 2
    small = RunConfig(memory_limit="600MB")
    b = plan_block(1182, 300, small)
    assert b == 64 and runner.block_threads(b, 1182, 300, small) == 1
    assert b * b * budget.block_bytes(1182, 300) <= 600e6 - budget.PROCESS_RESERVE
    assert budget.plan_text(b, 1, small) == (
        "the 0.6 GB memory budget holds blocks of 64 px (not 256), 1 at once (not 2)")
    assert budget.plan_text(256, 2, RunConfig()) is None  # nothing shrunk: nothing said
    assert budget.plan_text(112, None, RunConfig(memory_limit="2GB", workers=2)) == (
        "the 2.0 GB memory budget holds blocks of 112 px (not 256)")  # dask workers: one block each
    # an epoch-wise pass needs its share where pairs are as few as epochs
    assert budget.block_bytes(100, 100) == budget.BLOCK_BYTES_EPOCH_ONLY * 100


@given(ny=st.integers(100, 40_000), nx=st.integers(100, 40_000), budget_gb=st.floats(0.5, 64.0))
@settings(max_examples=200, deadline=None)
def test_frame_memory_advice_fits(ny: int, nx: int, budget_gb: float) -> None:
    """The frame-wide memory check (a machine of 1 TB): silent where the budget holds the frame's least need
    (:func:`budget.frame_need`, which grows with its pixels); else its warning gives a --memory-limit that holds it
    and the smallest multilook that brings the frame within the budget (or a clip, where none up to 16 does)."""
    import math
    import re
    from unittest import mock

    cfg = RunConfig(memory_limit=f"{budget_gb}GB")
    room = budget_gb * 1e9
    need = budget.frame_need((ny, nx))
    assert need > budget.frame_need((ny - 1, nx)) and need > budget.PROCESS_RESERVE
    with mock.patch.object(budget, "usable_memory", lambda: 10**12):
        said = budget.check_frame_memory((ny, nx), cfg, "/frame")
    if need <= room:
        assert said is None
        return
    assert said is not None and f"{nx} x {ny} px" in said
    limit = re.search(r"--memory-limit (\d+)GB", said)
    assert limit is not None and need <= int(limit.group(1)) * 1e9 < need + 1e9
    look = re.search(r"--nlook (\d+)", said)
    if look is None:
        assert "clip it to a smaller area" in said
        assert budget.frame_need((math.ceil(ny / 16), math.ceil(nx / 16))) > room
        return
    n = int(look.group(1))
    assert budget.frame_need((math.ceil(ny / n), math.ceil(nx / n))) <= room
    assert n == 2 or budget.frame_need((math.ceil(ny / (n - 1)), math.ceil(nx / (n - 1)))) > room


def test_frame_beyond_the_machine_raises() -> None:
    from unittest import mock

    from kansho.errors import ConfigError

    with mock.patch.object(budget, "usable_memory", lambda: 8 * 10**9), \
            pytest.raises(ConfigError, match=r"^/in: a 8000 x 7000 px frame needs about 10\.5 GB .* the 8\.0 GB this "
                                             r"machine lets it use .*: multilook it \(--nlook 2"):
        budget.check_frame_memory((7000, 8000), RunConfig(), "/in")
    with mock.patch.object(budget, "usable_memory", lambda: None):  # a system that does not say: the budget only
        assert "beyond the 1.0 GB memory budget" in str(budget.check_frame_memory((7000, 8000), RunConfig(
            memory_limit="1GB"), "/in"))


@pytest.mark.parametrize(("cores", "ram_gb", "want_gb"), [(2, 24, 8), (2, 8, 4.8), (16, 128, 32), (64, 32, 19.2)])
def test_default_memory_budget_grows_with_cores(monkeypatch: pytest.MonkeyPatch, cores: int, ram_gb: float,
                                               want_gb: float) -> None:
    """60 % of the RAM, capped at 8 GB on a laptop but at 2 GB a core on a many-core machine, where 16
    workers then still get full blocks of the M frame's 222 pairs."""
    from kansho import parallel

    monkeypatch.setattr(parallel, "usable_cores", lambda: cores)
    monkeypatch.setattr(parallel, "usable_memory", lambda: int(ram_gb * 1e9))
    assert parallel.default_memory_limit() == pytest.approx(want_gb * 1e9, rel=1e-9)
    if cores == 16:
        assert plan_block(222, 60, RunConfig(workers=16)) == 256


class _Boom(RuntimeError):
    pass


def test_interrupted_step_resumes_its_unfinished_blocks_only(
        sim: Path, serial: dict[str, np.ndarray], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A run stopped in the middle of step 1-3 runs again only the blocks it had not finished."""
    real = invert_step.invert_block
    calls: list[tuple[int, int]] = []

    def failing(task: Task) -> int:
        if len(calls) == 3:
            raise _Boom("the machine went down")
        calls.append((task.rows.start, task.cols.start))
        return real(task)

    monkeypatch.setattr(invert_step, "invert_block", failing)
    monkeypatch.setattr(runner, "block_threads", lambda *a: 1)  # which blocks finish first is then known
    out = tmp_path / "stopped"
    with pytest.raises(_Boom), figures_skipped():
        run_timeseries(sim, out, RunConfig(block_size=32), progress=False)
    done_before = list(calls)
    assert len(done_before) == 3
    again: list[tuple[int, int]] = []

    def counting(task: Task) -> int:
        again.append((task.rows.start, task.cols.start))
        return real(task)

    monkeypatch.setattr(invert_step, "invert_block", counting)
    got = _run(sim, out, block_size=32)
    n_blocks = -(-SHAPE[0] // 32) * -(-SHAPE[1] // 32)
    assert sorted(again) == sorted(set(_all_blocks()) - set(done_before))
    assert len(again) == n_blocks - 3
    _same(serial, got)
    assert not (out / "work" / "tasks").exists() or not any((out / "work" / "tasks").iterdir())


def _all_blocks() -> list[tuple[int, int]]:
    return [(r, c) for r in range(0, SHAPE[0], 32) for c in range(0, SHAPE[1], 32)]


def test_stc_of_blocks_with_kept_edges_equals_stc_of_the_whole_frame(serial: dict[str, np.ndarray]) -> None:
    """Step 1-5 builds each 32-px block's one-pixel halo from the block edges step 1-4 kept, not from
    ``cum``: the index must be the one computed on the whole frame at once, bit for bit."""
    from kansho import mask as maskmod

    want = maskmod.stc(serial["cum"])
    assert np.isfinite(want).sum() > 1000
    np.testing.assert_array_equal(serial["stc"], want.astype(serial["stc"].dtype))


@pytest.mark.parametrize("recorded", [True, False])
def test_stc_takes_the_blocks_whose_edges_step_1_4_kept(sim: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                        recorded: bool) -> None:
    """Step 1-5 run again with another block size (the block size is not among the options a step's record
    holds) takes the blocks step 1-4 kept the edges of: its ``stc`` is still the whole frame's, bit for bit
    (it was off by up to 0.7 mm on the demo's frame, with exit 0, when it took its own blocks). Edges kept
    by a step 1-4 that did not record its block side (before 2026-12-07) are left aside: the halo is read
    from ``cum``."""
    from kansho import mask as maskmod
    from kansho.chain.steps import vstd

    out = tmp_path / "run"
    with figures_skipped(), monkeypatch.context() as mp:
        if not recorded:
            mp.setattr(vstd, "HALO_BLOCK", "not_the_block")
        run_timeseries(sim, out, RunConfig(block_size=32), progress=False,
                       steps=["ingest", "qc", "loops", "invert", "vstd", "mask"])
    assert (vstd.halo_block(zarr.open_group(out / "work" / "ts.zarr", mode="r")) == 32) == recorded
    with figures_skipped():
        run_timeseries(sim, out, RunConfig(block_size=48), progress=False, steps=["mask"], force=True)
    got = work_arrays(out, ("cum", "stc"))
    want = maskmod.stc(got["cum"]).astype(got["stc"].dtype)
    assert np.isfinite(want).sum() > 1000
    np.testing.assert_array_equal(got["stc"], want)


def test_workers_environment_not_left_in_this_process(monkeypatch: pytest.MonkeyPatch) -> None:
    """dask's nanny sets the workers' pre-spawn variables in the process that starts them (os.environ.update,
    again when a worker restarts) and leaves them there: with NUMBA_NUM_THREADS=1 left here a fresh install's
    first ``kansho ts --workers 2`` stopped at its next compilation. :func:`kansho.parallel.cluster` puts the
    environment back once the cluster started, after a pass and when it closes."""
    import dask
    import distributed

    from kansho import parallel

    class Nanny:  # what distributed's LocalCluster does to this process's environment when it starts workers
        def __init__(self, **_: Any) -> None:
            self.env = {k: str(v) for k, v in dask.config.get("distributed.nanny.pre-spawn-environ").items()
                        if v is not None}
            self.spawn()

        def spawn(self) -> None:
            os.environ.update(self.env)

        def close(self) -> None:
            pass

    class Client:
        def __init__(self, lc: Nanny) -> None:
            self.lc = lc
            self.dashboard_link = ""

        def close(self) -> None:
            pass

    monkeypatch.setattr(distributed, "LocalCluster", Nanny)
    monkeypatch.setattr(distributed, "Client", Client)
    monkeypatch.delenv("NUMBA_NUM_THREADS", raising=False)
    monkeypatch.setenv("KANSHO_TEST_KEPT", "yes")
    before = dict(os.environ)
    with cluster(workers=2) as client:
        assert dict(os.environ) == before
        client.lc.spawn()  # a worker restarted mid-pass
        assert os.environ["NUMBA_NUM_THREADS"] == "1"
        parallel.restore_environ()  # as map_tasks does after a pass on the cluster
        assert dict(os.environ) == before
        client.lc.spawn()
    assert dict(os.environ) == before
    parallel.restore_environ()  # no cluster: nothing to put back
    assert os.environ["KANSHO_TEST_KEPT"] == "yes"


def test_local_cluster_closed_before_a_step_without_workers(monkeypatch: pytest.MonkeyPatch) -> None:
    """The runner's dask client per step: a local cluster (``--workers``) starts for the first step that uses
    workers, is closed before the outputs step (``local_workers=False``: its workers' memory not held through
    it, the step runs without a client) and started anew for a later step that wants workers; a
    ``--scheduler``'s client is never closed by it. Every cluster opened is closed by the run's exit stack."""
    import contextlib

    from kansho.chain import runner
    from kansho.chain.context import Context
    from kansho.chain.options import Options
    from kansho.chain.steps.invert import SPEC as INVERT
    from kansho.chain.steps.outputs import SPEC as OUTPUTS
    from kansho.config import RunConfig

    events: list[str] = []

    @contextlib.contextmanager
    def fake_cluster(workers: int | None, scheduler: str | None, **_: Any) -> Any:
        name = f"client{len(events)}"
        events.append(f"open {name}")
        yield name
        events.append(f"close {name}")

    monkeypatch.setattr(runner, "cluster", fake_cluster)
    assert OUTPUTS.local_workers is False and INVERT.local_workers is True
    cfg = RunConfig(workers=2)
    ctx = Context(out=Path("."), options=Options(cfg), input_path=None)
    with contextlib.ExitStack() as exits:
        runner._set_client(ctx, INVERT, cfg, exits)
        runner._set_client(ctx, INVERT, cfg, exits)  # kept from step to step
        assert ctx.client == "client0" and events == ["open client0"]
        runner._set_client(ctx, OUTPUTS, cfg, exits)
        assert ctx.client is None and events == ["open client0", "close client0"]
        runner._set_client(ctx, INVERT, cfg, exits)
        assert ctx.client == "client2"
    assert events == ["open client0", "close client0", "open client2", "close client2"]

    events.clear()
    cfg = RunConfig(scheduler="tcp://127.0.0.1:8786")
    ctx = Context(out=Path("."), options=Options(cfg), input_path=None, client="remote")
    with contextlib.ExitStack() as exits:
        for spec in (INVERT, OUTPUTS):
            runner._set_client(ctx, spec, cfg, exits)
            assert ctx.client == "remote"
    assert events == []
    ctx = Context(out=Path("."), options=Options(RunConfig()), input_path=None)
    with contextlib.ExitStack() as exits:
        runner._set_client(ctx, INVERT, RunConfig(), exits)
    assert ctx.client is None and events == []


def test_frame_wide_piece_beside_workers_gives_its_memory_back(monkeypatch: pytest.MonkeyPatch) -> None:
    """With dask workers this process's frame-wide pieces (the bridge model's choice, the gap tie) run alone
    and give what they freed back at their end: its heap keeps freed memory between trims (heap_arrays), and
    the bridge model's choice left ~285 MB there through the rest of step 1-3 while the workers ran."""
    from kansho._threads import kernel_threads
    from kansho.chain import common
    from kansho.chain.context import Context
    from kansho.chain.options import Options

    calls: list[int] = []
    monkeypatch.setattr(common, "trim_heap", lambda: calls.append(1) or True)
    ctx = Context(out=Path("."), options=Options(RunConfig(workers=2)), input_path=None, client="client")
    with common.frame_piece_alone(ctx):
        assert kernel_threads() == 1 and not calls
    assert calls == [1]
    ctx = Context(out=Path("."), options=Options(RunConfig(memory_limit="8GB")), input_path=None)
    ctx._stack = SimpleNamespace(shape=(2500, 2500))  # type: ignore[assignment]  # a frame's shape is all it reads
    with common.frame_piece_alone(ctx):  # no workers: the piece takes the threads, the passes trim as they end
        pass
    assert calls == [1]
    # no workers, but a budget that holds one thread's share of the frame (the L frame under 2GB: its bridge
    # model's choice took 1.94 GB on two threads, 1.38 GB on one): alone, and trimmed after
    ctx = Context(out=Path("."), options=Options(RunConfig(memory_limit="2GB")), input_path=None)
    ctx._stack = SimpleNamespace(shape=(2500, 2500))  # type: ignore[assignment]
    assert budget.frame_threads((2500, 2500), ctx.options.model) == 1
    with common.frame_piece_alone(ctx):
        assert kernel_threads() == 1
    assert calls == [1, 1]
    import numba

    monkeypatch.setattr(numba, "get_num_threads", lambda: 2)
    assert budget.frame_threads((1000, 1000), RunConfig(memory_limit="1GB")) == 2  # the M frame keeps both
    # a frame whose float64 map outgrows a second thread's malloc arena (64 MiB): its pieces on one thread whatever
    # the budget (a second thread's arrays came from the main heap, faulted in afresh: two took twice as long)
    big = RunConfig(memory_limit="64GB")
    assert budget.piece_threads((2500, 2500), big) == 2  # 50 MB: both
    assert budget.piece_threads((2896, 2896), big) == 2  # 67.09e6 bytes: just within
    assert budget.piece_threads((2897, 2897), big) == 1 and budget.piece_threads((5000, 5000), big) == 1
    assert budget.frame_threads((5000, 5000), big) == 2  # the passes over epochs keep both
    assert budget.piece_threads((2500, 2500), RunConfig(memory_limit="2GB")) == 1  # the budget's rule still holds
    ctx = Context(out=Path("."), options=Options(big), input_path=None)
    ctx._stack = SimpleNamespace(shape=(5000, 5000))  # type: ignore[assignment]
    with common.frame_piece_alone(ctx):
        assert kernel_threads() == 1
    assert calls == [1, 1, 1]


def test_epoch_tasks_at_once_follow_the_frame_not_the_blocks(sim: Path, serial: dict[str, np.ndarray], tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """An epoch task holds its epoch's whole images (~133 bytes a pixel in the filter's spatial pass on the L
    frame), so a pass over epochs takes no more at once than the budget holds frames for, whatever the blocks
    allow (a large frame with few pairs has small blocks for its size); the results are the same."""
    from kansho import parallel
    from kansho.chain.context import Context
    from kansho.chain.options import Options

    ctx = Context(out=Path("."), options=Options(RunConfig(memory_limit="2GB")), input_path=None)
    ctx._stack = SimpleNamespace(shape=(2500, 2500))  # type: ignore[assignment]
    ctx.threads = 2
    assert ctx._epoch_threads() == 1  # the L frame under 2GB: one frame's share
    ctx.options = Options(RunConfig(memory_limit="8GB"))
    monkeypatch.setattr("numba.get_num_threads", lambda: 2)
    assert ctx._epoch_threads() == 2

    seen: list[tuple[int, int]] = []  # (epoch task or not, threads) of every pass
    map_tasks = parallel.map_tasks

    def spy(kernel: Any, tasks: list[Task], **kw: Any) -> Any:
        if tasks:
            seen.append((int(tasks[0].epoch >= 0), int(kw.get("threads", 1))))
        return map_tasks(kernel, tasks, **kw)

    monkeypatch.setattr("kansho.chain.context.map_tasks", spy)  # a step's passes (they record for the resume)
    monkeypatch.setattr(runner, "block_threads", lambda *a: 2)
    monkeypatch.setattr(budget, "frame_threads", lambda shape, cfg: 1)
    _same(serial, _run(sim, tmp_path / "epochs_alone", block_size=32))
    assert {t for e, t in seen if e} == {1} and {t for e, t in seen if not e} == {2}
