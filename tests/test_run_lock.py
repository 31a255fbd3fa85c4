"""One writer per run folder: a second run refuses at once; a lock left by a killed run is recovered."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from tests.golden.digest import digest_run

from kansho import run_timeseries
from kansho.chain import lock as lockmod
from kansho.chain.lock import lock_path, run_lock
from kansho.config import RunConfig
from kansho.errors import InputError
from kansho.synth import SimConfig, simulate_frame

#: the runs here are compared by their numerical products: no figures drawn
pytestmark = pytest.mark.usefixtures("no_figures")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """A tiny simulated frame and the digest of a lone run of it."""
    from tests._shared import figures_skipped

    d = tmp_path_factory.mktemp("tiny")
    simulate_frame(d, SimConfig(shape=(40, 40), n_epoch=12), rng=3)
    out = d / "lone"
    with figures_skipped():
        run_timeseries(d / "GEOC", out, RunConfig(), progress=False)
    return d / "GEOC", digest_run(out)


class _StartSecondRun(logging.Handler):
    """When the first run starts its step ``qc``, a second run into the same folder is tried (same thread)."""

    def __init__(self, geoc: Path, out: Path) -> None:
        super().__init__()
        self.geoc, self.out = geoc, out
        self.error: BaseException | None = None

    def emit(self, record: logging.LogRecord) -> None:
        if self.error is None and "step qc" in record.getMessage() and "..." in record.getMessage():
            try:
                run_timeseries(self.geoc, self.out, RunConfig(), progress=False)
            except BaseException as exc:  # noqa: BLE001 - recorded for the test
                self.error = exc


def test_second_run_refuses_while_the_first_writes(tiny: tuple[Path, dict[str, Any]], tmp_path: Path) -> None:
    geoc, lone = tiny
    out = tmp_path / "run"
    handler = _StartSecondRun(geoc, out)
    logger = logging.getLogger("kansho.chain.runner")
    old_level = logger.level
    logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    try:
        run_timeseries(geoc, out, RunConfig(), progress=False)
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)
    err = handler.error
    assert isinstance(err, InputError), err
    msg = str(err)
    assert "\n" not in msg and str(out) in msg
    assert f"pid {os.getpid()}" in msg and "another kansho run" in msg and str(lock_path(out)) in msg
    assert digest_run(out) == lone  # the first run was not disturbed
    assert not lock_path(out).exists()  # released


def test_two_runs_in_threads_one_folder(tiny: tuple[Path, dict[str, Any]], tmp_path: Path) -> None:
    """Whatever the interleaving: each run either finishes or refuses with the lock error; products intact."""
    geoc, lone = tiny
    out = tmp_path / "run"
    barrier = threading.Barrier(2)
    outcomes: list[BaseException | None] = [None, None]

    def go(i: int) -> None:
        barrier.wait()
        try:
            run_timeseries(geoc, out, RunConfig(), progress=False)
        except BaseException as exc:  # noqa: BLE001 - recorded for the test
            outcomes[i] = exc

    threads = [threading.Thread(target=go, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for exc in outcomes:
        assert exc is None or (isinstance(exc, InputError) and "another kansho run" in str(exc)), exc
    assert any(exc is None for exc in outcomes)
    assert digest_run(out) == lone
    # a plain re-run finds everything up to date and the products unchanged
    run = run_timeseries(geoc, out, RunConfig(), progress=False)
    assert all(v == 0.0 for v in run.timings.values())
    assert digest_run(out) == lone


_HOLD = """
import sys, time
from kansho.chain.lock import run_lock
with run_lock(sys.argv[1]):
    print("held", flush=True)
    time.sleep(600)
"""


def test_lock_of_a_killed_process_is_recovered(tiny: tuple[Path, dict[str, Any]], tmp_path: Path) -> None:
    geoc, lone = tiny
    out = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).parents[1] / "src"),
                                                        os.environ.get("PYTHONPATH", "")])}
    with subprocess.Popen([sys.executable, "-c", _HOLD, str(out)], stdout=subprocess.PIPE, text=True,
                          env=env) as proc:
        try:
            assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
            with pytest.raises(InputError, match=f"pid {proc.pid}"):
                run_timeseries(geoc, out, RunConfig(), progress=False)
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=60)
    assert lock_path(out).exists()  # left behind by the killed process ...
    run_timeseries(geoc, out, RunConfig(), progress=False)  # ... and taken over
    assert digest_run(out) == lone


def test_lock_file_without_flock(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Where flock is missing the lock is the file: a live holder refuses, a dead one's file is recovered."""
    monkeypatch.setattr(lockmod, "fcntl", None)
    out = tmp_path / "run"
    with run_lock(out) as path:
        assert path.exists()
        with pytest.raises(InputError, match=f"pid {os.getpid()}"), run_lock(out):
            pass
    assert not path.exists()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait(timeout=60)
    host = lockmod.socket.gethostname()
    path.write_text(f'{{"pid": {dead.pid}, "host": "{host}", "started": "then"}}')
    with run_lock(out):
        assert f'"pid": {os.getpid()}' in path.read_text()
    path.write_text('{"pid": 1, "host": "elsewhere", "started": "then"}')  # another host: not ours to judge
    with pytest.raises(InputError, match="pid 1 on elsewhere"), run_lock(out):
        pass


def test_readers_take_no_lock(tiny: tuple[Path, dict[str, Any]], tmp_path: Path) -> None:
    from kansho.run import open_run

    geoc, _ = tiny
    out = tmp_path / "run"
    run_timeseries(geoc, out, RunConfig(), progress=False)
    with run_lock(out):
        run = open_run(out)
        assert run.out == out or Path(run.layout.root) == out


def test_file_system_without_flock_falls_back_to_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import errno

    class NoFlock:
        LOCK_EX, LOCK_NB = 2, 4

        @staticmethod
        def flock(fd: int, op: int) -> None:
            raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(lockmod, "fcntl", NoFlock)
    out = tmp_path / "run"
    with run_lock(out) as path:
        assert f'"pid": {os.getpid()}' in path.read_text()
        with pytest.raises(InputError, match="another kansho run"), run_lock(out):
            pass
    assert not path.exists()
