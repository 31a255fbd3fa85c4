"""A command's process settings (:mod:`kansho._process`): the collector's thresholds while it runs, restored after."""

from __future__ import annotations

import gc
from pathlib import Path

import pytest

from kansho import _process
from kansho.cli import main


def test_fewer_collections_inside_then_restored() -> None:
    before = gc.get_threshold()
    try:
        gc.set_threshold(700, 10, 10)
        with _process.fewer_collections():
            assert gc.get_threshold() == (_process.GEN0_THRESHOLD, 10, 10)
        assert gc.get_threshold() == (700, 10, 10)
        with pytest.raises(RuntimeError), _process.fewer_collections():
            raise RuntimeError("a failed command")
        assert gc.get_threshold() == (700, 10, 10)
        gc.set_threshold(10 * _process.GEN0_THRESHOLD, 5, 5)  # a caller's own larger threshold is kept
        with _process.fewer_collections():
            assert gc.get_threshold() == (10 * _process.GEN0_THRESHOLD, 5, 5)
    finally:
        gc.set_threshold(*before)


def test_a_command_runs_with_fewer_collections(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
                                               ) -> None:
    """``kansho`` runs its command inside :func:`kansho._process.fewer_collections`, and an in-process caller
    finds the thresholds as they were."""
    from kansho import cli

    seen = []
    monkeypatch.setattr(cli, "_dispatch", lambda args, dests: seen.append(gc.get_threshold()[0]) or 0)
    before = gc.get_threshold()
    assert main(["config"]) == 0
    assert seen and seen[0] >= _process.GEN0_THRESHOLD
    assert gc.get_threshold() == before


def test_the_chain_runs_with_fewer_collections_from_python(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """:func:`kansho.run_timeseries` called from Python (a notebook, the benchmarks) runs inside
    :func:`kansho._process.fewer_collections` like the ``kansho`` command, the thresholds as they were after."""
    from kansho.chain import runner

    seen = []

    def locked(*args: object, **kwargs: object) -> None:
        seen.append(gc.get_threshold()[0])

    monkeypatch.setattr(runner, "_run_locked", locked)
    monkeypatch.setattr(runner.jitcache, "prepare", lambda: None)  # no background compilation for this
    before = gc.get_threshold()
    try:
        gc.set_threshold(700, 10, 10)
        runner.run_timeseries(None, tmp_path / "run")
        assert seen == [_process.GEN0_THRESHOLD]
        assert gc.get_threshold() == (700, 10, 10)
    finally:
        gc.set_threshold(*before)
