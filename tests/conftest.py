"""Shared fixtures: a small simulated frame, a finished run of it and a finished run of the bundled
real Mexico City stack, each made once per test session (per xdist worker).

The finished runs are read-only: a test that modifies a run folder (adds files, re-runs steps,
moves plots) takes its own copy with :func:`copy_run`. A test that modifies the simulated input
copies ``small_frame.geoc`` to its ``tmp_path`` first.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from tests._shared import SMALL_FRAME, SMALL_FRAME_RNG, FinishedRun, SimFrame, figures_skipped


def pytest_configure(config: pytest.Config) -> None:
    """Compile the chain's numba kernels once, in the controlling process, before the xdist workers
    start: on a fresh machine every worker and every process a test starts (CLI subprocesses, dask
    workers) would otherwise compile them on its own (~30 s each), at the same time; with the cache
    written here they all load it (numba ``cache=True``). A tiny chain run calls each kernel with the
    chain's own argument types. Skipped in the workers and when only collecting."""
    if hasattr(config, "workerinput") or config.option.collectonly:
        return
    import tempfile

    from kansho import run_timeseries
    from kansho.config import RunConfig
    from kansho.synth import SimConfig, simulate_frame

    with tempfile.TemporaryDirectory() as tmp, figures_skipped():
        simulate_frame(Path(tmp) / "sim", SimConfig(shape=(16, 16), n_epoch=8), rng=0)
        run_timeseries(Path(tmp) / "sim" / "GEOC", Path(tmp) / "ts", RunConfig(), progress=False)


@pytest.fixture(scope="session")
def small_frame(tmp_path_factory: pytest.TempPathFactory) -> SimFrame:
    from kansho.synth import simulate_frame

    d = tmp_path_factory.mktemp("small_frame")
    truth = simulate_frame(d, SMALL_FRAME, rng=SMALL_FRAME_RNG)
    return SimFrame(root=d, truth=truth)


@pytest.fixture(scope="session")
def small_run(small_frame: SimFrame, tmp_path_factory: pytest.TempPathFactory) -> FinishedRun:
    """The whole chain with default options on :func:`small_frame` (read-only: see :func:`copy_run`)."""
    from kansho import run_timeseries
    from kansho.config import RunConfig

    out = tmp_path_factory.mktemp("small_run") / "run"
    ctx = run_timeseries(small_frame.geoc, out, RunConfig(), progress=False)
    return FinishedRun(out=out, input=small_frame.geoc, ctx=ctx, truth=small_frame.truth)


@pytest.fixture(scope="session")
def mexico_run(tmp_path_factory: pytest.TempPathFactory) -> FinishedRun:
    """The whole chain on the bundled real Sentinel-1 Mexico City stack with its real-data options."""
    from kansho import run_timeseries
    from kansho.demo import bundled_real_stack, real_config

    data = bundled_real_stack()
    out = tmp_path_factory.mktemp("mexico_run") / "run"
    ctx = run_timeseries(data, out, real_config(), progress=False)
    return FinishedRun(out=out, input=data, ctx=ctx)


@pytest.fixture
def copy_run(tmp_path: Path) -> Callable[..., Path]:
    """``copy_run(run, name="run")``: a private copy of a finished run (or run folder) as
    ``tmp_path/name``, for a test that modifies it."""

    def copy(run: FinishedRun | Path, name: str = "run") -> Path:
        dst = tmp_path / name
        shutil.copytree(run.out if isinstance(run, FinishedRun) else run, dst, symlinks=True)
        return dst

    return copy


@pytest.fixture
def no_figures() -> Iterator[None]:
    """The test's runs draw no figures and write no report (see :func:`tests._shared.figures_skipped`)."""
    with figures_skipped():
        yield
